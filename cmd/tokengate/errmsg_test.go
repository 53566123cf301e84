package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCLIErrorsNameTheRecordAndTheDatabase: a missing or duplicate record
// is reported with its name and the database's path, not with the
// driver's words.
func TestCLIErrorsNameTheRecordAndTheDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.db")
	env := []string{"TOKENGATE_DB=", "TOKENGATE_CONFIG=", "TOKENGATE_SERVER="}
	if _, e, code := cliEnv(t, env, "", "client", "add", "web", "--grants", "client_credentials", "--db", path); code != 0 {
		t.Fatalf("client add: %s", e)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"user", "disable", "bob"}, `user "bob" not found in ` + path},
		{[]string{"user", "passwd", "bob"}, `user "bob" not found in ` + path},
		{[]string{"client", "get", "nope"}, `client "nope" not found in ` + path},
		{[]string{"client", "rotate-secret", "nope"}, `client "nope" not found in ` + path},
		{[]string{"client", "add", "web", "--grants", "client_credentials"}, `client "web" already exists in ` + path},
		{[]string{"apikey", "revoke", "nope"}, `api key "nope" not found in ` + path},
		{[]string{"apikey", "create", "--user", "bob"}, `user "bob" not found in ` + path},
		{[]string{"token", "revoke", "--user", "bob"}, `user "bob" not found in ` + path},
	} {
		_, e, code := cliEnv(t, env, "pw\n", append(c.args, "--db", path)...)
		if code != 1 || !strings.Contains(e, c.want) || strings.Contains(e, "sqlite") {
			t.Errorf("%v: exit %d, stderr %q; want %q", c.args, code, e, c.want)
		}
	}
}

// TestCLIUnopenableDatabaseNamesItsPath: a database that cannot be created
// or opened is reported with its path.
func TestCLIUnopenableDatabaseNamesItsPath(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "plain-file")
	if err := os.WriteFile(file, []byte(strings.Repeat("not a database ", 400)), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"TOKENGATE_DB=", "TOKENGATE_CONFIG=", "TOKENGATE_SERVER="}
	for _, db := range []string{
		filepath.Join(file, "t.db"), // its directory cannot be created
		dir,                         // a directory, not a database file
		file,                        // a file that is no database
	} {
		_, e, code := cliEnv(t, env, "", "user", "list", "--db", db)
		if code != 1 || !strings.Contains(e, db) {
			t.Errorf("--db %s: exit %d, stderr %q", db, code, e)
		}
	}
}

// TestDBNameRedactsPostgresPasswords: messages name a PostgreSQL database
// by its URL without the password.
func TestDBNameRedactsPostgresPasswords(t *testing.T) {
	if got := dbName("postgres://tg:hunter2@db.example/tg?sslpassword=s3"); strings.Contains(got, "hunter2") || strings.Contains(got, "s3") || !strings.Contains(got, "db.example/tg") {
		t.Fatalf("dbName: %q", got)
	}
	if got := dbName("sqlite:/var/lib/tg.db"); got != "/var/lib/tg.db" {
		t.Fatalf("dbName: %q", got)
	}
}
