package sqlite

import (
	"context"
	"crypto/sha256"
	"errors"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokengate/tokengate/internal/store"
	"github.com/tokengate/tokengate/internal/store/sqlmigrate"
	"github.com/tokengate/tokengate/internal/store/storetest"
)

func openTemp(t *testing.T) (*DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tokengate.db")
	db, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, path
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		db, _ := openTemp(t)
		return db
	})
}

func TestReopenKeepsDataAndMigrationsAreIdempotent(t *testing.T) {
	ctx := t.Context()
	db, path := openTemp(t)
	u := store.User{Username: "alice", CreatedAt: time.Unix(1700000000, 0), UpdatedAt: time.Unix(1700000000, 0)}
	if err := db.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if err := db.Migrate(ctx); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db2, err := OpenWithOptions(ctx, path, Options{Synchronous: "normal"})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer db2.Close()
	got, err := db2.GetUser(ctx, "alice")
	if err != nil {
		t.Fatalf("user lost on reopen: %v", err)
	}
	if !got.CreatedAt.Equal(u.CreatedAt) {
		t.Errorf("CreatedAt = %v, want %v", got.CreatedAt, u.CreatedAt)
	}
	ms, err := sqlmigrate.Load(migrationFS)
	if err != nil {
		t.Fatal(err)
	}
	var n, latest int
	if err := db2.r.QueryRowContext(ctx, `SELECT COUNT(*), MAX(version) FROM schema_migrations`).Scan(&n, &latest); err != nil {
		t.Fatal(err)
	}
	if n != len(ms) || latest != ms[len(ms)-1].Version {
		t.Errorf("schema_migrations has %d rows up to %d, want %d up to %d", n, latest, len(ms), ms[len(ms)-1].Version)
	}
}

func TestPragmas(t *testing.T) {
	db, _ := openTemp(t)
	ctx := t.Context()
	var mode string
	var fk, sync int
	if err := db.w.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if err := db.w.QueryRowContext(ctx, `PRAGMA foreign_keys`).Scan(&fk); err != nil {
		t.Fatal(err)
	}
	if err := db.w.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&sync); err != nil {
		t.Fatal(err)
	}
	if mode != "wal" || fk != 1 || sync != 2 {
		t.Errorf("writer: journal_mode=%s foreign_keys=%d synchronous=%d; want wal, 1, 2 (FULL)", mode, fk, sync)
	}
	// The reader pool refuses writes.
	if _, err := db.r.ExecContext(ctx, `DELETE FROM users`); err == nil {
		t.Error("write through the reader pool succeeded")
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	db, path := openTemp(t)
	ctx := t.Context()
	if _, err := db.w.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (9999, 0)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if db2, err := Open(ctx, path); err == nil {
		db2.Close()
		t.Fatal("Open accepted a database from a newer version")
	}
}

func TestOpenRejectsNonFilePaths(t *testing.T) {
	for _, p := range []string{"", ":memory:", "file:x.db", "x.db?mode=memory"} {
		if db, err := Open(context.Background(), p); err == nil {
			db.Close()
			t.Errorf("Open(%q) succeeded", p)
		}
	}
}

func TestBusyWriterIsUnavailable(t *testing.T) {
	db, _ := openTemp(t)
	// Hold the only writer connection.
	tx, err := db.w.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	err = db.CreateUser(ctx, store.User{Username: "alice"})
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("CreateUser with the writer busy: %v, want ErrUnavailable", err)
	}
}

// BenchmarkRotateRefresh measures the refresh_token grant's store write (AdvanceFamily):
// parallel goroutines each rotate the live token of their own family.
func BenchmarkRotateRefresh(b *testing.B) {
	for _, sync := range []string{"FULL", "NORMAL"} {
		b.Run(sync, func(b *testing.B) {
			db, err := OpenWithOptions(b.Context(), filepath.Join(b.TempDir(), "bench.db"), Options{Synchronous: sync})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			now := time.Unix(1700000000, 0)
			var ids atomic.Int64
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				id := strconv.FormatInt(ids.Add(1), 10)
				f := store.Family{ID: id, Subject: "alice", ClientID: "web", AuthTime: now, ExpiresAt: now.Add(time.Hour)}
				tok := store.RefreshToken{Hash: benchHash(id, 0), FamilyID: id, IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
				if err := db.CreateFamily(b.Context(), f, tok); err != nil {
					b.Error(err)
					return
				}
				for gen := 0; pb.Next(); gen++ {
					err := db.AdvanceFamily(b.Context(), store.Advance{
						FamilyID:   id,
						Generation: int64(gen),
						NewHash:    benchHash(id, gen+1),
						Now:        now,
						ExpiresAt:  now.Add(time.Hour),
					})
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

func benchHash(family string, gen int) []byte {
	sum := sha256.Sum256([]byte(family + "/" + strconv.Itoa(gen)))
	return sum[:]
}
