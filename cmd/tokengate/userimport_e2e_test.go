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

// TestUserImportOverAdminAPI: POST /admin/v1/import/users (every answer
// checked against docs/admin-openapi.yaml) imports a Laravel-style export
// once, refuses a bad record with its line and reason, and reports the
// users unchanged the second time; it takes only a tokengate:admin
// bearer (401 without one, 403 for a user's token). A file larger than
// one request body is refused as one request (413) and `tokengate user
// import --server` sends it in parts, reports refused records with the
// file's line numbers and exits non-zero; a second run (CSV) says there
// is nothing to do. The imported bcrypt hash then logs in, and no hash
// reaches an answer, the CLI's output or the server's audit log.
func TestUserImportOverAdminAPI(t *testing.T) {
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
	const weak = "$1$abcdefgh$weakdigest"

	export := `{"username":"laravel-1","password_hash":"` + migrateLaravelHash + `","scopes":["read"]}` + "\n" +
		`{"username":"bad","password_hash":"` + weak + `"}` + "\n"
	body, _ := json.Marshal(map[string]any{"data": export})
	m := c.must(200, "", "POST", "/admin/v1/import/users", string(body))
	refused, _ := m["refused"].([]any)
	if m["created"] != 1.0 || m["unchanged"] != 0.0 || len(refused) != 1 {
		t.Fatalf("first import: %v", m)
	}
	if r := refused[0].(map[string]any); r["line"] != 2.0 || r["username"] != "bad" || r["reason"] == "" {
		t.Fatalf("refusal: %v", r)
	}
	if raw, _ := json.Marshal(m); strings.Contains(string(raw), "$2y$") || strings.Contains(string(raw), "$1$") {
		t.Fatalf("the answer shows a hash: %s", raw)
	}
	m = c.must(200, "", "POST", "/admin/v1/import/users", string(body))
	if m["created"] != 0.0 || m["unchanged"] != 1.0 || len(m["refused"].([]any)) != 1 {
		t.Fatalf("second import: %v", m)
	}
	c.must(422, "invalid_fields", "POST", "/admin/v1/import/users", `{"format":"xml","data":""}`)
	c.must(422, "invalid_fields", "POST", "/admin/v1/import/users", `{"format":"csv","data":"name,hash\n"}`)
	if st, _, _ := c.do("", "POST", "/admin/v1/import/users", string(body)); st != 401 {
		t.Fatalf("without a token: %d", st)
	}
	st, userTok := post(t, p.base, "/oauth/token", url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"alice-pw"}}, "app", "app-secret")
	if st != 200 {
		t.Fatalf("user token: %d %v", st, userTok)
	}
	if st, m, _ := c.do(userTok["access_token"].(string), "POST", "/admin/v1/import/users", string(body)); st != 403 || m["error"] != "insufficient_scope" {
		t.Fatalf("without the admin scope: %d %v", st, m)
	}

	// The remote CLI: 700 users are more than one request body holds.
	var file strings.Builder
	for i := range 700 {
		if i == 550 {
			file.WriteString(`{"username":"refused","password_hash":"` + weak + `"}` + "\n")
			continue
		}
		fmt.Fprintf(&file, `{"username":"u%03d","password_hash":"%s","scopes":["read"]}`+"\n", i, migrateLaravelHash)
	}
	if file.Len() <= 64<<10 {
		t.Fatalf("export of %d bytes fits in one request body", file.Len())
	}
	whole, _ := json.Marshal(map[string]any{"data": file.String()})
	if st, _, _ := c.do(c.tok, "POST", "/admin/v1/import/users", string(whole)); st != 413 {
		t.Fatalf("the whole file in one request: %d, want 413", st)
	}
	path := filepath.Join(dir, "users.jsonl")
	if err := os.WriteFile(path, []byte(file.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"TOKENGATE_ADMIN_CLIENT_SECRET=ops-secret", "TOKENGATE_DB=", "TOKENGATE_CONFIG="}
	out, errOut, code := cliEnv(t, env, "", "user", "import", path, "--server", p.base, "--admin-client", "ops")
	if code == 0 || !strings.Contains(out, "699 created, 0 unchanged, 1 refused") || !strings.Contains(errOut, "users.jsonl:551 (user \"refused\"): refused: ") {
		t.Fatalf("remote import: %d\n%s%s", code, out, errOut)
	}
	if strings.Contains(out+errOut, "$2y$") || strings.Contains(out+errOut, "$1$") {
		t.Fatal("the remote import printed a hash")
	}
	csv := "username,password_hash,scopes\nu000," + migrateLaravelHash + ",read\n"
	csvPath := filepath.Join(dir, "users.csv")
	if err := os.WriteFile(csvPath, []byte(csv), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, code = cliEnv(t, env, "", "user", "import", csvPath, "--server", p.base, "--admin-client", "ops")
	if code != 0 || !strings.Contains(out, "nothing to do: all 1 user(s) already exist unchanged") {
		t.Fatalf("second remote import (CSV): %d\n%s%s", code, out, errOut)
	}
	login := url.Values{"grant_type": {"password"}, "username": {"u123"}, "password": {migratePassword}}
	if st, b := post(t, p.base, "/oauth/token", login, "app", "app-secret"); st != 200 || b["access_token"] == nil {
		t.Fatalf("imported bcrypt hash: %d %v", st, b)
	}

	p.stop(t)
	logs := p.stderr.String()
	if !strings.Contains(logs, "action=user.import") || !strings.Contains(logs, "client_id=ops") {
		t.Errorf("no audit line for the user import: %s", logs)
	}
	if strings.Contains(logs, "$2y$") || strings.Contains(logs, "$1$") {
		t.Error("a hash reached the server's log")
	}
}
