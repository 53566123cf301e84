package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/internal/store/sqlite"
)

// Hashes of "correct horse battery staple" made by the frameworks' own
// tools (internal/secret/testdata/vectors.jsonl cites each): PHP
// password_hash as Laravel's Hash::make, and Django's make_password.
const (
	migrateLaravelHash = "$2y$10$xMYHaonppOzoCDS3xhGxLOfFqjx/yyi0HXMbvIlbX87lBXK5ZwPuW"
	migrateDjangoHash  = "pbkdf2_sha256$260000$tl5ki4BbfOl92cMWU3Kwjz$OGUBrLEfTwzz1ms4ugMMFI+HminX0BnXFThR/RPPH44="
	migratePassword    = "correct horse battery staple"
)

// TestMigrateUsersEndToEnd imports users exported from Laravel (bcrypt
// $2y$) and Django (pbkdf2_sha256) with `tokengate user import`, serves
// each framework's example config, and logs in with the seed's documented
// request and the imported user's existing password; the stored hash is
// argon2id afterwards and a second import changes nothing.
func TestMigrateUsersEndToEnd(t *testing.T) {
	for _, tc := range []struct {
		example, file, export string
		login                 func(base, user, pw string) exchange
		user                  string
	}{
		{
			example: "laravel-passport", file: "users.jsonl", user: "taylor@example.com",
			export: `{"username":"taylor@example.com","password_hash":"` + migrateLaravelHash + `","scopes":[],"disabled":false}` + "\n",
			login: func(base, user, pw string) exchange {
				return send(t, "POST", base+"/oauth/token", "application/json",
					`{"username":"`+user+`","password":"`+pw+`","client_secret":"demo-secret","client_id":"demo-client","grant_type":"password"}`,
					map[string]string{"Accept": "application/json"})
			},
		},
		{
			example: "django-oauth-toolkit", file: "users.csv", user: "jane",
			export: "username,password_hash,scopes,disabled\njane," + migrateDjangoHash + ",read write,false\n",
			login: func(base, user, pw string) exchange {
				return send(t, "POST", base+"/oauth/token/", "application/x-www-form-urlencoded",
					"client_id=test_client_id&client_secret=test_client_secret&grant_type=password&username="+user+"&password="+strings.ReplaceAll(pw, " ", "+"), nil)
			},
		},
	} {
		t.Run(tc.example, func(t *testing.T) {
			dir := t.TempDir()
			db := filepath.Join(dir, "tg.db")
			cfg := filepath.Join("..", "..", "examples", tc.example, "tokengate.yaml")
			file := filepath.Join(dir, tc.file)
			if err := os.WriteFile(file, []byte(tc.export), 0o600); err != nil {
				t.Fatal(err)
			}
			out, errOut, code := cli(t, "", "user", "import", "--config", cfg, "--db", db, file)
			if code != 0 || !strings.Contains(out, "1 created, 0 unchanged, 0 refused") {
				t.Fatalf("import: code %d\n%s%s", code, out, errOut)
			}
			if strings.Contains(out+errOut, "$2y$") || strings.Contains(out+errOut, "pbkdf2_sha256$") {
				t.Fatal("the import printed a hash")
			}

			p := startServer(t, "--config", cfg, "--db", db)
			if e := tc.login(p.base, tc.user, "wrong password"); e.status != 400 {
				t.Fatalf("wrong password: %d %s", e.status, e.raw)
			}
			for i := range 2 { // the first login upgrades, the second uses argon2id
				e := tc.login(p.base, tc.user, migratePassword)
				if e.status != 200 || e.str("access_token") == "" || e.str("refresh_token") == "" {
					t.Fatalf("login %d: %d %s", i+1, e.status, e.raw)
				}
			}
			p.stop(t)

			st, err := sqlite.Open(context.Background(), db)
			if err != nil {
				t.Fatal(err)
			}
			u, err := st.GetUser(context.Background(), tc.user)
			st.Close()
			if err != nil || !strings.HasPrefix(u.PasswordHash, "$argon2id$") {
				t.Fatalf("stored hash after login = %.12q…, %v; want argon2id", u.PasswordHash, err)
			}

			out, errOut, code = cli(t, "", "user", "import", "--config", cfg, "--db", db, file)
			if code != 0 || !strings.Contains(out, "nothing to do") {
				t.Fatalf("second import: code %d\n%s%s", code, out, errOut)
			}
		})
	}
}
