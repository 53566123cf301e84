package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
)

// Group commit. With synchronous=FULL every commit waits for an fsync of
// the WAL, and a disk that does a few thousand fsyncs a second would cap
// the refresh grant there. The committer instead runs the hot writes
// (refresh rotations, new login families) of every caller waiting at that
// moment in one transaction, each in its own savepoint, and commits once:
// one fsync for the whole batch. No caller is answered before the commit
// that holds its write has returned, so durability is unchanged; when
// the server is idle a batch is a single write and nothing waits longer.

// maxBatch bounds how many writes share one commit.
const maxBatch = 256

// errKeep wraps an error whose write must still be committed (a reuse
// detection revokes the family and then reports ErrTokenReused).
type errKeep struct{ err error }

func (e errKeep) Error() string { return e.err.Error() }
func (e errKeep) Unwrap() error { return e.err }

// keep marks err as one whose savepoint is released, not rolled back.
func keep(err error) error { return errKeep{err} }

type writeOp struct {
	ctx  context.Context
	fn   func(ctx context.Context, tx *sql.Tx) error
	done chan error
}

// committer owns batching of writes onto the single writer connection.
type committer struct {
	w    *sql.DB
	ops  chan *writeOp
	stop chan struct{}
	wg   sync.WaitGroup
	mu   sync.RWMutex // guards closed against sends racing close
	shut bool
}

func newCommitter(w *sql.DB) *committer {
	c := &committer{w: w, ops: make(chan *writeOp, maxBatch), stop: make(chan struct{})}
	c.wg.Add(1)
	go c.loop()
	return c
}

var errClosed = errors.New("store is closed")

// do runs fn inside a shared write transaction and returns once the
// transaction holding fn's write has committed (or fn's error).
func (c *committer) do(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	op := &writeOp{ctx: ctx, fn: fn, done: make(chan error, 1)}
	c.mu.RLock()
	if c.shut {
		c.mu.RUnlock()
		return errClosed
	}
	select {
	case c.ops <- op:
	case <-ctx.Done():
		c.mu.RUnlock()
		return ctx.Err()
	}
	c.mu.RUnlock()
	// The write is queued: wait for its commit even if ctx ends, so the
	// caller never reports failure for a write that then lands.
	return <-op.done
}

func (c *committer) close() {
	c.mu.Lock()
	if !c.shut {
		c.shut = true
		close(c.ops)
	}
	c.mu.Unlock()
	c.wg.Wait()
}

func (c *committer) loop() {
	defer c.wg.Done()
	batch := make([]*writeOp, 0, maxBatch)
	for op := range c.ops {
		batch = append(batch[:0], op)
	drain:
		for len(batch) < maxBatch {
			select {
			case more, ok := <-c.ops:
				if !ok {
					break drain
				}
				batch = append(batch, more)
			default:
				break drain
			}
		}
		c.run(batch)
	}
}

// run executes one batch: each op in a savepoint, one commit for all.
func (c *committer) run(batch []*writeOp) {
	results := make([]error, len(batch))
	finish := func(commitErr error) {
		for i, op := range batch {
			err := results[i]
			if commitErr != nil {
				err = commitErr
			}
			op.done <- err
		}
	}
	// The batch's statements must not be interrupted by one caller's
	// cancellation: that would abort everyone's transaction.
	bg := context.WithoutCancel(batch[0].ctx)
	tx, err := c.w.BeginTx(bg, nil)
	if err != nil {
		finish(err)
		return
	}
	for i, op := range batch {
		if err := op.ctx.Err(); err != nil {
			results[i] = err
			continue
		}
		if _, err := tx.ExecContext(bg, "SAVEPOINT op"); err != nil {
			results[i] = err
			continue
		}
		err := op.fn(context.WithoutCancel(op.ctx), tx)
		var k errKeep
		if err != nil && !errors.As(err, &k) {
			if _, rerr := tx.ExecContext(bg, "ROLLBACK TO op"); rerr != nil {
				_ = tx.Rollback()
				results[i] = err
				// SQLite rolls a whole transaction back by itself on some
				// errors (SQLITE_FULL, SQLITE_IOERR): the savepoint is gone
				// and every write of the batch with it. The write's own
				// error comes first, so that callers see its cause.
				finish(fmt.Errorf("%w (rolling back the batch: %w)", err, rerr))
				return
			}
		}
		if _, rerr := tx.ExecContext(bg, "RELEASE op"); rerr != nil {
			_ = tx.Rollback()
			finish(fmt.Errorf("releasing a savepoint: %w", rerr))
			return
		}
		if errors.As(err, &k) {
			err = k.err
		}
		results[i] = err
	}
	finish(tx.Commit())
}
