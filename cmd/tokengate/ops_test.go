package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestVersionPrintsBuildInfo(t *testing.T) {
	for _, arg := range []string{"version", "--version"} {
		out, errOut, code := cli(t, "", arg)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", arg, code, errOut)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 3 || !strings.HasPrefix(lines[0], "tokengate ") || !strings.HasPrefix(lines[1], "commit ") || lines[2] != runtime.Version() {
			t.Fatalf("%s printed %q", arg, out)
		}
	}
	if _, _, code := cli(t, "", "version", "extra"); code != 2 {
		t.Fatalf("version with an argument: exit %d, want 2", code)
	}
}

// TestBackupUnderRefreshLoadRestores takes an online backup while
// sessions refresh as fast as they can, then serves the backup and shows
// that it verifies an access token it signed and refreshes the session
// state it holds.
func TestBackupUnderRefreshLoadRestores(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "tg.yaml")
	if err := os.WriteFile(cfg, []byte("issuer: https://auth.example.test\n"+e2eConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "live.db")
	p := startServer(t, "--config", cfg, "--db", db)

	// Each session is a chain of refresh tokens, newest last; a token
	// enters the chain only once its 200 has been received.
	const sessions = 4
	chains := make([][]string, sessions)
	var access string
	for i := range chains {
		st, b := post(t, p.base, "/oauth/token", url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"alice-pw"}}, "app", "app-secret")
		if st != 200 {
			t.Fatalf("login: %d %v", st, b)
		}
		chains[i] = []string{b["refresh_token"].(string)}
		access = b["access_token"].(string)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	rotations := 0
	for i := range chains {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				mu.Lock()
				rt := chains[i][len(chains[i])-1]
				mu.Unlock()
				st, b, err := tryPost(p.base, "/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, "app", "app-secret")
				if err != nil || st != 200 {
					t.Errorf("refresh under load: %d %v %v", st, b, err)
					return
				}
				mu.Lock()
				chains[i] = append(chains[i], b["refresh_token"].(string))
				rotations++
				mu.Unlock()
			}
		}()
	}
	// Let the load run, back up in the middle of it, let it run on.
	waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return rotations >= 50 })
	backup := filepath.Join(dir, "backup.db")
	if _, errOut, code := cli(t, "", "backup", "--db", db, backup); code != 0 {
		t.Fatalf("backup: exit %d: %s", code, errOut)
	}
	mu.Lock()
	atBackup := rotations
	mu.Unlock()
	waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return rotations >= atBackup+50 })
	close(stop)
	wg.Wait()
	p.stop(t)

	fi, err := os.Stat(backup)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("backup mode %v, want 0600", fi.Mode().Perm())
	}
	if _, _, code := cli(t, "", "backup", "--db", db, backup); code == 0 {
		t.Error("backup over an existing file succeeded; want a refusal")
	}

	r := startServer(t, "--config", cfg, "--db", backup)
	st, b := post(t, r.base, "/oauth/introspect", url.Values{"token": {access}}, "app", "app-secret")
	if st != 200 || b["active"] != true {
		t.Fatalf("restored server does not verify an access token of the backup: %d %v", st, b)
	}
	// Per session, tokens issued after the snapshot are unknown to the
	// backup (refused without side effects); the newest one the backup
	// knows must refresh.
	for i, chain := range chains {
		ok := false
		for j := len(chain) - 1; j >= 0 && !ok; j-- {
			st, b := post(t, r.base, "/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {chain[j]}}, "app", "app-secret")
			switch {
			case st == 200:
				ok = true
				if j == len(chain)-1 {
					t.Errorf("session %d: the newest token, issued after the backup, refreshed on the backup", i)
				}
			case b["error_description"] != "refresh token is invalid":
				t.Fatalf("session %d token %d/%d: %d %v (want unknown until the backup's current token)", i, j, len(chain), st, b)
			}
		}
		if !ok {
			t.Errorf("session %d: no token of the chain refreshed on the restored server", i)
		}
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 30 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestStaticBinaryServesFromAnEmptyRoot builds the binary as the
// Dockerfile does (CGO_ENABLED=0) and runs it chrooted in a directory
// holding nothing but the binary and an empty data directory: it starts,
// creates its database, answers its own healthcheck and issues a token.
func TestStaticBinaryServesFromAnEmptyRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chroot needs root; `make test` runs as root in CI")
	}
	root := t.TempDir()
	bin := filepath.Join(root, "tokengate")
	build := exec.Command("go", "build", "-trimpath", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("static build: %v\n%s", err, out)
	}
	if out, err := exec.Command("ldd", bin).CombinedOutput(); err == nil || !strings.Contains(string(out), "not a dynamic executable") {
		t.Fatalf("binary is not static: %s", out)
	}
	if err := os.Mkdir(filepath.Join(root, "data"), 0o700); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	chrooted := func(args ...string) *exec.Cmd {
		c := exec.Command("/tokengate", args...)
		c.SysProcAttr = &syscall.SysProcAttr{Chroot: root}
		c.Dir = "/"
		c.Env = []string{"TOKENGATE_ADDR=" + addr, "TOKENGATE_DB=/data/tokengate.db"}
		return c
	}
	srv := chrooted("serve", "--dev")
	var out syncBuffer
	srv.Stdout, srv.Stderr = &out, &out
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Wait() }()
	defer func() {
		_ = srv.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = srv.Process.Kill()
		}
	}()
	deadline := time.Now().Add(20 * time.Second)
	for {
		hc := chrooted("healthcheck")
		if err := hc.Run(); err == nil {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("server exited: %v\n%s", err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("healthcheck never passed\n%s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	var sec string
	for _, f := range strings.Fields(out.String()) {
		if s, ok := strings.CutPrefix(f, "CLIENT_SECRET="); ok {
			sec = s
		}
	}
	if sec == "" {
		t.Fatalf("no dev credentials printed:\n%s", out.String())
	}
	st, b := post(t, "http://"+addr, "/oauth/token", url.Values{"grant_type": {"client_credentials"}}, "dev-client", sec)
	if st != 200 || b["access_token"] == nil {
		t.Fatalf("token from the chrooted server: %d %v", st, b)
	}
	if _, err := os.Stat(filepath.Join(root, "data", "tokengate.db")); err != nil {
		t.Fatalf("database not created in the data directory: %v", err)
	}
	// A stopped server fails the healthcheck.
	_ = srv.Process.Signal(syscall.SIGTERM)
	<-done
	if err := chrooted("healthcheck", "--timeout", "1s").Run(); err == nil {
		t.Fatal("healthcheck passed with no server")
	}
}

// TestAccessLogAndMetricsListener checks the access log (one JSON line
// per request with route, status, duration in milliseconds, client IP,
// client_id and request id, and no secret) and the separate metrics_addr
// listener that takes /metrics off the main one.
func TestAccessLogAndMetricsListener(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "tg.yaml")
	metricsAddr := freeAddr(t)
	yaml := "log: {format: json, level: info}\nmetrics_addr: " + metricsAddr + "\n" + e2eConfig
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startServer(t, "--config", cfg, "--db", filepath.Join(dir, "tg.db"))

	do := func(method, u, reqID string, body url.Values) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, u, strings.NewReader(body.Encode()))
		if body != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth("app", "app-secret")
		}
		if reqID != "" {
			req.Header.Set("X-Request-Id", reqID)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	resp := do("POST", p.base+"/oauth/token", "trace-42", url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"alice-pw"}})
	if resp.StatusCode != 200 || resp.Header.Get("X-Request-Id") != "trace-42" {
		t.Fatalf("token: %d, X-Request-Id %q (want the caller's trace-42)", resp.StatusCode, resp.Header.Get("X-Request-Id"))
	}
	resp = do("GET", p.base+"/healthz", "bad id with spaces", nil)
	if got := resp.Header.Get("X-Request-Id"); len(got) != 24 || strings.Contains(got, " ") {
		t.Fatalf("an implausible X-Request-Id must be replaced by a generated one, got %q", got)
	}
	if resp := do("GET", p.base+"/metrics", "", nil); resp.StatusCode != 404 {
		t.Fatalf("/metrics on the main listener with metrics_addr set: %d, want 404", resp.StatusCode)
	}
	if resp := do("GET", "http://"+metricsAddr+"/metrics", "", nil); resp.StatusCode != 200 {
		t.Fatalf("/metrics on metrics_addr: %d", resp.StatusCode)
	}
	if resp := do("GET", "http://"+metricsAddr+"/readyz", "", nil); resp.StatusCode != 200 {
		t.Fatalf("/readyz on metrics_addr: %d", resp.StatusCode)
	}
	if resp := do("POST", "http://"+metricsAddr+"/oauth/token", "", url.Values{"grant_type": {"client_credentials"}}); resp.StatusCode != 404 {
		t.Fatalf("the token endpoint must not be on metrics_addr: %d", resp.StatusCode)
	}
	p.stop(t)

	var found bool
	for _, line := range strings.Split(p.stderr.String(), "\n") {
		if strings.Contains(line, "alice-pw") || strings.Contains(line, "app-secret") {
			t.Errorf("a secret reached the log: %s", line)
		}
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) != nil || rec["msg"] != "request" || rec["request_id"] != "trace-42" {
			continue
		}
		found = true
		if rec["level"] != "INFO" || rec["method"] != "POST" || rec["route"] != "/oauth/token" || rec["status"] != float64(200) ||
			rec["client_id"] != "app" || rec["ip"] != "127.0.0.1" {
			t.Errorf("access log line: %s", line)
		}
		if d, ok := rec["duration_ms"].(float64); !ok || d <= 0 || d > 10000 {
			t.Errorf("duration_ms %v in %s", rec["duration_ms"], line)
		}
	}
	if !found {
		t.Fatalf("no access log line for the token request:\n%s", p.stderr.String())
	}
}

// TestHelpExitsZero: asking for help is not a mistake; every command and
// subcommand prints its usage and exits 0.
func TestHelpExitsZero(t *testing.T) {
	for _, args := range [][]string{
		{"--help"}, {"serve", "--help"}, {"migrate", "-h"}, {"user", "--help"}, {"user", "add", "--help"},
		{"client", "--help"}, {"client", "add", "-h"}, {"apikey", "create", "--help"}, {"keys", "--help"},
		{"keys", "rotate", "--help"}, {"backup", "--help"}, {"healthcheck", "--help"}, {"version", "--help"},
	} {
		out, errOut, code := cli(t, "", args...)
		if code != 0 || !strings.Contains(out+errOut, "usage") && !strings.Contains(out+errOut, "Usage") {
			t.Errorf("%v: exit %d, output %q %q", args, code, out, errOut)
		}
	}
}

// TestAdminAPIListenerChoice: admin_api puts the admin API on the main
// listener (default), only on the metrics_addr listener, or nowhere.
func TestAdminAPIListenerChoice(t *testing.T) {
	status := func(u string) int {
		t.Helper()
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, tc := range []struct {
		setting       string
		withMetrics   bool
		onMain, onOps int
	}{
		{"", false, 200, 0},
		{"admin_api: metrics", true, 404, 200},
		{"admin_api: off", true, 404, 404},
	} {
		dir := t.TempDir()
		cfg := filepath.Join(dir, "tg.yaml")
		metricsAddr := freeAddr(t)
		yaml := tc.setting + "\n"
		if tc.withMetrics {
			yaml += "metrics_addr: " + metricsAddr + "\n"
		}
		if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		p := startServer(t, "--config", cfg, "--db", filepath.Join(dir, "tg.db"))
		if got := status(p.base + "/admin/v1/openapi.json"); got != tc.onMain {
			t.Errorf("%q: main listener answered %d, want %d", tc.setting, got, tc.onMain)
		}
		if tc.withMetrics {
			if got := status("http://" + metricsAddr + "/admin/v1/openapi.json"); got != tc.onOps {
				t.Errorf("%q: metrics listener answered %d, want %d", tc.setting, got, tc.onOps)
			}
		}
		p.stop(t)
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "tg.yaml")
	if err := os.WriteFile(cfg, []byte("admin_api: metrics\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := cli(t, "", "serve", "--config", cfg, "--addr", freeAddr(t), "--db", filepath.Join(dir, "tg.db")); code == 0 || !strings.Contains(errOut, "admin_api") {
		t.Fatalf("admin_api: metrics without metrics_addr: exit %d, %s", code, errOut)
	}
}
