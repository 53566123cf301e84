package server_test

import (
	"context"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"tokengate/internal/config"
	"tokengate/internal/server"
	"tokengate/internal/store/sqlite"
)

// fakeClock is a settable clock shared by a server and its test.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Now().Truncate(time.Second)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// clockedServer is a test server on a fake clock, with its store at hand.
type clockedServer struct {
	*testServer
	store *sqlite.DB
	clock *fakeClock
}

// newClockedServer serves yaml on a fresh SQLite file with the clock clk.
func newClockedServer(t *testing.T, yaml string, clk *fakeClock) *clockedServer {
	t.Helper()
	cfg, err := config.Parse("test.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Addr = "127.0.0.1:0"
	cfg.Issuer = "http://tokengate.test"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir()+"/tg.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	srv, err := server.New(ctx, server.Options{Config: cfg, Store: st, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	return &clockedServer{testServer: &testServer{Server: hs, srv: srv}, store: st, clock: clk}
}
