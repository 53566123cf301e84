// Package web is tokengate's HTML side: the sign-in, consent and sign-out
// pages, the browser session behind them, and the authorization endpoint
// (RFC 6749 §4.1 with PKCE) that uses them. Pages are html/template files
// embedded in the binary, each replaceable by an operator's file of the
// same name; they need no JavaScript. Every page carries a strict
// Content-Security-Policy and the other security headers.
package web

import (
	"bytes"
	"context"
	"crypto/rand"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tokengate/tokengate/internal/oauth"
)

//go:embed templates/*.html
var builtinTemplates embed.FS

//go:embed static/tokengate.css
var stylesheet []byte

// CSSPath is where the stylesheet is served.
const CSSPath = "/static/tokengate.css"

// pageNames are the pages; each is layout.html plus its own file.
var pageNames = []string{"login", "consent", "logout", "error"}

// Store is what the pages need of the store.
type Store = SessionStore

// Options configure the pages.
type Options struct {
	Service *oauth.Service
	Store   Store
	// Title and LogoURL brand the pages (LogoURL an https URL or "").
	Title   string
	LogoURL string
	// TemplatesDir holds templates replacing the built-in ones of the
	// same name; "" for none.
	TemplatesDir string
	// SessionTTL is how long a sign-in lasts; default 12h.
	SessionTTL time.Duration
	// RemoteIP resolves the client address (trusted proxies honoured),
	// for the brute-force guard.
	RemoteIP func(*http.Request) string
	Now      func() time.Time
	Rand     io.Reader
	Logger   *slog.Logger
}

// Web serves the pages. It is safe for concurrent use.
type Web struct {
	svc      *oauth.Service
	sessions *Sessions
	pages    map[string]*template.Template
	title    string
	logo     string
	remoteIP func(*http.Request) string
	log      *slog.Logger
	issuer   string
	csp      string // the policy of pages whose form posts may end off-site
	cspSelf  string // the policy of the other pages
}

// New parses the templates and returns ready pages.
func New(o Options) (*Web, error) {
	if o.Service == nil || o.Store == nil {
		return nil, errors.New("web: service and store are required")
	}
	if o.Title == "" {
		o.Title = "tokengate"
	}
	if o.SessionTTL <= 0 {
		o.SessionTTL = 12 * time.Hour
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.RemoteIP == nil {
		o.RemoteIP = func(r *http.Request) string { return r.RemoteAddr }
	}
	w := &Web{
		svc:      o.Service,
		sessions: &Sessions{store: o.Store, ttl: o.SessionTTL, now: o.Now, rand: o.Rand, log: o.Logger},
		title:    o.Title, logo: o.LogoURL, remoteIP: o.RemoteIP, log: o.Logger,
		issuer: o.Service.Settings().Issuer,
		pages:  map[string]*template.Template{},
	}
	img := "img-src 'self'"
	if o.LogoURL != "" {
		u, err := url.Parse(o.LogoURL)
		if err != nil || u.Scheme != "https" || u.Host == "" || strings.ContainsAny(o.LogoURL, " ;,'\"") {
			return nil, fmt.Errorf("web: logo URL must be an https URL, not %q", o.LogoURL)
		}
		img += " https://" + u.Host
	}
	// form-action is left out of the sign-in and consent pages on
	// purpose: Chromium applies it to every redirect that follows a form
	// submission, and those forms end at the client's redirect URI,
	// which may be any registered origin or a native app's scheme.
	base := "default-src 'none'; style-src 'self'; " + img + "; frame-ancestors 'none'; base-uri 'none'"
	w.csp, w.cspSelf = base, base+"; form-action 'self'"
	var operator fs.FS
	if o.TemplatesDir != "" {
		operator = os.DirFS(o.TemplatesDir)
	}
	for _, name := range pageNames {
		t := template.New(name)
		for _, file := range []string{"layout.html", name + ".html"} {
			src, err := readTemplate(operator, file)
			if err != nil {
				return nil, err
			}
			if _, err := t.Parse(string(src)); err != nil {
				return nil, fmt.Errorf("web: template %s: %w", file, err)
			}
		}
		w.pages[name] = t
	}
	return w, nil
}

// readTemplate returns the operator's file when there is one, else the
// built-in one.
func readTemplate(operator fs.FS, file string) ([]byte, error) {
	if operator != nil {
		b, err := fs.ReadFile(operator, file)
		if err == nil {
			return b, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("web: reading template %s: %w", filepath.Join("templates_dir", file), err)
		}
	}
	return builtinTemplates.ReadFile("templates/" + file)
}

// Sessions returns the session manager, for other pages (the device page).
func (w *Web) Sessions() *Sessions { return w.sessions }

// pageData is what every template sees.
type pageData struct {
	Title, LogoURL, CSSPath string
	CSRFToken               string
	SignedInAs              string
	// Sign-in page.
	ReturnTo, Username string
	// Consent page.
	ClientID, RedirectHost, Request, AuthorizePath string
	Scopes                                         []string
	// Error page and sign-in failures.
	Heading, Error, ErrorCode string
}

// SetPageHeaders sets the headers every HTML page carries. offSite says
// the page's form may end in a redirect off this server (sign-in,
// consent): its policy then has no form-action.
func (w *Web) SetPageHeaders(rw http.ResponseWriter, offSite bool) {
	h := rw.Header()
	if offSite {
		h.Set("Content-Security-Policy", w.csp)
	} else {
		h.Set("Content-Security-Policy", w.cspSelf)
	}
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
}

// render writes page name with status.
func (w *Web) render(rw http.ResponseWriter, status int, name string, d pageData, offSite bool) {
	d.Title, d.LogoURL, d.CSSPath = w.title, w.logo, CSSPath
	var buf bytes.Buffer
	if err := w.pages[name].ExecuteTemplate(&buf, "layout", d); err != nil {
		w.log.Error("rendering page", "page", name, "err", err)
		w.SetPageHeaders(rw, false)
		http.Error(rw, "internal error", http.StatusInternalServerError)
		return
	}
	w.SetPageHeaders(rw, offSite)
	rw.Header().Set("Content-Type", "text/html; charset=utf-8")
	rw.WriteHeader(status)
	_, _ = rw.Write(buf.Bytes())
}

// renderError shows an error page; it never redirects.
func (w *Web) renderError(rw http.ResponseWriter, r *http.Request, status int, heading, msg, code string) {
	d := pageData{Heading: heading, Error: msg, ErrorCode: code}
	w.render(rw, status, "error", d, false)
}

// renderOAuthError shows an OAuth error on the error page.
func (w *Web) renderOAuthError(rw http.ResponseWriter, r *http.Request, err error) {
	e := oauth.AsError(err)
	if e.Cause != nil && statusOf(e) >= 500 {
		w.log.LogAttrs(r.Context(), slog.LevelError, "request failed", slog.String("path", r.URL.Path), slog.String("code", e.Code), slog.String("err", e.Cause.Error()))
	}
	w.renderError(rw, r, statusOf(e), "", e.Description, e.Code)
}

// statusOf is the HTTP status of an error shown on a page.
func statusOf(e *oauth.Error) int {
	switch {
	case e.Code == oauth.CodeTemporarilyUnavailable:
		return http.StatusServiceUnavailable
	case e.Code == oauth.CodeServerError:
		return http.StatusInternalServerError
	case e.Reason == oauth.ReasonLocked:
		return http.StatusTooManyRequests
	case e.Code == oauth.CodeAccessDenied:
		return http.StatusForbidden
	}
	return http.StatusBadRequest
}

// forbidden is the answer to a POST without a valid CSRF token.
func (w *Web) forbidden(rw http.ResponseWriter, r *http.Request) {
	w.renderError(rw, r, http.StatusForbidden, "Request refused",
		"This form has expired or did not come from this site. Go back, reload the page and try again.", "csrf")
}

// unavailable answers a store outage.
func (w *Web) unavailable(rw http.ResponseWriter, r *http.Request, err error) {
	w.log.Warn("page unavailable", "path", r.URL.Path, "err", err)
	rw.Header().Set("Retry-After", "1")
	w.renderError(rw, r, http.StatusServiceUnavailable, "Try again shortly", "The service is busy or unavailable. Try again in a moment.", "temporarily_unavailable")
}

// Stylesheet serves the pages' CSS.
func (w *Web) Stylesheet() http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		h := rw.Header()
		h.Set("Content-Type", "text/css; charset=utf-8")
		h.Set("Cache-Control", "public, max-age=3600")
		h.Set("X-Content-Type-Options", "nosniff")
		_, _ = rw.Write(stylesheet)
	})
}

// parseForm reads a form POST body (already size-limited by the server).
func parseForm(r *http.Request) error {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		return errors.New("not a form")
	}
	return r.ParseForm()
}

// detached bounds work that must finish even if the browser goes away.
func detached(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
}
