package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
)

// Backup writes a consistent copy of the database at src to the new file
// dst while other connections (a running server) keep reading and
// writing. It uses SQLite's VACUUM INTO, which copies one read
// transaction's snapshot, so the copy holds every transaction committed
// before it began and none after. The copy is a complete database (no
// -wal file), created with mode 0600 because it holds what the store
// holds; dst must not exist.
func Backup(ctx context.Context, src, dst string) error {
	if src == "" || dst == "" {
		return errors.New("sqlite: backup: source and destination are required")
	}
	if _, err := os.Stat(src); err != nil {
		return fmt.Errorf("sqlite: backup: source %s: %w", src, err)
	}
	// VACUUM INTO accepts an existing empty file: making it first with
	// O_EXCL fixes its mode before a byte is written and refuses to
	// overwrite anything.
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("sqlite: backup: creating %s: %w", dst, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("sqlite: backup: creating %s: %w", dst, err)
	}
	ok := false
	defer func() {
		if !ok {
			os.Remove(dst)
		}
	}()
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(5000)")
	db, err := sql.Open("sqlite", src+"?"+q.Encode())
	if err != nil {
		return fmt.Errorf("sqlite: backup: opening %s: %w", src, err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, "VACUUM INTO ?", dst); err != nil {
		return fmt.Errorf("sqlite: backup: copying %s to %s: %w", src, dst, err)
	}
	// The copy must itself be a sound database before it is called a backup.
	chk, err := sql.Open("sqlite", dst+"?_pragma=query_only(1)")
	if err != nil {
		return fmt.Errorf("sqlite: backup: checking %s: %w", dst, err)
	}
	defer chk.Close()
	var res string
	if err := chk.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&res); err != nil {
		return fmt.Errorf("sqlite: backup: checking %s: %w", dst, err)
	}
	if res != "ok" {
		return fmt.Errorf("sqlite: backup: %s fails its integrity check: %s", dst, res)
	}
	ok = true
	return nil
}
