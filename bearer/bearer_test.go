package bearer_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tokengate/tokengate/bearer"
	"github.com/tokengate/tokengate/jwks"
)

// protected is a handler behind v.Require(scopes...) that reports the
// claims it was given.
func protected(v *bearer.Verifier, scopes ...string) http.Handler {
	return v.Require(scopes...)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := bearer.ClaimsFrom(r.Context())
		if c == nil {
			http.Error(w, "no claims", http.StatusInternalServerError)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"sub": c.Subject, "client_id": c.ClientID, "scopes": c.Scopes, "aud": c.Audience})
	}))
}

func newVerifier(t *testing.T, cfg bearer.Config) *bearer.Verifier {
	t.Helper()
	v, err := bearer.NewVerifier(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestRequireAcceptsTokengateAccessToken(t *testing.T) {
	tg := startTokengate(t, baseConfig, nil)
	v := newVerifier(t, bearer.Config{Issuer: tg.URL, Audience: "api://orders"})
	at, _ := tg.login(t)
	rec := get(protected(v, "read", "write"), "Bearer "+at)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	var got struct {
		Sub      string   `json:"sub"`
		ClientID string   `json:"client_id"`
		Scopes   []string `json:"scopes"`
		Aud      []string `json:"aud"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.Sub != "alice" || got.ClientID != "app" || strings.Join(got.Scopes, " ") != "read write" || len(got.Aud) != 1 || got.Aud[0] != "api://orders" {
		t.Fatalf("claims reaching the handler: %+v", got)
	}
	// tokengate serves OpenID Connect discovery, tried first: one fetch.
	if n, m := tg.count("GET /.well-known/openid-configuration"), tg.count("GET /.well-known/oauth-authorization-server"); n != 1 || m != 0 {
		t.Fatalf("discovery fetched %d times, RFC 8414 metadata %d times, want 1 and 0", n, m)
	}
	// The scheme is case-insensitive (RFC 7235 §2.1).
	if rec := get(protected(v), "bearer "+at); rec.Code != http.StatusOK {
		t.Fatalf("lower-case scheme: %d", rec.Code)
	}
}

// craft builds a compact JWS from raw header and payload JSON and a
// signature, without any library's checks.
func craft(header, payload string, sig []byte) string {
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload)) + "." + enc.EncodeToString(sig)
}

// payloadOf returns the decoded claims segment of a real token.
func payloadOf(t *testing.T, tok string) []byte {
	t.Helper()
	parts := strings.Split(tok, ".")
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// serverKey returns the kid and raw Ed25519 public key tokengate signs with.
func serverKey(t *testing.T, tg *tokengate) (string, ed25519.PublicKey) {
	t.Helper()
	resp, err := http.Get(tg.URL + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	pub, ok := set.Keys[0].Key.(ed25519.PublicKey)
	if !ok {
		t.Fatalf("server key is a %T", set.Keys[0].Key)
	}
	return set.Keys[0].KeyID, pub
}

// testKey is a signing key of the tests' own, served as a static key.
type testKey struct {
	kid  string
	priv ed25519.PrivateKey
}

func newTestKey(t *testing.T, kid string) *testKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &testKey{kid: kid, priv: priv}
}

// key is the public key, as a static key.
func (k *testKey) key() jwks.Key {
	return jwks.Key{ID: k.kid, Algorithm: "EdDSA", Public: k.priv.Public()}
}

func (k *testKey) jwk() jose.JSONWebKey {
	return jose.JSONWebKey{Key: k.priv.Public(), KeyID: k.kid, Algorithm: string(jose.EdDSA), Use: "sig"}
}

// mint signs claims with typ, as an issuer using this key would.
func (k *testKey) mint(t *testing.T, typ string, claims map[string]any) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: jose.JSONWebKey{Key: k.priv, KeyID: k.kid}},
		(&jose.SignerOptions{}).WithType(jose.ContentType(typ)))
	if err != nil {
		t.Fatal(err)
	}
	p, _ := json.Marshal(claims)
	jws, err := s.Sign(p)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRequireRejectsPerRFC6750(t *testing.T) {
	clk := newClock()
	tg := startTokengate(t, baseConfig, clk.Now)
	v := newVerifier(t, bearer.Config{Issuer: tg.URL, Audience: "api://orders", Realm: "orders", Now: clk.Now, Leeway: time.Second})
	at, rt := tg.login(t)
	kid, pub := serverKey(t, tg)
	payload := payloadOf(t, at)

	parts := strings.Split(at, ".")
	sig := []byte(parts[2])
	i := len(sig) / 2
	if sig[i] == 'A' {
		sig[i] = 'B'
	} else {
		sig[i] = 'A'
	}
	badSig := parts[0] + "." + parts[1] + "." + string(sig)

	algNone := craft(`{"alg":"none","typ":"at+jwt","kid":"`+kid+`"}`, string(payload), nil)
	// ES256 named on the kid of an Ed25519 key: a key verifies with its
	// own algorithm only.
	otherAlg := craft(`{"alg":"ES256","typ":"at+jwt","kid":"`+kid+`"}`, string(payload), make([]byte, 64))

	hs, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte(pub)},
		(&jose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", kid))
	if err != nil {
		t.Fatal(err)
	}
	hsJWS, err := hs.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	hmacWithPublicKey, _ := hsJWS.CompactSerialize()

	// The same claims signed by a key the issuer never published.
	rogue := newTestKey(t, kid)
	var claims map[string]any
	_ = json.Unmarshal(payload, &claims)
	rogueToken := rogue.mint(t, "at+jwt", claims)

	h := protected(v, "read")
	cases := []struct {
		name          string
		authorization string
		status        int
		challenge     string
		code          string
	}{
		{"no token", "", 401, `Bearer realm="orders"`, "unauthorized"},
		{"another scheme", "Basic YWxpY2U6YWxpY2UtcHc=", 401, `Bearer realm="orders"`, "unauthorized"},
		{"bearer without token", "Bearer ", 400, `Bearer realm="orders", error="invalid_request"`, "invalid_request"},
		{"bad signature", "Bearer " + badSig, 401, `Bearer realm="orders", error="invalid_token", error_description="the access token's signature is invalid"`, "invalid_token"},
		{"alg none", "Bearer " + algNone, 401, `Bearer realm="orders", error="invalid_token", error_description="the access token's algorithm is not accepted"`, "invalid_token"},
		{"algorithm of another key type", "Bearer " + otherAlg, 401, `Bearer realm="orders", error="invalid_token", error_description="the access token's algorithm is not accepted"`, "invalid_token"},
		{"HS256 keyed with the public key", "Bearer " + hmacWithPublicKey, 401, `Bearer realm="orders", error="invalid_token", error_description="the access token's algorithm is not accepted"`, "invalid_token"},
		{"signed by an unpublished key", "Bearer " + rogueToken, 401, `Bearer realm="orders", error="invalid_token", error_description="the access token's signature is invalid"`, "invalid_token"},
		{"opaque refresh token", "Bearer " + rt, 401, `Bearer realm="orders", error="invalid_token", error_description="the access token is malformed"`, "invalid_token"},
		{"garbage", "Bearer a.b.c", 401, `Bearer realm="orders", error="invalid_token", error_description="the access token is malformed"`, "invalid_token"},
		{"missing scope", "Bearer " + at, 403, `Bearer realm="orders", error="insufficient_scope", error_description="the access token lacks a scope this resource requires", scope="read admin"`, "insufficient_scope"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			hh := h
			if tc.code == "insufficient_scope" {
				hh = protected(v, "read", "admin")
			}
			rec := get(hh, tc.authorization)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			if got := rec.Header().Get("WWW-Authenticate"); !strings.HasPrefix(got, tc.challenge) {
				t.Fatalf("WWW-Authenticate %q, want prefix %q", got, tc.challenge)
			}
			body := errorBody(t, rec)
			if body["error"] != tc.code || body["error_description"] == "" {
				t.Fatalf("body %v, want error %q", body, tc.code)
			}
			if strings.Contains(rec.Body.String(), at) || strings.Contains(rec.Header().Get("WWW-Authenticate"), "eyJ") {
				t.Fatal("the refusal echoes the token")
			}
			if rec.Header().Get("Content-Type") != "application/json" {
				t.Fatalf("Content-Type %q", rec.Header().Get("Content-Type"))
			}
		})
	}

	// The good token passes (and is now cached) ...
	if rec := get(h, "Bearer "+at); rec.Code != http.StatusOK {
		t.Fatalf("valid token: %d %s", rec.Code, rec.Body)
	}
	// ... until it expires: the cache does not outlive exp + leeway.
	clk.Add(2*time.Second + time.Second)
	rec := get(h, "Bearer "+at)
	if rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Header().Get("WWW-Authenticate"), `error_description="the access token expired"`) {
		t.Fatalf("expired token: %d %q", rec.Code, rec.Header().Get("WWW-Authenticate"))
	}
}

func TestVerifyRejectsOtherIssuerAndAudience(t *testing.T) {
	tg := startTokengate(t, baseConfig, nil)
	at, _ := tg.login(t)
	jwks := tg.URL + "/.well-known/jwks.json"
	ctx := context.Background()

	other := newVerifier(t, bearer.Config{Issuer: "https://issuer.example", JWKSURL: jwks, Audience: "api://orders"})
	if _, err := other.Verify(ctx, at); !errors.Is(err, bearer.ErrIssuer) {
		t.Fatalf("other issuer: %v", err)
	}
	aud := newVerifier(t, bearer.Config{Issuer: tg.URL, Audience: "api://billing"})
	if _, err := aud.Verify(ctx, at); !errors.Is(err, bearer.ErrAudience) {
		t.Fatalf("other audience: %v", err)
	}
	// Control: the same token passes a verifier configured for it.
	ok := newVerifier(t, bearer.Config{Issuer: tg.URL, JWKSURL: jwks, Audience: "api://orders"})
	if _, err := ok.Verify(ctx, at); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyRejectsRefreshTokens(t *testing.T) {
	k := newTestKey(t, "k1")
	now := time.Now()
	v := newVerifier(t, bearer.Config{Issuer: "https://issuer.example", StaticKeys: []jwks.Key{k.key()}, SkipAudienceCheck: true})
	claims := func(use string) map[string]any {
		c := map[string]any{"iss": "https://issuer.example", "sub": "admin", "exp": now.Add(time.Hour).Unix(), "iat": now.Unix(), "jti": "x", "exi": 3600}
		if use != "" {
			c["usefor"] = use
		}
		return c
	}
	ctx := context.Background()
	cases := []struct {
		name string
		tok  string
		want error
	}{
		// datarhei-style refresh token: typ JWT, usefor refresh.
		{"typ JWT usefor refresh", k.mint(t, "JWT", claims("refresh")), bearer.ErrType},
		{"typ JWT without usefor", k.mint(t, "JWT", claims("")), bearer.ErrType},
		{"at+jwt usefor refresh", k.mint(t, "at+jwt", claims("refresh")), bearer.ErrUse},
		{"no typ", k.mint(t, "", claims("access")), bearer.ErrType},
		{"at+jwt usefor access", k.mint(t, "at+jwt", claims("access")), nil},
		{"application/at+jwt", k.mint(t, "application/at+jwt", claims("access")), nil},
		{"at+jwt without usefor", k.mint(t, "at+jwt", claims("")), nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := v.Verify(ctx, tc.tok)
			if !errors.Is(err, tc.want) || (err == nil && tc.want != nil) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if err == nil && c.Subject != "admin" {
				t.Fatalf("claims %+v", c)
			}
		})
	}
	// Through the middleware, a refresh token is invalid_token.
	rec := get(protected(v), "Bearer "+cases[0].tok)
	if rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Header().Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Fatalf("refresh token through middleware: %d %q", rec.Code, rec.Header().Get("WWW-Authenticate"))
	}
	// The use claim is configurable: another issuer's claim and value,
	// or none ("-"); the typ header is checked whatever it is.
	useTok := func(claim, val string) string {
		c := claims("")
		c[claim] = val
		return k.mint(t, "at+jwt", c)
	}
	other := newVerifier(t, bearer.Config{Issuer: "https://issuer.example", StaticKeys: []jwks.Key{k.key()}, SkipAudienceCheck: true, UseClaim: "token_use", UseValue: "access_token"})
	for _, tc := range []struct {
		tok  string
		want error
	}{
		{useTok("token_use", "id"), bearer.ErrUse},
		{useTok("token_use", "access_token"), nil},
		{useTok("usefor", "refresh"), nil}, // not this verifier's claim
		{k.mint(t, "JWT", claims("")), bearer.ErrType},
	} {
		if _, err := other.Verify(ctx, tc.tok); !errors.Is(err, tc.want) || (err == nil) != (tc.want == nil) {
			t.Errorf("UseClaim token_use: got %v, want %v", err, tc.want)
		}
	}
	off := newVerifier(t, bearer.Config{Issuer: "https://issuer.example", StaticKeys: []jwks.Key{k.key()}, SkipAudienceCheck: true, UseClaim: "-"})
	if _, err := off.Verify(ctx, useTok("usefor", "refresh")); err != nil {
		t.Errorf("UseClaim \"-\" still checks usefor: %v", err)
	}
}

func TestVerifyTimeChecks(t *testing.T) {
	k := newTestKey(t, "k1")
	clk := newClock()
	v := newVerifier(t, bearer.Config{StaticKeys: []jwks.Key{k.key()}, SkipIssuerCheck: true, SkipAudienceCheck: true, Leeway: 5 * time.Second, NotBeforeLeeway: 5 * time.Second, Now: clk.Now, CacheSize: -1})
	now := clk.Now()
	ctx := context.Background()
	mint := func(exp, nbf time.Time) string {
		return k.mint(t, "at+jwt", map[string]any{"iss": "x", "sub": "s", "exp": exp.Unix(), "nbf": nbf.Unix()})
	}
	cases := []struct {
		name string
		tok  string
		want error
	}{
		{"valid", mint(now.Add(time.Minute), now), nil},
		{"expired within leeway", mint(now.Add(-3*time.Second), now.Add(-time.Minute)), nil},
		{"expired beyond leeway", mint(now.Add(-6*time.Second), now.Add(-time.Minute)), bearer.ErrExpired},
		{"nbf within leeway", mint(now.Add(time.Minute), now.Add(3*time.Second)), nil},
		{"nbf in the future", mint(now.Add(time.Minute), now.Add(time.Minute)), bearer.ErrNotYetValid},
		{"no exp", k.mint(t, "at+jwt", map[string]any{"iss": "x"}), bearer.ErrMalformed},
		{"exp not a number", k.mint(t, "at+jwt", map[string]any{"exp": "soon"}), bearer.ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := v.Verify(ctx, tc.tok); !errors.Is(err, tc.want) || (err == nil) != (tc.want == nil) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestUnknownKidRotatedInIsFetchedOnce(t *testing.T) {
	clk := newClock()
	tg := startTokengate(t, baseConfig, clk.Now)
	v := newVerifier(t, bearer.Config{Issuer: tg.URL, Audience: "api://orders", MinRefetchInterval: time.Minute, Now: clk.Now, CacheSize: -1})
	const jwksPath = "GET /.well-known/jwks.json"
	ctx := context.Background()
	clk.Add(2 * time.Minute) // beyond MinRefetchInterval since the first fetch
	old, _ := tg.login(t)
	if _, err := v.Verify(ctx, old); err != nil {
		t.Fatal(err)
	}
	if n := tg.count(jwksPath); n != 1 {
		t.Fatalf("JWKS fetched %d times after start, want 1", n)
	}
	if _, err := tg.srv.Keys().Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := tg.srv.Keys().Reload(ctx); err != nil {
		t.Fatal(err)
	}
	fresh, _ := tg.login(t)
	if kidOf(t, fresh) == kidOf(t, old) {
		t.Fatal("rotation did not change the kid")
	}
	// 50 requests with the new kid at once: one fetch between them.
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for range 50 {
		wg.Go(func() {
			if _, err := v.Verify(ctx, fresh); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("token of the rotated-in key: %v", err)
	}
	if n := tg.count(jwksPath); n != 2 {
		t.Fatalf("JWKS fetched %d times, want 2 (start + one refetch)", n)
	}
	// The retired key still verifies its live tokens.
	if _, err := v.Verify(ctx, old); err != nil {
		t.Fatalf("token of the retired key: %v", err)
	}
	// Another unknown kid within the interval does not fetch again.
	bogus := newTestKey(t, "bogus").mint(t, "at+jwt", map[string]any{"iss": tg.URL, "exp": clk.Now().Add(time.Hour).Unix()})
	if _, err := v.Verify(ctx, bogus); !errors.Is(err, bearer.ErrUnknownKey) {
		t.Fatalf("bogus kid: %v", err)
	}
	if n := tg.count(jwksPath); n != 2 {
		t.Fatalf("unknown kid refetched within the interval: %d fetches", n)
	}
	// After the interval, an unknown kid may fetch again (once).
	clk.Add(2 * time.Minute)
	_, _ = v.Verify(ctx, bogus)
	_, _ = v.Verify(ctx, bogus)
	if n := tg.count(jwksPath); n != 3 {
		t.Fatalf("JWKS fetched %d times, want 3", n)
	}
}

func kidOf(t *testing.T, tok string) string {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		Kid string `json:"kid"`
	}
	_ = json.Unmarshal(b, &h)
	return h.Kid
}

func TestKeySetIsRefetchedWhenStale(t *testing.T) {
	clk := newClock()
	tg := startTokengate(t, baseConfig, clk.Now)
	v := newVerifier(t, bearer.Config{Issuer: tg.URL, Audience: "api://orders", KeyMaxAge: time.Hour, Now: clk.Now, CacheSize: -1})
	at, _ := tg.login(t)
	ctx := context.Background()
	if _, err := v.Verify(ctx, at); err != nil {
		t.Fatal(err)
	}
	clk.Add(61 * time.Minute)
	at, _ = tg.login(t)
	if _, err := tg.srv.Keys().Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := tg.srv.Keys().Reload(ctx); err != nil {
		t.Fatal(err)
	}
	at2, _ := tg.login(t)
	// The stale set starts a refetch in the background and verifies at
	// (of the old key) with the keys at hand; at2's new kid is then found in the refetched
	// set (joining the fetch if it is still running), with no fetch of its
	// own (MinRefetchInterval has not passed on the fake clock).
	if _, err := v.Verify(ctx, at); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(ctx, at2); err != nil {
		t.Fatal(err)
	}
	if n := tg.count("GET /.well-known/jwks.json"); n != 2 {
		t.Fatalf("JWKS fetched %d times, want 2", n)
	}
}

func TestIntrospectionSeesRevocation(t *testing.T) {
	clk := newClock()
	tg := startTokengate(t, baseConfig, clk.Now)
	introspect := tg.URL + "/oauth/introspect"
	for _, mode := range []struct {
		name string
		cfg  bearer.Config
	}{
		{"introspection only", bearer.Config{IntrospectionURL: introspect, ClientID: "rs", ClientSecret: "rs-secret", Audience: "api://orders", Now: clk.Now}},
		{"offline then introspection", bearer.Config{Issuer: tg.URL, Audience: "api://orders", IntrospectionURL: introspect, ClientID: "rs", ClientSecret: "rs-secret", Now: clk.Now}},
	} {
		t.Run(mode.name, func(t *testing.T) {
			v := newVerifier(t, mode.cfg)
			h := protected(v, "read")
			at, rt := tg.login(t)
			before := tg.count("POST /oauth/introspect")
			for range 3 {
				if rec := get(h, "Bearer "+at); rec.Code != http.StatusOK {
					t.Fatalf("active token: %d %s", rec.Code, rec.Body)
				}
			}
			if n := tg.count("POST /oauth/introspect") - before; n != 1 {
				t.Fatalf("%d introspections for 3 requests within the cache TTL, want 1", n)
			}
			if status, body := tg.post(t, "/oauth/revoke", "app", "app-secret", url.Values{"token": {at}}); status != http.StatusOK {
				t.Fatalf("revoke: %d %v", status, body)
			}
			clk.Add(bearer.DefaultIntrospectionCacheTTL)
			rec := get(h, "Bearer "+at)
			if rec.Code != http.StatusUnauthorized {
				t.Fatalf("revoked token: %d %s", rec.Code, rec.Body)
			}
			if rec := get(h, "Bearer "+rt); rec.Code != http.StatusUnauthorized {
				t.Fatalf("refresh token: %d %s", rec.Code, rec.Body)
			}
		})
	}
}

func TestNewVerifierRefusesBadConfigs(t *testing.T) {
	tg := startTokengate(t, baseConfig, nil)
	ctx := context.Background()
	hmacKey := jwks.Key{Public: make([]byte, 32), ID: "h", Algorithm: "HS256"}
	cases := []struct {
		name string
		cfg  bearer.Config
		want string
	}{
		{"nothing", bearer.Config{}, "give Issuer"},
		{"HMAC static key", bearer.Config{StaticKeys: []jwks.Key{hmacKey}, SkipIssuerCheck: true, SkipAudienceCheck: true}, "unsupported key type"},
		{"HS256 allowed", bearer.Config{Issuer: tg.URL, Audience: "api://orders", Algorithms: []string{"HS256"}}, "not accepted"},
		{"none allowed", bearer.Config{Issuer: tg.URL, Audience: "api://orders", Algorithms: []string{"none"}}, "not accepted"},
		{"issuer without metadata", bearer.Config{Issuer: tg.URL + "/tenant", Audience: "api://orders"}, "404"},
		{"metadata of another issuer", bearer.Config{Issuer: strings.Replace(tg.URL, "127.0.0.1", "localhost", 1), Audience: "api://orders"}, "names issuer"},
		{"introspection without client", bearer.Config{IntrospectionURL: tg.URL + "/oauth/introspect", Audience: "api://orders"}, "ClientID"},
		{"only disallowed keys", bearer.Config{Issuer: tg.URL, Audience: "api://orders", Algorithms: []string{"ES256"}}, "no usable signing key"},
		{"no audience", bearer.Config{Issuer: tg.URL}, "give Audience"},
		{"no issuer with a JWKS URL", bearer.Config{JWKSURL: tg.URL + "/.well-known/jwks.json", Audience: "api://orders"}, "give Issuer"},
		{"no issuer with static keys", bearer.Config{StaticKeys: []jwks.Key{newTestKey(t, "k").key()}, Audience: "api://orders"}, "give Issuer"},
		{"plain http JWKS", bearer.Config{Issuer: "https://issuer.example", JWKSURL: "http://issuer.example/jwks", Audience: "api://orders"}, "plain http"},
		{"plain http issuer", bearer.Config{Issuer: "http://issuer.example", Audience: "api://orders"}, "plain http"},
		{"plain http introspection", bearer.Config{IntrospectionURL: "http://issuer.example/introspect", ClientID: "rs", ClientSecret: "rs-secret", Audience: "api://orders"}, "plain http"},
		{"wrong introspection secret", bearer.Config{IntrospectionURL: tg.URL + "/oauth/introspect", ClientID: "rs", ClientSecret: "wrong", Audience: "api://orders"}, "HTTP 401"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := bearer.NewVerifier(ctx, tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestRequirePanicsOnInvalidScope(t *testing.T) {
	k := newTestKey(t, "k")
	v := newVerifier(t, bearer.Config{StaticKeys: []jwks.Key{k.key()}, SkipIssuerCheck: true, SkipAudienceCheck: true})
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	v.Require(`read"`)
}

// A handler behind Require sees the request otherwise unchanged.
func TestRequirePassesRequestThrough(t *testing.T) {
	k := newTestKey(t, "k")
	v := newVerifier(t, bearer.Config{StaticKeys: []jwks.Key{k.key()}, SkipIssuerCheck: true, SkipAudienceCheck: true})
	tok := k.mint(t, "at+jwt", map[string]any{"sub": "s", "scope": "a b", "exp": time.Now().Add(time.Hour).Unix()})
	var body string
	h := v.Require("b")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		body = string(b)
		w.WriteHeader(http.StatusTeapot)
	}))
	req := httptest.NewRequest(http.MethodPost, "/x", strings.NewReader("payload"))
	req.Header.Set("Authorization", "Bearer "+tok)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusTeapot || body != "payload" {
		t.Fatalf("%d %q", rec.Code, body)
	}
	req.Header.Add("Authorization", "Bearer "+tok)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusBadRequest {
		t.Fatalf("two Authorization headers: %d", rec.Code)
	}
}

func TestWithClaimsFeedsClaimsFrom(t *testing.T) {
	c := &bearer.Claims{Subject: "alice"}
	if got := bearer.ClaimsFrom(bearer.WithClaims(context.Background(), c)); got != c {
		t.Fatal("claims lost")
	}
	if bearer.ClaimsFrom(context.Background()) != nil {
		t.Fatal("claims from nowhere")
	}
}
