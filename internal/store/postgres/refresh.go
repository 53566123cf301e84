package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tokengate/tokengate/internal/store"
	"github.com/tokengate/tokengate/internal/store/sqlrow"
)

var (
	// getRefreshSQL finds a token of the earlier stored form and its
	// family in one query.
	getRefreshSQL = `SELECT ` + sqlrow.RefreshColumns + `,
		EXISTS (SELECT 1 FROM users u WHERE u.username = f.subject AND NOT u.disabled)
		FROM refresh_tokens t JOIN families f ON f.id = t.family_id
		WHERE t.hash = $1`

	// getFamilySQL reads a family and its subject's state in one query.
	getFamilySQL = `SELECT ` + sqlrow.FamilyColumns + `,
		EXISTS (SELECT 1 FROM users u WHERE u.username = f.subject AND NOT u.disabled)
		FROM families f WHERE f.id = $1`

	// advanceSQL is the whole rotation in one statement, a HOT update of
	// one row (no indexed column changes): it succeeds only if the family
	// is still at the generation read and not revoked (PostgreSQL
	// re-checks the condition against the newest row version when it
	// waited for a concurrent writer), and moves the live token's hash.
	// Parameters: $1 family id, $2 generation read, $3 new hash, $4 now,
	// $5 new expiry.
	advanceSQL = `UPDATE families SET generation = generation + 1, rotated_at = $4::bigint, expires_at = $5::bigint,
			prev_hash = hash, hash = $3::bytea
		WHERE id = $1 AND generation = $2::bigint AND NOT revoked`

	revokeSubjectFamiliesSQL = `UPDATE families SET revoked = true WHERE subject = $1 AND NOT revoked`
)

// CreateFamily stores f with its first token's hash t.Hash in one
// statement. A zero f.ExpiresAt defaults to t.ExpiresAt. ErrConflict when
// the family id exists.
func (db *DB) CreateFamily(ctx context.Context, f store.Family, t store.RefreshToken) error {
	const op = "create family"
	args, err := sqlrow.NewFamilyArgs(f, t)
	if err != nil {
		return fmt.Errorf("postgres: %s: %w", op, err)
	}
	_, err = db.exec(ctx, insertFamilySQL, args...)
	return wrapErr(op, err)
}

// insertFamilySQL inserts a new family (CreateFamily, and the redemption
// of an approved device authorization) with sqlrow.NewFamilyArgs.
const insertFamilySQL = `INSERT INTO families (` + sqlrow.NewFamilyColumns + `) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`

// GetFamily returns the family id and its subject's state in one round
// trip; ErrNotFound when it does not exist.
func (db *DB) GetFamily(ctx context.Context, id string) (store.Family, error) {
	var f store.Family
	err := db.queryRow(ctx, func(r pgx.Row) (err error) { f, err = sqlrow.ScanFamily(r); return err }, getFamilySQL, id)
	return f, wrapErr("get family", err)
}

// GetRefresh returns the stored token (of the form issued before
// migration 0011) whose hash is hash and its family, whatever their state;
// ErrNotFound when the hash is unknown.
func (db *DB) GetRefresh(ctx context.Context, hash []byte) (store.RefreshToken, store.Family, error) {
	var (
		t store.RefreshToken
		f store.Family
	)
	err := db.queryRow(ctx, func(r pgx.Row) (err error) { t, f, err = sqlrow.ScanRefresh(r, hash); return err }, getRefreshSQL, hash)
	return t, f, wrapErr("get refresh token", err)
}

// AdvanceFamily implements store.Refresh.AdvanceFamily with one
// conditional statement (advanceSQL).
func (db *DB) AdvanceFamily(ctx context.Context, a store.Advance) error {
	const op = "advance family"
	if len(a.NewHash) == 0 {
		return fmt.Errorf("postgres: %s: empty new token hash", op)
	}
	tag, err := db.exec(ctx, advanceSQL, a.FamilyID, a.Generation, a.NewHash, sqlrow.Nanos(a.Now), sqlrow.Nanos(a.ExpiresAt))
	if err != nil {
		return wrapErr(op, err)
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("postgres: %s: %w", op, store.ErrStale)
	}
	return nil
}

// RevokeFamily revokes one family; revoking twice is not an error.
// ErrNotFound when the family does not exist.
func (db *DB) RevokeFamily(ctx context.Context, familyID string) error {
	err := db.execOne(ctx, `UPDATE families SET revoked = true WHERE id = $1`, familyID)
	return wrapErr("revoke family", err)
}

// RevokeSubjectFamilies revokes every live family of subject and returns
// how many it revoked.
func (db *DB) RevokeSubjectFamilies(ctx context.Context, subject string) (int, error) {
	tag, err := db.exec(ctx, revokeSubjectFamiliesSQL, subject)
	if err != nil {
		return 0, wrapErr("revoke subject families", err)
	}
	return int(tag.RowsAffected()), nil
}

// EndSessions sets the user's not-before time and revokes every family of
// the user in one statement; ErrNotFound when the user does not exist.
func (db *DB) EndSessions(ctx context.Context, username string, at time.Time) (int, error) {
	var n int
	err := db.queryRow(ctx, func(r pgx.Row) error { return r.Scan(&n) }, `WITH u AS (
			UPDATE users SET not_before = $2 WHERE username = $1 RETURNING username
		), revoked AS (
			UPDATE families SET revoked = true WHERE subject IN (SELECT username FROM u) AND NOT revoked RETURNING 1
		)
		SELECT (SELECT count(*) FROM revoked)::int FROM u`, username, sqlrow.Nanos(at))
	if err != nil {
		return 0, wrapErr("end sessions", err)
	}
	return n, nil
}

// AccessState reads the denylist, the family, the subject's and the
// client's state and the signing key's revocation in one query.
func (db *DB) AccessState(ctx context.Context, q store.AccessQuery) (store.AccessState, error) {
	var (
		st                 store.AccessState
		created, notBefore int64
		clientCreated      *int64
	)
	err := db.queryRow(ctx, func(r pgx.Row) error {
		return r.Scan(&st.Denied, &st.FamilyRevoked, &st.UserExists, &st.UserDisabled, &created, &notBefore, &st.ClientExists, &clientCreated, &st.KeyRevoked)
	}, `SELECT
			EXISTS (SELECT 1 FROM denylist WHERE jti = $1),
			$2::text <> '' AND NOT EXISTS (SELECT 1 FROM families WHERE id = $2 AND NOT revoked),
			u.username IS NOT NULL, COALESCE(u.disabled, false), COALESCE(u.created_at, 0), COALESCE(u.not_before, 0),
			EXISTS (SELECT 1 FROM clients WHERE id = $3),
			(SELECT created_at FROM clients WHERE id = $4),
			EXISTS (SELECT 1 FROM signing_keys WHERE kid = $5 AND revoked_at <> 0)
		FROM (SELECT 1) one LEFT JOIN users u ON u.username = $3`, q.JTI, q.FamilyID, q.Subject, q.ClientID, q.KeyID)
	if err != nil {
		return store.AccessState{}, wrapErr("access state", err)
	}
	st.UserCreatedAt, st.UserNotBefore = sqlrow.FromNanos(created), sqlrow.FromNanos(notBefore)
	if clientCreated != nil {
		st.TokenClientExists, st.TokenClientCreatedAt = true, sqlrow.FromNanos(*clientCreated)
	}
	return st, nil
}
