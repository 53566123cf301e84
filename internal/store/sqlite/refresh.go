package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/tokengate/tokengate/internal/store"
	"github.com/tokengate/tokengate/internal/store/sqlrow"
)

const (
	// getRefreshSQL finds a token of the earlier stored form and its
	// family in one query.
	getRefreshSQL = `SELECT ` + sqlrow.RefreshColumns + `,
		EXISTS (SELECT 1 FROM users u WHERE u.username = f.subject AND u.disabled = 0)
		FROM refresh_tokens t JOIN families f ON f.id = t.family_id
		WHERE t.hash = ?`
	// getFamilySQL reads a family and its subject's state in one query.
	getFamilySQL = `SELECT ` + sqlrow.FamilyColumns + `,
		EXISTS (SELECT 1 FROM users u WHERE u.username = f.subject AND u.disabled = 0)
		FROM families f WHERE f.id = ?`
	// advanceFamilySQL is the whole rotation: a compare-and-set on the
	// family's generation that also moves the live token's hash.
	advanceFamilySQL = `UPDATE families SET generation = generation + 1, rotated_at = ?, expires_at = ?, prev_hash = hash, hash = ?
		WHERE id = ? AND generation = ? AND revoked = 0`
)

// CreateFamily stores f with its first token's hash t.Hash. A zero
// f.ExpiresAt defaults to t.ExpiresAt. ErrConflict when the family id
// exists.
func (db *DB) CreateFamily(ctx context.Context, f store.Family, t store.RefreshToken) error {
	const op = "create family"
	args, err := sqlrow.NewFamilyArgs(f, t)
	if err != nil {
		return fmt.Errorf("sqlite: %s: %w", op, err)
	}
	err = db.commit.do(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, insertFamilySQL, args...)
		return err
	})
	return wrapErr(op, err)
}

// insertFamilySQL inserts a new family (CreateFamily, and the redemption
// of an approved device authorization) with sqlrow.NewFamilyArgs.
const insertFamilySQL = `INSERT INTO families (` + sqlrow.NewFamilyColumns + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// GetFamily returns the family id and its subject's state; ErrNotFound
// when it does not exist.
func (db *DB) GetFamily(ctx context.Context, id string) (store.Family, error) {
	f, err := sqlrow.ScanFamily(db.getFamilyR.QueryRowContext(ctx, id))
	return f, wrapErr("get family", err)
}

// GetRefresh returns the stored token (of the form issued before
// migration 0011) whose hash is hash and its family, whatever their state;
// ErrNotFound when the hash is unknown.
func (db *DB) GetRefresh(ctx context.Context, hash []byte) (store.RefreshToken, store.Family, error) {
	t, f, err := sqlrow.ScanRefresh(db.getRefreshR.QueryRowContext(ctx, hash), hash)
	return t, f, wrapErr("get refresh token", err)
}

// AdvanceFamily implements store.Refresh.AdvanceFamily with one
// conditional statement (advanceFamilySQL) in a group-committed
// transaction.
func (db *DB) AdvanceFamily(ctx context.Context, a store.Advance) error {
	const op = "advance family"
	if len(a.NewHash) == 0 {
		return fmt.Errorf("sqlite: %s: empty new token hash", op)
	}
	err := db.commit.do(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.StmtContext(ctx, db.advanceFam).ExecContext(ctx, sqlrow.Nanos(a.Now), sqlrow.Nanos(a.ExpiresAt), a.NewHash, a.FamilyID, a.Generation)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n != 1 {
			return store.ErrStale
		}
		return nil
	})
	return wrapErr(op, err)
}

// RevokeFamily revokes one family; revoking twice is not an error.
// ErrNotFound when the family does not exist.
func (db *DB) RevokeFamily(ctx context.Context, familyID string) error {
	res, err := db.revokeFam.ExecContext(ctx, familyID)
	if err == nil {
		err = mustAffect(res)
	}
	return wrapErr("revoke family", err)
}

// RevokeSubjectFamilies revokes every live family of subject and returns
// how many it revoked.
func (db *DB) RevokeSubjectFamilies(ctx context.Context, subject string) (int, error) {
	res, err := db.w.ExecContext(ctx, revokeSubjectFamiliesSQL, subject)
	if err != nil {
		return 0, wrapErr("revoke subject families", err)
	}
	n, err := res.RowsAffected()
	return int(n), wrapErr("revoke subject families", err)
}

// EndSessions sets the user's not-before time and revokes every family of
// the user in one transaction; ErrNotFound when the user does not exist.
func (db *DB) EndSessions(ctx context.Context, username string, at time.Time) (int, error) {
	const op = "end sessions"
	var n int64
	err := db.commit.do(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE users SET not_before = ? WHERE username = ?`, sqlrow.Nanos(at), username)
		if err != nil {
			return err
		}
		if err := mustAffect(res); err != nil {
			return err
		}
		res, err = tx.ExecContext(ctx, revokeSubjectFamiliesSQL, username)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, wrapErr(op, err)
	}
	return int(n), nil
}

// accessStateSQL reads everything introspection needs in one statement
// (prepared: a profile of introspection showed its parsing at ~20%).
const accessStateSQL = `SELECT
			EXISTS (SELECT 1 FROM denylist WHERE jti = ?1),
			?2 <> '' AND NOT EXISTS (SELECT 1 FROM families WHERE id = ?2 AND revoked = 0),
			EXISTS (SELECT 1 FROM users WHERE username = ?3),
			COALESCE((SELECT disabled FROM users WHERE username = ?3), 0),
			COALESCE((SELECT created_at FROM users WHERE username = ?3), 0),
			COALESCE((SELECT not_before FROM users WHERE username = ?3), 0),
			EXISTS (SELECT 1 FROM clients WHERE id = ?3),
			(SELECT created_at FROM clients WHERE id = ?4),
			EXISTS (SELECT 1 FROM signing_keys WHERE kid = ?5 AND revoked_at <> 0)`

// AccessState reads the denylist, the family, the subject's and the
// client's state and the signing key's revocation in one query.
func (db *DB) AccessState(ctx context.Context, q store.AccessQuery) (store.AccessState, error) {
	var (
		st                 store.AccessState
		created, notBefore int64
		clientCreated      sql.NullInt64
	)
	err := db.accessStateR.QueryRowContext(ctx, q.JTI, q.FamilyID, q.Subject, q.ClientID, q.KeyID).
		Scan(&st.Denied, &st.FamilyRevoked, &st.UserExists, &st.UserDisabled, &created, &notBefore, &st.ClientExists, &clientCreated, &st.KeyRevoked)
	if err != nil {
		return store.AccessState{}, wrapErr("access state", err)
	}
	st.UserCreatedAt, st.UserNotBefore = sqlrow.FromNanos(created), sqlrow.FromNanos(notBefore)
	if clientCreated.Valid {
		st.TokenClientExists, st.TokenClientCreatedAt = true, sqlrow.FromNanos(clientCreated.Int64)
	}
	return st, nil
}
