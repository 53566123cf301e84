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
