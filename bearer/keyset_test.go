package bearer_test

import (
	"context"
	"encoding/base64"
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

	"github.com/tokengate/tokengate/bearer"
	"github.com/tokengate/tokengate/jwks"
)

const testIssuer = "https://issuer.example"

// jwksServer is a hostile or broken JWKS endpoint: it serves the keys it
// is given, and can be made to hang until the test ends.
type jwksServer struct {
	*httptest.Server
	mu      sync.Mutex
	keys    []jose.JSONWebKey
	hang    bool
	fetches atomic.Int32
	release chan struct{}
}

func newJWKSServer(t *testing.T, keys ...jose.JSONWebKey) *jwksServer {
	t.Helper()
	s := &jwksServer{keys: keys, release: make(chan struct{})}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		s.mu.Lock()
		hang, keys := s.hang, s.keys
		s.mu.Unlock()
		if hang {
			<-s.release
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: keys})
	}))
	t.Cleanup(s.Close)
	t.Cleanup(func() { close(s.release) })
	return s
}

func (s *jwksServer) set(hang bool, keys ...jose.JSONWebKey) {
	s.mu.Lock()
	s.hang, s.keys = hang, keys
	s.mu.Unlock()
}

// claimsAt are the claims of a fresh access token at now.
func claimsAt(now time.Time, lifetime time.Duration) map[string]any {
	return map[string]any{"iss": testIssuer, "aud": "api://orders", "sub": "alice", "scope": "read",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(lifetime).Unix()}
}

// within fails the test unless f returns within d: a guard against a
// hang, not a measure of speed.
func within(t *testing.T, d time.Duration, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s: still waiting after %v", what, d)
	}
}

func TestHangingJWKSDoesNotStallVerification(t *testing.T) {
	clk := newClock()
	k1 := newTestKey(t, "k1")
	js := newJWKSServer(t, k1.jwk())
	v := newVerifier(t, bearer.Config{Issuer: testIssuer, JWKSURL: js.URL, Audience: "api://orders", KeyMaxAge: time.Hour,
		Now: clk.Now, HTTPClient: &http.Client{}})
	js.set(true, k1.jwk())
	clk.Add(2 * time.Hour) // the key set is stale: a refetch is due, and hangs
	tok := k1.mint(t, "at+jwt", claimsAt(clk.Now(), time.Minute))
	within(t, 5*time.Second, "known kid with a stale key set", func() {
		if _, err := v.Verify(context.Background(), tok); err != nil {
			t.Errorf("known kid: %v", err)
		}
	})
	// An unknown kid waits for the refetch, but only briefly.
	clk.Add(time.Minute)
	other := newTestKey(t, "k2").mint(t, "at+jwt", claimsAt(clk.Now(), time.Minute))
	within(t, 5*time.Second, "unknown kid with a hanging JWKS", func() {
		if _, err := v.Verify(context.Background(), other); !errors.Is(err, bearer.ErrUnknownKey) {
			t.Errorf("unknown kid: %v", err)
		}
	})
}

func TestWithdrawnKeyEndsCachedVerifications(t *testing.T) {
	clk := newClock()
	k1, k2 := newTestKey(t, "k1"), newTestKey(t, "k2")
	js := newJWKSServer(t, k1.jwk(), k2.jwk())
	v := newVerifier(t, bearer.Config{Issuer: testIssuer, JWKSURL: js.URL, Audience: "api://orders", Now: clk.Now, MinRefetchInterval: time.Second})
	ctx := context.Background()
	tok := k1.mint(t, "at+jwt", claimsAt(clk.Now(), time.Hour))
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatal(err)
	}
	// The issuer withdraws k1 (compromised); a token with an unknown kid
	// makes the verifier fetch the new set.
	js.set(false, k2.jwk())
	clk.Add(2 * time.Second)
	unknown := newTestKey(t, "k3").mint(t, "at+jwt", claimsAt(clk.Now(), time.Minute))
	if _, err := v.Verify(ctx, unknown); !errors.Is(err, bearer.ErrUnknownKey) {
		t.Fatalf("unknown kid: %v", err)
	}
	if n := js.fetches.Load(); n != 2 {
		t.Fatalf("%d fetches, want 2", n)
	}
	if _, err := v.Verify(ctx, tok); !errors.Is(err, bearer.ErrUnknownKey) {
		t.Fatalf("token of a withdrawn key, verified before: %v", err)
	}
	// k2's tokens still verify.
	if _, err := v.Verify(ctx, k2.mint(t, "at+jwt", claimsAt(clk.Now(), time.Minute))); err != nil {
		t.Fatal(err)
	}
}

func TestTokenLifetimeHasACeiling(t *testing.T) {
	clk := newClock()
	k := newTestKey(t, "k1")
	v := newVerifier(t, bearer.Config{Issuer: testIssuer, StaticKeys: []jwks.Key{k.key()}, Audience: "api://orders", Now: clk.Now, MaxTokenLifetime: 24 * time.Hour})
	ctx := context.Background()
	long := k.mint(t, "at+jwt", claimsAt(clk.Now(), 10*365*24*time.Hour))
	if _, err := v.Verify(ctx, long); !errors.Is(err, bearer.ErrLifetime) {
		t.Fatalf("a 10-year token: %v", err)
	}
	noIat := claimsAt(clk.Now(), 48*time.Hour)
	delete(noIat, "iat")
	delete(noIat, "nbf")
	if _, err := v.Verify(ctx, k.mint(t, "at+jwt", noIat)); !errors.Is(err, bearer.ErrLifetime) {
		t.Fatalf("a token without iat valid for 48 h: %v", err)
	}
	if _, err := v.Verify(ctx, k.mint(t, "at+jwt", claimsAt(clk.Now(), 24*time.Hour))); err != nil {
		t.Fatalf("a token of the maximum lifetime: %v", err)
	}
	// The default ceiling refuses a 10-year token too.
	d := newVerifier(t, bearer.Config{Issuer: testIssuer, StaticKeys: []jwks.Key{k.key()}, Audience: "api://orders", Now: clk.Now})
	if _, err := d.Verify(ctx, long); !errors.Is(err, bearer.ErrLifetime) {
		t.Fatalf("a 10-year token with the default ceiling: %v", err)
	}
}

func TestNonCanonicalBase64IsRefused(t *testing.T) {
	clk := newClock()
	k := newTestKey(t, "k1")
	v := newVerifier(t, bearer.Config{Issuer: testIssuer, StaticKeys: []jwks.Key{k.key()}, Audience: "api://orders", Now: clk.Now})
	tok := k.mint(t, "at+jwt", claimsAt(clk.Now(), time.Minute))
	ctx := context.Background()
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(tok, ".")
	loose := base64.RawURLEncoding
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	spellings := 0
	for seg := range parts {
		want, _ := loose.DecodeString(parts[seg])
		last := len(parts[seg]) - 1
		for _, ch := range alphabet {
			alt := parts[seg][:last] + string(ch)
			if alt == parts[seg] {
				continue
			}
			if got, err := loose.DecodeString(alt); err != nil || string(got) != string(want) {
				continue // another value, not another spelling
			}
			spellings++
			p := append([]string(nil), parts...)
			p[seg] = alt
			if _, err := v.Verify(ctx, strings.Join(p, ".")); !errors.Is(err, bearer.ErrMalformed) {
				t.Fatalf("segment %d spelled %q: %v, want ErrMalformed", seg, alt[last:], err)
			}
		}
	}
	if spellings == 0 {
		t.Fatal("no other spelling tried")
	}
}

func TestDuplicateKidsAreRefused(t *testing.T) {
	a, b := newTestKey(t, "same"), newTestKey(t, "same")
	js := newJWKSServer(t, a.jwk(), b.jwk())
	_, err := bearer.NewVerifier(context.Background(), bearer.Config{Issuer: testIssuer, JWKSURL: js.URL, Audience: "api://orders"})
	if err == nil || !strings.Contains(err.Error(), "twice") {
		t.Fatalf("a JWKS with a kid twice: %v", err)
	}
}

func TestSkewedResourceServerAcceptsFreshTokens(t *testing.T) {
	clk := newClock()
	k := newTestKey(t, "k1")
	v := newVerifier(t, bearer.Config{Issuer: testIssuer, StaticKeys: []jwks.Key{k.key()}, Audience: "api://orders", Now: clk.Now})
	ctx := context.Background()
	// The issuer's clock is 2 minutes ahead of this server's.
	fresh := k.mint(t, "at+jwt", claimsAt(clk.Now().Add(2*time.Minute), 15*time.Minute))
	if _, err := v.Verify(ctx, fresh); err != nil {
		t.Fatalf("a fresh token from an issuer 2 minutes ahead: %v", err)
	}
	// Beyond the documented leeway it is refused.
	future := k.mint(t, "at+jwt", claimsAt(clk.Now().Add(bearer.DefaultNotBeforeLeeway+time.Minute), 15*time.Minute))
	if _, err := v.Verify(ctx, future); !errors.Is(err, bearer.ErrNotYetValid) {
		t.Fatalf("a token from %v ahead: %v", bearer.DefaultNotBeforeLeeway+time.Minute, err)
	}
}

func TestHandlersGetTheirOwnClaims(t *testing.T) {
	clk := newClock()
	k := newTestKey(t, "k1")
	v := newVerifier(t, bearer.Config{Issuer: testIssuer, StaticKeys: []jwks.Key{k.key()}, Audience: "api://orders", Now: clk.Now})
	tok := k.mint(t, "at+jwt", claimsAt(clk.Now(), time.Minute))
	meddler := v.Require("read")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := bearer.ClaimsFrom(r.Context())
		c.Scopes = append(c.Scopes[:1], "write")
		c.Scopes[0] = "admin"
		c.Audience[0] = "api://other"
	}))
	get(meddler, "Bearer "+tok)
	if rec := get(protected(v, "write"), "Bearer "+tok); rec.Code != http.StatusForbidden {
		t.Fatalf("a handler's change to the claims reached the next request: %d %s", rec.Code, rec.Body)
	}
	if rec := get(protected(v, "read"), "Bearer "+tok); rec.Code != http.StatusOK {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
}

// A stale key set is refetched in the background: the token that finds
// it stale verifies with the keys at hand, and the key the issuer
// withdrew meanwhile stops verifying once the fetch is done.
func TestStaleKeySetIsRefetchedInTheBackground(t *testing.T) {
	clk := newClock()
	k1, k2 := newTestKey(t, "k1"), newTestKey(t, "k2")
	js := newJWKSServer(t, k1.jwk(), k2.jwk())
	v := newVerifier(t, bearer.Config{Issuer: testIssuer, JWKSURL: js.URL, Audience: "api://orders", KeyMaxAge: time.Hour, Now: clk.Now, CacheSize: -1})
	ctx := context.Background()
	js.set(false, k2.jwk())
	clk.Add(61 * time.Minute)
	tok := k1.mint(t, "at+jwt", claimsAt(clk.Now(), time.Minute))
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatalf("the stale set's key: %v", err)
	}
	// An unknown kid joins the fetch in flight (or finds it done, and is
	// rate-limited): either way the fetch is over when it returns.
	if _, err := v.Verify(ctx, newTestKey(t, "k3").mint(t, "at+jwt", claimsAt(clk.Now(), time.Minute))); !errors.Is(err, bearer.ErrUnknownKey) {
		t.Fatal(err)
	}
	if _, err := v.Verify(ctx, tok); !errors.Is(err, bearer.ErrUnknownKey) {
		t.Fatalf("the withdrawn key after the refetch: %v", err)
	}
	if n := js.fetches.Load(); n != 2 {
		t.Fatalf("%d fetches, want 2 (start, stale)", n)
	}
}
