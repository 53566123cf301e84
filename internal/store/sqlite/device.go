package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

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
		_, err := tx.ExecContext(ctx, `INSERT INTO device_authorizations (`+deviceColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)`,
			d.DeviceCodeHash, d.UserCodeHash, d.ClientID, scopes, sqlrow.Nanos(d.CreatedAt), sqlrow.Nanos(d.ExpiresAt),
			int64(d.Interval), sqlrow.Nanos(d.LastPollAt), d.Status, d.Username, sqlrow.Nanos(d.AuthTime))
		return err
	})
	return wrapErr(op, err)
}

// GetDeviceAuthorization returns the authorization of a device code hash.
func (db *DB) GetDeviceAuthorization(ctx context.Context, deviceCodeHash []byte) (store.DeviceAuthorization, error) {
	d, err := scanDevice(db.r.QueryRowContext(ctx, `SELECT `+deviceColumns+` FROM device_authorizations WHERE device_code_hash = ?`, deviceCodeHash))
	return d, wrapErr("get device authorization", err)
}

// GetDeviceAuthorizationByUserCode returns the authorization of a user
// code hash.
func (db *DB) GetDeviceAuthorizationByUserCode(ctx context.Context, userCodeHash []byte) (store.DeviceAuthorization, error) {
	d, err := scanDevice(db.r.QueryRowContext(ctx, `SELECT `+deviceColumns+` FROM device_authorizations WHERE user_code_hash = ?`, userCodeHash))
	return d, wrapErr("get device authorization", err)
}

// UpdateDeviceAuthorization is the compare-and-set on the version, and,
// with issue, the family's creation, in one write transaction.
func (db *DB) UpdateDeviceAuthorization(ctx context.Context, d store.DeviceAuthorization, issue *store.NewFamily) error {
	const op = "update device authorization"
	var famScopes, extra string
	if issue != nil {
		if len(issue.Token.Hash) == 0 {
			return fmt.Errorf("sqlite: %s: empty token hash", op)
		}
		var err error
		if famScopes, err = sqlrow.JoinList("scope", issue.Family.Scopes); err != nil {
			return fmt.Errorf("sqlite: %s: %w", op, err)
		}
		if len(issue.Family.Extra) > 0 {
			b, err := json.Marshal(issue.Family.Extra)
			if err != nil {
				return fmt.Errorf("sqlite: %s: encode extra: %w", op, err)
			}
			extra = string(b)
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
		f, t := issue.Family, issue.Token
		if f.ExpiresAt.IsZero() {
			f.ExpiresAt = t.ExpiresAt
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO families
			(id, subject, client_id, scopes, auth_time, generation, rotated_at, revoked, expires_at, extra, rotation, format)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			f.ID, f.Subject, f.ClientID, famScopes, sqlrow.Nanos(f.AuthTime), f.Generation, sqlrow.Nanos(f.RotatedAt),
			f.Revoked, sqlrow.Nanos(f.ExpiresAt), extra, f.Rotation, f.Format); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, insertTokenSQL, t.Hash, f.ID, f.Generation, sqlrow.Nanos(t.IssuedAt), sqlrow.Nanos(t.ExpiresAt))
		return err
	})
	return wrapErr(op, err)
}
