package config

import (
	"strings"
	"testing"
)

// TestValidateReportsEveryIndependentMistake: a config with independent
// mistakes (a top-level value, a route, two trusted issuers, a bootstrap
// client) gets all of them reported, each with file:line: key, not only the first.
func TestValidateReportsEveryIndependentMistake(t *testing.T) {
	const y = `addr: 127.0.0.1:8080
log:
  level: loud
routes:
  - path: /token
    method: PUT
    endpoint: token
bootstrap:
  clients:
    - id: web
      grants: [password]
trusted_issuers:
  - issuer: http://idp.example.com
    audiences: [api]
    auto_provision: true
  - issuer: https://idp2.example.com
    auto_provision: true
`
	cfg, err := Parse("tg.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	err = cfg.Validate()
	if err == nil {
		t.Fatal("three mistakes accepted")
	}
	want := []string{
		`tg.yaml:3: log.level: must be debug, info, warn or error, not "loud"`,
		`tg.yaml:6: routes[0].method: method must be GET or POST, not "PUT"`,
		`tg.yaml:13: trusted_issuers[0].issuer: "http://idp.example.com" must use https (plain http only on a loopback host)`,
		`tg.yaml:16: trusted_issuers[1].audiences: list at least one accepted audience (for Auth0: the API identifier)`,
		`tg.yaml:10: bootstrap.clients[0]: a confidential client needs secret or secret_hash`,
	}
	got := strings.Split(err.Error(), "\n")
	if len(got) != len(want) {
		t.Fatalf("got %d error(s), want %d:\n%v", len(got), len(want), err)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("error %d: %q, want %q", i, got[i], want[i])
		}
	}
}
