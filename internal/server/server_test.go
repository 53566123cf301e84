package server_test

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/tokengate/tokengate/internal/server"
	"github.com/tokengate/tokengate/internal/servertest"
)

const testConfig = `
password_hashing: {memory_kib: 1024, time: 1}
brute_force: {threshold: 5}
bootstrap:
  users:
    - {username: alice, password: alice-pw, scopes: [read, write]}
    - {username: bob, password: bob-pw, disabled: true}
    - {username: carol, password: carol-pw, scopes: [read]}
  clients:
    - {id: app, secret: app-secret, grants: [password, refresh_token, client_credentials], scopes: [read, write, admin]}
    - {id: other, secret: other-secret, grants: [password, refresh_token], scopes: [read]}
    - {id: cc-only, secret: cc-secret, grants: [client_credentials], scopes: [svc]}
    - {id: spa, public: true, grants: [password, refresh_token], scopes: [read]}
`

type testServer struct {
	*httptest.Server
	srv *server.Server
}

func newServer(t testing.TB, yaml string) *testServer {
	t.Helper()
	s := servertest.Start(t, yaml, servertest.Options{Issuer: "http://tokengate.test"})
	return &testServer{Server: s.Server, srv: s.Srv}
}

type answer struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (a answer) str(k string) string { s, _ := a.body[k].(string); return s }

func (ts *testServer) do(t *testing.T, method, path, contentType, body string, hdr map[string]string) answer {
	t.Helper()
	req, err := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header, raw: string(b)}
	_ = json.Unmarshal(b, &a.body)
	return a
}

const form = "application/x-www-form-urlencoded"

func basic(id, secret string) map[string]string {
	return map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))}
}

func (ts *testServer) token(t *testing.T, vals url.Values, hdr map[string]string) answer {
	t.Helper()
	return ts.do(t, "POST", "/oauth/token", form, vals.Encode(), hdr)
}

func passwordLogin(t *testing.T, ts *testServer) answer {
	t.Helper()
	a := ts.token(t, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"alice-pw"}}, basic("app", "app-secret"))
	if a.status != 200 {
		t.Fatalf("password login: %d %s", a.status, a.raw)
	}
	return a
}

func TestPasswordGrantIssuesTokens(t *testing.T) {
	ts := newServer(t, testConfig)
	a := passwordLogin(t, ts)
	if a.str("token_type") != "Bearer" || a.str("access_token") == "" || a.str("refresh_token") == "" {
		t.Fatalf("body %s", a.raw)
	}
	if a.header.Get("Cache-Control") != "no-store" || a.header.Get("Pragma") != "no-cache" {
		t.Fatalf("missing no-store headers: %v", a.header)
	}
	if a.str("scope") != "read write" {
		t.Fatalf("omitted scope should give client∩user scopes, got %q", a.str("scope"))
	}
	if a.body["expires_in"].(float64) != 900 {
		t.Fatalf("expires_in %v", a.body["expires_in"])
	}
	if !strings.HasPrefix(a.str("refresh_token"), "tgr_") {
		t.Fatal("refresh token lacks its recognisable prefix")
	}
}

func TestJSONBodiesAreAccepted(t *testing.T) {
	ts := newServer(t, testConfig)
	a := ts.do(t, "POST", "/oauth/token", "application/json", `{"grant_type":"password","username":"alice","password":"alice-pw","client_id":"app","client_secret":"app-secret"}`, nil)
	if a.status != 200 || a.str("access_token") == "" {
		t.Fatalf("%d %s", a.status, a.raw)
	}
}

func TestClientCredentialsGrant(t *testing.T) {
	ts := newServer(t, testConfig)
	a := ts.token(t, url.Values{"grant_type": {"client_credentials"}, "scope": {"svc"}}, basic("cc-only", "cc-secret"))
	if a.status != 200 || a.str("refresh_token") != "" || a.str("scope") != "svc" {
		t.Fatalf("%d %s", a.status, a.raw)
	}
}

func TestTokenErrors(t *testing.T) {
	ts := newServer(t, testConfig)
	app := basic("app", "app-secret")
	cases := []struct {
		name        string
		contentType string
		body        string
		hdr         map[string]string
		status      int
		code        string
		descHas     string
	}{
		{"misspelled refresh_token", form, "grant_type=refresh_token&refrest_token=abc", app, 400, "invalid_request", "refresh_token"},
		{"missing grant_type", form, "username=alice", app, 400, "invalid_request", "grant_type"},
		{"repeated parameter", form, "grant_type=password&username=alice&username=bob&password=x", app, 400, "invalid_request", "username"},
		{"duplicate JSON key", "application/json", `{"grant_type":"password","grant_type":"password"}`, app, 400, "invalid_request", "grant_type"},
		{"unsupported grant", form, "grant_type=implicit", app, 400, "unsupported_grant_type", ""},
		{"wrong secret basic", form, "grant_type=client_credentials", basic("app", "nope"), 401, "invalid_client", ""},
		{"unknown client", form, "grant_type=client_credentials", basic("ghost", "x"), 401, "invalid_client", ""},
		{"no client", form, "grant_type=client_credentials", nil, 401, "invalid_client", ""},
		{"both basic and body secret", form, "grant_type=client_credentials&client_secret=app-secret", app, 400, "invalid_request", "both"},
		{"grant not allowed", form, "grant_type=client_credentials", basic("other", "other-secret"), 400, "unauthorized_client", ""},
		{"public client credentials", form, "grant_type=client_credentials&client_id=spa", nil, 400, "unauthorized_client", ""},
		{"scope beyond client", form, "grant_type=client_credentials&scope=root", app, 400, "invalid_scope", ""},
		{"scope beyond user", form, "grant_type=password&username=carol&password=carol-pw&scope=write", app, 400, "invalid_scope", ""},
		{"wrong password", form, "grant_type=password&username=alice&password=wrong", app, 400, "invalid_grant", ""},
		{"unknown user", form, "grant_type=password&username=nobody&password=wrong", app, 400, "invalid_grant", ""},
		{"disabled user", form, "grant_type=password&username=bob&password=bob-pw", app, 400, "invalid_grant", ""},
		{"wrong content type", "text/plain", "grant_type=password", app, 400, "invalid_request", "Content-Type"},
		{"truncated JSON", "application/json", `{"grant_type":"pass`, app, 400, "invalid_request", ""},
		{"JSON wrong types", "application/json", `{"grant_type":["password"]}`, app, 400, "invalid_request", "grant_type"},
		{"JSON not an object", "application/json", `[1,2]`, app, 400, "invalid_request", ""},
		{"invalid UTF-8", form, "grant_type=password&username=%ff%fe&password=x", app, 400, "invalid_request", "UTF-8"},
		{"bad percent escape", form, "grant_type=%zz", app, 400, "invalid_request", ""},
		{"malformed basic", form, "grant_type=client_credentials", map[string]string{"Authorization": "Basic !!!"}, 401, "invalid_client", ""},
		{"unknown refresh token", form, "grant_type=refresh_token&refresh_token=tgr_nope", app, 400, "invalid_grant", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := ts.do(t, "POST", "/oauth/token", tc.contentType, tc.body, tc.hdr)
			if a.status != tc.status || a.str("error") != tc.code {
				t.Fatalf("got %d %s, want %d %s", a.status, a.raw, tc.status, tc.code)
			}
			if !strings.Contains(a.str("error_description"), tc.descHas) {
				t.Fatalf("description %q lacks %q", a.str("error_description"), tc.descHas)
			}
			if tc.status == 401 && tc.hdr != nil && a.header.Get("WWW-Authenticate") == "" {
				t.Fatal("401 after Basic lacks WWW-Authenticate")
			}
		})
	}
}

func TestHTTPHygiene(t *testing.T) {
	ts := newServer(t, testConfig)
	big := "grant_type=password&username=" + strings.Repeat("a", 70<<10)
	if a := ts.do(t, "POST", "/oauth/token", form, big, nil); a.status != 413 {
		t.Fatalf("oversized body: %d", a.status)
	}
	if a := ts.do(t, "GET", "/oauth/token", "", "", nil); a.status != 405 || a.header.Get("Allow") != "POST" {
		t.Fatalf("wrong method: %d allow=%q", a.status, a.header.Get("Allow"))
	}
	if a := ts.do(t, "GET", "/nope", "", "", nil); a.status != 404 {
		t.Fatalf("unknown path: %d", a.status)
	}
	if a := ts.do(t, "GET", "/healthz", "", "", nil); a.status != 200 {
		t.Fatalf("healthz: %d", a.status)
	}
	if a := ts.do(t, "GET", "/readyz", "", "", nil); a.status != 200 {
		t.Fatalf("readyz: %d", a.status)
	}
	passwordLogin(t, ts)
	m := ts.do(t, "GET", "/metrics", "", "", nil)
	for _, want := range []string{`tokengate_grants_total{grant="password",outcome="ok"} 1`, `tokengate_http_requests_total{route="/oauth/token",status="200"}`, "tokengate_password_hash_queue_depth", "tokengate_http_request_duration_seconds_bucket"} {
		if !strings.Contains(m.raw, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestRefreshRotatesAndDetectsReuse(t *testing.T) {
	ts := newServer(t, testConfig)
	app := basic("app", "app-secret")
	rt1 := passwordLogin(t, ts).str("refresh_token")
	a := ts.token(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt1}, "scope": {"read"}}, app)
	if a.status != 200 || a.str("scope") != "read" {
		t.Fatalf("refresh: %d %s", a.status, a.raw)
	}
	rt2 := a.str("refresh_token")
	if rt2 == "" || rt2 == rt1 {
		t.Fatal("refresh did not rotate")
	}
	// Another client may not use the token.
	if a := ts.token(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt2}}, basic("other", "other-secret")); a.status != 400 || a.str("error") != "invalid_grant" {
		t.Fatalf("foreign client: %d %s", a.status, a.raw)
	}
	// Scope may narrow, never widen beyond the original login.
	if a := ts.token(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt2}, "scope": {"admin"}}, app); a.str("error") != "invalid_scope" {
		t.Fatalf("widened scope: %d %s", a.status, a.raw)
	}
	// Replaying the rotated token revokes the family: rt2 dies too.
	if a := ts.token(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt1}}, app); a.status != 400 || a.str("error") != "invalid_grant" {
		t.Fatalf("reuse: %d %s", a.status, a.raw)
	}
	if a := ts.token(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt2}}, app); a.status != 400 {
		t.Fatalf("family not revoked after reuse: %d %s", a.status, a.raw)
	}
}

func TestRefreshRaceHasOneWinner(t *testing.T) {
	ts := newServer(t, testConfig)
	rt := passwordLogin(t, ts).str("refresh_token")
	body := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}.Encode()
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[int]int{}
	start := make(chan struct{})
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			req, _ := http.NewRequest("POST", ts.URL+"/oauth/token", strings.NewReader(body))
			req.Header.Set("Content-Type", form)
			req.SetBasicAuth("app", "app-secret")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			mu.Lock()
			statuses[resp.StatusCode]++
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()
	if statuses[200] != 1 || statuses[400] != 99 {
		t.Fatalf("statuses %v: want exactly one 200 and 99 400s", statuses)
	}
}

func TestRevocationAndIntrospection(t *testing.T) {
	ts := newServer(t, testConfig)
	app := basic("app", "app-secret")
	login := passwordLogin(t, ts)
	at, rt := login.str("access_token"), login.str("refresh_token")
	intro := func(tok string) answer {
		return ts.do(t, "POST", "/oauth/introspect", form, url.Values{"token": {tok}}.Encode(), app)
	}
	if a := intro(at); a.body["active"] != true || a.str("sub") != "alice" || a.str("client_id") != "app" || a.str("scope") != "read write" {
		t.Fatalf("access token introspection: %s", a.raw)
	}
	if a := intro(rt); a.body["active"] != true || a.str("token_type") != "refresh_token" {
		t.Fatalf("refresh token introspection: %s", a.raw)
	}
	if a := intro("garbage"); a.status != 200 || a.body["active"] != false {
		t.Fatalf("garbage: %s", a.raw)
	}
	if a := ts.do(t, "POST", "/oauth/introspect", form, "token="+at, nil); a.status != 401 {
		t.Fatalf("unauthenticated introspection: %d", a.status)
	}
	// Revoke the access token: introspection turns it inactive.
	if a := ts.do(t, "POST", "/oauth/revoke", form, "token="+at, app); a.status != 200 {
		t.Fatalf("revoke access: %d %s", a.status, a.raw)
	}
	if a := intro(at); a.body["active"] != false {
		t.Fatalf("revoked access token still active: %s", a.raw)
	}
	// Revoke the refresh token: it can no longer refresh.
	if a := ts.do(t, "POST", "/oauth/revoke", form, "token="+rt, app); a.status != 200 {
		t.Fatalf("revoke refresh: %d", a.status)
	}
	if a := ts.token(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, app); a.status != 400 {
		t.Fatalf("revoked refresh token still works: %s", a.raw)
	}
	// Unknown tokens still answer 200.
	if a := ts.do(t, "POST", "/oauth/revoke", form, "token=unknown", app); a.status != 200 {
		t.Fatalf("unknown token revoke: %d", a.status)
	}
	if a := ts.do(t, "POST", "/oauth/revoke", form, "", app); a.status != 400 {
		t.Fatalf("missing token: %d", a.status)
	}
}

func TestMetadataAndJWKS(t *testing.T) {
	ts := newServer(t, testConfig)
	m := ts.do(t, "GET", "/.well-known/oauth-authorization-server", "", "", nil)
	if m.str("issuer") != "http://tokengate.test" || m.str("token_endpoint") != "http://tokengate.test/oauth/token" ||
		m.str("jwks_uri") != "http://tokengate.test/.well-known/jwks.json" || m.str("revocation_endpoint") == "" || m.str("introspection_endpoint") == "" {
		t.Fatalf("metadata: %s", m.raw)
	}
	j := ts.do(t, "GET", "/.well-known/jwks.json", "", "", nil)
	keys, _ := j.body["keys"].([]any)
	// The default key and the RS256 key of ID tokens (OpenID Connect).
	if len(keys) != 2 || keys[0].(map[string]any)["alg"] != "EdDSA" || keys[1].(map[string]any)["alg"] != "RS256" {
		t.Fatalf("jwks: %s", j.raw)
	}
	if strings.Contains(j.raw, `"d"`) {
		t.Fatal("JWKS leaks private key material")
	}
}

func TestBruteForceLockout(t *testing.T) {
	ts := newServer(t, testConfig)
	app := basic("app", "app-secret")
	for i := 0; i < 5; i++ {
		a := ts.token(t, url.Values{"grant_type": {"password"}, "username": {"carol"}, "password": {"bad"}}, app)
		if a.status != 400 {
			t.Fatalf("attempt %d: %d", i, a.status)
		}
	}
	a := ts.token(t, url.Values{"grant_type": {"password"}, "username": {"carol"}, "password": {"carol-pw"}}, app)
	if a.status != 429 || a.header.Get("Retry-After") == "" {
		t.Fatalf("locked-out login: %d %s", a.status, a.raw)
	}
	// The lock-out answer is the same for a user that does not exist.
	for i := 0; i < 5; i++ {
		ts.token(t, url.Values{"grant_type": {"password"}, "username": {"ghost"}, "password": {"bad"}}, app)
	}
	b := ts.token(t, url.Values{"grant_type": {"password"}, "username": {"ghost"}, "password": {"bad"}}, app)
	if b.status != 429 || b.str("error_description") != a.str("error_description") {
		t.Fatalf("unknown user lock-out differs: %d %s vs %s", b.status, b.raw, a.raw)
	}
}
