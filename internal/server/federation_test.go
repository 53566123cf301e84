package server_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tokengate/tokengate/internal/config"
	"github.com/tokengate/tokengate/internal/federation"
	"github.com/tokengate/tokengate/internal/federation/fedtest"
	"github.com/tokengate/tokengate/internal/server"
	"github.com/tokengate/tokengate/internal/servertest"
	"github.com/tokengate/tokengate/internal/store"
	"github.com/tokengate/tokengate/internal/store/sqlite"
)

const (
	grantTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
	grantJWTBearer     = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	typeAccessToken    = "urn:ietf:params:oauth:token-type:access_token"
	apiAudience        = "https://api.example.test"
)

// federationConfig trusts idp: alice is mapped to the local alice,
// auth0|bob to carol, with scopes read and write at most; clients may use
// the two federation grants.
func federationConfig(idp *fedtest.IdP) string {
	return fmt.Sprintf(`
password_hashing: {memory_kib: 1024, time: 1}
exchange_audiences: [https://downstream.example]
bootstrap:
  users:
    - {username: alice, password: alice-pw, scopes: [read, write]}
    - {username: carol, password: carol-pw, scopes: [read]}
  clients:
    - {id: exchanger, secret: ex-secret, grants: ["%s", refresh_token], scopes: [read, write]}
    - {id: bearer-app, secret: jb-secret, grants: ["%s"], scopes: [read, write]}
    - {id: app, secret: app-secret, grants: [password], scopes: [read]}
trusted_issuers:
  - name: fake-auth0
    issuer: %q
    audiences: [%q]
    users: {alice: alice, "auth0|bob": carol}
    scopes: [read, write]
    timeout: 300ms
`, grantTokenExchange, grantJWTBearer, idp.Issuer, apiAudience)
}

func newFederatedServer(t *testing.T) (*testServer, *fedtest.IdP, string) {
	t.Helper()
	idp := fedtest.New(t, fedtest.Options{TrailingSlash: true})
	kid := idp.AddKey(t, jose.RS256)
	return newServer(t, federationConfig(idp)), idp, kid
}

// payload decodes a JWT's claims without verifying them.
func payload(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", tok)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestTokenExchangeWithAnExternalToken(t *testing.T) {
	ts, idp, kid := newFederatedServer(t)
	ext := idp.Sign(t, kid, idp.Claims("auth0|bob", apiAudience, time.Now()))
	a := ts.token(t, url.Values{
		"grant_type": {grantTokenExchange}, "subject_token": {ext}, "subject_token_type": {typeAccessToken},
		"audience": {"https://downstream.example"},
	}, basic("exchanger", "ex-secret"))
	if a.status != 200 {
		t.Fatalf("%d %s", a.status, a.raw)
	}
	if a.str("issued_token_type") != typeAccessToken || a.str("token_type") != "Bearer" {
		t.Fatalf("body %s", a.raw)
	}
	if a.str("refresh_token") != "" {
		t.Fatal("token exchange issued a refresh token")
	}
	if a.str("scope") != "read" {
		t.Fatalf("scope %q: want the client's scopes within carol's", a.str("scope"))
	}
	c := payload(t, a.str("access_token"))
	if c["sub"] != "carol" || c["aud"] != "https://downstream.example" || c["iss"] != "http://tokengate.test" {
		t.Fatalf("claims %v", c)
	}
	// An audience the config does not list is refused.
	if a := ts.token(t, url.Values{"grant_type": {grantTokenExchange}, "subject_token": {ext}, "subject_token_type": {typeAccessToken},
		"audience": {"https://evil.example"}}, basic("exchanger", "ex-secret")); a.status != 400 || a.str("error") != "invalid_target" {
		t.Fatalf("unlisted audience: %d %s", a.status, a.raw)
	}
	for _, typ := range []string{"urn:ietf:params:oauth:token-type:jwt", "urn:ietf:params:oauth:token-type:id_token"} {
		a := ts.token(t, url.Values{"grant_type": {grantTokenExchange}, "subject_token": {ext}, "subject_token_type": {typ}}, basic("exchanger", "ex-secret"))
		if a.status != 200 {
			t.Fatalf("%s: %d %s", typ, a.status, a.raw)
		}
	}
}

func TestTokenExchangeErrors(t *testing.T) {
	ts, idp, kid := newFederatedServer(t)
	now := time.Now()
	good := idp.Sign(t, kid, idp.Claims("alice", apiAudience, now))
	wrongAud := idp.Sign(t, kid, idp.Claims("alice", "https://other.example", now))
	expired := idp.Claims("alice", apiAudience, now.Add(-time.Hour))
	notAllowed := idp.Sign(t, kid, idp.Claims("mallory", apiAudience, now))
	ex := basic("exchanger", "ex-secret")
	cases := []struct {
		name   string
		vals   url.Values
		hdr    map[string]string
		status int
		code   string
		desc   string
	}{
		{"missing subject_token", url.Values{"subject_token_type": {typeAccessToken}}, ex, 400, "invalid_request", "subject_token"},
		{"missing subject_token_type", url.Values{"subject_token": {good}}, ex, 400, "invalid_request", "subject_token_type"},
		{"unsupported subject_token_type", url.Values{"subject_token": {good}, "subject_token_type": {"urn:ietf:params:oauth:token-type:saml2"}}, ex, 400, "invalid_request", "unsupported subject_token_type"},
		{"wrong audience", url.Values{"subject_token": {wrongAud}, "subject_token_type": {typeAccessToken}}, ex, 400, "invalid_request", "external token: wrong audience"},
		{"expired", url.Values{"subject_token": {idp.Sign(t, kid, expired)}, "subject_token_type": {typeAccessToken}}, ex, 400, "invalid_request", "external token: expired"},
		{"user not allowed", url.Values{"subject_token": {notAllowed}, "subject_token_type": {typeAccessToken}}, ex, 400, "invalid_request", "not allowed"},
		{"client not allowed the grant", url.Values{"subject_token": {good}, "subject_token_type": {typeAccessToken}}, basic("app", "app-secret"), 400, "unauthorized_client", ""},
		{"scope beyond the client", url.Values{"subject_token": {good}, "subject_token_type": {typeAccessToken}, "scope": {"admin"}}, ex, 400, "invalid_scope", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.vals.Set("grant_type", grantTokenExchange)
			a := ts.token(t, tc.vals, tc.hdr)
			if a.status != tc.status || a.str("error") != tc.code || !strings.Contains(a.str("error_description"), tc.desc) {
				t.Fatalf("got %d %s, want %d %s %q", a.status, a.raw, tc.status, tc.code, tc.desc)
			}
		})
	}
}

func TestJWTBearerGrant(t *testing.T) {
	ts, idp, kid := newFederatedServer(t)
	jb := basic("bearer-app", "jb-secret")
	assertion := idp.Sign(t, kid, idp.Claims("alice", apiAudience, time.Now()))
	a := ts.token(t, url.Values{"grant_type": {grantJWTBearer}, "assertion": {assertion}, "scope": {"write"}}, jb)
	if a.status != 200 || a.str("scope") != "write" || a.str("refresh_token") != "" || a.str("issued_token_type") != "" {
		t.Fatalf("%d %s", a.status, a.raw)
	}
	if sub := payload(t, a.str("access_token"))["sub"]; sub != "alice" {
		t.Fatalf("sub %v", sub)
	}
	a = ts.token(t, url.Values{"grant_type": {grantJWTBearer}}, jb)
	if a.status != 400 || a.str("error") != "invalid_request" || !strings.Contains(a.str("error_description"), "assertion") {
		t.Fatalf("missing assertion: %d %s", a.status, a.raw)
	}
	bad := idp.Sign(t, kid, idp.Claims("alice", "https://other.example", time.Now()))
	a = ts.token(t, url.Values{"grant_type": {grantJWTBearer}, "assertion": {bad}}, jb)
	if a.status != 400 || a.str("error") != "invalid_grant" || a.str("error_description") != "external token: wrong audience" {
		t.Fatalf("wrong audience: %d %s", a.status, a.raw)
	}
	if strings.Contains(a.raw, bad) {
		t.Fatal("error echoes the assertion")
	}
}

func TestSlowIdPAnswers503AtTheTokenEndpoint(t *testing.T) {
	ts, idp, kid := newFederatedServer(t)
	idp.SetDelay(10 * time.Second)
	start := time.Now()
	a := ts.token(t, url.Values{"grant_type": {grantJWTBearer}, "assertion": {idp.Sign(t, kid, idp.Claims("alice", apiAudience, time.Now()))}}, basic("bearer-app", "jb-secret"))
	if a.status != 503 || a.str("error") != "temporarily_unavailable" || a.header.Get("Retry-After") == "" {
		t.Fatalf("%d %v %s", a.status, a.header, a.raw)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("slow IdP held the request %v (timeout 300ms)", d)
	}
}

func TestIdPDownAnswers503AtTheTokenEndpoint(t *testing.T) {
	ts, idp, kid := newFederatedServer(t)
	assertion := idp.Sign(t, kid, idp.Claims("alice", apiAudience, time.Now()))
	idp.Close()
	a := ts.token(t, url.Values{"grant_type": {grantJWTBearer}, "assertion": {assertion}}, basic("bearer-app", "jb-secret"))
	if a.status != 503 || a.str("error") != "temporarily_unavailable" {
		t.Fatalf("%d %s", a.status, a.raw)
	}
}

// startTokengate runs a real tokengate whose issuer is its own loopback
// URL, so that other servers can discover it.
func startTokengate(t *testing.T, yaml string) *httptest.Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse("upstream.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Addr = ln.Addr().String()
	cfg.Issuer = "http://" + ln.Addr().String()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir()+"/upstream.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	srv, err := server.New(ctx, server.Options{Config: cfg, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(srv.Handler())
	hs.Listener.Close()
	hs.Listener = ln
	hs.Start()
	t.Cleanup(hs.Close)
	return hs
}

func TestAnotherTokengateAsTheUpstream(t *testing.T) {
	up := startTokengate(t, `
password_hashing: {memory_kib: 1024, time: 1}
audience: downstream-api
bootstrap:
  users:
    - {username: alice, password: alice-pw}
  clients:
    - {id: app, secret: app-secret, grants: [password], scopes: [read]}
`)
	// Found through the upstream's RFC 8414 metadata; EdDSA is its default.
	down := newServer(t, fmt.Sprintf(`
password_hashing: {memory_kib: 1024, time: 1}
bootstrap:
  users:
    - {username: alice, password: x, scopes: [read]}
  clients:
    - {id: exchanger, secret: ex-secret, grants: ["%s"], scopes: [read]}
trusted_issuers:
  - issuer: %q
    audiences: [downstream-api]
    algorithms: [EdDSA]
    users: {alice: alice}
    scopes: [read]
`, grantTokenExchange, up.URL))
	upTS := &testServer{Server: up}
	login := upTS.token(t, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"alice-pw"}}, basic("app", "app-secret"))
	if login.status != 200 {
		t.Fatalf("upstream login: %d %s", login.status, login.raw)
	}
	a := down.token(t, url.Values{"grant_type": {grantTokenExchange}, "subject_token": {login.str("access_token")}, "subject_token_type": {typeAccessToken}}, basic("exchanger", "ex-secret"))
	if a.status != 200 || a.str("issued_token_type") != typeAccessToken {
		t.Fatalf("exchange: %d %s", a.status, a.raw)
	}
	if c := payload(t, a.str("access_token")); c["sub"] != "alice" || c["iss"] != "http://tokengate.test" {
		t.Fatalf("claims %v", c)
	}
}

func TestMetadataListsExchangeGrantsWhenFederated(t *testing.T) {
	ts, _, _ := newFederatedServer(t)
	m := ts.do(t, "GET", "/.well-known/oauth-authorization-server", "", "", nil)
	for _, g := range []string{"password", "urn:ietf:params:oauth:grant-type:token-exchange", "urn:ietf:params:oauth:grant-type:jwt-bearer"} {
		if !strings.Contains(m.raw, `"`+g+`"`) {
			t.Errorf("grant_types_supported lacks %s: %s", g, m.raw)
		}
	}
	plain := newServer(t, testConfig)
	if m := plain.do(t, "GET", "/.well-known/oauth-authorization-server", "", "", nil); strings.Contains(m.raw, "token-exchange") {
		t.Errorf("token exchange advertised without trusted issuers: %s", m.raw)
	}
}

// takeoverConfig has a local password user admin with every scope, and
// two issuers that provision users: idp keys identities by sub, emailIdP
// by a verified email. Clients may use every door in with every scope.
func takeoverConfig(idp, emailIdP *fedtest.IdP) string {
	return fmt.Sprintf(`
password_hashing: {memory_kib: 1024, time: 1}
routes:
  - {path: /oauth/token, endpoint: token}
  - {path: /api/login, endpoint: datarhei.login, default_client: datarhei-core}
bootstrap:
  users:
    - {username: admin, password: admin-pw, scopes: [read, write, admin]}
  clients:
    - {id: exchanger, secret: ex-secret, grants: ["%s", "%s"], scopes: [read, write, admin]}
    - {id: datarhei-core, public: true, grants: [password, refresh_token], scopes: [read, write, admin]}
trusted_issuers:
  - name: idp
    issuer: %q
    audiences: [%q]
    auto_provision: true
  - name: email-idp
    issuer: %q
    audiences: [%q]
    subject_claim: email
    auto_provision: true
`, grantTokenExchange, grantJWTBearer, idp.Issuer, apiAudience, emailIdP.Issuer, apiAudience)
}

// externalLogin logs in with an external token through one of the three
// doors and returns the status and the access token's claims.
func externalLogin(t *testing.T, ts *testServer, door, ext string) (answer, map[string]any) {
	t.Helper()
	var a answer
	switch door {
	case "token exchange":
		a = ts.token(t, url.Values{"grant_type": {grantTokenExchange}, "subject_token": {ext}, "subject_token_type": {typeAccessToken}}, basic("exchanger", "ex-secret"))
	case "jwt bearer":
		a = ts.token(t, url.Values{"grant_type": {grantJWTBearer}, "assertion": {ext}}, basic("exchanger", "ex-secret"))
	case "datarhei bearer login":
		a = ts.do(t, "POST", "/api/login", "", "", map[string]string{"Authorization": "Bearer " + ext})
	default:
		t.Fatalf("unknown door %q", door)
	}
	if a.status != 200 {
		return a, nil
	}
	return a, payload(t, a.str("access_token"))
}

var externalDoors = []string{"token exchange", "jwt bearer", "datarhei bearer login"}

// TestExternalIdentityNeverTakesOverALocalAccount is the account takeover
// of issue 11: an issuer's sub "admin", or a verified email "admin", must
// not log in as the local password user admin through any door. Each
// gets an account of its own, in a namespace local users cannot use, and
// no scope (the issuers configure none).
func TestExternalIdentityNeverTakesOverALocalAccount(t *testing.T) {
	idp := fedtest.New(t, fedtest.Options{})
	kid := idp.AddKey(t, jose.RS256)
	emailIdP := fedtest.New(t, fedtest.Options{})
	ekid := emailIdP.AddKey(t, jose.RS256)
	ts := newServer(t, takeoverConfig(idp, emailIdP))
	bySub := idp.Sign(t, kid, idp.Claims("admin", apiAudience, time.Now()))
	emailClaims := emailIdP.Claims("someone-else", apiAudience, time.Now())
	emailClaims["email"], emailClaims["email_verified"] = "admin", true
	byEmail := emailIdP.Sign(t, ekid, emailClaims)
	for _, door := range externalDoors {
		for name, ext := range map[string]string{"sub admin": bySub, "verified email admin": byEmail} {
			t.Run(door+"/"+name, func(t *testing.T) {
				a, c := externalLogin(t, ts, door, ext)
				if a.status != 200 {
					t.Fatalf("%d %s: want a login as a provisioned user", a.status, a.raw)
				}
				sub, _ := c["sub"].(string)
				if sub == "admin" || !strings.HasPrefix(sub, "ext:") {
					t.Fatalf("logged in as %q: want a provisioned ext: user, never the local admin", sub)
				}
				if sc, _ := c["scope"].(string); sc != "" {
					t.Fatalf("scope %q: an issuer without scopes grants none", sc)
				}
			})
		}
	}
}

func TestUnmappedExternalIdentityIsRefusedWithoutAutoProvision(t *testing.T) {
	idp := fedtest.New(t, fedtest.Options{})
	kid := idp.AddKey(t, jose.RS256)
	ts := newServer(t, fmt.Sprintf(`
password_hashing: {memory_kib: 1024, time: 1}
routes:
  - {path: /oauth/token, endpoint: token}
  - {path: /api/login, endpoint: datarhei.login, default_client: datarhei-core}
bootstrap:
  users:
    - {username: admin, password: admin-pw, scopes: [read, write, admin]}
    - {username: alice, password: alice-pw}
  clients:
    - {id: exchanger, secret: ex-secret, grants: ["%s", "%s"], scopes: [read, write, admin]}
    - {id: datarhei-core, public: true, grants: [password, refresh_token], scopes: [read, write, admin]}
trusted_issuers:
  - issuer: %q
    audiences: [%q]
    users: {"idp|alice": alice}
    scopes: [read]
`, grantTokenExchange, grantJWTBearer, idp.Issuer, apiAudience))
	admin := idp.Sign(t, kid, idp.Claims("admin", apiAudience, time.Now()))
	mapped := idp.Sign(t, kid, idp.Claims("idp|alice", apiAudience, time.Now()))
	want := map[string]struct {
		status int
		code   string
	}{"token exchange": {400, "invalid_request"}, "jwt bearer": {400, "invalid_grant"}, "datarhei bearer login": {401, ""}}
	for _, door := range externalDoors {
		t.Run(door, func(t *testing.T) {
			a, _ := externalLogin(t, ts, door, admin)
			if a.status != want[door].status || a.str("error") != want[door].code || !strings.Contains(a.raw, "not allowed") {
				t.Fatalf("sub admin: %d %s, want %d %s: not allowed", a.status, a.raw, want[door].status, want[door].code)
			}
			// The explicit mapping is the way to a local user, bounded by
			// the issuer's scopes (alice's own are any the client has).
			a, c := externalLogin(t, ts, door, mapped)
			if a.status != 200 || c["sub"] != "alice" || c["scope"] != "read" {
				t.Fatalf("mapped subject: %d %s %v", a.status, a.raw, c)
			}
		})
	}
}

// provisioningServer trusts idp with auto_provision and scope read, for
// clients allowed read, write and admin.
func provisioningServer(t *testing.T) (*servertest.Server, *fedtest.IdP, string) {
	t.Helper()
	idp := fedtest.New(t, fedtest.Options{})
	kid := idp.AddKey(t, jose.RS256)
	s := servertest.Start(t, fmt.Sprintf(`
password_hashing: {memory_kib: 1024, time: 1}
bootstrap:
  clients:
    - {id: exchanger, secret: ex-secret, grants: ["%s", "%s"], scopes: [read, write, admin]}
trusted_issuers:
  - issuer: %q
    audiences: [%q]
    auto_provision: true
    scopes: [read]
`, grantTokenExchange, grantJWTBearer, idp.Issuer, apiAudience), servertest.Options{Issuer: "http://tokengate.test"})
	return s, idp, kid
}

func TestProvisionedUserGetsOnlyTheIssuersScopes(t *testing.T) {
	s, idp, kid := provisioningServer(t)
	ts := &testServer{Server: s.Server, srv: s.Srv}
	assertion := idp.Sign(t, kid, idp.Claims("idp|new", apiAudience, time.Now()))
	a, c := externalLogin(t, ts, "jwt bearer", assertion)
	if a.status != 200 || c["scope"] != "read" || c["sub"] != federation.ProvisionedUsername(idp.Issuer, "idp|new") {
		t.Fatalf("%d %s %v", a.status, a.raw, c)
	}
	a = ts.token(t, url.Values{"grant_type": {grantJWTBearer}, "assertion": {assertion}, "scope": {"admin"}}, basic("exchanger", "ex-secret"))
	if a.status != 400 || a.str("error") != "invalid_scope" {
		t.Fatalf("scope beyond the issuer's: %d %s", a.status, a.raw)
	}
}

func TestConcurrentFirstLoginsCreateOneUserAndOneLink(t *testing.T) {
	s, idp, kid := provisioningServer(t)
	ts := &testServer{Server: s.Server, srv: s.Srv}
	assertion := idp.Sign(t, kid, idp.Claims("idp|racer", apiAudience, time.Now()))
	const n = 16
	start := make(chan struct{})
	subs := make([]any, n)
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			a, c := externalLogin(t, ts, "jwt bearer", assertion)
			statuses[i], subs[i] = a.status, c["sub"]
		}()
	}
	close(start)
	wg.Wait()
	want := federation.ProvisionedUsername(idp.Issuer, "idp|racer")
	for i := range n {
		if statuses[i] != 200 || subs[i] != want {
			t.Fatalf("login %d: %d as %v, want 200 as %s", i, statuses[i], subs[i], want)
		}
	}
	users, err := s.Store.ListUsers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != 1 || users[0].Username != want {
		t.Fatalf("users %+v: want exactly %s", users, want)
	}
	if l, err := s.Store.GetIdentityLink(context.Background(), idp.Issuer, "idp|racer"); err != nil || l.Username != want {
		t.Fatalf("link %+v, %v", l, err)
	}
}

func TestDisabledOrDeletedProvisionedUser(t *testing.T) {
	s, idp, kid := provisioningServer(t)
	ts := &testServer{Server: s.Server, srv: s.Srv}
	ctx := context.Background()
	assertion := idp.Sign(t, kid, idp.Claims("idp|someone", apiAudience, time.Now()))
	if a, _ := externalLogin(t, ts, "jwt bearer", assertion); a.status != 200 {
		t.Fatalf("first login: %d %s", a.status, a.raw)
	}
	name := federation.ProvisionedUsername(idp.Issuer, "idp|someone")
	u, err := s.Store.GetUser(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	u.Disabled = true
	if err := s.Store.UpdateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if a, _ := externalLogin(t, ts, "jwt bearer", assertion); a.status != 400 || a.str("error") != "invalid_grant" || !strings.Contains(a.str("error_description"), "disabled") {
		t.Fatalf("disabled: %d %s", a.status, a.raw)
	}
	if err := s.Store.DeleteUser(ctx, name); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Store.GetIdentityLink(ctx, idp.Issuer, "idp|someone"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("link after the user's deletion: %v", err)
	}
}
