package contract

import (
	"encoding/json"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/tokengate/tokengate/internal/oauth"
)

// The datarhei Core dialect (seed 004): JSON login returning an access
// and a refresh JWT, a GET refresh with the refresh token as Bearer that
// returns only a new access token, and errors as {"code", "message"}.

func writeDatarheiError(env *Env, w http.ResponseWriter, r *http.Request, e *oauth.Error) {
	logCause(env.Log, r, e)
	retryAfter(w, e.RetryAfter)
	status, msg := HTTPStatus(e), e.Description
	switch {
	case status == http.StatusRequestEntityTooLarge, status == http.StatusTooManyRequests, status >= 500:
	case e.Code == oauth.CodeInvalidRequest && status != http.StatusUnauthorized:
		status = http.StatusBadRequest
	default:
		// Wrong credentials, unknown or expired tokens: 401, as the API does.
		status = http.StatusUnauthorized
		if e.Reason == oauth.ReasonBadCredentials || e.Code == oauth.CodeInvalidClient {
			msg = "invalid credentials"
		}
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="tokengate"`)
	}
	WriteJSON(w, status, map[string]any{"code": status, "message": msg})
}

// bearerToken returns the token of an Authorization: Bearer header.
func bearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// datarheiLogin serves POST /api/login: a JSON username/password body, or
// an external identity provider's JWT as Bearer and no body.
func datarheiLogin(env *Env, prof oauth.Profile) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, oerr := readBody(r)
		if oerr != nil {
			writeDatarheiError(env, w, r, oerr)
			return
		}
		var resp *oauth.TokenResponse
		var err error
		if ext, ok := bearerToken(r); ok && len(strings.TrimSpace(string(body))) == 0 {
			c, cerr := env.Service.AuthenticateClient(r.Context(), "", "", env.RemoteIP(r), &prof)
			if cerr != nil {
				writeDatarheiError(env, w, r, oauth.AsError(cerr))
				return
			}
			resp, err = env.Service.ExternalLogin(r.Context(), c, ext, &oauth.TokenRequest{RemoteIP: env.RemoteIP(r)}, &prof)
		} else {
			var req struct {
				Username *string `json:"username"`
				Password *string `json:"password"`
			}
			if kind, kerr := BodyKindOf(r); kerr != nil || kind == BodyForm {
				writeDatarheiError(env, w, r, oauth.ErrInvalidRequest("send a JSON body {\"username\", \"password\"}"))
				return
			}
			// Invalid UTF-8 is malformed JSON (RFC 8259 §8.1), not text for
			// encoding/json to patch with U+FFFD.
			if jerr := json.Unmarshal(body, &req); jerr != nil || !utf8.Valid(body) {
				writeDatarheiError(env, w, r, oauth.ErrInvalidRequest("invalid JSON body: expected {\"username\": string, \"password\": string}"))
				return
			}
			if req.Username == nil || *req.Username == "" {
				writeDatarheiError(env, w, r, oauth.ErrMissing("username"))
				return
			}
			if req.Password == nil || *req.Password == "" {
				writeDatarheiError(env, w, r, oauth.ErrMissing("password"))
				return
			}
			resp, err = env.Service.Token(r.Context(), &oauth.TokenRequest{GrantType: oauth.GrantPassword, Username: *req.Username, Password: *req.Password, RemoteIP: env.RemoteIP(r)}, &prof)
		}
		if err != nil {
			writeDatarheiError(env, w, r, oauth.AsError(err))
			return
		}
		WriteJSON(w, http.StatusOK, map[string]string{"access_token": resp.AccessToken, "refresh_token": resp.RefreshToken})
	})
}

// datarheiRefresh serves GET /api/login/refresh with the refresh token as
// Bearer; it answers only a new access token.
func datarheiRefresh(env *Env, prof oauth.Profile) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rt, ok := bearerToken(r)
		if !ok {
			writeDatarheiError(env, w, r, &oauth.Error{Code: oauth.CodeInvalidRequest, Description: "missing refresh token in the Authorization header", Reason: oauth.ReasonNoCredentials})
			return
		}
		p := prof
		p.NoRefresh = true // the answer carries an access token only: a rotating session is refused here
		resp, err := env.Service.RefreshAsBearer(r.Context(), rt, "", false, &p)
		if err != nil {
			writeDatarheiError(env, w, r, oauth.AsError(err))
			return
		}
		WriteJSON(w, http.StatusOK, map[string]string{"access_token": resp.AccessToken})
	})
}
