// Package servertest starts a real tokengate for the tests of this
// module: the server's handler, built from a YAML config on a fresh
// SQLite file, behind an httptest server on loopback. Tests of the
// public libraries (client, bearer) and of the server itself share it.
package servertest

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/tokengate/tokengate/internal/config"
	"github.com/tokengate/tokengate/internal/devicepage"
	"github.com/tokengate/tokengate/internal/server"
	"github.com/tokengate/tokengate/internal/store/sqlite"
)

// Clock is a settable clock a server and its test share.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock reading t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now reads the clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Add moves the clock by d.
func (c *Clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// Options tune a test server.
type Options struct {
	// Now is the server's clock; nil means time.Now.
	Now func() time.Time
	// Issuer is the iss of its tokens; empty means the server's own URL,
	// so that discovery works.
	Issuer string
	// Adjust edits the parsed config before it is validated.
	Adjust func(*config.Config)
	// Observe, when set, sees every request before the server does.
	Observe func(r *http.Request)
	// Logger receives the server's logs; nil discards them.
	Logger *slog.Logger
	// DeviceSessions, when set, mounts the device verification page
	// with this login session.
	DeviceSessions devicepage.Sessions
}

// Server is a running test server.
type Server struct {
	*httptest.Server
	// Srv is the tokengate server behind it.
	Srv *server.Server
	// Store is its database.
	Store *sqlite.DB
	// Config is the validated config it runs.
	Config config.Config
}

// Start serves yaml; the server stops when the test ends.
func Start(t testing.TB, yaml string, o Options) *Server {
	t.Helper()
	cfg, err := config.Parse("test.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return StartConfig(t, cfg, o)
}

// StartConfig serves a parsed (not yet validated) config.
func StartConfig(t testing.TB, cfg config.Config, o Options) *Server {
	t.Helper()
	s, err := start(t, cfg, o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TryStartConfig is StartConfig for a config expected to be refused: it
// returns the error of validation or start (the server, if it starts,
// stops when the test ends).
func TryStartConfig(t testing.TB, cfg config.Config, o Options) error {
	t.Helper()
	_, err := start(t, cfg, o)
	return err
}

func start(t testing.TB, cfg config.Config, o Options) (*Server, error) {
	var h http.Handler
	hs := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if o.Observe != nil {
			o.Observe(r)
		}
		h.ServeHTTP(w, r)
	}))
	cfg.Addr = "127.0.0.1:0"
	cfg.Issuer = o.Issuer
	if cfg.Issuer == "" {
		cfg.Issuer = "http://" + hs.Listener.Addr().String()
	}
	if o.Adjust != nil {
		o.Adjust(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		hs.Listener.Close()
		return nil, err
	}
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir()+"/tg.db")
	if err != nil {
		hs.Listener.Close()
		return nil, err
	}
	t.Cleanup(func() { st.Close() })
	srv, err := server.New(ctx, server.Options{Config: cfg, Store: st, Now: o.Now, Logger: o.Logger, DeviceSessions: o.DeviceSessions})
	if err != nil {
		hs.Listener.Close()
		return nil, err
	}
	h = srv.Handler()
	hs.Start()
	t.Cleanup(hs.Close)
	return &Server{Server: hs, Srv: srv, Store: st, Config: cfg}, nil
}
