package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/internal/adminapi/openapitest"
)

// TestClientImportOverAdminAPI: POST /admin/v1/import/clients (every
// answer checked against docs/admin-openapi.yaml) imports a Passport-style
// export once and reports it unchanged the second time; `tokengate client
// import --server` sends a file larger than one request body in parts,
// reports refused records with the file's line numbers and exits non-zero,
// and a second run says there is nothing to do. The imported bcrypt
// secret then authenticates, with no hash or secret ever printed.
func TestClientImportOverAdminAPI(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "tokengate.yaml")
	if err := os.WriteFile(cfgPath, []byte(adminE2EConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startServer(t, "--config", cfgPath, "--db", "sqlite:"+filepath.Join(dir, "tg.db"))
	c := &adminClient{t: t, base: p.base, hc: openapitest.New(t).Client(http.DefaultClient)}
	st, adm := post(t, p.base, "/oauth/token", url.Values{"grant_type": {"client_credentials"}}, "ops", "ops-secret")
	if st != 200 {
		t.Fatalf("admin token: %d %v", st, adm)
	}
	c.tok = adm["access_token"].(string)

	export := `{"id":"passport-1","secret_hash":"` + migrateLaravelHash + `","grants":["client_credentials"],"scopes":["read"]}` + "\n" +
		`{"id":"bad","secret_hash":"$1$abcdefgh$secretdigest","grants":["client_credentials"]}` + "\n"
	body, _ := json.Marshal(map[string]any{"data": export})
	m := c.must(200, "", "POST", "/admin/v1/import/clients", string(body))
	if m["created"] != 1.0 || m["unchanged"] != 0.0 || len(m["refused"].([]any)) != 1 {
		t.Fatalf("first import: %v", m)
	}
	if raw, _ := json.Marshal(m); strings.Contains(string(raw), "$2y$") || strings.Contains(string(raw), "$1$") {
		t.Fatalf("the answer shows a hash: %s", raw)
	}
	m = c.must(200, "", "POST", "/admin/v1/import/clients", string(body))
	if m["created"] != 0.0 || m["unchanged"] != 1.0 {
		t.Fatalf("second import: %v", m)
	}
	c.must(422, "invalid_fields", "POST", "/admin/v1/import/clients", `{"format":"xml","data":""}`)
	c.must(422, "invalid_fields", "POST", "/admin/v1/import/clients", `{"format":"csv","data":"id,secret,grant\n"}`)
	if st, _, _ := c.do("", "POST", "/admin/v1/import/clients", string(body)); st != 401 {
		t.Fatalf("without a token: %d", st)
	}

	// The remote CLI: 400 clients are more than one request body holds.
	var file strings.Builder
	for i := range 400 {
		if i == 350 {
			file.WriteString(`{"id":"refused","secret":"s3cret-that-must-not-show","grants":["implicit"]}` + "\n")
			continue
		}
		fmt.Fprintf(&file, `{"id":"c%03d","secret_hash":"%s","grants":["client_credentials"]}`+"\n", i, migrateLaravelHash)
	}
	if file.Len() < 2*24<<10 {
		t.Fatalf("export of %d bytes does not need several requests", file.Len())
	}
	path := filepath.Join(dir, "clients.jsonl")
	if err := os.WriteFile(path, []byte(file.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"TOKENGATE_ADMIN_CLIENT_SECRET=ops-secret", "TOKENGATE_DB=", "TOKENGATE_CONFIG="}
	out, errOut, code := cliEnv(t, env, "", "client", "import", path, "--server", p.base, "--admin-client", "ops")
	if code == 0 || !strings.Contains(out, "399 created, 0 unchanged, 1 refused") || !strings.Contains(errOut, "clients.jsonl:351 (client \"refused\"): refused: grants: unknown grant type") {
		t.Fatalf("remote import: %d\n%s%s", code, out, errOut)
	}
	if strings.Contains(out+errOut, "$2y$") || strings.Contains(out+errOut, "s3cret") {
		t.Fatal("the remote import printed a hash or secret")
	}
	csv := "id,secret_hash,grants\nc000," + migrateLaravelHash + ",client_credentials\n"
	csvPath := filepath.Join(dir, "clients.csv")
	if err := os.WriteFile(csvPath, []byte(csv), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, code = cliEnv(t, env, "", "client", "import", csvPath, "--server", p.base, "--admin-client", "ops")
	if code != 0 || !strings.Contains(out, "nothing to do: all 1 client(s) already exist unchanged") {
		t.Fatalf("second remote import (CSV): %d\n%s%s", code, out, errOut)
	}
	if st, b := post(t, p.base, "/oauth/token", url.Values{"grant_type": {"client_credentials"}}, "c123", migratePassword); st != 200 || b["access_token"] == nil {
		t.Fatalf("imported bcrypt secret: %d %v", st, b)
	}
}
