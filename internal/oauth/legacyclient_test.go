package oauth

import (
	"context"
	"crypto/rand"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokengate/tokengate/internal/secret"
	"github.com/tokengate/tokengate/internal/store"
	"github.com/tokengate/tokengate/internal/store/memory"
)

// legacyClientVectors are imported client secret hashes in the formats
// Laravel Passport (bcrypt) and Django OAuth Toolkit 2.x (Django's
// hashers) store, from internal/secret/testdata (each cited there).
func legacyClientVectors(t *testing.T) []foreignVector {
	t.Helper()
	var out []foreignVector
	for _, v := range oneVectorPerFormat(t) {
		switch v.Format {
		case "bcrypt", "php-PASSWORD_BCRYPT", "django-pbkdf2_sha256", "django-bcrypt_sha256":
			out = append(out, v)
		}
	}
	if len(out) != 4 {
		t.Fatalf("found %d of 4 vectors", len(out))
	}
	return out
}

func isInvalidClient(err error) bool {
	var oe *Error
	return errors.As(err, &oe) && oe.Code == CodeInvalidClient
}

func hasCode(err error, code string) bool {
	var oe *Error
	return errors.As(err, &oe) && oe.Code == code
}

// TestLegacyClientSecretUpgradedAtFirstAuthentication: a client imported
// with a bcrypt or Django hash refuses a wrong secret (the hash stays),
// accepts the right one, and then holds the secret's SHA-256 only (the
// legacy hash is gone); the next authentication is a SHA-256 comparison.
func TestLegacyClientSecretUpgradedAtFirstAuthentication(t *testing.T) {
	ctx := context.Background()
	for _, v := range legacyClientVectors(t) {
		t.Run(v.Format, func(t *testing.T) {
			st := memory.New()
			fx := newCoreFixture(t, st)
			if err := st.CreateClient(ctx, store.Client{ID: "old", LegacySecretHash: v.Hash, Grants: []string{GrantClientCredentials}, CreatedAt: fx.now}); err != nil {
				t.Fatal(err)
			}
			if _, err := fx.svc.AuthenticateClient(ctx, "old", v.Password+"!", "", nil); !isInvalidClient(err) {
				t.Fatalf("wrong secret: %v", err)
			}
			if c, _ := st.GetClient(ctx, "old"); c.LegacySecretHash != v.Hash || c.SecretHash != nil {
				t.Fatal("a failed authentication changed the stored hash")
			}
			if _, err := fx.svc.Token(ctx, &TokenRequest{GrantType: GrantClientCredentials, ClientID: "old", ClientSecret: v.Password}, &Profile{}); err != nil {
				t.Fatalf("right secret: %v", err)
			}
			c, _ := st.GetClient(ctx, "old")
			if c.LegacySecretHash != "" || !secret.Equal(v.Password, c.SecretHash) {
				t.Fatalf("after the first authentication: legacy %q, secret hash %x; want only the SHA-256", c.LegacySecretHash, c.SecretHash)
			}
			// The hash format never reaches the SHA-256 path again: a
			// queue that refuses everyone does not stop the next one.
			fx.svc.hasher = fullHasher(t)
			if _, err := fx.svc.AuthenticateClient(ctx, "old", v.Password, "", nil); err != nil {
				t.Fatalf("second authentication (SHA-256, no hashing queue): %v", err)
			}
			if _, err := fx.svc.AuthenticateClient(ctx, "old", v.Password+"!", "", nil); !isInvalidClient(err) {
				t.Fatalf("wrong secret after the upgrade: %v", err)
			}
		})
	}
}

// gatedRand is crypto/rand until closed is set: then every Read waits
// for gate, so that a Hash holds its hashing slot for as long as a test
// wants.
type gatedRand struct {
	closed atomic.Bool
	gate   chan struct{}
}

func (g *gatedRand) Read(p []byte) (int, error) {
	if g.closed.Load() {
		<-g.gate
	}
	return rand.Read(p)
}

// fullHasher returns a hasher whose only slot and only queue place are
// taken until the test ends.
func fullHasher(t *testing.T) *secret.Hasher {
	t.Helper()
	gr := &gatedRand{gate: make(chan struct{})}
	h, err := secret.NewHasher(secret.HasherOptions{Params: secret.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, Workers: 1, Queue: 1, Rand: gr})
	if err != nil {
		t.Fatal(err)
	}
	<-h.Ready()
	gr.closed.Store(true)
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() { defer wg.Done(); _, _ = h.Hash(context.Background(), "x") }()
	}
	t.Cleanup(func() { close(gr.gate); wg.Wait() })
	for h.QueueDepth() < 2 {
		time.Sleep(time.Millisecond) // polling a condition, not ordering
	}
	return h
}

// TestLegacyClientSecretUsesHashingQueue: verifying an imported client
// secret hash takes a place in the bounded hashing queue, like a
// password: with the queue full it is 503 at once, the attempt is not
// counted, and nothing is written.
func TestLegacyClientSecretUsesHashingQueue(t *testing.T) {
	ctx := context.Background()
	v := legacyClientVectors(t)[0]
	st := memory.New()
	fx := newCoreFixture(t, st)
	fx.svc.hasher = fullHasher(t)
	if err := st.CreateClient(ctx, store.Client{ID: "old", LegacySecretHash: v.Hash, Grants: []string{GrantClientCredentials}, CreatedAt: fx.now}); err != nil {
		t.Fatal(err)
	}
	if _, err := fx.svc.AuthenticateClient(ctx, "old", v.Password, "", nil); !hasCode(err, CodeTemporarilyUnavailable) {
		t.Fatalf("with a full hashing queue: %v, want temporarily_unavailable", err)
	}
	if c, _ := st.GetClient(ctx, "old"); c.LegacySecretHash != v.Hash {
		t.Fatal("an unchecked authentication changed the stored hash")
	}
}

// TestLegacyClientSecretBruteForceGuard: failed authentications of a
// client with an imported hash count in the brute-force guard like
// failed passwords; past the threshold the client is locked out (429,
// before any hashing) even with the right secret, while a client with a
// SHA-256 secret (256 random bits, no costly check) is not counted.
func TestLegacyClientSecretBruteForceGuard(t *testing.T) {
	ctx := context.Background()
	v := legacyClientVectors(t)[0]
	st := memory.New()
	fx := newCoreFixture(t, st)
	fx.svc.guard = NewGuard(st, GuardOptions{Threshold: 3, IPThreshold: 100}, func() time.Time { return fx.now }, nil)
	if err := st.CreateClient(ctx, store.Client{ID: "old", LegacySecretHash: v.Hash, Grants: []string{GrantClientCredentials}, CreatedAt: fx.now}); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateClient(ctx, store.Client{ID: "new", SecretHash: secret.Hash("s3cret"), Grants: []string{GrantClientCredentials}, CreatedAt: fx.now}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := fx.svc.AuthenticateClient(ctx, "old", "guess", "192.0.2.1", nil); !isInvalidClient(err) {
			t.Fatalf("guess %d: %v", i, err)
		}
		if _, err := fx.svc.AuthenticateClient(ctx, "new", "guess", "192.0.2.1", nil); !isInvalidClient(err) {
			t.Fatalf("guess %d at the SHA-256 client: %v", i, err)
		}
	}
	var oe *Error
	if _, err := fx.svc.AuthenticateClient(ctx, "old", v.Password, "198.51.100.7", nil); !errors.As(err, &oe) || oe.Reason != ReasonLocked {
		t.Fatalf("right secret past the threshold: %v, want locked", err)
	}
	if c, _ := st.GetClient(ctx, "old"); c.LegacySecretHash != v.Hash {
		t.Fatal("a locked-out authentication was checked")
	}
	if _, err := fx.svc.AuthenticateClient(ctx, "new", "s3cret", "192.0.2.1", nil); err != nil {
		t.Fatalf("SHA-256 client: %v", err)
	}
	// After the back-off, the right secret gets in and resets the count.
	fx.now = fx.now.Add(time.Hour)
	if _, err := fx.svc.AuthenticateClient(ctx, "old", v.Password, "192.0.2.1", nil); err != nil {
		t.Fatalf("right secret after the back-off: %v", err)
	}
}

// TestLegacyClientSecretConcurrentFirstAuthentications: many first
// authentications with the right secret at once all succeed; the store
// ends with the SHA-256 and no legacy hash.
func TestLegacyClientSecretConcurrentFirstAuthentications(t *testing.T) {
	ctx := context.Background()
	v := legacyClientVectors(t)[0]
	st := memory.New()
	fx := newCoreFixture(t, st)
	if err := st.CreateClient(ctx, store.Client{ID: "old", LegacySecretHash: v.Hash, Grants: []string{GrantClientCredentials}, CreatedAt: fx.now}); err != nil {
		t.Fatal(err)
	}
	const n = 6
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = fx.svc.AuthenticateClient(ctx, "old", v.Password, "", nil)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("authentication %d: %v", i, err)
		}
	}
	if c, _ := st.GetClient(ctx, "old"); c.LegacySecretHash != "" || !secret.Equal(v.Password, c.SecretHash) {
		t.Fatalf("stored: legacy %q, hash %x", c.LegacySecretHash, c.SecretHash)
	}
}

// rotatedBeforeUpgrade lets an administrator rotate the client's secret
// between the authentication's verification and its compare-and-set.
type rotatedBeforeUpgrade struct {
	store.Store
	rotate func(ctx context.Context)
}

func (r *rotatedBeforeUpgrade) UpgradeClientSecret(ctx context.Context, id, old string, h []byte) error {
	r.rotate(ctx)
	return r.Store.UpgradeClientSecret(ctx, id, old, h)
}

// TestLegacyClientSecretUpgradeNeverOverwritesARotatedSecret: a secret
// rotated meanwhile wins and the old secret is refused.
func TestLegacyClientSecretUpgradeNeverOverwritesARotatedSecret(t *testing.T) {
	ctx := context.Background()
	v := legacyClientVectors(t)[0]
	mem := memory.New()
	wrapped := &rotatedBeforeUpgrade{Store: mem}
	fx := newCoreFixture(t, wrapped)
	wrapped.rotate = func(ctx context.Context) {
		c, _ := mem.GetClient(ctx, "old")
		c.SecretHash = secret.Hash("rotated") // the legacy hash left in place: the store's guard must hold
		if err := mem.UpdateClient(ctx, c); err != nil {
			t.Error(err)
		}
	}
	if err := mem.CreateClient(ctx, store.Client{ID: "old", LegacySecretHash: v.Hash, Grants: []string{GrantClientCredentials}, CreatedAt: fx.now}); err != nil {
		t.Fatal(err)
	}
	if _, err := fx.svc.AuthenticateClient(ctx, "old", v.Password, "", nil); !isInvalidClient(err) {
		t.Fatalf("old secret after a rotation: %v, want invalid_client", err)
	}
	if c, _ := mem.GetClient(ctx, "old"); !secret.Equal("rotated", c.SecretHash) {
		t.Fatal("the upgrade overwrote the rotated secret")
	}
}
