package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/tokengate/tokengate/internal/store"
	"github.com/tokengate/tokengate/internal/store/sqlrow"
)

// Statements revoking the families a deleted user or client owns, run in
// the transaction of the delete.
const (
	revokeSubjectFamiliesSQL = `UPDATE families SET revoked = 1 WHERE subject = ? AND revoked = 0`
	revokeClientFamiliesSQL  = `UPDATE families SET revoked = 1 WHERE client_id = ? AND revoked = 0`
)

// deleteAndRevoke deletes one row with del and, when it existed, revokes
// the families matched by revoke, in one transaction.
func (db *DB) deleteAndRevoke(ctx context.Context, op, del, revoke, key string, more ...string) error {
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, del, key)
		if err != nil {
			return err
		}
		if err := mustAffect(res); err != nil {
			return err
		}
		for _, stmt := range append([]string{revoke}, more...) {
			if _, err := tx.ExecContext(ctx, stmt, key); err != nil {
				return err
			}
		}
		return nil
	})
	return wrapErr(op, err)
}

// mustAffect turns "no row affected" into sql.ErrNoRows (→ ErrNotFound).
func mustAffect(res sql.Result) error {
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return sql.ErrNoRows
	}
	return nil
}

// CreateUser stores a new user; ErrConflict when the username is taken.
func (db *DB) CreateUser(ctx context.Context, u store.User) error {
	scopes, err := sqlrow.JoinList("scope", u.Scopes)
	if err != nil {
		return fmt.Errorf("sqlite: create user: %w", err)
	}
	_, err = db.w.ExecContext(ctx, `INSERT INTO users (`+sqlrow.UserColumns+`) VALUES (?, ?, ?, ?, ?, ?)`,
		u.Username, u.PasswordHash, u.Disabled, scopes, sqlrow.Nanos(u.CreatedAt), sqlrow.Nanos(u.UpdatedAt))
	return wrapErr("create user", err)
}

// GetUser returns one user; ErrNotFound when absent.
func (db *DB) GetUser(ctx context.Context, username string) (store.User, error) {
	u, err := sqlrow.ScanUser(db.getUserR.QueryRowContext(ctx, username))
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
	us, err := list(ctx, db, sqlrow.ScanUser, `SELECT `+sqlrow.UserSelect+` FROM users WHERE username > ?1 ORDER BY username LIMIT ?2`, after, max(limit, 0))
	return us, wrapErr("list users", err)
}

// UpdateUser replaces the password hash, disabled flag, scopes and
// UpdatedAt of an existing user; ErrNotFound when absent.
func (db *DB) UpdateUser(ctx context.Context, u store.User) error {
	scopes, err := sqlrow.JoinList("scope", u.Scopes)
	if err != nil {
		return fmt.Errorf("sqlite: update user: %w", err)
	}
	res, err := db.w.ExecContext(ctx, `UPDATE users SET password_hash = ?, disabled = ?, scopes = ?, updated_at = ? WHERE username = ?`,
		u.PasswordHash, u.Disabled, scopes, sqlrow.Nanos(u.UpdatedAt), u.Username)
	if err == nil {
		err = mustAffect(res)
	}
	return wrapErr("update user", err)
}

// CreateUsers stores new users in one transaction, all or none;
// ErrConflict when any username is taken.
func (db *DB) CreateUsers(ctx context.Context, us []store.User) error {
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		for _, u := range us {
			scopes, err := sqlrow.JoinList("scope", u.Scopes)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO users (`+sqlrow.UserColumns+`) VALUES (?, ?, ?, ?, ?, ?)`,
				u.Username, u.PasswordHash, u.Disabled, scopes, sqlrow.Nanos(u.CreatedAt), sqlrow.Nanos(u.UpdatedAt)); err != nil {
				return err
			}
		}
		return nil
	})
	return wrapErr("create users", err)
}

// ReplacePasswordHash sets the password hash only if it is still oldHash
// (one conditional UPDATE); ErrStale when it changed, ErrNotFound when
// the user is absent.
func (db *DB) ReplacePasswordHash(ctx context.Context, username, oldHash, newHash string, at time.Time) error {
	res, err := db.w.ExecContext(ctx, `UPDATE users SET password_hash = ?, updated_at = ? WHERE username = ? AND password_hash = ?`,
		newHash, sqlrow.Nanos(at), username, oldHash)
	if err != nil {
		return wrapErr("replace password hash", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 1 {
		return wrapErr("replace password hash", err)
	}
	// Nothing matched: say whether the user is gone or its hash changed.
	if _, err := db.GetUser(ctx, username); err != nil {
		return err
	}
	return fmt.Errorf("sqlite: replace password hash: %w", store.ErrStale)
}

// DeleteUser removes the user and revokes every family whose subject it
// is, in one transaction; ErrNotFound when absent.
func (db *DB) DeleteUser(ctx context.Context, username string) error {
	// The user's API keys go too: a user re-created under the same name
	// must not inherit them.
	return db.deleteAndRevoke(ctx, "delete user", `DELETE FROM users WHERE username = ?`, revokeSubjectFamiliesSQL, username,
		`DELETE FROM api_keys WHERE username = ?`)
}

// CreateClient stores a new client; ErrConflict when the id is taken.
func (db *DB) CreateClient(ctx context.Context, c store.Client) error {
	defer db.clientsChanged()
	return wrapErr("create client", insertClient(ctx, db.w, c))
}

// CreateClients stores new clients in one transaction, all or none;
// ErrConflict when any id is taken.
func (db *DB) CreateClients(ctx context.Context, cs []store.Client) error {
	defer db.clientsChanged()
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		for _, c := range cs {
			if err := insertClient(ctx, tx, c); err != nil {
				return err
			}
		}
		return nil
	})
	return wrapErr("create clients", err)
}

// insertClient inserts one client row through x (the writer or a
// transaction).
func insertClient(ctx context.Context, x interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, c store.Client) error {
	args, err := sqlrow.ClientArgs(c)
	if err != nil {
		return err
	}
	_, err = x.ExecContext(ctx, `INSERT INTO clients (`+sqlrow.ClientColumns+`) VALUES (`+sqlrow.Placeholders(len(args), false)+`)`, args...)
	return err
}

// UpgradeClientSecret implements store.Clients with one conditional
// UPDATE.
func (db *DB) UpgradeClientSecret(ctx context.Context, id, oldLegacy string, newHash []byte) error {
	defer db.clientsChanged()
	res, err := db.w.ExecContext(ctx, `UPDATE clients SET secret_hash = ?, legacy_secret_hash = '' WHERE id = ? AND legacy_secret_hash = ? AND legacy_secret_hash <> '' AND secret_hash IS NULL`,
		newHash, id, oldLegacy)
	if err != nil {
		return wrapErr("upgrade client secret", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 1 {
		return wrapErr("upgrade client secret", err)
	}
	if _, err := db.GetClient(ctx, id); err != nil {
		return err
	}
	return fmt.Errorf("sqlite: upgrade client secret: %w", store.ErrStale)
}

// UpdateClient implements store.Clients.
func (db *DB) UpdateClient(ctx context.Context, c store.Client) error {
	defer db.clientsChanged()
	grants, scopes, resources, redirects, origins, err := sqlrow.ClientLists(c)
	if err != nil {
		return fmt.Errorf("sqlite: update client: %w", err)
	}
	res, err := db.w.ExecContext(ctx, `UPDATE clients SET secret_hash = ?, public = ?, grants = ?, scopes = ?, access_token_ttl = ?, refresh_token_ttl = ?, refresh_reuse_interval = ?, no_introspect = ?, resources = ?, redirect_uris = ?, third_party = ?, origins = ?, legacy_secret_hash = ? WHERE id = ?`,
		sqlrow.NullBytes(c.SecretHash), c.Public, grants, scopes, int64(c.AccessTokenTTL), int64(c.RefreshTokenTTL), int64(c.RefreshReuseInterval), c.NoIntrospect, resources, redirects, c.ThirdParty, origins, c.LegacySecretHash, c.ID)
	if err == nil {
		err = mustAffect(res)
	}
	return wrapErr("update client", err)
}

// GetClient returns one client; ErrNotFound when absent.
func (db *DB) GetClient(ctx context.Context, id string) (store.Client, error) {
	c, err := sqlrow.ScanClient(db.getClientR.QueryRowContext(ctx, id))
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
	cs, err := list(ctx, db, sqlrow.ScanClient, `SELECT `+sqlrow.ClientColumns+` FROM clients WHERE id > ?1 ORDER BY id LIMIT ?2`, after, max(limit, 0))
	return cs, wrapErr("list clients", err)
}

// DeleteClient removes the client and revokes every family issued to it,
// in one transaction; ErrNotFound when absent.
func (db *DB) DeleteClient(ctx context.Context, id string) error {
	defer db.clientsChanged()
	return db.deleteAndRevoke(ctx, "delete client", `DELETE FROM clients WHERE id = ?`, revokeClientFamiliesSQL, id,
		`DELETE FROM api_keys WHERE client_id = ?`)
}

// CreateAPIKey stores a new key; ErrConflict when its id or hash exists.
func (db *DB) CreateAPIKey(ctx context.Context, k store.APIKey) error {
	if len(k.Hash) == 0 {
		return fmt.Errorf("sqlite: create api key: empty hash")
	}
	scopes, err := sqlrow.JoinList("scope", k.Scopes)
	if err != nil {
		return fmt.Errorf("sqlite: create api key: %w", err)
	}
	_, err = db.w.ExecContext(ctx, `INSERT INTO api_keys (`+sqlrow.APIKeyColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		k.ID, k.Hash, k.Name, k.Username, k.ClientID, k.Prefix, k.Last4, scopes,
		sqlrow.Nanos(k.CreatedAt), sqlrow.Nanos(k.ExpiresAt), sqlrow.Nanos(k.LastUsedAt), sqlrow.Nanos(k.RevokedAt))
	return wrapErr("create api key", err)
}

// GetAPIKeyByHash returns the key whose SHA-256 is hash, whatever its
// state; ErrNotFound when absent.
func (db *DB) GetAPIKeyByHash(ctx context.Context, hash []byte) (store.APIKey, error) {
	k, err := sqlrow.ScanAPIKey(db.getKeyR.QueryRowContext(ctx, hash))
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
		WHERE id > ?2 AND (?1 = '' OR username = ?1) ORDER BY id LIMIT ?3`, username, after, max(limit, 0))
	return ks, wrapErr("list api keys", err)
}

// RevokeAPIKey marks the key revoked at at; revoking again keeps the first
// time. ErrNotFound when absent.
func (db *DB) RevokeAPIKey(ctx context.Context, id string, at time.Time) error {
	res, err := db.w.ExecContext(ctx, `UPDATE api_keys SET revoked_at = CASE WHEN revoked_at = 0 THEN ? ELSE revoked_at END WHERE id = ?`,
		sqlrow.Nanos(at), id)
	if err == nil {
		err = mustAffect(res)
	}
	return wrapErr("revoke api key", err)
}

// TouchAPIKey sets the key's LastUsedAt; ErrNotFound when absent.
func (db *DB) TouchAPIKey(ctx context.Context, id string, at time.Time) error {
	res, err := db.w.ExecContext(ctx, `UPDATE api_keys SET last_used_at = ? WHERE id = ?`, sqlrow.Nanos(at), id)
	if err == nil {
		err = mustAffect(res)
	}
	return wrapErr("touch api key", err)
}
