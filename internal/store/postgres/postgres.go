// Package postgres is tokengate's PostgreSQL storage backend, for several
// tokengate nodes sharing one database. It is built on jackc/pgx/v5 and its
// connection pool (pgxpool).
//
// # Connection string
//
// Open takes a PostgreSQL URL or keyword/value string as pgx understands it
// (https://pkg.go.dev/github.com/jackc/pgx/v5/pgxpool#ParseConfig), for
// example
//
//	postgres://tokengate:PASSWORD@db.internal:5432/tokengate?sslmode=verify-full&pool_max_conns=20&statement_timeout=5s
//
// Parameters that matter here:
//
//   - pool_max_conns: the pool size (pgx; default 16 here, where pgx's own
//     default is max(4, number of CPUs)).
//   - connect_timeout: seconds to wait for one connection attempt (pgx;
//     default 5 here, where pgx waits forever).
//   - statement_timeout: how long one statement may run before the server
//     cancels it; milliseconds, or a duration such as 500ms, 5s or 1min
//     (default 5s). It is sent to the server as the session's
//     statement_timeout, and with connect_timeout it also bounds every store
//     call on the client side: a call without a sooner deadline gets one of
//     statement_timeout + connect_timeout, so that a database that stops
//     answering makes calls fail with store.ErrUnavailable instead of
//     hanging.
//   - connect_retry: how long Open keeps retrying while the database cannot
//     be reached, as a duration (default 10s; 0 tries once). Errors that
//     retrying cannot fix (authentication, unknown database) fail at once.
//     This parameter is tokengate's own and is not sent to the server.
//   - search_path: the schema the tables live in (default: the server's
//     search_path, normally "public"). Two tokengate deployments may share a
//     database in different schemas.
//   - Any other server setting (for example application_name, or
//     synchronous_commit) is sent to the server as a session parameter.
//
// Non-zero fields of Options take precedence over the connection string.
//
// # Schema and nodes
//
// Open applies the embedded migrations in one transaction that holds a
// transaction-scoped advisory lock, so nodes starting together migrate
// once. DeleteExpired takes a session advisory lock with pg_try_advisory_lock
// and skips its round when another node holds it, so one node at a time
// cleans up. Both locks are keyed by the schema, so deployments in different
// schemas do not wait for each other.
//
// Refresh token rotation is one statement (one round trip and one
// transaction) in the common case: an UPDATE of the family row that is a
// compare-and-swap on its generation, with the new token inserted in the
// same statement. PostgreSQL re-evaluates the UPDATE's condition on the
// newest row version when it had to wait for a concurrent rotation, so of
// concurrent rotations of one token exactly one succeeds on any number of
// nodes. A rotation that fails runs a second statement that classifies the
// failure and, for a reused token, revokes the family (committed before
// store.ErrTokenReused is returned).
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tokengate/tokengate/internal/store"
	"github.com/tokengate/tokengate/internal/store/sqlmigrate"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

var _ store.Store = (*DB)(nil)

// Defaults for what neither Options nor the connection string sets.
const (
	DefaultMaxConns         = 16
	DefaultStatementTimeout = 5 * time.Second
	DefaultConnectTimeout   = 5 * time.Second
	DefaultConnectRetry     = 10 * time.Second
)

// Options tunes the pool. A zero field leaves the setting to the connection
// string, or to the default when the connection string does not set it.
type Options struct {
	// MaxConns is the pool size.
	MaxConns int32
	// StatementTimeout is the server-side statement_timeout of every
	// connection; calls are also bounded on the client side by
	// StatementTimeout + ConnectTimeout.
	StatementTimeout time.Duration
	// ConnectTimeout bounds one connection attempt.
	ConnectTimeout time.Duration
	// ConnectRetry is how long Open retries while the database cannot be
	// reached before it gives up with an error. Negative means one attempt.
	ConnectRetry time.Duration
	// Tracer, when set, sees every query and batch of the pool's
	// connections (pgx.QueryTracer, optionally pgx.BatchTracer): tests
	// count round trips per grant with it.
	Tracer pgx.QueryTracer
}

// DB is a store.Store backed by a PostgreSQL database. It is safe for
// concurrent use.
type DB struct {
	pool *pgxpool.Pool
	// opTimeout bounds every call that has no sooner deadline.
	opTimeout time.Duration
	// target names the database in messages: host:port/database, no
	// credentials.
	target string
	// feed tells a client cache when clients changed (ClientsVersion).
	feed clientFeed
}

// Open connects to the database dsn names, retrying for a bounded time
// while it cannot be reached, applies pending migrations and returns a
// ready store. Errors never contain the password.
func Open(ctx context.Context, dsn string, o Options) (*DB, error) {
	cfg, retry, err := parseConfig(dsn, o)
	if err != nil {
		return nil, redactErr(fmt.Errorf("postgres: %w", err), dsn)
	}
	cc := cfg.ConnConfig
	db := &DB{
		opTimeout: statementTimeoutOf(cfg) + cc.ConnectTimeout,
		target:    fmt.Sprintf("%s/%s", net.JoinHostPort(cc.Host, strconv.Itoa(int(cc.Port))), cc.Database),
	}
	db.pool, err = pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, redactErr(fmt.Errorf("postgres: creating pool for %s: %w", db.target, err), dsn)
	}
	if err := db.connect(ctx, retry, cc.ConnectTimeout); err != nil {
		db.pool.Close()
		return nil, redactErr(err, dsn)
	}
	if err := db.Migrate(ctx); err != nil {
		db.pool.Close()
		return nil, redactErr(err, dsn)
	}
	return db, nil
}

// parseConfig turns dsn and o into a pool config and the connect retry
// period.
func parseConfig(dsn string, o Options) (*pgxpool.Config, time.Duration, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, 0, err
	}
	rp := cfg.ConnConfig.RuntimeParams

	retry := DefaultConnectRetry
	if s, ok := rp["connect_retry"]; ok {
		delete(rp, "connect_retry")
		if retry, err = time.ParseDuration(s); err != nil || retry < 0 {
			return nil, 0, fmt.Errorf("invalid connect_retry %q: want a duration such as 30s", s)
		}
	}
	if o.ConnectRetry != 0 {
		retry = max(o.ConnectRetry, 0)
	}

	if o.MaxConns > 0 {
		cfg.MaxConns = o.MaxConns
	} else if !strings.Contains(dsn, "pool_max_conns") {
		cfg.MaxConns = DefaultMaxConns
	}

	switch {
	case o.ConnectTimeout > 0:
		cfg.ConnConfig.ConnectTimeout = o.ConnectTimeout
	case cfg.ConnConfig.ConnectTimeout <= 0:
		cfg.ConnConfig.ConnectTimeout = DefaultConnectTimeout
	}

	st := DefaultStatementTimeout
	if s, ok := rp["statement_timeout"]; ok {
		if st, err = parseStatementTimeout(s); err != nil {
			return nil, 0, err
		}
	}
	if o.StatementTimeout > 0 {
		st = o.StatementTimeout
	}
	rp["statement_timeout"] = strconv.FormatInt(max(st.Milliseconds(), 1), 10)

	if o.Tracer != nil {
		cfg.ConnConfig.Tracer = o.Tracer
	}
	if _, ok := rp["application_name"]; !ok {
		rp["application_name"] = "tokengate"
	}
	if o.Tracer != nil {
		cfg.ConnConfig.Tracer = o.Tracer
	}
	return cfg, retry, nil
}

// parseStatementTimeout reads a statement_timeout setting: plain
// milliseconds as PostgreSQL takes it, a Go duration, or PostgreSQL's
// "min" unit.
func parseStatementTimeout(s string) (time.Duration, error) {
	v := strings.TrimSpace(s)
	if ms, err := strconv.ParseInt(v, 10, 64); err == nil && ms > 0 {
		return time.Duration(ms) * time.Millisecond, nil
	}
	if m, ok := strings.CutSuffix(v, "min"); ok {
		v = m + "m"
	}
	if d, err := time.ParseDuration(v); err == nil && d >= time.Millisecond {
		return d, nil
	}
	return 0, fmt.Errorf("invalid statement_timeout %q: want milliseconds or a duration such as 5s (0, no limit, is not allowed)", s)
}

// statementTimeoutOf reads back what parseConfig set.
func statementTimeoutOf(cfg *pgxpool.Config) time.Duration {
	ms, _ := strconv.ParseInt(cfg.ConnConfig.RuntimeParams["statement_timeout"], 10, 64)
	return time.Duration(ms) * time.Millisecond
}

// connect waits until the pool can reach the database, for at most retry.
func (db *DB) connect(ctx context.Context, retry, attemptTimeout time.Duration) error {
	start := time.Now()
	wait := 200 * time.Millisecond
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, attemptTimeout+time.Second)
		err := db.pool.Ping(actx)
		cancel()
		if err == nil {
			return nil
		}
		elapsed := time.Since(start)
		switch {
		case permanent(err):
			return fmt.Errorf("postgres: connecting to %s: %w", db.target, err)
		case ctx.Err() != nil:
			return fmt.Errorf("postgres: connecting to %s: %w", db.target, ctx.Err())
		case elapsed >= retry:
			return fmt.Errorf("postgres: cannot connect to %s (gave up after %d attempt(s) in %s): %w: %w",
				db.target, attempt, elapsed.Round(time.Millisecond), store.ErrUnavailable, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("postgres: connecting to %s: %w", db.target, ctx.Err())
		case <-time.After(min(wait, retry-elapsed)):
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// permanent reports connection errors that retrying cannot fix.
func permanent(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "28000", "28P01", // invalid authorization, invalid password
			"3D000", // database does not exist
			"42501": // insufficient privilege
			return true
		}
	}
	return false
}

// Close closes the pool, waiting for connections in use to be returned.
func (db *DB) Close() error {
	db.feed.close()
	db.pool.Close()
	return nil
}

// Ping reports whether the database answers.
func (db *DB) Ping(ctx context.Context) error {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	return wrapErr("ping", db.pool.Ping(ctx))
}

// bound gives ctx the store's call deadline unless it has a sooner one.
func (db *DB) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if d, ok := ctx.Deadline(); ok && time.Until(d) <= db.opTimeout {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, db.opTimeout)
}

// migrationTimeout bounds the migration transaction, including the wait for
// another node's migration.
const migrationTimeout = 2 * time.Minute

// lockKey is the advisory lock key of a named lock in the current schema:
// nodes sharing a database in different schemas use different keys.
func lockKey(name string) string {
	return `hashtextextended('tokengate.` + name + `.' || COALESCE(current_schema(), ''), 0)`
}

// Migrate applies every embedded migration not yet recorded in
// schema_migrations, all in one transaction that holds an advisory lock,
// so that nodes starting together neither race nor apply a migration
// twice. It is idempotent, and it refuses a database whose schema is newer
// than this binary knows.
func (db *DB) Migrate(ctx context.Context) error {
	ms, err := sqlmigrate.Load(migrationFS)
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, migrationTimeout)
	defer cancel()
	err = pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		// The session's statement_timeout is meant for the hot paths; waiting
		// for another node's migration may take longer.
		if _, err := tx.Exec(ctx, fmt.Sprintf(`SET LOCAL statement_timeout = %d`, migrationTimeout.Milliseconds())); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(`+lockKey("migrate")+`)`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    INTEGER NOT NULL PRIMARY KEY,
			applied_at BIGINT  NOT NULL
		)`); err != nil {
			return err
		}
		var current int
		if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
			return err
		}
		if latest := ms[len(ms)-1].Version; current > latest {
			return fmt.Errorf("database schema version %d is newer than this binary supports (%d)", current, latest)
		}
		for _, m := range ms {
			if m.Version <= current {
				continue
			}
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return fmt.Errorf("%s: %w", m.Name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)`, m.Version, time.Now().UnixNano()); err != nil {
				return fmt.Errorf("%s: %w", m.Name, err)
			}
		}
		return nil
	})
	return wrapErr("migrate", err)
}

// wrapErr prefixes err with the operation and maps driver errors onto the
// store's sentinels: no rows → ErrNotFound, unique violations →
// ErrConflict, connection failures, timeouts and server shutdowns →
// ErrUnavailable. The original error stays in the chain.
func wrapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("postgres: %s: %w", op, store.ErrNotFound)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "53100" { // disk_full
		return fmt.Errorf("postgres: %s: %w: %w: %w", op, store.ErrUnavailable, store.ErrStorageFull, err)
	}
	if unavailable(err) {
		return fmt.Errorf("postgres: %s: %w: %w", op, store.ErrUnavailable, err)
	}
	if errors.As(err, &pe) && pe.Code == "23505" { // unique_violation
		return fmt.Errorf("postgres: %s: %w: %w", op, store.ErrConflict, err)
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}

// unavailable reports errors that mean the database cannot serve now.
func unavailable(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case strings.HasPrefix(pe.Code, "08"), // connection exception
			strings.HasPrefix(pe.Code, "53"),       // insufficient resources (too many connections, disk full)
			strings.HasPrefix(pe.Code, "57P"),      // admin/crash shutdown, cannot connect now
			pe.Code == "57014",                     // query_canceled: statement_timeout
			pe.Code == "55P03",                     // lock_not_available
			pe.Code == "40001", pe.Code == "40P01": // serialization failure, deadlock
			return true
		}
		return false
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	return errors.As(err, &ce) || errors.As(err, &ne) || pgconn.Timeout(err) || pgconn.SafeToRetry(err) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed)
}

// redactErr returns err with every password of dsn masked in its message.
// pgx already leaves passwords out of its messages; this guards against a
// message that quotes a malformed connection string.
func redactErr(err error, dsn string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	red := msg
	for _, pw := range dsnPasswords(dsn) {
		red = strings.ReplaceAll(red, pw, "xxxxx")
	}
	if red == msg {
		return err
	}
	return &redactedError{msg: red, err: err}
}

// redactedError carries a message with passwords masked; Unwrap keeps
// errors.Is working on the original chain.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// dsnPasswords finds the passwords a connection string may carry: the URL
// user info, and password= in a URL query or a keyword/value string.
func dsnPasswords(dsn string) []string {
	var pws []string
	add := func(s string) {
		if len(s) >= 3 { // masking very short strings would mangle the message
			pws = append(pws, s)
			if u, err := url.QueryUnescape(s); err == nil && u != s {
				pws = append(pws, u)
			}
		}
	}
	if rest, ok := strings.CutPrefix(dsn, "postgres://"); ok || strings.HasPrefix(dsn, "postgresql://") {
		if !ok {
			rest = strings.TrimPrefix(dsn, "postgresql://")
		}
		if at := strings.LastIndex(strings.SplitN(rest, "/", 2)[0], "@"); at >= 0 {
			if _, pw, ok := strings.Cut(rest[:at], ":"); ok {
				add(pw)
			}
		}
		if _, q, ok := strings.Cut(rest, "?"); ok {
			for _, kv := range strings.Split(q, "&") {
				if k, v, ok := strings.Cut(kv, "="); ok && (k == "password" || k == "sslpassword") {
					add(v)
				}
			}
		}
		return pws
	}
	for _, f := range strings.Fields(dsn) {
		if k, v, ok := strings.Cut(f, "="); ok && (k == "password" || k == "sslpassword") {
			add(strings.Trim(v, "'"))
		}
	}
	return pws
}
