package server

import (
	"net/http"

	"github.com/tokengate/tokengate/internal/devicepage"
	"github.com/tokengate/tokengate/internal/web"
)

// webDeviceSessions gives the device verification page the sign-in
// sessions of the web pages (login, consent, logout), so that a person
// signs in once for both.
type webDeviceSessions struct{ s *web.Sessions }

// Current returns the signed-in user of r, if any.
func (a webDeviceSessions) Current(r *http.Request) (devicepage.Identity, bool) {
	id, ok := a.s.Current(r)
	if !ok {
		return devicepage.Identity{}, false
	}
	return devicepage.Identity{UserID: id.UserID, Username: id.Username, AuthTime: id.AuthTime, SessionID: id.SessionID}, true
}

// CSRFToken returns the token a form of r's session must carry.
func (a webDeviceSessions) CSRFToken(r *http.Request) string { return a.s.CSRFToken(r) }

// CheckCSRF reports whether r (a POST) carries its session's token.
func (a webDeviceSessions) CheckCSRF(r *http.Request) bool { return a.s.CheckCSRF(r) }

// LoginURL is the login page, returning to returnTo (a local path).
func (a webDeviceSessions) LoginURL(returnTo string) string { return a.s.LoginURL(returnTo) }
