package postgres

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// waitFeed waits until db's change feed listens and returns its version.
func waitFeed(t *testing.T, db *DB) uint64 {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if v, ok := db.ClientsVersion(context.Background()); ok {
			return v
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatal("the client change feed never listened")
	return 0
}

// waitFeedChange waits until db's version differs from v while listening,
// and returns how long it took.
func waitFeedChange(t *testing.T, db *DB, v uint64, what string) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < 10*time.Second {
		if got, ok := db.ClientsVersion(context.Background()); ok && got != v {
			return time.Since(start)
		}
		time.Sleep(100 * time.Microsecond)
	}
	t.Fatalf("%s: the version did not change", what)
	return 0
}

// TestClientFeedSeesOtherNodes: a client changed outside this store (by
// plain SQL on another connection, as another node or a restore would)
// changes its ClientsVersion through the trigger's NOTIFY, with no help
// from this process.
func TestClientFeedSeesOtherNodes(t *testing.T) {
	db, dsn := openFresh(t, Options{})
	v := waitFeed(t, db)
	adminExec(t, dsn, `INSERT INTO clients (id, public, grants, scopes, access_token_ttl, refresh_token_ttl, refresh_reuse_interval, created_at)
		VALUES ('other', true, 'password', '', 0, 0, 0, 0)`)
	t.Logf("insert by another connection seen after %v", waitFeedChange(t, db, v, "insert"))
	v = waitFeed(t, db)
	adminExec(t, dsn, `DELETE FROM clients WHERE id = 'other'`)
	t.Logf("delete by another connection seen after %v", waitFeedChange(t, db, v, "delete"))

	// A write to anything else notifies nothing: notifications arrive in
	// commit order, so had the denylist write notified, the client write
	// after it would leave the version two steps on, not one.
	v = waitFeed(t, db)
	adminExec(t, dsn, `INSERT INTO denylist (jti, expires_at) VALUES ('j', 0)`)
	adminExec(t, dsn, `UPDATE clients SET public = public`)
	waitFeedChange(t, db, v, "update")
	if got, _ := db.ClientsVersion(context.Background()); got != v+1 {
		t.Fatalf("version %d after a denylist write and a client write, want %d", got, v+1)
	}
}

// TestClientFeedResyncsAfterLosingItsConnection: when the listening
// connection is killed (pg_terminate_backend), what a cache held is
// dropped (the version changes) and the feed listens again, so that a
// change made afterwards is seen too.
func TestClientFeedResyncsAfterLosingItsConnection(t *testing.T) {
	db, dsn := openFresh(t, Options{})
	v := waitFeed(t, db)
	pid := db.feed.pid.Load()
	adminExec(t, dsn, fmt.Sprintf(`SELECT pg_terminate_backend(%d)`, pid))
	t.Logf("resync after %v", waitFeedChange(t, db, v, "after the kill"))
	v = waitFeed(t, db)
	adminExec(t, dsn, `UPDATE clients SET public = public`)
	t.Logf("a change after the reconnection seen after %v", waitFeedChange(t, db, v, "after reconnecting"))
}
