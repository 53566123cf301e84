package main

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/tokengate/tokengate/internal/config"
	"github.com/tokengate/tokengate/internal/federation/fedtest"
)

// The end-to-end tests below start the binary with each example config
// and replay the requests its seed documents, plus the documented errors.

// exchange is one HTTP exchange with a running server.
type exchange struct {
	status int
	header http.Header
	raw    string
	body   map[string]any
}

func (e exchange) str(k string) string { s, _ := e.body[k].(string); return s }

func send(t *testing.T, method, u, contentType, body string, hdr map[string]string) exchange {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	e := exchange{status: resp.StatusCode, header: resp.Header, raw: string(b)}
	_ = json.Unmarshal(b, &e.body)
	return e
}

func startExample(t *testing.T, name string, extra ...string) *proc {
	t.Helper()
	cfg := filepath.Join("..", "..", "examples", name, "tokengate.yaml")
	return startServer(t, append([]string{"--config", cfg, "--db", filepath.Join(t.TempDir(), "tg.db")}, extra...)...)
}

func basicAuth(id, secret string) map[string]string {
	return map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(id+":"+secret))}
}

// jwtClaims decodes a JWT's payload without verifying it.
func jwtClaims(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", tok)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func wantStatus(t *testing.T, what string, e exchange, status int) {
	t.Helper()
	if e.status != status {
		t.Fatalf("%s: status %d, want %d: %s", what, e.status, status, e.raw)
	}
}

func wantJSON(t *testing.T, what string, e exchange) {
	t.Helper()
	if ct := e.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("%s: Content-Type %q", what, ct)
	}
}

const formCT = "application/x-www-form-urlencoded"

func TestContractSpringOAuth2(t *testing.T) {
	p := startExample(t, "spring-oauth2")
	auth := basicAuth("demo-client", "demo-secret")
	login := send(t, "POST", p.base+"/auth/oauth/token", formCT, "username=demo-user&password=demo-password&grant_type=password&scope=profile", auth)
	wantStatus(t, "login", login, 200)
	wantJSON(t, "login", login)
	if login.str("access_token") == "" || login.str("refresh_token") == "" || login.str("scope") != "profile" {
		t.Fatalf("login body: %s", login.raw)
	}
	if login.body["expires_in"].(float64) != 86400 {
		t.Fatalf("access token not valid 24 hours: %v", login.body["expires_in"])
	}
	c := jwtClaims(t, login.str("access_token"))
	if c["exp"].(float64)-c["iat"].(float64) != 86400 || c["sub"] != "demo-user" {
		t.Fatalf("claims %v", c)
	}
	// The seed's refresh request, misspelling and all.
	bad := send(t, "POST", p.base+"/auth/oauth/token", formCT, "grant_type=refresh_token&refrest_token="+login.str("refresh_token"), auth)
	wantStatus(t, "misspelled refresh", bad, 400)
	if bad.str("error") != "invalid_request" || !strings.Contains(bad.str("error_description"), "refresh_token") {
		t.Fatalf("misspelled refresh: %s", bad.raw)
	}
	ref := send(t, "POST", p.base+"/auth/oauth/token", formCT, "grant_type=refresh_token&refresh_token="+login.str("refresh_token"), auth)
	wantStatus(t, "refresh", ref, 200)
	if ref.str("access_token") == "" || ref.str("refresh_token") == "" || ref.str("refresh_token") == login.str("refresh_token") {
		t.Fatalf("refresh: %s", ref.raw)
	}
	// Documented errors: wrong client, wrong password.
	wantStatus(t, "wrong client secret", send(t, "POST", p.base+"/auth/oauth/token", formCT, "username=demo-user&password=demo-password&grant_type=password", basicAuth("demo-client", "x")), 401)
	wrong := send(t, "POST", p.base+"/auth/oauth/token", formCT, "username=demo-user&password=nope&grant_type=password&scope=profile", auth)
	if wrong.status != 400 || wrong.str("error") != "invalid_grant" {
		t.Fatalf("wrong password: %s", wrong.raw)
	}
}

func TestContractFastAPI(t *testing.T) {
	p := startExample(t, "fastapi")
	u := p.base + "/auth/access-token"
	// auth_login exactly as the generated SDK sends it.
	login := send(t, "POST", u, formCT, "username=username_example&password=password_example&grant_type=password&scope=&client_id=client_id_example&client_secret=client_secret_example", nil)
	wantStatus(t, "login with client", login, 200)
	wantJSON(t, "login", login)
	if login.str("access_token") == "" || login.str("refresh_token") == "" || login.str("token_type") != "bearer" {
		t.Fatalf("login: %s", login.raw)
	}
	if jwtClaims(t, login.str("access_token"))["client_id"] != "client_id_example" {
		t.Fatal("login with client credentials not attributed to that client")
	}
	// Without client credentials, and without grant_type.
	anon := send(t, "POST", u, formCT, "username=username_example&password=password_example", nil)
	wantStatus(t, "login without client", anon, 200)
	// Wrong credentials → 400; wrong client secret → 400.
	if e := send(t, "POST", u, formCT, "username=username_example&password=wrong", nil); e.status != 400 || e.str("detail") == "" {
		t.Fatalf("wrong password: %d %s", e.status, e.raw)
	}
	wantStatus(t, "wrong client secret", send(t, "POST", u, formCT, "username=username_example&password=password_example&client_id=client_id_example&client_secret=nope", nil), 400)
	// Validation errors → 422 with FastAPI's detail list.
	v := send(t, "POST", u, formCT, "password=password_example", nil)
	wantStatus(t, "missing username", v, 422)
	detail, _ := v.body["detail"].([]any)
	if len(detail) != 1 || !strings.Contains(v.raw, `"loc":["body","username"]`) || !strings.Contains(v.raw, `"type":"missing"`) {
		t.Fatalf("422 body: %s", v.raw)
	}
	wantStatus(t, "wrong grant_type", send(t, "POST", u, formCT, "username=a&password=b&grant_type=client_credentials", nil), 422)
	wantStatus(t, "JSON body", send(t, "POST", u, "application/json", `{"username":"a","password":"b"}`, nil), 422)

	// auth_refresh: JSON body, the token alone (refresh_client_auth:
	// none): a session of the confidential client_id_example is refused
	// without its secret; the public default client's session refreshes.
	ru := p.base + "/auth/refresh-token"
	if e := send(t, "POST", ru, "application/json", `{"refresh_token":"`+login.str("refresh_token")+`"}`, nil); e.status != 401 {
		t.Fatalf("confidential client's session refreshed with the token alone: %d %s", e.status, e.raw)
	}
	rt := anon.str("refresh_token")
	ref := send(t, "POST", ru, "application/json", `{"refresh_token":"`+rt+`"}`, nil)
	wantStatus(t, "refresh", ref, 200)
	if ref.str("access_token") == "" || ref.str("refresh_token") == "" || ref.str("refresh_token") == rt {
		t.Fatalf("refresh: %s", ref.raw)
	}
	if e := send(t, "POST", ru, "application/json", `{"refresh_token":"`+rt+`"}`, nil); e.status != 400 || !strings.Contains(e.str("detail"), "already used") {
		t.Fatalf("used refresh token: %d %s", e.status, e.raw)
	}
	if e := send(t, "POST", ru, "application/json", `{"refresh_token":"tgr_neverissued"}`, nil); e.status != 404 {
		t.Fatalf("unknown refresh token: %d %s", e.status, e.raw)
	}
	wantStatus(t, "bad JSON", send(t, "POST", ru, "application/json", `{"refresh_token":`, nil), 422)
	wantStatus(t, "missing field", send(t, "POST", ru, "application/json", `{}`, nil), 422)
	wantStatus(t, "wrong type", send(t, "POST", ru, "application/json", `{"refresh_token":5}`, nil), 422)

	// auth_token_from_key.
	k := send(t, "GET", u+"?key=key_example", "", "", nil)
	wantStatus(t, "key login", k, 200)
	if k.str("access_token") == "" || k.str("token_type") != "bearer" || k.body["refresh_token"] != nil {
		t.Fatalf("key login: %s", k.raw)
	}
	if jwtClaims(t, k.str("access_token"))["sub"] != "username_example" {
		t.Fatal("key login subject")
	}
	wantStatus(t, "bad key", send(t, "GET", u+"?key=nope", "", "", nil), 400)
	wantStatus(t, "no key", send(t, "GET", u, "", "", nil), 422)
	// A mistyped tokengate-format key is refused without a lookup, as 400.
	wantStatus(t, "bad checksum", send(t, "GET", u+"?key=tg_"+strings.Repeat("a", 43)+"_AAAAAA", "", "", nil), 400)
}

func TestContractDjangoOAuthToolkit(t *testing.T) {
	p := startExample(t, "django-oauth-toolkit")
	u := p.base + "/oauth/token/"
	login := send(t, "POST", u, formCT, "grant_type=password&client_id=test_client_id&client_secret=test_client_secret&username=test_api_user&password=test_api_user", nil)
	wantStatus(t, "login", login, 200)
	wantJSON(t, "login", login)
	if login.str("token_type") != "Bearer" || login.body["expires_in"].(float64) != 36000 || login.str("scope") != "read write" || login.str("refresh_token") == "" {
		t.Fatalf("login: %s", login.raw)
	}
	ref := send(t, "POST", u, formCT, "grant_type=refresh_token&client_id=test_client_id&client_secret=test_client_secret&refresh_token="+url.QueryEscape(login.str("refresh_token")), nil)
	wantStatus(t, "refresh", ref, 200)
	if ref.str("refresh_token") == "" || ref.str("refresh_token") == login.str("refresh_token") || ref.str("scope") != "read write" || ref.body["expires_in"].(float64) != 36000 {
		t.Fatalf("refresh: %s", ref.raw)
	}
	rv := send(t, "POST", p.base+"/oauth/revoke_token/", formCT, "client_id=test_client_id&client_secret=test_client_secret&token="+ref.str("access_token"), nil)
	wantStatus(t, "revoke", rv, 200)
	if rv.header.Get("Content-Type") != "text/html; charset=utf-8" || rv.raw != "" {
		t.Fatalf("revoke answer: %q %q", rv.header.Get("Content-Type"), rv.raw)
	}
	in := send(t, "POST", p.base+"/oauth/introspect/", formCT, "client_id=test_client_id&client_secret=test_client_secret&token="+ref.str("access_token"), nil)
	if in.body["active"] != false {
		t.Fatalf("revoked access token still active: %s", in.raw)
	}
	// The path is served exactly: no redirect from the slash-less form.
	wantStatus(t, "no trailing slash", send(t, "POST", p.base+"/oauth/token", formCT, "grant_type=password", nil), 404)
	wantStatus(t, "wrong client secret", send(t, "POST", u, formCT, "grant_type=password&client_id=test_client_id&client_secret=x&username=test_api_user&password=test_api_user", nil), 401)
}

func TestContractLaravelPassport(t *testing.T) {
	p := startExample(t, "laravel-passport")
	hdr := map[string]string{"Accept": "application/json"}
	body := `{"username": "demo-user", "password": "demo-password", "client_secret": "demo-secret", "client_id": "demo-client", "grant_type": "password"}`
	login := send(t, "POST", p.base+"/oauth/token", "application/json", body, hdr)
	wantStatus(t, "login", login, 200)
	wantJSON(t, "login", login)
	if login.str("token_type") != "Bearer" || login.body["expires_in"].(float64) != 31536000 || login.str("refresh_token") == "" {
		t.Fatalf("login: %s", login.raw)
	}
	if h := jwtClaims(t, login.str("access_token")); h["sub"] != "demo-user" {
		t.Fatalf("access token is not our JWT: %v", h)
	}
	ref := send(t, "POST", p.base+"/oauth/token", "application/json", `{"grant_type":"refresh_token","refresh_token":"`+login.str("refresh_token")+`","client_id":"demo-client","client_secret":"demo-secret"}`, hdr)
	wantStatus(t, "refresh", ref, 200)
	wrong := send(t, "POST", p.base+"/oauth/token", "application/json", strings.Replace(body, "demo-password", "nope", 1), hdr)
	if wrong.status != 400 || wrong.str("error") != "invalid_grant" {
		t.Fatalf("wrong password: %s", wrong.raw)
	}
}

func TestContractDatarheiCore(t *testing.T) {
	p := startExample(t, "datarhei-core")
	login := send(t, "POST", p.base+"/api/login", "application/json", `{"username": "YOUR_USERNAME", "password": "YOUR_PASSWORD"}`, map[string]string{"accept": "application/json"})
	wantStatus(t, "login", login, 200)
	wantJSON(t, "login", login)
	at, rt := login.str("access_token"), login.str("refresh_token")
	ac, rc := jwtClaims(t, at), jwtClaims(t, rt)
	for _, k := range []string{"exp", "exi", "iat", "iss", "jti", "sub", "usefor"} {
		if ac[k] == nil || rc[k] == nil {
			t.Fatalf("claim %s missing: access %v refresh %v", k, ac, rc)
		}
	}
	if ac["usefor"] != "access" || rc["usefor"] != "refresh" || ac["exi"].(float64) != 600 || rc["exi"].(float64) != 86400 || ac["sub"] != "YOUR_USERNAME" {
		t.Fatalf("claims: access %v refresh %v", ac, rc)
	}
	bearer := func(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }
	// Refresh does not rotate: the same refresh token works again.
	for i := 0; i < 2; i++ {
		r := send(t, "GET", p.base+"/api/login/refresh", "application/json", "", bearer(rt))
		wantStatus(t, "refresh", r, 200)
		if r.str("access_token") == "" || r.body["refresh_token"] != nil {
			t.Fatalf("refresh: %s", r.raw)
		}
	}
	// An access token is not a refresh token, and vice versa.
	wantStatus(t, "access token at refresh", send(t, "GET", p.base+"/api/login/refresh", "", "", bearer(at)), 401)
	wrong := send(t, "POST", p.base+"/api/login", "application/json", `{"username": "YOUR_USERNAME", "password": "nope"}`, nil)
	wantStatus(t, "wrong password", wrong, 401)
	wantJSON(t, "wrong password", wrong)
	if wrong.str("message") == "" {
		t.Fatalf("no message: %s", wrong.raw)
	}
	wantStatus(t, "no body", send(t, "POST", p.base+"/api/login", "application/json", "", nil), 400)
	wantStatus(t, "bad JSON", send(t, "POST", p.base+"/api/login", "application/json", `{"username":`, nil), 400)
	wantStatus(t, "no refresh token", send(t, "GET", p.base+"/api/login/refresh", "", "", nil), 401)
}

// TestContractDatarheiAuth0Login logs in with an Auth0-shaped access JWT
// from a fake IdP on loopback, through the datarhei example config.
func TestContractDatarheiAuth0Login(t *testing.T) {
	idp := fedtest.New(t, fedtest.Options{TrailingSlash: true})
	kid := idp.AddKey(t, jose.RS256)
	base, err := os.ReadFile(filepath.Join("..", "..", "examples", "datarhei-core", "tokengate.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(base) + `
trusted_issuers:
  - name: auth0
    issuer: ` + idp.Issuer + `
    audiences: [https://api.datarhei.test]
    algorithms: [RS256]
    users: {"auth0|alice": YOUR_USERNAME}
`
	path := filepath.Join(t.TempDir(), "tokengate.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startServer(t, "--config", path, "--db", filepath.Join(t.TempDir(), "tg.db"))
	tok := idp.Sign(t, kid, idp.Claims("auth0|alice", "https://api.datarhei.test", time.Now()))
	login := send(t, "POST", p.base+"/api/login", "application/json", "", map[string]string{"Authorization": "Bearer " + tok})
	wantStatus(t, "auth0 login", login, 200)
	if jwtClaims(t, login.str("access_token"))["sub"] != "YOUR_USERNAME" || login.str("refresh_token") == "" {
		t.Fatalf("auth0 login: %s", login.raw)
	}
	r := send(t, "GET", p.base+"/api/login/refresh", "", "", map[string]string{"Authorization": "Bearer " + login.str("refresh_token")})
	wantStatus(t, "refresh after auth0 login", r, 200)
	stranger := idp.Sign(t, kid, idp.Claims("auth0|mallory", "https://api.datarhei.test", time.Now()))
	wantStatus(t, "unmapped user", send(t, "POST", p.base+"/api/login", "", "", map[string]string{"Authorization": "Bearer " + stranger}), 401)
	otherAud := idp.Sign(t, kid, idp.Claims("auth0|alice", "https://other.test", time.Now()))
	wantStatus(t, "wrong audience", send(t, "POST", p.base+"/api/login", "", "", map[string]string{"Authorization": "Bearer " + otherAud}), 401)
}

// TestExamplesRunOnTheirOwnDatabases: two examples started one after the
// other must not share a database, or the second would silently serve the
// first one's clients and lifetimes (bootstrap never overwrites).
func TestExamplesRunOnTheirOwnDatabases(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join("..", "..", "examples", "*", "tokengate.yaml"))
	if err != nil || len(dirs) < 5 {
		t.Fatalf("examples: %v %v", dirs, err)
	}
	def, _ := config.Parse("empty.yaml", nil)
	seen := map[string]string{}
	for _, f := range dirs {
		cfg, err := config.Load(f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if cfg.DB == def.DB {
			t.Errorf("%s uses the default database %s", f, cfg.DB)
		}
		if other, dup := seen[cfg.DB]; dup {
			t.Errorf("%s and %s share the database %s", f, other, cfg.DB)
		}
		seen[cfg.DB] = f
	}
}
