package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"tokengate/internal/store"
	"tokengate/internal/store/codec"
)

const (
	// getRefreshSQL finds a token and its family in one query.
	getRefreshSQL = `SELECT t.family_id, t.generation, t.issued_at, t.expires_at,
		f.subject, f.client_id, f.scopes, f.auth_time, f.generation, f.rotated_at, f.revoked, f.expires_at, f.extra,
		EXISTS (SELECT 1 FROM users u WHERE u.username = f.subject AND u.disabled = 0)
		FROM refresh_tokens t JOIN families f ON f.id = t.family_id
		WHERE t.hash = ?`
	// advanceFamilySQL is the compare-and-swap on the family's generation.
	advanceFamilySQL = `UPDATE families SET generation = generation + 1, rotated_at = ?, expires_at = ?
		WHERE id = ? AND generation = ? AND revoked = 0`
	insertTokenSQL = `INSERT INTO refresh_tokens (hash, family_id, generation, issued_at, expires_at) VALUES (?, ?, ?, ?, ?)`
)

// scanRefresh reads a row of getRefreshSQL.
func scanRefresh(s scanner, hash []byte) (store.RefreshToken, store.Family, error) {
	var (
		t                                 store.RefreshToken
		f                                 store.Family
		issued, texp, auth, rotated, fexp int64
		scopes, extra                     string
	)
	if err := s.Scan(&t.FamilyID, &t.Generation, &issued, &texp,
		&f.Subject, &f.ClientID, &scopes, &auth, &f.Generation, &rotated, &f.Revoked, &fexp, &extra, &f.SubjectActive); err != nil {
		return store.RefreshToken{}, store.Family{}, err
	}
	t.Hash = append([]byte(nil), hash...)
	t.IssuedAt, t.ExpiresAt = codec.FromNanos(issued), codec.FromNanos(texp)
	f.ID = t.FamilyID
	f.Scopes = codec.SplitList(scopes)
	f.AuthTime, f.RotatedAt, f.ExpiresAt = codec.FromNanos(auth), codec.FromNanos(rotated), codec.FromNanos(fexp)
	if extra != "" {
		if err := json.Unmarshal([]byte(extra), &f.Extra); err != nil {
			return store.RefreshToken{}, store.Family{}, fmt.Errorf("decode family extra: %w", err)
		}
	}
	return t, f, nil
}

// CreateFamily stores f and its first token t in one transaction. The
// token's FamilyID and Generation are taken from f; a zero f.ExpiresAt
// defaults to t.ExpiresAt. ErrConflict when the family id or token hash
// exists.
func (db *DB) CreateFamily(ctx context.Context, f store.Family, t store.RefreshToken) error {
	const op = "create family"
	if len(t.Hash) == 0 {
		return fmt.Errorf("sqlite: %s: empty token hash", op)
	}
	scopes, err := codec.JoinList("scope", f.Scopes)
	if err != nil {
		return fmt.Errorf("sqlite: %s: %w", op, err)
	}
	var extra string
	if len(f.Extra) > 0 {
		b, err := json.Marshal(f.Extra)
		if err != nil {
			return fmt.Errorf("sqlite: %s: encode extra: %w", op, err)
		}
		extra = string(b)
	}
	if f.ExpiresAt.IsZero() {
		f.ExpiresAt = t.ExpiresAt
	}
	err = db.commit.do(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO families
			(id, subject, client_id, scopes, auth_time, generation, rotated_at, revoked, expires_at, extra)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			f.ID, f.Subject, f.ClientID, scopes, codec.Nanos(f.AuthTime), f.Generation, codec.Nanos(f.RotatedAt),
			f.Revoked, codec.Nanos(f.ExpiresAt), extra); err != nil {
			return err
		}
		_, err := tx.StmtContext(ctx, db.insertToken).ExecContext(ctx,
			t.Hash, f.ID, f.Generation, codec.Nanos(t.IssuedAt), codec.Nanos(t.ExpiresAt))
		return err
	})
	return wrapErr(op, err)
}

// GetRefresh returns the token whose hash is hash and its family, whatever
// their state; ErrNotFound when the hash is unknown.
func (db *DB) GetRefresh(ctx context.Context, hash []byte) (store.RefreshToken, store.Family, error) {
	t, f, err := scanRefresh(db.getRefreshR.QueryRowContext(ctx, hash), hash)
	return t, f, wrapErr("get refresh token", err)
}

// errUnexpectedGeneration reports a failed compare-and-swap. It cannot
// happen while all writes go through the single writer connection inside
// IMMEDIATE transactions; it guards against that invariant breaking.
var errUnexpectedGeneration = errors.New("family generation changed inside the transaction")

// RotateRefresh implements store.Refresh.RotateRefresh as one write
// transaction: look up the token and its family, decide, compare-and-swap
// the family's generation and insert the new token. On reuse the family's
// revocation is committed before ErrTokenReused is returned.
func (db *DB) RotateRefresh(ctx context.Context, r store.Rotation) (store.Family, error) {
	const op = "rotate refresh token"
	if len(r.NewHash) == 0 {
		return store.Family{}, fmt.Errorf("sqlite: %s: empty new token hash", op)
	}
	var f store.Family
	err := db.commit.do(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		f, err = db.rotateIn(ctx, tx, r)
		return err
	})
	if err != nil {
		return store.Family{}, wrapErr(op, err)
	}
	return f, nil
}

// rotateIn is the body of RotateRefresh, run inside a (shared) write
// transaction.
func (db *DB) rotateIn(ctx context.Context, tx *sql.Tx, r store.Rotation) (store.Family, error) {
	t, f, err := scanRefresh(tx.StmtContext(ctx, db.getRefreshW).QueryRowContext(ctx, r.OldHash), r.OldHash)
	if err != nil {
		return store.Family{}, err
	}
	switch {
	case f.Revoked:
		return store.Family{}, store.ErrTokenRevoked
	case !r.Now.Before(t.ExpiresAt):
		return store.Family{}, store.ErrTokenExpired
	case t.Generation == f.Generation:
		// The live token: rotate.
	case r.ReuseInterval > 0 && t.Generation == f.Generation-1 && r.Now.Before(f.RotatedAt.Add(r.ReuseInterval)):
		// The previous token within the grace period: rotate again; the
		// current token dies by falling behind.
	default:
		if _, err := tx.StmtContext(ctx, db.revokeFam).ExecContext(ctx, f.ID); err != nil {
			return store.Family{}, err
		}
		// The revocation is committed with the batch; the caller learns
		// of the reuse.
		return store.Family{}, keep(store.ErrTokenReused)
	}
	res, err := tx.StmtContext(ctx, db.advanceFam).ExecContext(ctx, codec.Nanos(r.Now), codec.Nanos(r.ExpiresAt), f.ID, f.Generation)
	if err == nil {
		var n int64
		if n, err = res.RowsAffected(); err == nil && n != 1 {
			err = errUnexpectedGeneration
		}
	}
	if err != nil {
		return store.Family{}, err
	}
	next := f.Generation + 1
	if _, err := tx.StmtContext(ctx, db.insertToken).ExecContext(ctx, r.NewHash, f.ID, next, codec.Nanos(r.Now), codec.Nanos(r.ExpiresAt)); err != nil {
		return store.Family{}, err
	}
	f.Generation = next
	f.RotatedAt = codec.FromNanos(codec.Nanos(r.Now))
	f.ExpiresAt = codec.FromNanos(codec.Nanos(r.ExpiresAt))
	return f, nil
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
