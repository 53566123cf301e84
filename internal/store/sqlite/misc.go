package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/tokengate/tokengate/internal/store"
	"github.com/tokengate/tokengate/internal/store/sqlrow"
)

// DenyAccessToken records jti as revoked until expiresAt. Denying again
// keeps the later expiry.
func (db *DB) DenyAccessToken(ctx context.Context, jti string, expiresAt time.Time) error {
	_, err := db.w.ExecContext(ctx, `INSERT INTO denylist (jti, expires_at) VALUES (?, ?)
		ON CONFLICT (jti) DO UPDATE SET expires_at = max(expires_at, excluded.expires_at)`, jti, sqlrow.Nanos(expiresAt))
	return wrapErr("deny access token", err)
}

// IsAccessTokenDenied reports whether jti is on the denylist. Entries stay
// until DeleteExpired removes them; by then the token itself has expired.
func (db *DB) IsAccessTokenDenied(ctx context.Context, jti string) (bool, error) {
	var one int
	err := db.isDeniedStmt.QueryRowContext(ctx, jti).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, wrapErr("check access token denylist", err)
	}
	return true, nil
}

// ListSigningKeys returns every stored key, newest first.
func (db *DB) ListSigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	ks, err := list(ctx, db, sqlrow.ScanSigningKey, `SELECT `+sqlrow.SigningKeyColumns+`
		FROM signing_keys ORDER BY created_at DESC, kid DESC`)
	return ks, wrapErr("list signing keys", err)
}

// AddSigningKey stores k as the active key of its purpose (its RetiredAt
// and ExpiresAt are ignored) and retires the previously active key of that
// purpose, in one transaction. ErrConflict unless expectActive is that
// purpose's active key ("" for none); ErrConflict too when k.ID exists.
func (db *DB) AddSigningKey(ctx context.Context, k store.SigningKey, expectActive string, retireUntil time.Time) error {
	const op = "add signing key"
	if k.CreatedAt.IsZero() {
		return fmt.Errorf("sqlite: %s: zero creation time", op)
	}
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		var active string
		err := tx.QueryRowContext(ctx, `SELECT kid FROM signing_keys WHERE retired_at = 0 AND purpose = ? ORDER BY created_at DESC LIMIT 1`, k.Purpose).Scan(&active)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if active != expectActive {
			return fmt.Errorf("active key is not the expected one: %w", store.ErrConflict)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE signing_keys SET retired_at = ?, expires_at = ? WHERE retired_at = 0 AND purpose = ?`,
			sqlrow.Nanos(k.CreatedAt), sqlrow.Nanos(retireUntil), k.Purpose); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO signing_keys (kid, algorithm, private, encrypted, created_at, retired_at, expires_at, purpose)
			VALUES (?, ?, ?, ?, ?, 0, 0, ?)`, k.ID, k.Algorithm, k.Private, k.Encrypted, sqlrow.Nanos(k.CreatedAt), k.Purpose)
		return err
	})
	return wrapErr(op, err)
}

// RevokeSigningKey marks a retired key revoked (see store.Keys).
func (db *DB) RevokeSigningKey(ctx context.Context, kid string, at time.Time) error {
	const op = "revoke signing key"
	if at.IsZero() {
		return fmt.Errorf("sqlite: %s: zero time", op)
	}
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		var retired int64
		err := tx.QueryRowContext(ctx, `SELECT retired_at FROM signing_keys WHERE kid = ?`, kid).Scan(&retired)
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		if retired == 0 {
			return fmt.Errorf("key %s is the active key: %w", kid, store.ErrConflict)
		}
		_, err = tx.ExecContext(ctx, `UPDATE signing_keys SET revoked_at = ? WHERE kid = ? AND revoked_at = 0`, sqlrow.Nanos(at), kid)
		return err
	})
	return wrapErr(op, err)
}

// SigningKeyRevoked reports whether kid is a stored, revoked key.
func (db *DB) SigningKeyRevoked(ctx context.Context, kid string) (bool, error) {
	var revoked bool
	err := db.r.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM signing_keys WHERE kid = ? AND revoked_at <> 0)`, kid).Scan(&revoked)
	return revoked, wrapErr("check signing key revocation", err)
}

// RecordFailure counts one failure for key in a fixed window that starts at
// the first failure and lasts window; a failure after the window starts a
// new one. It returns the count in the current window.
func (db *DB) RecordFailure(ctx context.Context, key string, now time.Time, window time.Duration) (int, error) {
	var n int
	err := db.w.QueryRowContext(ctx, `INSERT INTO attempts (key, count, window_start, window_len, last_at)
		VALUES (?1, 1, ?2, ?3, ?2)
		ON CONFLICT (key) DO UPDATE SET
			count        = CASE WHEN ?2 - window_start >= ?3 THEN 1 ELSE count + 1 END,
			window_start = CASE WHEN ?2 - window_start >= ?3 THEN ?2 ELSE window_start END,
			window_len   = ?3,
			last_at      = ?2
		RETURNING count`, key, sqlrow.Nanos(now), int64(window)).Scan(&n)
	return n, wrapErr("record failure", err)
}

// Failures returns the failure count of key's current window (0 once the
// window has passed at now) and the time of the latest failure (zero when
// none is recorded).
func (db *DB) Failures(ctx context.Context, key string, now time.Time, window time.Duration) (int, time.Time, error) {
	var n int
	var last int64
	err := db.r.QueryRowContext(ctx, `SELECT CASE WHEN ? - window_start >= ? THEN 0 ELSE count END, last_at
		FROM attempts WHERE key = ?`, sqlrow.Nanos(now), int64(window), key).Scan(&n, &last)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, time.Time{}, nil
	}
	if err != nil {
		return 0, time.Time{}, wrapErr("get failures", err)
	}
	return n, sqlrow.FromNanos(last), nil
}

// ReserveAttempt counts one attempt for key unless the key is at its
// limit; one statement, which the single writer connection serialises.
func (db *DB) ReserveAttempt(ctx context.Context, key string, now time.Time, window time.Duration, limit int, since time.Time) (int, bool, error) {
	var n int
	err := db.w.QueryRowContext(ctx, `INSERT INTO attempts (key, count, window_start, window_len, last_at)
		VALUES (?1, 1, ?2, ?3, ?2)
		ON CONFLICT (key) DO UPDATE SET
			count        = CASE WHEN ?2 - window_start >= ?3 THEN 1 ELSE count + 1 END,
			window_start = CASE WHEN ?2 - window_start >= ?3 THEN ?2 ELSE window_start END,
			window_len   = ?3,
			last_at      = ?2
		WHERE ?4 > 0 AND (?2 - window_start >= ?3 OR count < ?4 OR last_at <= ?5)
		RETURNING count`, key, sqlrow.Nanos(now), int64(window), limit, sqlrow.Nanos(since)).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		// Refused: nothing changed; report the count as it stands.
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
	_, err := db.w.ExecContext(ctx, `UPDATE attempts SET count = count - 1 WHERE key = ? AND count > 0`, key)
	return wrapErr("release attempt", err)
}

// ResetFailures forgets every failure of key.
func (db *DB) ResetFailures(ctx context.Context, key string) error {
	_, err := db.w.ExecContext(ctx, `DELETE FROM attempts WHERE key = ?`, key)
	return wrapErr("reset failures", err)
}

// expiryBatch bounds the rows one clean-up transaction deletes, so that a
// large backlog does not hold the write lock (and stall refresh grants)
// for long.
const expiryBatch = 2000

// DeleteExpired removes refresh tokens past their expiry, families whose
// current token has expired (with all their tokens), expired denylist
// entries, retired signing keys past ExpiresAt and failure counters whose
// window has passed. It works in short batches, each its own transaction,
// and returns how many rows it removed.
func (db *DB) DeleteExpired(ctx context.Context, now time.Time) (int64, error) {
	// ?1 is now, ?2 the batch size. Tokens of expired families go before
	// the families so that every deleted row is counted (the foreign key
	// cascade would hide them).
	statements := []string{
		`DELETE FROM refresh_tokens WHERE hash IN (
			SELECT t.hash FROM families f JOIN refresh_tokens t ON t.family_id = f.id
			WHERE f.expires_at <= ?1 LIMIT ?2)`,
		`DELETE FROM families WHERE id IN (SELECT id FROM families WHERE expires_at <= ?1 LIMIT ?2)`,
		`DELETE FROM refresh_tokens WHERE hash IN (SELECT hash FROM refresh_tokens WHERE expires_at <= ?1 LIMIT ?2)`,
		`DELETE FROM denylist WHERE jti IN (SELECT jti FROM denylist WHERE expires_at <= ?1 LIMIT ?2)`,
		`DELETE FROM signing_keys WHERE kid IN (
			SELECT kid FROM signing_keys WHERE expires_at <> 0 AND expires_at <= ?1 LIMIT ?2)`,
		`DELETE FROM attempts WHERE key IN (SELECT key FROM attempts WHERE window_start + window_len <= ?1 LIMIT ?2)`,
		`DELETE FROM device_authorizations WHERE device_code_hash IN (
			SELECT device_code_hash FROM device_authorizations WHERE expires_at <= ?1 LIMIT ?2)`,
		`DELETE FROM auth_codes WHERE hash IN (SELECT hash FROM auth_codes WHERE purge_at <= ?1 LIMIT ?2)`,
		`DELETE FROM web_sessions WHERE id_hash IN (SELECT id_hash FROM web_sessions WHERE expires_at <= ?1 LIMIT ?2)`,
	}
	var total int64
	at := sqlrow.Nanos(now)
	for _, q := range statements {
		for {
			res, err := db.w.ExecContext(ctx, q, at, expiryBatch)
			if err != nil {
				return total, wrapErr("delete expired", err)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return total, wrapErr("delete expired", err)
			}
			total += n
			if n < expiryBatch {
				break
			}
		}
	}
	return total, nil
}
