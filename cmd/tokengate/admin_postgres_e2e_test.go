package main

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/tokengate/tokengate/internal/adminapi/openapitest"
)

const adminTwoNodeConfig = `issuer: http://tokengate.test
password_hashing: {memory_kib: 1024, time: 1}
bootstrap:
  clients:
    - {id: app, secret: app-secret, grants: [password, refresh_token], scopes: [read]}
    - {id: ops, secret: ops-secret, grants: [client_credentials], scopes: [tokengate:admin]}
`

// TestAdminAPIOnTwoPostgresNodes makes each change on one node and sees
// it hold on the other at once.
func TestAdminAPIOnTwoPostgresNodes(t *testing.T) {
	db := pgDatabase(t)
	cfg := filepath.Join(t.TempDir(), "tokengate.yaml")
	if err := os.WriteFile(cfg, []byte(adminTwoNodeConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	nodes := startNodes(t, 2, "--config", cfg, "--db", db)
	a, b := nodes[0], nodes[1]
	check := openapitest.New(t)
	st, adm := post(t, a.base, "/oauth/token", url.Values{"grant_type": {"client_credentials"}}, "ops", "ops-secret")
	if st != 200 {
		t.Fatalf("admin token: %d %v", st, adm)
	}
	on := func(p *proc) *adminClient {
		return &adminClient{t: t, base: p.base, hc: check.Client(http.DefaultClient), tok: adm["access_token"].(string)}
	}

	on(a).must(201, "", "POST", "/admin/v1/users", `{"username":"dave","password":"dave-pw"}`)
	st, tok := post(t, b.base, "/oauth/token", url.Values{"grant_type": {"password"}, "username": {"dave"}, "password": {"dave-pw"}}, "app", "app-secret")
	if st != 200 {
		t.Fatalf("user made on a, login on b: %d %v", st, tok)
	}
	on(b).must(200, "", "PATCH", "/admin/v1/users/dave", `{"disabled":true}`)
	if st, _ := post(t, a.base, "/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok["refresh_token"].(string)}}, "app", "app-secret"); st != 400 {
		t.Fatalf("disabled on b, refresh on a: %d", st)
	}
	if _, in := post(t, a.base, "/oauth/introspect", url.Values{"token": {tok["access_token"].(string)}}, "app", "app-secret"); in["active"] != false {
		t.Fatal("disabled on b, access token active on a")
	}

	cl := on(a).must(201, "", "POST", "/admin/v1/clients", `{"client_id":"web","grants":["client_credentials"]}`)
	rot := on(b).must(200, "", "POST", "/admin/v1/clients/web/rotate-secret", "")
	if st, _ := post(t, a.base, "/oauth/token", url.Values{"grant_type": {"client_credentials"}}, "web", cl["client_secret"].(string)); st != 401 {
		t.Fatalf("rotated on b, old secret on a: %d", st)
	}
	if st, _ := post(t, a.base, "/oauth/token", url.Values{"grant_type": {"client_credentials"}}, "web", rot["client_secret"].(string)); st != 200 {
		t.Fatalf("rotated on b, new secret on a: %d", st)
	}

	nk := on(a).must(201, "", "POST", "/admin/v1/keys/rotate", "")
	keys := on(b).must(200, "", "GET", "/admin/v1/keys", "")
	// Two keys of each purpose (signing, ID token): the new active one
	// and the one it retired; the new signing key is the one rotated.
	activeSigning := ""
	items := keys["items"].([]any)
	for _, it := range items {
		if k := it.(map[string]any); k["active"] == true && k["purpose"] == nil {
			activeSigning, _ = k["kid"].(string)
		}
	}
	if len(items) != 4 || activeSigning != nk["kid"] {
		t.Fatalf("rotated on a, keys on b: %v", keys)
	}
	_, fresh := post(t, a.base, "/oauth/token", url.Values{"grant_type": {"client_credentials"}}, "ops", "ops-secret")
	c := on(b)
	c.tok = fresh["access_token"].(string)
	c.must(200, "", "GET", "/admin/v1/users/dave", "")
}
