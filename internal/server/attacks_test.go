package server_test

import (
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tokengate/tokengate/internal/server"
)

// Token attacks against the server's own endpoints. Attacks already
// covered elsewhere are listed in SECURITY.md with their tests (the JWT
// verifier's own table is TestVerifyRejects in internal/token; the
// resource-server side is bearer/bearer_test.go; replay of a rotated
// refresh token, a disabled user's login and a grant the client may not
// use are in server_test.go).

const attackConfig = `
password_hashing: {memory_kib: 1024, time: 1}
brute_force: {disabled: true}
access_token_ttl: 5m
refresh_token_ttl: 1h
bootstrap:
  users:
    - {username: alice, password: alice-pw, scopes: [read]}
  clients:
    - {id: app, secret: app-secret, grants: [password, refresh_token], scopes: [read]}
    - {id: other, secret: other-secret, grants: [password, refresh_token], scopes: [read]}
`

const testIssuer = "http://tokengate.test"

func (ts *testServer) introspect(t *testing.T, tok string) answer {
	t.Helper()
	a := ts.do(t, "POST", "/oauth/introspect", form, url.Values{"token": {tok}}.Encode(), basic("app", "app-secret"))
	if a.status != 200 {
		t.Fatalf("introspection: %d %s", a.status, a.raw)
	}
	return a
}

// forge signs claims as a compact JWS with the given algorithm, key and
// kid, typ at+jwt.
func forge(t *testing.T, alg jose.SignatureAlgorithm, key any, kid string, claims map[string]any) string {
	t.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, (&jose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", kid))
	if err != nil {
		t.Fatal(err)
	}
	jws, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// claimsAt are the claims of a valid access token for alice at now.
func claimsAt(now time.Time) map[string]any {
	return map[string]any{"iss": testIssuer, "sub": "alice", "client_id": "app", "scope": "read", "jti": "forged-" + now.Format("150405.000000000"),
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(5 * time.Minute).Unix()}
}

func b64url(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func TestForgedAccessTokensAreInactiveAtIntrospection(t *testing.T) {
	clk := newFakeClock()
	ts := newClockedServer(t, attackConfig, clk)
	at := passwordLogin(t, ts.testServer).str("access_token")
	if a := ts.introspect(t, at); a.body["active"] != true {
		t.Fatalf("control: the real token is inactive: %s", a.raw)
	}
	parts := strings.Split(at, ".")
	var hdr struct {
		Kid string `json:"kid"`
	}
	h, _ := base64.RawURLEncoding.DecodeString(parts[0])
	_ = json.Unmarshal(h, &hdr)

	// The server's public key as the JWKS publishes it.
	jwks := ts.do(t, "GET", "/.well-known/jwks.json", "", "", nil)
	var set jose.JSONWebKeySet
	if err := json.Unmarshal([]byte(jwks.raw), &set); err != nil || len(set.Key(hdr.Kid)) != 1 {
		t.Fatalf("jwks: %v %s", err, jwks.raw)
	}
	pub := set.Key(hdr.Kid)[0].Key.(ed25519.PublicKey)
	pkix, _ := x509.MarshalPKIXPublicKey(pub)
	_, rogue, _ := ed25519.GenerateKey(nil)
	now := clk.Now()
	claims := claimsAt(now)
	payload, _ := json.Marshal(claims)
	admin := strings.Replace(string(payload), `"alice"`, `"admin"`, 1)

	for _, tc := range []struct{ name, tok string }{
		{"alg none", b64url([]byte(`{"alg":"none","typ":"at+jwt","kid":"`+hdr.Kid+`"}`)) + "." + b64url(payload) + "."},
		{"alg none keeping a real signature", b64url([]byte(`{"alg":"none","typ":"at+jwt","kid":"`+hdr.Kid+`"}`)) + "." + parts[1] + "." + parts[2]},
		{"HS256 keyed with the raw public key", forge(t, jose.HS256, []byte(pub), hdr.Kid, claims)},
		{"HS256 keyed with the PKIX public key", forge(t, jose.HS256, pkix, hdr.Kid, claims)},
		{"HS256 keyed with the JWKS document", forge(t, jose.HS256, []byte(jwks.raw), hdr.Kid, claims)},
		{"our kid, a key we never had", forge(t, jose.EdDSA, rogue, hdr.Kid, claims)},
		{"real signature, payload changed", parts[0] + "." + b64url([]byte(admin)) + "." + parts[2]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if a := ts.introspect(t, tc.tok); a.body["active"] != false || len(a.body) != 1 {
				t.Fatalf("forged token introspected as %s", a.raw)
			}
			// Revoking a forged token is a no-op answered 200 (RFC 7009).
			if a := ts.do(t, "POST", "/oauth/revoke", form, url.Values{"token": {tc.tok}}.Encode(), basic("app", "app-secret")); a.status != 200 {
				t.Fatalf("revoke: %d %s", a.status, a.raw)
			}
		})
	}
	if a := ts.introspect(t, at); a.body["active"] != true {
		t.Fatalf("the real token was harmed by the forgeries: %s", a.raw)
	}
}

func TestTokenSignedByARemovedKeyIsInactive(t *testing.T) {
	ctx := context.Background()
	clk := newFakeClock()
	ts := newClockedServer(t, attackConfig, clk)
	at := passwordLogin(t, ts.testServer).str("access_token")
	oldKid := ts.srv.Keys().ActiveKeyID()
	if _, err := ts.srv.Keys().Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	// Retired, the old key still verifies the tokens it signed.
	if a := ts.introspect(t, at); a.body["active"] != true {
		t.Fatalf("token of the retired key before it expires: %s", a.raw)
	}
	// The retired key outlives the longest token (refresh_token_ttl 1h)
	// signed up to the key-reload interval after its retirement; past
	// that it is removed.
	clk.Add(time.Hour + server.DefaultKeyReload + time.Second)
	if err := ts.srv.Keys().Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if jwks := ts.do(t, "GET", "/.well-known/jwks.json", "", "", nil); strings.Contains(jwks.raw, oldKid) {
		t.Fatalf("removed key still published: %s", jwks.raw)
	}
	// Someone who kept the old private key mints a fresh, unexpired token
	// with it: refused. The same forgery with the active key passes,
	// which shows it is the key that is refused, not the forgery.
	keys, err := ts.store.ListSigningKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	priv := map[string]ed25519.PrivateKey{}
	for _, k := range keys {
		p, err := x509.ParsePKCS8PrivateKey(k.Private)
		if err != nil {
			t.Fatal(err)
		}
		if e, ok := p.(ed25519.PrivateKey); ok { // not the RS256 ID token keys
			priv[k.ID] = e
		}
	}
	newKid := ts.srv.Keys().ActiveKeyID()
	if priv[oldKid] == nil || priv[newKid] == nil {
		t.Fatalf("%d keys in the store, want the removed and the active one", len(priv))
	}
	now := clk.Now()
	if a := ts.introspect(t, forge(t, jose.EdDSA, priv[oldKid], oldKid, claimsAt(now))); a.body["active"] != false {
		t.Fatalf("token signed by the removed key: %s", a.raw)
	}
	if a := ts.introspect(t, forge(t, jose.EdDSA, priv[newKid], newKid, claimsAt(now))); a.body["active"] != true {
		t.Fatalf("control with the active key: %s", a.raw)
	}
}

func TestAccessAndRefreshTokensAreNotInterchangeable(t *testing.T) {
	ts := newClockedServer(t, attackConfig, newFakeClock())
	login := passwordLogin(t, ts.testServer)
	at, rt := login.str("access_token"), login.str("refresh_token")
	app := basic("app", "app-secret")
	// An access token is not a refresh token.
	if a := ts.token(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {at}}, app); a.status != 400 || a.str("error") != "invalid_grant" {
		t.Fatalf("access token as refresh token: %d %s", a.status, a.raw)
	}
	// A refresh token introspects as what it is, never as a Bearer access
	// token: a resource server checking token_type refuses it (bearer's
	// introspection mode does; see TestIntrospectionSeesRevocation).
	if a := ts.introspect(t, rt); a.str("token_type") != "refresh_token" || a.body["aud"] != nil || a.body["jti"] != nil {
		t.Fatalf("refresh token introspection: %s", a.raw)
	}
	// Neither attempt harmed the session.
	if a := ts.token(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, app); a.status != 200 {
		t.Fatalf("refresh after the attempts: %d %s", a.status, a.raw)
	}
}

func TestRevocationByAnotherClientIsIgnored(t *testing.T) {
	ts := newClockedServer(t, attackConfig, newFakeClock())
	login := passwordLogin(t, ts.testServer)
	at, rt := login.str("access_token"), login.str("refresh_token")
	other := basic("other", "other-secret")
	for _, tok := range []string{at, rt} {
		// RFC 7009 §2.1: the token was not issued to "other"; the answer
		// is 200 so that nothing is revealed, and nothing is revoked.
		if a := ts.do(t, "POST", "/oauth/revoke", form, url.Values{"token": {tok}}.Encode(), other); a.status != 200 {
			t.Fatalf("revoke by another client: %d %s", a.status, a.raw)
		}
	}
	if a := ts.introspect(t, at); a.body["active"] != true {
		t.Fatalf("another client revoked the access token: %s", a.raw)
	}
	if a := ts.token(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, basic("app", "app-secret")); a.status != 200 {
		t.Fatalf("another client revoked the refresh token: %d %s", a.status, a.raw)
	}
}

// TestRetiredKeyAndLifetimeLimits: a token that the retired key signed
// after its retirement (plus the key-reload interval, during which nodes
// that have not reloaded still sign with it), or one that lives longer
// than any access token this server issues, is inactive, whichever key
// signed it.
func TestRetiredKeyAndLifetimeLimits(t *testing.T) {
	ctx := context.Background()
	clk := newFakeClock()
	ts := newClockedServer(t, attackConfig, clk)
	oldKid := ts.srv.Keys().ActiveKeyID()
	if _, err := ts.srv.Keys().Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	rotated := clk.Now()
	newKid := ts.srv.Keys().ActiveKeyID()
	keys, err := ts.store.ListSigningKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	priv := map[string]ed25519.PrivateKey{}
	for _, k := range keys {
		p, err := x509.ParsePKCS8PrivateKey(k.Private)
		if err != nil {
			t.Fatal(err)
		}
		if e, ok := p.(ed25519.PrivateKey); ok { // not the RS256 ID token keys
			priv[k.ID] = e
		}
	}
	clk.Add(time.Minute)
	now := clk.Now()
	longLived := claimsAt(now)
	longLived["exp"] = now.Add(20 * 24 * time.Hour).Unix() // access_token_ttl is 5m
	for _, tc := range []struct {
		name   string
		kid    string
		claims map[string]any
		active bool
	}{
		{"retired key, iat within the reload interval", oldKid, claimsAt(rotated.Add(3 * time.Second)), true},
		{"retired key, iat a minute after retirement", oldKid, claimsAt(now), false},
		{"retired key, iat after retirement, exp 20 days ahead", oldKid, longLived, false},
		{"active key, exp 20 days ahead", newKid, longLived, false},
		{"active key, 5 minutes", newKid, claimsAt(now), true},
	} {
		if a := ts.introspect(t, forge(t, jose.EdDSA, priv[tc.kid], tc.kid, tc.claims)); a.body["active"] != tc.active {
			t.Errorf("%s: %s, want active %v", tc.name, a.raw, tc.active)
		}
	}
}
