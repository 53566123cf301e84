package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tokengate/tokengate/internal/store"
	"github.com/tokengate/tokengate/internal/store/sqlrow"
)

// deviceColumns are the columns scanDevice reads, in order.
const deviceColumns = `device_code_hash, user_code_hash, client_id, scopes, created_at, expires_at,
	poll_interval, last_poll_at, status, username, auth_time, version`

func scanDevice(s sqlrow.Scanner) (store.DeviceAuthorization, error) {
	var d store.DeviceAuthorization
	var scopes string
	var created, expires, interval, lastPoll, authTime int64
	if err := s.Scan(&d.DeviceCodeHash, &d.UserCodeHash, &d.ClientID, &scopes, &created, &expires,
		&interval, &lastPoll, &d.Status, &d.Username, &authTime, &d.Version); err != nil {
		return store.DeviceAuthorization{}, err
	}
	d.Scopes = sqlrow.SplitList(scopes)
	d.CreatedAt, d.ExpiresAt = sqlrow.FromNanos(created), sqlrow.FromNanos(expires)
	d.Interval, d.LastPollAt, d.AuthTime = time.Duration(interval), sqlrow.FromNanos(lastPoll), sqlrow.FromNanos(authTime)
	return d, nil
}

// CreateDeviceAuthorization stores d; an expired authorization holding
// the same user code is replaced in the same transaction.
func (db *DB) CreateDeviceAuthorization(ctx context.Context, d store.DeviceAuthorization) error {
	const op = "create device authorization"
	if len(d.DeviceCodeHash) == 0 || len(d.UserCodeHash) == 0 {
		return fmt.Errorf("postgres: %s: empty code hash", op)
	}
	scopes, err := sqlrow.JoinList("scope", d.Scopes)
	if err != nil {
		return fmt.Errorf("postgres: %s: %w", op, err)
	}
	ctx, cancel := db.bound(ctx)
	defer cancel()
	err = pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM device_authorizations WHERE user_code_hash = $1 AND expires_at <= $2`,
			d.UserCodeHash, sqlrow.Nanos(d.CreatedAt)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO device_authorizations (`+deviceColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 0)`,
			d.DeviceCodeHash, d.UserCodeHash, d.ClientID, scopes, sqlrow.Nanos(d.CreatedAt), sqlrow.Nanos(d.ExpiresAt),
			int64(d.Interval), sqlrow.Nanos(d.LastPollAt), d.Status, d.Username, sqlrow.Nanos(d.AuthTime))
		return err
	})
	return wrapErr(op, err)
}

// GetDeviceAuthorization returns the authorization of a device code hash.
func (db *DB) GetDeviceAuthorization(ctx context.Context, deviceCodeHash []byte) (store.DeviceAuthorization, error) {
	var d store.DeviceAuthorization
	err := db.queryRow(ctx, func(r pgx.Row) (err error) { d, err = scanDevice(r); return err },
		`SELECT `+deviceColumns+` FROM device_authorizations WHERE device_code_hash = $1`, deviceCodeHash)
	return d, wrapErr("get device authorization", err)
}

// GetDeviceAuthorizationByUserCode returns the authorization of a user
// code hash.
func (db *DB) GetDeviceAuthorizationByUserCode(ctx context.Context, userCodeHash []byte) (store.DeviceAuthorization, error) {
	var d store.DeviceAuthorization
	err := db.queryRow(ctx, func(r pgx.Row) (err error) { d, err = scanDevice(r); return err },
		`SELECT `+deviceColumns+` FROM device_authorizations WHERE user_code_hash = $1`, userCodeHash)
	return d, wrapErr("get device authorization", err)
}

var errDeviceStale = fmt.Errorf("device authorization changed since it was read: %w", store.ErrStale)

// UpdateDeviceAuthorization is the compare-and-set on the version, and,
// with issue, the family's creation, in one transaction.
func (db *DB) UpdateDeviceAuthorization(ctx context.Context, d store.DeviceAuthorization, issue *store.NewFamily) error {
	const op = "update device authorization"
	var famScopes, extra string
	if issue != nil {
		if len(issue.Token.Hash) == 0 {
			return fmt.Errorf("postgres: %s: empty token hash", op)
		}
		var err error
		if famScopes, err = sqlrow.JoinList("scope", issue.Family.Scopes); err != nil {
			return fmt.Errorf("postgres: %s: %w", op, err)
		}
		if len(issue.Family.Extra) > 0 {
			b, err := json.Marshal(issue.Family.Extra)
			if err != nil {
				return fmt.Errorf("postgres: %s: encode extra: %w", op, err)
			}
			extra = string(b)
		}
	}
	ctx, cancel := db.bound(ctx)
	defer cancel()
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE device_authorizations
			SET poll_interval = $1, last_poll_at = $2, status = $3, username = $4, auth_time = $5, version = version + 1
			WHERE device_code_hash = $6 AND version = $7`,
			int64(d.Interval), sqlrow.Nanos(d.LastPollAt), d.Status, d.Username, sqlrow.Nanos(d.AuthTime), d.DeviceCodeHash, d.Version)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			var exists bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM device_authorizations WHERE device_code_hash = $1)`, d.DeviceCodeHash).Scan(&exists); err != nil {
				return err
			}
			if !exists {
				return pgx.ErrNoRows
			}
			return errDeviceStale
		}
		if issue == nil {
			return nil
		}
		f, t := issue.Family, issue.Token
		if f.ExpiresAt.IsZero() {
			f.ExpiresAt = t.ExpiresAt
		}
		if _, err := tx.Exec(ctx, `INSERT INTO families
			(id, subject, client_id, scopes, auth_time, generation, rotated_at, revoked, expires_at, extra, rotation, format)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
			f.ID, f.Subject, f.ClientID, famScopes, sqlrow.Nanos(f.AuthTime), f.Generation, sqlrow.Nanos(f.RotatedAt),
			f.Revoked, sqlrow.Nanos(f.ExpiresAt), extra, f.Rotation, f.Format); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO refresh_tokens (hash, family_id, generation, issued_at, expires_at) VALUES ($1, $2, $3, $4, $5)`,
			t.Hash, f.ID, f.Generation, sqlrow.Nanos(t.IssuedAt), sqlrow.Nanos(t.ExpiresAt))
		return err
	})
	if errors.Is(err, store.ErrStale) {
		return fmt.Errorf("postgres: %s: %w", op, err)
	}
	return wrapErr(op, err)
}
