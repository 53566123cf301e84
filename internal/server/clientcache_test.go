package server_test

import (
	"context"
	"net/url"
	"testing"
	"time"
)

// TestClientCacheTTL: with client_cache_ttl a deleted client still
// authenticates until its cached record expires, and not after; without
// it (the default) the deletion applies to the next request.
func TestClientCacheTTL(t *testing.T) {
	const cfg = `
bootstrap:
  clients: [{id: svc, secret: svc-secret, grants: [client_credentials]}]
`
	cc := url.Values{"grant_type": {"client_credentials"}}
	for _, tc := range []struct {
		name          string
		yaml          string
		within, after int
	}{
		{"default: no cache", cfg, 401, 401},
		{"cached for 1s", "client_cache_ttl: 1s\n" + cfg, 200, 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := newFakeClock()
			ts := newClockedServer(t, tc.yaml, clk)
			if a := ts.token(t, cc, basic("svc", "svc-secret")); a.status != 200 {
				t.Fatalf("first login: %d %s", a.status, a.raw)
			}
			if err := ts.store.DeleteClient(context.Background(), "svc"); err != nil {
				t.Fatal(err)
			}
			clk.Add(500 * time.Millisecond)
			if a := ts.token(t, cc, basic("svc", "svc-secret")); a.status != tc.within {
				t.Fatalf("within the TTL: %d, want %d", a.status, tc.within)
			}
			clk.Add(time.Second)
			if a := ts.token(t, cc, basic("svc", "svc-secret")); a.status != tc.after {
				t.Fatalf("after the TTL: %d, want %d", a.status, tc.after)
			}
		})
	}
}
