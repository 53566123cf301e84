// Package devicepagetest provides a stand-in login session for tests of
// the device verification page, and a helper that approves or denies a
// user code over HTTP as a signed-in user's browser would.
package devicepagetest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/tokengate/tokengate/internal/devicepage"
)

// CookieName is the cookie that names a fake session.
const CookieName = "fake_sid"

// Sessions implements devicepage.Sessions: the cookie CookieName names a
// session added with Add, and a session's CSRF token is "csrf-" + its id.
type Sessions struct {
	mu       sync.Mutex
	sessions map[string]devicepage.Identity
}

// New returns Sessions without any session.
func New() *Sessions { return &Sessions{sessions: map[string]devicepage.Identity{}} }

// Add signs id in under session id sid.
func (s *Sessions) Add(sid string, id devicepage.Identity) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id.SessionID = sid
	s.sessions[sid] = id
}

// Current implements devicepage.Sessions.
func (s *Sessions) Current(r *http.Request) (devicepage.Identity, bool) {
	c, err := r.Cookie(CookieName)
	if err != nil {
		return devicepage.Identity{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.sessions[c.Value]
	return id, ok
}

// CSRFToken implements devicepage.Sessions.
func (s *Sessions) CSRFToken(r *http.Request) string {
	if _, ok := s.Current(r); !ok {
		return ""
	}
	c, _ := r.Cookie(CookieName)
	return "csrf-" + c.Value
}

// CheckCSRF implements devicepage.Sessions.
func (s *Sessions) CheckCSRF(r *http.Request) bool {
	want := s.CSRFToken(r)
	return want != "" && r.PostFormValue("csrf_token") == want
}

// LoginURL implements devicepage.Sessions.
func (s *Sessions) LoginURL(returnTo string) string {
	return "/login?return_to=" + url.QueryEscape(returnTo)
}

// Post sends the verification page at pageURL a form as the browser of
// session sid does (with its CSRF token unless form sets one) and returns
// the status and body.
func Post(ctx context.Context, hc *http.Client, pageURL, sid string, form url.Values) (int, string, error) {
	if form.Get("csrf_token") == "" {
		form.Set("csrf_token", "csrf-"+sid)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, pageURL, strings.NewReader(form.Encode()))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(&http.Cookie{Name: CookieName, Value: sid})
	resp, err := hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// Decide enters userCode on the page, checks the confirmation names
// clientID, and approves (or denies) it, as session sid.
func Decide(ctx context.Context, hc *http.Client, pageURL, sid, userCode, clientID string, approve bool) error {
	st, body, err := Post(ctx, hc, pageURL, sid, url.Values{"user_code": {userCode}})
	if err != nil {
		return err
	}
	if st != http.StatusOK || !strings.Contains(body, clientID) || !strings.Contains(body, `id="approve"`) {
		return fmt.Errorf("code entry: HTTP %d, confirmation without client %q", st, clientID)
	}
	decision := "deny"
	if approve {
		decision = "approve"
	}
	st, body, err = Post(ctx, hc, pageURL, sid, url.Values{"user_code": {userCode}, "decision": {decision}})
	if err != nil {
		return err
	}
	if st != http.StatusOK || !strings.Contains(body, `id="done"`) {
		return fmt.Errorf("decision: HTTP %d", st)
	}
	return nil
}
