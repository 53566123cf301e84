package postgres

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tokengate/tokengate/internal/oauth"
	"github.com/tokengate/tokengate/internal/secret"
	"github.com/tokengate/tokengate/internal/store"
	"github.com/tokengate/tokengate/internal/store/sqlmigrate"
	"github.com/tokengate/tokengate/internal/store/storetest"
	"github.com/tokengate/tokengate/internal/token"
)

// TestMigration0011KeepsStoredTokens: a database written before migration
// 0011 (a row per refresh token) upgrades in place. Its families learn the
// hashes of their live and previous tokens; the stored tokens are still
// found by hash; and rotations from then on write no token rows.
func TestMigration0011KeepsStoredTokens(t *testing.T) {
	ctx := t.Context()
	dsn := freshSchema(t)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	ms, err := sqlmigrate.Load(migrationFS)
	if err != nil {
		t.Fatal(err)
	}
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := conn.Exec(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`CREATE TABLE schema_migrations (version INTEGER NOT NULL PRIMARY KEY, applied_at BIGINT NOT NULL)`)
	for _, m := range ms {
		if m.Version >= 11 {
			break
		}
		exec(m.SQL)
		exec(`INSERT INTO schema_migrations VALUES ($1, 0)`, m.Version)
	}
	exp := time.Now().Add(time.Hour).UnixNano()
	exec(`INSERT INTO families (id, subject, client_id, auth_time, generation, expires_at) VALUES ('fam', 'alice', 'web', 1, 2, $1)`, exp)
	for gen, name := range []string{"t0", "t1", "t2"} {
		exec(`INSERT INTO refresh_tokens (hash, family_id, generation, issued_at, expires_at) VALUES ($1, 'fam', $2, 1, $3)`, hash(name), gen, exp)
	}

	db, err := Open(ctx, dsn, Options{})
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
	if err := db.pool.QueryRow(ctx, `SELECT count(*) FROM refresh_tokens`).Scan(&rows); err != nil || rows != 3 {
		t.Fatalf("%d token rows after a rotation (%v), want the 3 stored before", rows, err)
	}
}

// queryCounter is a pgx tracer that counts queries: with the statement
// cache warm, each is one round trip to the database.
type queryCounter struct{ n atomic.Int64 }

func (c *queryCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.n.Add(1)
	return ctx
}

func (c *queryCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// TestRefreshRoundTrips counts the database round trips of one refresh
// grant, through the real core on PostgreSQL, so that they do not creep
// back: one read (family, its user's state) and one conditional write
// (the rotation), plus the client's record when it is not cached. No
// token row is read or written.
func TestRefreshRoundTrips(t *testing.T) {
	ctx := t.Context()
	var qc queryCounter
	db, _ := openFresh(t, Options{Tracer: &qc})
	keys, err := token.NewManager(db, token.Options{MaxTokenTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := keys.Init(ctx); err != nil {
		t.Fatal(err)
	}
	h, err := secret.NewHasher(secret.HasherOptions{Params: secret.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}})
	if err != nil {
		t.Fatal(err)
	}
	pw, err := h.Hash(ctx, "alice-pw")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if err := db.CreateUser(ctx, store.User{Username: "alice", PasswordHash: pw, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateClient(ctx, store.Client{ID: "web", Public: true, Grants: []string{oauth.GrantPassword, oauth.GrantRefreshToken}, Scopes: []string{"read"}, CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		cache time.Duration
		want  int64
	}{
		{"client cached", time.Hour, 2},
		{"client read", 0, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc, err := oauth.NewService(oauth.Options{Store: db, Signer: keys, Hasher: h, Settings: oauth.Settings{Issuer: "https://issuer.test", AccessTokenTTL: time.Minute, RefreshTokenTTL: time.Hour}, ClientCacheTTL: tc.cache})
			if err != nil {
				t.Fatal(err)
			}
			resp, err := svc.Token(ctx, &oauth.TokenRequest{GrantType: oauth.GrantPassword, ClientID: "web", Username: "alice", Password: "alice-pw"}, &oauth.Profile{})
			if err != nil {
				t.Fatal(err)
			}
			rt := resp.RefreshToken
			refresh := func() {
				t.Helper()
				resp, err := svc.Token(ctx, &oauth.TokenRequest{GrantType: oauth.GrantRefreshToken, ClientID: "web", RefreshToken: rt}, &oauth.Profile{})
				if err != nil {
					t.Fatal(err)
				}
				rt = resp.RefreshToken
			}
			// The client cache is used only while the change feed listens
			// (ClientsVersion ok); wait for it, then warm the statement
			// cache and the client cache.
			for deadline := time.Now().Add(10 * time.Second); ; {
				if _, ok := db.ClientsVersion(ctx); ok {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the client change feed never started listening")
				}
				time.Sleep(5 * time.Millisecond)
			}
			refresh()
			const n = 10
			before := qc.n.Load()
			for range n {
				refresh()
			}
			if got := (qc.n.Load() - before) / n; got != tc.want || (qc.n.Load()-before)%n != 0 {
				t.Errorf("%d queries for %d refreshes, want %d each", qc.n.Load()-before, n, tc.want)
			}
		})
	}
	var rows int
	if err := db.pool.QueryRow(ctx, `SELECT count(*) FROM refresh_tokens`).Scan(&rows); err != nil || rows != 0 {
		t.Fatalf("%d token rows after refreshes (%v), want none", rows, err)
	}
}

// TestStorageFollowsSessionsNotRotations: after many rotations (see
// storetest.ScaleRotations) over 100 families the database holds 100
// family records and no token record.
func TestStorageFollowsSessionsNotRotations(t *testing.T) {
	db, _ := openFresh(t, Options{})
	storetest.RotationScale(t, db, 100, storetest.ScaleRotations(), func() (f, tk int) {
		if err := db.pool.QueryRow(t.Context(), `SELECT (SELECT count(*) FROM families)::int, (SELECT count(*) FROM refresh_tokens)::int`).Scan(&f, &tk); err != nil {
			t.Fatal(err)
		}
		return f, tk
	})
}
