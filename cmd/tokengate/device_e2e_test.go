package main

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/internal/devicepage"
	"github.com/tokengate/tokengate/internal/devicepage/devicepagetest"
	"github.com/tokengate/tokengate/internal/servertest"
)

var devicePrompt = regexp.MustCompile(`open (\S+) and enter the code ([A-Z]{4}-[A-Z]{4})`)

// TestTokenDeviceEndToEnd runs `tokengate token --device` (the real
// binary) against the real server handler on 127.0.0.1 with a stand-in
// login session: the binary prints the verification URI and user code
// on stderr, a goroutine approves the code on the verification page as
// the signed-in person's browser would, and the binary, polling at the
// server's interval, prints the access token and caches the session.
func TestTokenDeviceEndToEnd(t *testing.T) {
	sessions := devicepagetest.New()
	sessions.Add("s-alice", devicepage.Identity{UserID: "alice", Username: "alice", AuthTime: time.Now()})
	s := servertest.Start(t, `
password_hashing: {memory_kib: 1024, time: 1}
bootstrap:
  users: [{username: alice, password: alice-pw, scopes: [read]}]
  clients: [{id: cli, public: true, grants: ["urn:ietf:params:oauth:grant-type:device_code", refresh_token], scopes: [read]}]
`, servertest.Options{DeviceSessions: sessions})
	home := filepath.Join(t.TempDir(), "home")
	env := append(os.Environ(), "XDG_CONFIG_HOME="+home, "HOME="+home, "TOKENGATE_URL="+s.URL, "TOKENGATE_CLIENT_ID=cli")

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, "token", "--device")
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout = &out
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	approved := make(chan error, 1)
	var errText strings.Builder
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		line := sc.Text()
		errText.WriteString(line + "\n")
		if m := devicePrompt.FindStringSubmatch(line); m != nil {
			if m[1] != s.URL+"/device" {
				t.Errorf("verification URI %q", m[1])
			}
			go func() { approved <- devicepagetest.Decide(ctx, s.Client(), m[1], "s-alice", m[2], "cli", true) }()
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("token --device: %v\n%s", err, errText.String())
	}
	select {
	case err := <-approved:
		if err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatalf("no prompt on stderr:\n%s", errText.String())
	}
	tok := strings.TrimSpace(out.String())
	if strings.Count(tok, ".") != 2 || strings.Contains(errText.String(), tok) {
		t.Fatalf("stdout %q", out.String())
	}
	// The session is cached: a second run prints a token without asking.
	out2, e, code := runEnv(t, []string{"XDG_CONFIG_HOME=" + home, "HOME=" + home, "TOKENGATE_URL=" + s.URL, "TOKENGATE_CLIENT_ID=cli"}, "token", "--device")
	if code != 0 || strings.Count(strings.TrimSpace(out2), ".") != 2 || strings.Contains(e, "enter the code") {
		t.Fatalf("cached run: %d %q %s", code, out2, e)
	}
	// User credentials are refused with --device.
	if _, e, code := runEnv(t, []string{"TOKENGATE_URL=" + s.URL, "TOKENGATE_CLIENT_ID=cli", "TOKENGATE_USERNAME=alice"}, "token", "--device"); code != 2 || !strings.Contains(e, "--device") {
		t.Fatalf("--device with a username: %d %s", code, e)
	}
}
