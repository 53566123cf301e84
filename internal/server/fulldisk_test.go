package server_test

import (
	"context"
	"log/slog"
	"net/url"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/internal/oauth"
	"github.com/tokengate/tokengate/internal/server"
	"github.com/tokengate/tokengate/internal/servertest"
)

const fullDiskConfig = `
password_hashing: {memory_kib: 1024, time: 1}
brute_force: {disabled: true}
bootstrap:
  users:
    - {username: alice, password: alice-pw, scopes: [read]}
  clients:
    - {id: app, secret: app-secret, grants: [password, refresh_token], scopes: [read]}
`

// TestFullDiskIsNotReadyAndReportedAsStorageUnavailable simulates a full
// disk with SQLite's max_page_count (the database may not grow): /readyz
// says not ready (its write probe fails; the result is cached for a
// second), token requests that must write answer 503
// temporarily_unavailable saying storage is unavailable (never 500, never
// "busy"), and the condition is logged once per interval, not per request.
func TestFullDiskIsNotReadyAndReportedAsStorageUnavailable(t *testing.T) {
	clk := newFakeClock()
	logs := newSyncBuffer()
	s := servertest.Start(t, fullDiskConfig, servertest.Options{Issuer: testIssuer, Now: clk.Now, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	ts := &testServer{Server: s.Server, srv: s.Srv}
	ctx := context.Background()
	if _, err := s.Store.SetMaxPageCount(ctx, 1); err != nil { // capped at its current size
		t.Fatal(err)
	}
	if a := ts.do(t, "GET", "/readyz", "", "", nil); a.status != 503 {
		t.Fatalf("readyz with a full disk: %d %s, want 503", a.status, a.raw)
	}
	login := func() answer {
		return ts.do(t, "POST", "/oauth/token", form, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"alice-pw"}}.Encode(), basic("app", "app-secret"))
	}
	// Logins fill the pages that had room; then the store is full.
	var full answer
	for i := 0; i < 500 && full.status == 0; i++ {
		switch a := login(); a.status {
		case 200:
		case 503:
			full = a
		default:
			t.Fatalf("login %d: %d %s\n%s", i, a.status, a.raw, logs.String())
		}
	}
	if full.status != 503 || full.str("error") != "temporarily_unavailable" || !strings.Contains(full.str("error_description"), "storage is unavailable") || full.header.Get("Retry-After") == "" {
		t.Fatalf("full disk answer: %d %s %v, want 503 temporarily_unavailable saying storage is unavailable", full.status, full.raw, full.header)
	}
	for range 20 {
		if a := login(); a.status != 503 {
			t.Fatalf("login on a full disk: %d %s", a.status, a.raw)
		}
	}
	if n := strings.Count(logs.String(), "storage is full"); n != 1 {
		t.Errorf("storage full logged %d times for 21 failing requests in one interval, want 1:\n%s", n, logs.String())
	}
	clk.Add(oauth.StorageLogInterval)
	login()
	if n := strings.Count(logs.String(), "storage is full"); n != 2 {
		t.Errorf("storage full logged %d times after the interval, want 2", n)
	}

	// Room again: readiness follows once its cached result is stale.
	if a := ts.do(t, "GET", "/readyz", "", "", nil); a.status != 503 {
		t.Fatalf("readyz with a full disk: %d %s, want 503", a.status, a.raw)
	}
	if _, err := s.Store.SetMaxPageCount(ctx, 1<<30); err != nil {
		t.Fatal(err)
	}
	if a := ts.do(t, "GET", "/readyz", "", "", nil); a.status != 503 {
		t.Fatalf("readyz within the cache interval: %d, want the cached 503", a.status)
	}
	clk.Add(server.ReadyProbeInterval)
	if a := ts.do(t, "GET", "/readyz", "", "", nil); a.status != 200 {
		t.Fatalf("readyz after room was made: %d %s", a.status, a.raw)
	}
	if a := login(); a.status != 200 {
		t.Fatalf("login after room was made: %d %s", a.status, a.raw)
	}
}
