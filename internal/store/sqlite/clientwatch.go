package sqlite

import (
	"context"
	"database/sql"
	"sync"
	"sync/atomic"
	"time"
)

// clientCheckInterval is how often at most ClientsVersion asks SQLite
// whether another connection committed: a change made elsewhere reaches a
// client cache within this time plus one check.
const clientCheckInterval = 2 * time.Millisecond

// clientWatch answers ClientsVersion. It holds one connection of its own:
// PRAGMA data_version on it changes when any other connection, in this
// process or another (the CLI), has committed, and only then is the
// client_changes counter (bumped by triggers on clients) read again.
type clientWatch struct {
	dsn  string // the readers' DSN (query_only)
	once sync.Once
	conn *sql.Conn // nil when it could not be opened
	db   *sql.DB
	// Prepared on conn: PRAGMA data_version, and the counter's read.
	dataVerStmt, versionStmt *sql.Stmt

	mu      sync.Mutex // held while one caller checks
	dataVer int64      // under mu
	seen    bool       // under mu: dataVer is valid

	checked atomic.Int64  // monotonic nanoseconds since start of the last good check
	version atomic.Uint64 // client_changes.version at the last check
	// local counts this process's own client writes, so that they apply
	// at once rather than at the next check. The version is the sum of
	// both counters, which only grow: any change of either changes it.
	local atomic.Uint64
	ok    atomic.Bool
	start time.Time
}

// clientsChanged is called after this process wrote a client.
func (db *DB) clientsChanged() { db.watch.local.Add(1) }

// ClientsVersion implements store.Clients.
func (db *DB) ClientsVersion(ctx context.Context) (uint64, bool) {
	w := &db.watch
	w.once.Do(func() { w.open(ctx) })
	if w.conn == nil {
		return 0, false
	}
	now := int64(time.Since(w.start))
	if w.ok.Load() && now-w.checked.Load() < int64(clientCheckInterval) {
		return w.local.Load() + w.version.Load(), true
	}
	if !w.mu.TryLock() {
		// Another caller is checking right now.
		return w.local.Load() + w.version.Load(), w.ok.Load()
	}
	defer w.mu.Unlock()
	if err := w.check(ctx); err != nil {
		w.ok.Store(false)
		w.seen = false
		return 0, false
	}
	w.checked.Store(now)
	w.ok.Store(true)
	return w.local.Load() + w.version.Load(), true
}

func (w *clientWatch) open(ctx context.Context) {
	w.start = time.Now()
	d, err := sql.Open("sqlite", w.dsn)
	if err != nil {
		return
	}
	d.SetMaxOpenConns(1)
	c, err := d.Conn(context.WithoutCancel(ctx))
	if err != nil {
		d.Close()
		return
	}
	dv, err := c.PrepareContext(ctx, `PRAGMA data_version`)
	if err != nil {
		c.Close()
		d.Close()
		return
	}
	vs, err := c.PrepareContext(ctx, `SELECT version FROM client_changes WHERE id = 1`)
	if err != nil {
		dv.Close()
		c.Close()
		d.Close()
		return
	}
	w.db, w.conn, w.dataVerStmt, w.versionStmt = d, c, dv, vs
}

// check reads data_version and, when it moved, the clients counter.
func (w *clientWatch) check(ctx context.Context) error {
	var dv int64
	if err := w.dataVerStmt.QueryRowContext(ctx).Scan(&dv); err != nil {
		return err
	}
	if w.seen && dv == w.dataVer {
		return nil
	}
	var v int64
	if err := w.versionStmt.QueryRowContext(ctx).Scan(&v); err != nil {
		return err
	}
	w.dataVer, w.seen = dv, true
	w.version.Store(uint64(v))
	return nil
}

func (w *clientWatch) close() error {
	w.once.Do(func() {}) // no watch after Close
	if w.conn == nil {
		return nil
	}
	w.dataVerStmt.Close()
	w.versionStmt.Close()
	w.conn.Close()
	return w.db.Close()
}
