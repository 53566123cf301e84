package sqlite

import (
	"context"

	"github.com/tokengate/tokengate/internal/store"
	"github.com/tokengate/tokengate/internal/store/sqlrow"
)

// CreateAuthCode stores a new authorization code; ErrConflict when its
// hash exists.
func (db *DB) CreateAuthCode(ctx context.Context, c store.AuthCode) error {
	vals, err := sqlrow.AuthCodeValues(c)
	if err != nil {
		return wrapErr("create auth code", err)
	}
	_, err = db.w.ExecContext(ctx, `INSERT INTO auth_codes (`+sqlrow.AuthCodeColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, vals...)
	return wrapErr("create auth code", err)
}

// GetAuthCode returns the code whose hash is hash; ErrNotFound when absent.
func (db *DB) GetAuthCode(ctx context.Context, hash []byte) (store.AuthCode, error) {
	c, err := sqlrow.ScanAuthCode(db.r.QueryRowContext(ctx, `SELECT `+sqlrow.AuthCodeColumns+` FROM auth_codes WHERE hash = ?`, hash))
	return c, wrapErr("get auth code", err)
}

// RedeemAuthCode counts one redemption in one statement (the single
// writer serialises concurrent ones) and returns the record after it.
func (db *DB) RedeemAuthCode(ctx context.Context, hash []byte) (store.AuthCode, error) {
	c, err := sqlrow.ScanAuthCode(db.w.QueryRowContext(ctx,
		`UPDATE auth_codes SET redemptions = redemptions + 1 WHERE hash = ? RETURNING `+sqlrow.AuthCodeColumns, hash))
	return c, wrapErr("redeem auth code", err)
}

// CreateWebSession stores a new browser session; ErrConflict when its
// hash exists.
func (db *DB) CreateWebSession(ctx context.Context, s store.WebSession) error {
	_, err := db.w.ExecContext(ctx, `INSERT INTO web_sessions (`+sqlrow.WebSessionColumns+`) VALUES (?, ?, ?, ?)`,
		s.IDHash, s.Username, sqlrow.Nanos(s.AuthTime), sqlrow.Nanos(s.ExpiresAt))
	return wrapErr("create web session", err)
}

// GetWebSession returns the session whose id hashes to hash; ErrNotFound
// when absent.
func (db *DB) GetWebSession(ctx context.Context, hash []byte) (store.WebSession, error) {
	s, err := sqlrow.ScanWebSession(db.r.QueryRowContext(ctx, `SELECT `+sqlrow.WebSessionColumns+` FROM web_sessions WHERE id_hash = ?`, hash))
	return s, wrapErr("get web session", err)
}

// DeleteWebSession removes a session; an unknown one is not an error.
func (db *DB) DeleteWebSession(ctx context.Context, hash []byte) error {
	_, err := db.w.ExecContext(ctx, `DELETE FROM web_sessions WHERE id_hash = ?`, hash)
	return wrapErr("delete web session", err)
}
