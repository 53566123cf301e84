package server_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokengate/tokengate/internal/secret"
	"github.com/tokengate/tokengate/internal/servertest"
	"github.com/tokengate/tokengate/internal/store/sqlite"
)

const browserConfig = `
password_hashing: {memory_kib: 1024, time: 1}
brute_force: {threshold: 3}
web: {title: "Example Sign-in"}
bootstrap:
  users:
    - {username: alice, password: alice-pw, scopes: [read, write]}
    - {username: carol, password: carol-pw, scopes: [read]}
  clients:
    - {id: web, secret: web-secret, grants: [authorization_code, refresh_token], scopes: [read, write],
       redirect_uris: ["https://app.example/cb"], origins: ["https://app.example"]}
    - {id: spa, public: true, grants: [authorization_code, refresh_token], scopes: [read, write],
       redirect_uris: ["https://spa.example/cb", "http://127.0.0.1/callback"], origins: ["https://spa.example"]}
    - {id: partner, secret: partner-secret, third_party: true, grants: [authorization_code, refresh_token], scopes: [read],
       redirect_uris: ["https://partner.example/cb"]}
    - {id: pwonly, secret: pw-secret, grants: [password], scopes: [read]}
`

// bt is a browser test: a real server on 127.0.0.1 and a browser-like
// client with a cookie jar that does not follow redirects, so that every
// hop is seen.
type bt struct {
	t     *testing.T
	srv   *servertest.Server
	store *sqlite.DB
	clock *fakeClock
	c     *http.Client
}

func newBrowserTest(t *testing.T) *bt {
	t.Helper()
	clk := newFakeClock()
	s := servertest.Start(t, browserConfig, servertest.Options{Now: clk.Now})
	return &bt{t: t, srv: s, store: s.Store, clock: clk, c: newBrowser(t)}
}

func newBrowser(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

type page struct {
	status int
	header http.Header
	body   string
	loc    string
}

func (b *bt) req(c *http.Client, method, target string, form url.Values, hdr map[string]string) page {
	b.t.Helper()
	if strings.HasPrefix(target, "/") {
		target = b.srv.URL + target
	}
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	r, err := http.NewRequest(method, target, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	resp, err := c.Do(r)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return page{status: resp.StatusCode, header: resp.Header, body: string(raw), loc: resp.Header.Get("Location")}
}

func (b *bt) get(target string) page { b.t.Helper(); return b.req(b.c, "GET", target, nil, nil) }
func (b *bt) post(target string, f url.Values) page {
	b.t.Helper()
	return b.req(b.c, "POST", target, f, nil)
}

var csrfRE = regexp.MustCompile(`name="csrf_token" value="([^"]*)"`)
var requestRE = regexp.MustCompile(`name="request" value="([^"]*)"`)

func field(t *testing.T, re *regexp.Regexp, body string) string {
	t.Helper()
	m := re.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no %s in page:\n%s", re, body)
	}
	return html.UnescapeString(m[1])
}

// signIn opens the sign-in page for returnTo and posts the credentials.
func (b *bt) signIn(returnTo, user, pw string) page {
	b.t.Helper()
	p := b.get("/login?return_to=" + url.QueryEscape(returnTo))
	if p.status != 200 {
		b.t.Fatalf("login page: %d %s", p.status, p.body)
	}
	return b.post("/login", url.Values{"csrf_token": {field(b.t, csrfRE, p.body)}, "return_to": {returnTo}, "username": {user}, "password": {pw}})
}

type pkce struct{ verifier, challenge string }

func newPKCE(t *testing.T) pkce {
	v, err := secret.RandomString(nil, 64)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(v))
	return pkce{v, base64.RawURLEncoding.EncodeToString(sum[:])}
}

func authorizePath(client, redirect string, p pkce, extra url.Values) string {
	q := url.Values{"response_type": {"code"}, "client_id": {client}, "redirect_uri": {redirect}, "state": {"st-123"},
		"code_challenge": {p.challenge}, "code_challenge_method": {"S256"}}
	for k, v := range extra {
		q[k] = v
	}
	return "/oauth/authorize?" + q.Encode()
}

// redirected checks that p sends the browser to the client at prefix and
// returns the parameters it carries, after checking state and iss.
func (b *bt) redirected(p page, prefix string) url.Values {
	b.t.Helper()
	if p.status != http.StatusSeeOther || !strings.HasPrefix(p.loc, prefix) {
		b.t.Fatalf("want a redirect to %s, got %d %q %s", prefix, p.status, p.loc, p.body)
	}
	u, err := url.Parse(p.loc)
	if err != nil {
		b.t.Fatal(err)
	}
	q := u.Query()
	if q.Get("iss") != b.srv.Config.Issuer {
		b.t.Errorf("iss = %q, want %q (RFC 9207)", q.Get("iss"), b.srv.Config.Issuer)
	}
	if q.Get("state") != "st-123" {
		b.t.Errorf("state = %q, want it passed through", q.Get("state"))
	}
	return q
}

// code runs the authorization for an already signed-in browser and
// returns the code.
func (b *bt) code(client, redirect string, p pkce, extra url.Values) string {
	b.t.Helper()
	q := b.redirected(b.get(authorizePath(client, redirect, p, extra)), redirect)
	if q.Get("code") == "" {
		b.t.Fatalf("no code: %v", q)
	}
	return q.Get("code")
}

// signedInCode signs alice in through the authorization flow and returns
// the code.
func (b *bt) signedInCode(client, redirect string, p pkce) string {
	b.t.Helper()
	first := b.get(authorizePath(client, redirect, p, nil))
	if first.status != http.StatusSeeOther || !strings.HasPrefix(first.loc, "/login?return_to=") {
		b.t.Fatalf("not signed in: want 303 to the sign-in page, got %d %q", first.status, first.loc)
	}
	u, _ := url.Parse(first.loc)
	returnTo := u.Query().Get("return_to")
	done := b.signIn(returnTo, "alice", "alice-pw")
	if done.status != http.StatusSeeOther || done.loc != returnTo {
		b.t.Fatalf("sign-in: want 303 to %q, got %d %q %s", returnTo, done.status, done.loc, done.body)
	}
	return b.code(client, redirect, p, nil)
}

type tokenAnswer struct {
	status int
	body   map[string]any
	header http.Header
}

func (a tokenAnswer) str(k string) string { s, _ := a.body[k].(string); return s }

func (b *bt) token(vals url.Values, hdr map[string]string) tokenAnswer {
	b.t.Helper()
	p := b.req(http.DefaultClient, "POST", "/oauth/token", vals, hdr)
	a := tokenAnswer{status: p.status, header: p.header}
	_ = json.Unmarshal([]byte(p.body), &a.body)
	return a
}

func (b *bt) exchange(client, secret, code, redirect, verifier string) tokenAnswer {
	b.t.Helper()
	v := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect}}
	if verifier != "" {
		v.Set("code_verifier", verifier)
	}
	if secret == "" {
		v.Set("client_id", client)
		return b.token(v, nil)
	}
	return b.token(v, basic(client, secret))
}

func TestAuthCodeFlowWithPKCE(t *testing.T) {
	b := newBrowserTest(t)
	p := newPKCE(t)
	code := b.signedInCode("spa", "https://spa.example/cb", p)
	a := b.exchange("spa", "", code, "https://spa.example/cb", p.verifier)
	if a.status != 200 || a.str("access_token") == "" || a.str("refresh_token") == "" || a.str("scope") != "read write" {
		t.Fatalf("exchange: %d %v", a.status, a.body)
	}
	// The refresh token rotates like every other.
	r := b.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {a.str("refresh_token")}, "client_id": {"spa"}}, nil)
	if r.status != 200 || r.str("refresh_token") == "" || r.str("refresh_token") == a.str("refresh_token") {
		t.Fatalf("refresh: %d %v", r.status, r.body)
	}
	// A second authorization reuses the session: no password, a new code,
	// and a new family of its own.
	p2 := newPKCE(t)
	code2 := b.code("web", "https://app.example/cb", p2, url.Values{"scope": {"read"}})
	a2 := b.exchange("web", "web-secret", code2, "https://app.example/cb", p2.verifier)
	if a2.status != 200 || a2.str("scope") != "read" {
		t.Fatalf("second authorization: %d %v", a2.status, a2.body)
	}
	// Revoking the first family leaves the second alone.
	rv := b.req(http.DefaultClient, "POST", "/oauth/revoke", url.Values{"token": {r.str("refresh_token")}, "client_id": {"spa"}}, nil)
	if rv.status != 200 {
		t.Fatalf("revoke: %d %s", rv.status, rv.body)
	}
	if again := b.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {r.str("refresh_token")}, "client_id": {"spa"}}, nil); again.status != 400 {
		t.Fatalf("revoked refresh token still works: %d", again.status)
	}
	if ok := b.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {a2.str("refresh_token")}}, basic("web", "web-secret")); ok.status != 200 {
		t.Fatalf("the other authorization's family died with the first: %d %v", ok.status, ok.body)
	}
}

func TestAuthCodeTokenRejections(t *testing.T) {
	b := newBrowserTest(t)
	p := newPKCE(t)
	code := b.signedInCode("web", "https://app.example/cb", p)
	other := newPKCE(t)
	cases := []struct {
		name                         string
		client, sec, redirect, verif string
		wantCode                     string
	}{
		{"wrong verifier", "web", "web-secret", "https://app.example/cb", other.verifier, "invalid_grant"},
		{"missing verifier", "web", "web-secret", "https://app.example/cb", "", "invalid_grant"},
		{"malformed verifier", "web", "web-secret", "https://app.example/cb", "short", "invalid_request"},
		{"verifier as challenge (plain)", "web", "web-secret", "https://app.example/cb", p.challenge + "AAAA", "invalid_grant"},
		{"redirect URI mismatch", "web", "web-secret", "https://app.example/other", p.verifier, "invalid_grant"},
		{"code of another client", "spa", "", "https://app.example/cb", p.verifier, "invalid_grant"},
		{"client without the grant", "pwonly", "pw-secret", "https://app.example/cb", p.verifier, "unauthorized_client"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := b.exchange(tc.client, tc.sec, code, tc.redirect, tc.verif)
			if a.status == 200 || a.str("error") != tc.wantCode {
				t.Fatalf("%d %v, want %s", a.status, a.body, tc.wantCode)
			}
		})
	}
	// None of the refused attempts spent the code.
	if a := b.exchange("web", "web-secret", code, "https://app.example/cb", p.verifier); a.status != 200 {
		t.Fatalf("the rightful redemption after refused ones: %d %v", a.status, a.body)
	}
}

func TestAuthCodeReuseRevokesFirstFamily(t *testing.T) {
	b := newBrowserTest(t)
	p := newPKCE(t)
	code := b.signedInCode("web", "https://app.example/cb", p)
	first := b.exchange("web", "web-secret", code, "https://app.example/cb", p.verifier)
	if first.status != 200 {
		t.Fatalf("first use: %d %v", first.status, first.body)
	}
	second := b.exchange("web", "web-secret", code, "https://app.example/cb", p.verifier)
	if second.status != 400 || second.str("error") != "invalid_grant" {
		t.Fatalf("second use: %d %v, want invalid_grant", second.status, second.body)
	}
	if r := b.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first.str("refresh_token")}}, basic("web", "web-secret")); r.status != 400 {
		t.Fatalf("refresh token of the first use still works after the code's reuse: %d %v", r.status, r.body)
	}
	intro := b.req(http.DefaultClient, "POST", "/oauth/introspect", url.Values{"token": {first.str("access_token")}}, basic("web", "web-secret"))
	if !strings.Contains(intro.body, `"active":false`) {
		t.Fatalf("access token of the first use still active: %s", intro.body)
	}
}

func TestAuthCodeExpiresAfter60Seconds(t *testing.T) {
	b := newBrowserTest(t)
	p := newPKCE(t)
	code := b.signedInCode("web", "https://app.example/cb", p)
	b.clock.Add(61 * time.Second)
	if a := b.exchange("web", "web-secret", code, "https://app.example/cb", p.verifier); a.status != 400 || a.str("error") != "invalid_grant" {
		t.Fatalf("expired code: %d %v", a.status, a.body)
	}
	p2 := newPKCE(t)
	code2 := b.code("web", "https://app.example/cb", p2, nil)
	b.clock.Add(59 * time.Second)
	if a := b.exchange("web", "web-secret", code2, "https://app.example/cb", p2.verifier); a.status != 200 {
		t.Fatalf("code at 59s: %d %v", a.status, a.body)
	}
}

func TestAuthCodeConcurrentRedemptionHasOneWinner(t *testing.T) {
	b := newBrowserTest(t)
	p := newPKCE(t)
	code := b.signedInCode("spa", "https://spa.example/cb", p)
	const n = 100
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		wins []string
	)
	start := make(chan struct{})
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			v := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {"https://spa.example/cb"}, "code_verifier": {p.verifier}, "client_id": {"spa"}}
			resp, err := http.PostForm(b.srv.URL+"/oauth/token", v)
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			var body map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&body)
			if resp.StatusCode == 200 {
				mu.Lock()
				wins = append(wins, fmt.Sprint(body["refresh_token"]))
				mu.Unlock()
			}
		}()
	}
	close(start)
	wg.Wait()
	if len(wins) != 1 {
		t.Fatalf("%d of %d concurrent redemptions succeeded, want exactly one", len(wins), n)
	}
	// The code was used more than once: the family its first use issued
	// is revoked, as if the uses had come one after the other.
	r := b.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {wins[0]}, "client_id": {"spa"}}, nil)
	if r.status == 200 {
		t.Fatalf("the winner's family survived the concurrent reuse")
	}
}
