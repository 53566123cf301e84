package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/tokengate/tokengate/internal/store"
	"github.com/tokengate/tokengate/internal/store/sqlrow"
)

// CreateDeviceAuthorization stores d; an expired authorization holding
// the same user code is replaced in the same transaction.
func (db *DB) CreateDeviceAuthorization(ctx context.Context, d store.DeviceAuthorization) error {
	const op = "create device authorization"
	if len(d.DeviceCodeHash) == 0 || len(d.UserCodeHash) == 0 {
		return fmt.Errorf("sqlite: %s: empty code hash", op)
	}
	scopes, err := sqlrow.JoinList("scope", d.Scopes)
	if err != nil {
		return fmt.Errorf("sqlite: %s: %w", op, err)
	}
	err = db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM device_authorizations WHERE user_code_hash = ? AND expires_at <= ?`,
			d.UserCodeHash, sqlrow.Nanos(d.CreatedAt)); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO device_authorizations (`+sqlrow.DeviceColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)`,
			d.DeviceCodeHash, d.UserCodeHash, d.ClientID, scopes, sqlrow.Nanos(d.CreatedAt), sqlrow.Nanos(d.ExpiresAt),
			int64(d.Interval), sqlrow.Nanos(d.LastPollAt), d.Status, d.Username, sqlrow.Nanos(d.AuthTime))
		return err
	})
	return wrapErr(op, err)
}

// GetDeviceAuthorization returns the authorization of a device code hash.
func (db *DB) GetDeviceAuthorization(ctx context.Context, deviceCodeHash []byte) (store.DeviceAuthorization, error) {
	d, err := sqlrow.ScanDevice(db.r.QueryRowContext(ctx, `SELECT `+sqlrow.DeviceColumns+` FROM device_authorizations WHERE device_code_hash = ?`, deviceCodeHash))
	return d, wrapErr("get device authorization", err)
}

// GetDeviceAuthorizationByUserCode returns the authorization of a user
// code hash.
func (db *DB) GetDeviceAuthorizationByUserCode(ctx context.Context, userCodeHash []byte) (store.DeviceAuthorization, error) {
	d, err := sqlrow.ScanDevice(db.r.QueryRowContext(ctx, `SELECT `+sqlrow.DeviceColumns+` FROM device_authorizations WHERE user_code_hash = ?`, userCodeHash))
	return d, wrapErr("get device authorization", err)
}

// UpdateDeviceAuthorization is the compare-and-set on the version, and,
// with issue, the family's creation, in one write transaction.
func (db *DB) UpdateDeviceAuthorization(ctx context.Context, d store.DeviceAuthorization, issue *store.NewFamily) error {
	const op = "update device authorization"
	var famArgs []any
	if issue != nil {
		var err error
		if famArgs, err = sqlrow.NewFamilyArgs(issue.Family, issue.Token); err != nil {
			return fmt.Errorf("sqlite: %s: %w", op, err)
		}
	}
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE device_authorizations
			SET poll_interval = ?, last_poll_at = ?, status = ?, username = ?, auth_time = ?, version = version + 1
			WHERE device_code_hash = ? AND version = ?`,
			int64(d.Interval), sqlrow.Nanos(d.LastPollAt), d.Status, d.Username, sqlrow.Nanos(d.AuthTime), d.DeviceCodeHash, d.Version)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			var one int
			if err := tx.QueryRowContext(ctx, `SELECT 1 FROM device_authorizations WHERE device_code_hash = ?`, d.DeviceCodeHash).Scan(&one); err != nil {
				return err // sql.ErrNoRows: ErrNotFound
			}
			return store.ErrStale
		}
		if issue == nil {
			return nil
		}
		// As CreateFamily: the family keeps its live token's hash; no
		// token row (migration 0011).
		_, err = tx.ExecContext(ctx, insertFamilySQL, famArgs...)
		return err
	})
	return wrapErr(op, err)
}
