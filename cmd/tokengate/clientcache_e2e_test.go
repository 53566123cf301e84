package main

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestCLIChangesReachTheRunningServersClientCache: the server caches
// clients by default, yet a secret rotated and a client deleted by the
// CLI (another process, on the same SQLite file) stop working within
// milliseconds, through PRAGMA data_version.
func TestCLIChangesReachTheRunningServersClientCache(t *testing.T) {
	srv := startE2E(t)
	p, db := srv.proc, srv.db
	cc := url.Values{"grant_type": {"client_credentials"}}
	// within polls until the secret gets want, for at most 2 s.
	within := func(sec string, want int, what string) time.Duration {
		t.Helper()
		start := time.Now()
		for time.Since(start) < 2*time.Second {
			if st, _ := post(t, p.base, "/oauth/token", cc, "app", sec); st == want {
				return time.Since(start)
			}
			time.Sleep(time.Millisecond)
		}
		t.Fatalf("%s: not %d after 2s (client_cache_ttl is 1m: the cache was not invalidated)", what, want)
		return 0
	}
	if st, b := post(t, p.base, "/oauth/token", cc, "app", "app-secret"); st != 200 {
		t.Fatalf("client_credentials: %d %v", st, b)
	}

	out, e, code := cli(t, "", "client", "rotate-secret", "app", "--db", db)
	if code != 0 {
		t.Fatalf("rotate-secret: %d %s", code, e)
	}
	var sec string
	for _, line := range strings.Split(out, "\n") {
		if s, ok := strings.CutPrefix(line, "client_secret: "); ok {
			sec = s
		}
	}
	if sec == "" {
		t.Fatalf("no secret in %q", out)
	}
	t.Logf("old secret refused %v after the CLI returned", within("app-secret", 401, "old secret"))
	if st, _ := post(t, p.base, "/oauth/token", cc, "app", sec); st != 200 {
		t.Fatalf("new secret: %d", st)
	}

	if _, e, code := cli(t, "", "client", "delete", "app", "--db", db); code != 0 {
		t.Fatalf("client delete: %d %s", code, e)
	}
	t.Logf("deleted client refused %v after the CLI returned", within(sec, 401, "deleted client"))
}
