package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/tokengate/tokengate/internal/store"
	"github.com/tokengate/tokengate/internal/store/sqlrow"
)

// GetIdentityLink returns the link of (issuer, subject); ErrNotFound
// when absent.
func (db *DB) GetIdentityLink(ctx context.Context, issuer, subject string) (store.IdentityLink, error) {
	l := store.IdentityLink{Issuer: issuer, Subject: subject}
	var created int64
	err := db.r.QueryRowContext(ctx, `SELECT username, created_at FROM identity_links WHERE issuer = ? AND subject = ?`, issuer, subject).
		Scan(&l.Username, &created)
	if err != nil {
		return store.IdentityLink{}, wrapErr("get identity link", err)
	}
	l.CreatedAt = sqlrow.FromNanos(created)
	return l, nil
}

// ProvisionIdentity creates u and the link l to it in one transaction;
// ErrConflict, with nothing created, when the link or the username exists.
func (db *DB) ProvisionIdentity(ctx context.Context, u store.User, l store.IdentityLink) error {
	if l.Username != u.Username {
		return fmt.Errorf("sqlite: provision identity: link names %q, user is %q", l.Username, u.Username)
	}
	scopes, err := sqlrow.JoinList("scope", u.Scopes)
	if err != nil {
		return fmt.Errorf("sqlite: provision identity: %w", err)
	}
	err = db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO users (`+sqlrow.UserColumns+`) VALUES (?, ?, ?, ?, ?, ?)`,
			u.Username, u.PasswordHash, u.Disabled, scopes, sqlrow.Nanos(u.CreatedAt), sqlrow.Nanos(u.UpdatedAt)); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO identity_links (issuer, subject, username, created_at) VALUES (?, ?, ?, ?)`,
			l.Issuer, l.Subject, l.Username, sqlrow.Nanos(l.CreatedAt))
		return err
	})
	return wrapErr("provision identity", err)
}
