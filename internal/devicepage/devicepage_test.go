package devicepage

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokengate/tokengate/internal/oauth"
	"github.com/tokengate/tokengate/internal/secret"
	"github.com/tokengate/tokengate/internal/store"
	"github.com/tokengate/tokengate/internal/store/memory"
	"github.com/tokengate/tokengate/internal/token"
)

// FakeSessions stands in for the login session: the cookie "sid" names a
// session of the map, its CSRF token is "csrf-" + sid.
type FakeSessions struct {
	mu       sync.Mutex
	sessions map[string]Identity
}

func (f *FakeSessions) Current(r *http.Request) (Identity, bool) {
	c, err := r.Cookie("sid")
	if err != nil {
		return Identity{}, false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	id, ok := f.sessions[c.Value]
	return id, ok
}

func (f *FakeSessions) CSRFToken(r *http.Request) string {
	c, err := r.Cookie("sid")
	if err != nil {
		return ""
	}
	return "csrf-" + c.Value
}

func (f *FakeSessions) CheckCSRF(r *http.Request) bool {
	want := f.CSRFToken(r)
	return want != "" && r.PostFormValue("csrf_token") == want
}

func (f *FakeSessions) LoginURL(returnTo string) string {
	return "/login?return_to=" + url.QueryEscape(returnTo)
}

type signer struct{ n int }

func (s *signer) Sign(c token.Claims, typ string) (string, error) {
	s.n++
	return "tok." + typ + "." + strconv.Itoa(s.n), nil
}

func (s *signer) VerifyFresh(context.Context, string, token.VerifyOptions) (token.Claims, error) {
	return token.Claims{}, errors.New("not verifiable")
}

func (s *signer) VerifyFreshWith(context.Context, string, token.VerifyOptions, func(context.Context, token.Claims, string) (bool, error)) (token.Claims, error) {
	return token.Claims{}, errors.New("not verifiable")
}

// macKey is the test signer's refresh-token MAC key, named "tk".
var macKey = []byte("0123456789abcdef0123456789abcdef")

func (s *signer) NewRefresh(c token.RefreshClaims, rnd io.Reader) (string, error) {
	return token.SealRefresh("tk", macKey, c, rnd)
}

func (s *signer) OpenRefresh(raw string) (token.RefreshClaims, error) {
	return token.OpenRefresh(raw, func(id string) []byte {
		if id == "tk" {
			return macKey
		}
		return nil
	})
}

type fixture struct {
	svc  *oauth.Service
	st   store.Store
	page *Page
	now  time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	h, err := secret.NewHasher(secret.HasherOptions{Params: secret.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}})
	if err != nil {
		t.Fatal(err)
	}
	fx := &fixture{st: memory.New(), now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	fx.svc, err = oauth.NewService(oauth.Options{Store: fx.st, Signer: &signer{}, Hasher: h, Settings: oauth.Settings{Issuer: "https://issuer.test"}, Now: func() time.Time { return fx.now }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := fx.st.CreateUser(ctx, store.User{Username: "alice", CreatedAt: fx.now}); err != nil {
		t.Fatal(err)
	}
	if err := fx.st.CreateClient(ctx, store.Client{ID: "living-room-tv", Public: true, Grants: []string{oauth.GrantDeviceCode, oauth.GrantRefreshToken}, Scopes: []string{"read", "write"}, CreatedAt: fx.now}); err != nil {
		t.Fatal(err)
	}
	sessions := &FakeSessions{sessions: map[string]Identity{
		"s1": {UserID: "alice", Username: "alice", AuthTime: fx.now.Add(-time.Minute), SessionID: "s1"},
	}}
	fx.page, err = New(Options{Devices: fx.svc, Sessions: sessions, RemoteIP: func(*http.Request) string { return "192.0.2.1" }})
	if err != nil {
		t.Fatal(err)
	}
	return fx
}

func (fx *fixture) authorize(t *testing.T) *oauth.DeviceResponse {
	t.Helper()
	r, err := fx.svc.DeviceAuthorize(context.Background(), &oauth.DeviceRequest{ClientID: "living-room-tv", Scope: "read write", ScopeGiven: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (fx *fixture) poll(code string) error {
	_, err := fx.svc.Token(context.Background(), &oauth.TokenRequest{GrantType: oauth.GrantDeviceCode, ClientID: "living-room-tv", DeviceCode: code}, nil)
	return err
}

func (fx *fixture) get(t *testing.T, target, sid string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, target, nil)
	if sid != "" {
		r.AddCookie(&http.Cookie{Name: "sid", Value: sid})
	}
	w := httptest.NewRecorder()
	fx.page.ServeHTTP(w, r)
	return w
}

func (fx *fixture) post(t *testing.T, sid string, form url.Values) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/device", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if sid != "" {
		r.AddCookie(&http.Cookie{Name: "sid", Value: sid})
	}
	w := httptest.NewRecorder()
	fx.page.ServeHTTP(w, r)
	return w
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if oe := oauth.AsError(err); err == nil || oe.Code != code {
		t.Fatalf("poll: %v, want %s", err, code)
	}
}

func TestPageRedirectsToLoginWhenSignedOut(t *testing.T) {
	fx := newFixture(t)
	w := fx.get(t, "/device?user_code=BCDF-GHJK", "")
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/login?return_to="+url.QueryEscape("/device?user_code=BCDF-GHJK") {
		t.Fatalf("GET signed out: %d %q", w.Code, w.Header().Get("Location"))
	}
	w = fx.post(t, "nobody", url.Values{"user_code": {"BCDF-GHJK"}, "decision": {"approve"}})
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/login?return_to=%2Fdevice" {
		t.Fatalf("POST signed out: %d %q", w.Code, w.Header().Get("Location"))
	}
}

func TestPageFormIsPrefilledAndEscaped(t *testing.T) {
	fx := newFixture(t)
	w := fx.get(t, "/device?user_code=BCDF-GHJK", "s1")
	body := w.Body.String()
	for _, want := range []string{
		`<input id="user_code" name="user_code" autocomplete="off"`, `value="BCDF-GHJK"`,
		`<input type="hidden" name="csrf_token" value="csrf-s1">`, `<button type="submit" id="device-submit">`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %s:\n%s", want, body)
		}
	}
	w = fx.get(t, "/device?user_code="+url.QueryEscape(`"><b>x`), "s1")
	if strings.Contains(w.Body.String(), `"><b>x`) {
		t.Error("the user_code parameter is echoed unescaped")
	}
}

func TestPageSecurityHeaders(t *testing.T) {
	fx := newFixture(t)
	for _, w := range []*httptest.ResponseRecorder{fx.get(t, "/device", "s1"), fx.post(t, "s1", url.Values{"user_code": {"x"}})} {
		h := w.Header()
		csp := h.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "frame-ancestors 'none'", "form-action 'self'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("CSP %q lacks %s", csp, want)
			}
		}
		if h.Get("X-Frame-Options") != "DENY" || h.Get("Referrer-Policy") != "no-referrer" || h.Get("Cache-Control") != "no-store" {
			t.Errorf("headers: %v", h)
		}
		// The inline style is the one the policy allows by hash.
		body := w.Body.String()
		i, j := strings.Index(body, "<style>"), strings.Index(body, "</style>")
		sum := sha256.Sum256([]byte(body[i+len("<style>") : j]))
		if !strings.Contains(csp, "'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'") {
			t.Errorf("CSP %q does not allow the page's style", csp)
		}
	}
}

func TestPageCSRFMissingDecidesNothing(t *testing.T) {
	fx := newFixture(t)
	d := fx.authorize(t)
	for _, form := range []url.Values{
		{"user_code": {d.UserCode}, "decision": {"approve"}},
		{"user_code": {d.UserCode}, "decision": {"approve"}, "csrf_token": {"csrf-other"}},
	} {
		if w := fx.post(t, "s1", form); w.Code != http.StatusForbidden {
			t.Fatalf("POST without the CSRF token: %d", w.Code)
		}
	}
	wantCode(t, fx.poll(d.DeviceCode), oauth.CodeAuthorizationPending)
}

func TestPageShowsClientAndScopesThenApproves(t *testing.T) {
	fx := newFixture(t)
	d := fx.authorize(t)
	// Typed in lower case with a space: normalised.
	w := fx.post(t, "s1", url.Values{"user_code": {strings.ToLower(strings.Replace(d.UserCode, "-", " ", 1))}, "csrf_token": {"csrf-s1"}})
	body := w.Body.String()
	if w.Code != http.StatusOK {
		t.Fatalf("code entry: %d\n%s", w.Code, body)
	}
	for _, want := range []string{`living-room-tv`, `<li>read</li>`, `<li>write</li>`, d.UserCode,
		`<button type="submit" name="decision" value="approve" id="approve">`, `<button type="submit" name="decision" value="deny" id="deny">`} {
		if !strings.Contains(body, want) {
			t.Errorf("confirmation lacks %s:\n%s", want, body)
		}
	}
	// Showing the client decided nothing.
	wantCode(t, fx.poll(d.DeviceCode), oauth.CodeAuthorizationPending)
	fx.now = fx.now.Add(5 * time.Second)
	w = fx.post(t, "s1", url.Values{"user_code": {d.UserCode}, "csrf_token": {"csrf-s1"}, "decision": {"approve"}})
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `id="done"`) {
		t.Fatalf("approve: %d\n%s", w.Code, w.Body)
	}
	if err := fx.poll(d.DeviceCode); err != nil {
		t.Fatalf("poll after approval: %v", err)
	}
	// A used code is refused like a wrong one.
	w = fx.post(t, "s1", url.Values{"user_code": {d.UserCode}, "csrf_token": {"csrf-s1"}, "decision": {"approve"}})
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "not valid or has expired") {
		t.Fatalf("used code: %d\n%s", w.Code, w.Body)
	}
}

func TestPageDeny(t *testing.T) {
	fx := newFixture(t)
	d := fx.authorize(t)
	w := fx.post(t, "s1", url.Values{"user_code": {d.UserCode}, "csrf_token": {"csrf-s1"}, "decision": {"deny"}})
	if w.Code != http.StatusOK {
		t.Fatalf("deny: %d", w.Code)
	}
	wantCode(t, fx.poll(d.DeviceCode), oauth.CodeAccessDenied)
}

func TestPageExpiredCodeRefused(t *testing.T) {
	fx := newFixture(t)
	d := fx.authorize(t)
	fx.now = fx.now.Add(oauth.DefaultDeviceCodeTTL)
	w := fx.post(t, "s1", url.Values{"user_code": {d.UserCode}, "csrf_token": {"csrf-s1"}, "decision": {"approve"}})
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "not valid or has expired") {
		t.Fatalf("expired code: %d\n%s", w.Code, w.Body)
	}
	wantCode(t, fx.poll(d.DeviceCode), oauth.CodeExpiredToken)
}

func TestPageWrongCodesAreRateLimited(t *testing.T) {
	fx := newFixture(t)
	d := fx.authorize(t)
	var generic string
	for i := range oauth.UserCodeAttempts {
		w := fx.post(t, "s1", url.Values{"user_code": {"BBBB-BBBB"}, "csrf_token": {"csrf-s1"}})
		if w.Code != http.StatusBadRequest {
			t.Fatalf("wrong code %d: %d", i, w.Code)
		}
		generic = w.Body.String()
	}
	if !strings.Contains(generic, "not valid or has expired") {
		t.Errorf("wrong code message:\n%s", generic)
	}
	w := fx.post(t, "s1", url.Values{"user_code": {d.UserCode}, "csrf_token": {"csrf-s1"}, "decision": {"approve"}})
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" {
		t.Fatalf("past the limit: %d %v", w.Code, w.Header())
	}
	wantCode(t, fx.poll(d.DeviceCode), oauth.CodeAuthorizationPending)
}
