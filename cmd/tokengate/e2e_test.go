package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binPath is the tokengate binary built once for the end-to-end tests.
var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tokengate-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "tokengate")
	build := exec.Command("go", "build", "-o", binPath, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building tokengate:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// freeAddr returns a loopback address with a port free right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// proc is a running tokengate server started by a test.
type proc struct {
	cmd    *exec.Cmd
	addr   string
	base   string
	stderr *bytes.Buffer
	done   chan error
}

// startServer runs `tokengate serve` and waits for /readyz.
func startServer(t *testing.T, args ...string) *proc {
	t.Helper()
	return startServerAt(t, freeAddr(t), args...)
}

// startServerAt is startServer on a given address.
func startServerAt(t *testing.T, addr string, args ...string) *proc {
	t.Helper()
	p := &proc{addr: addr, base: "http://" + addr, stderr: &bytes.Buffer{}, done: make(chan error, 1)}
	p.cmd = exec.Command(binPath, append([]string{"serve", "--addr", addr}, args...)...)
	p.cmd.Stderr = p.stderr
	p.cmd.Stdout = io.Discard
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() { p.stop(t) })
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(p.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		select {
		case err := <-p.done:
			t.Fatalf("server exited early: %v\n%s", err, p.stderr)
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("server not ready\n%s", p.stderr)
	return nil
}

// stop sends SIGTERM and waits for a clean exit.
func (p *proc) stop(t *testing.T) {
	if p.cmd.ProcessState != nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		if err != nil {
			t.Errorf("server exit: %v\n%s", err, p.stderr)
		}
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		t.Errorf("server did not stop on SIGTERM")
	}
}

// syncBuffer is a bytes.Buffer safe to read while a process writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// cli runs a tokengate admin command with stdin.
func cli(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(binPath, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
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

func post(t *testing.T, base, path string, vals url.Values, id, secret string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequestWithContext(context.Background(), "POST", base+path, strings.NewReader(vals.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if id != "" {
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body
}

const e2eConfig = `
password_hashing: {memory_kib: 1024, time: 1}
bootstrap:
  users:
    - {username: alice, password: alice-pw, scopes: [read]}
  clients:
    - {id: app, secret: app-secret, grants: [password, refresh_token, client_credentials, "urn:tokengate:params:oauth:grant-type:api-key"], scopes: [read]}
`

// e2eServer is a server on e2eConfig and a new SQLite database in a
// temporary directory.
type e2eServer struct {
	*proc
	dir, cfgPath, db string
}

// startE2E writes e2eConfig and serves it on a new database.
func startE2E(t *testing.T) e2eServer {
	t.Helper()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "tokengate.yaml")
	if err := os.WriteFile(cfgPath, []byte(e2eConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	db := "sqlite:" + filepath.Join(dir, "tg.db")
	return e2eServer{proc: startServer(t, "--config", cfgPath, "--db", db), dir: dir, cfgPath: cfgPath, db: db}
}

func TestEndToEnd(t *testing.T) {
	srv := startE2E(t)
	p, cfgPath, db := srv.proc, srv.cfgPath, srv.db

	// Every grant over real HTTP.
	st, tok := post(t, p.base, "/oauth/token", url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"alice-pw"}}, "app", "app-secret")
	if st != 200 {
		t.Fatalf("password grant: %d %v", st, tok)
	}
	rt := tok["refresh_token"].(string)
	st, tok2 := post(t, p.base, "/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, "app", "app-secret")
	if st != 200 {
		t.Fatalf("refresh grant: %d %v", st, tok2)
	}
	rt2 := tok2["refresh_token"].(string)
	if st, b := post(t, p.base, "/oauth/token", url.Values{"grant_type": {"client_credentials"}}, "app", "app-secret"); st != 200 || b["refresh_token"] != nil {
		t.Fatalf("client_credentials: %d %v", st, b)
	}

	// The CLI on the same database while the server runs.
	if _, e, code := cli(t, "bob-pw\n", "user", "add", "bob", "--scopes", "read", "--db", db, "--config", cfgPath); code != 0 {
		t.Fatalf("user add: %d %s", code, e)
	}
	if _, e, code := cli(t, "x\n", "user", "add", "bob", "--db", db, "--config", cfgPath); code == 0 || !strings.Contains(e, "exists") {
		t.Fatalf("duplicate user add: %d %s", code, e)
	}
	out, e, code := cli(t, "", "user", "list", "--json", "--db", db)
	if code != 0 || !strings.Contains(out, `"username": "bob"`) {
		t.Fatalf("user list: %d %s %s", code, out, e)
	}
	if strings.Contains(out, "argon2") {
		t.Fatal("user list leaks password hashes")
	}
	out, e, code = cli(t, "", "client", "add", "svc", "--grants", "client_credentials", "--scopes", "read", "--db", db)
	if code != 0 {
		t.Fatalf("client add: %d %s", code, e)
	}
	var svcSecret string
	for _, line := range strings.Split(out, "\n") {
		if s, ok := strings.CutPrefix(line, "client_secret: "); ok {
			svcSecret = s
		}
	}
	if len(svcSecret) < 43 {
		t.Fatalf("no generated secret in %q", out)
	}
	if st, b := post(t, p.base, "/oauth/token", url.Values{"grant_type": {"client_credentials"}}, "svc", svcSecret); st != 200 {
		t.Fatalf("new client login: %d %v", st, b)
	}
	if _, e, code := cli(t, "imported-secret\n", "client", "add", "legacy", "--grants", "client_credentials", "--secret-stdin", "--db", db); code != 0 {
		t.Fatalf("client add --secret-stdin: %s", e)
	}
	if st, _ := post(t, p.base, "/oauth/token", url.Values{"grant_type": {"client_credentials"}}, "legacy", "imported-secret"); st != 200 {
		t.Fatalf("imported secret login: %d", st)
	}
	if _, e, code := cli(t, "", "client", "add", "bad", "--grants", "implicit", "--db", db); code == 0 || !strings.Contains(e, "implicit") {
		t.Fatalf("unknown grant accepted: %d %s", code, e)
	}
	out, _, code = cli(t, "", "client", "list", "--json", "--db", db)
	var clients []map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &clients) != nil || len(clients) != 3 {
		t.Fatalf("client list: %s", out)
	}

	// API key: create, exchange, list, revoke.
	out, e, code = cli(t, "", "apikey", "create", "--user", "bob", "--scope", "read", "--expires", "90d", "--name", "ci", "--db", db)
	if code != 0 {
		t.Fatalf("apikey create: %s", e)
	}
	var key, keyID string
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "tg_") {
			key = line
		}
		if s, ok := strings.CutPrefix(line, "api key "); ok {
			keyID = strings.Fields(s)[0]
		}
	}
	if key == "" || keyID == "" {
		t.Fatalf("apikey create output: %q", out)
	}
	if st, b := post(t, p.base, "/oauth/token", url.Values{"grant_type": {"urn:tokengate:params:oauth:grant-type:api-key"}, "api_key": {key}}, "app", "app-secret"); st != 200 || b["scope"] != "read" || b["refresh_token"] != nil {
		t.Fatalf("api key exchange: %d %v", st, b)
	}
	out, _, _ = cli(t, "", "apikey", "list", "--json", "--db", db)
	if !strings.Contains(out, keyID) || strings.Contains(out, key) || !strings.Contains(out, `"owner": "user:bob"`) {
		t.Fatalf("apikey list: %s", out)
	}
	if _, e, code := cli(t, "", "apikey", "revoke", keyID, "--db", db); code != 0 {
		t.Fatalf("apikey revoke: %s", e)
	}
	if st, _ := post(t, p.base, "/oauth/token", url.Values{"grant_type": {"urn:tokengate:params:oauth:grant-type:api-key"}, "api_key": {key}}, "app", "app-secret"); st != 400 {
		t.Fatalf("revoked api key still works: %d", st)
	}

	// Revocation and introspection.
	at := tok2["access_token"].(string)
	if st, b := post(t, p.base, "/oauth/introspect", url.Values{"token": {at}}, "app", "app-secret"); st != 200 || b["active"] != true {
		t.Fatalf("introspect: %d %v", st, b)
	}

	// Restart (same address, so the same issuer): tokens issued before
	// still verify and refresh after it.
	p.stop(t)
	p = startServerAt(t, p.addr, "--config", cfgPath, "--db", db)
	if st, b := post(t, p.base, "/oauth/introspect", url.Values{"token": {at}}, "app", "app-secret"); st != 200 || b["active"] != true {
		t.Fatalf("access token after restart: %d %v", st, b)
	}
	st, tok3 := post(t, p.base, "/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt2}}, "app", "app-secret")
	if st != 200 {
		t.Fatalf("refresh after restart: %d %v", st, tok3)
	}

	// Key rotation: the old key stays published, new tokens use the new key.
	if _, e, code := cli(t, "", "keys", "rotate", "--db", db, "--config", cfgPath); code != 0 {
		t.Fatalf("keys rotate: %s", e)
	}
	out, _, _ = cli(t, "", "keys", "list", "--json", "--db", db, "--config", cfgPath)
	var keys []map[string]any
	if json.Unmarshal([]byte(out), &keys) != nil || len(keys) != 4 { // the default and the ID token key, each rotated
		t.Fatalf("keys list: %s", out)
	}

	// token revoke --user and user disable end sessions.
	st, bobTok := post(t, p.base, "/oauth/token", url.Values{"grant_type": {"password"}, "username": {"bob"}, "password": {"bob-pw"}}, "app", "app-secret")
	if st != 200 {
		t.Fatalf("bob login: %d %v", st, bobTok)
	}
	out, e, code = cli(t, "", "token", "revoke", "--user", "bob", "--db", db)
	if code != 0 || !strings.Contains(out, "revoked 1") {
		t.Fatalf("token revoke: %d %s %s", code, out, e)
	}
	if st, _ := post(t, p.base, "/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {bobTok["refresh_token"].(string)}}, "app", "app-secret"); st != 400 {
		t.Fatalf("refresh after token revoke: %d", st)
	}
	aliceRT := tok3["refresh_token"].(string)
	if _, e, code := cli(t, "", "user", "disable", "alice", "--db", db); code != 0 {
		t.Fatalf("user disable: %s", e)
	}
	if st, b := post(t, p.base, "/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {aliceRT}}, "app", "app-secret"); st != 400 {
		t.Fatalf("disabled user refreshed: %d %v", st, b)
	}
	if st, _ := post(t, p.base, "/oauth/token", url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"alice-pw"}}, "app", "app-secret"); st != 400 {
		t.Fatalf("disabled user logged in: %d", st)
	}

	// No secret reached the logs.
	p.stop(t)
	logs := p.stderr.String()
	for _, s := range []string{"alice-pw", "app-secret", svcSecret, key, rt, at} {
		if strings.Contains(logs, s) {
			t.Fatalf("log contains a secret: %q", s)
		}
	}
}

func TestCLIMistakesExitNonZero(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "tg.db")
	cases := [][]string{
		{"bogus"},
		{"user"},
		{"user", "frobnicate", "--db", db},
		{"user", "add", "--db", db},
		{"user", "disable", "ghost", "--db", db},
		{"client", "add", "x", "--db", db},
		{"apikey", "create", "--db", db},
		{"apikey", "create", "--user", "ghost", "--db", db},
		{"apikey", "create", "--user", "u", "--expires", "soon", "--db", db},
		{"token", "revoke", "--db", db},
		// connect_retry=0s: one attempt, not DefaultConnectRetry (10s) of them.
		{"serve", "--db", "postgres://u:hunter2@localhost/x?connect_retry=0s"},
		{"serve", "--db", "mysql://x"},
	}
	for _, args := range cases {
		_, e, code := cli(t, "", args...)
		if code == 0 {
			t.Errorf("%v: exit 0", args)
		}
		if strings.TrimSpace(e) == "" {
			t.Errorf("%v: no message on stderr", args)
		}
		if strings.Contains(e, "hunter2") {
			t.Errorf("%v: password of a DSN printed", args)
		}
	}
}

func TestConfigMistakeFailsAtStart(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.yaml")
	os.WriteFile(cfg, []byte("routes:\n  - path: /t\n    endpoint: token\n  - path: /t\n    endpoint: token\n"), 0o600)
	_, e, code := cli(t, "", "serve", "--config", cfg, "--db", filepath.Join(dir, "x.db"), "--addr", freeAddr(t))
	if code == 0 || !strings.Contains(e, cfg+":4") || !strings.Contains(e, "already served") {
		t.Fatalf("duplicate path: %d %s", code, e)
	}
	os.WriteFile(cfg, []byte("routes:\n  - path: /t\n    endpoint: teleport\n"), 0o600)
	_, e, code = cli(t, "", "serve", "--config", cfg, "--db", filepath.Join(dir, "x.db"), "--addr", freeAddr(t))
	if code == 0 || !strings.Contains(e, cfg+":3") || !strings.Contains(e, "teleport") {
		t.Fatalf("unknown endpoint: %d %s", code, e)
	}
	os.WriteFile(cfg, []byte("routes:\n  - path: /t\n    endpoint: jwks\n    default_client: x\n"), 0o600)
	_, e, code = cli(t, "", "serve", "--config", cfg, "--db", filepath.Join(dir, "x.db"), "--addr", freeAddr(t))
	if code == 0 || !strings.Contains(e, cfg+":4") || !strings.Contains(e, "default_client") {
		t.Fatalf("inapplicable option: %d %s", code, e)
	}
}

func TestDevModePrintsCredentialsOnce(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	cmd := exec.Command(binPath, "serve", "--dev", "--addr", addr, "--db", filepath.Join(dir, "dev.db"))
	var out syncBuffer // read below while exec's goroutine writes to it
	cmd.Stdout, cmd.Stderr = &out, io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "token endpoint") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	_ = cmd.Wait()
	var sec, pw string
	for _, f := range strings.Fields(out.String()) {
		if s, ok := strings.CutPrefix(f, "CLIENT_SECRET="); ok {
			sec = s
		}
		if s, ok := strings.CutPrefix(f, "PASSWORD="); ok {
			pw = s
		}
	}
	if sec == "" || pw == "" {
		t.Fatalf("dev credentials not printed: %s", out.String())
	}
	p := startServer(t, "--dev", "--db", filepath.Join(dir, "dev.db"))
	if st, b := post(t, p.base, "/oauth/token", url.Values{"grant_type": {"password"}, "username": {"dev"}, "password": {pw}}, "dev-client", sec); st != 200 {
		t.Fatalf("dev login: %d %v", st, b)
	}
}
