package postgres

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// clientsChannel is the channel the clients table's trigger (migration
// 0010) notifies when a transaction that changed a client commits.
const clientsChannel = "tokengate_clients"

// feedPing is how long the listening connection may stay silent before it
// is pinged, so that a connection lost without a word is noticed.
const feedPing = 30 * time.Second

// clientFeed answers ClientsVersion: a dedicated connection (not one of
// the pool's) LISTENs on clientsChannel, and every notification changes
// the version. While it is not listening (not yet connected, or the
// connection dropped), ok is false; when it listens again the version
// changes once more, so that what a cache held across the gap is dropped
// (the resync).
type clientFeed struct {
	once    sync.Once
	version atomic.Uint64
	ok      atomic.Bool
	pid     atomic.Uint32      // the listening connection's backend, for tests
	stop    context.CancelFunc // nil until started
	done    chan struct{}
	mu      sync.Mutex // guards stop and closed
	closed  bool
}

// ClientsVersion implements store.Clients. The first call starts the
// listener, so that commands that never cache clients (the CLI) hold no
// extra connection.
func (db *DB) ClientsVersion(context.Context) (uint64, bool) {
	f := &db.feed
	f.once.Do(func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.closed {
			return
		}
		ctx, cancel := context.WithCancel(context.Background())
		f.stop, f.done = cancel, make(chan struct{})
		go db.listenClients(ctx)
	})
	if !f.ok.Load() {
		return 0, false
	}
	return f.version.Load(), true
}

// clientsChanged is called after this process wrote a client, so that its
// own cache does not wait for the notification's round trip.
func (db *DB) clientsChanged() { db.feed.version.Add(1) }

func (f *clientFeed) close() {
	f.mu.Lock()
	f.closed = true
	stop, done := f.stop, f.done
	f.mu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
}

// listenClients keeps a LISTEN connection until ctx ends, reconnecting
// with a bounded back-off.
func (db *DB) listenClients(ctx context.Context) {
	f := &db.feed
	defer close(f.done)
	wait := 100 * time.Millisecond
	for ctx.Err() == nil {
		if db.listenOnce(ctx) {
			wait = 100 * time.Millisecond // it had listened: retry soon
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// listenOnce connects, listens and turns notifications into version
// changes until the connection fails; it reports whether it listened.
func (db *DB) listenOnce(ctx context.Context) bool {
	f := &db.feed
	cfg := db.pool.Config().ConnConfig
	cfg.Tracer = nil // the pool's queries only
	cctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout+time.Second)
	conn, err := pgx.ConnectConfig(cctx, cfg)
	cancel()
	if err != nil {
		return false
	}
	defer conn.Close(context.Background())
	lctx, cancel := context.WithTimeout(ctx, db.opTimeout)
	_, err = conn.Exec(lctx, `LISTEN `+clientsChannel)
	cancel()
	if err != nil {
		return false
	}
	f.pid.Store(conn.PgConn().PID())
	// Listening from here on: whatever changed before is dropped.
	f.version.Add(1)
	f.ok.Store(true)
	defer func() {
		f.ok.Store(false)
		f.version.Add(1)
	}()
	for {
		wctx, cancel := context.WithTimeout(ctx, feedPing)
		_, err := conn.WaitForNotification(wctx)
		timedOut := wctx.Err() != nil
		cancel()
		switch {
		case err == nil:
			f.version.Add(1)
			continue
		case ctx.Err() != nil:
			return true
		case timedOut && !conn.IsClosed():
			pctx, cancel := context.WithTimeout(ctx, db.opTimeout)
			err := conn.Ping(pctx)
			cancel()
			if err == nil {
				continue
			}
		}
		return true
	}
}
