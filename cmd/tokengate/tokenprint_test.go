package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
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
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "tokengate.yaml")
	if err := os.WriteFile(cfgPath, []byte(e2eConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startServer(t, "--config", cfgPath, "--db", filepath.Join(dir, "tg.db"))
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
