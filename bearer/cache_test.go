package bearer

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tokengate/tokengate/jwks"
)

// staticVerifier returns a verifier of one fresh Ed25519 key and a
// function minting access tokens with it.
func staticVerifier(tb testing.TB, cfg Config) (*Verifier, func(claims map[string]any) string) {
	tb.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	cfg.StaticKeys = []jwks.Key{{Public: pub, ID: "k1", Algorithm: "EdDSA"}}
	cfg.SkipIssuerCheck = cfg.Issuer == ""
	cfg.SkipAudienceCheck = cfg.Audience == ""
	v, err := NewVerifier(context.Background(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: jose.JSONWebKey{Key: priv, KeyID: "k1"}},
		(&jose.SignerOptions{}).WithType("at+jwt"))
	if err != nil {
		tb.Fatal(err)
	}
	mint := func(claims map[string]any) string {
		p, _ := json.Marshal(claims)
		jws, err := s.Sign(p)
		if err != nil {
			tb.Fatal(err)
		}
		out, _ := jws.CompactSerialize()
		return out
	}
	return v, mint
}

func TestCacheAnswersWithoutVerifyingAgain(t *testing.T) {
	now := time.Now()
	v, mint := staticVerifier(t, Config{Now: func() time.Time { return now }})
	tok := mint(map[string]any{"sub": "alice", "exp": now.Add(time.Minute).Unix()})
	ctx := context.Background()
	c1, err := v.Verify(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	// Accept no algorithm: only the cache can still accept the token.
	v.algs = []jose.SignatureAlgorithm{jose.RS256}
	c2, err := v.Verify(ctx, tok)
	if err != nil || c2.Subject != c1.Subject || c2 == c1 {
		t.Fatalf("cached verdict: %v (a copy of the same claims: %v)", err, c2 != c1 && c2.Subject == c1.Subject)
	}
	// The cache never outlives the token.
	now = now.Add(time.Minute + DefaultLeeway)
	if _, err := v.Verify(ctx, tok); !errors.Is(err, ErrAlgorithm) {
		t.Fatalf("after exp: %v", err)
	}
}

func TestCacheIsBounded(t *testing.T) {
	now := time.Now()
	c := newTokenCache(100)
	for i := range 1000 {
		k := hashToken(fmt.Sprint(i))
		c.put(&k, cacheEntry{until: now.Add(time.Hour).UnixNano()}, now)
		if c.len() > 100 {
			t.Fatalf("%d entries after %d inserts", c.len(), i+1)
		}
	}
	// Expired entries go first: fill with expired ones, then insert live
	// ones; each insert drops expired entries it finds.
	c = newTokenCache(100)
	for i := range 100 {
		k := hashToken(fmt.Sprint("old", i))
		c.put(&k, cacheEntry{until: now.Add(-time.Second).UnixNano()}, now)
	}
	for i := range 100 {
		k := hashToken(fmt.Sprint("new", i))
		c.put(&k, cacheEntry{until: now.Add(time.Hour).UnixNano()}, now)
	}
	live := 0
	for i := range 100 {
		k := hashToken(fmt.Sprint("new", i))
		if _, ok := c.get(&k, now); ok {
			live++
		}
	}
	if live != 100 {
		t.Fatalf("%d of 100 live entries survived inserting over expired ones", live)
	}
}

func TestRequireDoesNotCacheFailures(t *testing.T) {
	v, mint := staticVerifier(t, Config{})
	tok := mint(map[string]any{"exp": time.Now().Add(-time.Hour).Unix()})
	for range 3 {
		if _, err := v.Verify(context.Background(), tok); !errors.Is(err, ErrExpired) {
			t.Fatal(err)
		}
	}
	if n := v.cache.len(); n != 0 {
		t.Fatalf("%d cache entries for a rejected token", n)
	}
}

// nopWriter is a ResponseWriter that allocates nothing, so that the
// benchmark measures the middleware, not the recorder.
type nopWriter struct{ h http.Header }

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *nopWriter) WriteHeader(int)             {}

func benchToken(b *testing.B, cfg Config) (*Verifier, string) {
	v, mint := staticVerifier(b, cfg)
	now := time.Now()
	tok := mint(map[string]any{
		"iss": "https://tokengate.example", "sub": "alice", "aud": "api://orders", "client_id": "app",
		"scope": "read write", "jti": "0123456789abcdefghijkl", "iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	})
	return v, tok
}

// BenchmarkRequireCached is the steady state: a token seen before.
func BenchmarkRequireCached(b *testing.B) {
	v, tok := benchToken(b, Config{})
	h := v.Require("read")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ClaimsFrom(r.Context()) == nil {
			b.Fatal("no claims")
		}
	}))
	req := httptest.NewRequest(http.MethodGet, "/orders", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	w := &nopWriter{h: http.Header{}}
	h.ServeHTTP(w, req)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		h.ServeHTTP(w, req)
	}
}

// BenchmarkRequireCachedParallel is the steady state under concurrency.
func BenchmarkRequireCachedParallel(b *testing.B) {
	v, tok := benchToken(b, Config{})
	h := v.Require("read")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		req := httptest.NewRequest(http.MethodGet, "/orders", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		w := &nopWriter{h: http.Header{}}
		for pb.Next() {
			h.ServeHTTP(w, req)
		}
	})
}

// BenchmarkVerifyCached is Verify alone on a cached token.
func BenchmarkVerifyCached(b *testing.B) {
	v, tok := benchToken(b, Config{})
	ctx := context.Background()
	if _, err := v.Verify(ctx, tok); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := v.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyUncached is the full offline verification (Ed25519).
func BenchmarkVerifyUncached(b *testing.B) {
	v, tok := benchToken(b, Config{CacheSize: -1})
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := v.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}
