package web

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/tokengate/tokengate/internal/oauth"
)

// maxReturnTo bounds the return_to parameter.
const maxReturnTo = 4096

// ValidReturnTo reports whether v may be redirected to after sign-in: a
// local path only. No scheme, no host, no "//" or "/\" (which browsers
// read as another host), no backslash or control character anywhere.
func ValidReturnTo(v string) bool {
	if v == "" || len(v) > maxReturnTo || v[0] != '/' || strings.HasPrefix(v, "//") || strings.ContainsAny(v, "\\") {
		return false
	}
	if strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return false
	}
	u, err := url.Parse(v)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return false
	}
	// A path whose decoded form starts with // is refused too.
	return !strings.HasPrefix(u.Path, "//")
}

// Login serves GET and POST /login.
func (w *Web) Login() http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			w.loginPost(rw, r)
			return
		}
		q := r.URL.Query()
		returnTo := q.Get("return_to")
		if len(q["return_to"]) > 1 || (returnTo != "" && !ValidReturnTo(returnTo)) {
			w.renderError(rw, r, http.StatusBadRequest, "Invalid sign-in link", "The sign-in link names a page that is not on this site.", "invalid_request")
			return
		}
		r = w.sessions.EnsureCSRF(rw, r)
		d := pageData{ReturnTo: returnTo}
		if id, ok := w.sessions.Current(r); ok {
			d.SignedInAs = id.Username
		}
		d.CSRFToken = w.sessions.CSRFToken(r)
		w.render(rw, http.StatusOK, "login", d, true)
	})
}

// loginMessage is the one message of a failed sign-in: it does not say
// whether the user exists or which of the two was wrong.
const loginMessage = "Sign-in failed: the username or password is incorrect."

func (w *Web) loginPost(rw http.ResponseWriter, r *http.Request) {
	if err := parseForm(r); err != nil {
		w.renderError(rw, r, http.StatusBadRequest, "Invalid request", "The form could not be read.", "invalid_request")
		return
	}
	if !w.sessions.CheckCSRF(r) {
		w.forbidden(rw, r)
		return
	}
	returnTo := r.PostForm.Get("return_to")
	if returnTo != "" && !ValidReturnTo(returnTo) {
		w.renderError(rw, r, http.StatusBadRequest, "Invalid sign-in link", "The sign-in link names a page that is not on this site.", "invalid_request")
		return
	}
	username := r.PostForm.Get("username")
	u, err := w.svc.SignIn(r.Context(), username, r.PostForm.Get("password"), w.remoteIP(r))
	if err != nil {
		e := oauth.AsError(err)
		d := pageData{ReturnTo: returnTo, Error: loginMessage, CSRFToken: w.sessions.CSRFToken(r)}
		if len(username) <= 256 {
			d.Username = username
		}
		status := http.StatusUnauthorized
		switch statusOf(e) {
		case http.StatusTooManyRequests:
			status, d.Error = http.StatusTooManyRequests, "Too many failed attempts. Try again later."
			if e.RetryAfter > 0 {
				rw.Header().Set("Retry-After", retrySeconds(e))
			}
		case http.StatusServiceUnavailable, http.StatusInternalServerError:
			status, d.Error = http.StatusServiceUnavailable, "The service is busy. Try again in a moment."
			rw.Header().Set("Retry-After", "1")
		}
		w.render(rw, status, "login", d, true)
		return
	}
	ctx, cancel := detached(r.Context())
	defer cancel()
	if err := w.sessions.start(ctx, rw, r, u.Username); err != nil {
		w.unavailable(rw, r, err)
		return
	}
	if returnTo == "" {
		returnTo = LoginPath
	}
	w.SetPageHeaders(rw, true)
	http.Redirect(rw, r, returnTo, http.StatusSeeOther)
}

func retrySeconds(e *oauth.Error) string {
	s := int64((e.RetryAfter + 999_999_999) / 1_000_000_000)
	if s < 1 {
		s = 1
	}
	return strconv.FormatInt(s, 10)
}

// Logout serves GET /logout (a small form) and POST /logout (ends the
// session server-side and clears the cookie).
func (w *Web) Logout() http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			r = w.sessions.EnsureCSRF(rw, r)
			d := pageData{CSRFToken: w.sessions.CSRFToken(r)}
			if id, ok := w.sessions.Current(r); ok {
				d.SignedInAs = id.Username
			}
			w.render(rw, http.StatusOK, "logout", d, false)
			return
		}
		if err := parseForm(r); err != nil {
			w.renderError(rw, r, http.StatusBadRequest, "Invalid request", "The form could not be read.", "invalid_request")
			return
		}
		if !w.sessions.CheckCSRF(r) {
			w.forbidden(rw, r)
			return
		}
		ctx, cancel := detached(r.Context())
		defer cancel()
		if err := w.sessions.end(ctx, rw, r); err != nil {
			w.unavailable(rw, r, err)
			return
		}
		w.SetPageHeaders(rw, false)
		http.Redirect(rw, r, LoginPath, http.StatusSeeOther)
	})
}
