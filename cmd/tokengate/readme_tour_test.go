package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestREADMETourRunsAsPasted runs the README's curl tour, as a reader
// pastes it, against `serve --dev`: the credentials from the export lines
// the server prints, every other variable set by the tour itself. Only the
// server address and `go run ./cmd/tokengate` (this test's binary) are
// substituted.
func TestREADMETourRunsAsPasted(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed; the tour is a curl tour")
	}
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	tour := regexp.MustCompile("(?s)## A tour with curl.*?```sh\n(.*?)```").FindSubmatch(readme)
	if tour == nil {
		t.Fatal("README has no tour")
	}
	script := string(tour[1])
	if !strings.Contains(script, "T=http://127.0.0.1:8080\n") || !strings.Contains(script, "go run ./cmd/tokengate ") {
		t.Fatalf("the tour's shape changed; update this test:\n%s", script)
	}
	dir := t.TempDir()
	db := filepath.Join(dir, "dev.db")
	addr := freeAddr(t)
	srv := exec.Command(binPath, "serve", "--dev", "--addr", addr, "--db", db)
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
		case <-time.After(15 * time.Second):
			_ = srv.Process.Kill()
		}
	}()
	deadline := time.Now().Add(15 * time.Second)
	for !ready("http://" + addr) {
		if time.Now().After(deadline) {
			t.Fatalf("server not ready:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	var exports []string
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.HasPrefix(line, "export ") {
			exports = append(exports, line)
		}
	}
	if len(exports) != 2 {
		t.Fatalf("serve --dev printed %d export lines, want 2:\n%s", len(exports), out.String())
	}
	script = strings.Replace(script, "T=http://127.0.0.1:8080\n", "T=http://"+addr+"\n", 1)
	script = strings.ReplaceAll(script, "go run ./cmd/tokengate ", binPath+" ")
	cmd := exec.Command("bash", "-c", strings.Join(exports, "\n")+"\nset -u\n"+script)
	cmd.Env = append(os.Environ(), "TOKENGATE_DB="+db)
	res, err := cmd.CombinedOutput()
	got := string(res)
	if err != nil {
		t.Fatalf("the tour failed: %v\n%s", err, got)
	}
	for _, want := range []string{`"refresh_token":"tgr_`, `"token_type":"Bearer"`, `"active":true`, `"jwks_uri"`, `"keys"`, `"status":"ready"`,
		`tokengate_grants_total{grant="urn:tokengate:params:oauth:grant-type:api-key",outcome="ok"} 1`,
		`tokengate_grants_total{grant="refresh_token",outcome="ok"} 1`} {
		if !strings.Contains(got, want) {
			t.Errorf("the tour's output lacks %s:\n%s", want, got)
		}
	}
	if strings.Contains(got, `"error"`) {
		t.Errorf("a tour request failed:\n%s", got)
	}
}
