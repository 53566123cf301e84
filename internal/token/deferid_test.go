package token

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokengate/tokengate/internal/store"
)

// TestDeferredIDTokenKey: with DeferIDTokenKey, Init on an empty store
// makes only the default key (a first start does not wait for RSA key
// generation); discovery still names RS256; an ID token asked for
// meanwhile waits for EnsureIDTokenKey and is signed by the new key,
// never by the default one; racing nodes end up with one ID token key.
func TestDeferredIDTokenKey(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	ks := &fakeKeys{}
	opts := Options{IDTokenAlgorithm: AlgRS256, DeferIDTokenKey: true}
	a := newManager(t, ks, clk, opts)
	b := newManager(t, ks, clk, opts)
	if a.ActiveKeyID() == "" || a.IDTokenKeyID() != "" || ks.len() != 1 {
		t.Fatalf("after a deferred Init: default %q, ID token %q, %d stored keys; want only the default key", a.ActiveKeyID(), a.IDTokenKeyID(), ks.len())
	}
	if algs := a.IDTokenAlgorithms(); len(algs) == 0 || algs[0] != AlgRS256 {
		t.Fatalf("IDTokenAlgorithms while the key is pending = %v, want RS256 first", algs)
	}

	type signed struct {
		raw, alg string
		err      error
	}
	done := make(chan signed, 1)
	go func() {
		raw, alg, err := a.SignIDToken(idClaims(clk.now()), "", "")
		done <- signed{raw, alg, err}
	}()
	select {
	case s := <-done:
		t.Fatalf("SignIDToken returned before the ID token key exists: %q %s %v", s.raw, s.alg, s.err)
	case <-time.After(50 * time.Millisecond):
	}

	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, m := range []*Manager{a, b} {
		wg.Go(func() { errs[i] = m.EnsureIDTokenKey(ctx) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("EnsureIDTokenKey: %v", err)
	}
	if ks.len() != 2 {
		t.Fatalf("two nodes ensuring the ID token key stored %d keys, want 2 (one default, one ID token)", ks.len())
	}
	if err := b.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if a.IDTokenKeyID() == "" || a.IDTokenKeyID() != b.IDTokenKeyID() {
		t.Fatalf("ID token keys %q and %q, want one shared key", a.IDTokenKeyID(), b.IDTokenKeyID())
	}
	s := <-done
	if s.err != nil || s.alg != AlgRS256 || headerKid(t, s.raw) != a.IDTokenKeyID() {
		t.Fatalf("the waiting SignIDToken: %v, alg %s, kid %q; want RS256 by %q", s.err, s.alg, headerKid(t, s.raw), a.IDTokenKeyID())
	}
	if _, ok := jwksAlgs(t, a)[a.IDTokenKeyID()]; !ok {
		t.Fatal("the ID token key is not published")
	}
	if err := a.EnsureIDTokenKey(ctx); err != nil || ks.len() != 2 {
		t.Fatalf("a second EnsureIDTokenKey: %v, %d keys", err, ks.len())
	}
	// A restart loads the key: nothing is deferred any more.
	c := newManager(t, ks, clk, opts)
	if c.IDTokenKeyID() != a.IDTokenKeyID() {
		t.Fatalf("restart: ID token key %q, want %q", c.IDTokenKeyID(), a.IDTokenKeyID())
	}
}

// TestDeferredIDTokenKeyWaitIsBounded: an ID token asked for while the
// key is never made fails with ErrNoIDTokenKey after the wait, rather than
// falling back to the default key or hanging.
func TestDeferredIDTokenKeyWaitIsBounded(t *testing.T) {
	clk := newClock()
	m := newManager(t, &fakeKeys{}, clk, Options{IDTokenAlgorithm: AlgRS256, DeferIDTokenKey: true})
	m.idKeyWait = 20 * time.Millisecond
	if _, _, err := m.SignIDToken(idClaims(clk.now()), "", ""); !errors.Is(err, ErrNoIDTokenKey) {
		t.Fatalf("SignIDToken with no ID token key: %v, want ErrNoIDTokenKey", err)
	}
	// The default key's algorithm, asked for by name, still signs.
	if _, alg, err := m.SignIDToken(idClaims(clk.now()), AlgEdDSA, ""); err != nil || alg != AlgEdDSA {
		t.Fatalf("SignIDToken(EdDSA): %s %v", alg, err)
	}
}

// failingAdds is a key store whose AddSigningKey fails while fail is set.
type failingAdds struct {
	*fakeKeys
	fail bool
}

func (f *failingAdds) AddSigningKey(ctx context.Context, k store.SigningKey, expect string, until time.Time) error {
	if f.fail {
		return errors.New("disk full")
	}
	return f.fakeKeys.AddSigningKey(ctx, k, expect, until)
}

// TestDeferredIDTokenKeyAfterAStoreFailure: when storing the ID token key
// fails, EnsureIDTokenKey says so, nothing is half made (no key loaded,
// none stored), ID tokens are refused rather than signed by the default
// key, and the next attempt (the server retries at each key reload)
// makes it.
func TestDeferredIDTokenKeyAfterAStoreFailure(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	ks := &failingAdds{fakeKeys: &fakeKeys{}}
	m := newManager(t, ks, clk, Options{IDTokenAlgorithm: AlgRS256, DeferIDTokenKey: true})
	m.idKeyWait = 20 * time.Millisecond
	ks.fail = true
	if err := m.EnsureIDTokenKey(ctx); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("EnsureIDTokenKey with the store failing: %v", err)
	}
	if m.IDTokenKeyID() != "" || ks.len() != 1 {
		t.Fatalf("after a failed attempt: loaded %q, %d stored keys", m.IDTokenKeyID(), ks.len())
	}
	if _, _, err := m.SignIDToken(idClaims(clk.now()), "", ""); !errors.Is(err, ErrNoIDTokenKey) {
		t.Fatalf("SignIDToken after a failed attempt: %v, want ErrNoIDTokenKey", err)
	}
	ks.fail = false
	if err := m.EnsureIDTokenKey(ctx); err != nil || m.IDTokenKeyID() == "" || ks.len() != 2 {
		t.Fatalf("retry: %v, loaded %q, %d stored keys", err, m.IDTokenKeyID(), ks.len())
	}
}
