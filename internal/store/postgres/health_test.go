package postgres

import (
	"errors"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tokengate/tokengate/internal/store"
)

// TestDiskFullIsStorageFull: PostgreSQL's disk_full (53100) is both
// ErrUnavailable (503) and ErrStorageFull (answered "storage is
// unavailable", logged once per interval); other resource errors are
// only unavailable.
func TestDiskFullIsStorageFull(t *testing.T) {
	err := wrapErr("create family", &pgconn.PgError{Code: "53100", Message: "could not extend file"})
	if !errors.Is(err, store.ErrStorageFull) || !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("disk_full: %v", err)
	}
	err = wrapErr("create family", &pgconn.PgError{Code: "53300", Message: "too many connections"})
	if errors.Is(err, store.ErrStorageFull) || !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("too_many_connections: %v", err)
	}
}
