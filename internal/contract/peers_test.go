package contract_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/internal/servertest"
)

// Differential tests: each runs the real framework a contract example
// imitates (Django OAuth Toolkit 1.7, FastAPI) on 127.0.0.1 beside
// tokengate serving the example's config, sends both the same requests
// and compares what a client can rely on: statuses, content types, JSON
// keys, error codes and the effects of revocation; never token values or
// wording. scripts/with-python-peers.sh installs the frameworks from
// Debian's packages and sets TOKENGATE_TEST_PEERS=1 (make test does), and
// then a framework that cannot run fails the test; elsewhere it skips.

// peerTimeout bounds each differential test as a whole.
const peerTimeout = 2 * time.Minute

// peerPython returns the interpreter that has Debian's packages (the
// system one, not a pyenv or venv shim that may come first in PATH), or
// skips (fails under TOKENGATE_TEST_PEERS=1) when it cannot import them.
func peerPython(t *testing.T, modules string) string {
	t.Helper()
	py := os.Getenv("TOKENGATE_PEER_PYTHON")
	if py == "" {
		py = "/usr/bin/python3"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, py, "-c", "import "+modules).CombinedOutput()
	if err != nil {
		reason := fmt.Sprintf("%s cannot import %s (%v: %s); run the tests through scripts/with-python-peers.sh (make test does)", py, modules, err, strings.TrimSpace(string(out)))
		if os.Getenv("TOKENGATE_TEST_PEERS") == "1" {
			t.Fatal(reason)
		}
		t.Skip("differential test skipped: " + reason)
	}
	return py
}

// startPeer runs a peer script (testdata/peers) that prints "READY PORT"
// once it listens on 127.0.0.1, and returns its base URL. The process is
// killed when the test ends.
func startPeer(t *testing.T, ctx context.Context, py, script string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(ctx, py, append([]string{filepath.Join("testdata", "peers", script)}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", script, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if port, ok := strings.CutPrefix(sc.Text(), "READY "); ok {
				ready <- port
				break
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case port := <-ready:
		return "http://127.0.0.1:" + port
	case <-time.After(60 * time.Second):
		t.Fatalf("%s not ready after 60s: %s", script, stderr.String())
	case <-ctx.Done():
		t.Fatalf("%s: %v: %s", script, ctx.Err(), stderr.String())
	}
	return ""
}

// exampleConfig reads examples/NAME/tokengate.yaml, with cheap password
// hashing for the test.
func exampleConfig(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "examples", name, "tokengate.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return "password_hashing: {memory_kib: 1024, time: 1}\n" + string(b)
}

// side is one of the two servers compared, with the tokens it issued.
type side struct {
	name   string
	base   string
	tokens map[string]string
}

// reply is what a client sees of an answer.
type reply struct {
	status int
	media  string // media type without parameters
	body   map[string]any
	list   []any // a JSON array body
	raw    string
}

type request struct {
	method, path string
	contentType  string
	body         string
	basic        [2]string // client id and secret for HTTP Basic, when set
}

func (s *side) do(t *testing.T, ctx context.Context, r request) reply {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, r.method, s.base+r.path, strings.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	if r.contentType != "" {
		req.Header.Set("Content-Type", r.contentType)
	}
	if r.basic[0] != "" {
		req.SetBasicAuth(r.basic[0], r.basic[1])
	}
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s %s: %v", s.name, r.method, r.path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	out := reply{status: resp.StatusCode, raw: string(b)}
	out.media, _, _ = mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if out.media == "application/json" {
		var v any
		if err := json.Unmarshal(b, &v); err == nil {
			switch v := v.(type) {
			case map[string]any:
				out.body = v
			case []any:
				out.list = v
			}
		}
	}
	return out
}

func (r reply) str(k string) string { s, _ := r.body[k].(string); return s }

func keys(m map[string]any) []string { return slices.Sorted(maps.Keys(m)) }

// differ lists how tokengate's reply differs from the framework's, in
// what a client can rely on. values names body fields whose values (not
// secrets) must match too.
func differ(real, tg reply, values ...string) []string {
	var d []string
	if real.status != tg.status {
		d = append(d, fmt.Sprintf("status %d, framework %d", tg.status, real.status))
	}
	if real.media != tg.media {
		d = append(d, fmt.Sprintf("content type %q, framework %q", tg.media, real.media))
	}
	if real.body != nil || tg.body != nil {
		// error_description is optional wording (RFC 6749 §5.2).
		delete(real.body, "error_description")
		delete(tg.body, "error_description")
		if rk, tk := keys(real.body), keys(tg.body); !slices.Equal(rk, tk) {
			d = append(d, fmt.Sprintf("JSON keys %v, framework %v", tk, rk))
		}
		for _, k := range append([]string{"error"}, values...) {
			if fmt.Sprint(real.body[k]) != fmt.Sprint(tg.body[k]) {
				d = append(d, fmt.Sprintf("%s %v, framework %v", k, tg.body[k], real.body[k]))
			}
		}
	}
	if real.media != "application/json" && real.media == tg.media && (real.raw == "") != (tg.raw == "") {
		d = append(d, fmt.Sprintf("body %q, framework %q", tg.raw, real.raw))
	}
	return d
}

// step is one request sent to both sides, compared by check (differ by
// default); run may record tokens on each side.
type step struct {
	name  string
	req   func(s *side) request
	check func(real, tg reply) []string
	after func(s *side, r reply)
}

// runSteps sends every step to both sides. known maps a step name to the
// issue item that will make tokengate answer alike: such a difference is
// logged, not failed, and a known difference that went away fails so that
// its entry is removed.
func runSteps(t *testing.T, ctx context.Context, real, tg *side, steps []step, known map[string]string) {
	t.Helper()
	alike := 0
	for _, st := range steps {
		var replies [2]reply
		for i, s := range []*side{real, tg} {
			replies[i] = s.do(t, ctx, st.req(s))
			if st.after != nil {
				st.after(s, replies[i])
			}
		}
		check := st.check
		if check == nil {
			check = func(a, b reply) []string { return differ(a, b) }
		}
		d := check(replies[0], replies[1])
		why, isKnown := known[st.name]
		switch {
		case len(d) == 0 && isKnown:
			t.Errorf("%s: now answered alike; remove it from the known differences (%s)", st.name, why)
		case len(d) == 0:
			alike++
		case isKnown:
			t.Logf("%s: known difference (%s): %s", st.name, why, strings.Join(d, "; "))
		default:
			t.Errorf("%s: tokengate differs from %s: %s\n  %s: %d %s\n  tokengate: %d %s", st.name, real.name, strings.Join(d, "; "),
				real.name, replies[0].status, replies[0].raw, replies[1].status, replies[1].raw)
		}
	}
	t.Logf("%d of %d requests answered alike by %s and tokengate", alike, len(steps), real.name)
}

const formType = "application/x-www-form-urlencoded"

// TestDjangoOAuthToolkitDifferential runs the real Django OAuth Toolkit 1.7
// with the SquadVoice seed's settings beside the django-oauth-toolkit
// example.
func TestDjangoOAuthToolkitDifferential(t *testing.T) {
	py := peerPython(t, "django, oauth2_provider")
	ctx, cancel := context.WithTimeout(context.Background(), peerTimeout)
	defer cancel()
	real := &side{name: "Django OAuth Toolkit", base: startPeer(t, ctx, py, "dot_peer.py", t.TempDir()), tokens: map[string]string{}}
	tg := &side{name: "tokengate", base: servertest.Start(t, exampleConfig(t, "django-oauth-toolkit"), servertest.Options{}).URL, tokens: map[string]string{}}

	const creds = "client_id=test_client_id&client_secret=test_client_secret"
	const login = "grant_type=password&username=test_api_user&password=test_api_user&" + creds
	form := func(path, body string) func(*side) request {
		return func(*side) request { return request{method: "POST", path: path, contentType: formType, body: body} }
	}
	withToken := func(path, body, name string) func(*side) request {
		return func(s *side) request {
			return request{method: "POST", path: path, contentType: formType, body: strings.ReplaceAll(body, "TOKEN", s.tokens[name])}
		}
	}
	keep := func(prefix string) func(*side, reply) {
		return func(s *side, r reply) {
			if r.status == 200 {
				s.tokens[prefix+"access"], s.tokens[prefix+"refresh"] = r.str("access_token"), r.str("refresh_token")
			}
		}
	}
	tokenValues := func(a, b reply) []string { return differ(a, b, "token_type", "expires_in", "scope") }
	// Introspection answers of DOT carry fewer members than tokengate's
	// (RFC 7662 lets a server add more): compare active, and that every
	// member DOT sends is there.
	introspection := func(a, b reply) []string {
		var d []string
		if a.status != b.status || a.media != b.media || a.body["active"] != b.body["active"] {
			d = append(d, fmt.Sprintf("status %d active %v, framework %d active %v", b.status, b.body["active"], a.status, a.body["active"]))
		}
		for k := range a.body {
			if _, ok := b.body[k]; !ok {
				d = append(d, "no member "+k)
			}
		}
		return d
	}
	introspect := func(name string) func(*side) request {
		return func(s *side) request {
			return request{method: "POST", path: "/oauth/introspect/", contentType: formType, body: "token=" + s.tokens[name],
				basic: [2]string{"test_client_id", "test_client_secret"}}
		}
	}
	jsonLogin := `{"grant_type":"password","username":"test_api_user","password":"test_api_user","client_id":"test_client_id","client_secret":"test_client_secret"}`
	steps := []step{
		{name: "password grant, form body", req: form("/oauth/token/", login), check: tokenValues, after: keep("")},
		{name: "password grant, JSON body", req: func(*side) request {
			return request{method: "POST", path: "/oauth/token/", contentType: "application/json", body: jsonLogin}
		}},
		{name: "password grant, form fields in a JSON-typed body", req: func(*side) request {
			return request{method: "POST", path: "/oauth/token/", contentType: "application/json", body: login}
		}},
		{name: "password grant, Basic client authentication", req: func(*side) request {
			return request{method: "POST", path: "/oauth/token/", contentType: formType, body: "grant_type=password&username=test_api_user&password=test_api_user",
				basic: [2]string{"test_client_id", "test_client_secret"}}
		}, check: tokenValues},
		{name: "wrong password", req: form("/oauth/token/", "grant_type=password&username=test_api_user&password=nope&"+creds)},
		{name: "wrong client secret", req: form("/oauth/token/", "grant_type=password&username=test_api_user&password=test_api_user&client_id=test_client_id&client_secret=nope")},
		{name: "no grant_type", req: form("/oauth/token/", "username=test_api_user&password=test_api_user&"+creds)},
		{name: "unknown grant_type", req: form("/oauth/token/", "grant_type=magic&"+creds)},
		{name: "scope not allowed", req: form("/oauth/token/", login+"&scope=admin")},
		{name: "refresh", req: withToken("/oauth/token/", "grant_type=refresh_token&refresh_token=TOKEN&"+creds, "refresh"), check: tokenValues, after: func(s *side, r reply) {
			s.tokens["old refresh"] = s.tokens["refresh"]
			keep("")(s, r)
		}},
		{name: "rotated refresh token again", req: withToken("/oauth/token/", "grant_type=refresh_token&refresh_token=TOKEN&"+creds, "old refresh")},
		{name: "fresh login", req: form("/oauth/token/", login), check: tokenValues, after: keep("second ")},
		{name: "introspect an access token", req: introspect("second access"), check: introspection},
		{name: "revoke without client authentication", req: withToken("/oauth/revoke_token/", "token=TOKEN", "second refresh")},
		{name: "revoke with a JSON body", req: func(s *side) request {
			return request{method: "POST", path: "/oauth/revoke_token/", contentType: "application/json",
				body: `{"token":"` + s.tokens["second refresh"] + `","client_id":"test_client_id","client_secret":"test_client_secret"}`}
		}},
		{name: "revoke a refresh token", req: withToken("/oauth/revoke_token/", "token=TOKEN&"+creds, "second refresh")},
		{name: "refresh with the revoked refresh token", req: withToken("/oauth/token/", "grant_type=refresh_token&refresh_token=TOKEN&"+creds, "second refresh")},
		{name: "introspect the access token of the revoked refresh token", req: introspect("second access"), check: introspection},
		{name: "revoke an access token", req: withToken("/oauth/revoke_token/", "token=TOKEN&"+creds, "access")},
		{name: "introspect the revoked access token", req: introspect("access"), check: introspection},
	}
	runSteps(t, ctx, real, tg, steps, nil)
}

// TestFastAPIDifferential runs a real FastAPI app with the Occam seed's
// endpoint signatures beside the fastapi example, for the 422 validation
// bodies above all. Debian's FastAPI runs Pydantic 1, whose validation
// items are {loc, msg, type} where Pydantic 2 (which tokengate imitates)
// adds input and renames the types: items are compared by loc.
func TestFastAPIDifferential(t *testing.T) {
	py := peerPython(t, "fastapi, uvicorn, multipart")
	ctx, cancel := context.WithTimeout(context.Background(), peerTimeout)
	defer cancel()
	real := &side{name: "FastAPI", base: startPeer(t, ctx, py, "fastapi_peer.py"), tokens: map[string]string{}}
	tg := &side{name: "tokengate", base: servertest.Start(t, exampleConfig(t, "fastapi"), servertest.Options{}).URL, tokens: map[string]string{}}

	// validation compares 422 bodies by the locations they name.
	validation := func(a, b reply) []string {
		d := differ(reply{status: a.status, media: a.media}, reply{status: b.status, media: b.media})
		locs := func(r reply) []string {
			items, _ := r.body["detail"].([]any)
			var out []string
			for _, it := range items {
				m, _ := it.(map[string]any)
				out = append(out, fmt.Sprint(m["loc"]))
			}
			slices.Sort(out)
			return out
		}
		if a.status == 422 || b.status == 422 {
			if la, lb := locs(a), locs(b); !slices.Equal(la, lb) || len(la) == 0 {
				d = append(d, fmt.Sprintf("validation locations %v, framework %v", lb, la))
			}
		} else if rk, tk := keys(a.body), keys(b.body); !slices.Equal(rk, tk) {
			d = append(d, fmt.Sprintf("JSON keys %v, framework %v", tk, rk))
		}
		if a.status != 422 && a.status != 200 && fmt.Sprint(a.body["detail"]) != fmt.Sprint(b.body["detail"]) {
			// The seed's messages are part of its contract here.
			d = append(d, fmt.Sprintf("detail %v, framework %v", b.body["detail"], a.body["detail"]))
		}
		return d
	}
	post := func(path, ctype, body string) func(*side) request {
		return func(*side) request { return request{method: "POST", path: path, contentType: ctype, body: body} }
	}
	get := func(path string) func(*side) request {
		return func(*side) request { return request{method: "GET", path: path} }
	}
	refreshWith := func(name string) func(*side) request {
		return func(s *side) request {
			return request{method: "POST", path: "/auth/refresh-token", contentType: "application/json", body: `{"refresh_token":"` + s.tokens[name] + `"}`}
		}
	}
	keep := func(s *side, r reply) {
		if r.status == 200 {
			s.tokens["old refresh"], s.tokens["refresh"] = s.tokens["refresh"], r.str("refresh_token")
		}
	}
	const login = "username=username_example&password=password_example"
	steps := []step{
		{name: "form login", req: post("/auth/access-token", formType, login), check: validation, after: keep},
		{name: "form login with client credentials", req: post("/auth/access-token", formType, login+"&client_id=client_id_example&client_secret=client_secret_example"), check: validation},
		{name: "form login, wrong password", req: post("/auth/access-token", formType, "username=username_example&password=nope"), check: validation},
		{name: "form login, no password", req: post("/auth/access-token", formType, "username=username_example"), check: validation},
		{name: "form login, empty body", req: post("/auth/access-token", formType, ""), check: validation},
		{name: "form login, grant_type not password", req: post("/auth/access-token", formType, login+"&grant_type=client_credentials"), check: validation},
		{name: "login with a JSON body", req: post("/auth/access-token", "application/json", `{"username":"username_example","password":"password_example"}`), check: validation},
		{name: "refresh", req: refreshWith("refresh"), check: validation, after: keep},
		{name: "refresh with a rotated token", req: refreshWith("old refresh"), check: validation},
		{name: "refresh with an unknown token", req: post("/auth/refresh-token", "application/json", `{"refresh_token":"nope"}`), check: validation},
		{name: "refresh, no refresh_token", req: post("/auth/refresh-token", "application/json", `{}`), check: validation},
		{name: "refresh, refresh_token not a string", req: post("/auth/refresh-token", "application/json", `{"refresh_token":["a"]}`), check: validation},
		{name: "refresh, malformed JSON", req: post("/auth/refresh-token", "application/json", `{"refresh_token":`), check: validation},
		{name: "refresh, form body", req: post("/auth/refresh-token", formType, "refresh_token=nope"), check: validation},
		{name: "refresh, no body", req: post("/auth/refresh-token", "", ""), check: validation},
		{name: "refresh, JSON without a content type", req: post("/auth/refresh-token", "", `{"refresh_token":"nope"}`), check: validation},
		{name: "refresh, JSON as text/plain", req: post("/auth/refresh-token", "text/plain", `{"refresh_token":"nope"}`), check: validation},
		{name: "refresh, JSON with a vendor +json type", req: post("/auth/refresh-token", "application/vnd.api+json", `{"refresh_token":"nope"}`), check: validation},
		{name: "refresh, blank body", req: post("/auth/refresh-token", "application/json", " "), check: validation},
		{name: "refresh, body not an object", req: post("/auth/refresh-token", "application/json", `["a"]`), check: validation},
		{name: "API key login", req: get("/auth/access-token?key=key_example"), check: validation},
		{name: "API key login, unknown key", req: get("/auth/access-token?key=nope"), check: validation},
		{name: "API key login, no key", req: get("/auth/access-token"), check: validation},
	}
	runSteps(t, ctx, real, tg, steps, nil)
}
