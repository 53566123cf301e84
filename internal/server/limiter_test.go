package server

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestClientIPBelievesOnlyTrustedProxies(t *testing.T) {
	trusting := newIPResolver([]string{"10.0.0.0/8", "192.0.2.10"})
	cases := []struct {
		name   string
		r      *ipResolver
		remote string
		xff    []string
		want   string
	}{
		{"no proxy configured", newIPResolver(nil), "198.51.100.1:5000", []string{"203.0.113.7"}, "198.51.100.1"},
		{"untrusted peer", trusting, "198.51.100.1:5000", []string{"203.0.113.7"}, "198.51.100.1"},
		{"trusted peer", trusting, "10.1.2.3:5000", []string{"203.0.113.7"}, "203.0.113.7"},
		{"trusted single address", trusting, "192.0.2.10:5000", []string{"203.0.113.7"}, "203.0.113.7"},
		{"spoofed prefix", trusting, "10.1.2.3:5000", []string{"1.1.1.1, 203.0.113.7"}, "203.0.113.7"},
		{"chain of trusted proxies", trusting, "10.1.2.3:5000", []string{"203.0.113.7, 10.9.9.9"}, "203.0.113.7"},
		{"two header lines", trusting, "10.1.2.3:5000", []string{"1.1.1.1", "203.0.113.7"}, "203.0.113.7"},
		{"garbage from the proxy", trusting, "10.1.2.3:5000", []string{"not-an-ip"}, "10.1.2.3"},
		{"no header", trusting, "10.1.2.3:5000", nil, "10.1.2.3"},
		{"only trusted hops", trusting, "10.1.2.3:5000", []string{"10.4.4.4"}, "10.1.2.3"},
		{"IPv4-mapped IPv6 peer", trusting, "[::ffff:10.1.2.3]:5000", []string{"203.0.113.7"}, "203.0.113.7"},
		{"IPv6 client", trusting, "10.1.2.3:5000", []string{"2001:db8::1"}, "2001:db8::1"},
		{"client with a port", trusting, "10.1.2.3:5000", []string{"203.0.113.7:4711"}, "203.0.113.7"},
		{"IPv6 client with a port", trusting, "10.1.2.3:5000", []string{"[2001:db8::1]:4711"}, "2001:db8::1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/oauth/token", nil)
			r.RemoteAddr = tc.remote
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := tc.r.clientIP(r); got != tc.want {
				t.Fatalf("clientIP = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestLimiterAnswers429PerIP(t *testing.T) {
	l := newLimiter(0.001, 2, 100, false)
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	h := rateLimited(l, newIPResolver([]string{"10.0.0.1"}), ok)
	send := func(xff string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("POST", "/oauth/token", nil)
		r.RemoteAddr = "10.0.0.1:4000"
		r.Header.Set("X-Forwarded-For", xff)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	for i, want := range []int{200, 200, 429, 429} {
		if w := send("203.0.113.7"); w.Code != want {
			t.Fatalf("request %d: %d, want %d", i, w.Code, want)
		} else if want == 429 && (w.Header().Get("Retry-After") == "" || !strings.Contains(w.Body.String(), `"slow_down"`)) {
			t.Fatalf("429 without Retry-After or slow_down: %v %s", w.Header(), w.Body)
		}
	}
	// Another client behind the same proxy has its own bucket.
	if w := send("203.0.113.8"); w.Code != 200 {
		t.Fatalf("another client: %d", w.Code)
	}
}

func TestLimiterExemptsLoopbackOnlyWhenAsked(t *testing.T) {
	for _, exempt := range []bool{true, false} {
		l := newLimiter(0.001, 1, 100, exempt)
		for _, ip := range []string{"127.0.0.1", "::1", "::ffff:127.0.0.1", "127.9.9.9"} {
			allowed := 0
			for range 5 {
				if l.allow(ip) {
					allowed++
				}
			}
			if want := map[bool]int{true: 5, false: 1}[exempt]; allowed != want {
				t.Errorf("exempt=%v %s: %d of 5 allowed, want %d", exempt, ip, allowed, want)
			}
		}
		if l.allow("192.0.2.1") != true || l.allow("192.0.2.1") != false {
			t.Errorf("exempt=%v: a non-loopback address is not limited", exempt)
		}
	}
}

func TestLimiterTableStaysBoundedUnderAFloodOfAddresses(t *testing.T) {
	const max = 1000
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newLimiter(1, 1, max, false)
	l.now = func() time.Time { return now }
	allowed := 0
	for i := range 50 * max {
		if l.allow(fmt.Sprintf("198.%d.%d.%d", i>>16&255, i>>8&255, i&255)) {
			allowed++
		}
	}
	if len(l.ips) != max {
		t.Fatalf("table holds %d addresses, want the bound %d", len(l.ips), max)
	}
	// Past the bound new addresses share one bucket: the flood gets the
	// table's worth of first requests plus one burst, not one per address.
	if allowed != max+1 {
		t.Fatalf("%d requests of the flood allowed, want %d", allowed, max+1)
	}
	// A full table is swept at most once per sweepEvery, not once per
	// request: 49,000 new addresses in the same instant cost one walk.
	if l.sweeps != 1 {
		t.Fatalf("%d sweeps of the full table in one instant, want 1", l.sweeps)
	}
	// Once the entries have been idle long enough, the next new address
	// sweeps them out and gets its own bucket again.
	now = now.Add(idleAfter + sweepEvery)
	if !l.allow("203.0.113.1") || len(l.ips) != 1 || l.sweeps != 2 {
		t.Fatalf("after idling: %d entries, %d sweeps", len(l.ips), l.sweeps)
	}
}
