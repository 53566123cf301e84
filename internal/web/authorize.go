package web

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tokengate/tokengate/internal/oauth"
)

// authorizeParams are the parameters of an authorization request that
// may be given at most once (RFC 6749 §3.1).
var authorizeParams = []string{"client_id", "redirect_uri", "response_type", "scope", "state", "code_challenge",
	"code_challenge_method", "nonce", "prompt", "max_age"}

// maxRequestLen bounds an authorization request's query string.
const maxRequestLen = 8192

// parseAuthorize reads an authorization request from a query string.
func parseAuthorize(raw string) (*oauth.AuthorizeRequest, error) {
	if len(raw) > maxRequestLen {
		return nil, oauth.ErrInvalidRequest("the authorization request is too long")
	}
	q, err := url.ParseQuery(raw)
	if err != nil {
		return nil, oauth.ErrInvalidRequest("the authorization request is malformed")
	}
	for _, p := range authorizeParams {
		if len(q[p]) > 1 {
			return nil, oauth.ErrRepeated(p)
		}
	}
	return &oauth.AuthorizeRequest{
		ClientID: q.Get("client_id"), RedirectURI: q.Get("redirect_uri"), ResponseType: q.Get("response_type"),
		Scope: q.Get("scope"), ScopeGiven: q.Has("scope"), State: q.Get("state"),
		CodeChallenge: q.Get("code_challenge"), CodeChallengeMethod: q.Get("code_challenge_method"),
		Nonce: q.Get("nonce"), Prompt: q.Get("prompt"), MaxAge: q.Get("max_age"), MaxAgeGiven: q.Has("max_age"),
	}, nil
}

// Authorize serves the authorization endpoint: GET validates the request,
// sends a visitor who is not signed in to the sign-in page, and answers a
// signed-in one with a code (first-party clients) or the consent page
// (third-party clients, prompt=consent); POST is the consent form's
// answer, which validates the original request again from scratch.
func (w *Web) Authorize() http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			w.consentPost(rw, r)
			return
		}
		w.authorizeGet(rw, r)
	})
}

// validate parses and validates raw. It reports false after answering:
// an error page when the redirect URI is not verified, else a redirect
// with the error.
func (w *Web) validate(rw http.ResponseWriter, r *http.Request, raw string) (*oauth.Authorization, bool) {
	req, err := parseAuthorize(raw)
	if err != nil {
		w.renderOAuthError(rw, r, err)
		return nil, false
	}
	a, err := w.svc.Authorize(r.Context(), req)
	if err != nil {
		if a == nil {
			w.renderOAuthError(rw, r, err)
		} else {
			w.redirectError(rw, r, a, err)
		}
		return nil, false
	}
	return a, true
}

func (w *Web) authorizeGet(rw http.ResponseWriter, r *http.Request) {
	a, ok := w.validate(rw, r, r.URL.RawQuery)
	if !ok {
		return
	}
	id, signedIn, err := w.sessions.current(r)
	if err != nil {
		w.unavailable(rw, r, err)
		return
	}
	now := w.sessions.now()
	fresh := signedIn && (a.MaxAge < 0 || int64(now.Sub(id.AuthTime)/time.Second) <= int64(a.MaxAge/time.Second))
	if a.HasPrompt("none") {
		switch {
		case !fresh:
			w.redirectError(rw, r, a, oauth.ErrLoginRequired())
		case a.Client.ThirdParty:
			w.redirectError(rw, r, a, oauth.ErrConsentRequired())
		default:
			w.issue(rw, r, a, id)
		}
		return
	}
	if !fresh || a.HasPrompt("login") {
		// The sign-in page returns here without prompt=login, so that
		// the fresh sign-in satisfies the request instead of looping.
		w.SetPageHeaders(rw, true)
		http.Redirect(rw, r, w.sessions.LoginURL(r.URL.Path+"?"+withoutPromptLogin(r.URL.RawQuery)), http.StatusSeeOther)
		return
	}
	if a.Client.ThirdParty || a.HasPrompt("consent") {
		w.consentPage(rw, r, a, id, r.URL.RawQuery)
		return
	}
	w.issue(rw, r, a, id)
}

// withoutPromptLogin removes "login" from the prompt parameter of raw.
func withoutPromptLogin(raw string) string {
	q, err := url.ParseQuery(raw)
	if err != nil || !q.Has("prompt") {
		return raw
	}
	var keep []string
	for _, p := range strings.Fields(q.Get("prompt")) {
		if p != "login" {
			keep = append(keep, p)
		}
	}
	if len(keep) == 0 {
		q.Del("prompt")
	} else {
		q.Set("prompt", strings.Join(keep, " "))
	}
	return q.Encode()
}

// consentPage asks the signed-in user to allow a third-party client. The
// form carries the original request, which the POST validates again; no
// hidden field is trusted on its own.
func (w *Web) consentPage(rw http.ResponseWriter, r *http.Request, a *oauth.Authorization, id Identity, raw string) {
	scopes, err := w.svc.ScopesFor(r.Context(), a, id.Username)
	if err != nil {
		w.redirectError(rw, r, a, err)
		return
	}
	host := a.RedirectURI
	if u, err := url.Parse(a.RedirectURI); err == nil && u.Host != "" {
		host = u.Scheme + "://" + u.Host
	} else if err == nil {
		host = u.Scheme + ":"
	}
	d := pageData{ClientID: a.Client.ID, Scopes: scopes, SignedInAs: id.Username, RedirectHost: host,
		Request: raw, AuthorizePath: r.URL.Path, CSRFToken: w.sessions.CSRFToken(r)}
	w.render(rw, http.StatusOK, "consent", d, true)
}

func (w *Web) consentPost(rw http.ResponseWriter, r *http.Request) {
	if err := parseForm(r); err != nil {
		w.renderError(rw, r, http.StatusBadRequest, "Invalid request", "The form could not be read.", "invalid_request")
		return
	}
	if !w.sessions.CheckCSRF(r) {
		w.forbidden(rw, r)
		return
	}
	raw := r.PostForm.Get("request")
	a, ok := w.validate(rw, r, raw)
	if !ok {
		return
	}
	id, signedIn, err := w.sessions.current(r)
	if err != nil {
		w.unavailable(rw, r, err)
		return
	}
	if !signedIn {
		w.SetPageHeaders(rw, true)
		http.Redirect(rw, r, w.sessions.LoginURL(r.URL.Path+"?"+raw), http.StatusSeeOther)
		return
	}
	switch r.PostForm.Get("decision") {
	case "approve":
		w.issue(rw, r, a, id)
	case "deny":
		w.redirectError(rw, r, a, oauth.ErrAccessDenied("the user denied the request"))
	default:
		w.renderError(rw, r, http.StatusBadRequest, "Invalid request", "Choose Allow or Deny.", "invalid_request")
	}
}

// issue answers with a code.
func (w *Web) issue(rw http.ResponseWriter, r *http.Request, a *oauth.Authorization, id Identity) {
	ctx, cancel := detached(r.Context())
	defer cancel()
	code, err := w.svc.IssueCode(ctx, a, oauth.Grantor{Username: id.Username, AuthTime: id.AuthTime, SessionID: id.SessionID})
	if err != nil {
		w.redirectError(rw, r, a, err)
		return
	}
	w.redirect(rw, r, a, url.Values{"code": {code}})
}

// redirectError sends an error to the verified redirect URI. Server
// errors carry no internal detail.
func (w *Web) redirectError(rw http.ResponseWriter, r *http.Request, a *oauth.Authorization, err error) {
	e := oauth.AsError(err)
	if e.Cause != nil {
		w.log.Warn("authorization request failed", "client_id", a.Client.ID, "code", e.Code, "err", e.Cause)
	}
	v := url.Values{"error": {e.Code}}
	if e.Description != "" {
		v.Set("error_description", e.Description)
	}
	w.redirect(rw, r, a, v)
}

// redirect sends the authorization response to the verified redirect
// URI with state and iss (RFC 9207), keeping the URI's own query.
func (w *Web) redirect(rw http.ResponseWriter, r *http.Request, a *oauth.Authorization, v url.Values) {
	u, err := url.Parse(a.RedirectURI)
	if err != nil {
		w.renderOAuthError(rw, r, errors.New("unusable redirect URI"))
		return
	}
	q := u.Query()
	for k, vals := range v {
		q[k] = vals
	}
	if a.State != "" {
		q.Set("state", a.State)
	}
	q.Set("iss", w.issuer)
	u.RawQuery = q.Encode()
	w.SetPageHeaders(rw, true)
	rw.Header().Set("Location", u.String())
	rw.WriteHeader(http.StatusSeeOther)
}
