package oauth

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"tokengate/internal/store/sqlite"
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
	if !errors.As(err, &oe) || oe.Status != http.StatusServiceUnavailable || oe.Code != CodeTemporarilyUnavailable {
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
