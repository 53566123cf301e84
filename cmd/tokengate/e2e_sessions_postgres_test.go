package main

import (
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// threeNodeGuardConfig is multiNodeConfig with a brute-force threshold of
// 10 and a hashing queue that holds every guess, so that no guess is
// refused for want of a hashing slot.
const threeNodeGuardConfig = `issuer: http://tokengate.test
password_hashing: {memory_kib: 1024, time: 1, queue: 256}
brute_force: {threshold: 10, window: 15m, base_backoff: 1m, max_backoff: 1h}
bootstrap:
  users:
    - {username: alice, password: alice-pw, scopes: [read]}
    - {username: carol, password: carol-pw}
  clients:
    - {id: app, secret: app-secret, grants: [password, refresh_token], scopes: [read]}
`

// TestBruteForceThresholdHoldsAcrossNodes sends 100 wrong passwords for one
// user at once, spread over three tokengate processes sharing one
// PostgreSQL database: at most 10 are ever checked (400), whatever the
// concurrency; the rest are refused unhashed (429).
func TestBruteForceThresholdHoldsAcrossNodes(t *testing.T) {
	db := pgDatabase(t)
	cfg := filepath.Join(t.TempDir(), "tokengate.yaml")
	if err := os.WriteFile(cfg, []byte(threeNodeGuardConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	nodes := startNodes(t, 3, "--config", cfg, "--db", db)
	const n = 100
	statuses := make([]int, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			st, _, err := tryPost(nodes[i%3].base, "/oauth/token", url.Values{"grant_type": {"password"}, "username": {"carol"}, "password": {"wrong"}}, "app", "app-secret")
			if err != nil {
				t.Error(err)
			}
			statuses[i] = st
		})
	}
	close(start)
	wg.Wait()
	count := map[int]int{}
	for _, st := range statuses {
		count[st]++
	}
	if count[400] != 10 || count[429] != n-10 {
		t.Fatalf("statuses %v: want exactly 10 checked (400) and %d refused (429)", count, n-10)
	}
}

// TestSessionsEndOnEveryNodeAtOnce revokes a refresh token on one node and
// disables a user with the CLI: the access tokens concerned are inactive
// at introspection on every node at once.
func TestSessionsEndOnEveryNodeAtOnce(t *testing.T) {
	db := pgDatabase(t)
	cfg := filepath.Join(t.TempDir(), "tokengate.yaml")
	if err := os.WriteFile(cfg, []byte(threeNodeGuardConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	nodes := startNodes(t, 3, "--config", cfg, "--db", db)
	activeEverywhere := func(tok string) []bool {
		var out []bool
		for _, p := range nodes {
			st, b := post(t, p.base, "/oauth/introspect", url.Values{"token": {tok}}, "app", "app-secret")
			if st != 200 {
				t.Fatalf("introspect on %s: %d %v", p.base, st, b)
			}
			out = append(out, b["active"] == true)
		}
		return out
	}
	want := func(tok string, active bool, what string) {
		t.Helper()
		for i, got := range activeEverywhere(tok) {
			if got != active {
				t.Fatalf("%s: node %d says active=%v", what, i, got)
			}
		}
	}

	first := login(t, nodes[0].base, "alice", "alice-pw")
	second := login(t, nodes[1].base, "alice", "alice-pw")
	want(first["access_token"].(string), true, "before revocation")
	if st, b := post(t, nodes[0].base, "/oauth/revoke", url.Values{"token": {first["refresh_token"].(string)}}, "app", "app-secret"); st != 200 {
		t.Fatalf("revoke: %d %v", st, b)
	}
	want(first["access_token"].(string), false, "access token of a revoked refresh token")
	want(second["access_token"].(string), true, "access token of another session")

	if _, e, code := cli(t, "", "user", "disable", "alice", "--db", db, "--config", cfg); code != 0 {
		t.Fatalf("user disable: %s", e)
	}
	want(second["access_token"].(string), false, "access token of a disabled user")
	want(second["refresh_token"].(string), false, "refresh token of a disabled user")
}
