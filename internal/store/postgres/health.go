package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// Deleted reports whether the user or client (kind store.KindUser or
// store.KindClient) called name was deleted and not re-created since.
// Triggers keep the tombstones (migration 0004).
func (db *DB) Deleted(ctx context.Context, kind, name string) (bool, error) {
	var gone bool
	err := db.queryRow(ctx, func(r pgx.Row) error { return r.Scan(&gone) },
		`SELECT EXISTS (SELECT 1 FROM tombstones WHERE kind = $1 AND name = $2)`, kind, name)
	return gone, wrapErr("read tombstone", err)
}

// ProbeWrite commits one small write: a full disk, a read-only server or
// a standby fails it.
func (db *DB) ProbeWrite(ctx context.Context) error {
	_, err := db.exec(ctx, `INSERT INTO write_probe (id, pad) VALUES (1, '\x00') ON CONFLICT (id) DO UPDATE SET pad = EXCLUDED.pad`)
	return wrapErr("write probe", err)
}
