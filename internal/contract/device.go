package contract

import (
	"net/http"

	"github.com/tokengate/tokengate/internal/oauth"
)

// deviceAuthorizationBody is the RFC 8628 §3.2 answer.
type deviceAuthorizationBody struct {
	DeviceCode              string `json:"device_code"`
	UserCode                string `json:"user_code"`
	VerificationURI         string `json:"verification_uri"`
	VerificationURIComplete string `json:"verification_uri_complete"`
	ExpiresIn               int64  `json:"expires_in"`
	Interval                int64  `json:"interval"`
}

// deviceAuthorizationEndpoint serves RFC 8628 §3.1: the client
// authenticates as at the token endpoint (a public client by client_id)
// and gets a device code and a user code.
func deviceAuthorizationEndpoint(env *Env, prof oauth.Profile) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, oerr := ReadParams(r, BodyForm, BodyJSON)
		if oerr != nil {
			WriteOAuthError(w, env.Log, r, oerr)
			return
		}
		id, sec, basic, oerr := ClientCredentials(r, p)
		if oerr != nil {
			WriteOAuthError(w, env.Log, r, oerr)
			return
		}
		resp, err := env.Service.DeviceAuthorize(r.Context(), &oauth.DeviceRequest{
			ClientID: id, ClientSecret: sec, BasicAuth: basic, Scope: p.Get("scope"), ScopeGiven: p.Has("scope"),
		}, &prof)
		if err != nil {
			WriteOAuthError(w, env.Log, r, oauth.AsError(err))
			return
		}
		WriteJSON(w, http.StatusOK, deviceAuthorizationBody{resp.DeviceCode, resp.UserCode, resp.VerificationURI,
			resp.VerificationURIComplete, resp.ExpiresIn, resp.Interval})
	})
}
