package client_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokengate/tokengate/internal/config"
	"github.com/tokengate/tokengate/internal/server"
	"github.com/tokengate/tokengate/internal/servertest"
)

// This file starts a real tokengate (the server's handler behind
// httptest) for the tests. Its issuer is its own URL; it may run on a fake
// clock shared with the clients under test; it counts requests by path
// and by grant type.

// clock is a settable clock.
type clock = servertest.Clock

func newClock() *clock { return servertest.NewClock(time.Now()) }

type tokengate struct {
	URL string
	srv *server.Server

	mu     sync.Mutex
	counts map[string]int
}

// count returns how many requests matched key: "METHOD /path", or
// "grant:TYPE" for token requests carrying a grant_type.
func (tg *tokengate) count(key string) int {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return tg.counts[key]
}

const baseConfig = `
password_hashing: {memory_kib: 1024, time: 1}
brute_force: {disabled: true}
audience: api://orders
bootstrap:
  users:
    - {username: alice, password: alice-pw, scopes: [read, write]}
  clients:
    - {id: app, secret: app-secret, grants: [password, refresh_token, client_credentials, "urn:tokengate:params:oauth:grant-type:api-key"], scopes: [read, write, svc], access_token_ttl: 2s, refresh_token_ttl: 10s}
    - {id: svc, secret: svc-secret, grants: [client_credentials], scopes: [svc], access_token_ttl: 2s}
    - {id: spa, public: true, grants: [password, refresh_token], scopes: [read], access_token_ttl: 2s}
  api_keys:
    - {name: ci, key: my-imported-key, user: alice, scopes: [read]}
`

// startTokengate serves yaml on a fresh SQLite database. now may be nil;
// adjust, when set, edits the parsed config (e.g. to shorten lifetimes).
func startTokengate(t *testing.T, yaml string, now func() time.Time, adjust func(*config.Config)) *tokengate {
	t.Helper()
	cfg, err := config.Parse("test.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return startConfig(t, cfg, now, adjust)
}

func startConfig(t *testing.T, cfg config.Config, now func() time.Time, adjust func(*config.Config)) *tokengate {
	t.Helper()
	tg := &tokengate{counts: map[string]int{}}
	s := servertest.StartConfig(t, cfg, servertest.Options{Now: now, Adjust: adjust, Observe: tg.record})
	tg.URL, tg.srv = s.URL, s.Srv
	return tg
}

// startExample serves examples/NAME/tokengate.yaml with fast password
// hashing, no lock-outs and adjust applied.
func startExample(t *testing.T, name string, now func() time.Time, adjust func(*config.Config)) *tokengate {
	t.Helper()
	file := "../examples/" + name + "/tokengate.yaml"
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("example %s: %v", name, err)
	}
	cfg, err := config.Parse(file, b)
	if err != nil {
		t.Fatal(err)
	}
	cfg.PasswordHashing.MemoryKiB, cfg.PasswordHashing.Time = 1024, 1
	cfg.BruteForce.Disabled = true
	return startConfig(t, cfg, now, adjust)
}

// record counts a request, reading the grant type of token requests.
func (tg *tokengate) record(r *http.Request) {
	keys := []string{r.Method + " " + r.URL.Path}
	if r.Body != nil && r.Method == http.MethodPost {
		b, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(b))
		var grant string
		if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			var m map[string]any
			_ = json.Unmarshal(b, &m)
			grant, _ = m["grant_type"].(string)
		} else if v, err := url.ParseQuery(string(b)); err == nil {
			grant = v.Get("grant_type")
		}
		if grant != "" {
			keys = append(keys, "grant:"+grant)
		}
	}
	tg.mu.Lock()
	for _, k := range keys {
		tg.counts[k]++
	}
	tg.mu.Unlock()
}

// post sends a form with Basic client authentication.
func (tg *tokengate) post(t *testing.T, path, id, secret string, form url.Values) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, tg.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return resp.StatusCode, out
}
