// Package devicepage serves the page where a signed-in user enters the
// user code of an RFC 8628 device authorization and approves or denies it
// (the verification URI). It renders html/template pages with a strict
// Content-Security-Policy, needs no JavaScript, and leaves sessions, CSRF
// tokens and the login page to a Sessions implementation.
package devicepage

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/tokengate/tokengate/internal/oauth"
)

//go:embed templates/page.html templates/style.css
var files embed.FS

// Identity is the signed-in user of a request.
type Identity struct {
	UserID    string
	Username  string
	AuthTime  time.Time // when the user authenticated
	SessionID string
}

// Sessions is what the page needs of the login session: who is signed
// in, the CSRF token of the session and its check, and where to sign in.
type Sessions interface {
	// Current returns the signed-in user of r, if any.
	Current(r *http.Request) (Identity, bool)
	// CSRFToken returns the token a form of r's session must carry.
	CSRFToken(r *http.Request) string
	// CheckCSRF reports whether r (a POST) carries its session's token.
	CheckCSRF(r *http.Request) bool
	// LoginURL is the login page, returning to returnTo (a local path).
	LoginURL(returnTo string) string
}

// Devices is the core's side of the page; *oauth.Service implements it.
type Devices interface {
	LookupUserCode(ctx context.Context, code string, a oauth.UserCodeAttempt) (*oauth.DeviceInfo, error)
	DecideUserCode(ctx context.Context, code string, approve bool, a oauth.UserCodeAttempt, authTime time.Time) error
}

// Options configure the page.
type Options struct {
	Devices  Devices
	Sessions Sessions
	// Path is where the page is served (its form posts there); default
	// oauth.VerificationPath.
	Path string
	// RemoteIP resolves the client's address, for the guessing limits.
	RemoteIP func(r *http.Request) string
	Logger   *slog.Logger
	// Title heads the pages; default "Device sign-in".
	Title string
}

// Page is the verification page handler; it answers GET and POST.
type Page struct {
	o    Options
	tmpl *template.Template
	css  template.CSS
	csp  string
}

// New returns the page.
func New(o Options) (*Page, error) {
	if o.Devices == nil || o.Sessions == nil {
		return nil, errors.New("devicepage: Devices and Sessions are required")
	}
	if o.Path == "" {
		o.Path = oauth.VerificationPath
	}
	if o.RemoteIP == nil {
		o.RemoteIP = func(r *http.Request) string { return r.RemoteAddr }
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Title == "" {
		o.Title = "Device sign-in"
	}
	tmpl, err := template.ParseFS(files, "templates/page.html")
	if err != nil {
		return nil, err
	}
	css, err := files.ReadFile("templates/style.css")
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(css)
	// The one inline style is allowed by its hash; nothing else loads.
	csp := "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'; " +
		"form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
	return &Page{o: o, tmpl: tmpl, css: template.CSS(css), csp: csp}, nil
}

// view is what the template renders.
type view struct {
	Title                             string
	Style                             template.CSS
	View, Message, Action, CSRF, Done string
	UserCode, Username, ClientID      string
	Scopes                            []string
}

// maxUserCodeField bounds the user_code echoed back into the form.
const maxUserCodeField = 20

// ServeHTTP implements http.Handler.
func (p *Page) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", p.csp)
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		h.Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	id, ok := p.o.Sessions.Current(r)
	if !ok {
		returnTo := p.o.Path
		if code := r.URL.Query().Get("user_code"); r.Method == http.MethodGet && code != "" && len(code) <= maxUserCodeField {
			returnTo += "?user_code=" + url.QueryEscape(code)
		}
		http.Redirect(w, r, p.o.Sessions.LoginURL(returnTo), http.StatusSeeOther)
		return
	}
	v := view{Title: p.o.Title, Style: p.css, Action: p.o.Path, CSRF: p.o.Sessions.CSRFToken(r), Username: id.Username, View: "entry"}
	if r.Method == http.MethodGet {
		// The code from verification_uri_complete only fills the form:
		// nothing is looked up or decided without a POST that carries
		// the session's CSRF token.
		if code := r.URL.Query().Get("user_code"); len(code) <= maxUserCodeField {
			v.UserCode = code
		}
		p.render(w, http.StatusOK, v)
		return
	}
	if err := r.ParseForm(); err != nil {
		v.Message = "The form could not be read."
		p.render(w, http.StatusBadRequest, v)
		return
	}
	if !p.o.Sessions.CheckCSRF(r) {
		v.Message = "This form has expired. Please enter the code again."
		p.render(w, http.StatusForbidden, v)
		return
	}
	code := r.PostForm.Get("user_code")
	attempt := oauth.UserCodeAttempt{IP: p.o.RemoteIP(r), SessionID: id.SessionID, Username: id.Username}
	decision := r.PostForm.Get("decision")
	if decision == "" {
		info, err := p.o.Devices.LookupUserCode(r.Context(), code, attempt)
		if err != nil {
			p.refuse(w, r, v, code, err)
			return
		}
		v.View, v.UserCode, v.ClientID, v.Scopes = "confirm", info.UserCode, info.ClientID, info.Scopes
		p.render(w, http.StatusOK, v)
		return
	}
	if decision != "approve" && decision != "deny" {
		v.Message = "Choose Approve or Deny."
		p.render(w, http.StatusBadRequest, v)
		return
	}
	approve := decision == "approve"
	if err := p.o.Devices.DecideUserCode(r.Context(), code, approve, attempt, id.AuthTime); err != nil {
		p.refuse(w, r, v, code, err)
		return
	}
	v.View = "done"
	if approve {
		v.Done = "Your device is signed in. You can return to it now."
	} else {
		v.Done = "The sign-in was denied. Nothing was shared with the device."
	}
	p.render(w, http.StatusOK, v)
}

// refuse shows the entry form again with the one message for every bad
// code, or the answer to a guessing lock-out or an outage.
func (p *Page) refuse(w http.ResponseWriter, r *http.Request, v view, code string, err error) {
	v.View = "entry"
	if len(code) <= maxUserCodeField {
		v.UserCode = code
	}
	if errors.Is(err, oauth.ErrUserCode) {
		v.Message = "That code is not valid or has expired. Check the code on your device and try again."
		p.render(w, http.StatusBadRequest, v)
		return
	}
	oe := oauth.AsError(err)
	switch oe.Status {
	case http.StatusTooManyRequests:
		v.Message = "Too many codes were tried. Please wait a while and try again."
		if oe.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.FormatInt(int64((oe.RetryAfter+time.Second-1)/time.Second), 10))
		}
		p.render(w, http.StatusTooManyRequests, v)
	case http.StatusServiceUnavailable:
		v.Message = "The service is busy. Please try again in a moment."
		p.render(w, http.StatusServiceUnavailable, v)
	default:
		p.o.Logger.Error("device page", "err", oe.Cause, "code", oe.Code)
		v.Message = "Something went wrong. Please try again."
		p.render(w, http.StatusInternalServerError, v)
	}
}

func (p *Page) render(w http.ResponseWriter, status int, v view) {
	var b bytes.Buffer
	if err := p.tmpl.ExecuteTemplate(&b, "page", v); err != nil {
		p.o.Logger.Error("rendering the device page", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}
