package server_test

import (
	"fmt"
	"net/url"
	"strconv"
	"testing"
	"time"
)

// Brute-force protection over HTTP. The lock-out itself, and that its
// answer is the same for a user that does not exist, is
// TestBruteForceLockout in server_test.go.

const bruteForceConfig = `
password_hashing: {memory_kib: 1024, time: 1}
brute_force: {threshold: 3, window: 10m, base_backoff: 1m, max_backoff: 8m}
bootstrap:
  users:
    - {username: carol, password: carol-pw}
  clients:
    - {id: app, secret: app-secret, grants: [password, client_credentials], scopes: [read]}
`

func (ts *testServer) login(t *testing.T, user, pw string, hdr map[string]string) answer {
	t.Helper()
	h := basic("app", "app-secret")
	for k, v := range hdr {
		h[k] = v
	}
	return ts.token(t, url.Values{"grant_type": {"password"}, "username": {user}, "password": {pw}}, h)
}

func retryAfter(t *testing.T, a answer) int {
	t.Helper()
	n, err := strconv.Atoi(a.header.Get("Retry-After"))
	if err != nil {
		t.Fatalf("Retry-After %q: %v", a.header.Get("Retry-After"), err)
	}
	return n
}

func TestBruteForceBackoffDoublesPastTheWindow(t *testing.T) {
	clk := newFakeClock()
	ts := newClockedServer(t, bruteForceConfig, clk)
	for i := range 3 {
		if a := ts.login(t, "carol", "wrong", nil); a.status != 400 {
			t.Fatalf("failure %d: %d %s", i, a.status, a.raw)
		}
	}
	// Locked out: even the right password is refused, without a hash.
	a := ts.login(t, "carol", "carol-pw", nil)
	if a.status != 429 || a.str("error") != "invalid_request" || retryAfter(t, a) != 60 {
		t.Fatalf("after 3 failures: %d Retry-After %q %s", a.status, a.header.Get("Retry-After"), a.raw)
	}
	// Each failure after a lock-out doubles the next one, up to
	// max_backoff — also once the 10-minute window has long passed
	// (1+2+4+8 = 15 minutes here).
	wait := 60
	for _, want := range []int{120, 240, 480, 480} {
		clk.Add(time.Duration(wait) * time.Second)
		if a := ts.login(t, "carol", "wrong", nil); a.status != 400 {
			t.Fatalf("after %ds: %d %s", wait, a.status, a.raw)
		}
		a := ts.login(t, "carol", "carol-pw", nil)
		if a.status != 429 || retryAfter(t, a) != want {
			t.Fatalf("back-off after waiting %ds: %d Retry-After %q, want 429 and %d", wait, a.status, a.header.Get("Retry-After"), want)
		}
		wait = want
	}
	// Waiting out the lock-out lets the right password in.
	clk.Add(time.Duration(wait) * time.Second)
	if a := ts.login(t, "carol", "carol-pw", nil); a.status != 200 {
		t.Fatalf("after the back-off: %d %s", a.status, a.raw)
	}
}

func TestBruteForceSuccessResetsTheUserCount(t *testing.T) {
	ts := newClockedServer(t, bruteForceConfig, newFakeClock())
	for _, step := range []struct {
		pw     string
		status int
	}{
		{"wrong", 400}, {"wrong", 400}, {"carol-pw", 200},
		// Without the reset these would be failures 3 and 4: a lock-out.
		{"wrong", 400}, {"wrong", 400}, {"carol-pw", 200},
	} {
		if a := ts.login(t, "carol", step.pw, nil); a.status != step.status {
			t.Fatalf("password %q: %d %s, want %d", step.pw, a.status, a.raw, step.status)
		}
	}
}

// perIPConfig locks out one client IP after 3 failures, whoever the
// users, while a single user could fail 100 times.
const perIPConfig = `
password_hashing: {memory_kib: 1024, time: 1}
brute_force: {threshold: 100, ip_threshold: 3}
rate_limit: {trusted_proxies: [%s]}
bootstrap:
  users:
    - {username: carol, password: carol-pw}
  clients:
    - {id: app, secret: app-secret, grants: [password], scopes: [read]}
`

func xff(v string) map[string]string { return map[string]string{"X-Forwarded-For": v} }

func TestBruteForcePerIPBehindATrustedProxy(t *testing.T) {
	// The test client connects from 127.0.0.1, the trusted proxy.
	ts := newClockedServer(t, fmt.Sprintf(perIPConfig, "127.0.0.1/32"), newFakeClock())
	for _, user := range []string{"u1", "u2", "carol"} {
		if a := ts.login(t, user, "wrong", xff("203.0.113.7")); a.status != 400 {
			t.Fatalf("%s: %d %s", user, a.status, a.raw)
		}
	}
	for _, tc := range []struct {
		name   string
		hdr    map[string]string
		status int
	}{
		{"the failing client", xff("203.0.113.7"), 429},
		// A client cannot escape by prepending addresses: the proxy
		// appends the real one, and that is the one believed.
		{"the failing client, spoofed prefix", xff("198.51.100.1, 203.0.113.7"), 429},
		{"another client", xff("203.0.113.8"), 200},
		{"the proxy itself", nil, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if a := ts.login(t, "carol", "carol-pw", tc.hdr); a.status != tc.status {
				t.Fatalf("%d %s, want %d", a.status, a.raw, tc.status)
			}
		})
	}
}

func TestBruteForceIgnoresForwardedForWithoutATrustedProxy(t *testing.T) {
	// Only 10.0.0.1 is trusted; the test client (127.0.0.1) is not, so
	// its X-Forwarded-For is ignored and every failure counts against it.
	ts := newClockedServer(t, fmt.Sprintf(perIPConfig, "10.0.0.1"), newFakeClock())
	for i, ip := range []string{"203.0.113.1", "203.0.113.2", "203.0.113.3"} {
		if a := ts.login(t, "u"+strconv.Itoa(i), "wrong", xff(ip)); a.status != 400 {
			t.Fatalf("%s: %d %s", ip, a.status, a.raw)
		}
	}
	if a := ts.login(t, "carol", "carol-pw", xff("203.0.113.4")); a.status != 429 {
		t.Fatalf("a fresh X-Forwarded-For escaped the per-IP lock-out: %d %s", a.status, a.raw)
	}
}
