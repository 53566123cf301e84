package server

import (
	"net/http"

	"github.com/tokengate/tokengate/internal/devicepage"
	"github.com/tokengate/tokengate/internal/web"
)

// webDeviceSessions lets the device verification page sign users in with
// the sign-in session of the web pages (login, consent).
type webDeviceSessions struct{ s *web.Sessions }

var _ devicepage.Sessions = webDeviceSessions{}

// Current implements devicepage.Sessions.
func (w webDeviceSessions) Current(r *http.Request) (devicepage.Identity, bool) {
	id, ok := w.s.Current(r)
	if !ok {
		return devicepage.Identity{}, false
	}
	return devicepage.Identity{UserID: id.UserID, Username: id.Username, AuthTime: id.AuthTime, SessionID: id.SessionID}, true
}

// CSRFToken implements devicepage.Sessions.
func (w webDeviceSessions) CSRFToken(r *http.Request) string { return w.s.CSRFToken(r) }

// CheckCSRF implements devicepage.Sessions.
func (w webDeviceSessions) CheckCSRF(r *http.Request) bool { return w.s.CheckCSRF(r) }

// LoginURL implements devicepage.Sessions.
func (w webDeviceSessions) LoginURL(returnTo string) string { return w.s.LoginURL(returnTo) }
