package main

import (
	"net/url"
	"os"
	"path/filepath"
	"testing"
)

// rateLimitConfig allows one client IP two requests and then one every
// 100 seconds on the token endpoints.
const rateLimitConfig = `
password_hashing: {memory_kib: 1024, time: 1}
rate_limit: {per_second: 0.01, burst: 2}
bootstrap:
  clients:
    - {id: svc, secret: svc-secret, grants: [client_credentials]}
`

func TestDevModeExemptsLoopbackFromRateLimits(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "tokengate.yaml")
	if err := os.WriteFile(cfg, []byte(rateLimitConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	cc := url.Values{"grant_type": {"client_credentials"}}
	statuses := func(p *proc) []int {
		var out []int
		for range 4 {
			st, _ := post(t, p.base, "/oauth/token", cc, "svc", "svc-secret")
			out = append(out, st)
		}
		return out
	}
	// Configured, the limit holds for loopback like any address.
	p := startServer(t, "--config", cfg, "--db", filepath.Join(dir, "a.db"))
	if got := statuses(p); got[0] != 200 || got[1] != 200 || got[2] != 429 || got[3] != 429 {
		t.Fatalf("without --dev: %v, want [200 200 429 429]", got)
	}
	p.stop(t)
	// serve --dev lifts it for loopback: tests and tools on the machine.
	p = startServer(t, "--dev", "--config", cfg, "--db", filepath.Join(dir, "b.db"))
	if got := statuses(p); got[0] != 200 || got[1] != 200 || got[2] != 200 || got[3] != 200 {
		t.Fatalf("with --dev: %v, want four 200s", got)
	}
}
