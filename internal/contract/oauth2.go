package contract

import (
	"net/http"

	"github.com/tokengate/tokengate/internal/oauth"
	"github.com/tokengate/tokengate/internal/store"
)

// RemoteIP returns the client address the server middleware resolved.
type RemoteIP func(r *http.Request) string

// tokenRequest fills an oauth.TokenRequest from RFC 6749 parameters.
func tokenRequest(r *http.Request, p Params, ip RemoteIP) (*oauth.TokenRequest, *oauth.Error) {
	id, sec, basic, oerr := ClientCredentials(r, p)
	if oerr != nil {
		return nil, oerr
	}
	tr := &oauth.TokenRequest{
		GrantType:        p.Get("grant_type"),
		ClientID:         id,
		ClientSecret:     sec,
		BasicAuth:        basic,
		Username:         p.Get("username"),
		Password:         p.Get("password"),
		RefreshToken:     p.Get("refresh_token"),
		Scope:            p.Get("scope"),
		ScopeGiven:       p.Has("scope"),
		APIKey:           p.Get("api_key"),
		SubjectToken:     p.Get("subject_token"),
		SubjectTokenType: p.Get("subject_token_type"),
		Audience:         p.Get("audience"),
		Assertion:        p.Get("assertion"),
		Resource:         p.Get("resource"),
		DeviceCode:       p.Get("device_code"),
		Code:             p.Get("code"),
		RedirectURI:      p.Get("redirect_uri"),
		CodeVerifier:     p.Get("code_verifier"),
		RemoteIP:         ip(r),
	}
	return tr, nil
}

// readRouteParams reads a request's parameters: from a form or JSON
// body, or, when formOnly, as oauthlib reads Django's request.POST: only
// a form body carries parameters, and any other body carries none.
func readRouteParams(r *http.Request, formOnly bool) (Params, *oauth.Error) {
	if !formOnly {
		return ReadParams(r, BodyForm, BodyJSON)
	}
	if kind, err := BodyKindOf(r); err != nil || kind != BodyForm {
		if _, oerr := readBody(r); oerr != nil {
			return nil, oerr
		}
		return Params{}, nil
	}
	return ReadParams(r, BodyForm)
}

// errNoGrantType is oauthlib's answer to a request without grant_type.
var errNoGrantType = &oauth.Error{Code: oauth.CodeUnsupportedGrantType, Description: "unsupported grant_type", Status: http.StatusBadRequest, Param: "grant_type"}

// tokenEndpoint serves RFC 6749 §3.2 with form or JSON bodies, or form
// bodies only, as oauthlib (formOnly).
func tokenEndpoint(env *Env, prof oauth.Profile, formOnly bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, oerr := readRouteParams(r, formOnly)
		if oerr != nil {
			WriteOAuthError(w, env.Log, r, oerr)
			return
		}
		if formOnly && !p.Has("grant_type") {
			WriteOAuthError(w, env.Log, r, errNoGrantType)
			return
		}
		tr, oerr := tokenRequest(r, p, env.RemoteIP)
		if oerr != nil {
			WriteOAuthError(w, env.Log, r, oerr)
			return
		}
		resp, err := env.Service.Token(r.Context(), tr, &prof)
		if err != nil {
			WriteOAuthError(w, env.Log, r, oauth.AsError(err))
			return
		}
		writeToken(w, resp)
	})
}

// authenticated reads the body and authenticates the client for the
// revocation and introspection endpoints. tokenFirst refuses a request
// without a token before authenticating, as oauthlib's revocation does.
func authenticated(env *Env, w http.ResponseWriter, r *http.Request, prof *oauth.Profile, formOnly, tokenFirst bool) (Params, *store.Client) {
	p, oerr := readRouteParams(r, formOnly)
	if oerr != nil {
		WriteOAuthError(w, env.Log, r, oerr)
		return nil, nil
	}
	if tokenFirst && !p.Has("token") {
		WriteOAuthError(w, env.Log, r, oauth.ErrMissing("token"))
		return nil, nil
	}
	id, sec, basic, oerr := ClientCredentials(r, p)
	if oerr != nil {
		WriteOAuthError(w, env.Log, r, oerr)
		return nil, nil
	}
	c, err := env.Service.AuthenticateClient(r.Context(), id, sec, basic, prof)
	if err != nil {
		WriteOAuthError(w, env.Log, r, oauth.AsError(err))
		return nil, nil
	}
	return p, c
}

// revokeEndpoint serves RFC 7009. emptyHTML answers as Django OAuth
// Toolkit does: 200, text/html, no body. formOnly reads the request as
// oauthlib does.
func revokeEndpoint(env *Env, prof oauth.Profile, emptyHTML, formOnly bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, c := authenticated(env, w, r, &prof, formOnly, formOnly)
		if c == nil {
			return
		}
		if err := env.Service.Revoke(r.Context(), c, p.Get("token")); err != nil {
			WriteOAuthError(w, env.Log, r, oauth.AsError(err))
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		if emptyHTML {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
		}
		w.WriteHeader(http.StatusOK)
	})
}

// introspectEndpoint serves RFC 7662 to authenticated confidential clients.
func introspectEndpoint(env *Env, prof oauth.Profile, formOnly bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, c := authenticated(env, w, r, &prof, formOnly, false)
		if c == nil {
			return
		}
		_, _, basic, _ := ParseBasic(r.Header.Get("Authorization"))
		if err := oauth.CanIntrospect(c, basic); err != nil {
			WriteOAuthError(w, env.Log, r, oauth.AsError(err))
			return
		}
		out, err := env.Service.Introspect(r.Context(), p.Get("token"))
		if err != nil {
			WriteOAuthError(w, env.Log, r, oauth.AsError(err))
			return
		}
		WriteJSON(w, http.StatusOK, out)
	})
}

// staticJSON serves a precomputed JSON document, cacheable for max-age.
func staticJSON(get func() []byte, cacheControl string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := get()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", cacheControl)
		_, _ = w.Write(b)
	})
}
