// Package sqlite is tokengate's embedded storage backend: a single SQLite
// file accessed through the pure-Go modernc.org/sqlite driver.
//
// The database runs in WAL mode. Writes go through a pool holding exactly
// one connection whose transactions begin IMMEDIATE, so write transactions
// never deadlock or fail on lock upgrades; reads go through a separate pool
// of read-only connections that proceed concurrently with the writer.
package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"runtime"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/tokengate/tokengate/internal/store"
	"github.com/tokengate/tokengate/internal/store/sqlmigrate"
	"github.com/tokengate/tokengate/internal/store/sqlrow"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

var _ store.Store = (*DB)(nil)

// Options tunes how the database is opened. The zero value gives the
// defaults.
type Options struct {
	// Synchronous is the PRAGMA synchronous level: OFF, NORMAL, FULL or
	// EXTRA. Empty means FULL: every commit is durable on power loss.
	// NORMAL is much faster in WAL mode but may lose the latest commits
	// (never corrupt the file) on power loss.
	Synchronous string
	// BusyTimeout is how long a connection waits for a lock held by another
	// process before failing. Zero means 5 seconds.
	BusyTimeout time.Duration
	// MaxReaders is the size of the read pool. Zero means
	// max(4, GOMAXPROCS).
	MaxReaders int
	// Logger receives a line for every store file whose mode Open had to
	// tighten; nil discards it.
	Logger *slog.Logger
}

// DB is a store.Store backed by one SQLite file. It is safe for concurrent
// use.
type DB struct {
	w *sql.DB // writer pool: exactly one connection, BEGIN IMMEDIATE
	r *sql.DB // reader pool: query_only connections

	// Prepared statements of the hot paths (refresh grant, access token
	// validation).
	getRefreshR  *sql.Stmt // reader
	advanceFam   *sql.Stmt // writer
	getFamilyR   *sql.Stmt // reader
	revokeFam    *sql.Stmt // writer
	isDeniedStmt *sql.Stmt // reader
	getUserR     *sql.Stmt // reader
	getClientR   *sql.Stmt // reader
	getKeyR      *sql.Stmt // reader
	accessStateR *sql.Stmt // reader
	keyRevokedR  *sql.Stmt // reader

	// commit batches the hot writes into group commits.
	commit *committer
	// watch tells a client cache when clients changed (ClientsVersion).
	watch clientWatch
}

// Open opens or creates the database file at path with default options,
// applies pending migrations and returns a ready store.
func Open(ctx context.Context, path string) (*DB, error) {
	return OpenWithOptions(ctx, path, Options{})
}

// OpenWithOptions is Open with explicit options.
func OpenWithOptions(ctx context.Context, path string, o Options) (*DB, error) {
	if path == "" || path == ":memory:" || strings.ContainsAny(path, "?#") || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("sqlite: open: %q is not a plain file path", path)
	}
	sync := strings.ToUpper(o.Synchronous)
	switch sync {
	case "":
		sync = "FULL"
	case "OFF", "NORMAL", "FULL", "EXTRA":
	default:
		return nil, fmt.Errorf("sqlite: open: invalid synchronous level %q", o.Synchronous)
	}
	busy := o.BusyTimeout
	if busy <= 0 {
		busy = 5 * time.Second
	}
	readers := o.MaxReaders
	if readers <= 0 {
		readers = max(4, runtime.GOMAXPROCS(0))
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	// Without a master key the file holds the private signing keys in the
	// clear: it, its WAL and its shared-memory file are the owner's only.
	if err := prepareFiles(path, o.Logger); err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}

	common := url.Values{}
	common.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busy.Milliseconds()))
	common.Add("_pragma", "foreign_keys(1)")

	wq := cloneValues(common)
	wq.Add("_pragma", "journal_mode(WAL)")
	wq.Add("_pragma", "synchronous("+sync+")")
	wq.Set("_txlock", "immediate")
	w, err := sql.Open("sqlite", path+"?"+wq.Encode())
	if err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	// Connect the writer first: it creates the file and switches it to WAL
	// (a persistent setting) before any reader connects.
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, wrapErr("open", err)
	}

	// Readers are query_only: a write on the wrong pool fails loudly instead
	// of racing the writer for the lock.
	rq := cloneValues(common)
	rq.Add("_pragma", "query_only(1)")
	r, err := sql.Open("sqlite", path+"?"+rq.Encode())
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	r.SetMaxOpenConns(readers)
	r.SetMaxIdleConns(readers)
	r.SetConnMaxLifetime(0)
	r.SetConnMaxIdleTime(0)

	db := &DB{w: w, r: r}
	db.watch.dsn = path + "?" + rq.Encode()
	if err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	// SQLite gives the -wal and -shm files the mode of the database file;
	// this catches those left by an older version or another tool.
	if err := tightenModes(path, o.Logger); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	if err := db.prepare(ctx); err != nil {
		db.Close()
		return nil, err
	}
	db.commit = newCommitter(w)
	db.watch.once.Do(func() { db.watch.open(ctx) })
	return db, nil
}

func cloneValues(v url.Values) url.Values {
	c := make(url.Values, len(v))
	for k, vs := range v {
		c[k] = append([]string(nil), vs...)
	}
	return c
}

func (db *DB) prepare(ctx context.Context) error {
	stmts := []struct {
		dst   **sql.Stmt
		pool  *sql.DB
		query string
	}{
		{&db.getRefreshR, db.r, getRefreshSQL},
		{&db.advanceFam, db.w, advanceFamilySQL},
		{&db.getFamilyR, db.r, getFamilySQL},
		{&db.revokeFam, db.w, `UPDATE families SET revoked = 1 WHERE id = ?`},
		{&db.isDeniedStmt, db.r, `SELECT 1 FROM denylist WHERE jti = ?`},
		{&db.getUserR, db.r, `SELECT ` + sqlrow.UserSelect + ` FROM users WHERE username = ?`},
		{&db.getClientR, db.r, `SELECT ` + sqlrow.ClientColumns + ` FROM clients WHERE id = ?`},
		{&db.getKeyR, db.r, `SELECT ` + sqlrow.APIKeyColumns + ` FROM api_keys WHERE hash = ?`},
		{&db.accessStateR, db.r, accessStateSQL},
		{&db.keyRevokedR, db.r, `SELECT EXISTS (SELECT 1 FROM signing_keys WHERE kid = ? AND revoked_at <> 0)`},
	}
	for _, s := range stmts {
		st, err := s.pool.PrepareContext(ctx, s.query)
		if err != nil {
			return wrapErr("prepare statements", err)
		}
		*s.dst = st
	}
	return nil
}

// Close closes both connection pools.
func (db *DB) Close() error {
	if db.commit != nil {
		db.commit.close()
	}
	errs := []error{db.watch.close()}
	for _, s := range []*sql.Stmt{db.getRefreshR, db.advanceFam, db.getFamilyR, db.revokeFam, db.isDeniedStmt, db.getUserR, db.getClientR, db.getKeyR, db.accessStateR, db.keyRevokedR} {
		if s != nil {
			errs = append(errs, s.Close())
		}
	}
	// Readers first, so that the writer is the last connection and
	// checkpoints the WAL into the main file.
	errs = append(errs, db.r.Close(), db.w.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sqlite: close: %w", err)
	}
	return nil
}

// Ping reports whether both pools can reach the database.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.r.PingContext(ctx); err != nil {
		return wrapErr("ping", err)
	}
	return wrapErr("ping", db.w.PingContext(ctx))
}

// Migrate applies every embedded migration not yet recorded in
// schema_migrations, each in its own transaction. It is idempotent, and it
// refuses a database whose schema is newer than this binary knows.
func (db *DB) Migrate(ctx context.Context) error {
	ms, err := sqlmigrate.Load(migrationFS)
	if err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	if _, err := db.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER NOT NULL PRIMARY KEY,
		applied_at INTEGER NOT NULL
	)`); err != nil {
		return wrapErr("migrate", err)
	}
	var current int
	if err := db.w.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return wrapErr("migrate", err)
	}
	if latest := ms[len(ms)-1].Version; current > latest {
		return fmt.Errorf("sqlite: migrate: database schema version %d is newer than this binary supports (%d)", current, latest)
	}
	for _, m := range ms {
		if m.Version <= current {
			continue
		}
		err := db.inTx(ctx, func(tx *sql.Tx) error {
			// Checked again under the write lock in case another process
			// migrated the file meanwhile.
			var done bool
			if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = ?)`, m.Version).Scan(&done); err != nil {
				return err
			}
			if done {
				return nil
			}
			if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`, m.Version, time.Now().UnixNano())
			return err
		})
		if err != nil {
			return wrapErr("migrate "+m.Name, err)
		}
	}
	return nil
}

// inTx runs fn in a write transaction, committing when fn returns nil.
func (db *DB) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// wrapErr prefixes err with the operation and maps driver errors onto the
// store's sentinels: no rows → ErrNotFound, unique violations →
// ErrConflict, locks and I/O failures → ErrUnavailable. The original error
// stays in the chain.
func wrapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("sqlite: %s: %w", op, store.ErrNotFound)
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("sqlite: %s: %w: %w", op, store.ErrConflict, err)
		}
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_FULL:
			return fmt.Errorf("sqlite: %s: %w: %w: %w", op, store.ErrUnavailable, store.ErrStorageFull, err)
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_CANTOPEN,
			sqlite3.SQLITE_IOERR, sqlite3.SQLITE_NOMEM:
			return fmt.Errorf("sqlite: %s: %w: %w", op, store.ErrUnavailable, err)
		}
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, sql.ErrConnDone) || errors.Is(err, driver.ErrBadConn) {
		return fmt.Errorf("sqlite: %s: %w: %w", op, store.ErrUnavailable, err)
	}
	return fmt.Errorf("sqlite: %s: %w", op, err)
}

// list runs a query on the read pool and scans every row with scan.
func list[T any](ctx context.Context, db *DB, scan func(sqlrow.Scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := db.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return sqlrow.Collect(rows, scan)
}
