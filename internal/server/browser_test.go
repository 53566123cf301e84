package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/internal/secret"
)

// TestAuthorizeErrorsBeforeRedirectVerificationAreShownNotRedirected:
// an unknown client or an unregistered redirect URI (an open-redirect
// attempt) gets an error page, never a redirect (RFC 6749 §4.1.2.1).
func TestAuthorizeErrorsBeforeRedirectVerificationAreShownNotRedirected(t *testing.T) {
	b := newBrowserTest(t)
	p := newPKCE(t)
	for name, path := range map[string]string{
		"unknown client":        authorizePath("nobody", "https://app.example/cb", p, nil),
		"missing client_id":     strings.Replace(authorizePath("web", "https://app.example/cb", p, nil), "client_id=web", "", 1),
		"foreign redirect":      authorizePath("web", "https://evil.example/cb", p, nil),
		"prefix of registered":  authorizePath("web", "https://app.example/cb/../../evil", p, nil),
		"registered + fragment": authorizePath("web", "https://app.example/cb#x", p, nil),
		"localhost not special": authorizePath("spa", "http://localhost:5555/callback", p, nil),
		"loopback other path":   authorizePath("spa", "http://127.0.0.1:5555/other", p, nil),
		"missing redirect_uri":  strings.Replace(authorizePath("web", "https://app.example/cb", p, nil), "redirect_uri=", "x=", 1),
		"repeated client_id":    authorizePath("web", "https://app.example/cb", p, nil) + "&client_id=spa",
	} {
		t.Run(name, func(t *testing.T) {
			pg := b.get(path)
			if pg.status != http.StatusBadRequest || pg.loc != "" {
				t.Fatalf("%d Location=%q, want a 400 page without redirect", pg.status, pg.loc)
			}
			if !strings.Contains(pg.header.Get("Content-Type"), "text/html") || !strings.Contains(pg.body, `id="error-message"`) {
				t.Fatalf("not the error page: %s", pg.body)
			}
		})
	}
}

// TestAuthorizeLoopbackRedirectAnyPort: a registered http://127.0.0.1
// redirect URI matches any port (RFC 8252 §7.3).
func TestAuthorizeLoopbackRedirectAnyPort(t *testing.T) {
	b := newBrowserTest(t)
	p := newPKCE(t)
	b.signedInCode("spa", "https://spa.example/cb", p)
	code := b.code("spa", "http://127.0.0.1:51234/callback", p, nil)
	if a := b.exchange("spa", "", code, "http://127.0.0.1:51234/callback", p.verifier); a.status != 200 {
		t.Fatalf("loopback redirect: %d %v", a.status, a.body)
	}
}

// TestAuthorizeErrorsAfterVerificationRedirect: once the redirect URI is
// verified, errors go to it with state and iss; PKCE is required and
// plain refused.
func TestAuthorizeErrorsAfterVerificationRedirect(t *testing.T) {
	b := newBrowserTest(t)
	p := newPKCE(t)
	cases := map[string]struct {
		extra url.Values
		want  string
	}{
		"plain method":      {url.Values{"code_challenge_method": {"plain"}}, "invalid_request"},
		"missing method":    {url.Values{"code_challenge_method": {""}}, "invalid_request"},
		"missing challenge": {url.Values{"code_challenge": {""}}, "invalid_request"},
		"bad challenge":     {url.Values{"code_challenge": {"too-short"}}, "invalid_request"},
		"token response":    {url.Values{"response_type": {"token"}}, "unsupported_response_type"},
		"unknown scope":     {url.Values{"scope": {"admin"}}, "invalid_scope"},
		"bad prompt":        {url.Values{"prompt": {"none login"}}, "invalid_request"},
		"prompt=none":       {url.Values{"prompt": {"none"}}, "login_required"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			q := b.redirected(b.get(authorizePath("web", "https://app.example/cb", p, tc.extra)), "https://app.example/cb?")
			if q.Get("error") != tc.want || q.Get("code") != "" {
				t.Fatalf("error = %q (code %q), want %s", q.Get("error"), q.Get("code"), tc.want)
			}
		})
	}
}

func TestLoginReturnToRefusesOpenRedirects(t *testing.T) {
	b := newBrowserTest(t)
	for _, rt := range []string{"https://evil.example/", "//evil.example/", "/\\evil.example", "\\\\evil.example", "javascript:alert(1)",
		"/%2F%2Fevil.example", "evil.example", "/ok\r\nLocation: https://evil.example", "http:/evil.example"} {
		t.Run(rt, func(t *testing.T) {
			pg := b.get("/login?return_to=" + url.QueryEscape(rt))
			if pg.status != http.StatusBadRequest || pg.loc != "" {
				t.Fatalf("GET: %d %q, want 400", pg.status, pg.loc)
			}
			ok := b.get("/login")
			done := b.post("/login", url.Values{"csrf_token": {field(t, csrfRE, ok.body)}, "return_to": {rt}, "username": {"alice"}, "password": {"alice-pw"}})
			if done.status != http.StatusBadRequest || done.loc != "" || done.header.Get("Set-Cookie") != "" {
				t.Fatalf("POST: %d %q cookie %q, want 400 and no session", done.status, done.loc, done.header.Get("Set-Cookie"))
			}
		})
	}
}

func TestCSRFRequiredOnLoginConsentAndLogout(t *testing.T) {
	b := newBrowserTest(t)
	creds := url.Values{"return_to": {"/login"}, "username": {"alice"}, "password": {"alice-pw"}}
	b.get("/login") // a pre-session cookie exists, as in a real browser
	for _, tok := range []string{"", "wrong", strings.Repeat("A", 43)} {
		f := url.Values{}
		for k, v := range creds {
			f[k] = v
		}
		if tok != "" {
			f.Set("csrf_token", tok)
		}
		if pg := b.post("/login", f); pg.status != http.StatusForbidden || pg.header.Get("Set-Cookie") != "" {
			t.Fatalf("login with csrf_token %q: %d, want 403 and no session", tok, pg.status)
		}
	}
	// A token from another browser does not work here either.
	other := newBrowser(t)
	theirs := field(t, csrfRE, b.req(other, "GET", "/login", nil, nil).body)
	f := url.Values{"csrf_token": {theirs}}
	for k, v := range creds {
		f[k] = v
	}
	if pg := b.post("/login", f); pg.status != http.StatusForbidden {
		t.Fatalf("login with another browser's token: %d, want 403", pg.status)
	}

	// Signed in, consent and logout refuse a missing or wrong token.
	p := newPKCE(t)
	b.signedInCode("web", "https://app.example/cb", p)
	consent := b.get(authorizePath("partner", "https://partner.example/cb", p, nil))
	if consent.status != 200 {
		t.Fatalf("consent page: %d", consent.status)
	}
	req := field(t, requestRE, consent.body)
	for _, tok := range []string{"", "wrong"} {
		if pg := b.post("/oauth/authorize", url.Values{"csrf_token": {tok}, "request": {req}, "decision": {"approve"}}); pg.status != http.StatusForbidden || pg.loc != "" {
			t.Fatalf("consent with csrf_token %q: %d %q, want 403", tok, pg.status, pg.loc)
		}
		if pg := b.post("/logout", url.Values{"csrf_token": {tok}}); pg.status != http.StatusForbidden {
			t.Fatalf("logout with csrf_token %q: %d, want 403", tok, pg.status)
		}
	}
	// Still signed in: the refused logout ended nothing.
	b.code("web", "https://app.example/cb", p, nil)
}

func TestConsentForThirdPartyClients(t *testing.T) {
	b := newBrowserTest(t)
	p := newPKCE(t)
	b.signedInCode("web", "https://app.example/cb", p) // first-party: no consent page
	consent := b.get(authorizePath("partner", "https://partner.example/cb", p, url.Values{"scope": {"read"}}))
	if consent.status != 200 {
		t.Fatalf("consent page: %d %q", consent.status, consent.loc)
	}
	for _, want := range []string{`id="approve"`, `id="deny"`, `name="decision" value="approve"`, `<code>read</code>`, `action="/oauth/authorize"`} {
		if !strings.Contains(consent.body, want) {
			t.Errorf("consent page lacks %s", want)
		}
	}
	csrf, req := field(t, csrfRE, consent.body), field(t, requestRE, consent.body)

	// The hidden request is validated again: pointing it elsewhere fails.
	tampered := strings.Replace(req, url.QueryEscape("https://partner.example/cb"), url.QueryEscape("https://evil.example/cb"), 1)
	if pg := b.post("/oauth/authorize", url.Values{"csrf_token": {csrf}, "request": {tampered}, "decision": {"approve"}}); pg.status != http.StatusBadRequest || pg.loc != "" {
		t.Fatalf("tampered request: %d %q, want a 400 page", pg.status, pg.loc)
	}
	deny := b.redirected(b.post("/oauth/authorize", url.Values{"csrf_token": {csrf}, "request": {req}, "decision": {"deny"}}), "https://partner.example/cb?")
	if deny.Get("error") != "access_denied" || deny.Get("code") != "" {
		t.Fatalf("deny: %v", deny)
	}
	ok := b.redirected(b.post("/oauth/authorize", url.Values{"csrf_token": {csrf}, "request": {req}, "decision": {"approve"}}), "https://partner.example/cb?")
	if a := b.exchange("partner", "partner-secret", ok.Get("code"), "https://partner.example/cb", p.verifier); a.status != 200 || a.str("scope") != "read" {
		t.Fatalf("approved code: %d %v", a.status, a.body)
	}
	// prompt=none cannot skip consent.
	q := b.redirected(b.get(authorizePath("partner", "https://partner.example/cb", p, url.Values{"prompt": {"none"}})), "https://partner.example/cb?")
	if q.Get("error") != "consent_required" {
		t.Fatalf("prompt=none for a third-party client: %v", q)
	}
}

func TestPromptNoneAndMaxAge(t *testing.T) {
	b := newBrowserTest(t)
	p := newPKCE(t)
	q := b.redirected(b.get(authorizePath("web", "https://app.example/cb", p, url.Values{"prompt": {"none"}})), "https://app.example/cb?")
	if q.Get("error") != "login_required" {
		t.Fatalf("prompt=none without session: %v", q)
	}
	b.signedInCode("web", "https://app.example/cb", p)
	b.code("web", "https://app.example/cb", p, url.Values{"prompt": {"none"}})
	b.clock.Add(10 * time.Minute)
	// An older sign-in than max_age asks for the password again.
	if pg := b.get(authorizePath("web", "https://app.example/cb", p, url.Values{"max_age": {"60"}})); pg.status != http.StatusSeeOther || !strings.HasPrefix(pg.loc, "/login?") {
		t.Fatalf("max_age exceeded: %d %q, want the sign-in page", pg.status, pg.loc)
	}
	q = b.redirected(b.get(authorizePath("web", "https://app.example/cb", p, url.Values{"max_age": {"60"}, "prompt": {"none"}})), "https://app.example/cb?")
	if q.Get("error") != "login_required" {
		t.Fatalf("max_age exceeded with prompt=none: %v", q)
	}
	b.code("web", "https://app.example/cb", p, url.Values{"max_age": {"3600"}})
	// prompt=login asks again, and the fresh sign-in then satisfies it.
	pg := b.get(authorizePath("web", "https://app.example/cb", p, url.Values{"prompt": {"login"}}))
	u, _ := url.Parse(pg.loc)
	rt := u.Query().Get("return_to")
	if pg.status != http.StatusSeeOther || rt == "" || strings.Contains(rt, "prompt") {
		t.Fatalf("prompt=login: %d %q", pg.status, pg.loc)
	}
	done := b.signIn(rt, "alice", "alice-pw")
	b.redirected(b.get(done.loc), "https://app.example/cb?")
}

func TestSessionEndsWhenUserDisabledOrSessionsRevoked(t *testing.T) {
	ctx := context.Background()
	b := newBrowserTest(t)
	p := newPKCE(t)
	b.signedInCode("web", "https://app.example/cb", p)
	u, err := b.store.GetUser(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	u.Disabled = true
	if err := b.store.UpdateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if pg := b.get(authorizePath("web", "https://app.example/cb", p, nil)); pg.status != http.StatusSeeOther || !strings.HasPrefix(pg.loc, "/login?") {
		t.Fatalf("disabled user's session: %d %q, want the sign-in page", pg.status, pg.loc)
	}
	u.Disabled = false
	if err := b.store.UpdateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	// The session was deleted, not merely refused: re-enabling the user
	// does not bring it back.
	if pg := b.get(authorizePath("web", "https://app.example/cb", p, nil)); !strings.HasPrefix(pg.loc, "/login?") {
		t.Fatalf("session came back with the user: %d %q", pg.status, pg.loc)
	}
	// Sessions ended (not-before) end the browser session too.
	b.signedInCode("web", "https://app.example/cb", p)
	b.clock.Add(time.Second)
	if _, err := b.store.EndSessions(ctx, "alice", b.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if pg := b.get(authorizePath("web", "https://app.example/cb", p, nil)); !strings.HasPrefix(pg.loc, "/login?") {
		t.Fatalf("session outlived EndSessions: %d %q", pg.status, pg.loc)
	}
}

func TestSessionCookieAttributesAndStorage(t *testing.T) {
	b := newBrowserTest(t)
	pg := b.get("/login")
	done := b.post("/login", url.Values{"csrf_token": {field(t, csrfRE, pg.body)}, "username": {"alice"}, "password": {"alice-pw"}})
	if done.status != http.StatusSeeOther {
		t.Fatalf("sign-in: %d %s", done.status, done.body)
	}
	var raw string
	for _, sc := range done.header.Values("Set-Cookie") {
		if strings.HasPrefix(sc, "__Host-tokengate-session=") {
			raw = sc
		}
	}
	if raw == "" {
		t.Fatalf("no session cookie: %v", done.header.Values("Set-Cookie"))
	}
	for _, want := range []string{"Path=/", "Secure", "HttpOnly", "SameSite=Lax", "Max-Age=43200"} {
		if !strings.Contains(raw, "; "+want) {
			t.Errorf("session cookie %q lacks %s", raw, want)
		}
	}
	if strings.Contains(strings.ToLower(raw), "domain=") {
		t.Errorf("session cookie %q has a Domain", raw)
	}
	c, err := http.ParseSetCookie(raw)
	if err != nil {
		t.Fatal(err)
	}
	// The store keeps only the SHA-256 of the id.
	if _, err := b.store.GetWebSession(context.Background(), secret.Hash(c.Value)); err != nil {
		t.Fatalf("session not stored by its hash: %v", err)
	}
	if _, err := b.store.GetWebSession(context.Background(), []byte(c.Value)); err == nil {
		t.Fatal("session stored by its plain id")
	}
	// Sign-out ends it server-side: the old cookie value no longer works.
	lo := b.get("/logout")
	if !strings.Contains(lo.body, `id="sign-out"`) {
		t.Fatalf("logout page: %s", lo.body)
	}
	out := b.post("/logout", url.Values{"csrf_token": {field(t, csrfRE, lo.body)}})
	if out.status != http.StatusSeeOther || !strings.Contains(strings.Join(out.header.Values("Set-Cookie"), "\n"), "__Host-tokengate-session=; Path=/; Max-Age=0") {
		t.Fatalf("logout: %d %v", out.status, out.header.Values("Set-Cookie"))
	}
	if _, err := b.store.GetWebSession(context.Background(), secret.Hash(c.Value)); err == nil {
		t.Fatal("session still stored after sign-out")
	}
	replay := newBrowser(t)
	p := newPKCE(t)
	r, _ := http.NewRequest("GET", b.srv.URL+authorizePath("web", "https://app.example/cb", p, nil), nil)
	r.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	resp, err := replay.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if !strings.HasPrefix(resp.Header.Get("Location"), "/login?") {
		t.Fatalf("a signed-out session id still signs in: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestLoginFailuresAreGenericAndGuarded(t *testing.T) {
	b := newBrowserTest(t)
	pg := b.get("/login")
	for _, label := range []string{"id=\"username\"", `autocomplete="username"`, `id="password"`, `type="password"`, `autocomplete="current-password"`,
		`<label for="username">`, `<label for="password">`, `id="sign-in"`, `method="post" action="/login"`, "Example Sign-in"} {
		if !strings.Contains(pg.body, label) {
			t.Errorf("login page lacks %s", label)
		}
	}
	csrf := field(t, csrfRE, pg.body)
	try := func(user, pw string) page {
		return b.post("/login", url.Values{"csrf_token": {csrf}, "username": {user}, "password": {pw}})
	}
	wrong, unknown := try("alice", "nope"), try("nobody", "nope")
	if wrong.status != http.StatusUnauthorized || unknown.status != http.StatusUnauthorized {
		t.Fatalf("failed sign-ins: %d, %d", wrong.status, unknown.status)
	}
	msg := func(p page) string { i := strings.Index(p.body, `id="login-error"`); return p.body[i : i+80] }
	if msg(wrong) != msg(unknown) {
		t.Fatalf("messages differ: %q vs %q", msg(wrong), msg(unknown))
	}
	try("alice", "nope2")
	try("alice", "nope3")
	// brute_force.threshold is 3: the guard of the password grant applies.
	if locked := try("alice", "alice-pw"); locked.status != http.StatusTooManyRequests {
		t.Fatalf("after 3 failures: %d, want 429", locked.status)
	}
	if a := b.token(url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"alice-pw"}}, basic("pwonly", "pw-secret")); a.status != http.StatusTooManyRequests {
		t.Fatalf("the page's failures do not count for the password grant: %d", a.status)
	}
}

func TestPagesCarrySecurityHeaders(t *testing.T) {
	b := newBrowserTest(t)
	p := newPKCE(t)
	login := b.get("/login")
	logout := b.get("/logout")
	errPage := b.get(authorizePath("nobody", "https://app.example/cb", p, nil))
	b.signedInCode("web", "https://app.example/cb", p)
	consent := b.get(authorizePath("partner", "https://partner.example/cb", p, nil))
	for name, pg := range map[string]page{"login": login, "logout": logout, "error": errPage, "consent": consent} {
		h := pg.header
		csp := h.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "style-src 'self'", "frame-ancestors 'none'", "img-src 'self'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %s", name, csp, want)
			}
		}
		if h.Get("X-Frame-Options") != "DENY" || h.Get("Referrer-Policy") != "no-referrer" || h.Get("Cache-Control") != "no-store" ||
			h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("%s: headers %v", name, h)
		}
		if strings.Contains(pg.body, "<script") {
			t.Errorf("%s: the page has a script", name)
		}
	}
	// The sign-in and consent forms end at the client: no form-action
	// (Chromium would block that redirect); the others stay 'self'.
	for name, pg := range map[string]page{"login": login, "consent": consent} {
		if strings.Contains(pg.header.Get("Content-Security-Policy"), "form-action") {
			t.Errorf("%s: form-action would block the redirect to the client", name)
		}
	}
	if !strings.Contains(logout.header.Get("Content-Security-Policy"), "form-action 'self'") {
		t.Errorf("logout: CSP %q", logout.header.Get("Content-Security-Policy"))
	}
	css := b.get("/static/tokengate.css")
	if css.status != 200 || !strings.HasPrefix(css.header.Get("Content-Type"), "text/css") {
		t.Fatalf("stylesheet: %d %v", css.status, css.header)
	}
}

func TestCORSOnlyForRegisteredOrigins(t *testing.T) {
	b := newBrowserTest(t)
	pre := func(path, origin string) page {
		return b.req(http.DefaultClient, "OPTIONS", path, nil, map[string]string{"Origin": origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"})
	}
	for _, path := range []string{"/oauth/token", "/oauth/revoke"} {
		if pg := pre(path, "https://spa.example"); pg.header.Get("Access-Control-Allow-Origin") != "https://spa.example" || !strings.Contains(pg.header.Get("Access-Control-Allow-Methods"), "POST") {
			t.Errorf("%s preflight from a registered origin: %d %v", path, pg.status, pg.header)
		}
		if pg := pre(path, "https://evil.example"); pg.header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("%s preflight from an unregistered origin allowed", path)
		}
	}
	p := newPKCE(t)
	code := b.signedInCode("spa", "https://spa.example/cb", p)
	tok := func(origin string, v url.Values) page {
		return b.req(http.DefaultClient, "POST", "/oauth/token", v, map[string]string{"Origin": origin})
	}
	ok := tok("https://spa.example", url.Values{"grant_type": {"authorization_code"}, "client_id": {"spa"}, "code": {code}, "redirect_uri": {"https://spa.example/cb"}, "code_verifier": {p.verifier}})
	if ok.status != 200 || ok.header.Get("Access-Control-Allow-Origin") != "https://spa.example" || !strings.Contains(strings.Join(ok.header.Values("Vary"), ","), "Origin") {
		t.Fatalf("token from the client's origin: %d %v", ok.status, ok.header)
	}
	var body map[string]string
	_ = json.Unmarshal([]byte(ok.body), &body)
	// Another client's origin (web registered https://app.example) does
	// not read spa's answers.
	if pg := tok("https://app.example", url.Values{"grant_type": {"refresh_token"}, "client_id": {"spa"}, "refresh_token": {body["refresh_token"]}}); pg.header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("another client's origin allowed: %v", pg.header)
	}
	if pg := tok("https://evil.example", url.Values{"grant_type": {"refresh_token"}, "client_id": {"spa"}, "refresh_token": {body["refresh_token"]}}); pg.header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("unregistered origin allowed: %v", pg.header)
	}
	// No CORS on the pages.
	for _, path := range []string{"/login", authorizePath("spa", "https://spa.example/cb", p, nil)} {
		if pg := b.req(b.c, "GET", path, nil, map[string]string{"Origin": "https://spa.example"}); pg.header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("%s answers CORS", path)
		}
	}
}

func TestMetadataAnnouncesTheCodeFlow(t *testing.T) {
	b := newBrowserTest(t)
	pg := b.get("/.well-known/oauth-authorization-server")
	var doc map[string]any
	if err := json.Unmarshal([]byte(pg.body), &doc); err != nil {
		t.Fatal(err)
	}
	if doc["authorization_endpoint"] != b.srv.Config.Issuer+"/oauth/authorize" || doc["authorization_response_iss_parameter_supported"] != true {
		t.Fatalf("metadata: %v", doc)
	}
	for key, want := range map[string]string{"response_types_supported": "code", "code_challenge_methods_supported": "S256", "grant_types_supported": "authorization_code"} {
		l, _ := doc[key].([]any)
		found := false
		for _, v := range l {
			found = found || v == want
		}
		if !found {
			t.Errorf("%s = %v, want %s in it", key, doc[key], want)
		}
	}
	if l, _ := doc["code_challenge_methods_supported"].([]any); len(l) != 1 {
		t.Errorf("code_challenge_methods_supported = %v, want only S256", l)
	}
}
