package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/internal/adminapi/openapitest"
	"github.com/tokengate/tokengate/internal/config"
	"github.com/tokengate/tokengate/internal/servertest"
)

const adminConfig = `
password_hashing: {memory_kib: 1024, time: 1}
bootstrap:
  users:
    - {username: alice, password: alice-pw, scopes: [read, tokengate:admin]}
  clients:
    - {id: ops, secret: ops-secret, grants: [client_credentials], scopes: [tokengate:admin, read]}
    - {id: app, secret: app-secret, grants: [password, refresh_token, client_credentials, "urn:tokengate:params:oauth:grant-type:api-key"], scopes: [read, tokengate:admin]}
    - {id: svc, secret: svc-secret, grants: [client_credentials], scopes: [read]}
`

// adminEnv is a server with an admin token and a client that checks
// every admin response against the OpenAPI document.
type adminEnv struct {
	ts    *testServer
	check *openapitest.Checker
	hc    *http.Client
	token string
}

func newAdminEnv(t *testing.T, adjust func(*config.Config)) *adminEnv {
	t.Helper()
	s := servertest.Start(t, adminConfig, servertest.Options{Issuer: "http://tokengate.test", Adjust: adjust})
	ts := &testServer{Server: s.Server, srv: s.Srv}
	e := &adminEnv{ts: ts, check: openapitest.New(t)}
	e.hc = e.check.Client(ts.Client())
	a := ts.token(t, url.Values{"grant_type": {"client_credentials"}}, basic("ops", "ops-secret"))
	if a.status != 200 || !strings.Contains(a.str("scope"), "tokengate:admin") {
		t.Fatalf("admin token: %d %s", a.status, a.raw)
	}
	e.token = a.str("access_token")
	return e
}

type reply struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (r reply) str(k string) string { s, _ := r.body[k].(string); return s }

// call sends an admin request with the given bearer token ("" for none).
func (e *adminEnv) callAs(t *testing.T, tok, method, path, body string) reply {
	t.Helper()
	var rd io.Reader = http.NoBody
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.ts.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := e.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := reply{status: resp.StatusCode, header: resp.Header, raw: string(b)}
	_ = json.Unmarshal(b, &r.body)
	return r
}

func (e *adminEnv) call(t *testing.T, method, path, body string) reply {
	t.Helper()
	return e.callAs(t, e.token, method, path, body)
}

func want(t *testing.T, r reply, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.raw)
	}
	if code != "" {
		if r.str("error") != code || r.header.Get("Content-Type") != "application/problem+json" {
			t.Fatalf("error %q (%s), want %q: %s", r.str("error"), r.header.Get("Content-Type"), code, r.raw)
		}
	}
}

func TestAdminAPIRefusesCallsWithoutAnAdminToken(t *testing.T) {
	e := newAdminEnv(t, nil)
	r := e.callAs(t, "", "GET", "/admin/v1/users", "")
	want(t, r, 401, "unauthorized")
	if h := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(h, "Bearer ") || strings.Contains(h, "error=") {
		t.Fatalf("WWW-Authenticate %q", h)
	}
	r = e.callAs(t, "not-a-token", "GET", "/admin/v1/users", "")
	want(t, r, 401, "invalid_token")
	if !strings.Contains(r.header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Fatalf("WWW-Authenticate %q", r.header.Get("WWW-Authenticate"))
	}
	// A refresh token is not an access token.
	login := e.ts.token(t, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"alice-pw"}, "scope": {"read"}}, basic("app", "app-secret"))
	if login.status != 200 {
		t.Fatalf("login %d %s", login.status, login.raw)
	}
	want(t, e.callAs(t, login.str("refresh_token"), "GET", "/admin/v1/users", ""), 401, "invalid_token")
	// A valid token without the admin scope is 403 insufficient_scope.
	r = e.callAs(t, login.str("access_token"), "GET", "/admin/v1/users", "")
	want(t, r, 403, "insufficient_scope")
	if !strings.Contains(r.header.Get("WWW-Authenticate"), `error="insufficient_scope"`) {
		t.Fatalf("WWW-Authenticate %q", r.header.Get("WWW-Authenticate"))
	}
	svc := e.ts.token(t, url.Values{"grant_type": {"client_credentials"}}, basic("svc", "svc-secret"))
	want(t, e.callAs(t, svc.str("access_token"), "POST", "/admin/v1/users", `{"username":"x"}`), 403, "insufficient_scope")
	// A revoked admin token stops working at once.
	rv := e.ts.do(t, "POST", "/oauth/revoke", form, url.Values{"token": {e.token}}.Encode(), basic("ops", "ops-secret"))
	if rv.status != 200 {
		t.Fatalf("revoke %d %s", rv.status, rv.raw)
	}
	want(t, e.call(t, "GET", "/admin/v1/users", ""), 401, "invalid_token")
	// The document itself needs no token.
	if r := e.callAs(t, "", "GET", "/admin/v1/openapi.json", ""); r.status != 200 || r.body["openapi"] != "3.1.0" {
		t.Fatalf("openapi.json: %d %.200s", r.status, r.raw)
	}
}

func TestAdminScopeOnlyThroughClientCredentials(t *testing.T) {
	e := newAdminEnv(t, nil)
	// alice may have tokengate:admin and app may request it, but a
	// password login never carries it: dropped when implied, refused when asked.
	a := e.ts.token(t, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"alice-pw"}}, basic("app", "app-secret"))
	if a.status != 200 || a.str("scope") != "read" {
		t.Fatalf("password login without scope: %d %s", a.status, a.raw)
	}
	a = e.ts.token(t, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"alice-pw"}, "scope": {"tokengate:admin"}}, basic("app", "app-secret"))
	if a.status != 400 || a.str("error") != "invalid_scope" {
		t.Fatalf("password login asking for admin: %d %s", a.status, a.raw)
	}
	// Nor does an API key with the admin scope.
	k := e.call(t, "POST", "/admin/v1/users/alice/api-keys", `{"name":"k","scopes":["read","tokengate:admin"]}`)
	want(t, k, 201, "")
	a = e.ts.token(t, url.Values{"grant_type": {"urn:tokengate:params:oauth:grant-type:api-key"}, "api_key": {k.str("key")}}, basic("app", "app-secret"))
	if a.status != 200 || a.str("scope") != "read" {
		t.Fatalf("API key exchange: %d %s", a.status, a.raw)
	}
	// app's own client_credentials token does carry it.
	a = e.ts.token(t, url.Values{"grant_type": {"client_credentials"}, "scope": {"tokengate:admin"}}, basic("app", "app-secret"))
	if a.status != 200 || a.str("scope") != "tokengate:admin" {
		t.Fatalf("client_credentials: %d %s", a.status, a.raw)
	}

	// The operator may allow it for a client explicitly.
	e2 := newAdminEnv(t, func(c *config.Config) { c.AdminScopeClients = []string{"app"} })
	a = e2.ts.token(t, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"alice-pw"}, "scope": {"tokengate:admin"}}, basic("app", "app-secret"))
	if a.status != 200 || a.str("scope") != "tokengate:admin" {
		t.Fatalf("allowed client: %d %s", a.status, a.raw)
	}
	want(t, e2.callAs(t, a.str("access_token"), "GET", "/admin/v1/users", ""), 200, "")
}

func TestAdminAPIUsers(t *testing.T) {
	e := newAdminEnv(t, nil)
	r := e.call(t, "POST", "/admin/v1/users", `{"username":"dave","password":"dave-pw","scopes":["read"]}`)
	want(t, r, 201, "")
	if r.str("username") != "dave" || r.body["has_password"] != true || r.header.Get("Location") != "/admin/v1/users/dave" {
		t.Fatalf("created %s %v", r.raw, r.header)
	}
	if strings.Contains(r.raw, "dave-pw") || strings.Contains(r.raw, "argon2") {
		t.Fatalf("password or hash answered: %s", r.raw)
	}
	want(t, e.call(t, "POST", "/admin/v1/users", `{"username":"dave","password":"x"}`), 409, "conflict")
	r = e.call(t, "POST", "/admin/v1/users", `{"username":"bad name","scopes":["a\"b"]}`)
	want(t, r, 422, "invalid_fields")
	fields, _ := r.body["fields"].([]any)
	if len(fields) != 2 || !strings.Contains(r.raw, `"field":"username"`) || !strings.Contains(r.raw, `"field":"scopes"`) {
		t.Fatalf("fields %s", r.raw)
	}
	want(t, e.call(t, "POST", "/admin/v1/users", `{"username":"ext:x"}`), 422, "invalid_fields")
	want(t, e.call(t, "POST", "/admin/v1/users", `{"username":`), 400, "malformed_request")
	want(t, e.call(t, "POST", "/admin/v1/users", `{"username":"x"} {}`), 400, "malformed_request")
	r = e.call(t, "POST", "/admin/v1/users", `{"username":"x","admin":true}`)
	want(t, r, 400, "malformed_request")
	if !strings.Contains(r.str("message"), "admin") {
		t.Fatalf("unknown field not named: %s", r.raw)
	}
	want(t, e.call(t, "POST", "/admin/v1/users", `{"username":5}`), 422, "invalid_fields")
	want(t, e.call(t, "POST", "/admin/v1/users", `{"username":"big","password":"`+strings.Repeat("x", 70<<10)+`"}`), 413, "too_large")

	// Paged list.
	want(t, e.call(t, "POST", "/admin/v1/users", `{"username":"erin"}`), 201, "")
	r = e.call(t, "GET", "/admin/v1/users?limit=2", "")
	want(t, r, 200, "")
	items, _ := r.body["items"].([]any)
	if len(items) != 2 || r.str("next_cursor") == "" {
		t.Fatalf("page 1: %s", r.raw)
	}
	r = e.call(t, "GET", "/admin/v1/users?limit=2&cursor="+url.QueryEscape(r.str("next_cursor")), "")
	items, _ = r.body["items"].([]any)
	if r.status != 200 || len(items) != 1 || r.body["next_cursor"] != nil || items[0].(map[string]any)["username"] != "erin" {
		t.Fatalf("page 2: %s", r.raw)
	}
	want(t, e.call(t, "GET", "/admin/v1/users?limit=0", ""), 422, "invalid_fields")
	want(t, e.call(t, "GET", "/admin/v1/users?limit=501", ""), 422, "invalid_fields")
	want(t, e.call(t, "GET", "/admin/v1/users?cursor=!!!", ""), 422, "invalid_fields")

	want(t, e.call(t, "GET", "/admin/v1/users/dave", ""), 200, "")
	want(t, e.call(t, "GET", "/admin/v1/users/nobody", ""), 404, "not_found")

	login := func() answer {
		return e.ts.token(t, url.Values{"grant_type": {"password"}, "username": {"dave"}, "password": {"dave-pw"}}, basic("app", "app-secret"))
	}
	l := login()
	if l.status != 200 {
		t.Fatalf("dave login %d %s", l.status, l.raw)
	}
	introspect := func(tok string) bool {
		a := e.ts.do(t, "POST", "/oauth/introspect", form, url.Values{"token": {tok}}.Encode(), basic("app", "app-secret"))
		return a.body["active"] == true
	}
	// PATCH disabled ends the sessions at once.
	r = e.call(t, "PATCH", "/admin/v1/users/dave", `{"disabled":true,"scopes":["read","write"]}`)
	want(t, r, 200, "")
	if r.body["disabled"] != true || r.body["sessions_ended_at"] == nil {
		t.Fatalf("patched %s", r.raw)
	}
	if introspect(l.str("access_token")) || introspect(l.str("refresh_token")) {
		t.Fatal("a disabled user's tokens are still active")
	}
	if a := login(); a.status != 400 {
		t.Fatalf("disabled login %d", a.status)
	}
	want(t, e.call(t, "PATCH", "/admin/v1/users/dave", `{"disabled":false}`), 200, "")
	want(t, e.call(t, "PATCH", "/admin/v1/users/nobody", `{"disabled":false}`), 404, "not_found")
	want(t, e.call(t, "PATCH", "/admin/v1/users/dave", `{"scopes":"read"}`), 422, "invalid_fields")

	// A new password ends the old sessions unless keep_sessions.
	l = login()
	r = e.call(t, "PUT", "/admin/v1/users/dave/password", `{"password":"new-pw"}`)
	want(t, r, 200, "")
	if r.body["sessions_ended"] != float64(1) || introspect(l.str("refresh_token")) {
		t.Fatalf("password change: %s", r.raw)
	}
	want(t, e.call(t, "PUT", "/admin/v1/users/dave/password", `{"password":""}`), 422, "invalid_fields")
	want(t, e.call(t, "PUT", "/admin/v1/users/nobody/password", `{"password":"x"}`), 404, "not_found")
	l = e.ts.token(t, url.Values{"grant_type": {"password"}, "username": {"dave"}, "password": {"new-pw"}}, basic("app", "app-secret"))
	r = e.call(t, "PUT", "/admin/v1/users/dave/password", `{"password":"newer-pw","keep_sessions":true}`)
	if r.status != 200 || r.body["sessions_ended"] != float64(0) || !introspect(l.str("refresh_token")) {
		t.Fatalf("keep_sessions: %s", r.raw)
	}
	r = e.call(t, "POST", "/admin/v1/users/dave/revoke-sessions", "")
	if r.status != 200 || r.body["sessions_ended"] != float64(1) || introspect(l.str("access_token")) {
		t.Fatalf("revoke-sessions: %s", r.raw)
	}
	want(t, e.call(t, "POST", "/admin/v1/users/nobody/revoke-sessions", ""), 404, "not_found")

	want(t, e.call(t, "DELETE", "/admin/v1/users/dave", ""), 204, "")
	want(t, e.call(t, "DELETE", "/admin/v1/users/dave", ""), 404, "not_found")
	e.hc = e.ts.Client() // outside the document: an unknown path
	want(t, e.call(t, "GET", "/admin/v1/nothing", ""), 404, "not_found")
}

func TestAdminAPIKeysAndClients(t *testing.T) {
	e := newAdminEnv(t, nil)
	// API keys.
	r := e.call(t, "POST", "/admin/v1/users/alice/api-keys", `{"name":"ci","scopes":["read"],"expires_in":3600}`)
	want(t, r, 201, "")
	key, id := r.str("key"), r.str("id")
	if key == "" || id == "" || r.body["expires_at"] == nil {
		t.Fatalf("created %s", r.raw)
	}
	exchange := func(k string) answer {
		return e.ts.token(t, url.Values{"grant_type": {"urn:tokengate:params:oauth:grant-type:api-key"}, "api_key": {k}}, basic("app", "app-secret"))
	}
	if a := exchange(key); a.status != 200 {
		t.Fatalf("exchange %d %s", a.status, a.raw)
	}
	r = e.call(t, "GET", "/admin/v1/users/alice/api-keys", "")
	want(t, r, 200, "")
	if strings.Contains(r.raw, key) || !strings.Contains(r.raw, id) {
		t.Fatalf("list %s", r.raw)
	}
	want(t, e.call(t, "GET", "/admin/v1/users/nobody/api-keys", ""), 404, "not_found")
	want(t, e.call(t, "POST", "/admin/v1/users/nobody/api-keys", `{}`), 404, "not_found")
	want(t, e.call(t, "POST", "/admin/v1/users/alice/api-keys", `{"expires_in":-1}`), 422, "invalid_fields")
	want(t, e.call(t, "DELETE", "/admin/v1/api-keys/"+id, ""), 204, "")
	if a := exchange(key); a.status != 400 {
		t.Fatalf("revoked key still works: %d", a.status)
	}
	want(t, e.call(t, "DELETE", "/admin/v1/api-keys/key_nope", ""), 404, "not_found")

	// Clients.
	r = e.call(t, "POST", "/admin/v1/clients", `{"client_id":"web","grants":["client_credentials"],"scopes":["read"],"access_token_ttl":60}`)
	want(t, r, 201, "")
	sec := r.str("client_secret")
	if sec == "" || r.body["access_token_ttl"] != float64(60) {
		t.Fatalf("created %s", r.raw)
	}
	cc := func(secret string) answer {
		return e.ts.token(t, url.Values{"grant_type": {"client_credentials"}}, basic("web", secret))
	}
	if a := cc(sec); a.status != 200 || a.body["expires_in"] != float64(60) {
		t.Fatalf("new client: %d %s", a.status, a.raw)
	}
	want(t, e.call(t, "POST", "/admin/v1/clients", `{"client_id":"web","grants":["password"]}`), 409, "conflict")
	r = e.call(t, "POST", "/admin/v1/clients", `{"client_id":"w2","grants":["magic"],"access_token_ttl":-5}`)
	want(t, r, 422, "invalid_fields")
	if !strings.Contains(r.raw, `"field":"grants"`) || !strings.Contains(r.raw, `"field":"access_token_ttl"`) {
		t.Fatalf("fields %s", r.raw)
	}
	r = e.call(t, "POST", "/admin/v1/clients", `{"client_id":"spa","public":true,"grants":["password","refresh_token"]}`)
	if r.status != 201 || r.body["client_secret"] != nil {
		t.Fatalf("public client: %s", r.raw)
	}
	want(t, e.call(t, "POST", "/admin/v1/clients/spa/rotate-secret", ""), 422, "invalid_fields")
	r = e.call(t, "GET", "/admin/v1/clients?limit=1", "")
	if r.status != 200 || r.str("next_cursor") == "" || strings.Contains(r.raw, "secret\"") {
		t.Fatalf("list %s", r.raw)
	}
	want(t, e.call(t, "GET", "/admin/v1/clients/web", ""), 200, "")
	want(t, e.call(t, "GET", "/admin/v1/clients/nope", ""), 404, "not_found")
	r = e.call(t, "PATCH", "/admin/v1/clients/web", `{"scopes":["read","write"],"refresh_reuse_interval":2}`)
	if r.status != 200 || r.body["refresh_reuse_interval"] != float64(2) || len(r.body["scopes"].([]any)) != 2 {
		t.Fatalf("patch %s", r.raw)
	}
	want(t, e.call(t, "PATCH", "/admin/v1/clients/web", `{"grants":[]}`), 422, "invalid_fields")
	want(t, e.call(t, "PATCH", "/admin/v1/clients/nope", `{"scopes":[]}`), 404, "not_found")
	r = e.call(t, "POST", "/admin/v1/clients/web/rotate-secret", "")
	want(t, r, 200, "")
	if a := cc(sec); a.status != 401 {
		t.Fatalf("old secret after rotation: %d", a.status)
	}
	if a := cc(r.str("client_secret")); a.status != 200 {
		t.Fatalf("new secret: %d %s", a.status, a.raw)
	}
	want(t, e.call(t, "POST", "/admin/v1/clients/nope/rotate-secret", ""), 404, "not_found")
	want(t, e.call(t, "DELETE", "/admin/v1/clients/web", ""), 204, "")
	want(t, e.call(t, "DELETE", "/admin/v1/clients/web", ""), 404, "not_found")

	// Signing keys.
	r = e.call(t, "GET", "/admin/v1/keys", "")
	want(t, r, 200, "")
	var before any
	for _, it := range r.body["items"].([]any) {
		if k := it.(map[string]any); k["purpose"] == nil {
			before = k["kid"]
		}
	}
	r = e.call(t, "POST", "/admin/v1/keys/rotate", "")
	want(t, r, 201, "")
	if r.str("kid") == before || r.body["active"] != true {
		t.Fatalf("rotate %s", r.raw)
	}
	kid := r.str("kid")
	r = e.call(t, "GET", "/admin/v1/keys", "")
	// The default keys, and the ID token keys (purpose id_token), rotated with them.
	var defaults, idKeys []map[string]any
	for _, it := range r.body["items"].([]any) {
		if k := it.(map[string]any); k["purpose"] == "id_token" {
			idKeys = append(idKeys, k)
		} else {
			defaults = append(defaults, k)
		}
	}
	if len(defaults) != 2 || defaults[0]["kid"] != kid || defaults[1]["kid"] != before || defaults[1]["retired_at"] == nil {
		t.Fatalf("keys after rotation: %s", r.raw)
	}
	if len(idKeys) != 2 || idKeys[0]["active"] != true || idKeys[0]["alg"] != "RS256" || idKeys[1]["retired_at"] == nil {
		t.Fatalf("ID token keys after rotation: %s", r.raw)
	}
	// The old admin token (signed by the previous key) still works.
	want(t, e.call(t, "GET", "/admin/v1/keys", ""), 200, "")
	// Outside the document: a method the path lacks.
	e.hc = e.ts.Client()
	r = e.call(t, "PUT", "/admin/v1/keys", "")
	want(t, r, 405, "method_not_allowed")
	if r.header.Get("Allow") != "GET" {
		t.Fatalf("Allow %q", r.header.Get("Allow"))
	}
}

// TestAdminAPIInvalidTokensCountLikeFailedLogins: guessing admin tokens
// locks the address out as guessing passwords does (the brute-force
// guard, per IP), and a valid token from it is refused until the
// lock-out ends.
func TestAdminAPIInvalidTokensCountLikeFailedLogins(t *testing.T) {
	e := newAdminEnv(t, func(c *config.Config) {
		c.BruteForce.Threshold, c.BruteForce.IPThreshold = 3, 3
	})
	for i := 0; i < 3; i++ {
		want(t, e.callAs(t, "guess-"+strconv.Itoa(i), "GET", "/admin/v1/keys", ""), 401, "invalid_token")
	}
	r := e.call(t, "GET", "/admin/v1/keys", "")
	want(t, r, 429, "too_many_attempts")
	if r.header.Get("Retry-After") == "" {
		t.Fatal("no Retry-After")
	}
}

func TestAdminAPIIsRateLimited(t *testing.T) {
	e := newAdminEnv(t, func(c *config.Config) {
		c.RateLimit.PerSecond, c.RateLimit.Burst = 0.001, 3
	})
	for i := 0; i < 5; i++ {
		r := e.call(t, "GET", "/admin/v1/keys", "")
		if r.status == 429 {
			want(t, r, 429, "rate_limited")
			if r.header.Get("Retry-After") == "" {
				t.Fatal("no Retry-After")
			}
			return
		}
		want(t, r, 200, "")
	}
	t.Fatal("the admin API is not rate limited")
}
