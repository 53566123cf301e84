package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tokengate/tokengate/internal/config"
	"github.com/tokengate/tokengate/internal/server"
	"github.com/tokengate/tokengate/internal/store/postgres"
)

// countingTracer counts the statements and batches the store sends: each
// is one round trip to PostgreSQL.
type countingTracer struct{ n atomic.Int64 }

func (c *countingTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.n.Add(1)
	return ctx
}
func (c *countingTracer) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (c *countingTracer) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	c.n.Add(1)
	return ctx
}
func (c *countingTracer) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (c *countingTracer) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     {}

// TestPostgresRoundTripsPerRequest pins the PostgreSQL round trips of the
// hot paths, so that they do not creep back: client_credentials costs
// none (the client comes from the invalidated cache, the token is
// signed in process) and one without the cache; introspecting an access
// token costs one (its signing key's revocation, the denylist, family,
// subject and client in one statement) plus the calling client, none when
// cached.
func TestPostgresRoundTripsPerRequest(t *testing.T) {
	dsn := pgTestSchema(t)
	for _, tc := range []struct {
		name           string
		yaml           string
		cc, introspect int64
	}{
		{"client cache on (default)", "", 0, 1},
		{"client_cache_ttl 0s", "client_cache_ttl: 0s\n", 1, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := &countingTracer{}
			st, err := postgres.Open(context.Background(), dsn, postgres.Options{Tracer: tr})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			cfg, err := config.Parse("test.yaml", []byte(tc.yaml+`
bootstrap:
  clients: [{id: svc, secret: svc-secret, grants: [client_credentials]}]
`))
			if err != nil {
				t.Fatal(err)
			}
			cfg.Issuer = "http://tokengate.test"
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			// No key reload during the count (it is a query of its own).
			srv, err := server.New(context.Background(), server.Options{Config: cfg, Store: st, KeyReload: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			h := srv.Handler()
			do := func(path, body string) *httptest.ResponseRecorder {
				req := httptest.NewRequest("POST", path, strings.NewReader(body))
				req.Header.Set("Content-Type", form)
				req.SetBasicAuth("svc", "svc-secret")
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					t.Fatalf("%s: %d %s", path, w.Code, w.Body)
				}
				return w
			}
			// Warm up: the change feed listens, the client is cached.
			for end := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
				if _, ok := st.ClientsVersion(context.Background()); ok || time.Now().After(end) {
					break
				}
			}
			w := do("/oauth/token", "grant_type=client_credentials")
			var tok struct {
				AccessToken string `json:"access_token"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &tok); err != nil {
				t.Fatal(err)
			}
			const n = 10
			count := func(path, body string) float64 {
				before := tr.n.Load()
				for range n {
					do(path, body)
				}
				return float64(tr.n.Load()-before) / n
			}
			if got := count("/oauth/token", "grant_type=client_credentials"); got != float64(tc.cc) {
				t.Errorf("client_credentials: %.1f round trips per request, want %d", got, tc.cc)
			}
			body := "token=" + url.QueryEscape(tok.AccessToken)
			if !strings.Contains(do("/oauth/introspect", body).Body.String(), `"active":true`) {
				t.Fatal("the token is not active")
			}
			if got := count("/oauth/introspect", body); got != float64(tc.introspect) {
				t.Errorf("introspection: %.1f round trips per request, want %d", got, tc.introspect)
			}
		})
	}
}
