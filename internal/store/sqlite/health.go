package sqlite

import (
	"context"
	"database/sql"
	"strconv"
)

// Deleted reports whether the user or client (kind store.KindUser or
// store.KindClient) called name was deleted and not re-created since.
// Triggers keep the tombstones (migration 0004).
func (db *DB) Deleted(ctx context.Context, kind, name string) (bool, error) {
	var gone bool
	err := db.r.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM tombstones WHERE kind = ? AND name = ?)`, kind, name).Scan(&gone)
	return gone, wrapErr("read tombstone", err)
}

// ProbeWrite commits a write that allocates a few pages and removes it in
// the same transaction: a full disk or a database capped by
// SetMaxPageCount fails it with ErrStorageFull.
func (db *DB) ProbeWrite(ctx context.Context) error {
	return wrapErr("write probe", db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO write_probe (id, pad) VALUES (1, randomblob(8192))`); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM write_probe`)
		return err
	}))
}

// SetMaxPageCount caps the size of the database file at n pages (PRAGMA
// max_page_count on the writer connection) and returns the cap in effect:
// SQLite never sets it below the current size. Writes that would grow the
// file past it fail with ErrStorageFull, as on a full disk.
func (db *DB) SetMaxPageCount(ctx context.Context, n int64) (int64, error) {
	var got int64
	err := db.w.QueryRowContext(ctx, `PRAGMA max_page_count = `+strconv.FormatInt(n, 10)).Scan(&got)
	return got, wrapErr("set max_page_count", err)
}
