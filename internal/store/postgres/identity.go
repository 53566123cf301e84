package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/tokengate/tokengate/internal/store"
	"github.com/tokengate/tokengate/internal/store/sqlrow"
)

// GetIdentityLink returns the link of (issuer, subject); ErrNotFound
// when absent.
func (db *DB) GetIdentityLink(ctx context.Context, issuer, subject string) (store.IdentityLink, error) {
	l := store.IdentityLink{Issuer: issuer, Subject: subject}
	var created int64
	err := db.queryRow(ctx, func(r pgx.Row) error { return r.Scan(&l.Username, &created) },
		`SELECT username, created_at FROM identity_links WHERE issuer = $1 AND subject = $2`, issuer, subject)
	if err != nil {
		return store.IdentityLink{}, wrapErr("get identity link", err)
	}
	l.CreatedAt = sqlrow.FromNanos(created)
	return l, nil
}

// ProvisionIdentity creates u and the link l to it in one statement (so
// one transaction); ErrConflict, with nothing created, when the link or
// the username exists. Of concurrent provisions of one identity, the
// unique indexes let exactly one commit.
func (db *DB) ProvisionIdentity(ctx context.Context, u store.User, l store.IdentityLink) error {
	if l.Username != u.Username {
		return fmt.Errorf("postgres: provision identity: link names %q, user is %q", l.Username, u.Username)
	}
	scopes, err := sqlrow.JoinList("scope", u.Scopes)
	if err != nil {
		return fmt.Errorf("postgres: provision identity: %w", err)
	}
	_, err = db.exec(ctx, `WITH u AS (
			INSERT INTO users (`+sqlrow.UserColumns+`) VALUES ($1, $2, $3, $4, $5, $6) RETURNING username
		)
		INSERT INTO identity_links (issuer, subject, username, created_at) SELECT $7, $8, username, $9 FROM u`,
		u.Username, u.PasswordHash, u.Disabled, scopes, sqlrow.Nanos(u.CreatedAt), sqlrow.Nanos(u.UpdatedAt),
		l.Issuer, l.Subject, sqlrow.Nanos(l.CreatedAt))
	return wrapErr("provision identity", err)
}
