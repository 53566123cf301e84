package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/internal/store/sqlite"
)

// peerTool returns the path of a program a guide's test runs (sqlite3,
// php), or skips the test, failing instead under TOKENGATE_TEST_PEERS=1
// (make test, through scripts/with-python-peers.sh, installs them).
func peerTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		reason := name + " is not installed; run the tests through scripts/with-python-peers.sh (make test does)"
		if os.Getenv("TOKENGATE_TEST_PEERS") == "1" {
			t.Fatal(reason)
		}
		t.Skip("guide test skipped: " + reason)
	}
	return p
}

// peerPy returns Debian's python3 when it imports modules, or skips as
// peerTool does.
func peerPy(t *testing.T, modules string) string {
	t.Helper()
	py := os.Getenv("TOKENGATE_PEER_PYTHON")
	if py == "" {
		py = "/usr/bin/python3"
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, py, "-c", "import "+modules).CombinedOutput(); err != nil {
		reason := py + " cannot import " + modules + " (" + strings.TrimSpace(string(out)) + "); run the tests through scripts/with-python-peers.sh (make test does)"
		if os.Getenv("TOKENGATE_TEST_PEERS") == "1" {
			t.Fatal(reason)
		}
		t.Skip("guide test skipped: " + reason)
	}
	return py
}

// guideCommands returns the shell lines of a guide that start with
// prefix: the export commands the guide tells its reader to run.
func guideCommands(t *testing.T, guide, prefix string) []string {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "docs", "migrate", guide))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), prefix) {
			out = append(out, sc.Text())
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s has no %q command", guide, prefix)
	}
	return out
}

// runIn runs a shell command line in dir and fails the test on error.
func runIn(t *testing.T, dir, line string) {
	t.Helper()
	cmd := exec.Command("sh", "-c", line)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", line, err, out)
	}
}

// djangoProject makes a Django project's database the way Django does:
// `migrate` creates auth_user and Django OAuth Toolkit's
// oauth2_provider_application, create_user makes users (Django's default
// pbkdf2_sha256 hasher), and applications are saved through DOT's model:
// 1.7 keeps client_secret in plaintext; the 2.x-style one is given the
// make_password hash that DOT 2.x's ClientSecretField stores.
const djangoProject = `
import sys, django
from django.conf import settings
settings.configure(
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": sys.argv[1]}},
    INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes", "oauth2_provider"],
    USE_TZ=True, SECRET_KEY="guide-test", DEFAULT_AUTO_FIELD="django.db.models.AutoField")
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from django.contrib.auth.models import User
from django.contrib.auth.hashers import make_password
from oauth2_provider.models import Application
pw, plain, hashed = sys.argv[2], sys.argv[3], sys.argv[4]
User.objects.create_user("jane", "jane@example.com", pw)
gone = User.objects.create_user("gone", "gone@example.com", pw)
gone.is_active = False
gone.save()
User.objects.create_user("nopassword")
Application.objects.create(name="mobile", client_id="dot17-mobile", client_secret=plain,
    client_type="confidential", authorization_grant_type="password")
Application.objects.create(name="batch", client_id="dot17-batch", client_secret=plain,
    client_type="confidential", authorization_grant_type="client-credentials")
Application.objects.create(name="batch2", client_id="dot2-batch", client_secret=make_password(hashed),
    client_type="confidential", authorization_grant_type="client-credentials")
Application.objects.create(name="spa", client_id="spa", client_type="public", authorization_grant_type="password")
Application.objects.create(name="web", client_id="web", client_type="confidential",
    authorization_grant_type="authorization-code", redirect_uris="https://app.example/cb")
`

// TestDjangoGuideExportImportLogin runs docs/migrate/django-oauth-toolkit.md
// against a real Django + Django OAuth Toolkit database: its sqlite3
// export commands, `tokengate user import` and `tokengate client import`,
// then the DOT example config, where the imported user logs in with the
// password Django hashed, through an imported DOT 1.7 client (plaintext
// secret), and the DOT 1.7 and 2.x-style (make_password) clients get
// tokens with client_credentials; the 2.x hash is replaced by SHA-256 at
// its first authentication, and a second import changes nothing.
func TestDjangoGuideExportImportLogin(t *testing.T) {
	py := peerPy(t, "django, oauth2_provider")
	peerTool(t, "sqlite3")
	const (
		password = "Dj4ngo pässword"
		plain    = "dot17PlaintextSecret0123456789abcdefghijklmnop"
		hashed   = "dot2HashedSecret0123456789abcdefghijklmnopqrst"
	)
	dir := t.TempDir()
	project := filepath.Join(dir, "project.py")
	if err := os.WriteFile(project, []byte(djangoProject), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(py, project, filepath.Join(dir, "db.sqlite3"), password, plain, hashed).CombinedOutput(); err != nil {
		t.Fatalf("making the Django project: %v\n%s", err, out)
	}
	for _, line := range guideCommands(t, "django-oauth-toolkit.md", "sqlite3 db.sqlite3 ") {
		runIn(t, dir, line)
	}
	clients, _ := os.ReadFile(filepath.Join(dir, "clients.jsonl"))
	if strings.Contains(string(clients), `"web"`) || !strings.Contains(string(clients), `"secret_hash":"pbkdf2_sha256$`) {
		t.Fatalf("client export:\n%s", clients)
	}

	db := filepath.Join(dir, "tg.db")
	cfg := filepath.Join("..", "..", "examples", "django-oauth-toolkit", "tokengate.yaml")
	out, errOut, code := cli(t, "", "user", "import", "--config", cfg, "--db", db, filepath.Join(dir, "users.jsonl"))
	if code != 0 || !strings.Contains(out, "2 created, 0 unchanged, 0 refused") {
		t.Fatalf("user import: %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = cli(t, "", "client", "import", "--config", cfg, "--db", db, filepath.Join(dir, "clients.jsonl"))
	if code != 0 || !strings.Contains(out, "4 created, 0 unchanged, 0 refused") {
		t.Fatalf("client import: %d\n%s%s", code, out, errOut)
	}
	if all := out + errOut; strings.Contains(all, plain) || strings.Contains(all, "pbkdf2_sha256$") {
		t.Fatal("the import printed a secret or hash")
	}

	p := startServer(t, "--config", cfg, "--db", db)
	form := func(v url.Values) exchange {
		return send(t, "POST", p.base+"/oauth/token/", "application/x-www-form-urlencoded", v.Encode(), nil)
	}
	login := url.Values{"grant_type": {"password"}, "client_id": {"dot17-mobile"}, "client_secret": {plain}, "username": {"jane"}, "password": {password}}
	if e := form(login); e.status != 200 || e.str("access_token") == "" || e.str("refresh_token") == "" {
		t.Fatalf("password grant with the imported user and client: %d %s", e.status, e.raw)
	}
	login.Set("username", "gone")
	if e := form(login); e.status != 400 {
		t.Fatalf("inactive Django user: %d %s", e.status, e.raw)
	}
	for _, c := range []struct{ id, secret string }{{"dot17-batch", plain}, {"dot2-batch", hashed}, {"dot2-batch", hashed}} {
		if st, _ := post(t, p.base, "/oauth/token/", url.Values{"grant_type": {"client_credentials"}}, c.id, c.secret+"x"); st != 401 {
			t.Fatalf("%s with a wrong secret: %d", c.id, st)
		}
		if st, body := post(t, p.base, "/oauth/token/", url.Values{"grant_type": {"client_credentials"}}, c.id, c.secret); st != 200 || body["access_token"] == nil {
			t.Fatalf("%s client_credentials: %d %v", c.id, st, body)
		}
	}
	p.stop(t)

	st, err := sqlite.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	c, err := st.GetClient(context.Background(), "dot2-batch")
	u, uerr := st.GetUser(context.Background(), "jane")
	st.Close()
	if err != nil || c.LegacySecretHash != "" || len(c.SecretHash) != 32 {
		t.Fatalf("dot2-batch after its first authentication: legacy %.14q…, %d-byte hash, %v; want the SHA-256 only", c.LegacySecretHash, len(c.SecretHash), err)
	}
	if uerr != nil || !strings.HasPrefix(u.PasswordHash, "$argon2id$") {
		t.Fatalf("jane after login: %.12q…, %v", u.PasswordHash, uerr)
	}
	for _, what := range []string{"user", "client"} {
		out, errOut, code = cli(t, "", what, "import", "--config", cfg, "--db", db, filepath.Join(dir, what+"s.jsonl"))
		if code != 0 || !strings.Contains(out, "nothing to do") {
			t.Fatalf("second %s import: %d\n%s%s", what, code, out, errOut)
		}
	}
}

// passportSchema is Laravel's users table and Passport's oauth_clients
// table as Laravel's schema builder creates them on SQLite from their
// migrations (2014_10_12_000000_create_users_table and Passport's
// 2016_06_01_000004_create_oauth_clients_table); Passport itself is not
// packaged for Debian.
const passportSchema = `
create table "users" ("id" integer primary key autoincrement not null, "name" varchar not null, "email" varchar not null, "email_verified_at" datetime, "password" varchar not null, "remember_token" varchar, "created_at" datetime, "updated_at" datetime);
create unique index "users_email_unique" on "users" ("email");
create table "oauth_clients" ("id" integer primary key autoincrement not null, "user_id" integer, "name" varchar not null, "secret" varchar, "provider" varchar, "redirect" text not null, "personal_access_client" tinyint(1) not null, "password_client" tinyint(1) not null, "revoked" tinyint(1) not null, "created_at" datetime, "updated_at" datetime);
create index "oauth_clients_user_id_index" on "oauth_clients" ("user_id");
`

// laravelHash is Hash::make: Laravel's BcryptHasher from Debian's
// php-laravel-framework when installed, else PHP's password_hash (which
// BcryptHasher calls with the same default cost).
const laravelHash = `<?php
$f = '/usr/share/php/Illuminate/Hashing/autoload.php';
if (is_file($f)) {
    require $f;
    echo (new Illuminate\Hashing\BcryptHasher())->make($argv[1]);
} else {
    echo password_hash($argv[1], PASSWORD_BCRYPT);
}
`

// TestLaravelGuideExportImportLogin runs docs/migrate/laravel-passport.md
// on Passport's tables: users with Hash::make passwords, a password
// client with a plaintext secret, a client_credentials client with a
// Hash::make secret (Passport::hashClientSecrets), a public password
// client, and a personal access and a revoked client the export leaves
// out. After the guide's sqlite3 exports and both imports, the Passport
// example config serves Passport's own requests with the existing
// passwords and secrets; the bcrypt secret is SHA-256 after its first
// authentication.
func TestLaravelGuideExportImportLogin(t *testing.T) {
	php := peerTool(t, "php")
	sqlite3 := peerTool(t, "sqlite3")
	if _, err := os.Stat("/usr/share/php/Illuminate/Hashing/autoload.php"); err != nil && os.Getenv("TOKENGATE_TEST_PEERS") == "1" {
		t.Fatal("Laravel's BcryptHasher (Debian's php-laravel-framework) is missing; scripts/with-python-peers.sh installs it")
	}
	const (
		password = "t4ylor's pässword"
		plain    = "PassportPlaintextSecret0123456789abcdefgh"
		hashed   = "PassportHashedSecret0123456789abcdefghijk"
	)
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "database"), 0o700); err != nil {
		t.Fatal(err)
	}
	hashScript := filepath.Join(dir, "hash.php")
	if err := os.WriteFile(hashScript, []byte(laravelHash), 0o600); err != nil {
		t.Fatal(err)
	}
	hash := func(s string) string {
		out, err := exec.Command(php, hashScript, s).CombinedOutput()
		if err != nil || !strings.HasPrefix(string(out), "$2y$10$") {
			t.Fatalf("Hash::make: %v %q", err, out)
		}
		return string(out)
	}
	q := func(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
	sql := passportSchema + `
insert into users (name, email, password) values ('Taylor', 'taylor@example.com', ` + q(hash(password)) + `);
insert into oauth_clients (id, name, secret, redirect, personal_access_client, password_client, revoked) values
  (1, 'Mobile', ` + q(plain) + `, 'http://localhost', 0, 1, 0),
  (2, 'Batch', ` + q(hash(hashed)) + `, '', 0, 0, 0),
  (3, 'SPA', NULL, 'http://localhost', 0, 1, 0),
  (4, 'Personal Access Client', ` + q(plain) + `, 'http://localhost', 1, 0, 0),
  (5, 'Revoked', ` + q(plain) + `, '', 0, 0, 1);
`
	cmd := exec.Command(sqlite3, filepath.Join(dir, "database", "database.sqlite"))
	cmd.Stdin = strings.NewReader(sql)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("creating Passport's tables: %v\n%s", err, out)
	}
	for _, line := range guideCommands(t, "laravel-passport.md", "sqlite3 database/database.sqlite ") {
		runIn(t, dir, line)
	}

	db := filepath.Join(dir, "tg.db")
	cfg := filepath.Join("..", "..", "examples", "laravel-passport", "tokengate.yaml")
	out, errOut, code := cli(t, "", "user", "import", "--config", cfg, "--db", db, filepath.Join(dir, "users.jsonl"))
	if code != 0 || !strings.Contains(out, "1 created, 0 unchanged, 0 refused") {
		t.Fatalf("user import: %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = cli(t, "", "client", "import", "--config", cfg, "--db", db, filepath.Join(dir, "clients.jsonl"))
	if code != 0 || !strings.Contains(out, "3 created, 0 unchanged, 0 refused") {
		t.Fatalf("client import: %d\n%s%s", code, out, errOut)
	}
	if all := out + errOut; strings.Contains(all, plain) || strings.Contains(all, "$2y$") {
		t.Fatal("the import printed a secret or hash")
	}

	p := startServer(t, "--config", cfg, "--db", db)
	passport := func(body string) exchange {
		return send(t, "POST", p.base+"/oauth/token", "application/json", body, map[string]string{"Accept": "application/json"})
	}
	if e := passport(`{"grant_type":"password","client_id":"1","client_secret":"` + plain + `","username":"taylor@example.com","password":"` + password + `"}`); e.status != 200 || e.str("refresh_token") == "" {
		t.Fatalf("password grant, confidential client: %d %s", e.status, e.raw)
	}
	if e := passport(`{"grant_type":"password","client_id":"3","username":"taylor@example.com","password":"` + password + `"}`); e.status != 200 {
		t.Fatalf("password grant, public client: %d %s", e.status, e.raw)
	}
	for _, id := range []string{"4", "5"} {
		if e := passport(`{"grant_type":"client_credentials","client_id":"` + id + `","client_secret":"` + plain + `"}`); e.status != 401 {
			t.Fatalf("client %s (left out) authenticated: %d %s", id, e.status, e.raw)
		}
	}
	for i := range 2 {
		if e := passport(`{"grant_type":"client_credentials","client_id":"2","client_secret":"` + hashed + `x"}`); e.status != 401 {
			t.Fatalf("hashed client, wrong secret: %d %s", e.status, e.raw)
		}
		if e := passport(`{"grant_type":"client_credentials","client_id":"2","client_secret":"` + hashed + `"}`); e.status != 200 || e.str("access_token") == "" {
			t.Fatalf("hashed client, authentication %d: %d %s", i+1, e.status, e.raw)
		}
	}
	p.stop(t)
	st, err := sqlite.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	c, err := st.GetClient(context.Background(), "2")
	st.Close()
	if err != nil || c.LegacySecretHash != "" || len(c.SecretHash) != 32 {
		t.Fatalf("client 2 after authenticating: legacy %.7q…, %d-byte hash, %v; want the SHA-256 only", c.LegacySecretHash, len(c.SecretHash), err)
	}
	out, errOut, code = cli(t, "", "client", "import", "--config", cfg, "--db", db, filepath.Join(dir, "clients.jsonl"))
	if code != 0 || !strings.Contains(out, "nothing to do") {
		t.Fatalf("second client import: %d\n%s%s", code, out, errOut)
	}
}

// fastapiUsers makes the full-stack FastAPI template's user table (as
// SQLModel creates it on SQLite) with passwords hashed as the template
// does: passlib's CryptContext(schemes=["bcrypt"]).
const fastapiUsers = `
import sqlite3, sys, uuid
from passlib.context import CryptContext
ctx = CryptContext(schemes=["bcrypt"], deprecated="auto")
db = sqlite3.connect(sys.argv[1])
db.execute('CREATE TABLE "user" (email VARCHAR(255) NOT NULL, is_active BOOLEAN NOT NULL, is_superuser BOOLEAN NOT NULL, full_name VARCHAR(255), id CHAR(32) NOT NULL, hashed_password VARCHAR NOT NULL, PRIMARY KEY (id))')
db.execute('CREATE UNIQUE INDEX ix_user_email ON "user" (email)')
for email, active in [("alice@example.com", 1), ("gone@example.com", 0)]:
    db.execute('INSERT INTO "user" VALUES (?, ?, 0, NULL, ?, ?)', (email, active, uuid.uuid4().hex, ctx.hash(sys.argv[2])))
db.commit()
`

// TestFastAPIGuideExportImportLogin runs docs/migrate/fastapi.md's
// SQLite export on the template's user table with passlib bcrypt hashes,
// imports, and logs in at the FastAPI example's login endpoint with the
// existing password (an inactive user stays out).
func TestFastAPIGuideExportImportLogin(t *testing.T) {
	py := peerPy(t, "passlib.context")
	peerTool(t, "sqlite3")
	const password = "fästapi password"
	dir := t.TempDir()
	script := filepath.Join(dir, "users.py")
	if err := os.WriteFile(script, []byte(fastapiUsers), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(py, script, filepath.Join(dir, "app.db"), password).CombinedOutput(); err != nil {
		t.Fatalf("making the user table: %v\n%s", err, out)
	}
	for _, line := range guideCommands(t, "fastapi.md", "sqlite3 app.db ") {
		runIn(t, dir, line)
	}
	db := filepath.Join(dir, "tg.db")
	cfg := filepath.Join("..", "..", "examples", "fastapi", "tokengate.yaml")
	if out, errOut, code := cli(t, "", "user", "import", "--config", cfg, "--db", db, filepath.Join(dir, "users.jsonl")); code != 0 || !strings.Contains(out, "2 created") {
		t.Fatalf("user import: %d\n%s%s", code, out, errOut)
	}
	p := startServer(t, "--config", cfg, "--db", db)
	login := func(user string) exchange {
		return send(t, "POST", p.base+"/auth/access-token", "application/x-www-form-urlencoded", url.Values{"username": {user}, "password": {password}}.Encode(), nil)
	}
	if e := login("alice@example.com"); e.status != 200 || e.str("access_token") == "" {
		t.Fatalf("login with the passlib hash: %d %s", e.status, e.raw)
	}
	if e := login("gone@example.com"); e.status == 200 {
		t.Fatalf("inactive user logged in: %s", e.raw)
	}
}

// springSchema is JdbcUserDetailsManager's default schema
// (org/springframework/security/core/userdetails/jdbc/users.ddl), filled
// with hashes published in Spring Security's PasswordEncoderFactoriesTests
// (internal/secret/testdata/vectors-published.jsonl), both of "password".
const springSchema = `
create table users(username varchar_ignorecase(50) not null primary key,password varchar(500) not null,enabled boolean not null);
create table authorities (username varchar_ignorecase(50) not null,authority varchar_ignorecase(50) not null,constraint fk_authorities_users foreign key(username) references users(username));
create unique index ix_auth_username on authorities (username,authority);
insert into users values ('bcrypt-user', '{bcrypt}$2a$10$dXJ3SW6G7P50lGmMkkmwe.20cQQubK3.HZWzG3YB1tlRy.fqvM/BG', 1);
insert into users values ('pbkdf2-user', '{pbkdf2}5d923b44a6d129f3ddf3e3c8d29412723dcbde72445e8ef6bf3b508fbf17fa4ed4d6b99ca763d8dc', 1);
insert into users values ('disabled-user', '{bcrypt}$2a$10$dXJ3SW6G7P50lGmMkkmwe.20cQQubK3.HZWzG3YB1tlRy.fqvM/BG', 0);
insert into authorities values ('bcrypt-user', 'SCOPE_profile');
insert into authorities values ('bcrypt-user', 'ROLE_USER');
insert into authorities values ('pbkdf2-user', 'SCOPE_profile');
create table oauth_client_details (client_id VARCHAR(256) PRIMARY KEY, resource_ids VARCHAR(256), client_secret VARCHAR(256), scope VARCHAR(256), authorized_grant_types VARCHAR(256), web_server_redirect_uri VARCHAR(256), authorities VARCHAR(256), access_token_validity INTEGER, refresh_token_validity INTEGER, additional_information VARCHAR(4096), autoapprove VARCHAR(256));
insert into oauth_client_details (client_id, client_secret, scope, authorized_grant_types) values ('batch', '{bcrypt}$2a$10$dXJ3SW6G7P50lGmMkkmwe.20cQQubK3.HZWzG3YB1tlRy.fqvM/BG', 'profile', 'client_credentials');
insert into oauth_client_details (client_id, client_secret, scope, authorized_grant_types) values ('mobile', '{noop}mobile-plaintext-secret', 'profile,email', 'password,refresh_token');
insert into oauth_client_details (client_id, client_secret, scope, authorized_grant_types, web_server_redirect_uri) values ('web', '{noop}web-secret', 'profile', 'authorization_code,refresh_token', 'https://app.example/cb');
`

// TestSpringGuideExportImportLogin runs docs/migrate/spring-oauth2.md's
// SQLite export on JdbcUserDetailsManager's tables, imports, and logs in
// through the Spring example's token endpoint with {bcrypt} and {pbkdf2}
// hashes; SCOPE_ authorities become scopes, a disabled user stays out.
func TestSpringGuideExportImportLogin(t *testing.T) {
	sqlite3 := peerTool(t, "sqlite3")
	dir := t.TempDir()
	cmd := exec.Command(sqlite3, filepath.Join(dir, "app.db"))
	cmd.Stdin = strings.NewReader(springSchema)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, line := range guideCommands(t, "spring-oauth2.md", "sqlite3 app.db ") {
		runIn(t, dir, line)
	}
	db := filepath.Join(dir, "tg.db")
	cfg := filepath.Join("..", "..", "examples", "spring-oauth2", "tokengate.yaml")
	if out, errOut, code := cli(t, "", "user", "import", "--config", cfg, "--db", db, filepath.Join(dir, "users.jsonl")); code != 0 || !strings.Contains(out, "3 created") {
		t.Fatalf("user import: %d\n%s%s", code, out, errOut)
	}
	if out, errOut, code := cli(t, "", "client", "import", "--config", cfg, "--db", db, filepath.Join(dir, "clients.jsonl")); code != 0 || !strings.Contains(out, "2 created, 0 unchanged, 0 refused") {
		t.Fatalf("client import: %d\n%s%s", code, out, errOut)
	}
	p := startServer(t, "--config", cfg, "--db", db)
	// The {bcrypt} client secret (Spring's published vector of "password").
	for i := range 2 {
		if st, b := post(t, p.base, "/auth/oauth/token", url.Values{"grant_type": {"client_credentials"}}, "batch", "password"); st != 200 || b["scope"] != "profile" {
			t.Fatalf("batch client, authentication %d: %d %v", i+1, st, b)
		}
	}
	if st, b := post(t, p.base, "/auth/oauth/token", url.Values{"grant_type": {"password"}, "username": {"bcrypt-user"}, "password": {"password"}}, "mobile", "mobile-plaintext-secret"); st != 200 {
		t.Fatalf("{noop} client: %d %v", st, b)
	}
	for _, u := range []string{"bcrypt-user", "pbkdf2-user", "disabled-user"} {
		st, b := post(t, p.base, "/auth/oauth/token", url.Values{"grant_type": {"password"}, "username": {u}, "password": {"password"}}, "demo-client", "demo-secret")
		if u == "disabled-user" {
			if st != 400 {
				t.Fatalf("disabled user: %d %v", st, b)
			}
			continue
		}
		if st != 200 || b["scope"] != "profile" {
			t.Fatalf("%s: %d %v", u, st, b)
		}
	}
}

// TestDatarheiGuideImportLogin: datarhei Core keeps its one user in its
// config file (api.auth.username/password, plaintext). The guide's
// command gives that password to tokengate from the environment (as
// CORE_API_AUTH_* set it), and the Core example's /api/login takes it.
func TestDatarheiGuideImportLogin(t *testing.T) {
	dir := t.TempDir()
	// The fields of datarhei Core's config.json that hold the user.
	coreConfig := `{"version": 3, "api": {"auth": {"enable": true, "username": "admin", "password": "core pässword 42"}}}`
	var conf struct {
		API struct {
			Auth struct{ Username, Password string } `json:"auth"`
		} `json:"api"`
	}
	if err := json.Unmarshal([]byte(coreConfig), &conf); err != nil {
		t.Fatal(err)
	}
	lines := guideCommands(t, "datarhei-core.md", "printf ")
	db := filepath.Join(dir, "tg.db")
	cfg, _ := filepath.Abs(filepath.Join("..", "..", "examples", "datarhei-core", "tokengate.yaml"))
	line := strings.Replace(lines[0], "| tokengate ", "| "+binPath+" ", 1)
	line = strings.Replace(line, "examples/datarhei-core/tokengate.yaml", cfg, 1)
	line = strings.Replace(line, "/var/lib/tokengate/tokengate.db", db, 1)
	cmd := exec.Command("sh", "-c", line)
	cmd.Env = append(os.Environ(), "CORE_API_AUTH_USERNAME="+conf.API.Auth.Username, "CORE_API_AUTH_PASSWORD="+conf.API.Auth.Password, "TOKENGATE_DB=", "TOKENGATE_CONFIG=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", line, err, out)
	}
	p := startServer(t, "--config", cfg, "--db", db)
	body, _ := json.Marshal(map[string]string{"username": conf.API.Auth.Username, "password": conf.API.Auth.Password})
	if e := send(t, "POST", p.base+"/api/login", "application/json", string(body), nil); e.status != 200 || e.str("access_token") == "" {
		t.Fatalf("login with Core's password: %d %s", e.status, e.raw)
	}
}
