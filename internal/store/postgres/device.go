package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/tokengate/tokengate/internal/store"
	"github.com/tokengate/tokengate/internal/store/sqlrow"
)

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
		_, err := tx.Exec(ctx, `INSERT INTO device_authorizations (`+sqlrow.DeviceColumns+`)
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
	err := db.queryRow(ctx, func(r pgx.Row) (err error) { d, err = sqlrow.ScanDevice(r); return err },
		`SELECT `+sqlrow.DeviceColumns+` FROM device_authorizations WHERE device_code_hash = $1`, deviceCodeHash)
	return d, wrapErr("get device authorization", err)
}

// GetDeviceAuthorizationByUserCode returns the authorization of a user
// code hash.
func (db *DB) GetDeviceAuthorizationByUserCode(ctx context.Context, userCodeHash []byte) (store.DeviceAuthorization, error) {
	var d store.DeviceAuthorization
	err := db.queryRow(ctx, func(r pgx.Row) (err error) { d, err = sqlrow.ScanDevice(r); return err },
		`SELECT `+sqlrow.DeviceColumns+` FROM device_authorizations WHERE user_code_hash = $1`, userCodeHash)
	return d, wrapErr("get device authorization", err)
}

var errDeviceStale = fmt.Errorf("device authorization changed since it was read: %w", store.ErrStale)

// UpdateDeviceAuthorization is the compare-and-set on the version, and,
// with issue, the family's creation, in one transaction.
func (db *DB) UpdateDeviceAuthorization(ctx context.Context, d store.DeviceAuthorization, issue *store.NewFamily) error {
	const op = "update device authorization"
	var famArgs []any
	if issue != nil {
		var err error
		if famArgs, err = sqlrow.NewFamilyArgs(issue.Family, issue.Token); err != nil {
			return fmt.Errorf("postgres: %s: %w", op, err)
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
		// As CreateFamily: the family keeps its live token's hash; no
		// token row (migration 0011).
		_, err = tx.Exec(ctx, insertFamilySQL, famArgs...)
		return err
	})
	if errors.Is(err, store.ErrStale) {
		return fmt.Errorf("postgres: %s: %w", op, err)
	}
	return wrapErr(op, err)
}
