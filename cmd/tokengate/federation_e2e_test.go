package main

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tokengate/tokengate/internal/federation/fedtest"
)

// TestExternalSubjectCannotLogInAsALocalUser runs issue 11's account
// takeover against the real binary: a local password user admin made
// with the CLI, a trusted issuer with auto_provision, and an external
// token whose sub is "admin". It logs in as a provisioned ext: user with
// no scope, never as admin; and the CLI refuses local users in the ext:
// namespace.
func TestExternalSubjectCannotLogInAsALocalUser(t *testing.T) {
	idp := fedtest.New(t, fedtest.Options{})
	kid := idp.AddKey(t, jose.RS256)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "tokengate.yaml")
	cfg := `
password_hashing: {memory_kib: 1024, time: 1}
bootstrap:
  clients:
    - {id: exchanger, secret: ex-secret, grants: ["urn:ietf:params:oauth:grant-type:jwt-bearer"], scopes: [read, write, admin]}
trusted_issuers:
  - issuer: ` + idp.Issuer + `
    audiences: [https://api.example.test]
    auto_provision: true
`
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	db := "sqlite:" + filepath.Join(dir, "tg.db")
	if _, e, code := cli(t, "admin-pw\n", "user", "add", "admin", "--scopes", "read write admin", "--db", db, "--config", cfgPath); code != 0 {
		t.Fatalf("user add admin: %d %s", code, e)
	}
	if _, e, code := cli(t, "pw\n", "user", "add", "ext:someone", "--db", db, "--config", cfgPath); code == 0 || !strings.Contains(e, "reserved") {
		t.Fatalf("user add ext:someone: exit %d %s; want refused as reserved", code, e)
	}
	p := startServer(t, "--config", cfgPath, "--db", db)
	assertion := idp.Sign(t, kid, idp.Claims("admin", "https://api.example.test", time.Now()))
	st, body := post(t, p.base, "/oauth/token", url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "assertion": {assertion}}, "exchanger", "ex-secret")
	if st != 200 {
		t.Fatalf("jwt bearer: %d %v", st, body)
	}
	at, _ := body["access_token"].(string)
	c := jwtClaims(t, at)
	if sub, _ := c["sub"].(string); sub == "admin" || !strings.HasPrefix(sub, "ext:") {
		t.Fatalf("external sub admin logged in as %q", sub)
	}
	if sc, _ := c["scope"].(string); sc != "" {
		t.Fatalf("scope %q: the issuer configures none", sc)
	}
}
