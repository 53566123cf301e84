package sqlite

import (
	"crypto/sha256"
	"database/sql"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokengate/tokengate/internal/store"
	"github.com/tokengate/tokengate/internal/store/sqlmigrate"
	"github.com/tokengate/tokengate/internal/store/storetest"
)

// TestMigration0011KeepsStoredTokens: a database written before migration
// 0011 (a row per refresh token) upgrades in place. Its families learn the
// hashes of their live and previous tokens; the stored tokens are still
// found by hash (the live one refreshes, an ancestor is recognised); and
// rotations from then on write no token rows.
func TestMigration0011KeepsStoredTokens(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "old.db")
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := sqlmigrate.Load(migrationFS)
	if err != nil {
		t.Fatal(err)
	}
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := raw.ExecContext(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`CREATE TABLE schema_migrations (version INTEGER NOT NULL PRIMARY KEY, applied_at INTEGER NOT NULL)`)
	for _, m := range ms {
		if m.Version >= 11 {
			break
		}
		exec(m.SQL)
		exec(`INSERT INTO schema_migrations VALUES (?, 0)`, m.Version)
	}
	exp := time.Now().Add(time.Hour).UnixNano()
	exec(`INSERT INTO families (id, subject, client_id, auth_time, generation, expires_at) VALUES ('fam', 'alice', 'web', 1, 2, ?)`, exp)
	for gen, name := range []string{"t0", "t1", "t2"} {
		exec(`INSERT INTO refresh_tokens (hash, family_id, generation, issued_at, expires_at) VALUES (?, 'fam', ?, 1, ?)`, hash(name), gen, exp)
	}
	raw.Close()

	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	f, err := db.GetFamily(ctx, "fam")
	if err != nil || !slices.Equal(f.Hash, hash("t2")) || !slices.Equal(f.PrevHash, hash("t1")) || f.Generation != 2 {
		t.Fatalf("migrated family %+v, %v; want the hashes of t2 and t1", f, err)
	}
	for gen, name := range []string{"t0", "t1", "t2"} {
		tok, fam, err := db.GetRefresh(ctx, hash(name))
		if err != nil || tok.Generation != int64(gen) || fam.ID != "fam" || fam.Generation != 2 {
			t.Fatalf("stored token %s after the migration: %+v %+v %v", name, tok, fam, err)
		}
	}
	if err := db.AdvanceFamily(ctx, store.Advance{FamilyID: "fam", Generation: 2, NewHash: hash("t3"), Now: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	var rows int
	if err := db.r.QueryRowContext(ctx, `SELECT count(*) FROM refresh_tokens`).Scan(&rows); err != nil || rows != 3 {
		t.Fatalf("%d token rows after a rotation (%v), want the 3 stored before", rows, err)
	}
	// The stored tokens still answer for the family, now one generation on.
	if tok, fam, err := db.GetRefresh(ctx, hash("t2")); err != nil || tok.Generation != 2 || fam.Generation != 3 || !slices.Equal(fam.Hash, hash("t3")) {
		t.Fatalf("stored t2 after the rotation: %+v %+v %v", tok, fam, err)
	}
}

func hash(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// TestStorageFollowsSessionsNotRotations: after many rotations (see
// storetest.ScaleRotations) over 100 families the database holds 100
// family records and no token record.
func TestStorageFollowsSessionsNotRotations(t *testing.T) {
	db, _ := openTemp(t)
	storetest.RotationScale(t, db, 100, storetest.ScaleRotations(), func() (f, tk int) {
		if err := db.r.QueryRowContext(t.Context(), `SELECT (SELECT count(*) FROM families), (SELECT count(*) FROM refresh_tokens)`).Scan(&f, &tk); err != nil {
			t.Fatal(err)
		}
		return f, tk
	})
}

// BenchmarkRefreshAfterRotations measures the store's part of a refresh
// (GetFamily, then AdvanceFamily), 100 families in parallel, on a fresh
// store and on one that has already made TOKENGATE_SCALE_ROTATIONS
// rotations (default 10,000): the two rates are the same, because the
// rows a refresh touches do not multiply with rotations.
//
//	TOKENGATE_SCALE_ROTATIONS=1000000 go test -run '^$' -bench RefreshAfterRotations ./internal/store/sqlite/
func BenchmarkRefreshAfterRotations(b *testing.B) {
	for _, pre := range []int{0, storetest.ScaleRotations()} {
		b.Run("after-"+strconv.Itoa(pre), func(b *testing.B) {
			db, err := Open(b.Context(), filepath.Join(b.TempDir(), "bench.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			const families = 100
			now := time.Unix(1700000000, 0)
			gens := make([]atomic.Int64, families)
			rotate := func(i int) error {
				id := "f" + strconv.Itoa(i)
				gen := gens[i].Load()
				if _, err := db.GetFamily(b.Context(), id); err != nil {
					return err
				}
				err := db.AdvanceFamily(b.Context(), store.Advance{FamilyID: id, Generation: gen, NewHash: benchHash(id, int(gen)+1), Now: now, ExpiresAt: now.Add(time.Hour)})
				gens[i].Add(1)
				return err
			}
			for i := range families {
				id := "f" + strconv.Itoa(i)
				if err := db.CreateFamily(b.Context(), store.Family{ID: id, Subject: "alice", ClientID: "web", AuthTime: now, ExpiresAt: now.Add(time.Hour)},
					store.RefreshToken{Hash: benchHash(id, 0), ExpiresAt: now.Add(time.Hour)}); err != nil {
					b.Fatal(err)
				}
			}
			var wg sync.WaitGroup
			for i := range families {
				wg.Go(func() {
					for range pre / families {
						if err := rotate(i); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			var next atomic.Int64
			b.SetParallelism(8) // 16 goroutines on two cores, as the bench tool's workers
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				// Each goroutine owns one family, as a client owns its session.
				i := int(next.Add(1)-1) % families
				for pb.Next() {
					if err := rotate(i); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
