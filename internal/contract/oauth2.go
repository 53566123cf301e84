package contract

import (
	"net/http"

	"tokengate/internal/oauth"
	"tokengate/internal/store"
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
		RemoteIP:         ip(r),
	}
	return tr, nil
}

// tokenEndpoint serves RFC 6749 §3.2 with form or JSON bodies.
func tokenEndpoint(env *Env, prof oauth.Profile) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, oerr := ReadParams(r, BodyForm, BodyJSON)
		if oerr != nil {
			WriteOAuthError(w, env.Log, r, oerr)
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
// revocation and introspection endpoints.
func authenticated(env *Env, w http.ResponseWriter, r *http.Request, prof *oauth.Profile) (Params, *store.Client) {
	p, oerr := ReadParams(r, BodyForm, BodyJSON)
	if oerr != nil {
		WriteOAuthError(w, env.Log, r, oerr)
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
// Toolkit does: 200, text/html, no body.
func revokeEndpoint(env *Env, prof oauth.Profile, emptyHTML bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, c := authenticated(env, w, r, &prof)
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
func introspectEndpoint(env *Env, prof oauth.Profile) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, c := authenticated(env, w, r, &prof)
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
