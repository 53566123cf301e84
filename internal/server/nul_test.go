package server_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tokengate/tokengate/internal/config"
	"github.com/tokengate/tokengate/internal/server"
	"github.com/tokengate/tokengate/internal/store"
	"github.com/tokengate/tokengate/internal/store/postgres"
	"github.com/tokengate/tokengate/internal/store/sqlite"
)

// pgTestSchema returns a DSN on a fresh schema of the test PostgreSQL
// (TOKENGATE_TEST_POSTGRES), dropped when the test ends. Without one the
// test skips and says why, unless TOKENGATE_REQUIRE_POSTGRES=1 (make test).
func pgTestSchema(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv("TOKENGATE_TEST_POSTGRES")
	if dsn == "" {
		if os.Getenv("TOKENGATE_REQUIRE_POSTGRES") == "1" {
			t.Fatal("TOKENGATE_REQUIRE_POSTGRES=1 but TOKENGATE_TEST_POSTGRES is not set")
		}
		t.Skip("PostgreSQL tests skipped: TOKENGATE_TEST_POSTGRES is not set (make test starts a throwaway PostgreSQL and runs them)")
	}
	b := make([]byte, 6)
	rand.Read(b)
	schema := "tg_srv_" + hex.EncodeToString(b)
	exec := func(stmt string) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatalf("connecting to the test server: %v", err)
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	exec(`CREATE SCHEMA ` + schema)
	t.Cleanup(func() { exec(`DROP SCHEMA ` + schema + ` CASCADE`) })
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// backends opens a fresh store of each kind.
var backends = []struct {
	name string
	open func(t *testing.T) store.Store
}{
	{"sqlite", func(t *testing.T) store.Store {
		st, err := sqlite.Open(context.Background(), t.TempDir()+"/tg.db")
		if err != nil {
			t.Fatal(err)
		}
		return st
	}},
	{"postgres", func(t *testing.T) store.Store {
		st, err := postgres.Open(context.Background(), pgTestSchema(t), postgres.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}},
}

const nulConfig = `
issuer: http://tokengate.test
password_hashing: {memory_kib: 1024, time: 1}
routes:
  - {path: /oauth/token, endpoint: token}
  - {path: /oauth/introspect, endpoint: introspect}
  - {path: /oauth/revoke, endpoint: revoke}
  - {path: /auth/access-token, method: POST, endpoint: fastapi.login, default_client: pub}
  - {path: /auth/refresh-token, endpoint: fastapi.refresh, default_client: pub, refresh_client_auth: none}
  - {path: /api/login, endpoint: datarhei.login, default_client: pub}
bootstrap:
  users:
    - {username: alice, password: alice-pw}
  clients:
    - {id: app, secret: app-secret, grants: [password, refresh_token, client_credentials]}
    - {id: pub, public: true, grants: [password, refresh_token]}
`

// errorLogs counts records at level error (a 5xx cause).
type errorLogs struct{ n chan string }

func (l *errorLogs) Enabled(_ context.Context, lv slog.Level) bool { return lv >= slog.LevelError }
func (l *errorLogs) Handle(_ context.Context, r slog.Record) error {
	select {
	case l.n <- r.Message:
	default:
	}
	return nil
}
func (l *errorLogs) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *errorLogs) WithGroup(string) slog.Handler      { return l }

// TestInvalidInputNeverReachesTheStore: NUL bytes, other control
// characters in identifiers and invalid UTF-8 are refused as invalid
// input in every dialect, with the same answer on SQLite and PostgreSQL
// (where a NUL in a text parameter is a database error), and nothing is
// logged as an error.
func TestInvalidInputNeverReachesTheStore(t *testing.T) {
	type req struct {
		name, method, path, ct, body string
		hdr                          map[string]string
		status                       int
		code                         string // OAuth error code, or a substring of the body
	}
	app := basic("app", "app-secret")
	reqs := []req{
		{"password grant, NUL in username", "POST", "/oauth/token", form, "grant_type=password&username=alice%00x&password=alice-pw", app, 400, "invalid_request"},
		{"password grant, control char in username", "POST", "/oauth/token", form, "grant_type=password&username=al%01ice&password=alice-pw", app, 400, "invalid_request"},
		{"password grant, NUL in password", "POST", "/oauth/token", form, "grant_type=password&username=alice&password=a%00b", app, 400, "invalid_request"},
		{"NUL in client_id (body)", "POST", "/oauth/token", form, "grant_type=client_credentials&client_id=A%00&client_secret=x", nil, 400, "invalid_request"},
		{"NUL in client_id (JSON)", "POST", "/oauth/token", "application/json", `{"grant_type":"client_credentials","client_id":"A\u0000","client_secret":"x"}`, nil, 400, "invalid_request"},
		{"NUL in client_id (Basic)", "POST", "/oauth/token", form, "grant_type=client_credentials", map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("A%00:x"))}, 400, "invalid_request"},
		{"tab in client_id", "POST", "/oauth/token", form, "grant_type=client_credentials&client_id=a%09pp&client_secret=x", nil, 400, "invalid_request"},
		{"invalid UTF-8 in username", "POST", "/oauth/token", form, "grant_type=password&username=%ff&password=x", app, 400, "invalid_request"},
		{"NUL in scope", "POST", "/oauth/token", form, "grant_type=client_credentials&scope=a%00", app, 400, "invalid_request"},
		{"NUL in refresh token", "POST", "/oauth/token", form, "grant_type=refresh_token&refresh_token=tgr_%00", app, 400, "invalid_request"},
		{"introspection, NUL in client_id", "POST", "/oauth/introspect", form, "token=x&client_id=A%00", nil, 400, "invalid_request"},
		{"revocation, NUL in token", "POST", "/oauth/revoke", form, "token=x%00", app, 400, "invalid_request"},
		{"fastapi login, NUL in username", "POST", "/auth/access-token", form, "username=alice%00x&password=alice-pw", nil, 422, "detail"},
		// A refresh token reaches a store only as its hash: an invalid one
		// is unknown, as the dialect answers for a token never issued.
		{"fastapi refresh, NUL in token", "POST", "/auth/refresh-token", "application/json", `{"refresh_token":"tgr_\u0000"}`, nil, 404, "does not exist"},
		{"datarhei login, NUL in username", "POST", "/api/login", "application/json", `{"username":"alice\u0000x","password":"alice-pw"}`, nil, 400, "message"},
	}
	results := map[string][]string{}
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			st := be.open(t)
			t.Cleanup(func() { st.Close() })
			cfg, err := config.Parse("test.yaml", []byte(nulConfig))
			if err != nil {
				t.Fatal(err)
			}
			cfg.Addr = "127.0.0.1:0"
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			logs := &errorLogs{n: make(chan string, 1)}
			srv, err := server.New(context.Background(), server.Options{Config: cfg, Store: st, Logger: slog.New(logs)})
			if err != nil {
				t.Fatal(err)
			}
			hs := httptest.NewServer(srv.Handler())
			t.Cleanup(hs.Close)
			ts := &testServer{Server: hs, srv: srv}
			for _, r := range reqs {
				a := ts.do(t, r.method, r.path, r.ct, r.body, r.hdr)
				got := a.str("error")
				if r.code != "invalid_request" {
					got = r.code
					if !strings.Contains(a.raw, r.code) {
						got = a.raw
					}
				}
				if a.status != r.status || got != r.code {
					t.Errorf("%s: %d %s, want %d %s", r.name, a.status, a.raw, r.status, r.code)
				}
				results[r.name] = append(results[r.name], a.raw)
			}
			// The store still works: the refusals left nothing behind.
			if a := ts.do(t, "POST", "/oauth/token", form, "grant_type=password&username=alice&password=alice-pw", app); a.status != 200 {
				t.Errorf("login after the bad input: %d %s", a.status, a.raw)
			}
			select {
			case m := <-logs.n:
				t.Errorf("an error was logged: %s", m)
			default:
			}
		})
	}
	for name, bodies := range results {
		if len(bodies) == 2 && bodies[0] != bodies[1] {
			t.Errorf("%s: SQLite answered %s, PostgreSQL %s", name, bodies[0], bodies[1])
		}
	}
}
