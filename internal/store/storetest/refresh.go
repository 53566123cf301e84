package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"tokengate/internal/store"
)

func testRefreshRotation(t *testing.T, s store.Store) {
	f := store.Family{
		ID:        "fam",
		Subject:   "alice",
		ClientID:  "web",
		Scopes:    []string{"openid", "offline_access"},
		AuthTime:  at(-time.Minute),
		ExpiresAt: at(time.Hour),
		Extra:     map[string]string{"aud": "https://api.example.com", "acr": "mfa"},
	}
	t0 := store.RefreshToken{Hash: hash("t0"), FamilyID: "fam", IssuedAt: at(0), ExpiresAt: at(time.Hour)}
	must(t, s.CreateFamily(ctx(t), f, t0))
	wantErr(t, s.CreateFamily(ctx(t), f, store.RefreshToken{Hash: hash("other"), FamilyID: "fam", IssuedAt: at(0), ExpiresAt: at(time.Hour)}), store.ErrConflict)

	gotT, gotF, err := s.GetRefresh(ctx(t), hash("t0"))
	must(t, err)
	checkToken(t, gotT, t0)
	checkFamily(t, gotF, f)

	// First rotation.
	now := at(10 * time.Minute)
	got, err := rotate(t, s, "t0", "t1", now, 0)
	must(t, err)
	want := f
	want.Generation = 1
	want.RotatedAt = now
	want.ExpiresAt = now.Add(time.Hour)
	checkFamily(t, got, want)

	gotT, gotF, err = s.GetRefresh(ctx(t), hash("t1"))
	must(t, err)
	checkToken(t, gotT, store.RefreshToken{Hash: hash("t1"), FamilyID: "fam", Generation: 1, IssuedAt: now, ExpiresAt: now.Add(time.Hour)})
	checkFamily(t, gotF, want)

	// The rotated token is still known, one generation behind.
	gotT, gotF, err = s.GetRefresh(ctx(t), hash("t0"))
	must(t, err)
	checkToken(t, gotT, t0)
	checkFamily(t, gotF, want)

	// The new token rotates in turn.
	now = at(20 * time.Minute)
	got, err = rotate(t, s, "t1", "t2", now, 0)
	must(t, err)
	want.Generation, want.RotatedAt, want.ExpiresAt = 2, now, now.Add(time.Hour)
	checkFamily(t, got, want)
	checkFamily(t, familyOf(t, s, "t2"), want)

	// Rotating into a hash that exists fails and changes nothing.
	_, err = rotate(t, s, "t2", "t1", at(21*time.Minute), 0)
	if err == nil {
		t.Fatal("rotating into an existing token hash succeeded")
	}
	checkFamily(t, familyOf(t, s, "t2"), want)
	_, err = rotate(t, s, "t2", "t3", at(22*time.Minute), 0)
	must(t, err)
}

func testRefreshReuse(t *testing.T, s store.Store) {
	newFamily(t, s, "fam", "alice", "web", "t0", at(0), time.Hour)
	newFamily(t, s, "other", "alice", "web", "o0", at(0), time.Hour)
	_, err := rotate(t, s, "t0", "t1", at(time.Minute), 0)
	must(t, err)
	_, err = rotate(t, s, "t1", "t2", at(2*time.Minute), 0)
	must(t, err)

	_, err = rotate(t, s, "t1", "x", at(3*time.Minute), 0)
	wantErr(t, err, store.ErrTokenReused)
	if f := familyOf(t, s, "t2"); !f.Revoked {
		t.Fatal("family not revoked after reuse")
	}
	// Even the newest token is dead now, and the reused one stays dead.
	_, err = rotate(t, s, "t2", "t3", at(4*time.Minute), 0)
	wantErr(t, err, store.ErrTokenRevoked)
	_, err = rotate(t, s, "t1", "t3", at(4*time.Minute), 0)
	wantErr(t, err, store.ErrTokenRevoked)
	if _, _, err := s.GetRefresh(ctx(t), hash("x")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("token of a failed rotation was stored: GetRefresh err = %v", err)
	}
	// Other families are untouched.
	if f := familyOf(t, s, "o0"); f.Revoked {
		t.Fatal("unrelated family revoked")
	}
	_, err = rotate(t, s, "o0", "o1", at(5*time.Minute), 0)
	must(t, err)
}

func testRefreshExpired(t *testing.T, s store.Store) {
	newFamily(t, s, "fam", "alice", "web", "t0", at(0), time.Hour)
	// Expiry is inclusive: a token is expired at its ExpiresAt.
	_, err := rotate(t, s, "t0", "t1", at(time.Hour), 0)
	wantErr(t, err, store.ErrTokenExpired)
	_, err = rotate(t, s, "t0", "t1", at(2*time.Hour), 0)
	wantErr(t, err, store.ErrTokenExpired)
	f := familyOf(t, s, "t0")
	if f.Revoked || f.Generation != 0 {
		t.Fatalf("expired rotation changed the family: %+v", f)
	}
	// Just before expiry it still works.
	_, err = rotate(t, s, "t0", "t1", at(time.Hour-time.Millisecond), 0)
	must(t, err)
}

func testRefreshUnknown(t *testing.T, s store.Store) {
	newFamily(t, s, "fam", "alice", "web", "t0", at(0), time.Hour)
	_, _, err := s.GetRefresh(ctx(t), hash("nope"))
	wantErr(t, err, store.ErrNotFound)
	_, err = rotate(t, s, "nope", "t1", at(time.Minute), 0)
	wantErr(t, err, store.ErrNotFound)
}

func testRevokeFamily(t *testing.T, s store.Store) {
	newFamily(t, s, "fam", "alice", "web", "t0", at(0), time.Hour)
	newFamily(t, s, "other", "alice", "web", "o0", at(0), time.Hour)
	must(t, s.RevokeFamily(ctx(t), "fam"))
	must(t, s.RevokeFamily(ctx(t), "fam")) // twice is fine
	if f := familyOf(t, s, "t0"); !f.Revoked {
		t.Fatal("family not revoked")
	}
	_, err := rotate(t, s, "t0", "t1", at(time.Minute), 0)
	wantErr(t, err, store.ErrTokenRevoked)
	wantErr(t, s.RevokeFamily(ctx(t), "nope"), store.ErrNotFound)
	if f := familyOf(t, s, "o0"); f.Revoked {
		t.Fatal("unrelated family revoked")
	}
}

func testRevokeSubjectFamilies(t *testing.T, s store.Store) {
	newFamily(t, s, "a1", "alice", "web", "a1", at(0), time.Hour)
	newFamily(t, s, "a2", "alice", "cli", "a2", at(0), time.Hour)
	newFamily(t, s, "a3", "alice", "web", "a3", at(0), time.Hour)
	newFamily(t, s, "b1", "bob", "web", "b1", at(0), time.Hour)
	must(t, s.RevokeFamily(ctx(t), "a3"))

	n, err := s.RevokeSubjectFamilies(ctx(t), "alice")
	must(t, err)
	if n != 2 {
		t.Errorf("RevokeSubjectFamilies = %d, want 2 (one was already revoked)", n)
	}
	for _, tok := range []string{"a1", "a2", "a3"} {
		_, err := rotate(t, s, tok, tok+"'", at(time.Minute), 0)
		wantErr(t, err, store.ErrTokenRevoked)
	}
	_, err = rotate(t, s, "b1", "b2", at(time.Minute), 0)
	must(t, err)

	n, err = s.RevokeSubjectFamilies(ctx(t), "alice")
	must(t, err)
	if n != 0 {
		t.Errorf("second RevokeSubjectFamilies = %d, want 0", n)
	}
	n, err = s.RevokeSubjectFamilies(ctx(t), "nobody")
	must(t, err)
	if n != 0 {
		t.Errorf("RevokeSubjectFamilies(nobody) = %d, want 0", n)
	}
}

func testReuseIntervalGrace(t *testing.T, s store.Store) {
	const reuse = 10 * time.Second
	newFamily(t, s, "fam", "alice", "web", "t0", at(0), time.Hour)
	_, err := rotate(t, s, "t0", "t1", at(time.Minute), reuse)
	must(t, err)

	// The client lost the response and retries with t0 within the interval.
	now := at(time.Minute + 5*time.Second)
	f, err := rotate(t, s, "t0", "t2", now, reuse)
	must(t, err)
	if f.Revoked || f.Generation != 2 || !f.RotatedAt.Equal(now) {
		t.Fatalf("grace rotation returned %+v, want generation 2 rotated at %v", f, now)
	}
	tok, fam, err := s.GetRefresh(ctx(t), hash("t2"))
	must(t, err)
	if tok.Generation != 2 || fam.Generation != 2 || fam.Revoked {
		t.Fatalf("t2: token generation %d, family %+v", tok.Generation, fam)
	}
	// t1 is no longer the live token: with a strict policy it is reuse.
	tok, _, err = s.GetRefresh(ctx(t), hash("t1"))
	must(t, err)
	if tok.Generation == fam.Generation {
		t.Fatal("t1 is still the live token after the grace rotation")
	}
	_, err = rotate(t, s, "t1", "t3", now.Add(time.Second), 0)
	wantErr(t, err, store.ErrTokenReused)
	_, err = rotate(t, s, "t2", "t3", now.Add(2*time.Second), reuse)
	wantErr(t, err, store.ErrTokenRevoked)
}

func testReuseIntervalElapsed(t *testing.T, s store.Store) {
	const reuse = 10 * time.Second
	newFamily(t, s, "fam", "alice", "web", "t0", at(0), time.Hour)
	_, err := rotate(t, s, "t0", "t1", at(time.Minute), reuse)
	must(t, err)
	// The interval is half-open: at RotatedAt+ReuseInterval it is over.
	_, err = rotate(t, s, "t0", "t2", at(time.Minute+reuse), reuse)
	wantErr(t, err, store.ErrTokenReused)
	if f := familyOf(t, s, "t1"); !f.Revoked {
		t.Fatal("family not revoked")
	}
	_, err = rotate(t, s, "t1", "t2", at(time.Minute+reuse+time.Second), reuse)
	wantErr(t, err, store.ErrTokenRevoked)
}

func testReuseIntervalAncestor(t *testing.T, s store.Store) {
	const reuse = time.Hour
	newFamily(t, s, "fam", "alice", "web", "t0", at(0), 2*time.Hour)
	_, err := rotate(t, s, "t0", "t1", at(time.Second), reuse)
	must(t, err)
	_, err = rotate(t, s, "t1", "t2", at(2*time.Second), reuse)
	must(t, err)
	// t0 is two generations behind: no grace however recent.
	_, err = rotate(t, s, "t0", "t3", at(3*time.Second), reuse)
	wantErr(t, err, store.ErrTokenReused)
	if f := familyOf(t, s, "t2"); !f.Revoked {
		t.Fatal("family not revoked")
	}
}

func testConcurrentRotation(t *testing.T, s store.Store) {
	const n = 100
	newFamily(t, s, "fam", "alice", "web", "t0", at(0), time.Hour)

	start := make(chan struct{})
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, errs[i] = s.RotateRefresh(ctx(t), store.Rotation{
				OldHash:   hash("t0"),
				NewHash:   hash(fmt.Sprintf("new-%d", i)),
				Now:       at(time.Minute),
				ExpiresAt: at(time.Hour),
			})
		}()
	}
	close(start)
	wg.Wait()

	var ok, reused, revoked int
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
			winner = i
		case errors.Is(err, store.ErrTokenReused):
			reused++
		case errors.Is(err, store.ErrTokenRevoked):
			revoked++
		default:
			t.Errorf("rotation %d: unexpected error %v", i, err)
		}
	}
	if ok != 1 || reused < 1 {
		t.Fatalf("%d successes, %d reused, %d revoked; want exactly 1 success and at least 1 reuse", ok, reused, revoked)
	}
	// The first loser revoked the family: the winner's token is dead too.
	tok, f, err := s.GetRefresh(ctx(t), hash(fmt.Sprintf("new-%d", winner)))
	must(t, err)
	if !f.Revoked || f.Generation != 1 || tok.Generation != 1 {
		t.Fatalf("after concurrent rotation: token generation %d, family %+v", tok.Generation, f)
	}
	for i := range n {
		if i == winner {
			continue
		}
		if _, _, err := s.GetRefresh(ctx(t), hash(fmt.Sprintf("new-%d", i))); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("token of losing rotation %d stored (err %v)", i, err)
		}
	}
}

// testRefreshSubjectActive checks GetRefresh reports whether the family's
// subject is an existing, enabled user, as it is when read.
func testRefreshSubjectActive(t *testing.T, s store.Store) {
	alice := store.User{Username: "alice", CreatedAt: at(0), UpdatedAt: at(0)}
	must(t, s.CreateUser(ctx(t), alice))
	newFamily(t, s, "fa", "alice", "app", "a", at(0), time.Hour)
	newFamily(t, s, "fg", "ghost", "app", "g", at(0), time.Hour)
	if !familyOf(t, s, "a").SubjectActive {
		t.Error("enabled user's family reported inactive")
	}
	if familyOf(t, s, "g").SubjectActive {
		t.Error("family of a user that does not exist reported active")
	}
	alice.Disabled = true
	must(t, s.UpdateUser(ctx(t), alice))
	if familyOf(t, s, "a").SubjectActive {
		t.Error("disabled user's family reported active")
	}
	alice.Disabled = false
	must(t, s.UpdateUser(ctx(t), alice))
	if !familyOf(t, s, "a").SubjectActive {
		t.Error("re-enabled user's family reported inactive")
	}
}
