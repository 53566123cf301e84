package server_test

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/tokengate/tokengate/internal/oauth"
	"github.com/tokengate/tokengate/internal/servertest"
)

const oidcConfig = `
password_hashing: {memory_kib: 1024, time: 1}
bootstrap:
  users:
    - {username: alice, password: alice-pw}
    - {username: bob, password: bob-pw}
  clients:
    - {id: web, secret: web-secret, grants: [password, refresh_token, client_credentials], scopes: [openid, profile, read]}
    - {id: other, secret: other-secret, grants: [password], scopes: [openid]}
`

func strs(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

// TestOIDCDiscoveryDocument: the document names the configured endpoints
// by role, says what ID tokens are signed with, and turns off request
// objects (whose absence would mean "supported").
func TestOIDCDiscoveryDocument(t *testing.T) {
	ts := newServer(t, oidcConfig)
	d := ts.do(t, "GET", "/.well-known/openid-configuration", "", "", nil)
	if d.status != 200 || !strings.HasPrefix(d.header.Get("Content-Type"), "application/json") {
		t.Fatalf("discovery: %d %s", d.status, d.raw)
	}
	for k, v := range map[string]string{
		"issuer": "http://tokengate.test", "token_endpoint": "http://tokengate.test/oauth/token",
		"userinfo_endpoint": "http://tokengate.test/oauth/userinfo", "jwks_uri": "http://tokengate.test/.well-known/jwks.json",
		"revocation_endpoint": "http://tokengate.test/oauth/revoke",
	} {
		if d.str(k) != v {
			t.Errorf("%s = %q, want %q", k, d.str(k), v)
		}
	}
	if algs := strs(d.body["id_token_signing_alg_values_supported"]); !slices.Equal(algs, []string{"RS256"}) {
		t.Errorf("id_token_signing_alg_values_supported = %v", algs)
	}
	if s := strs(d.body["subject_types_supported"]); !slices.Equal(s, []string{"public"}) {
		t.Errorf("subject_types_supported = %v", s)
	}
	if s := strs(d.body["scopes_supported"]); !slices.Contains(s, "openid") {
		t.Errorf("scopes_supported = %v", s)
	}
	for _, c := range []string{"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "at_hash"} {
		if !slices.Contains(strs(d.body["claims_supported"]), c) {
			t.Errorf("claims_supported lacks %s", c)
		}
	}
	for _, k := range []string{"request_parameter_supported", "request_uri_parameter_supported", "claims_parameter_supported"} {
		if d.body[k] != false {
			t.Errorf("%s = %v, want false", k, d.body[k])
		}
	}
	if g := strs(d.body["grant_types_supported"]); !slices.Contains(g, "refresh_token") {
		t.Errorf("grant_types_supported = %v", g)
	}
	if !slices.Contains(strs(d.body["token_endpoint_auth_methods_supported"]), "client_secret_basic") {
		t.Errorf("token_endpoint_auth_methods_supported = %v", d.body["token_endpoint_auth_methods_supported"])
	}
	// The authorization endpoint and what it supports.
	if d.str("authorization_endpoint") != "http://tokengate.test/oauth/authorize" || !slices.Equal(strs(d.body["response_types_supported"]), []string{"code"}) ||
		!slices.Equal(strs(d.body["code_challenge_methods_supported"]), []string{"S256"}) || d.body["authorization_response_iss_parameter_supported"] != true {
		t.Errorf("authorization parameters: %s", d.raw)
	}
}

// TestOIDCDiscoveryFollowsConfiguredRoutes: a userinfo endpoint at another
// path, and POST only, is the one the document names.
func TestOIDCDiscoveryFollowsConfiguredRoutes(t *testing.T) {
	ts := newServer(t, oidcConfig+`
routes:
  - {path: /t, endpoint: token}
  - {path: /me, endpoint: userinfo, method: POST}
  - {path: /keys, endpoint: jwks}
  - {path: /.well-known/openid-configuration, endpoint: oidc_discovery}
`)
	d := ts.do(t, "GET", "/.well-known/openid-configuration", "", "", nil)
	if d.str("userinfo_endpoint") != "http://tokengate.test/me" || d.str("token_endpoint") != "http://tokengate.test/t" || d.str("jwks_uri") != "http://tokengate.test/keys" {
		t.Fatalf("discovery: %s", d.raw)
	}
	if _, ok := d.body["revocation_endpoint"]; ok {
		t.Fatalf("unmounted revocation endpoint named: %s", d.raw)
	}
	// Without an authorization endpoint, no response type is claimed.
	if _, ok := d.body["authorization_endpoint"]; ok || len(d.body["response_types_supported"].([]any)) != 0 || d.body["code_challenge_methods_supported"] != nil {
		t.Fatalf("authorization parameters without an authorization endpoint: %s", d.raw)
	}
	if a := ts.do(t, "GET", "/me", "", "", nil); a.status != 405 || a.header.Get("Allow") != "POST" {
		t.Fatalf("GET on a POST-only userinfo route: %d %v", a.status, a.header)
	}
}

func bearer(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

// TestUserinfoEndpoint: RFC 6750 over HTTP, GET and POST.
func TestUserinfoEndpoint(t *testing.T) {
	ts := newServer(t, oidcConfig)
	login := func(scope string) string {
		t.Helper()
		a := ts.token(t, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"alice-pw"}, "scope": {scope}}, basic("web", "web-secret"))
		if a.status != 200 {
			t.Fatalf("login: %s", a.raw)
		}
		return a.str("access_token")
	}
	full := login("openid profile")
	for _, m := range []string{"GET", "POST"} {
		a := ts.do(t, m, "/oauth/userinfo", "", "", bearer(full))
		if a.status != 200 || a.str("sub") != "alice" || a.str("preferred_username") != "alice" || len(a.body) != 2 || a.header.Get("Cache-Control") != "no-store" {
			t.Fatalf("%s userinfo: %d %s %v", m, a.status, a.raw, a.header)
		}
	}
	if a := ts.do(t, "GET", "/oauth/userinfo", "", "", bearer(login("openid"))); a.status != 200 || len(a.body) != 1 || a.str("sub") != "alice" {
		t.Fatalf("userinfo without profile: %s", a.raw)
	}
	// No token: the bare challenge.
	a := ts.do(t, "GET", "/oauth/userinfo", "", "", nil)
	if a.status != 401 || a.header.Get("WWW-Authenticate") != `Bearer realm="tokengate"` {
		t.Fatalf("no token: %d %v", a.status, a.header)
	}
	// No openid scope: 403 insufficient_scope naming the scope.
	a = ts.do(t, "GET", "/oauth/userinfo", "", "", bearer(login("read")))
	if a.status != 403 || a.str("error") != "insufficient_scope" || !strings.Contains(a.header.Get("WWW-Authenticate"), `error="insufficient_scope"`) ||
		!strings.Contains(a.header.Get("WWW-Authenticate"), `scope="openid"`) {
		t.Fatalf("without openid: %d %s %v", a.status, a.raw, a.header)
	}
	// A garbage token: 401 invalid_token.
	a = ts.do(t, "GET", "/oauth/userinfo", "", "", bearer("x.y.z"))
	if a.status != 401 || a.str("error") != "invalid_token" || !strings.HasPrefix(a.header.Get("WWW-Authenticate"), `Bearer realm="tokengate", error="invalid_token"`) {
		t.Fatalf("garbage token: %d %s %v", a.status, a.raw, a.header)
	}
	// A token in the URL is refused, even with a valid header.
	a = ts.do(t, "GET", "/oauth/userinfo?access_token="+full, "", "", bearer(full))
	if a.status != 400 || a.str("error") != "invalid_request" {
		t.Fatalf("token in the URL: %d %s", a.status, a.raw)
	}
	// Revoked at the revocation endpoint: 401 at once.
	if r := ts.do(t, "POST", "/oauth/revoke", form, "token="+full, basic("web", "web-secret")); r.status != 200 {
		t.Fatal(r.raw)
	}
	if a := ts.do(t, "GET", "/oauth/userinfo", "", "", bearer(full)); a.status != 401 || a.str("error") != "invalid_token" {
		t.Fatalf("revoked token: %d %s", a.status, a.raw)
	}
	// A client's own token names no user.
	cc := ts.token(t, url.Values{"grant_type": {"client_credentials"}, "scope": {"openid"}}, basic("web", "web-secret"))
	if a := ts.do(t, "GET", "/oauth/userinfo", "", "", bearer(cc.str("access_token"))); a.status != 401 {
		t.Fatalf("client token: %d %s", a.status, a.raw)
	}
}

// TestUserinfoExpiredTokenAndDisabledUser: a token past its expiry, and
// the token of a user disabled since, are invalid_token.
func TestUserinfoExpiredTokenAndDisabledUser(t *testing.T) {
	clk := servertest.NewClock(time.Now())
	s := servertest.Start(t, oidcConfig, servertest.Options{Now: clk.Now})
	ts := &testServer{Server: s.Server, srv: s.Srv}
	login := func(user string) string {
		a := ts.token(t, url.Values{"grant_type": {"password"}, "username": {user}, "password": {user + "-pw"}, "scope": {"openid"}}, basic("web", "web-secret"))
		if a.status != 200 {
			t.Fatalf("login: %s", a.raw)
		}
		return a.str("access_token")
	}
	alice, bob := login("alice"), login("bob")
	ctx := context.Background()
	u, err := s.Store.GetUser(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	u.Disabled = true
	if err := s.Store.UpdateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if a := ts.do(t, "GET", "/oauth/userinfo", "", "", bearer(bob)); a.status != 401 || a.str("error") != "invalid_token" {
		t.Fatalf("disabled user: %d %s", a.status, a.raw)
	}
	if a := ts.do(t, "GET", "/oauth/userinfo", "", "", bearer(alice)); a.status != 200 {
		t.Fatalf("control: %d %s", a.status, a.raw)
	}
	clk.Add(16 * time.Minute)
	if a := ts.do(t, "GET", "/oauth/userinfo", "", "", bearer(alice)); a.status != 401 || !strings.Contains(a.header.Get("WWW-Authenticate"), "expired") {
		t.Fatalf("expired token: %d %s %v", a.status, a.raw, a.header)
	}
}

// TestGoOIDCVerifiesIDTokens: a standard OpenID Connect library, unchanged,
// discovers tokengate on 127.0.0.1, verifies its ID tokens (signature
// from the JWKS, iss, aud, exp), their nonce and the at_hash binding to
// the access token, and reads the userinfo endpoint.
func TestGoOIDCVerifiesIDTokens(t *testing.T) {
	s := servertest.Start(t, oidcConfig, servertest.Options{})
	ts := &testServer{Server: s.Server, srv: s.Srv}
	ctx := oidc.ClientContext(context.Background(), s.Client())
	provider, err := oidc.NewProvider(ctx, s.URL)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	a := ts.token(t, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"alice-pw"}, "scope": {"openid profile"}}, basic("web", "web-secret"))
	if a.status != 200 {
		t.Fatal(a.raw)
	}
	at := a.str("access_token")
	// The ID token the token endpoint attaches for a code login.
	resp := &oauth.TokenResponse{AccessToken: at, Scope: a.str("scope")}
	authTime := time.Now().Add(-time.Minute).Truncate(time.Second)
	if err := s.Srv.Service().AttachIDToken(ctx, resp, oauth.IDTokenRequest{Subject: "alice", ClientID: "web", Nonce: "n-123", AuthTime: authTime}); err != nil {
		t.Fatal(err)
	}
	idt, err := provider.Verifier(&oidc.Config{ClientID: "web"}).Verify(ctx, resp.IDToken)
	if err != nil {
		t.Fatalf("go-oidc refuses the ID token: %v", err)
	}
	if idt.Subject != "alice" || idt.Nonce != "n-123" || idt.Issuer != s.URL || idt.AccessTokenHash == "" {
		t.Fatalf("ID token: %+v", idt)
	}
	var claims struct {
		AuthTime int64 `json:"auth_time"`
	}
	if err := idt.Claims(&claims); err != nil || claims.AuthTime != authTime.Unix() {
		t.Fatalf("auth_time %d, want %d (%v)", claims.AuthTime, authTime.Unix(), err)
	}
	if err := idt.VerifyAccessToken(at); err != nil {
		t.Fatalf("at_hash: %v", err)
	}
	// The binding holds: another access token does not match.
	other := ts.token(t, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"alice-pw"}, "scope": {"openid"}}, basic("web", "web-secret"))
	if err := idt.VerifyAccessToken(other.str("access_token")); err == nil {
		t.Fatal("at_hash matched another access token")
	}
	// Another client does not accept it (substitution across clients).
	if _, err := provider.Verifier(&oidc.Config{ClientID: "other"}).Verify(ctx, resp.IDToken); err == nil {
		t.Fatal("go-oidc accepted web's ID token for client other")
	}
	// An access token is no ID token: its typ, aud and key differ.
	if _, err := provider.Verifier(&oidc.Config{ClientID: "web"}).Verify(ctx, at); err == nil {
		t.Fatal("go-oidc accepted an access token as an ID token")
	}
	ui, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: at, TokenType: "Bearer"}))
	if err != nil || ui.Subject != "alice" {
		t.Fatalf("userinfo: %+v %v", ui, err)
	}
}
