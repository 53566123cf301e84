package server_test

import (
	"context"
	"crypto/sha256"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/internal/config"
	"github.com/tokengate/tokengate/internal/server"
	"github.com/tokengate/tokengate/internal/store"
	"github.com/tokengate/tokengate/internal/store/postgres"
	"github.com/tokengate/tokengate/internal/store/sqlite"
)

// cacheNode is one tokengate node on a store, on a clock that never moves,
// so that no cache entry ever expires: only invalidation can make a
// change apply.
type cacheNode struct {
	h  http.Handler
	st store.Store
}

func startCacheNode(t *testing.T, st store.Store, yaml string) *cacheNode {
	t.Helper()
	cfg, err := config.Parse("test.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Issuer = "http://tokengate.test"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	frozen := time.Now()
	srv, err := server.New(context.Background(), server.Options{Config: cfg, Store: st, Now: func() time.Time { return frozen }})
	if err != nil {
		t.Fatal(err)
	}
	return &cacheNode{h: srv.Handler(), st: st}
}

// cc runs client_credentials as svc with secret and returns the status.
func (n *cacheNode) cc(sec string) int {
	req := httptest.NewRequest("POST", "/oauth/token", strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", form)
	req.SetBasicAuth("svc", url.QueryEscape(sec))
	w := httptest.NewRecorder()
	n.h.ServeHTTP(w, req)
	return w.Code
}

// within polls n until sec gets want, for at most 2 s, and returns how
// long that took.
func (n *cacheNode) within(t *testing.T, sec string, want int, what string) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < 2*time.Second {
		if n.cc(sec) == want {
			return time.Since(start)
		}
		time.Sleep(200 * time.Microsecond)
	}
	t.Fatalf("%s: still not %d after 2s (the cache was not invalidated)", what, want)
	return 0
}

func hashOf(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }

// TestClientCacheInvalidatedAcrossNodes: the client cache is on by
// default, yet a rotated secret or a deleted client stops working within
// milliseconds on another node of the same database (PostgreSQL: two
// stores on one schema, through LISTEN/NOTIFY; SQLite: two handles on one
// file, as two processes, through PRAGMA data_version), and at once on the
// node that made the change. The nodes' clocks never move, so no entry
// expires: without invalidation the old secret would work for the whole
// client_cache_ttl.
func TestClientCacheInvalidatedAcrossNodes(t *testing.T) {
	const yaml = "client_cache_ttl: 1m\n"
	for _, tc := range []struct {
		name string
		open func(t *testing.T) (store.Store, store.Store)
	}{
		{"sqlite", func(t *testing.T) (store.Store, store.Store) {
			path := t.TempDir() + "/tg.db"
			a, err := sqlite.Open(context.Background(), path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { a.Close() })
			b, err := sqlite.Open(context.Background(), path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { b.Close() })
			return a, b
		}},
		{"postgres", func(t *testing.T) (store.Store, store.Store) {
			dsn := pgTestSchema(t)
			a, err := postgres.Open(context.Background(), dsn, postgres.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { a.Close() })
			b, err := postgres.Open(context.Background(), dsn, postgres.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { b.Close() })
			return a, b
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sa, sb := tc.open(t)
			ctx := context.Background()
			if err := sa.CreateClient(ctx, store.Client{ID: "svc", SecretHash: hashOf("s1"), Grants: []string{"client_credentials"}, CreatedAt: time.Now()}); err != nil {
				t.Fatal(err)
			}
			a, b := startCacheNode(t, sa, yaml), startCacheNode(t, sb, yaml)
			// Both nodes cache svc (once their change feed listens).
			a.within(t, "s1", 200, "first login on a")
			b.within(t, "s1", 200, "first login on b")
			for _, n := range []*cacheNode{a, b} {
				for end := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
					if _, ok := n.st.ClientsVersion(ctx); ok {
						break
					}
					if time.Now().After(end) {
						t.Fatal("the change feed is not up")
					}
				}
				n.cc("s1") // cached now
			}

			// Rotate the secret on a.
			if err := sa.UpdateClient(ctx, store.Client{ID: "svc", SecretHash: hashOf("s2"), Grants: []string{"client_credentials"}}); err != nil {
				t.Fatal(err)
			}
			if got := a.cc("s1"); got != 401 {
				t.Fatalf("old secret on the node that rotated it: %d, want 401 at once", got)
			}
			t.Logf("old secret refused by the other node after %v", b.within(t, "s1", 401, "old secret on b"))
			if got := b.cc("s2"); got != 200 {
				t.Fatalf("new secret on b: %d", got)
			}

			// Delete it on b.
			if err := sb.DeleteClient(ctx, "svc"); err != nil {
				t.Fatal(err)
			}
			if got := b.cc("s2"); got != 401 {
				t.Fatalf("deleted client on the node that deleted it: %d, want 401 at once", got)
			}
			t.Logf("deleted client refused by the other node after %v", a.within(t, "s2", 401, "deleted client on a"))
		})
	}
}

// fixedVersion is a store whose change feed reports nothing: the
// version never moves (ok true), or it cannot tell (ok false).
type fixedVersion struct {
	*sqlite.DB
	ok bool
}

func (f fixedVersion) ClientsVersion(context.Context) (uint64, bool) { return 7, f.ok }

// TestClientCacheTTLIsTheUpperBound: should the change feed miss a change
// without a word, a cached client lives no longer than client_cache_ttl;
// while the store says it cannot tell (a lost feed), nothing is cached;
// with client_cache_ttl 0 nothing is cached either.
func TestClientCacheTTLIsTheUpperBound(t *testing.T) {
	for _, tc := range []struct {
		name          string
		ttl           string
		feedOK        bool
		within, after int
	}{
		{"silent feed: the TTL bounds it", "1s", true, 200, 401},
		{"feed down: no caching", "1s", false, 401, 401},
		{"client_cache_ttl 0: no caching", "0s", true, 401, 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := newFakeClock()
			db, err := sqlite.Open(context.Background(), t.TempDir()+"/tg.db")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			cfg, err := config.Parse("test.yaml", []byte("client_cache_ttl: "+tc.ttl+"\n"))
			if err != nil {
				t.Fatal(err)
			}
			cfg.Issuer = "http://tokengate.test"
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			srv, err := server.New(context.Background(), server.Options{Config: cfg, Store: fixedVersion{db, tc.feedOK}, Now: clk.Now})
			if err != nil {
				t.Fatal(err)
			}
			n := &cacheNode{h: srv.Handler(), st: db}
			if err := db.CreateClient(context.Background(), store.Client{ID: "svc", SecretHash: hashOf("s1"), Grants: []string{"client_credentials"}, CreatedAt: clk.Now()}); err != nil {
				t.Fatal(err)
			}
			if got := n.cc("s1"); got != 200 {
				t.Fatalf("first login: %d", got)
			}
			if err := db.DeleteClient(context.Background(), "svc"); err != nil {
				t.Fatal(err)
			}
			clk.Add(500 * time.Millisecond)
			if got := n.cc("s1"); got != tc.within {
				t.Fatalf("within the TTL: %d, want %d", got, tc.within)
			}
			clk.Add(time.Second)
			if got := n.cc("s1"); got != tc.after {
				t.Fatalf("after the TTL: %d, want %d", got, tc.after)
			}
		})
	}
}

// TestClientCacheOnByDefault: without client_cache_ttl in the config the
// cache is on, bounded by one minute.
func TestClientCacheOnByDefault(t *testing.T) {
	cfg, err := config.Parse("test.yaml", []byte("{}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ClientCacheTTL.D() != time.Minute {
		t.Fatalf("default client_cache_ttl %v, want 1m", cfg.ClientCacheTTL.D())
	}
}
