package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/internal/adminapi/openapitest"
)

const adminE2EConfig = `
password_hashing: {memory_kib: 1024, time: 1}
bootstrap:
  users:
    - {username: alice, password: alice-pw, scopes: [read]}
  clients:
    - {id: app, secret: app-secret, grants: [password, refresh_token, "urn:tokengate:params:oauth:grant-type:api-key"], scopes: [read, tokengate:admin]}
    - {id: ops, secret: ops-secret, grants: [client_credentials], scopes: [tokengate:admin]}
`

// adminClient calls the admin API of a running binary; every response is
// checked against docs/admin-openapi.yaml.
type adminClient struct {
	t    *testing.T
	base string
	hc   *http.Client
	tok  string
}

func (c *adminClient) do(tok, method, path, body string) (int, map[string]any, http.Header) {
	c.t.Helper()
	var rd io.Reader = http.NoBody
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, c.base+path, rd)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	b, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(b, &m)
	return resp.StatusCode, m, resp.Header
}

// must sends a request with the admin token and wants status (and, for
// an error, the problem's code).
func (c *adminClient) must(status int, code, method, path, body string) map[string]any {
	c.t.Helper()
	st, m, _ := c.do(c.tok, method, path, body)
	if st != status || (code != "" && m["error"] != code) {
		c.t.Fatalf("%s %s: %d %v, want %d %s", method, path, st, m, status, code)
	}
	return m
}

func TestAdminAPIEndToEnd(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "tokengate.yaml")
	if err := os.WriteFile(cfgPath, []byte(adminE2EConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	db := "sqlite:" + filepath.Join(dir, "tg.db")
	p := startServer(t, "--config", cfgPath, "--db", db)
	check := openapitest.New(t)
	c := &adminClient{t: t, base: p.base, hc: check.Client(http.DefaultClient)}
	grant := func(id, secret string, vals url.Values) (int, map[string]any) {
		return post(t, p.base, "/oauth/token", vals, id, secret)
	}
	active := func(tok string) bool {
		_, b := post(t, p.base, "/oauth/introspect", url.Values{"token": {tok}}, "app", "app-secret")
		return b["active"] == true
	}

	// Without a token, with a bad one, without the admin scope.
	if st, m, h := c.do("", "GET", "/admin/v1/users", ""); st != 401 || m["error"] != "unauthorized" || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") {
		t.Fatalf("no token: %d %v %v", st, m, h)
	}
	if st, m, _ := c.do("garbage", "GET", "/admin/v1/users", ""); st != 401 || m["error"] != "invalid_token" {
		t.Fatalf("bad token: %d %v", st, m)
	}
	st, userTok := grant("app", "app-secret", url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"alice-pw"}})
	if st != 200 || userTok["scope"] != "read" {
		t.Fatalf("a password login must not carry the admin scope: %d %v", st, userTok)
	}
	if st, m, _ := c.do(userTok["access_token"].(string), "GET", "/admin/v1/users", ""); st != 403 || m["error"] != "insufficient_scope" {
		t.Fatalf("user token: %d %v", st, m)
	}
	st, adm := grant("ops", "ops-secret", url.Values{"grant_type": {"client_credentials"}})
	if st != 200 || adm["scope"] != "tokengate:admin" {
		t.Fatalf("admin token: %d %v", st, adm)
	}
	c.tok = adm["access_token"].(string)

	// Create a user over HTTP; log in with the password grant.
	c.must(201, "", "POST", "/admin/v1/users", `{"username":"bob","password":"bob-secret-pw","scopes":["read"]}`)
	login := func(pw string) map[string]any {
		st, b := grant("app", "app-secret", url.Values{"grant_type": {"password"}, "username": {"bob"}, "password": {pw}})
		if st != 200 {
			t.Fatalf("bob login: %d %v", st, b)
		}
		return b
	}
	refresh := func(rt string) int {
		st, _ := grant("app", "app-secret", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
		return st
	}
	bob := login("bob-secret-pw")

	// Disable: refresh and introspection fail at once.
	c.must(200, "", "PATCH", "/admin/v1/users/bob", `{"disabled":true}`)
	if refresh(bob["refresh_token"].(string)) != 400 || active(bob["access_token"].(string)) {
		t.Fatal("a disabled user's tokens still work")
	}
	c.must(200, "", "PATCH", "/admin/v1/users/bob", `{"disabled":false}`)

	// Reset the password: the old sessions end, the new password works.
	bob = login("bob-secret-pw")
	c.must(200, "", "PUT", "/admin/v1/users/bob/password", `{"password":"bob-new-pw"}`)
	if refresh(bob["refresh_token"].(string)) != 400 || active(bob["access_token"].(string)) {
		t.Fatal("sessions survive a password reset")
	}
	if st, _ := grant("app", "app-secret", url.Values{"grant_type": {"password"}, "username": {"bob"}, "password": {"bob-secret-pw"}}); st != 400 {
		t.Fatalf("old password still works: %d", st)
	}
	login("bob-new-pw")

	// An API key: created (answered once), exchanged, listed without the key, revoked.
	k := c.must(201, "", "POST", "/admin/v1/users/bob/api-keys", `{"name":"ci","scopes":["read"]}`)
	key := k["key"].(string)
	exchange := func() int {
		st, _ := grant("app", "app-secret", url.Values{"grant_type": {"urn:tokengate:params:oauth:grant-type:api-key"}, "api_key": {key}})
		return st
	}
	if exchange() != 200 {
		t.Fatal("new API key does not work")
	}
	if l := c.must(200, "", "GET", "/admin/v1/users/bob/api-keys", ""); len(l["items"].([]any)) != 1 || strings.Contains(mustJSON(l), key) {
		t.Fatalf("key list: %v", l)
	}
	c.must(204, "", "DELETE", "/admin/v1/api-keys/"+k["id"].(string), "")
	if exchange() != 400 {
		t.Fatal("revoked API key still works")
	}

	// A client's secret rotated: the old one fails, the new one works.
	cl := c.must(201, "", "POST", "/admin/v1/clients", `{"client_id":"web","grants":["client_credentials"],"scopes":["read"]}`)
	oldSecret := cl["client_secret"].(string)
	if st, _ := grant("web", oldSecret, url.Values{"grant_type": {"client_credentials"}}); st != 200 {
		t.Fatalf("new client: %d", st)
	}
	rot := c.must(200, "", "POST", "/admin/v1/clients/web/rotate-secret", "")
	newSecret := rot["client_secret"].(string)
	if st, _ := grant("web", oldSecret, url.Values{"grant_type": {"client_credentials"}}); st != 401 {
		t.Fatalf("old secret after rotation: %d", st)
	}
	st, webTok := grant("web", newSecret, url.Values{"grant_type": {"client_credentials"}})
	if st != 200 {
		t.Fatalf("new secret: %d", st)
	}

	// The CLI shares the operations: get, and rotate-secret again.
	if out, e, code := cli(t, "", "client", "get", "web", "--json", "--db", db); code != 0 || !strings.Contains(out, `"client_id": "web"`) || strings.Contains(out, newSecret) {
		t.Fatalf("client get: %d %s %s", code, out, e)
	}
	out, e, code := cli(t, "", "client", "rotate-secret", "web", "--db", db)
	cliSecret := ""
	for _, line := range strings.Split(out, "\n") {
		if s, ok := strings.CutPrefix(line, "client_secret: "); ok {
			cliSecret = s
		}
	}
	if code != 0 || len(cliSecret) < 43 {
		t.Fatalf("client rotate-secret: %d %s %s", code, out, e)
	}
	if st, _ := grant("web", newSecret, url.Values{"grant_type": {"client_credentials"}}); st != 401 {
		t.Fatalf("secret before the CLI rotation: %d", st)
	}
	newSecret = cliSecret

	// Signing keys rotated: new tokens use the new key; old ones still verify.
	oldKid := jwtKid(t, webTok["access_token"].(string))
	nk := c.must(201, "", "POST", "/admin/v1/keys/rotate", "")
	if nk["kid"] == oldKid {
		t.Fatal("rotation kept the key")
	}
	_, webTok2 := grant("web", newSecret, url.Values{"grant_type": {"client_credentials"}})
	if jwtKid(t, webTok2["access_token"].(string)) != nk["kid"] || !active(webTok["access_token"].(string)) {
		t.Fatal("tokens do not follow the rotation")
	}
	if l := c.must(200, "", "GET", "/admin/v1/keys", ""); len(l["items"].([]any)) != 4 { // the default and the ID token key, each rotated
		t.Fatalf("keys: %v", l)
	}

	// Every error status.
	c.must(400, "malformed_request", "POST", "/admin/v1/users", `{"username":`)
	c.must(400, "malformed_request", "POST", "/admin/v1/users", `{"username":"x","role":"root"}`)
	c.must(404, "not_found", "GET", "/admin/v1/users/nobody", "")
	c.must(404, "not_found", "DELETE", "/admin/v1/clients/nobody", "")
	c.must(409, "conflict", "POST", "/admin/v1/users", `{"username":"bob"}`)
	c.must(409, "conflict", "POST", "/admin/v1/clients", `{"client_id":"web","grants":["password"]}`)
	c.must(413, "too_large", "POST", "/admin/v1/users", `{"username":"x","password":"`+strings.Repeat("p", 70<<10)+`"}`)
	m := c.must(422, "invalid_fields", "POST", "/admin/v1/clients", `{"client_id":"a b","grants":["implicit"]}`)
	if fs := m["fields"].([]any); len(fs) != 2 {
		t.Fatalf("fields: %v", m)
	}

	// Delete what was made.
	c.must(204, "", "DELETE", "/admin/v1/clients/web", "")
	c.must(204, "", "DELETE", "/admin/v1/users/bob", "")

	// A revoked admin token stops working at once.
	if st, _ := post(t, p.base, "/oauth/revoke", url.Values{"token": {c.tok}}, "ops", "ops-secret"); st != 200 {
		t.Fatalf("revoke: %d", st)
	}
	if st, m, _ := c.do(c.tok, "GET", "/admin/v1/users", ""); st != 401 || m["error"] != "invalid_token" {
		t.Fatalf("revoked admin token: %d %v", st, m)
	}

	// Every change is in the audit log, with who and which record, and
	// no secret.
	p.stop(t)
	logs := p.stderr.String()
	for _, want := range []string{"user.create", "user.disable", "user.set_password", "api_key.create", "api_key.revoke",
		"client.create", "client.rotate_secret", "keys.rotate", "client.delete", "user.delete"} {
		if !strings.Contains(logs, "action="+want) {
			t.Errorf("no audit line for %s", want)
		}
	}
	if !strings.Contains(logs, "admin audit") || !strings.Contains(logs, "client_id=ops") || strings.Contains(logs, `request_id=""`) {
		t.Errorf("audit lines lack who or the request id: %s", logs)
	}
	for _, secret := range []string{"bob-secret-pw", "bob-new-pw", key, oldSecret, newSecret, c.tok} {
		if strings.Contains(logs, secret) {
			t.Errorf("a secret reached the log")
		}
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// cliEnv runs the CLI with extra environment variables.
func cliEnv(t *testing.T, env []string, stdin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(binPath, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// TestCLIRemoteMode administers a running server with --server: no
// database access, the admin client's secret from the environment.
func TestCLIRemoteMode(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "tokengate.yaml")
	if err := os.WriteFile(cfgPath, []byte(adminE2EConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startServer(t, "--config", cfgPath, "--db", "sqlite:"+filepath.Join(dir, "tg.db"))
	env := []string{"TOKENGATE_ADMIN_CLIENT_SECRET=ops-secret", "TOKENGATE_DB=", "TOKENGATE_CONFIG="}
	run := func(stdin string, args ...string) string {
		t.Helper()
		out, e, code := cliEnv(t, env, stdin, append(args, "--server", p.base, "--admin-client", "ops")...)
		if code != 0 {
			t.Fatalf("%v: %d %s %s", args, code, out, e)
		}
		return out
	}
	secretOf := func(out string) string {
		for _, line := range strings.Split(out, "\n") {
			if s, ok := strings.CutPrefix(line, "client_secret: "); ok {
				return s
			}
		}
		t.Fatalf("no secret in %q", out)
		return ""
	}

	run("carol-pw\n", "user", "add", "carol", "--scopes", "read")
	if out := run("", "user", "list", "--json"); !strings.Contains(out, `"username": "carol"`) {
		t.Fatalf("user list: %s", out)
	}
	st, tok := post(t, p.base, "/oauth/token", url.Values{"grant_type": {"password"}, "username": {"carol"}, "password": {"carol-pw"}}, "app", "app-secret")
	if st != 200 {
		t.Fatalf("carol login: %d", st)
	}
	run("", "token", "revoke", "--user", "carol")
	if _, b := post(t, p.base, "/oauth/introspect", url.Values{"token": {tok["refresh_token"].(string)}}, "app", "app-secret"); b["active"] != false {
		t.Fatal("token revoke --user over --server left the session")
	}
	run("carol-new\n", "user", "passwd", "carol")
	run("", "user", "disable", "carol")
	if st, _ := post(t, p.base, "/oauth/token", url.Values{"grant_type": {"password"}, "username": {"carol"}, "password": {"carol-new"}}, "app", "app-secret"); st != 400 {
		t.Fatalf("disabled carol logs in: %d", st)
	}
	run("", "user", "enable", "carol")

	sec := secretOf(run("", "client", "add", "web", "--grants", "client_credentials"))
	sec2 := secretOf(run("", "client", "rotate-secret", "web"))
	if st, _ := post(t, p.base, "/oauth/token", url.Values{"grant_type": {"client_credentials"}}, "web", sec); st != 401 {
		t.Fatalf("old secret: %d", st)
	}
	if st, _ := post(t, p.base, "/oauth/token", url.Values{"grant_type": {"client_credentials"}}, "web", sec2); st != 200 {
		t.Fatalf("new secret: %d", st)
	}
	if out := run("", "client", "get", "web"); !strings.Contains(out, `"client_id": "web"`) {
		t.Fatalf("client get: %s", out)
	}
	if out := run("", "client", "list"); !strings.Contains(out, "web") {
		t.Fatalf("client list: %s", out)
	}
	out := run("", "apikey", "create", "--user", "carol", "--scope", "read", "--expires", "1d")
	var id string
	if s, ok := strings.CutPrefix(strings.Split(out, "\n")[0], "api key "); ok {
		id = strings.Fields(s)[0]
	}
	if out := run("", "apikey", "list", "--user", "carol"); id == "" || !strings.Contains(out, id) {
		t.Fatalf("apikey list: %q %s", id, out)
	}
	run("", "apikey", "revoke", id)
	run("", "keys", "rotate")
	if out := run("", "keys", "list", "--json"); strings.Count(out, `"kid"`) != 4 || strings.Count(out, `"purpose": "id_token"`) != 2 {
		t.Fatalf("keys list: %s", out)
	}
	run("", "client", "delete", "web")
	run("", "user", "delete", "carol")

	// Without the secret: a clear error, non-zero exit.
	_, e, code := cliEnv(t, []string{"TOKENGATE_ADMIN_CLIENT_SECRET="}, "", "user", "list", "--server", p.base, "--admin-client", "ops")
	if code == 0 || !strings.Contains(e, "TOKENGATE_ADMIN_CLIENT_SECRET") {
		t.Fatalf("missing secret: %d %s", code, e)
	}
	// An API error is reported with its message.
	_, e, code = cliEnv(t, env, "", "user", "delete", "nobody", "--server", p.base, "--admin-client", "ops")
	if code == 0 || !strings.Contains(e, "not found") {
		t.Fatalf("unknown user: %d %s", code, e)
	}
}
