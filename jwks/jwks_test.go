package jwks_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tokengate/tokengate/jwks"
)

// clock is a fake clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newClock() *clock { return &clock{t: time.Unix(1_800_000_000, 0)} }

func newKey(t *testing.T, kid string) jose.JSONWebKey {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return jose.JSONWebKey{Key: pub, KeyID: kid, Algorithm: "EdDSA", Use: "sig"}
}

// idp serves metadata at the given paths and a JWKS at /jwks, counts
// requests by path, and can hang the JWKS until released.
type idp struct {
	*httptest.Server
	mu       sync.Mutex
	keys     []jose.JSONWebKey
	body     []byte // served instead of keys when set
	ctype    string
	hang     chan struct{}
	paths    []string
	fetches  atomic.Int32
	metaPath map[string]bool
}

func newIdP(t *testing.T, metaPaths ...string) *idp {
	t.Helper()
	p := &idp{metaPath: map[string]bool{}, ctype: "application/json"}
	for _, m := range metaPaths {
		p.metaPath[m] = true
	}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.paths = append(p.paths, r.URL.Path)
		keys, body, ctype, hang := p.keys, p.body, p.ctype, p.hang
		p.mu.Unlock()
		switch {
		case r.URL.Path == "/jwks":
			p.fetches.Add(1)
			if hang != nil {
				select {
				case <-hang:
				case <-r.Context().Done():
				}
				return
			}
			w.Header().Set("Content-Type", ctype)
			if body != nil {
				w.Write(body)
				return
			}
			json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: keys})
		case p.metaPath[r.URL.Path]:
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(map[string]string{"issuer": p.issuer(), "jwks_uri": p.URL + "/jwks"})
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(p.Close)
	return p
}

func (p *idp) issuer() string { return p.URL + "/tenant" }

func (p *idp) set(keys ...jose.JSONWebKey) {
	p.mu.Lock()
	p.keys, p.body = keys, nil
	p.mu.Unlock()
}

func (p *idp) requested() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.paths...)
}

func (p *idp) newSet(t *testing.T, o jwks.Options) *jwks.KeySet {
	t.Helper()
	if o.Issuer == "" {
		o.URL = p.URL + "/jwks"
	}
	ks, err := jwks.NewRemote(o)
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

func TestDiscoveryTriesOpenIDConnectThenRFC8414(t *testing.T) {
	ctx := context.Background()
	t.Run("RFC 8414 only", func(t *testing.T) {
		p := newIdP(t, "/.well-known/oauth-authorization-server/tenant")
		p.set(newKey(t, "k1"))
		ks := p.newSet(t, jwks.Options{Issuer: p.issuer()})
		if err := ks.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		want := []string{"/tenant/.well-known/openid-configuration", "/.well-known/oauth-authorization-server/tenant", "/jwks"}
		if got := p.requested(); strings.Join(got, " ") != strings.Join(want, " ") {
			t.Fatalf("requests %v, want %v", got, want)
		}
	})
	t.Run("OpenID Connect", func(t *testing.T) {
		p := newIdP(t, "/tenant/.well-known/openid-configuration")
		p.set(newKey(t, "k1"))
		ks := p.newSet(t, jwks.Options{Issuer: p.issuer()})
		if _, err := ks.Keys(ctx, "k1", "EdDSA"); err != nil {
			t.Fatal(err)
		}
		if got := p.requested(); len(got) != 2 {
			t.Fatalf("requests %v, want discovery then JWKS", got)
		}
	})
	t.Run("no document", func(t *testing.T) {
		p := newIdP(t)
		err := p.newSet(t, jwks.Options{Issuer: p.issuer()}).Refresh(ctx)
		if err == nil || !strings.Contains(err.Error(), "no discovery document") || !strings.Contains(err.Error(), "404") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("another issuer's document", func(t *testing.T) {
		p := newIdP(t, "/tenant/.well-known/openid-configuration")
		err := p.newSet(t, jwks.Options{Issuer: p.issuer() + "/"}).Refresh(ctx)
		if err == nil || !strings.Contains(err.Error(), "names issuer") {
			t.Fatalf("got %v", err)
		}
	})
}

func TestUnknownKidRefetchesAtMostOncePerInterval(t *testing.T) {
	clk := newClock()
	p := newIdP(t)
	p.set(newKey(t, "k1"))
	ks := p.newSet(t, jwks.Options{MinRefetchInterval: time.Minute, Now: clk.Now})
	ctx := context.Background()
	if err := ks.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	burst := func(want error) {
		var wg sync.WaitGroup
		for range 20 {
			wg.Go(func() {
				if _, err := ks.Keys(ctx, "k2", "EdDSA"); !errors.Is(err, want) && !(want == nil && err == nil) {
					t.Errorf("k2: %v, want %v", err, want)
				}
			})
		}
		wg.Wait()
	}
	burst(jwks.ErrUnknownKey) // within the interval of the first fetch
	if n := p.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches within the interval, want 1", n)
	}
	p.set(newKey(t, "k1"), newKey(t, "k2"))
	clk.Add(time.Minute)
	burst(nil)
	if n := p.fetches.Load(); n != 2 {
		t.Fatalf("20 concurrent look-ups of a new kid made %d fetches, want 1 more", n-1)
	}
	if _, err := ks.Keys(ctx, "k2", "ES256"); !errors.Is(err, jwks.ErrAlgorithm) {
		t.Fatalf("another algorithm on k2's kid: %v", err)
	}
}

func TestStaleSetIsRefreshedInTheBackground(t *testing.T) {
	clk := newClock()
	p := newIdP(t)
	k1, k2 := newKey(t, "k1"), newKey(t, "k2")
	p.set(k1, k2)
	ks := p.newSet(t, jwks.Options{MaxAge: time.Hour, Now: clk.Now, HTTPClient: &http.Client{}})
	ctx := context.Background()
	if err := ks.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := ks.Keys(ctx, "k1", "EdDSA")
	if err != nil {
		t.Fatal(err)
	}
	k1Key := got[0]
	// The JWKS hangs, and the set goes stale: the keys at hand serve at
	// once while the fetch runs.
	release := make(chan struct{})
	p.mu.Lock()
	p.hang = release
	p.mu.Unlock()
	clk.Add(2 * time.Hour)
	done := make(chan error)
	go func() {
		_, err := ks.Keys(ctx, "k1", "EdDSA")
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a stale set waited for its hanging refresh")
	}
	// The issuer withdraws k1; once the fetch is done k1 has left.
	p.mu.Lock()
	p.hang = nil
	p.keys = []jose.JSONWebKey{k2}
	p.mu.Unlock()
	close(release) // the hanging fetch fails
	// Refresh may join that failing fetch; a second one then fetches anew.
	if err := ks.Refresh(ctx); err != nil {
		if err := ks.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if ks.Has(ctx, k1Key) {
		t.Fatal("a withdrawn key is still in the set")
	}
	if _, err := ks.Keys(ctx, "k1", "EdDSA"); !errors.Is(err, jwks.ErrUnknownKey) {
		t.Fatalf("withdrawn k1: %v", err)
	}
}

func TestStaleWaitWaitsForTheRefresh(t *testing.T) {
	clk := newClock()
	p := newIdP(t)
	k1, k2 := newKey(t, "k1"), newKey(t, "k2")
	p.set(k1, k2)
	ks := p.newSet(t, jwks.Options{MaxAge: time.Hour, StaleWait: 5 * time.Second, Now: clk.Now})
	ctx := context.Background()
	if _, err := ks.Keys(ctx, "k1", "EdDSA"); err != nil {
		t.Fatal(err)
	}
	p.set(k2)
	clk.Add(61 * time.Minute)
	if _, err := ks.Keys(ctx, "k1", "EdDSA"); !errors.Is(err, jwks.ErrUnknownKey) {
		t.Fatalf("a key withdrawn before the set went stale: %v", err)
	}
	if n := p.fetches.Load(); n != 2 {
		t.Fatalf("%d fetches, want 2", n)
	}
}

func TestFailedFetchIsUnavailableAndRetriedAfterABackOff(t *testing.T) {
	clk := newClock()
	p := newIdP(t)
	p.mu.Lock()
	p.body, p.ctype = []byte("<html>down</html>"), "text/html"
	p.mu.Unlock()
	var reported atomic.Int32
	ks := p.newSet(t, jwks.Options{MinRefetchInterval: time.Minute, Now: clk.Now, OnFetchError: func(error) { reported.Add(1) }})
	ctx := context.Background()
	for range 5 {
		if _, err := ks.Keys(ctx, "k1", "EdDSA"); !errors.Is(err, jwks.ErrUnavailable) || !strings.Contains(err.Error(), "not JSON") {
			t.Fatalf("got %v", err)
		}
	}
	if n := p.fetches.Load(); n != 1 || reported.Load() != 1 {
		t.Fatalf("%d fetches, %d reported, want 1 each", n, reported.Load())
	}
	p.set(newKey(t, "k1"))
	p.mu.Lock()
	p.ctype = "application/json"
	p.mu.Unlock()
	clk.Add(5 * time.Second)
	if _, err := ks.Keys(ctx, "k1", "EdDSA"); err != nil {
		t.Fatal(err)
	}
}

func TestLimits(t *testing.T) {
	ctx := context.Background()
	t.Run("document size", func(t *testing.T) {
		p := newIdP(t)
		p.mu.Lock()
		p.body = []byte(`{"keys":[],"pad":"` + strings.Repeat("x", jwks.MaxDocumentSize) + `"}`)
		p.mu.Unlock()
		if err := p.newSet(t, jwks.Options{}).Refresh(ctx); err == nil || !strings.Contains(err.Error(), "larger than") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("fetch time", func(t *testing.T) {
		p := newIdP(t)
		p.mu.Lock()
		p.hang = make(chan struct{})
		p.mu.Unlock()
		ks := p.newSet(t, jwks.Options{FetchTimeout: 100 * time.Millisecond, HTTPClient: &http.Client{}})
		start := time.Now()
		if err := ks.Refresh(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got %v", err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Fatalf("a hanging JWKS took %v with a 100ms timeout", d)
		}
	})
	t.Run("duplicate kids", func(t *testing.T) {
		p := newIdP(t)
		p.set(newKey(t, "k1"))
		clk := newClock()
		ks := p.newSet(t, jwks.Options{Now: clk.Now})
		if err := ks.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		p.set(newKey(t, "k1"), newKey(t, "k2"), newKey(t, "k2"))
		if err := ks.Refresh(ctx); err == nil || !strings.Contains(err.Error(), "twice") {
			t.Fatalf("a JWKS with a kid twice: %v", err)
		}
		if _, err := ks.Keys(ctx, "k1", "EdDSA"); err != nil {
			t.Fatalf("the previous set is no longer in use: %v", err)
		}
	})
}

func TestPlainHTTPOnlyOnLoopback(t *testing.T) {
	for _, u := range []string{"http://idp.example.com/jwks", "ftp://127.0.0.1/jwks", "/jwks"} {
		if _, err := jwks.NewRemote(jwks.Options{URL: u}); err == nil {
			t.Errorf("%s accepted", u)
		}
	}
	for _, u := range []string{"https://idp.example.com/jwks", "http://127.0.0.1:9/jwks", "http://[::1]:9/jwks", "http://localhost:9/jwks"} {
		if _, err := jwks.NewRemote(jwks.Options{URL: u}); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
	// A redirect to plain http elsewhere is not followed.
	rd := httptest.NewServer(http.RedirectHandler("http://idp.example.com/jwks", http.StatusFound))
	defer rd.Close()
	ks, err := jwks.NewRemote(jwks.Options{URL: rd.URL})
	if err != nil {
		t.Fatal(err)
	}
	if err := ks.Refresh(context.Background()); err == nil || !strings.Contains(err.Error(), "plain http") {
		t.Fatalf("redirect to plain http: %v", err)
	}
}

func TestStaticKeys(t *testing.T) {
	k := newKey(t, "k1")
	noKID := newKey(t, "")
	ks, err := jwks.NewStatic([]jwks.Key{{ID: "k1", Public: k.Key}, {Public: noKID.Key}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if got, err := ks.Keys(ctx, "k1", "EdDSA"); err != nil || got[0].Algorithm != "EdDSA" {
		t.Fatalf("k1: %v %v", got, err)
	}
	// A token without kid may be verified by any key of its algorithm.
	if got, err := ks.Keys(ctx, "", "EdDSA"); err != nil || len(got) != 2 {
		t.Fatalf("no kid: %d keys, %v", len(got), err)
	}
	for name, keys := range map[string][]jwks.Key{
		"HMAC":          {{ID: "h", Algorithm: "HS256", Public: make([]byte, 32)}},
		"wrong alg":     {{ID: "k1", Algorithm: "RS256", Public: k.Key}},
		"duplicate kid": {{ID: "k1", Public: k.Key}, {ID: "k1", Public: noKID.Key}},
		"none":          nil,
	} {
		if _, err := jwks.NewStatic(keys, nil); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
	if _, err := jwks.NewStatic([]jwks.Key{{Public: k.Key}}, []string{"HS256"}); err == nil {
		t.Error("HS256 allowed")
	}
}

func TestVerifySignature(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	ks, err := jwks.NewStatic([]jwks.Key{{ID: "k1", Public: pub}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	sign := func(key ed25519.PrivateKey, kid string) string {
		s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: jose.JSONWebKey{Key: key, KeyID: kid}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		jws, _ := s.Sign([]byte(`{"sub":"alice"}`))
		out, _ := jws.CompactSerialize()
		return out
	}
	ctx := context.Background()
	if p, err := ks.VerifySignature(ctx, sign(priv, "k1")); err != nil || string(p) != `{"sub":"alice"}` {
		t.Fatalf("%s %v", p, err)
	}
	if _, err := ks.VerifySignature(ctx, sign(other, "k1")); !errors.Is(err, jwks.ErrSignature) {
		t.Fatalf("another key's signature: %v", err)
	}
	if _, err := ks.VerifySignature(ctx, sign(priv, "k2")); !errors.Is(err, jwks.ErrUnknownKey) {
		t.Fatalf("unknown kid: %v", err)
	}
	none := "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9."
	if _, err := ks.VerifySignature(ctx, none); err == nil {
		t.Fatal("alg none accepted")
	}
}

func TestUnusableKeysAreSkipped(t *testing.T) {
	p := newIdP(t)
	good, _ := json.Marshal(newKey(t, "good"))
	enc := newKey(t, "enc")
	enc.Use = "enc"
	encJSON, _ := json.Marshal(enc)
	odd := `{"kty":"OKP","crv":"X448","kid":"odd","x":"AAAA"}`
	hmac := `{"kty":"oct","kid":"h","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"}`
	p.mu.Lock()
	p.body = []byte(`{"keys":[` + string(good) + `,` + string(encJSON) + `,` + odd + `,` + hmac + `]}`)
	p.mu.Unlock()
	ks := p.newSet(t, jwks.Options{})
	ctx := context.Background()
	if _, err := ks.Keys(ctx, "good", "EdDSA"); err != nil {
		t.Fatalf("the usable key: %v", err)
	}
	for _, kid := range []string{"enc", "odd", "h"} {
		if _, err := ks.Keys(ctx, kid, "EdDSA"); !errors.Is(err, jwks.ErrUnknownKey) {
			t.Errorf("%s: %v", kid, err)
		}
	}
	p.mu.Lock()
	p.body = []byte(`{"keys":[` + string(encJSON) + `,` + hmac + `]}`)
	p.mu.Unlock()
	if err := ks.Refresh(ctx); err == nil || !strings.Contains(err.Error(), "no usable signing key") || !strings.Contains(err.Error(), `use "enc"`) {
		t.Fatalf("a set of unusable keys: %v", err)
	}
}
