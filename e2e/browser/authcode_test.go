package browser

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// authcodeFeature names what the authorization code tests need.
const authcodeFeature = "the authorization code flow with its login page, session and consent (issue 16 items 1, 2 and 5, branch authcode)"

// TestBrowserAuthorizationCodeFlow drives headless Chromium through the
// authorization code flow against the real binary:
//
//  1. a third-party client's authorization request lands on the login
//     page (with the security headers; a screenshot goes to the test's
//     artifact directory), the user signs in, approves the consent screen
//     and the browser follows the redirect to the client app, which gets
//     code, state and iss; the code is exchanged with the PKCE verifier and
//     the refresh token refreshed, over HTTP;
//  2. a first-party client's authorization reuses the session: no login
//     page and no consent, straight to the client app;
//  3. signing out (GET /logout, then #sign-out) ends the session: the old
//     cookie replayed by HTTP no longer signs in, and the browser sees the
//     login page again; signing in there redirects to the client app.
//
// Steps 1 and 3 post forms whose answers redirect to another origin, so
// they show the redirect chain working under the server's
// Content-Security-Policy: Chromium silently drops such a redirect when
// the policy's form-action does not allow it, and the client app then
// never receives the code.
func TestBrowserAuthorizationCodeFlow(t *testing.T) {
	app := startClientApp(t)
	// The clients come from the bootstrap config, which knows the client
	// app's address before the server starts; TestOAuth4WebAPIClient
	// registers its client with `tokengate client add` instead.
	const partnerSecret = "partner-secret-0123456789abcdefghijklmnopqrstuvwxyz"
	s := startServer(t, `
bootstrap:
  clients:
    - {id: partner, secret: `+partnerSecret+`, grants: [authorization_code, refresh_token], scopes: [read], redirect_uris: [`+app.redirectURI()+`], third_party: true}
    - {id: webapp, public: true, grants: [authorization_code, refresh_token], scopes: [read], redirect_uris: [`+app.redirectURI()+`]}
`)
	s.requireEndpoint(t, authcodeFeature, http.MethodGet, "/oauth/authorize")
	s.addUser(t, "alice", "alice-password-1", "read")
	b := newBrowser(t)
	token := s.base + "/oauth/token"

	// 1. Third-party client: login page, consent, redirect, exchange, refresh.
	p1, state1 := newPKCE(), randomState()
	resp := b.navigate(t, authorizeURL(s.base, "partner", app.redirectURI(), "read", state1, "", p1))
	if u, _ := url.Parse(resp.URL); u == nil || u.Path != "/login" || resp.Status != http.StatusOK {
		t.Fatalf("authorization request without a session ended on %d %s; want the login page /login\n%s", resp.Status, resp.URL, b.state())
	}
	checkPageHeaders(t, "login page", resp)
	form := run(t, b, "reading the login form", chromedp.Evaluate[string](`[
		document.querySelector('#username')?.autocomplete,
		document.querySelector('#password')?.autocomplete,
		document.querySelector('#password')?.type,
		!!document.querySelector('form input[type=hidden][name=csrf_token]')?.value,
		!!document.querySelector('label[for=username]') && !!document.querySelector('label[for=password]'),
	].join(' ')`))
	if form != "username current-password password true true" {
		t.Errorf("login form: autocomplete, type, csrf_token and labels = %q; want \"username current-password password true true\"", form)
	}
	screenshot(t, b, "login.png")

	b.signIn(t, "alice", "alice-password-1")
	b.do(t, "waiting for the consent screen of the third-party client", chromedp.WaitVisible(chromedp.CSS("#approve")), chromedp.WaitVisible(chromedp.CSS("#deny")))
	if text := run(t, b, "reading the consent screen", chromedp.Text(chromedp.CSS("body"))); !strings.Contains(text, "read") {
		t.Errorf("the consent screen does not list the requested scope read:\n%s", text)
	}
	screenshot(t, b, "consent.png")
	app.noCallback(t, "before consent")
	if c := b.cookie(t, s.base, sessionCookie); c == nil {
		t.Errorf("no %s cookie after signing in\n%s", sessionCookie, b.state())
	} else if !c.Secure || !c.HTTPOnly || c.SameSite != network.CookieSameSiteLax || c.Path != "/" || strings.HasPrefix(c.Domain, ".") {
		t.Errorf("session cookie: secure=%v httpOnly=%v sameSite=%q path=%q domain=%q; want Secure, HttpOnly, SameSite=Lax, Path=/, host-only",
			c.Secure, c.HTTPOnly, c.SameSite, c.Path, c.Domain)
	}
	b.do(t, "approving", chromedp.Click(chromedp.CSS("#approve")))
	q := waitCallback(t, b, app, "after consent (a POST answered by a redirect to the client app)")
	code := checkAuthorizationResponse(t, q, state1, s.base)

	st, tok := tokenRequest(t, token, url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {app.redirectURI()}, "code_verifier": {p1.verifier}}, "partner", partnerSecret)
	if st != http.StatusOK || str(tok, "access_token") == "" || str(tok, "refresh_token") == "" || !strings.EqualFold(str(tok, "token_type"), "bearer") {
		t.Fatalf("code exchange with the verifier: %d %v", st, tok)
	}
	if sc := str(tok, "scope"); sc != "" && sc != "read" {
		t.Errorf("granted scope %q; want read", sc)
	}
	st, ref := tokenRequest(t, token, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {str(tok, "refresh_token")}}, "partner", partnerSecret)
	if st != http.StatusOK || str(ref, "access_token") == "" || str(ref, "refresh_token") == "" || str(ref, "refresh_token") == str(tok, "refresh_token") {
		t.Fatalf("refresh of the code flow's refresh token: %d %v; want a new, rotated refresh token", st, ref)
	}

	// 2. First-party client: the session signs in, no password, no consent.
	p2, state2 := newPKCE(), randomState()
	mark := b.mark()
	b.navigate(t, authorizeURL(s.base, "webapp", app.redirectURI(), "read", state2, "", p2))
	q = waitCallback(t, b, app, "first-party authorization with a session")
	code2 := checkAuthorizationResponse(t, q, state2, s.base)
	for _, u := range b.navigations(mark) {
		if strings.HasPrefix(u, s.base) {
			t.Errorf("the first-party authorization with a session showed a tokengate page %s; want a straight redirect to the client app (navigations %v)", u, b.navigations(mark))
		}
	}
	if loc := b.location(t); !strings.HasPrefix(loc.String(), app.redirectURI()) {
		t.Errorf("browser at %s; want the client app", loc)
	}
	st, tok2 := tokenRequest(t, token, url.Values{"grant_type": {"authorization_code"}, "code": {code2},
		"redirect_uri": {app.redirectURI()}, "code_verifier": {p2.verifier}}, "webapp", "")
	if st != http.StatusOK || str(tok2, "access_token") == "" {
		t.Fatalf("public client's code exchange: %d %v", st, tok2)
	}

	// 3. Sign out: the session ends, in the browser and on the server.
	old := b.cookie(t, s.base, sessionCookie)
	if old == nil {
		t.Fatalf("no session cookie before signing out\n%s", b.state())
	}
	resp = b.navigate(t, s.base+"/logout")
	checkPageHeaders(t, "logout page", resp)
	b.do(t, "signing out", chromedp.WaitVisible(chromedp.CSS("#sign-out")))
	ctx, cancel := stepContext(b)
	_, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS("#sign-out")))
	cancel()
	if err != nil {
		t.Fatalf("posting the logout form: %v\n%s", err, b.state())
	}
	if c := b.cookie(t, s.base, sessionCookie); c != nil && c.Value == old.Value {
		t.Errorf("the browser still holds the same session cookie after signing out")
	}
	p3, state3 := newPKCE(), randomState()
	u3 := authorizeURL(s.base, "webapp", app.redirectURI(), "read", state3, "", p3)
	req, _ := http.NewRequest(http.MethodGet, u3, nil)
	req.AddCookie(&http.Cookie{Name: sessionCookie, Value: old.Value})
	hr, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	hr.Body.Close()
	if loc, _ := url.Parse(hr.Header.Get("Location")); hr.StatusCode != http.StatusSeeOther || loc == nil || loc.Path != "/login" {
		t.Errorf("the session cookie replayed after logout: %d Location %q; want 303 to /login", hr.StatusCode, hr.Header.Get("Location"))
	}
	resp = b.navigate(t, u3)
	if u, _ := url.Parse(resp.URL); u == nil || u.Path != "/login" {
		t.Fatalf("authorization after signing out ended on %s; want the login page\n%s", resp.URL, b.state())
	}
	app.noCallback(t, "after signing out")
	b.signIn(t, "alice", "alice-password-1")
	q = waitCallback(t, b, app, "signing in for a first-party client (the login POST answered by redirects to the client app)")
	checkAuthorizationResponse(t, q, state3, s.base)
	if v := b.cspViolations(); len(v) > 0 {
		t.Errorf("Chromium reported Content-Security-Policy violations during the flows:\n%s", strings.Join(v, "\n"))
	}
}

// checkAuthorizationResponse checks a successful authorization response
// (code, the state sent, iss per RFC 9207) and returns the code.
func checkAuthorizationResponse(t *testing.T, q url.Values, state, issuer string) string {
	t.Helper()
	if q.Get("error") != "" {
		t.Fatalf("authorization response is an error: %v", q)
	}
	if q.Get("code") == "" || q.Get("state") != state || q.Get("iss") != issuer {
		t.Fatalf("authorization response code=%q state=%q iss=%q; want a code, state %q, iss %q", q.Get("code"), q.Get("state"), q.Get("iss"), state, issuer)
	}
	return q.Get("code")
}

// checkPageHeaders checks the security headers every page must carry.
func checkPageHeaders(t *testing.T, page string, r *network.Response) {
	t.Helper()
	csp := header(r, "Content-Security-Policy")
	if csp == "" {
		t.Errorf("%s has no Content-Security-Policy", page)
	}
	if header(r, "X-Frame-Options") != "DENY" && !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("%s: X-Frame-Options %q, CSP %q; want DENY or frame-ancestors 'none'", page, header(r, "X-Frame-Options"), csp)
	}
	if rp := header(r, "Referrer-Policy"); rp != "no-referrer" {
		t.Errorf("%s: Referrer-Policy %q; want no-referrer", page, rp)
	}
	if cc := header(r, "Cache-Control"); !slices.Contains(strings.Fields(strings.ReplaceAll(cc, ",", " ")), "no-store") {
		t.Errorf("%s: Cache-Control %q; want no-store", page, cc)
	}
}

// screenshot saves a PNG of the page shown in the test's artifact
// directory (kept with `go test -artifacts`) and logs its path.
func screenshot(t *testing.T, b *browser, name string) {
	t.Helper()
	png := run(t, b, "screenshot", chromedp.CaptureScreenshot())
	path := filepath.Join(t.ArtifactDir(), name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}
