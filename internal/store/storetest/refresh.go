package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tokengate/tokengate/internal/store"
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
		Rotation:  "fixed",
		Format:    "jwt",
	}
	t0 := store.RefreshToken{Hash: hash("t0"), FamilyID: "fam", IssuedAt: at(0), ExpiresAt: at(time.Hour)}
	must(t, s.CreateFamily(ctx(t), f, t0))
	track(s).put("t0", "fam", 0, at(time.Hour))
	wantErr(t, s.CreateFamily(ctx(t), f, store.RefreshToken{Hash: hash("other"), FamilyID: "fam", IssuedAt: at(0), ExpiresAt: at(time.Hour)}), store.ErrConflict)

	want := f
	want.Hash = hash("t0")
	gotF, err := s.GetFamily(ctx(t), "fam")
	must(t, err)
	checkFamily(t, gotF, want)
	_, err = s.GetFamily(ctx(t), "nope")
	wantErr(t, err, store.ErrNotFound)
	// No token row is written: the family is the only record.
	_, _, err = s.GetRefresh(ctx(t), hash("t0"))
	wantErr(t, err, store.ErrNotFound)

	// First rotation: the family keeps the new token's hash and the old one's.
	now := at(10 * time.Minute)
	got, err := rotate(t, s, "t0", "t1", now, 0)
	must(t, err)
	want.Generation = 1
	want.RotatedAt = now
	want.ExpiresAt = now.Add(time.Hour)
	want.Hash, want.PrevHash = hash("t1"), hash("t0")
	checkFamily(t, got, want)
	_, _, err = s.GetRefresh(ctx(t), hash("t1"))
	wantErr(t, err, store.ErrNotFound)

	// The new token rotates in turn; the oldest hash is forgotten.
	now = at(20 * time.Minute)
	got, err = rotate(t, s, "t1", "t2", now, 0)
	must(t, err)
	want.Generation, want.RotatedAt, want.ExpiresAt = 2, now, now.Add(time.Hour)
	want.Hash, want.PrevHash = hash("t2"), hash("t1")
	checkFamily(t, got, want)
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
	wantErr(t, err, errReused)
	if f := familyOf(t, s, "t2"); !f.Revoked {
		t.Fatal("family not revoked after reuse")
	}
	// Even the newest token is dead now, and the reused one stays dead.
	_, err = rotate(t, s, "t2", "t3", at(4*time.Minute), 0)
	wantErr(t, err, errRevoked)
	_, err = rotate(t, s, "t1", "t3", at(4*time.Minute), 0)
	wantErr(t, err, errRevoked)
	if f := familyOf(t, s, "t2"); !slices.Equal(f.Hash, hash("t2")) || f.Generation != 2 {
		t.Errorf("a failed rotation changed the family: %+v", f)
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
	wantErr(t, err, errExpired)
	_, err = rotate(t, s, "t0", "t1", at(2*time.Hour), 0)
	wantErr(t, err, errExpired)
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
	_, err = s.GetFamily(ctx(t), "nope")
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
	wantErr(t, err, errRevoked)
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
		wantErr(t, err, errRevoked)
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
	fam := familyOf(t, s, "t2")
	if fam.Generation != 2 || fam.Revoked || !slices.Equal(fam.Hash, hash("t2")) || !slices.Equal(fam.PrevHash, hash("t1")) {
		t.Fatalf("t2: family %+v", fam)
	}
	// t1 is no longer the live token: with a strict policy it is reuse.
	_, err = rotate(t, s, "t1", "t3", now.Add(time.Second), 0)
	wantErr(t, err, errReused)
	_, err = rotate(t, s, "t2", "t3", now.Add(2*time.Second), reuse)
	wantErr(t, err, errRevoked)
}

func testReuseIntervalElapsed(t *testing.T, s store.Store) {
	const reuse = 10 * time.Second
	newFamily(t, s, "fam", "alice", "web", "t0", at(0), time.Hour)
	_, err := rotate(t, s, "t0", "t1", at(time.Minute), reuse)
	must(t, err)
	// The interval is half-open: at RotatedAt+ReuseInterval it is over.
	_, err = rotate(t, s, "t0", "t2", at(time.Minute+reuse), reuse)
	wantErr(t, err, errReused)
	if f := familyOf(t, s, "t1"); !f.Revoked {
		t.Fatal("family not revoked")
	}
	_, err = rotate(t, s, "t1", "t2", at(time.Minute+reuse+time.Second), reuse)
	wantErr(t, err, errRevoked)
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
	wantErr(t, err, errReused)
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
			_, errs[i] = rotateCtx(ctx(t), s, "t0", fmt.Sprintf("new-%d", i), at(time.Minute), 0)
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
		case errors.Is(err, errReused):
			reused++
		case errors.Is(err, errRevoked):
			revoked++
		default:
			t.Errorf("rotation %d: unexpected error %v", i, err)
		}
	}
	if ok != 1 || reused < 1 {
		t.Fatalf("%d successes, %d reused, %d revoked; want exactly 1 success and at least 1 reuse", ok, reused, revoked)
	}
	// The first loser revoked the family: the winner's token is dead too,
	// and no loser's token was stored.
	f, err := s.GetFamily(ctx(t), "fam")
	must(t, err)
	if !f.Revoked || f.Generation != 1 || !slices.Equal(f.Hash, hash(fmt.Sprintf("new-%d", winner))) || !slices.Equal(f.PrevHash, hash("t0")) {
		t.Fatalf("after concurrent rotation: family %+v", f)
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

// testAdvanceFamilyCAS checks the store's only refresh write: it succeeds
// only from the generation read and on a live family, and a failed one
// writes nothing.
func testAdvanceFamilyCAS(t *testing.T, s store.Store) {
	newFamily(t, s, "fam", "alice", "web", "t0", at(0), time.Hour)
	adv := func(gen int64, next string, now time.Time) error {
		return s.AdvanceFamily(ctx(t), store.Advance{FamilyID: "fam", Generation: gen, NewHash: hash(next), Now: now, ExpiresAt: now.Add(time.Hour)})
	}
	must(t, adv(0, "t1", at(time.Minute)))
	// A second writer that read generation 0 loses, and writes nothing.
	wantErr(t, adv(0, "t1b", at(2*time.Minute)), store.ErrStale)
	if f := familyOf(t, s, "t0"); f.Generation != 1 || !f.RotatedAt.Equal(at(time.Minute)) ||
		!slices.Equal(f.Hash, hash("t1")) || !slices.Equal(f.PrevHash, hash("t0")) {
		t.Fatalf("family after a lost compare-and-set: %+v", f)
	}
	// A revoked family never advances.
	must(t, s.RevokeFamily(ctx(t), "fam"))
	wantErr(t, adv(1, "t2", at(3*time.Minute)), store.ErrStale)
	// An unknown family is stale too.
	wantErr(t, s.AdvanceFamily(ctx(t), store.Advance{FamilyID: "nope", NewHash: hash("n"), Now: at(0), ExpiresAt: at(time.Hour)}), store.ErrStale)
}

// testEndSessions checks a user's not-before time and family revocation
// happen together.
func testEndSessions(t *testing.T, s store.Store) {
	must(t, s.CreateUser(ctx(t), store.User{Username: "alice", CreatedAt: at(0), UpdatedAt: at(0)}))
	newFamily(t, s, "a1", "alice", "web", "a1", at(0), time.Hour)
	newFamily(t, s, "a2", "alice", "cli", "a2", at(0), time.Hour)
	newFamily(t, s, "b1", "bob", "web", "b1", at(0), time.Hour)
	n, err := s.EndSessions(ctx(t), "alice", at(time.Minute))
	must(t, err)
	if n != 2 {
		t.Errorf("EndSessions revoked %d families, want 2", n)
	}
	u, err := s.GetUser(ctx(t), "alice")
	must(t, err)
	if !u.NotBefore.Equal(at(time.Minute)) {
		t.Errorf("NotBefore = %v, want %v", u.NotBefore, at(time.Minute))
	}
	for _, tok := range []string{"a1", "a2"} {
		if !familyOf(t, s, tok).Revoked {
			t.Errorf("family %s not revoked", tok)
		}
	}
	if familyOf(t, s, "b1").Revoked {
		t.Error("another user's family revoked")
	}
	// UpdateUser keeps the not-before time.
	u.Disabled = true
	must(t, s.UpdateUser(ctx(t), u))
	u, err = s.GetUser(ctx(t), "alice")
	must(t, err)
	if !u.NotBefore.Equal(at(time.Minute)) {
		t.Errorf("NotBefore after UpdateUser = %v", u.NotBefore)
	}
	_, err = s.EndSessions(ctx(t), "nobody", at(time.Minute))
	wantErr(t, err, store.ErrNotFound)
}

// testAccessState checks the one-query read behind access token
// introspection.
func testAccessState(t *testing.T, s store.Store) {
	must(t, s.CreateUser(ctx(t), store.User{Username: "alice", CreatedAt: at(0), UpdatedAt: at(0)}))
	must(t, s.CreateUser(ctx(t), store.User{Username: "dis", Disabled: true, CreatedAt: at(time.Second), UpdatedAt: at(0)}))
	must(t, s.CreateClient(ctx(t), store.Client{ID: "svc", CreatedAt: at(0)}))
	must(t, s.CreateClient(ctx(t), store.Client{ID: "web", CreatedAt: at(2 * time.Second)}))
	newFamily(t, s, "dead", "alice", "web", "d0", at(0), time.Hour)
	must(t, s.RevokeFamily(ctx(t), "dead"))
	must(t, s.DenyAccessToken(ctx(t), "denied", at(time.Hour)))
	_, err := s.EndSessions(ctx(t), "alice", at(time.Minute))
	must(t, err)

	for _, tc := range []struct {
		q    store.AccessQuery
		want store.AccessState
	}{
		{store.AccessQuery{JTI: "j", Subject: "alice"},
			store.AccessState{UserExists: true, UserCreatedAt: at(0), UserNotBefore: at(time.Minute)}},
		{store.AccessQuery{JTI: "j", Subject: "alice", ClientID: "web"},
			store.AccessState{UserExists: true, UserCreatedAt: at(0), UserNotBefore: at(time.Minute), TokenClientExists: true, TokenClientCreatedAt: at(2 * time.Second)}},
		{store.AccessQuery{JTI: "denied", FamilyID: "dead", Subject: "dis", ClientID: "gone"},
			store.AccessState{Denied: true, FamilyRevoked: true, UserExists: true, UserDisabled: true, UserCreatedAt: at(time.Second)}},
		{store.AccessQuery{JTI: "j", FamilyID: "gone", Subject: "svc", ClientID: "svc"},
			store.AccessState{FamilyRevoked: true, ClientExists: true, TokenClientExists: true, TokenClientCreatedAt: at(0)}},
		{store.AccessQuery{JTI: "j", FamilyID: "", Subject: "nobody"}, store.AccessState{}},
	} {
		got, err := s.AccessState(ctx(t), tc.q)
		must(t, err)
		if got.Denied != tc.want.Denied || got.FamilyRevoked != tc.want.FamilyRevoked || got.UserExists != tc.want.UserExists ||
			got.UserDisabled != tc.want.UserDisabled || !got.UserCreatedAt.Equal(tc.want.UserCreatedAt) ||
			!got.UserNotBefore.Equal(tc.want.UserNotBefore) || got.ClientExists != tc.want.ClientExists ||
			got.TokenClientExists != tc.want.TokenClientExists || !got.TokenClientCreatedAt.Equal(tc.want.TokenClientCreatedAt) {
			t.Errorf("AccessState(%+v) =\n %+v, want\n %+v", tc.q, got, tc.want)
		}
	}
	// The signing key's revocation is read in the same statement.
	// k-old is retired by k-new, then revoked as compromised.
	must(t, s.AddSigningKey(ctx(t), store.SigningKey{ID: "k-old", Algorithm: "EdDSA", Private: []byte("p"), CreatedAt: at(0)}, "", time.Time{}))
	must(t, s.AddSigningKey(ctx(t), store.SigningKey{ID: "k-new", Algorithm: "EdDSA", Private: []byte("p"), CreatedAt: at(time.Second)}, "k-old", at(time.Hour)))
	must(t, s.RevokeSigningKey(ctx(t), "k-old", at(time.Minute)))
	for kid, want := range map[string]bool{"k-old": true, "k-new": false, "k-none": false, "": false} {
		got, err := s.AccessState(ctx(t), store.AccessQuery{JTI: "j", Subject: "alice", KeyID: kid})
		must(t, err)
		if got.KeyRevoked != want {
			t.Errorf("AccessState(KeyID %q).KeyRevoked = %v, want %v", kid, got.KeyRevoked, want)
		}
		if rv, err := s.SigningKeyRevoked(ctx(t), kid); err != nil || rv != want {
			t.Errorf("SigningKeyRevoked(%q) = %v, %v; AccessState must agree with it", kid, rv, err)
		}
	}
	// A live family is not revoked (EndSessions revoked alice's).
	newFamily(t, s, "fresh", "bob", "web", "f0", at(0), time.Hour)
	got, err := s.AccessState(ctx(t), store.AccessQuery{JTI: "j", FamilyID: "fresh", Subject: "bob"})
	must(t, err)
	if got.FamilyRevoked {
		t.Error("live family reported revoked")
	}
}

// testReserveAttempt checks the limit, the window and the lock-out escape
// of ReserveAttempt, and ReleaseAttempt.
func testReserveAttempt(t *testing.T, s store.Store) {
	const window = 10 * time.Minute
	res := func(now time.Time, w time.Duration, limit int, since time.Time) (int, bool) {
		t.Helper()
		n, ok, err := s.ReserveAttempt(ctx(t), "k", now, w, limit, since)
		must(t, err)
		return n, ok
	}
	for i := 1; i <= 3; i++ {
		if n, ok := res(at(time.Duration(i)*time.Second), window, 3, time.Time{}); !ok || n != i {
			t.Fatalf("reservation %d: %d %v", i, n, ok)
		}
	}
	if n, ok := res(at(4*time.Second), window, 3, time.Time{}); ok || n != 3 {
		t.Fatalf("reservation past the limit: %d %v, want 3 false", n, ok)
	}
	// A lock-out that ran out (latest attempt not after since) lets one through.
	if n, ok := res(at(time.Minute), window, 3, at(3*time.Second)); !ok || n != 4 {
		t.Fatalf("after the lock-out: %d %v", n, ok)
	}
	if _, ok := res(at(time.Minute), window, 3, at(3*time.Second)); ok {
		t.Fatal("second attempt in the same lock-out period counted")
	}
	must(t, s.ReleaseAttempt(ctx(t), "k"))
	if n, _ := failures(t, s, "k", at(time.Minute), window); n != 3 {
		t.Fatalf("after release: %d, want 3", n)
	}
	// A new window starts from one.
	if n, ok := res(at(time.Second+window), window, 3, time.Time{}); !ok || n != 1 {
		t.Fatalf("in a new window: %d %v", n, ok)
	}
	must(t, s.ReleaseAttempt(ctx(t), "k"))
	must(t, s.ReleaseAttempt(ctx(t), "k"))
	must(t, s.ReleaseAttempt(ctx(t), "nobody"))
	if n, _ := failures(t, s, "k", at(time.Second+window), window); n != 0 {
		t.Fatalf("count went below zero or stayed: %d", n)
	}
}

// testReserveAttemptConcurrent checks that concurrent reservations never
// pass the limit.
func testReserveAttemptConcurrent(t *testing.T, s store.Store) {
	const n, limit = 100, 10
	start := make(chan struct{})
	var (
		wg sync.WaitGroup
		mu sync.Mutex
		ok int
	)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, got, err := s.ReserveAttempt(ctx(t), "user:x", at(0), time.Hour, limit, time.Time{})
			if err != nil {
				t.Error(err)
				return
			}
			if got {
				mu.Lock()
				ok++
				mu.Unlock()
			}
		}()
	}
	close(start)
	wg.Wait()
	if ok != limit {
		t.Fatalf("%d of %d concurrent reservations counted, want exactly %d", ok, n, limit)
	}
}
