package web

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/tokengate/tokengate/internal/secret"
	"github.com/tokengate/tokengate/internal/store"
)

// Cookie names. The __Host- prefix makes browsers accept the cookie only
// with Secure, Path=/ and no Domain, so a sibling subdomain cannot plant
// or overwrite it.
const (
	SessionCookie = "__Host-tokengate-session"
	CSRFCookie    = "__Host-tokengate-csrf"
	// CSRFField is the form field that carries the CSRF token.
	CSRFField = "csrf_token"
	// LoginPath and LogoutPath are where the sign-in pages are served.
	LoginPath  = "/login"
	LogoutPath = "/logout"
)

// idLen is the length of a session id or pre-session CSRF secret: 43
// random base62 characters, just over 256 bits.
const idLen = 43

// Identity is the signed-in user of a request.
type Identity struct {
	UserID   string // the username
	Username string
	AuthTime time.Time
	// SessionID names the session without being its secret: the hex of
	// the first 16 bytes of the SHA-256 the store keeps.
	SessionID string
}

// SessionStore is what the sessions need of the store.
type SessionStore interface {
	store.WebSessions
	GetUser(ctx context.Context, username string) (store.User, error)
}

// Sessions manages browser sign-in sessions: server-side records keyed by
// the SHA-256 of a random id that only the cookie holds, and CSRF tokens
// bound to the session (or, before sign-in, to a pre-session cookie).
type Sessions struct {
	store SessionStore
	ttl   time.Duration
	now   func() time.Time
	rand  io.Reader
	log   *slog.Logger
}

type csrfKey struct{}

// Current returns the signed-in user of r: a session that exists, has not
// expired, and whose user exists, is enabled, was created before the
// sign-in and has not had its sessions ended since (not-before).
func (s *Sessions) Current(r *http.Request) (Identity, bool) {
	id, ok, err := s.current(r)
	if err != nil {
		s.log.Warn("reading the sign-in session", "err", err)
	}
	return id, ok && err == nil
}

// current is Current with the store's error, so that pages can answer
// 503 rather than treat an outage as signed out.
func (s *Sessions) current(r *http.Request) (Identity, bool, error) {
	raw := cookieValue(r, SessionCookie)
	if raw == "" {
		return Identity{}, false, nil
	}
	h := secret.Hash(raw)
	ws, err := s.store.GetWebSession(r.Context(), h)
	if errors.Is(err, store.ErrNotFound) {
		return Identity{}, false, nil
	}
	if err != nil {
		return Identity{}, false, err
	}
	if !s.now().Before(ws.ExpiresAt) {
		return Identity{}, false, nil
	}
	u, err := s.store.GetUser(r.Context(), ws.Username)
	if errors.Is(err, store.ErrNotFound) {
		return Identity{}, false, nil
	}
	if err != nil {
		return Identity{}, false, err
	}
	if u.Disabled || u.CreatedAt.After(ws.AuthTime) || u.NotBefore.After(ws.AuthTime) {
		// The session is over: remove it, so it is not read again.
		if err := s.store.DeleteWebSession(context.WithoutCancel(r.Context()), h); err != nil {
			s.log.Warn("deleting an ended sign-in session", "err", err)
		}
		return Identity{}, false, nil
	}
	return Identity{UserID: u.Username, Username: u.Username, AuthTime: ws.AuthTime, SessionID: hex.EncodeToString(h[:16])}, true, nil
}

// cookieValue returns the value of cookie name when it is well formed.
func cookieValue(r *http.Request, name string) string {
	c, err := r.Cookie(name)
	if err != nil || len(c.Value) != idLen {
		return ""
	}
	for i := 0; i < len(c.Value); i++ {
		if b := c.Value[i]; !(b >= '0' && b <= '9' || b >= 'A' && b <= 'Z' || b >= 'a' && b <= 'z') {
			return ""
		}
	}
	return c.Value
}

// csrfFor derives the CSRF token of a session id or pre-session secret:
// an HMAC keyed by the secret, so that the token reveals nothing of the
// cookie and the store's hash reveals nothing of the token.
func csrfFor(key string) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte("tokengate csrf v1"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// csrfKeyOf returns the secret the CSRF token of r is bound to: the
// session id when r carries a live session, else the pre-session secret
// (from the cookie, or one EnsureCSRF just made).
func (s *Sessions) csrfKeyOf(r *http.Request) string {
	if raw := cookieValue(r, SessionCookie); raw != "" {
		if _, ok, err := s.current(r); ok && err == nil {
			return raw
		}
	}
	if v, ok := r.Context().Value(csrfKey{}).(string); ok {
		return v
	}
	return cookieValue(r, CSRFCookie)
}

// CSRFToken returns the value for the hidden csrf_token field of a form
// on r's page; "" when r has neither a session nor a pre-session cookie
// (EnsureCSRF makes one).
func (s *Sessions) CSRFToken(r *http.Request) string {
	k := s.csrfKeyOf(r)
	if k == "" {
		return ""
	}
	return csrfFor(k)
}

// CheckCSRF checks the posted csrf_token against r's session or
// pre-session cookie, in constant time. r's form must be parsed.
func (s *Sessions) CheckCSRF(r *http.Request) bool {
	got := r.PostFormValue(CSRFField)
	k := s.csrfKeyOf(r)
	if k == "" || got == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(got), []byte(csrfFor(k))) == 1
}

// EnsureCSRF gives a visitor without a pre-session cookie a new one, and
// returns r carrying it so that CSRFToken works at once.
func (s *Sessions) EnsureCSRF(w http.ResponseWriter, r *http.Request) *http.Request {
	if cookieValue(r, CSRFCookie) != "" {
		return r
	}
	v, err := secret.RandomString(s.rand, idLen)
	if err != nil || len(v) != idLen {
		return r
	}
	http.SetCookie(w, &http.Cookie{Name: CSRFCookie, Value: v, Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	return r.WithContext(context.WithValue(r.Context(), csrfKey{}, v))
}

// LoginURL is the sign-in page that returns to returnTo (a local path).
func (s *Sessions) LoginURL(returnTo string) string {
	if returnTo == "" {
		return LoginPath
	}
	return LoginPath + "?return_to=" + url.QueryEscape(returnTo)
}

// start signs username in: a new session (never one the browser brought,
// against fixation), stored by its hash, and the cookie that holds it.
// The session the browser had, if any, ends.
func (s *Sessions) start(ctx context.Context, w http.ResponseWriter, r *http.Request, username string) error {
	raw, err := secret.RandomString(s.rand, idLen)
	if err != nil {
		return err
	}
	if len(raw) != idLen {
		return errors.New("session id of unexpected length")
	}
	now := s.now()
	if err := s.store.CreateWebSession(ctx, store.WebSession{IDHash: secret.Hash(raw), Username: username, AuthTime: now, ExpiresAt: now.Add(s.ttl)}); err != nil {
		return err
	}
	if old := cookieValue(r, SessionCookie); old != "" {
		if err := s.store.DeleteWebSession(ctx, secret.Hash(old)); err != nil {
			s.log.Warn("ending the replaced sign-in session", "err", err)
		}
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: raw, Path: "/", Secure: true, HttpOnly: true,
		SameSite: http.SameSiteLaxMode, MaxAge: int(s.ttl / time.Second)})
	return nil
}

// end ends r's session in the store and clears its cookie.
func (s *Sessions) end(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	if raw := cookieValue(r, SessionCookie); raw != "" {
		if err := s.store.DeleteWebSession(ctx, secret.Hash(raw)); err != nil {
			return err
		}
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode, MaxAge: -1})
	return nil
}
