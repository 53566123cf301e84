package server_test

import (
	"bytes"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/internal/config"
	"github.com/tokengate/tokengate/internal/servertest"
)

// syncBuffer collects log output.
type syncBuffer struct {
	mu  chan struct{}
	buf bytes.Buffer
}

func newSyncBuffer() *syncBuffer { return &syncBuffer{mu: make(chan struct{}, 1)} }

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu <- struct{}{}
	defer func() { <-b.mu }()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu <- struct{}{}
	defer func() { <-b.mu }()
	return b.buf.String()
}

// startExample serves examples/NAME/tokengate.yaml, with adjust applied,
// logging to the returned buffer.
func startExample(t *testing.T, name string, adjust func(*config.Config)) (*testServer, *syncBuffer) {
	t.Helper()
	file := "../../examples/" + name + "/tokengate.yaml"
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(file, data)
	if err != nil {
		t.Fatal(err)
	}
	cfg.PasswordHashing.MemoryKiB, cfg.PasswordHashing.Time = 1024, 1
	if adjust != nil {
		adjust(&cfg)
	}
	logs := newSyncBuffer()
	s := servertest.StartConfig(t, cfg, servertest.Options{Issuer: testIssuer, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	return &testServer{Server: s.Server, srv: s.Srv}, logs
}

// TestConfidentialClientsAuthenticateToRefresh: a refresh family is bound
// to its client, and a route that refreshes with the token alone
// (refresh_client_auth: none) refreshes only the sessions of its public
// default client: a session a confidential client opened with its secret
// cannot be refreshed there without that secret (RFC 6749 §6, RFC 6819
// §5.2.2.2).
func TestConfidentialClientsAuthenticateToRefresh(t *testing.T) {
	ts, logs := startExample(t, "fastapi", nil)
	login := func(extra url.Values) string {
		v := url.Values{"username": {"username_example"}, "password": {"password_example"}}
		for k, vs := range extra {
			v[k] = vs
		}
		a := ts.do(t, "POST", "/auth/access-token", form, v.Encode(), nil)
		if a.status != 200 || a.str("refresh_token") == "" {
			t.Fatalf("login: %d %s", a.status, a.raw)
		}
		return a.str("refresh_token")
	}
	refresh := func(rt string) answer {
		return ts.do(t, "POST", "/auth/refresh-token", "application/json", `{"refresh_token":"`+rt+`"}`, nil)
	}
	confidential := login(url.Values{"client_id": {"client_id_example"}, "client_secret": {"client_secret_example"}})
	if a := refresh(confidential); a.status != 401 || !strings.Contains(a.raw, "client authentication") {
		t.Fatalf("refreshing a confidential client's session with the token alone: %d %s, want 401", a.status, a.raw)
	}
	public := login(nil)
	if a := refresh(public); a.status != 200 || a.str("access_token") == "" {
		t.Fatalf("refreshing the public default client's session: %d %s", a.status, a.raw)
	}
	if !strings.Contains(logs.String(), "refresh_client_auth") || !strings.Contains(logs.String(), "level=WARN") {
		t.Errorf("no start-up warning about refresh_client_auth: none:\n%s", logs.String())
	}
}

// TestRefreshWithTheTokenAloneIsExplicit: a token-only refresh route
// without refresh_client_auth: none, or without a public default client,
// does not start.
func TestRefreshWithTheTokenAloneIsExplicit(t *testing.T) {
	for _, tc := range []struct {
		name, route, want string
	}{
		{"option missing", `{path: /r, endpoint: fastapi.refresh, default_client: pub}`, "refresh_client_auth"},
		{"default client missing", `{path: /r, endpoint: datarhei.refresh, refresh_client_auth: none}`, "default_client"},
		{"option on the token endpoint", `{path: /t, endpoint: token, refresh_client_auth: none}`, "does not apply"},
		{"unknown value", `{path: /r, endpoint: fastapi.refresh, default_client: pub, refresh_client_auth: basic}`, "none"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			yaml := "routes:\n  - " + tc.route + "\nbootstrap:\n  clients:\n    - {id: pub, public: true, grants: [password, refresh_token]}\n"
			cfg, err := config.Parse("test.yaml", []byte(yaml))
			if err != nil {
				t.Fatal(err)
			}
			err = servertest.TryStartConfig(t, cfg, servertest.Options{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one naming %q", err, tc.want)
			}
		})
	}
}

// TestStartWarnsWhenSigningKeysAreUnencrypted: without a master key the
// database holds the private signing keys in the clear; the start says so.
func TestStartWarnsWhenSigningKeysAreUnencrypted(t *testing.T) {
	for _, mk := range []string{"", "a master key of enough length for the test"} {
		logs := newSyncBuffer()
		servertest.Start(t, "password_hashing: {memory_kib: 1024, time: 1}\n", servertest.Options{
			Logger: slog.New(slog.NewTextHandler(logs, nil)), Adjust: func(c *config.Config) { c.MasterKey = mk }})
		warned := strings.Contains(logs.String(), "level=WARN") && strings.Contains(logs.String(), "stored unencrypted")
		if warned != (mk == "") {
			t.Errorf("master key set %v: warned = %v, logs:\n%s", mk != "", warned, logs.String())
		}
	}
}
