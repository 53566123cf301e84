package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tokengate/tokengate/internal/store"
	"github.com/tokengate/tokengate/internal/store/sqlrow"
)

// DenyAccessToken records jti as revoked until expiresAt. Denying again
// keeps the later expiry.
func (db *DB) DenyAccessToken(ctx context.Context, jti string, expiresAt time.Time) error {
	_, err := db.exec(ctx, `INSERT INTO denylist (jti, expires_at) VALUES ($1, $2)
		ON CONFLICT (jti) DO UPDATE SET expires_at = GREATEST(denylist.expires_at, excluded.expires_at)`, jti, sqlrow.Nanos(expiresAt))
	return wrapErr("deny access token", err)
}

// IsAccessTokenDenied reports whether jti is on the denylist. Entries stay
// until DeleteExpired removes them; by then the token itself has expired.
func (db *DB) IsAccessTokenDenied(ctx context.Context, jti string) (bool, error) {
	var denied bool
	err := db.queryRow(ctx, func(r pgx.Row) error { return r.Scan(&denied) },
		`SELECT EXISTS (SELECT 1 FROM denylist WHERE jti = $1)`, jti)
	if err != nil {
		return false, wrapErr("check access token denylist", err)
	}
	return denied, nil
}

// ListSigningKeys returns every stored key, newest first.
func (db *DB) ListSigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	ks, err := list(ctx, db, sqlrow.ScanSigningKey, `SELECT `+sqlrow.SigningKeyColumns+`
		FROM signing_keys ORDER BY created_at DESC, kid DESC`)
	return ks, wrapErr("list signing keys", err)
}

// errNotActive is the failed compare-and-swap of AddSigningKey.
var errNotActive = fmt.Errorf("active key is not the expected one: %w", store.ErrConflict)

// AddSigningKey stores k as the active key of its purpose (its RetiredAt
// and ExpiresAt are ignored) and retires the previously active key of that
// purpose, in one transaction. The swap is a compare-and-swap: the UPDATE
// retiring expectActive must find it active in k.Purpose, and with
// expectActive "" the insert succeeds only while that purpose has no
// active key (a partial unique index allows one active key per purpose). Either
// failure, or a duplicate k.ID, is ErrConflict and changes nothing.
func (db *DB) AddSigningKey(ctx context.Context, k store.SigningKey, expectActive string, retireUntil time.Time) error {
	const op = "add signing key"
	if k.CreatedAt.IsZero() {
		return fmt.Errorf("postgres: %s: zero creation time", op)
	}
	ctx, cancel := db.bound(ctx)
	defer cancel()
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if expectActive != "" {
			tag, err := tx.Exec(ctx, `UPDATE signing_keys SET retired_at = $1, expires_at = $2 WHERE kid = $3 AND retired_at = 0 AND purpose = $4`,
				sqlrow.Nanos(k.CreatedAt), sqlrow.Nanos(retireUntil), expectActive, k.Purpose)
			if err != nil {
				return err
			}
			if tag.RowsAffected() != 1 {
				return errNotActive
			}
		}
		_, err := tx.Exec(ctx, `INSERT INTO signing_keys (kid, algorithm, private, encrypted, created_at, retired_at, expires_at, purpose)
			VALUES ($1, $2, $3, $4, $5, 0, 0, $6)`, k.ID, k.Algorithm, k.Private, k.Encrypted, sqlrow.Nanos(k.CreatedAt), k.Purpose)
		return err
	})
	if errors.Is(err, errNotActive) {
		return fmt.Errorf("postgres: %s: %w", op, err)
	}
	return wrapErr(op, err)
}

// RevokeSigningKey marks a retired key revoked (see store.Keys), in one
// statement: the CTE tells an unknown kid from the active key.
func (db *DB) RevokeSigningKey(ctx context.Context, kid string, at time.Time) error {
	const op = "revoke signing key"
	if at.IsZero() {
		return fmt.Errorf("postgres: %s: zero time", op)
	}
	var found, active bool
	err := db.queryRow(ctx, func(r pgx.Row) error { return r.Scan(&found, &active) },
		`WITH k AS (SELECT retired_at FROM signing_keys WHERE kid = $1),
		u AS (UPDATE signing_keys SET revoked_at = $2 WHERE kid = $1 AND retired_at <> 0 AND revoked_at = 0)
		SELECT EXISTS (SELECT 1 FROM k), EXISTS (SELECT 1 FROM k WHERE retired_at = 0)`, kid, sqlrow.Nanos(at))
	switch {
	case err != nil:
		return wrapErr(op, err)
	case !found:
		return fmt.Errorf("postgres: %s %s: %w", op, kid, store.ErrNotFound)
	case active:
		return fmt.Errorf("postgres: %s: key %s is the active key: %w", op, kid, store.ErrConflict)
	}
	return nil
}

// SigningKeyRevoked reports whether kid is a stored, revoked key.
func (db *DB) SigningKeyRevoked(ctx context.Context, kid string) (bool, error) {
	var revoked bool
	err := db.queryRow(ctx, func(r pgx.Row) error { return r.Scan(&revoked) },
		`SELECT EXISTS (SELECT 1 FROM signing_keys WHERE kid = $1 AND revoked_at <> 0)`, kid)
	return revoked, wrapErr("check signing key revocation", err)
}

// RecordFailure counts one failure for key in a fixed window that starts at
// the first failure and lasts window; a failure after the window starts a
// new one. It returns the count in the current window.
func (db *DB) RecordFailure(ctx context.Context, key string, now time.Time, window time.Duration) (int, error) {
	var n int
	err := db.queryRow(ctx, func(r pgx.Row) error { return r.Scan(&n) },
		`INSERT INTO attempts AS a (key, count, window_start, window_len, last_at)
		VALUES ($1, 1, $2::bigint, $3::bigint, $2::bigint)
		ON CONFLICT (key) DO UPDATE SET
			count        = CASE WHEN $2::bigint - a.window_start >= $3::bigint THEN 1 ELSE a.count + 1 END,
			window_start = CASE WHEN $2::bigint - a.window_start >= $3::bigint THEN $2::bigint ELSE a.window_start END,
			window_len   = $3::bigint,
			last_at      = $2::bigint
		RETURNING count`, key, sqlrow.Nanos(now), int64(window))
	return n, wrapErr("record failure", err)
}

// Failures returns the failure count of key's current window (0 once the
// window has passed at now) and the time of the latest failure (zero when
// none is recorded).
func (db *DB) Failures(ctx context.Context, key string, now time.Time, window time.Duration) (int, time.Time, error) {
	var (
		n    int
		last int64
	)
	err := db.queryRow(ctx, func(r pgx.Row) error { return r.Scan(&n, &last) },
		`SELECT CASE WHEN $1::bigint - window_start >= $2::bigint THEN 0 ELSE count END, last_at
		FROM attempts WHERE key = $3`, sqlrow.Nanos(now), int64(window), key)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, time.Time{}, nil
	}
	if err != nil {
		return 0, time.Time{}, wrapErr("get failures", err)
	}
	return n, sqlrow.FromNanos(last), nil
}

// ReserveAttempt counts one attempt for key unless the key is at its
// limit, in one statement: the upsert's condition is re-checked against
// the newest row version when it waited for a concurrent one, so
// concurrent calls on any number of nodes never pass the limit.
func (db *DB) ReserveAttempt(ctx context.Context, key string, now time.Time, window time.Duration, limit int, since time.Time) (int, bool, error) {
	var n int
	err := db.queryRow(ctx, func(r pgx.Row) error { return r.Scan(&n) },
		`INSERT INTO attempts AS a (key, count, window_start, window_len, last_at)
		VALUES ($1, 1, $2::bigint, $3::bigint, $2::bigint)
		ON CONFLICT (key) DO UPDATE SET
			count        = CASE WHEN $2::bigint - a.window_start >= $3::bigint THEN 1 ELSE a.count + 1 END,
			window_start = CASE WHEN $2::bigint - a.window_start >= $3::bigint THEN $2::bigint ELSE a.window_start END,
			window_len   = $3::bigint,
			last_at      = $2::bigint
		WHERE $2::bigint - a.window_start >= $3::bigint OR a.count < $4::bigint OR a.last_at <= $5::bigint
		RETURNING count`, key, sqlrow.Nanos(now), int64(window), limit, sqlrow.Nanos(since))
	if errors.Is(err, pgx.ErrNoRows) {
		n, _, err = db.Failures(ctx, key, now, window)
		return n, false, err
	}
	if err != nil {
		return 0, false, wrapErr("reserve attempt", err)
	}
	return n, true, nil
}

// ReleaseAttempt takes back one attempt of key.
func (db *DB) ReleaseAttempt(ctx context.Context, key string) error {
	_, err := db.exec(ctx, `UPDATE attempts SET count = count - 1 WHERE key = $1 AND count > 0`, key)
	return wrapErr("release attempt", err)
}

// ResetFailures forgets every failure of key.
func (db *DB) ResetFailures(ctx context.Context, key string) error {
	_, err := db.exec(ctx, `DELETE FROM attempts WHERE key = $1`, key)
	return wrapErr("reset failures", err)
}

// expiryBatch bounds the rows one clean-up statement deletes, so that a
// large backlog is removed in short transactions.
const expiryBatch = 2000

// expiryStatements delete one batch each of what expires by itself; $1 is
// now, $2 the batch size. Expired families are handled apart (see
// deleteExpiredFamilies).
var expiryStatements = []string{
	`DELETE FROM refresh_tokens WHERE hash IN (SELECT hash FROM refresh_tokens WHERE expires_at <= $1 LIMIT $2)`,
	`DELETE FROM denylist WHERE jti IN (SELECT jti FROM denylist WHERE expires_at <= $1 LIMIT $2)`,
	`DELETE FROM signing_keys WHERE kid IN (
		SELECT kid FROM signing_keys WHERE expires_at <> 0 AND expires_at <= $1 LIMIT $2)`,
	`DELETE FROM attempts WHERE key IN (SELECT key FROM attempts WHERE window_start + window_len <= $1 LIMIT $2)`,
	`DELETE FROM device_authorizations WHERE device_code_hash IN (
		SELECT device_code_hash FROM device_authorizations WHERE expires_at <= $1 LIMIT $2)`,
	`DELETE FROM auth_codes WHERE hash IN (SELECT hash FROM auth_codes WHERE purge_at <= $1 LIMIT $2)`,
	`DELETE FROM web_sessions WHERE id_hash IN (SELECT id_hash FROM web_sessions WHERE expires_at <= $1 LIMIT $2)`,
}

// DeleteExpired removes refresh tokens past their expiry, families whose
// current token has expired (with all their tokens), expired denylist
// entries, retired signing keys past ExpiresAt and failure counters whose
// window has passed, in short batches, and returns how many rows it
// removed.
//
// One node cleans at a time: the work runs under a session advisory lock
// taken with pg_try_advisory_lock, and when another node holds it,
// DeleteExpired returns 0 and nil at once, leaving the rows to that node.
func (db *DB) DeleteExpired(ctx context.Context, now time.Time) (int64, error) {
	const op = "delete expired"
	lctx, cancel := db.bound(ctx)
	defer cancel()
	conn, err := db.pool.Acquire(lctx)
	if err != nil {
		return 0, wrapErr(op, err)
	}
	defer conn.Release()
	var locked bool
	err = conn.QueryRow(lctx, `SELECT pg_try_advisory_lock(`+lockKey("delete_expired")+`)`).Scan(&locked)
	if err != nil {
		return 0, wrapErr(op, err)
	}
	if !locked {
		return 0, nil
	}
	defer func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), db.opTimeout)
		defer cancel()
		if _, err := conn.Exec(uctx, `SELECT pg_advisory_unlock(`+lockKey("delete_expired")+`)`); err != nil {
			// Closing the session is what releases the lock then.
			_ = conn.Conn().Close(uctx)
		}
	}()

	at := sqlrow.Nanos(now)
	total, err := db.deleteExpiredFamilies(ctx, conn, at)
	if err != nil {
		return total, wrapErr(op, err)
	}
	for _, q := range expiryStatements {
		for {
			qctx, cancel := db.bound(ctx)
			tag, err := conn.Exec(qctx, q, at, expiryBatch)
			cancel()
			if err != nil {
				return total, wrapErr(op, err)
			}
			total += tag.RowsAffected()
			if tag.RowsAffected() < expiryBatch {
				break
			}
		}
	}
	return total, nil
}

// deleteExpiredFamilies deletes the families whose current token expired
// by at, with all their tokens, in batches that walk the primary key (so
// one round is one pass over the table however many rows expired; see the
// schema for why families.expires_at has no index). Tokens go before their
// family, so that an interruption between the two statements leaves a
// family without tokens (deleted next round), never tokens without a
// family.
func (db *DB) deleteExpiredFamilies(ctx context.Context, conn *pgxpool.Conn, at int64) (int64, error) {
	var total int64
	after, cmp := "", ">=" // the first batch starts at the smallest id, even ""
	for {
		ctx, cancel := db.bound(ctx)
		var ids []string
		err := func() error {
			defer cancel()
			rows, err := conn.Query(ctx, `SELECT id FROM families WHERE id `+cmp+` $1 AND expires_at <= $2 ORDER BY id LIMIT $3`,
				after, at, expiryBatch)
			if err != nil {
				return err
			}
			if ids, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil || len(ids) == 0 {
				return err
			}
			// Expiry is checked again: it is final for a family, but the
			// check costs nothing and keeps the statements safe alone.
			tag, err := conn.Exec(ctx, `DELETE FROM refresh_tokens WHERE family_id IN (
				SELECT id FROM families WHERE id = ANY($1) AND expires_at <= $2)`, ids, at)
			if err != nil {
				return err
			}
			total += tag.RowsAffected()
			tag, err = conn.Exec(ctx, `DELETE FROM families WHERE id = ANY($1) AND expires_at <= $2`, ids, at)
			total += tag.RowsAffected()
			return err
		}()
		if err != nil || len(ids) < expiryBatch {
			return total, err
		}
		after, cmp = ids[len(ids)-1], ">"
	}
}
