package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tokengate/tokengate/internal/store"
	"github.com/tokengate/tokengate/internal/store/sqlrow"
)

// exec runs one statement under the call deadline.
func (db *DB) exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	return db.pool.Exec(ctx, sql, args...)
}

// execOne runs one statement that must affect a row; none is
// pgx.ErrNoRows (→ ErrNotFound).
func (db *DB) execOne(ctx context.Context, sql string, args ...any) error {
	tag, err := db.exec(ctx, sql, args...)
	if err == nil && tag.RowsAffected() == 0 {
		err = pgx.ErrNoRows
	}
	return err
}

// queryRow runs a query returning at most one row and scans it with scan.
func (db *DB) queryRow(ctx context.Context, scan func(pgx.Row) error, sql string, args ...any) error {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	return scan(db.pool.QueryRow(ctx, sql, args...))
}

// list runs a query and scans every row with scan.
func list[T any](ctx context.Context, db *DB, scan func(sqlrow.Scanner) (T, error), sql string, args ...any) ([]T, error) {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	rows, err := db.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return sqlrow.Collect(rows, scan)
}

// CreateUser stores a new user; ErrConflict when the username is taken.
func (db *DB) CreateUser(ctx context.Context, u store.User) error {
	scopes, err := sqlrow.JoinList("scope", u.Scopes)
	if err != nil {
		return fmt.Errorf("postgres: create user: %w", err)
	}
	_, err = db.exec(ctx, `INSERT INTO users (`+sqlrow.UserColumns+`) VALUES ($1, $2, $3, $4, $5, $6)`,
		u.Username, u.PasswordHash, u.Disabled, scopes, sqlrow.Nanos(u.CreatedAt), sqlrow.Nanos(u.UpdatedAt))
	return wrapErr("create user", err)
}

// GetUser returns one user; ErrNotFound when absent.
func (db *DB) GetUser(ctx context.Context, username string) (store.User, error) {
	var u store.User
	err := db.queryRow(ctx, func(r pgx.Row) (err error) { u, err = sqlrow.ScanUser(r); return err },
		`SELECT `+sqlrow.UserSelect+` FROM users WHERE username = $1`, username)
	return u, wrapErr("get user", err)
}

// ListUsers returns every user ordered by username.
func (db *DB) ListUsers(ctx context.Context) ([]store.User, error) {
	us, err := list(ctx, db, sqlrow.ScanUser, `SELECT `+sqlrow.UserSelect+` FROM users ORDER BY username`)
	return us, wrapErr("list users", err)
}

// ListUsersAfter returns a page of users in byte order of name (the
// primary key's order).
func (db *DB) ListUsersAfter(ctx context.Context, after string, limit int) ([]store.User, error) {
	us, err := list(ctx, db, sqlrow.ScanUser, `SELECT `+sqlrow.UserSelect+` FROM users WHERE username > $1 ORDER BY username LIMIT $2`, after, max(limit, 0))
	return us, wrapErr("list users", err)
}

// UpdateUser replaces the password hash, disabled flag, scopes and
// UpdatedAt of an existing user; ErrNotFound when absent.
func (db *DB) UpdateUser(ctx context.Context, u store.User) error {
	scopes, err := sqlrow.JoinList("scope", u.Scopes)
	if err != nil {
		return fmt.Errorf("postgres: update user: %w", err)
	}
	err = db.execOne(ctx, `UPDATE users SET password_hash = $1, disabled = $2, scopes = $3, updated_at = $4 WHERE username = $5`,
		u.PasswordHash, u.Disabled, scopes, sqlrow.Nanos(u.UpdatedAt), u.Username)
	return wrapErr("update user", err)
}

// CreateUsers stores new users in one transaction, all or none;
// ErrConflict when any username is taken.
func (db *DB) CreateUsers(ctx context.Context, us []store.User) error {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		for _, u := range us {
			scopes, err := sqlrow.JoinList("scope", u.Scopes)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO users (`+sqlrow.UserColumns+`) VALUES ($1, $2, $3, $4, $5, $6)`,
				u.Username, u.PasswordHash, u.Disabled, scopes, sqlrow.Nanos(u.CreatedAt), sqlrow.Nanos(u.UpdatedAt)); err != nil {
				return err
			}
		}
		return nil
	})
	return wrapErr("create users", err)
}

// ReplacePasswordHash sets the password hash only if it is still oldHash,
// in one statement that also tells a changed hash (ErrStale) from a
// missing user (ErrNotFound).
func (db *DB) ReplacePasswordHash(ctx context.Context, username, oldHash, newHash string, at time.Time) error {
	var exists, replaced bool
	err := db.queryRow(ctx, func(r pgx.Row) error { return r.Scan(&exists, &replaced) }, `WITH upd AS (
			UPDATE users SET password_hash = $3, updated_at = $4 WHERE username = $1 AND password_hash = $2 RETURNING 1
		)
		SELECT EXISTS (SELECT 1 FROM users WHERE username = $1), EXISTS (SELECT 1 FROM upd)`,
		username, oldHash, newHash, sqlrow.Nanos(at))
	switch {
	case err != nil:
		return wrapErr("replace password hash", err)
	case replaced:
		return nil
	case !exists:
		return fmt.Errorf("postgres: replace password hash: %w", store.ErrNotFound)
	}
	return fmt.Errorf("postgres: replace password hash: %w", store.ErrStale)
}

// DeleteUser removes the user and its API keys and revokes every family
// whose subject it is, in one statement (so one transaction); ErrNotFound
// when absent.
func (db *DB) DeleteUser(ctx context.Context, username string) error {
	// The user's API keys go too: a user re-created under the same name
	// must not inherit them.
	err := db.execOne(ctx, `WITH gone AS (
			DELETE FROM users WHERE username = $1 RETURNING username
		), revoked AS (
			UPDATE families SET revoked = true WHERE subject IN (SELECT username FROM gone) AND NOT revoked
		), keys AS (
			DELETE FROM api_keys WHERE username IN (SELECT username FROM gone)
		)
		SELECT 1 FROM gone`, username)
	return wrapErr("delete user", err)
}

// CreateClient stores a new client; ErrConflict when the id is taken.
func (db *DB) CreateClient(ctx context.Context, c store.Client) error {
	defer db.clientsChanged()
	args, err := sqlrow.ClientArgs(c)
	if err != nil {
		return fmt.Errorf("postgres: create client: %w", err)
	}
	_, err = db.exec(ctx, insertClientSQL(len(args)), args...)
	return wrapErr("create client", err)
}

func insertClientSQL(n int) string {
	return `INSERT INTO clients (` + sqlrow.ClientColumns + `) VALUES (` + sqlrow.Placeholders(n, true) + `)`
}

// CreateClients stores new clients in one transaction, all or none;
// ErrConflict when any id is taken.
func (db *DB) CreateClients(ctx context.Context, cs []store.Client) error {
	defer db.clientsChanged()
	ctx, cancel := db.bound(ctx)
	defer cancel()
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		for _, c := range cs {
			args, err := sqlrow.ClientArgs(c)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, insertClientSQL(len(args)), args...); err != nil {
				return err
			}
		}
		return nil
	})
	return wrapErr("create clients", err)
}

// UpgradeClientSecret implements store.Clients in one statement that
// also tells a changed legacy hash (ErrStale) from a missing client
// (ErrNotFound).
func (db *DB) UpgradeClientSecret(ctx context.Context, id, oldLegacy string, newHash []byte) error {
	defer db.clientsChanged()
	var exists, replaced bool
	err := db.queryRow(ctx, func(r pgx.Row) error { return r.Scan(&exists, &replaced) }, `WITH upd AS (
			UPDATE clients SET secret_hash = $3, legacy_secret_hash = '' WHERE id = $1 AND legacy_secret_hash = $2 AND legacy_secret_hash <> '' AND secret_hash IS NULL RETURNING 1
		)
		SELECT EXISTS (SELECT 1 FROM clients WHERE id = $1), EXISTS (SELECT 1 FROM upd)`,
		id, oldLegacy, newHash)
	switch {
	case err != nil:
		return wrapErr("upgrade client secret", err)
	case replaced:
		return nil
	case !exists:
		return fmt.Errorf("postgres: upgrade client secret: %w", store.ErrNotFound)
	}
	return fmt.Errorf("postgres: upgrade client secret: %w", store.ErrStale)
}

// UpdateClient implements store.Clients.
func (db *DB) UpdateClient(ctx context.Context, c store.Client) error {
	defer db.clientsChanged()
	grants, scopes, resources, redirects, origins, err := sqlrow.ClientLists(c)
	if err != nil {
		return fmt.Errorf("postgres: update client: %w", err)
	}
	err = db.execOne(ctx, `UPDATE clients SET secret_hash = $1, public = $2, grants = $3, scopes = $4, access_token_ttl = $5, refresh_token_ttl = $6, refresh_reuse_interval = $7, no_introspect = $8, resources = $9, redirect_uris = $10, third_party = $11, origins = $12, legacy_secret_hash = $13 WHERE id = $14`,
		sqlrow.NullBytes(c.SecretHash), c.Public, grants, scopes, int64(c.AccessTokenTTL), int64(c.RefreshTokenTTL), int64(c.RefreshReuseInterval), c.NoIntrospect, resources, redirects, c.ThirdParty, origins, c.LegacySecretHash, c.ID)
	return wrapErr("update client", err)
}

// GetClient returns one client; ErrNotFound when absent.
func (db *DB) GetClient(ctx context.Context, id string) (store.Client, error) {
	var c store.Client
	err := db.queryRow(ctx, func(r pgx.Row) (err error) { c, err = sqlrow.ScanClient(r); return err },
		`SELECT `+sqlrow.ClientColumns+` FROM clients WHERE id = $1`, id)
	return c, wrapErr("get client", err)
}

// ListClients returns every client ordered by id.
func (db *DB) ListClients(ctx context.Context) ([]store.Client, error) {
	cs, err := list(ctx, db, sqlrow.ScanClient, `SELECT `+sqlrow.ClientColumns+` FROM clients ORDER BY id`)
	return cs, wrapErr("list clients", err)
}

// ListClientsAfter returns a page of clients in byte order of id (the
// primary key's order).
func (db *DB) ListClientsAfter(ctx context.Context, after string, limit int) ([]store.Client, error) {
	cs, err := list(ctx, db, sqlrow.ScanClient, `SELECT `+sqlrow.ClientColumns+` FROM clients WHERE id > $1 ORDER BY id LIMIT $2`, after, max(limit, 0))
	return cs, wrapErr("list clients", err)
}

// DeleteClient removes the client and its API keys and revokes every
// family issued to it, in one statement; ErrNotFound when absent.
func (db *DB) DeleteClient(ctx context.Context, id string) error {
	defer db.clientsChanged()
	err := db.execOne(ctx, `WITH gone AS (
			DELETE FROM clients WHERE id = $1 RETURNING id
		), revoked AS (
			UPDATE families SET revoked = true WHERE client_id IN (SELECT id FROM gone) AND NOT revoked
		), keys AS (
			DELETE FROM api_keys WHERE client_id IN (SELECT id FROM gone)
		)
		SELECT 1 FROM gone`, id)
	return wrapErr("delete client", err)
}

// CreateAPIKey stores a new key; ErrConflict when its id or hash exists.
func (db *DB) CreateAPIKey(ctx context.Context, k store.APIKey) error {
	if len(k.Hash) == 0 {
		return fmt.Errorf("postgres: create api key: empty hash")
	}
	scopes, err := sqlrow.JoinList("scope", k.Scopes)
	if err != nil {
		return fmt.Errorf("postgres: create api key: %w", err)
	}
	_, err = db.exec(ctx, `INSERT INTO api_keys (`+sqlrow.APIKeyColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		k.ID, k.Hash, k.Name, k.Username, k.ClientID, k.Prefix, k.Last4, scopes,
		sqlrow.Nanos(k.CreatedAt), sqlrow.Nanos(k.ExpiresAt), sqlrow.Nanos(k.LastUsedAt), sqlrow.Nanos(k.RevokedAt))
	return wrapErr("create api key", err)
}

// GetAPIKeyByHash returns the key whose SHA-256 is hash, whatever its
// state; ErrNotFound when absent.
func (db *DB) GetAPIKeyByHash(ctx context.Context, hash []byte) (store.APIKey, error) {
	var k store.APIKey
	err := db.queryRow(ctx, func(r pgx.Row) (err error) { k, err = sqlrow.ScanAPIKey(r); return err },
		`SELECT `+sqlrow.APIKeyColumns+` FROM api_keys WHERE hash = $1`, hash)
	return k, wrapErr("get api key", err)
}

// ListAPIKeys returns every key, oldest first.
func (db *DB) ListAPIKeys(ctx context.Context) ([]store.APIKey, error) {
	ks, err := list(ctx, db, sqlrow.ScanAPIKey, `SELECT `+sqlrow.APIKeyColumns+` FROM api_keys ORDER BY created_at, id`)
	return ks, wrapErr("list api keys", err)
}

// ListAPIKeysAfter returns a page of keys in byte order of id (the
// primary key's order), only username's when it is set.
func (db *DB) ListAPIKeysAfter(ctx context.Context, username, after string, limit int) ([]store.APIKey, error) {
	ks, err := list(ctx, db, sqlrow.ScanAPIKey, `SELECT `+sqlrow.APIKeyColumns+` FROM api_keys
		WHERE id > $2 AND ($1 = '' OR username = $1) ORDER BY id LIMIT $3`, username, after, max(limit, 0))
	return ks, wrapErr("list api keys", err)
}

// RevokeAPIKey marks the key revoked at at; revoking again keeps the first
// time. ErrNotFound when absent.
func (db *DB) RevokeAPIKey(ctx context.Context, id string, at time.Time) error {
	err := db.execOne(ctx, `UPDATE api_keys SET revoked_at = CASE WHEN revoked_at = 0 THEN $1 ELSE revoked_at END WHERE id = $2`,
		sqlrow.Nanos(at), id)
	return wrapErr("revoke api key", err)
}

// TouchAPIKey sets the key's LastUsedAt; ErrNotFound when absent.
func (db *DB) TouchAPIKey(ctx context.Context, id string, at time.Time) error {
	err := db.execOne(ctx, `UPDATE api_keys SET last_used_at = $1 WHERE id = $2`, sqlrow.Nanos(at), id)
	return wrapErr("touch api key", err)
}
