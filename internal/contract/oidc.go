package contract

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/tokengate/tokengate/internal/oauth"
)

// userinfoEndpoint serves the OpenID Connect userinfo endpoint (OIDC Core
// §5.3) on GET and POST: the access token comes as an Authorization:
// Bearer header (RFC 6750 §2.1; body and query tokens are not read, as
// they leak into logs and caches), errors are RFC 6750 §3 with a
// WWW-Authenticate challenge. CORS for browser clients is added by the
// server's CORS wrapper (Kind.CORS), for the origins the token's client
// registered.
func userinfoEndpoint(env *Env) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Has("access_token") {
			writeBearerError(w, env, r, oauth.ErrInvalidRequest("send the access token in the Authorization header, not in the URL"))
			return
		}
		raw, ok := bearerToken(r)
		if !ok {
			// RFC 6750 §3.1: a request without credentials gets the
			// challenge and no error code.
			w.Header().Set("WWW-Authenticate", `Bearer realm="tokengate"`)
			WriteJSON(w, http.StatusUnauthorized, map[string]string{"error": oauth.CodeInvalidToken, "error_description": "an access token is required (Authorization: Bearer)"})
			return
		}
		info, err := env.Service.UserInfo(r.Context(), raw)
		if err != nil {
			writeBearerError(w, env, r, oauth.AsError(err))
			return
		}
		WriteJSON(w, http.StatusOK, info)
	})
}

// writeBearerError renders e as RFC 6750 §3: a WWW-Authenticate: Bearer
// challenge with error, error_description and, for insufficient_scope,
// the scope needed; the JSON body says the same.
func writeBearerError(w http.ResponseWriter, env *Env, r *http.Request, e *oauth.Error) {
	status := HTTPStatus(e)
	if status >= 500 {
		logCause(env.Log, r, e)
		retryAfter(w, e.RetryAfter)
		WriteJSON(w, status, map[string]string{"error": e.Code, "error_description": e.Description})
		return
	}
	var b strings.Builder
	b.WriteString(`Bearer realm="tokengate", error=`)
	b.WriteString(strconv.Quote(e.Code))
	if e.Description != "" {
		b.WriteString(`, error_description=`)
		b.WriteString(strconv.Quote(e.Description))
	}
	if e.Code == oauth.CodeInsufficientScope && e.Param != "" {
		b.WriteString(`, scope=`)
		b.WriteString(strconv.Quote(e.Param))
	}
	w.Header().Set("WWW-Authenticate", b.String())
	WriteJSON(w, status, map[string]string{"error": e.Code, "error_description": e.Description})
}
