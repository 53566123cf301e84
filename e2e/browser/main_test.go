package browser

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

// binPath is the tokengate binary built once by TestMain.
var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tokengate-browser")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "tokengate")
	build := exec.Command("go", "build", "-o", binPath, "github.com/tokengate/tokengate/cmd/tokengate")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building tokengate:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// required reports whether the browser tests must run (make test, through
// scripts/with-chromium.sh): then a missing tool or feature fails the test
// instead of skipping it.
func required() bool { return os.Getenv("TOKENGATE_TEST_BROWSER") == "1" }

// skipOrFail skips the test with the reason, or fails it when the browser
// tests are required.
func skipOrFail(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if required() {
		t.Fatalf("%s (TOKENGATE_TEST_BROWSER=1: the browser tests must run)", msg)
	}
	t.Skip(msg)
}

// missingFeature skips or fails a test whose server feature is not there:
// the message names the feature and the branch that brings it.
func missingFeature(t *testing.T, feature, evidence string) {
	t.Helper()
	skipOrFail(t, "tokengate lacks %s: %s", feature, evidence)
}

// server is a running tokengate binary started by a test, with its
// SQLite database and config, on 127.0.0.1.
type server struct {
	base   string // http://127.0.0.1:PORT, also the issuer
	db     string
	config string
	cmd    *exec.Cmd
	stderr *syncBuffer
	done   chan error
}

// testConfig keeps password hashing cheap: the tests measure flows, not
// argon2id.
const testConfig = `
password_hashing: {memory_kib: 1024, time: 1}
`

// startServer writes the config (testConfig and extra, such as a bootstrap
// section), runs `tokengate serve` on a free loopback port and waits for
// /readyz. The server stops when the test ends.
func startServer(t *testing.T, extra string) *server {
	t.Helper()
	dir := t.TempDir()
	s := &server{
		db:     "sqlite:" + filepath.Join(dir, "tg.db"),
		config: filepath.Join(dir, "tokengate.yaml"),
		stderr: &syncBuffer{},
		done:   make(chan error, 1),
	}
	if err := os.WriteFile(s.config, []byte(testConfig+extra), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	s.base = "http://" + addr
	s.cmd = exec.Command(binPath, "serve", "--addr", addr, "--config", s.config, "--db", s.db)
	s.cmd.Stdout, s.cmd.Stderr = io.Discard, s.stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.done <- s.cmd.Wait() }()
	t.Cleanup(func() { s.stop(t) })
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(s.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		select {
		case err := <-s.done:
			t.Fatalf("tokengate exited early: %v\n%s", err, s.stderr)
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("tokengate not ready\n%s", s.stderr)
	return nil
}

// stop sends SIGTERM and waits for a clean exit; on failure it prints the
// server's log, which the test's messages may need.
func (s *server) stop(t *testing.T) {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("tokengate exit: %v", err)
		}
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
		t.Errorf("tokengate did not stop on SIGTERM")
	}
	if t.Failed() {
		t.Logf("tokengate log:\n%s", s.stderr)
	}
}

// cli runs a tokengate command on the server's database and config.
func (s *server) cli(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(binPath, append(args, "--db", s.db, "--config", s.config)...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// addUser creates a password user with the CLI.
func (s *server) addUser(t *testing.T, username, password, scopes string) {
	t.Helper()
	if _, e, code := s.cli(t, password+"\n", "user", "add", username, "--scopes", scopes); code != 0 {
		t.Fatalf("user add %s: exit %d: %s", username, code, e)
	}
}

// addClient runs `tokengate client add ID ARGS...` and returns the
// generated secret ("" for a public client). A refused grant name means
// the feature that brings it is not in this binary: the test then skips
// (or fails under TOKENGATE_TEST_BROWSER=1) naming the feature.
func (s *server) addClient(t *testing.T, feature, id string, args ...string) string {
	t.Helper()
	out, e, code := s.cli(t, "", append([]string{"client", "add", id}, args...)...)
	if code != 0 {
		if strings.Contains(e, "flag provided but not defined") || strings.Contains(e, "unknown grant") || strings.Contains(e, "not a grant") {
			missingFeature(t, feature, fmt.Sprintf("`tokengate client add %s %s` says: %s", id, strings.Join(args, " "), strings.TrimSpace(e)))
		}
		t.Fatalf("client add %s %v: exit %d: %s", id, args, code, e)
	}
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, "client_secret: "); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// requireEndpoint checks that GET path is routed (not 404): the probe
// that tells a missing feature from a broken one.
func (s *server) requireEndpoint(t *testing.T, feature, method, path string) {
	t.Helper()
	req, _ := http.NewRequest(method, s.base+path, nil)
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound || (resp.StatusCode == http.StatusMethodNotAllowed && method == http.MethodGet) {
		missingFeature(t, feature, fmt.Sprintf("%s %s answers %d", method, path, resp.StatusCode))
	}
}

// noRedirect is an HTTP client that returns redirects instead of following
// them.
var noRedirect = &http.Client{
	Timeout:       10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// tokenRequest posts a form to the token endpoint (or another endpoint)
// with HTTP Basic client authentication when secret is set, or client_id
// in the body for a public client, and decodes the JSON answer.
func tokenRequest(t *testing.T, endpoint string, form url.Values, clientID, secret string) (int, map[string]any) {
	t.Helper()
	st, body, err := postForm(context.Background(), endpoint, form, clientID, secret)
	if err != nil {
		t.Fatal(err)
	}
	return st, body
}

// postForm is tokenRequest for goroutines: it returns its error.
func postForm(ctx context.Context, endpoint string, form url.Values, clientID, secret string) (int, map[string]any, error) {
	vals := url.Values{}
	for k, v := range form {
		vals[k] = v
	}
	if secret == "" && clientID != "" && vals.Get("client_id") == "" {
		vals.Set("client_id", clientID)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(vals.Encode()))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if secret != "" {
		req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(secret))
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("POST %s: %w", endpoint, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, fmt.Errorf("POST %s: %w", endpoint, err)
	}
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		body = map[string]any{"_raw": string(raw)}
	}
	return resp.StatusCode, body, nil
}

// str is the string field of a JSON object, or "".
func str(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}

// freeAddr returns a loopback address with a port free right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
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

// clientApp is the test's loopback "client app": the redirect target of
// the authorization responses. Each request to /callback is sent on got.
type clientApp struct {
	base string
	got  chan url.Values
}

// redirectURI is the callback address registered for the test's clients.
func (a *clientApp) redirectURI() string { return a.base + "/callback" }

// startClientApp serves /callback on 127.0.0.1 until the test ends.
func startClientApp(t *testing.T) *clientApp {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	app := &clientApp{base: "http://" + ln.Addr().String(), got: make(chan url.Values, 8)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /callback", func(w http.ResponseWriter, r *http.Request) {
		app.got <- r.URL.Query()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, `<!doctype html><title>client app</title><p id="client-app">signed in</p>`)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return app
}

// noCallback fails when the client app received an authorization response
// it should not have.
func (a *clientApp) noCallback(t *testing.T, when string) {
	t.Helper()
	select {
	case q := <-a.got:
		t.Fatalf("%s: the client app received an authorization response %v", when, q)
	default:
	}
}
