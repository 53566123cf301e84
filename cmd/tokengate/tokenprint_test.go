package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// runEnv runs the binary with extra environment variables.
func runEnv(t *testing.T, env []string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(binPath, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader("")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return out.String(), errb.String(), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), 0
}

func TestTokenPrintCachesAndResumes(t *testing.T) {
	srv := startE2E(t)
	p, dir := srv.proc, srv.dir
	home := filepath.Join(dir, "home")
	env := []string{"XDG_CONFIG_HOME=" + home, "HOME=" + home, "TOKENGATE_URL=" + p.base,
		"TOKENGATE_CLIENT_ID=app", "TOKENGATE_CLIENT_SECRET=app-secret", "TOKENGATE_USERNAME=alice", "TOKENGATE_PASSWORD=alice-pw"}
	out, e, code := runEnv(t, env, "token")
	if code != 0 || strings.Count(strings.TrimSpace(out), ".") != 2 {
		t.Fatalf("token: %d %q %s", code, out, e)
	}
	files, _ := filepath.Glob(filepath.Join(home, "tokengate", "tokens-*.json"))
	if len(files) != 1 {
		t.Fatalf("cache files: %v", files)
	}
	st, err := os.Stat(files[0])
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("cache file mode: %v %v", st.Mode(), err)
	}
	data, _ := os.ReadFile(files[0])
	if strings.Contains(string(data), "alice-pw") || strings.Contains(string(data), "app-secret") {
		t.Fatal("cache holds credentials")
	}
	// A wrong password now still works: the cached session is resumed
	// without a login.
	env2 := append(append([]string{}, env[:len(env)-1]...), "TOKENGATE_PASSWORD=wrong")
	out2, e, code := runEnv(t, env2, "token", "print")
	if code != 0 || strings.TrimSpace(out2) != strings.TrimSpace(out) {
		t.Fatalf("resumed token differs or failed: %d %s", code, e)
	}
	if _, e, code := runEnv(t, env, "token", "logout"); code != 0 {
		t.Fatalf("logout: %s", e)
	}
	if _, err := os.Stat(files[0]); !os.IsNotExist(err) {
		t.Fatal("logout left the cache")
	}
	// Without a cache, a wrong password fails with the server's error.
	_, e, code = runEnv(t, env2, "token")
	if code == 0 || !strings.Contains(e, "invalid_grant") || strings.Contains(e, "wrong") {
		t.Fatalf("bad credentials: %d %s", code, e)
	}
	if _, e, code := runEnv(t, []string{"TOKENGATE_URL="}, "token"); code == 0 || !strings.Contains(e, "--url") {
		t.Fatalf("no url: %d %s", code, e)
	}
}

// Two `tokengate token` runs that find the cached session expired at once
// refresh it once between them (the cache is locked and re-read), and a
// run with the user name but no password resumes the cached session.
func TestTokenPrintConcurrentRunsRefreshOnce(t *testing.T) {
	srv := startE2E(t)
	p, dir := srv.proc, srv.dir
	home := filepath.Join(dir, "home")
	env := []string{"XDG_CONFIG_HOME=" + home, "HOME=" + home, "TOKENGATE_URL=" + p.base,
		"TOKENGATE_CLIENT_ID=app", "TOKENGATE_CLIENT_SECRET=app-secret", "TOKENGATE_USERNAME=alice"}
	if out, e, code := runEnv(t, append(env, "TOKENGATE_PASSWORD=alice-pw"), "token"); code != 0 {
		t.Fatalf("login: %d %q %s", code, out, e)
	}
	files, _ := filepath.Glob(filepath.Join(home, "tokengate", "tokens-*.json"))
	if len(files) != 1 {
		t.Fatalf("cache files: %v", files)
	}
	// Make the cached access token look expired.
	var saved map[string]any
	b, _ := os.ReadFile(files[0])
	if err := json.Unmarshal(b, &saved); err != nil {
		t.Fatal(err)
	}
	saved["expiry"] = time.Now().Add(-time.Minute).Format(time.RFC3339)
	b, _ = json.Marshal(saved)
	if err := os.WriteFile(files[0], b, 0o600); err != nil {
		t.Fatal(err)
	}
	outs := make([]string, 2)
	errs := make([]string, 2)
	codes := make([]int, 2)
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Go(func() { outs[i], errs[i], codes[i] = runEnv(t, env, "token") })
	}
	wg.Wait()
	for i := range 2 {
		if codes[i] != 0 {
			t.Fatalf("run %d: %d %s", i, codes[i], errs[i])
		}
	}
	if outs[0] != outs[1] || strings.TrimSpace(outs[0]) == saved["access_token"] {
		t.Fatal("the two runs hold different sessions, or none was renewed")
	}
}

// TestTokenPrintUsesACachedTokenOnlyIfItSatisfiesTheScope: a cached
// session with scope read does not answer `--scope "read write"`; a wider
// one answers a narrower request.
func TestTokenPrintUsesACachedTokenOnlyIfItSatisfiesTheScope(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "tokengate.yaml")
	conf := strings.ReplaceAll(e2eConfig, "scopes: [read]", "scopes: [read, write]")
	if err := os.WriteFile(cfgPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startServer(t, "--config", cfgPath, "--db", filepath.Join(dir, "tg.db"))
	cache := filepath.Join(dir, "cache.json")
	env := []string{"TOKENGATE_URL=" + p.base, "TOKENGATE_CLIENT_ID=app", "TOKENGATE_CLIENT_SECRET=app-secret",
		"TOKENGATE_USERNAME=alice", "TOKENGATE_PASSWORD=alice-pw"}
	scopeOf := func(args ...string) (string, string) {
		t.Helper()
		out, e, code := runEnv(t, env, append([]string{"token", "--cache", cache}, args...)...)
		if code != 0 {
			t.Fatalf("token %v: %d %s", args, code, e)
		}
		tok := strings.TrimSpace(out)
		b, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
		var c struct{ Scope string }
		_ = json.Unmarshal(b, &c)
		return tok, c.Scope
	}
	if _, sc := scopeOf("--scope", "read"); sc != "read" {
		t.Fatalf("first token scope %q", sc)
	}
	wide, sc := scopeOf("--scope", "read write")
	if sc != "read write" {
		t.Fatalf("--scope 'read write' printed a cached token with scope %q", sc)
	}
	if again, _ := scopeOf("--scope", "read"); again != wide {
		t.Fatal("a cached token with more scopes than asked was not reused")
	}
}
