package oauth

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tokengate/tokengate/internal/store/sqlite"
)

// The guard's behaviour over HTTP (429, Retry-After growing, reset on
// success, the same answer for unknown users, trusted proxies) is tested
// in internal/server/bruteforce_test.go; these tests cover what HTTP
// cannot reach.

func newGuardOn(t *testing.T, o GuardOptions) (*Guard, *sqlite.DB, *time.Time) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "guard.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	return NewGuard(st, o, func() time.Time { return now }, nil), st, &now
}

func TestGuardFailsClosedWhenTheCountersAreUnreachable(t *testing.T) {
	g, st, _ := newGuardOn(t, GuardOptions{})
	st.Close()
	err := g.check(context.Background(), "alice", "192.0.2.1")
	var oe *Error
	if !errors.As(err, &oe) || oe.Code != CodeTemporarilyUnavailable {
		t.Fatalf("check with the store down = %v, want 503 temporarily_unavailable", err)
	}
}

func TestGuardCountsBelowTheThresholdWithinOneWindow(t *testing.T) {
	ctx := context.Background()
	g, _, now := newGuardOn(t, GuardOptions{Threshold: 3, Window: 10 * time.Minute})
	g.fail(ctx, "alice", "")
	g.fail(ctx, "alice", "")
	// The window of those two ends: the third failure starts a new count,
	// so three failures spread over more than a window never lock.
	*now = now.Add(10 * time.Minute)
	g.fail(ctx, "alice", "")
	if err := g.check(ctx, "alice", ""); err != nil {
		t.Fatalf("3 failures over more than the window locked out: %v", err)
	}
	g.fail(ctx, "alice", "")
	g.fail(ctx, "alice", "")
	if err := g.check(ctx, "alice", ""); err == nil {
		t.Fatal("3 failures within the window did not lock out")
	}
}

func TestGuardAPIKeyFailuresCountPerIPOnly(t *testing.T) {
	ctx := context.Background()
	g, st, _ := newGuardOn(t, GuardOptions{Threshold: 2, IPThreshold: 2})
	g.fail(ctx, "", "192.0.2.1")
	g.fail(ctx, "", "192.0.2.1")
	if err := g.check(ctx, "", "192.0.2.1"); err == nil {
		t.Fatal("the IP is not locked out")
	}
	if err := g.check(ctx, "", "192.0.2.2"); err != nil {
		t.Fatalf("another IP is locked out: %v", err)
	}
	// No counter is kept for the empty username.
	if n, _, err := st.Failures(ctx, "user:", time.Now(), time.Hour); err != nil || n != 0 {
		t.Fatalf("empty username counted: %d %v", n, err)
	}
}

// TestGuardReservesBeforeChecking is the brute-force accounting table:
// each step reserves (as a password login does before hashing) and then
// fails, succeeds or is taken back, on an injected clock.
func TestGuardReservesBeforeChecking(t *testing.T) {
	ctx := context.Background()
	g, st, now := newGuardOn(t, GuardOptions{Threshold: 3, IPThreshold: 5, Window: 10 * time.Minute, BaseBackoff: time.Minute, MaxBackoff: 8 * time.Minute})
	const ip = "192.0.2.1"
	type step struct {
		advance time.Duration
		then    string // "fail", "succeed", "release"
		locked  bool   // reserve answers 429
		user    int    // user count after the step
		ipCount int
	}
	for i, s := range []step{
		{then: "fail", user: 1, ipCount: 1},
		{then: "release", user: 1, ipCount: 1}, // a check that never ran is not counted
		{then: "fail", user: 2, ipCount: 2},
		{then: "succeed", user: 0, ipCount: 2}, // success: user reset, its IP attempt taken back
		{then: "fail", user: 1, ipCount: 3},
		{then: "fail", user: 2, ipCount: 4},
		{then: "fail", user: 3, ipCount: 5},
		{locked: true, user: 3, ipCount: 5}, // threshold reached: refused before any hashing
		// Both lock-outs ran out: one more attempt each, counted past the threshold.
		{advance: time.Minute, then: "fail", user: 4, ipCount: 6},
		{locked: true, user: 4, ipCount: 6}, // and the next lock-out is twice as long
		{advance: time.Minute, locked: true, user: 4, ipCount: 6},
	} {
		*now = now.Add(s.advance)
		err := g.reserve(ctx, "alice", ip)
		if s.locked {
			var oe *Error
			if !errors.As(err, &oe) || oe.Reason != ReasonLocked {
				t.Fatalf("step %d: reserve = %v, want 429", i, err)
			}
		} else if err != nil {
			t.Fatalf("step %d: reserve = %v", i, err)
		}
		if err == nil {
			switch s.then {
			case "succeed":
				g.succeed(ctx, "alice", ip)
			case "release":
				g.release(ctx, "alice", ip)
			}
		}
		if n, _, _ := st.Failures(ctx, userKey("alice"), *now, time.Hour); n != s.user {
			t.Fatalf("step %d: user count %d, want %d", i, n, s.user)
		}
		if n, _, _ := st.Failures(ctx, ipKey(ip), *now, time.Hour); n != s.ipCount {
			t.Fatalf("step %d: IP count %d, want %d", i, n, s.ipCount)
		}
	}
}

// TestGuardReservationsNeverPassTheThreshold: 100 concurrent reservations
// for one user on a stopped clock; exactly Threshold get through.
func TestGuardReservationsNeverPassTheThreshold(t *testing.T) {
	g, _, _ := newGuardOn(t, GuardOptions{Threshold: 10})
	var (
		wg sync.WaitGroup
		mu sync.Mutex
		ok int
	)
	start := make(chan struct{})
	for i := range 100 {
		wg.Go(func() {
			<-start
			if g.reserve(context.Background(), "alice", fmt.Sprintf("192.0.2.%d", i)) == nil {
				mu.Lock()
				ok++
				mu.Unlock()
			}
		})
	}
	close(start)
	wg.Wait()
	if ok != 10 {
		t.Fatalf("%d reservations got through, want exactly 10", ok)
	}
}
