package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/tokengate/tokengate/internal/store"
)

func denied(t *testing.T, s store.Store, jti string) bool {
	t.Helper()
	ok, err := s.IsAccessTokenDenied(ctx(t), jti)
	must(t, err)
	return ok
}

func testDenylist(t *testing.T, s store.Store) {
	if denied(t, s, "j1") {
		t.Fatal("j1 denied before DenyAccessToken")
	}
	must(t, s.DenyAccessToken(ctx(t), "j1", at(time.Hour)))
	if !denied(t, s, "j1") {
		t.Fatal("j1 not denied")
	}
	if denied(t, s, "j2") {
		t.Fatal("j2 denied")
	}
	// Denying again is not an error, and the entry stays.
	must(t, s.DenyAccessToken(ctx(t), "j1", at(2*time.Hour)))
	if !denied(t, s, "j1") {
		t.Fatal("j1 not denied after second DenyAccessToken")
	}
}

func signingKey(id string, created time.Time) store.SigningKey {
	return store.SigningKey{
		ID:        id,
		Algorithm: "EdDSA",
		Private:   []byte("pkcs8-" + id),
		Encrypted: id != "k1",
		CreatedAt: created,
	}
}

func listKeys(t *testing.T, s store.Store, want ...store.SigningKey) {
	t.Helper()
	got, err := s.ListSigningKeys(ctx(t))
	must(t, err)
	if len(got) != len(want) {
		t.Fatalf("ListSigningKeys returned %d keys, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		checkSigningKey(t, got[i], want[i])
	}
}

func testSigningKeys(t *testing.T, s store.Store) {
	listKeys(t, s)

	k1 := signingKey("k1", at(0))
	must(t, s.AddSigningKey(ctx(t), k1, "", time.Time{}))
	listKeys(t, s, k1)

	k2 := signingKey("k2", at(time.Hour))
	must(t, s.AddSigningKey(ctx(t), k2, "k1", at(3*time.Hour)))
	k1.RetiredAt, k1.ExpiresAt = k2.CreatedAt, at(3*time.Hour)
	listKeys(t, s, k2, k1)

	// Another node expecting k1 lost the race; nothing changes.
	k3 := signingKey("k3", at(2*time.Hour))
	wantErr(t, s.AddSigningKey(ctx(t), k3, "k1", at(4*time.Hour)), store.ErrConflict)
	wantErr(t, s.AddSigningKey(ctx(t), k3, "nope", at(4*time.Hour)), store.ErrConflict)
	listKeys(t, s, k2, k1)

	// A duplicate kid is a conflict, and the active key stays active.
	dup := signingKey("k1", at(2*time.Hour))
	wantErr(t, s.AddSigningKey(ctx(t), dup, "k2", at(4*time.Hour)), store.ErrConflict)
	listKeys(t, s, k2, k1)

	// An empty expectActive means "no key is active": refused while k2 is.
	wantErr(t, s.AddSigningKey(ctx(t), k3, "", at(5*time.Hour)), store.ErrConflict)
	listKeys(t, s, k2, k1)
	must(t, s.AddSigningKey(ctx(t), k3, "k2", at(5*time.Hour)))
	k2.RetiredAt, k2.ExpiresAt = k3.CreatedAt, at(5*time.Hour)
	listKeys(t, s, k3, k2, k1)

	// Revocation: only a retired key, once; unknown kids are not revoked.
	for _, kid := range []string{"k1", "k2", "k3", "nope"} {
		if revokedKey(t, s, kid) {
			t.Fatalf("%s revoked before RevokeSigningKey", kid)
		}
	}
	wantErr(t, s.RevokeSigningKey(ctx(t), "nope", at(6*time.Hour)), store.ErrNotFound)
	wantErr(t, s.RevokeSigningKey(ctx(t), "k3", at(6*time.Hour)), store.ErrConflict)
	must(t, s.RevokeSigningKey(ctx(t), "k2", at(6*time.Hour)))
	must(t, s.RevokeSigningKey(ctx(t), "k2", at(7*time.Hour))) // keeps the first time
	k2.RevokedAt = at(6 * time.Hour)
	listKeys(t, s, k3, k2, k1)
	if !revokedKey(t, s, "k2") || revokedKey(t, s, "k1") || revokedKey(t, s, "k3") {
		t.Fatal("SigningKeyRevoked does not report exactly k2")
	}
}

// testSigningKeyPurposes: the ID token key (store.PurposeIDToken) has
// its own active key beside the default one; adding or rotating one never
// retires the other, and the compare-and-swap is per purpose.
func testSigningKeyPurposes(t *testing.T, s store.Store) {
	k1 := signingKey("k1", at(0))
	must(t, s.AddSigningKey(ctx(t), k1, "", time.Time{}))
	i1 := signingKey("i1", at(time.Minute))
	i1.Algorithm, i1.Purpose = "RS256", store.PurposeIDToken
	// "" means no active ID token key, though k1 is active.
	must(t, s.AddSigningKey(ctx(t), i1, "", time.Time{}))
	listKeys(t, s, i1, k1)
	// A second first ID token key loses, as a second first key would.
	i0 := signingKey("i0", at(2*time.Minute))
	i0.Purpose = store.PurposeIDToken
	wantErr(t, s.AddSigningKey(ctx(t), i0, "", time.Time{}), store.ErrConflict)

	// Rotating the default key leaves the ID token key active.
	k2 := signingKey("k2", at(time.Hour))
	must(t, s.AddSigningKey(ctx(t), k2, "k1", at(3*time.Hour)))
	k1.RetiredAt, k1.ExpiresAt = k2.CreatedAt, at(3*time.Hour)
	listKeys(t, s, k2, i1, k1)

	// The expected key must be the active key of the new key's purpose.
	i2 := signingKey("i2", at(2*time.Hour))
	i2.Algorithm, i2.Purpose = "RS256", store.PurposeIDToken
	wantErr(t, s.AddSigningKey(ctx(t), i2, "k2", at(4*time.Hour)), store.ErrConflict)
	k3 := signingKey("k3", at(2*time.Hour))
	wantErr(t, s.AddSigningKey(ctx(t), k3, "i1", at(4*time.Hour)), store.ErrConflict)
	listKeys(t, s, k2, i1, k1)
	must(t, s.AddSigningKey(ctx(t), i2, "i1", at(4*time.Hour)))
	i1.RetiredAt, i1.ExpiresAt = i2.CreatedAt, at(4*time.Hour)
	listKeys(t, s, i2, k2, i1, k1)

	// Neither active key can be revoked; a retired ID token key can.
	wantErr(t, s.RevokeSigningKey(ctx(t), "i2", at(5*time.Hour)), store.ErrConflict)
	wantErr(t, s.RevokeSigningKey(ctx(t), "k2", at(5*time.Hour)), store.ErrConflict)
	must(t, s.RevokeSigningKey(ctx(t), "i1", at(5*time.Hour)))
	i1.RevokedAt = at(5 * time.Hour)
	listKeys(t, s, i2, k2, i1, k1)
}

func revokedKey(t *testing.T, s store.Store, kid string) bool {
	t.Helper()
	ok, err := s.SigningKeyRevoked(ctx(t), kid)
	must(t, err)
	return ok
}

func failures(t *testing.T, s store.Store, key string, now time.Time, window time.Duration) (int, time.Time) {
	t.Helper()
	n, last, err := s.Failures(ctx(t), key, now, window)
	must(t, err)
	return n, last
}

func testAttempts(t *testing.T, s store.Store) {
	const window = time.Minute
	if n, last := failures(t, s, "alice", at(0), window); n != 0 || !last.IsZero() {
		t.Fatalf("Failures of unknown key = %d, %v; want 0, zero time", n, last)
	}
	for i := 1; i <= 3; i++ {
		n, err := s.RecordFailure(ctx(t), "alice", at(time.Duration(i)*time.Second), window)
		must(t, err)
		if n != i {
			t.Fatalf("RecordFailure #%d = %d", i, n)
		}
	}
	n, err := s.RecordFailure(ctx(t), "10.0.0.1", at(3*time.Second), window)
	must(t, err)
	if n != 1 {
		t.Fatalf("RecordFailure of another key = %d, want 1", n)
	}
	if n, last := failures(t, s, "alice", at(10*time.Second), window); n != 3 || !last.Equal(at(3*time.Second)) {
		t.Fatalf("Failures = %d, %v; want 3, %v", n, last, at(3*time.Second))
	}

	// Long after the window every failure is forgotten.
	if n, _ := failures(t, s, "alice", at(5*time.Minute), window); n != 0 {
		t.Fatalf("Failures after the window = %d, want 0", n)
	}
	n, err = s.RecordFailure(ctx(t), "alice", at(5*time.Minute), window)
	must(t, err)
	if n != 1 {
		t.Fatalf("RecordFailure after the window = %d, want 1", n)
	}
	if n, last := failures(t, s, "alice", at(5*time.Minute+time.Second), window); n != 1 || !last.Equal(at(5*time.Minute)) {
		t.Fatalf("Failures = %d, %v; want 1, %v", n, last, at(5*time.Minute))
	}

	must(t, s.ResetFailures(ctx(t), "alice"))
	if n, last := failures(t, s, "alice", at(5*time.Minute+time.Second), window); n != 0 || !last.IsZero() {
		t.Fatalf("Failures after reset = %d, %v; want 0, zero time", n, last)
	}
	must(t, s.ResetFailures(ctx(t), "nobody"))
	if n, _ := failures(t, s, "10.0.0.1", at(10*time.Second), window); n != 1 {
		t.Fatalf("reset of alice touched another key: %d failures", n)
	}
}

func testDeleteExpired(t *testing.T, s store.Store) {
	now := at(0)

	// Live family whose first token expired after it was rotated.
	newFamily(t, s, "live", "alice", "web", "live0", at(-2*time.Hour), 119*time.Minute)
	must(t, s.AdvanceFamily(ctx(t), store.Advance{
		FamilyID: "live", Generation: 0, NewHash: hash("live1"), Now: at(-90 * time.Minute), ExpiresAt: at(time.Hour),
	}))
	// Family whose current token expired: it goes with all its tokens.
	newFamily(t, s, "dead", "bob", "web", "dead0", at(-2*time.Hour), 2*time.Hour) // expires exactly now
	// Revoked but unexpired family: kept, so its tokens keep failing as revoked.
	newFamily(t, s, "revoked", "carol", "web", "rev0", at(-time.Minute), time.Hour)
	must(t, s.RevokeFamily(ctx(t), "revoked"))

	must(t, s.DenyAccessToken(ctx(t), "old", at(-time.Second)))
	must(t, s.DenyAccessToken(ctx(t), "fresh", at(time.Hour)))

	k1 := signingKey("k1", at(-3*time.Hour))
	k2 := signingKey("k2", at(-2*time.Hour))
	k3 := signingKey("k3", at(-30*time.Minute))
	must(t, s.AddSigningKey(ctx(t), k1, "", time.Time{}))
	must(t, s.AddSigningKey(ctx(t), k2, "k1", at(-time.Hour)))
	must(t, s.AddSigningKey(ctx(t), k3, "k2", at(time.Hour)))
	k2.RetiredAt, k2.ExpiresAt = k3.CreatedAt, at(time.Hour)

	_, err := s.RecordFailure(ctx(t), "stale", at(-2*time.Hour), time.Hour)
	must(t, err)
	_, err = s.RecordFailure(ctx(t), "recent", at(-time.Minute), time.Hour)
	must(t, err)

	// Removed: live0, dead0 and its family, the "old" denylist entry, k1,
	// the "stale" counter.
	n, err := s.DeleteExpired(ctx(t), now)
	must(t, err)
	if n != 6 {
		t.Errorf("DeleteExpired removed %d rows, want 6", n)
	}

	for _, tok := range []string{"live0", "dead0"} {
		if _, _, err := s.GetRefresh(ctx(t), hash(tok)); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("expired token %s: GetRefresh error = %v, want ErrNotFound", tok, err)
		}
	}
	if f := familyOf(t, s, "live1"); f.Revoked || f.Generation != 1 {
		t.Errorf("live family after DeleteExpired: %+v", f)
	}
	if f := familyOf(t, s, "rev0"); !f.Revoked {
		t.Error("revoked family lost its revocation")
	}
	if denied(t, s, "old") {
		t.Error("expired denylist entry kept")
	}
	if !denied(t, s, "fresh") {
		t.Error("live denylist entry removed")
	}
	listKeys(t, s, k3, k2)
	if n, _ := failures(t, s, "recent", now, time.Hour); n != 1 {
		t.Errorf("recent failure counter = %d, want 1", n)
	}

	// Nothing is left to remove, and the live family still rotates.
	n, err = s.DeleteExpired(ctx(t), now)
	must(t, err)
	if n != 0 {
		t.Errorf("second DeleteExpired removed %d rows, want 0", n)
	}
	_, err = rotate(t, s, "live1", "live2", now, 0)
	must(t, err)
}
