package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/tokengate/tokengate/internal/store"
)

// testCreateUsers: a batch is stored whole, or not at all when any of its
// usernames is taken or repeated.
func testCreateUsers(t *testing.T, s store.Store) {
	a := store.User{Username: "a", PasswordHash: "$2y$10$x", Scopes: []string{"read"}, CreatedAt: at(0), UpdatedAt: at(0)}
	b := store.User{Username: "b", PasswordHash: "pbkdf2_sha256$1$s$h", Disabled: true, CreatedAt: at(0), UpdatedAt: at(0)}
	must(t, s.CreateUsers(ctx(t), []store.User{a, b}))
	for _, want := range []store.User{a, b} {
		got, err := s.GetUser(ctx(t), want.Username)
		must(t, err)
		checkUser(t, got, want)
	}
	c := store.User{Username: "c", CreatedAt: at(0), UpdatedAt: at(0)}
	// "a" exists: the batch fails whole and "c" is not written.
	wantErr(t, s.CreateUsers(ctx(t), []store.User{c, a}), store.ErrConflict)
	_, err := s.GetUser(ctx(t), "c")
	wantErr(t, err, store.ErrNotFound)
	// A name twice in one batch is a conflict too.
	wantErr(t, s.CreateUsers(ctx(t), []store.User{c, c}), store.ErrConflict)
	_, err = s.GetUser(ctx(t), "c")
	wantErr(t, err, store.ErrNotFound)
	must(t, s.CreateUsers(ctx(t), nil))
}

// testReplacePasswordHash: the hash is replaced only while it is still
// the one the caller verified; the not-before time is kept.
func testReplacePasswordHash(t *testing.T, s store.Store) {
	u := store.User{Username: "u", PasswordHash: "old", CreatedAt: at(0), UpdatedAt: at(0)}
	must(t, s.CreateUser(ctx(t), u))
	_, err := s.EndSessions(ctx(t), "u", at(time.Minute))
	must(t, err)
	wantErr(t, s.ReplacePasswordHash(ctx(t), "u", "other", "new", at(time.Hour)), store.ErrStale)
	got, err := s.GetUser(ctx(t), "u")
	must(t, err)
	checkUser(t, got, u)
	must(t, s.ReplacePasswordHash(ctx(t), "u", "old", "new", at(time.Hour)))
	got, err = s.GetUser(ctx(t), "u")
	must(t, err)
	want := u
	want.PasswordHash, want.UpdatedAt = "new", at(time.Hour)
	checkUser(t, got, want)
	if !got.NotBefore.Equal(at(time.Minute)) {
		t.Fatalf("NotBefore = %v, want %v (kept)", got.NotBefore, at(time.Minute))
	}
	// The old hash is gone: replacing it again is stale.
	wantErr(t, s.ReplacePasswordHash(ctx(t), "u", "old", "newer", at(2*time.Hour)), store.ErrStale)
	wantErr(t, s.ReplacePasswordHash(ctx(t), "nobody", "old", "new", at(time.Hour)), store.ErrNotFound)
}

// testReplacePasswordHashConcurrent: of many logins upgrading the same
// verified hash at once, exactly one writes; the others are ErrStale.
func testReplacePasswordHashConcurrent(t *testing.T, s store.Store) {
	must(t, s.CreateUser(ctx(t), store.User{Username: "u", PasswordHash: "old", CreatedAt: at(0), UpdatedAt: at(0)}))
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.ReplacePasswordHash(ctx(t), "u", "old", "new"+string(rune('a'+i)), at(time.Hour))
		}()
	}
	wg.Wait()
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		default:
			wantErr(t, err, store.ErrStale)
		}
	}
	if wins != 1 {
		t.Fatalf("%d replacements won, want exactly 1", wins)
	}
}

// testCreateClients: a batch of clients is stored whole (legacy secret
// hashes included), or not at all when any id is taken or repeated.
func testCreateClients(t *testing.T, s store.Store) {
	a := store.Client{ID: "a", LegacySecretHash: "$2y$10$abcdefghijklmnopqrstuu", Grants: []string{"client_credentials"}, Scopes: []string{"read"}, CreatedAt: at(0)}
	b := store.Client{ID: "b", SecretHash: hash("b"), Grants: []string{"password"}, CreatedAt: at(0)}
	must(t, s.CreateClients(ctx(t), []store.Client{a, b}))
	for _, want := range []store.Client{a, b} {
		got, err := s.GetClient(ctx(t), want.ID)
		must(t, err)
		checkClient(t, got, want)
	}
	c := store.Client{ID: "c", Public: true, CreatedAt: at(0)}
	wantErr(t, s.CreateClients(ctx(t), []store.Client{c, a}), store.ErrConflict)
	_, err := s.GetClient(ctx(t), "c")
	wantErr(t, err, store.ErrNotFound)
	wantErr(t, s.CreateClients(ctx(t), []store.Client{c, c}), store.ErrConflict)
	_, err = s.GetClient(ctx(t), "c")
	wantErr(t, err, store.ErrNotFound)
	must(t, s.CreateClients(ctx(t), nil))
	// UpdateClient replaces the legacy hash too (a rotated secret drops it).
	a.SecretHash, a.LegacySecretHash = hash("rotated"), ""
	must(t, s.UpdateClient(ctx(t), a))
	got, err := s.GetClient(ctx(t), "a")
	must(t, err)
	checkClient(t, got, a)
}

// testUpgradeClientSecret: the legacy hash is replaced by the SHA-256
// only while it is still the one verified; afterwards it is gone.
func testUpgradeClientSecret(t *testing.T, s store.Store) {
	c := store.Client{ID: "c", LegacySecretHash: "pbkdf2_sha256$1$s$h", Grants: []string{"client_credentials"}, CreatedAt: at(0)}
	must(t, s.CreateClient(ctx(t), c))
	wantErr(t, s.UpgradeClientSecret(ctx(t), "c", "other", hash("x")), store.ErrStale)
	got, err := s.GetClient(ctx(t), "c")
	must(t, err)
	checkClient(t, got, c)
	must(t, s.UpgradeClientSecret(ctx(t), "c", c.LegacySecretHash, hash("secret")))
	got, err = s.GetClient(ctx(t), "c")
	must(t, err)
	want := c
	want.SecretHash, want.LegacySecretHash = hash("secret"), ""
	checkClient(t, got, want)
	// The legacy hash is gone: upgrading it again, or an empty one, is stale.
	wantErr(t, s.UpgradeClientSecret(ctx(t), "c", c.LegacySecretHash, hash("other")), store.ErrStale)
	wantErr(t, s.UpgradeClientSecret(ctx(t), "c", "", hash("other")), store.ErrStale)
	wantErr(t, s.UpgradeClientSecret(ctx(t), "nobody", "x", hash("x")), store.ErrNotFound)
	got, err = s.GetClient(ctx(t), "c")
	must(t, err)
	checkClient(t, got, want)
	// A secret set meanwhile (a rotation that left the legacy hash in
	// place) wins: the upgrade is stale.
	d := store.Client{ID: "d", LegacySecretHash: "legacy", Grants: []string{"client_credentials"}, CreatedAt: at(0)}
	must(t, s.CreateClient(ctx(t), d))
	d.SecretHash = hash("rotated")
	must(t, s.UpdateClient(ctx(t), d))
	wantErr(t, s.UpgradeClientSecret(ctx(t), "d", "legacy", hash("old")), store.ErrStale)
	got, err = s.GetClient(ctx(t), "d")
	must(t, err)
	checkClient(t, got, d)
}

// testUpgradeClientSecretConcurrent: of many first authentications
// upgrading the same legacy hash at once, exactly one writes.
func testUpgradeClientSecretConcurrent(t *testing.T, s store.Store) {
	must(t, s.CreateClient(ctx(t), store.Client{ID: "c", LegacySecretHash: "old", Grants: []string{"client_credentials"}, CreatedAt: at(0)}))
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.UpgradeClientSecret(ctx(t), "c", "old", hash("secret"))
		}()
	}
	wg.Wait()
	wins := 0
	for _, err := range errs {
		if err == nil {
			wins++
		} else {
			wantErr(t, err, store.ErrStale)
		}
	}
	if wins != 1 {
		t.Fatalf("%d upgrades succeeded, want exactly 1", wins)
	}
}
