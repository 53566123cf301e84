package bearer_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokengate/tokengate/internal/server"
	"github.com/tokengate/tokengate/internal/servertest"
)

// This file starts a real tokengate (the server's handler behind
// httptest) for the tests: its issuer is its own URL, so that discovery
// works, and it may run on a fake clock.

// clock is a settable clock shared by the server and the verifier.
type clock = servertest.Clock

func newClock() *clock { return servertest.NewClock(time.Now()) }

// tokengate is a running test server.
type tokengate struct {
	URL string
	srv *server.Server

	mu     sync.Mutex
	counts map[string]int // "METHOD /path" -> requests
}

func (tg *tokengate) count(key string) int {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return tg.counts[key]
}

const baseConfig = `
password_hashing: {memory_kib: 1024, time: 1}
brute_force: {disabled: true}
audience: api://orders
bootstrap:
  users:
    - {username: alice, password: alice-pw, scopes: [read, write]}
  clients:
    - {id: app, secret: app-secret, grants: [password, refresh_token, client_credentials], scopes: [read, write, admin], access_token_ttl: 2s, refresh_token_ttl: 30s}
    - {id: rs, secret: rs-secret, grants: [client_credentials], scopes: [introspect]}
`

// startTokengate serves yaml on a fresh SQLite database. now may be nil.
func startTokengate(t *testing.T, yaml string, now func() time.Time) *tokengate {
	t.Helper()
	tg := &tokengate{counts: map[string]int{}}
	s := servertest.Start(t, yaml, servertest.Options{Now: now, Observe: func(r *http.Request) {
		tg.mu.Lock()
		tg.counts[r.Method+" "+r.URL.Path]++
		tg.mu.Unlock()
	}})
	tg.URL, tg.srv = s.URL, s.Srv
	return tg
}

// post sends a form with Basic client authentication and decodes the
// JSON answer.
func (tg *tokengate) post(t *testing.T, path, id, secret string, form url.Values) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, tg.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return resp.StatusCode, out
}

// login returns alice's access and refresh tokens.
func (tg *tokengate) login(t *testing.T) (access, refresh string) {
	t.Helper()
	status, body := tg.post(t, "/oauth/token", "app", "app-secret", url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"alice-pw"}})
	if status != http.StatusOK {
		t.Fatalf("login: %d %v", status, body)
	}
	access, _ = body["access_token"].(string)
	refresh, _ = body["refresh_token"].(string)
	return access, refresh
}

// get calls h with token as a bearer token (none when empty).
func get(h http.Handler, authorization string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, "/orders", nil)
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// errorBody decodes a refusal's JSON body.
func errorBody(t *testing.T, rec *httptest.ResponseRecorder) map[string]string {
	t.Helper()
	var m map[string]string
	if err := json.NewDecoder(bytes.NewReader(rec.Body.Bytes())).Decode(&m); err != nil {
		t.Fatalf("body %q is not JSON: %v", rec.Body.String(), err)
	}
	return m
}
