package main

import (
	"bytes"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const atRestConfig = `
password_hashing: {memory_kib: 1024, time: 1}
bootstrap:
  users:
    - {username: alice, password: correct-horse-battery, scopes: [read]}
  clients:
    - {id: app, secret: app-secret-value, grants: [password, refresh_token, "urn:tokengate:params:oauth:grant-type:api-key"], scopes: [read]}
`

// TestNoSecretIsStoredInThePlain runs logins, a refresh, an API key and a
// revocation, then reads every byte of the database files (the main file,
// the WAL and its index): no password, client secret, refresh token, API
// key or access token may appear in them.
func TestNoSecretIsStoredInThePlain(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "tokengate.yaml")
	if err := os.WriteFile(cfg, []byte(atRestConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	dbPath := filepath.Join(dir, "tg.db")
	db := "sqlite:" + dbPath
	p := startServer(t, "--config", cfg, "--db", db)

	secrets := []string{"correct-horse-battery", "app-secret-value"}
	st, tok := post(t, p.base, "/oauth/token", url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"correct-horse-battery"}}, "app", "app-secret-value")
	if st != 200 {
		t.Fatalf("login: %d %v", st, tok)
	}
	rt1, at1 := tok["refresh_token"].(string), tok["access_token"].(string)
	st, tok = post(t, p.base, "/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt1}}, "app", "app-secret-value")
	if st != 200 {
		t.Fatalf("refresh: %d %v", st, tok)
	}
	rt2, at2 := tok["refresh_token"].(string), tok["access_token"].(string)
	out, e, code := cli(t, "", "apikey", "create", "--user", "alice", "--scope", "read", "--db", db)
	if code != 0 {
		t.Fatalf("apikey create: %s", e)
	}
	var key string
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "tg_") {
			key = line
		}
	}
	st, tok = post(t, p.base, "/oauth/token", url.Values{"grant_type": {"urn:tokengate:params:oauth:grant-type:api-key"}, "api_key": {key}}, "app", "app-secret-value")
	if key == "" || st != 200 {
		t.Fatalf("api key exchange: %q %d %v", key, st, tok)
	}
	at3 := tok["access_token"].(string)
	if st, _ := post(t, p.base, "/oauth/revoke", url.Values{"token": {at2}}, "app", "app-secret-value"); st != 200 {
		t.Fatalf("revoke: %d", st)
	}
	out, e, code = cli(t, "", "client", "add", "svc", "--grants", "client_credentials", "--db", db)
	if code != 0 {
		t.Fatalf("client add: %s", e)
	}
	for _, line := range strings.Split(out, "\n") {
		if s, ok := strings.CutPrefix(line, "client_secret: "); ok {
			secrets = append(secrets, s)
		}
	}
	if len(secrets) != 3 {
		t.Fatalf("no generated client secret in %q", out)
	}
	secrets = append(secrets, rt1, rt2, key, at1, at2, at3)

	// Read while the server runs (the WAL holds the latest commits) and
	// after it has stopped (checkpointed into the main file).
	check := func(when string) {
		t.Helper()
		files, _ := filepath.Glob(dbPath + "*")
		if len(files) == 0 {
			t.Fatal("no database files")
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range secrets {
				if bytes.Contains(b, []byte(s)) {
					t.Errorf("%s: %s holds a secret in the plain: %.12s…", when, filepath.Base(f), s)
				}
			}
		}
	}
	check("running")
	p.stop(t)
	check("stopped")
}
