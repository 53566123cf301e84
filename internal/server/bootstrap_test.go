package server_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokengate/tokengate/internal/admin"
	"github.com/tokengate/tokengate/internal/config"
	"github.com/tokengate/tokengate/internal/server"
	"github.com/tokengate/tokengate/internal/store"
	"github.com/tokengate/tokengate/internal/store/postgres"
	"github.com/tokengate/tokengate/internal/store/sqlite"
)

const bootstrapConfig = `
bootstrap:
  users:
    - {username: alice, password_hash: "$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHRzYWx0$YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXoxMjM0NTY", scopes: [read]}
  clients:
    - {id: web, secret: web-secret, grants: [password], scopes: [read]}
  api_keys:
    - {name: legacy, key: legacy-key-value, user: alice, scopes: [read]}
`

func bootstrapSection(t *testing.T) config.Bootstrap {
	t.Helper()
	cfg, err := config.Parse("test.yaml", []byte(bootstrapConfig))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg.Bootstrap
}

func runBootstrap(t *testing.T, st store.Store, b config.Bootstrap) string {
	t.Helper()
	logs := newSyncBuffer()
	hash := func(context.Context, string) (string, error) { t.Fatal("no password to hash"); return "", nil }
	if err := admin.Bootstrap(context.Background(), st, server.Seed(b), hash, nil, time.Now(), slog.New(slog.NewTextHandler(logs, nil))); err != nil {
		t.Fatal(err)
	}
	return logs.String()
}

// TestBootstrapDoesNotResurrectDeletions: a user or client deleted by an
// administrator stays deleted across restarts (its tombstone is kept), and
// bootstrap says why it skipped it; a record that exists but differs from
// the config is kept, with a line saying so.
func TestBootstrapDoesNotResurrectDeletions(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir()+"/tg.db")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	b := bootstrapSection(t)
	first := runBootstrap(t, st, b)
	for _, want := range []string{"created user", "created client", "imported API key"} {
		if !strings.Contains(first, want) {
			t.Errorf("first start: no %q line:\n%s", want, first)
		}
	}
	if again := runBootstrap(t, st, b); strings.Contains(again, "created") || strings.Contains(again, "imported") || strings.Contains(again, "differs") {
		t.Errorf("unchanged restart logged:\n%s", again)
	}
	if err := st.DeleteUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteClient(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	logs := runBootstrap(t, st, b)
	if _, err := st.GetUser(ctx, "alice"); err == nil {
		t.Error("deleted user re-created by bootstrap")
	}
	if _, err := st.GetClient(ctx, "web"); err == nil {
		t.Error("deleted client re-created by bootstrap")
	}
	for _, want := range []string{`user=alice`, `client_id=web`, "was deleted"} {
		if !strings.Contains(logs, want) {
			t.Errorf("no line naming %s:\n%s", want, logs)
		}
	}
	if keys, _ := st.ListAPIKeys(ctx); len(keys) != 0 {
		t.Errorf("API key of the deleted user re-imported: %+v", keys)
	}
	// Re-created by an administrator, then differing from the config.
	now := time.Now()
	if err := st.CreateUser(ctx, store.User{Username: "alice", Scopes: []string{"read", "write"}, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if logs := runBootstrap(t, st, b); !strings.Contains(logs, "differs from the config") || !strings.Contains(logs, "user=alice") {
		t.Errorf("no line about the differing user:\n%s", logs)
	}
	if u, _ := st.GetUser(ctx, "alice"); len(u.Scopes) != 2 {
		t.Errorf("bootstrap overwrote the stored user: %+v", u)
	}
}

// TestBootstrapCreatesOnceAcrossNodes: nodes starting together on one
// database create each bootstrap record once, and only the node that
// created it logs it.
func TestBootstrapCreatesOnceAcrossNodes(t *testing.T) {
	for _, be := range []struct {
		name string
		open func(t *testing.T) func() store.Store
	}{
		{"sqlite", func(t *testing.T) func() store.Store {
			path := t.TempDir() + "/tg.db"
			return func() store.Store {
				st, err := sqlite.Open(context.Background(), path)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { st.Close() })
				return st
			}
		}},
		{"postgres", func(t *testing.T) func() store.Store {
			dsn := pgTestSchema(t)
			return func() store.Store {
				st, err := postgres.Open(context.Background(), dsn, postgres.Options{})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { st.Close() })
				return st
			}
		}},
	} {
		t.Run(be.name, func(t *testing.T) {
			open := be.open(t)
			b := bootstrapSection(t)
			const nodes = 4
			stores := make([]store.Store, nodes)
			stores[0] = open() // migrates
			for i := 1; i < nodes; i++ {
				stores[i] = open()
			}
			logs := make([]string, nodes)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range nodes {
				wg.Go(func() {
					<-start
					logs[i] = runBootstrap(t, stores[i], b)
				})
			}
			close(start)
			wg.Wait()
			all := strings.Join(logs, "")
			for _, line := range []string{"created user", "created client", "imported API key"} {
				if n := strings.Count(all, line); n != 1 {
					t.Errorf("%q logged %d times across %d nodes, want once:\n%s", line, n, nodes, all)
				}
			}
			if keys, _ := stores[0].ListAPIKeys(context.Background()); len(keys) != 1 {
				t.Errorf("%d API keys imported, want 1", len(keys))
			}
		})
	}
}
