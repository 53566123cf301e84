package server_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/internal/contract"
	"github.com/tokengate/tokengate/internal/servertest"
)

// TestEveryCredentialEndpointIsRateLimited: each endpoint kind that takes
// a credential or a token says so, and the server limits it (the
// introspection endpoint was once left out because it took no options).
func TestEveryCredentialEndpointIsRateLimited(t *testing.T) {
	public := map[string]bool{"metadata": true, "jwks": true, "oidc_discovery": true}
	for name, k := range contract.Kinds() {
		if k.RateLimited == public[name] {
			t.Errorf("kind %s: RateLimited = %v", name, k.RateLimited)
		}
	}
	ts := servertest.Start(t, `
rate_limit: {per_second: 0.001, burst: 2}
bootstrap:
  clients:
    - {id: rs, secret: rs-secret, grants: [client_credentials], scopes: [read]}
`, servertest.Options{})
	codes := []int{}
	for range 3 {
		req, _ := http.NewRequest("POST", ts.URL+"/oauth/introspect", strings.NewReader("token=x"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("rs", "rs-secret")
		resp, err := ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		codes = append(codes, resp.StatusCode)
	}
	if codes[0] != 200 || codes[2] != http.StatusTooManyRequests {
		t.Fatalf("introspection statuses %v, want 200 first and 429 past the burst", codes)
	}
	for range 5 {
		resp, err := ts.Client().Get(ts.URL + "/.well-known/jwks.json")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("JWKS limited: %d", resp.StatusCode)
		}
	}
}
