package server_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokengate/tokengate/internal/config"
	"github.com/tokengate/tokengate/internal/contract"
	"github.com/tokengate/tokengate/internal/server"
	"github.com/tokengate/tokengate/internal/store/sqlite"
)

// TestBadInputEverywhere starts the server with each example config and
// sends every configured route the inputs a hostile or broken client
// sends: empty and truncated bodies, wrong JSON types, 1 MiB bodies,
// repeated parameters, credentials in both Basic and the body, unknown
// grant types, invalid UTF-8, 10 KiB header values, wrong content types
// and wrong methods. Each answer must be the status the route's dialect
// documents with a body that says what is wrong: never a 5xx, never a
// logged panic or error, and no goroutine may outlive the requests or
// the server.
//
// Routes that only publish a document (metadata, JWKS) ignore what a GET
// sends and answer it 200; they still refuse wrong methods (405) and a
// declared oversize body (413).
func TestBadInputEverywhere(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join("..", "..", "examples", "*", "tokengate.yaml"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no example configs: %v", err)
	}
	for _, file := range dirs {
		name := filepath.Base(filepath.Dir(file))
		t.Run(name, func(t *testing.T) {
			before := runtime.NumGoroutine()
			bs := startBadInputServer(t, file)
			routes := bs.routes(t)
			if len(routes) == 0 {
				t.Fatal("no routes")
			}
			bs.request(t, "warm-up", badRequest{method: http.MethodGet, path: "/healthz"})
			bs.client.CloseIdleConnections()
			serving := badSettle()

			for _, rt := range routes {
				for _, c := range badCases {
					req, want := c.build(t, bs, rt)
					if rt.formOnly && rt.endpoint == "token" && want == badWantOAuthInvalid && !badFormGrant(req) {
						// As oauthlib: a body that is not a form carries no
						// grant_type, and a missing one is unsupported.
						want = badWantOAuthNoGrant
					}
					t.Run(rt.method+" "+rt.path+"/"+c.name, func(t *testing.T) {
						bs.check(t, req, want)
					})
				}
				for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions} {
					if slices.Contains(rt.served, m) {
						continue
					}
					t.Run(rt.method+" "+rt.path+"/wrong method "+m, func(t *testing.T) {
						bs.check(t, badRequest{method: m, path: rt.path, ct: badForm, body: []byte("grant_type=password")},
							badWant{status: http.StatusMethodNotAllowed, shape: shapeServer, allow: strings.Join(rt.served, ", ")})
					})
				}
			}
			t.Run("unknown path", func(t *testing.T) {
				bs.check(t, badRequest{method: http.MethodPost, path: "/no/such/endpoint", ct: badForm, body: []byte("grant_type=password")},
					badWant{status: http.StatusNotFound, shape: shapeServer})
			})

			bs.client.CloseIdleConnections()
			badWaitGoroutines(t, serving, "after the requests, with the server still running")
			bs.stop(t)
			badWaitGoroutines(t, before, "after the server stopped")
			bs.logs.check(t)
		})
	}
}

// Request encodings.
const (
	badForm = "application/x-www-form-urlencoded"
	badJSON = "application/json"
)

// Answer shapes: which dialect's error body the answer must have.
const (
	shapeOAuth    = "oauth"    // RFC 6749 §5.2 {error, error_description}
	shapeFastAPI  = "fastapi"  // {detail: "..."} or {detail: [{type, loc, msg}]}
	shapeDatarhei = "datarhei" // {code, message}
	shapeServer   = "server"   // the router and limits: {error, error_description}
	shapeDocument = "document" // a 200 JSON document (metadata, JWKS)
	shapeRevoked  = "revoked"  // RFC 7009 200, empty; text/html for Django
	shapeInactive = "inactive" // RFC 7662 200 {"active": false}
)

// badWant is the answer a case must get.
type badWant struct {
	status int
	shape  string
	// code, when set, is the OAuth error code, the first FastAPI issue
	// type, or a substring of a FastAPI or datarhei message.
	code string
	// allow, when set, is the Allow header a 405 must carry.
	allow string
	// html marks a revocation answered as Django OAuth Toolkit does.
	html bool
}

// badRequest is one request to send.
type badRequest struct {
	method string
	path   string
	query  string
	ct     string
	body   []byte
	// chunked sends the body without a Content-Length.
	chunked bool
	header  http.Header
}

// badRoute is one configured route and what the test knows of its example.
type badRoute struct {
	path, method, endpoint string
	response               string   // the revoke route's response option
	formOnly               bool     // body: form (read as oauthlib reads requests)
	served                 []string // every method served at path, sorted
}

// badServer is a running server for one example config.
type badServer struct {
	base   string
	cfg    config.Config
	client *http.Client
	logs   *badLogs
	cancel context.CancelFunc
	done   chan error
	st     *sqlite.DB
}

func startBadInputServer(t *testing.T, file string) *badServer {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(file, data)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Addr = "127.0.0.1:0"
	cfg.PasswordHashing.MemoryKiB = 1024
	cfg.PasswordHashing.Time = 1
	// Rate limits have their own tests; here they would turn a burst of
	// bad requests into 429s.
	cfg.RateLimit.PerSecond = 0
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "tg.db"))
	if err != nil {
		t.Fatal(err)
	}
	logs := &badLogs{}
	srv, err := server.New(ctx, server.Options{Config: cfg, Store: st, Logger: slog.New(logs)})
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	logs.records = nil // start-up warnings (deliberate configuration) are not bad input's
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	bs := &badServer{
		base: "http://" + ln.Addr().String(), cfg: cfg, logs: logs, cancel: cancel, done: make(chan error, 1), st: st,
		client: &http.Client{Transport: &http.Transport{}, Timeout: 20 * time.Second},
	}
	go func() { bs.done <- srv.Run(runCtx, ln) }()
	t.Cleanup(func() { bs.stop(t) })
	return bs
}

// stop shuts the server down and closes the store; it may be called twice.
func (bs *badServer) stop(t *testing.T) {
	t.Helper()
	if bs.cancel == nil {
		return
	}
	bs.client.CloseIdleConnections()
	bs.cancel()
	bs.cancel = nil
	select {
	case err := <-bs.done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Error("server did not shut down")
	}
	if err := bs.st.Close(); err != nil {
		t.Errorf("closing the store: %v", err)
	}
}

// routes lists the configured routes with the methods served at each path.
func (bs *badServer) routes(t *testing.T) []badRoute {
	t.Helper()
	kinds := contract.Kinds()
	byPath := map[string][]string{}
	var out []badRoute
	for _, r := range bs.cfg.Routes {
		k, ok := kinds[r.Endpoint]
		if !ok {
			t.Fatalf("unknown endpoint %q", r.Endpoint)
		}
		out = append(out, badRoute{path: r.Path, method: k.Method, endpoint: r.Endpoint, response: r.Response, formOnly: r.Body == "form"})
		byPath[r.Path] = append(byPath[r.Path], k.Method)
		if k.Safe {
			// A public document answers HEAD too.
			byPath[r.Path] = append(byPath[r.Path], http.MethodHead)
		}
	}
	for i := range out {
		out[i].served = slices.Sorted(slices.Values(byPath[out[i].path]))
	}
	return out
}

// confidentialClient returns the example's first confidential client, for requests
// whose fault is not in the client's credentials.
func (bs *badServer) confidentialClient() (id, secret string, ok bool) {
	for _, c := range bs.cfg.Bootstrap.Clients {
		if c.Secret != "" {
			return c.ID, c.Secret, true
		}
	}
	return "", "", false
}

// badBasic is an RFC 6749 §2.3.1 Basic header.
func badBasic(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

// clientAuth is a Basic header with the example's confidential client, or
// none when it has no such client.
func (bs *badServer) clientAuth() http.Header {
	id, secret, ok := bs.confidentialClient()
	if !ok {
		return nil
	}
	return http.Header{"Authorization": {badBasic(id, secret)}}
}

// badAnswer is what came back.
type badAnswer struct {
	status int
	header http.Header
	raw    []byte
}

func (bs *badServer) request(t *testing.T, what string, r badRequest) badAnswer {
	t.Helper()
	u := bs.base + r.path
	if r.query != "" {
		u += "?" + r.query
	}
	var body io.Reader = bytes.NewReader(r.body)
	if r.chunked {
		body = io.MultiReader(bytes.NewReader(r.body)) // hides the length
	}
	if r.body == nil {
		body = nil
	}
	req, err := http.NewRequest(r.method, u, body)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	for k, v := range r.header {
		req.Header[k] = v
	}
	if r.ct != "" {
		req.Header.Set("Content-Type", r.ct)
	}
	resp, err := bs.client.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s: reading the answer: %v", what, err)
	}
	return badAnswer{status: resp.StatusCode, header: resp.Header, raw: raw}
}

// check sends r and checks the answer against want.
func (bs *badServer) check(t *testing.T, r badRequest, want badWant) {
	t.Helper()
	a := bs.request(t, "request", r)
	if a.status >= 500 {
		t.Fatalf("server error %d: %s", a.status, a.raw)
	}
	if a.status != want.status {
		t.Fatalf("status %d, want %d: %s", a.status, want.status, a.raw)
	}
	if want.shape == shapeRevoked {
		wantCT := ""
		if want.html {
			wantCT = "text/html; charset=utf-8"
		}
		if ct := a.header.Get("Content-Type"); ct != wantCT || len(a.raw) != 0 {
			t.Fatalf("revocation answered %q %q, want %q and no body", ct, a.raw, wantCT)
		}
		return
	}
	if ct := a.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q, want application/json: %s", ct, a.raw)
	}
	if want.shape != shapeDocument && a.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("error answer without Cache-Control: no-store: %v", a.header)
	}
	if want.allow != "" && a.header.Get("Allow") != want.allow {
		t.Fatalf("Allow %q, want %q", a.header.Get("Allow"), want.allow)
	}
	var body map[string]any
	if err := json.Unmarshal(a.raw, &body); err != nil {
		t.Fatalf("answer is not a JSON object: %q", a.raw)
	}
	str := func(k string) string { s, _ := body[k].(string); return s }
	switch want.shape {
	case shapeOAuth, shapeServer:
		if str("error") == "" || str("error_description") == "" {
			t.Fatalf("no error and error_description: %s", a.raw)
		}
		if want.code != "" && str("error") != want.code {
			t.Fatalf("error %q, want %q: %s", str("error"), want.code, a.raw)
		}
		if want.shape == shapeOAuth && a.status == http.StatusUnauthorized && r.header.Get("Authorization") != "" &&
			!strings.HasPrefix(a.header.Get("WWW-Authenticate"), "Basic ") {
			t.Fatalf("401 to a Basic attempt without WWW-Authenticate: Basic: %v", a.header)
		}
	case shapeFastAPI:
		switch d := body["detail"].(type) {
		case string:
			if d == "" || (want.code != "" && !strings.Contains(d, want.code)) {
				t.Fatalf("detail %q, want one mentioning %q", d, want.code)
			}
		case []any:
			if len(d) == 0 {
				t.Fatalf("empty detail list: %s", a.raw)
			}
			for _, x := range d {
				issue, _ := x.(map[string]any)
				if typ, _ := issue["type"].(string); typ == "" {
					t.Fatalf("issue without a type: %s", a.raw)
				}
				if msg, _ := issue["msg"].(string); msg == "" {
					t.Fatalf("issue without a msg: %s", a.raw)
				}
				if loc, _ := issue["loc"].([]any); len(loc) == 0 {
					t.Fatalf("issue without a loc: %s", a.raw)
				}
			}
			if first, _ := d[0].(map[string]any)["type"].(string); want.code != "" && first != want.code {
				t.Fatalf("issue type %q, want %q: %s", first, want.code, a.raw)
			}
		default:
			t.Fatalf("no detail: %s", a.raw)
		}
	case shapeDatarhei:
		if code, _ := body["code"].(float64); int(code) != a.status || str("message") == "" {
			t.Fatalf("want {code: %d, message}: %s", a.status, a.raw)
		}
		if want.code != "" && !strings.Contains(str("message"), want.code) {
			t.Fatalf("message %q, want one mentioning %q", str("message"), want.code)
		}
		if a.status == http.StatusUnauthorized && !strings.HasPrefix(a.header.Get("WWW-Authenticate"), "Bearer ") {
			t.Fatalf("401 without WWW-Authenticate: Bearer: %v", a.header)
		}
	case shapeInactive:
		if len(body) != 1 || body["active"] != false {
			t.Fatalf("want {\"active\": false}: %s", a.raw)
		}
	case shapeDocument:
		if len(body) == 0 {
			t.Fatalf("empty document: %s", a.raw)
		}
	default:
		t.Fatalf("unknown shape %q", want.shape)
	}
}

// badCase builds, for one route, the request of one kind of bad input
// and the answer its dialect documents for it.
type badCase struct {
	name  string
	build func(t *testing.T, bs *badServer, rt badRoute) (badRequest, badWant)
}

// Common answers.
var (
	badWantDocument       = badWant{status: http.StatusOK, shape: shapeDocument}
	badWantTooLarge       = badWant{status: http.StatusRequestEntityTooLarge, shape: shapeServer, code: "invalid_request"}
	badWantOAuthInvalid   = badWant{status: http.StatusBadRequest, shape: shapeOAuth, code: "invalid_request"}
	badWantOAuthClient    = badWant{status: http.StatusUnauthorized, shape: shapeOAuth, code: "invalid_client"}
	badWantFastAPIMissing = badWant{status: http.StatusUnprocessableEntity, shape: shapeFastAPI, code: "missing"}
	badWantFastAPIValue   = badWant{status: http.StatusUnprocessableEntity, shape: shapeFastAPI, code: "value_error"}
	badWantFastAPIJSON    = badWant{status: http.StatusUnprocessableEntity, shape: shapeFastAPI, code: "json_invalid"}
	// FastAPI decodes only JSON-typed bodies (or untyped ones); any other
	// body, or JSON that is not an object, is not an object
	// (TestFastAPIDifferential).
	badWantFastAPINotObject = badWant{status: http.StatusUnprocessableEntity, shape: shapeFastAPI, code: "model_attributes_type"}
	// oauthlib (body: form routes) reads no parameters from a body that
	// is not a form, and answers a missing grant_type so
	// (TestDjangoOAuthToolkitDifferential).
	badWantOAuthNoGrant = badWant{status: http.StatusBadRequest, shape: shapeOAuth, code: "unsupported_grant_type"}
	// FastAPI answers a body it cannot decode as UTF-8 so, before any
	// validation.
	badWantFastAPIUnparsable = badWant{status: http.StatusBadRequest, shape: shapeFastAPI, code: "error parsing the body"}
	badWantFastAPIUnknown    = badWant{status: http.StatusNotFound, shape: shapeFastAPI, code: "does not exist"}
	badWantFastAPIBadKey     = badWant{status: http.StatusBadRequest, shape: shapeFastAPI, code: "Invalid API key"}
	badWantFastAPILogin      = badWant{status: http.StatusBadRequest, shape: shapeFastAPI, code: "Incorrect username or password"}
	badWantDatarheiBad       = badWant{status: http.StatusBadRequest, shape: shapeDatarhei}
	badWantDatarheiAuth      = badWant{status: http.StatusUnauthorized, shape: shapeDatarhei}
)

// badFormGrant reports whether r is a form (as Django reads one) carrying
// grant_type.
func badFormGrant(r badRequest) bool {
	mt, params, err := mime.ParseMediaType(r.ct)
	if err != nil || mt != badForm || (params["charset"] != "" && !strings.EqualFold(params["charset"], "utf-8")) {
		return false
	}
	vals, err := url.ParseQuery(string(r.body))
	return err == nil && vals.Has("grant_type")
}

// badIsOAuth reports whether the route speaks RFC 6749 (token, revoke,
// introspect).
func badIsOAuth(rt badRoute) bool {
	return rt.endpoint == "token" || rt.endpoint == "revoke" || rt.endpoint == "introspect"
}

// badUnknownEndpoint fails the test: a new endpoint kind needs its expected
// answers added here.
func badUnknownEndpoint(t *testing.T, rt badRoute) (badRequest, badWant) {
	t.Helper()
	t.Fatalf("no bad-input expectations for endpoint %q: add them to badinput_test.go", rt.endpoint)
	return badRequest{}, badWant{}
}

// badMiB is a 1 MiB body, 16 times the server's limit.
var badMiB = bytes.Repeat([]byte("a"), 1<<20)

var badCases = []badCase{
	{"empty body", func(t *testing.T, bs *badServer, rt badRoute) (badRequest, badWant) {
		r := badRequest{method: rt.method, path: rt.path, body: []byte{}}
		switch {
		case badIsOAuth(rt):
			r.ct, r.header = badForm, bs.clientAuth()
			return r, badWantOAuthInvalid
		}
		switch rt.endpoint {
		case "fastapi.login":
			r.ct = badForm
			return r, badWantFastAPIMissing
		case "fastapi.refresh":
			r.ct = badJSON
			return r, badWantFastAPIMissing
		case "fastapi.api_key":
			return r, badWantFastAPIMissing
		case "datarhei.login":
			r.ct = badJSON
			return r, badWantDatarheiBad
		case "datarhei.refresh":
			return r, badWantDatarheiAuth
		case "metadata", "jwks":
			return r, badWantDocument
		}
		return badUnknownEndpoint(t, rt)
	}},
	{"empty body without credentials or content type", func(t *testing.T, bs *badServer, rt badRoute) (badRequest, badWant) {
		r := badRequest{method: rt.method, path: rt.path}
		switch rt.endpoint {
		case "token":
			if rt.formOnly {
				return r, badWantOAuthNoGrant
			}
			return r, badWantOAuthInvalid // grant_type is missing before anything else
		case "revoke":
			if rt.formOnly {
				return r, badWantOAuthInvalid // oauthlib: the token is missing before the client is checked
			}
			return r, badWantOAuthClient
		case "introspect":
			return r, badWantOAuthClient
		case "fastapi.login", "fastapi.refresh", "fastapi.api_key":
			return r, badWantFastAPIMissing
		case "datarhei.login":
			return r, badWantDatarheiBad
		case "datarhei.refresh":
			return r, badWantDatarheiAuth
		case "metadata", "jwks":
			return r, badWantDocument
		}
		return badUnknownEndpoint(t, rt)
	}},
	{"truncated JSON", func(t *testing.T, bs *badServer, rt badRoute) (badRequest, badWant) {
		r := badRequest{method: rt.method, path: rt.path, ct: badJSON, body: []byte(`{"grant_type":"password","username":"demo","password":`)}
		switch {
		case badIsOAuth(rt):
			r.header = bs.clientAuth()
			return r, badWantOAuthInvalid
		}
		switch rt.endpoint {
		case "fastapi.login":
			return r, badWantFastAPIMissing // a form endpoint: JSON carries no fields
		case "fastapi.refresh":
			r.body = []byte(`{"refresh_token":`)
			return r, badWantFastAPIJSON
		case "fastapi.api_key":
			return r, badWantFastAPIMissing
		case "datarhei.login":
			return r, badWantDatarheiBad
		case "datarhei.refresh":
			return r, badWantDatarheiAuth
		case "metadata", "jwks":
			return r, badWantDocument
		}
		return badUnknownEndpoint(t, rt)
	}},
	{"JSON with wrong types", func(t *testing.T, bs *badServer, rt badRoute) (badRequest, badWant) {
		r := badRequest{method: rt.method, path: rt.path, ct: badJSON,
			body: []byte(`{"grant_type":["password"],"username":{"name":"demo"},"password":[1,2],"refresh_token":true,"token":{"t":1}}`)}
		switch {
		case badIsOAuth(rt):
			r.header = bs.clientAuth()
			return r, badWantOAuthInvalid
		}
		switch rt.endpoint {
		case "fastapi.login":
			return r, badWantFastAPIMissing
		case "fastapi.refresh":
			return r, badWant{status: http.StatusUnprocessableEntity, shape: shapeFastAPI, code: "string_type"}
		case "fastapi.api_key":
			return r, badWantFastAPIMissing
		case "datarhei.login":
			return r, badWantDatarheiBad
		case "datarhei.refresh":
			return r, badWantDatarheiAuth
		case "metadata", "jwks":
			return r, badWantDocument
		}
		return badUnknownEndpoint(t, rt)
	}},
	{"JSON array and scalar instead of an object", func(t *testing.T, bs *badServer, rt badRoute) (badRequest, badWant) {
		r := badRequest{method: rt.method, path: rt.path, ct: badJSON, body: []byte(`["refresh_token","password"]`)}
		switch {
		case badIsOAuth(rt):
			r.header = bs.clientAuth()
			return r, badWantOAuthInvalid
		}
		switch rt.endpoint {
		case "fastapi.login", "fastapi.api_key":
			return r, badWantFastAPIMissing
		case "fastapi.refresh":
			return r, badWantFastAPINotObject
		case "datarhei.login":
			r.body = []byte(`"username"`)
			return r, badWantDatarheiBad
		case "datarhei.refresh":
			return r, badWantDatarheiAuth
		case "metadata", "jwks":
			return r, badWantDocument
		}
		return badUnknownEndpoint(t, rt)
	}},
	{"1 MiB body with its length declared", func(t *testing.T, bs *badServer, rt badRoute) (badRequest, badWant) {
		// Refused before any handler runs, whatever the route.
		return badRequest{method: rt.method, path: rt.path, ct: badForm, body: badMiB, header: bs.clientAuth()}, badWantTooLarge
	}},
	{"1 MiB body chunked", func(t *testing.T, bs *badServer, rt badRoute) (badRequest, badWant) {
		r := badRequest{method: rt.method, path: rt.path, ct: badForm, body: append([]byte("username="), badMiB...), chunked: true}
		switch {
		case badIsOAuth(rt):
			r.header = bs.clientAuth()
			return r, badWant{status: http.StatusRequestEntityTooLarge, shape: shapeOAuth, code: "invalid_request"}
		}
		switch rt.endpoint {
		case "fastapi.login":
			return r, badWant{status: http.StatusRequestEntityTooLarge, shape: shapeFastAPI, code: "too large"}
		case "fastapi.refresh":
			r.ct = badJSON
			return r, badWant{status: http.StatusRequestEntityTooLarge, shape: shapeFastAPI, code: "too large"}
		case "fastapi.api_key":
			return r, badWantFastAPIMissing // a GET: the body is not read
		case "datarhei.login":
			r.ct = badJSON
			return r, badWant{status: http.StatusRequestEntityTooLarge, shape: shapeDatarhei, code: "too large"}
		case "datarhei.refresh":
			return r, badWantDatarheiAuth
		case "metadata", "jwks":
			return r, badWantDocument
		}
		return badUnknownEndpoint(t, rt)
	}},
	{"repeated parameters in a form", func(t *testing.T, bs *badServer, rt badRoute) (badRequest, badWant) {
		r := badRequest{method: rt.method, path: rt.path, ct: badForm}
		switch rt.endpoint {
		case "token":
			r.body, r.header = []byte("grant_type=password&grant_type=client_credentials&username=nobody&password=x"), bs.clientAuth()
			return r, badWantOAuthInvalid
		case "revoke", "introspect":
			r.body, r.header = []byte("token=a&token=b"), bs.clientAuth()
			return r, badWantOAuthInvalid
		case "fastapi.login":
			r.body = []byte("username=a&username=b&password=x")
			return r, badWantFastAPIValue
		case "fastapi.refresh":
			r.ct, r.body = badJSON, []byte(`{"refresh_token":"tgr_first","refresh_token":"tgr_second"}`)
			return r, badWantFastAPIUnknown // as in FastAPI, the last one counts
		case "fastapi.api_key":
			r.query = "key=nope&key=nope2"
			return r, badWantFastAPIBadKey
		case "datarhei.login":
			r.ct, r.body = badJSON, []byte(`{"username":"nobody","username":"nobody2","password":"x"}`)
			return r, badWantDatarheiAuth
		case "datarhei.refresh":
			r.header = http.Header{"Authorization": {"Bearer a", "Bearer b"}}
			return r, badWantDatarheiAuth
		case "metadata", "jwks":
			r.query = "a=1&a=2"
			return r, badWantDocument
		}
		return badUnknownEndpoint(t, rt)
	}},
	{"repeated parameters in JSON", func(t *testing.T, bs *badServer, rt badRoute) (badRequest, badWant) {
		r := badRequest{method: rt.method, path: rt.path, ct: badJSON}
		switch rt.endpoint {
		case "token":
			r.body, r.header = []byte(`{"grant_type":"password","grant_type":null,"username":"nobody","password":"x"}`), bs.clientAuth()
			return r, badWantOAuthInvalid
		case "revoke", "introspect":
			r.body, r.header = []byte(`{"token":"a","token":"b"}`), bs.clientAuth()
			return r, badWantOAuthInvalid
		case "fastapi.login", "fastapi.api_key":
			r.body = []byte(`{"username":"a","username":"b"}`)
			return r, badWantFastAPIMissing
		case "fastapi.refresh":
			r.body = []byte(`{"refresh_token":"tgr_first","refresh_token":"tgr_second"}`)
			return r, badWantFastAPIUnknown
		case "datarhei.login":
			r.body = []byte(`{"username":"nobody","password":"x","password":"y"}`)
			return r, badWantDatarheiAuth
		case "datarhei.refresh":
			return r, badWantDatarheiAuth
		case "metadata", "jwks":
			return r, badWantDocument
		}
		return badUnknownEndpoint(t, rt)
	}},
	{"client credentials in Basic and the body", func(t *testing.T, bs *badServer, rt badRoute) (badRequest, badWant) {
		id, secret, ok := bs.confidentialClient()
		if !ok {
			id, secret = "some-client", "some-secret"
		}
		r := badRequest{method: rt.method, path: rt.path, ct: badForm,
			header: http.Header{"Authorization": {badBasic(id, secret)}}}
		both := url.Values{"client_id": {id}, "client_secret": {secret}}
		switch rt.endpoint {
		case "token":
			both.Set("grant_type", "client_credentials")
			r.body = []byte(both.Encode())
			return r, badWantOAuthInvalid
		case "revoke", "introspect":
			both.Set("token", "tgr_unknown")
			r.body = []byte(both.Encode())
			return r, badWantOAuthInvalid
		case "fastapi.login":
			both.Set("username", "nobody")
			both.Set("password", "x")
			r.body = []byte(both.Encode())
			return r, badWantFastAPIValue
		case "fastapi.refresh":
			// No client authentication here: the refresh token is the
			// credential, and the unknown one is refused.
			r.ct, r.body = badJSON, []byte(`{"refresh_token":"tgr_unknown","client_id":"`+id+`","client_secret":"`+secret+`"}`)
			return r, badWantFastAPIUnknown
		case "fastapi.api_key":
			r.query = "key=nope&client_secret=" + url.QueryEscape(secret)
			return r, badWantFastAPIBadKey
		case "datarhei.login":
			// A password in Basic does not complete a JSON body without one.
			r.ct, r.body = badJSON, []byte(`{"username":"nobody"}`)
			r.header = http.Header{"Authorization": {badBasic("nobody", "x")}}
			return r, badWant{status: http.StatusBadRequest, shape: shapeDatarhei, code: "password"}
		case "datarhei.refresh":
			return r, badWantDatarheiAuth
		case "metadata", "jwks":
			return r, badWantDocument
		}
		return badUnknownEndpoint(t, rt)
	}},
	{"different client_id in Basic and the body", func(t *testing.T, bs *badServer, rt badRoute) (badRequest, badWant) {
		r := badRequest{method: rt.method, path: rt.path, ct: badForm, header: bs.clientAuth()}
		if r.header == nil {
			r.header = http.Header{"Authorization": {badBasic("some-client", "some-secret")}}
		}
		switch rt.endpoint {
		case "token":
			r.body = []byte("grant_type=client_credentials&client_id=someone-else")
			return r, badWantOAuthInvalid
		case "revoke", "introspect":
			r.body = []byte("token=tgr_unknown&client_id=someone-else")
			return r, badWantOAuthInvalid
		case "fastapi.login":
			r.body = []byte("username=nobody&password=x&client_id=someone-else")
			return r, badWantFastAPIValue
		case "fastapi.refresh":
			r.ct, r.body = badJSON, []byte(`{"refresh_token":"tgr_unknown","client_id":"someone-else"}`)
			return r, badWantFastAPIUnknown
		case "fastapi.api_key":
			return r, badWantFastAPIMissing
		case "datarhei.login":
			r.ct, r.body = badJSON, []byte(`{"username":"nobody","password":"x","client_id":"someone-else"}`)
			return r, badWantDatarheiAuth
		case "datarhei.refresh":
			return r, badWantDatarheiAuth
		case "metadata", "jwks":
			return r, badWantDocument
		}
		return badUnknownEndpoint(t, rt)
	}},
	{"unknown grant type", func(t *testing.T, bs *badServer, rt badRoute) (badRequest, badWant) {
		r := badRequest{method: rt.method, path: rt.path, ct: badForm, header: bs.clientAuth(),
			body: []byte("grant_type=urn%3Aexample%3Anot-a-grant&username=nobody&password=x")}
		switch rt.endpoint {
		case "token":
			return r, badWant{status: http.StatusBadRequest, shape: shapeOAuth, code: "unsupported_grant_type"}
		case "revoke", "introspect":
			return r, badWantOAuthInvalid // still no token
		case "fastapi.login":
			r.header = nil
			return r, badWant{status: http.StatusUnprocessableEntity, shape: shapeFastAPI, code: "string_pattern_mismatch"}
		case "fastapi.refresh":
			r.ct, r.body = badJSON, []byte(`{"grant_type":"urn:example:not-a-grant","refresh_token":"tgr_unknown"}`)
			return r, badWantFastAPIUnknown
		case "fastapi.api_key":
			r.query = "grant_type=urn%3Aexample%3Anot-a-grant"
			return r, badWantFastAPIMissing
		case "datarhei.login":
			r.ct, r.body, r.header = badJSON, []byte(`{"grant_type":"urn:example:not-a-grant"}`), nil
			return r, badWant{status: http.StatusBadRequest, shape: shapeDatarhei, code: "username"}
		case "datarhei.refresh":
			r.header = nil
			return r, badWantDatarheiAuth
		case "metadata", "jwks":
			return r, badWantDocument
		}
		return badUnknownEndpoint(t, rt)
	}},
	{"invalid UTF-8 in a form", func(t *testing.T, bs *badServer, rt badRoute) (badRequest, badWant) {
		r := badRequest{method: rt.method, path: rt.path, ct: badForm, header: bs.clientAuth()}
		switch rt.endpoint {
		case "token":
			r.body = []byte("grant_type=password&username=%FF%FEnobody&password=x")
			return r, badWantOAuthInvalid
		case "revoke", "introspect":
			r.body = []byte("token=\xff\xfe")
			return r, badWantOAuthInvalid
		case "fastapi.login":
			r.body, r.header = []byte("username=%C3&password=x"), nil
			return r, badWantFastAPIValue
		case "fastapi.refresh":
			r.ct, r.body = badJSON, []byte("{\"refresh_token\":\"tgr_\xff\xfe\"}")
			return r, badWantFastAPIUnparsable
		case "fastapi.api_key":
			r.query = "key=%FF%FE"
			return r, badWantFastAPIBadKey
		case "datarhei.login":
			r.ct, r.body, r.header = badJSON, []byte("{\"username\":\"\xff\xfe\",\"password\":\"x\"}"), nil
			return r, badWantDatarheiBad
		case "datarhei.refresh":
			r.header = http.Header{"Authorization": {"Bearer \xff\xfe\xfd"}}
			return r, badWantDatarheiAuth
		case "metadata", "jwks":
			r.query = "x=%FF"
			return r, badWantDocument
		}
		return badUnknownEndpoint(t, rt)
	}},
	{"invalid UTF-8 in JSON", func(t *testing.T, bs *badServer, rt badRoute) (badRequest, badWant) {
		r := badRequest{method: rt.method, path: rt.path, ct: badJSON, header: bs.clientAuth()}
		switch rt.endpoint {
		case "token":
			r.body = []byte("{\"grant_type\":\"password\",\"username\":\"\xc3\",\"password\":\"x\"}")
			return r, badWantOAuthInvalid
		case "revoke", "introspect":
			r.body = []byte("{\"token\":\"\xed\xa0\x80\"}") // an encoded surrogate
			return r, badWantOAuthInvalid
		case "fastapi.login", "fastapi.api_key":
			r.body, r.header = []byte("{\"username\":\"\xff\"}"), nil
			return r, badWantFastAPIMissing
		case "fastapi.refresh":
			r.body, r.header = []byte("{\"refresh_token\":\"\xed\xa0\x80\"}"), nil
			return r, badWantFastAPIUnparsable
		case "datarhei.login":
			r.body, r.header = []byte("{\"username\":\"nobody\",\"password\":\"\xc0\xaf\"}"), nil
			return r, badWantDatarheiBad
		case "datarhei.refresh":
			r.header = nil
			return r, badWantDatarheiAuth
		case "metadata", "jwks":
			return r, badWantDocument
		}
		return badUnknownEndpoint(t, rt)
	}},
	{"10 KiB header values", func(t *testing.T, bs *badServer, rt badRoute) (badRequest, badWant) {
		long := strings.Repeat("A", 10<<10)
		r := badRequest{method: rt.method, path: rt.path, ct: badForm,
			header: http.Header{"Authorization": {"Basic " + long}, "X-Forwarded-For": {strings.Repeat("1.2.3.4, ", 10<<10/9)}}}
		switch rt.endpoint {
		case "token":
			r.body = []byte("grant_type=client_credentials")
			return r, badWantOAuthClient
		case "revoke", "introspect":
			r.body = []byte("token=tgr_unknown")
			return r, badWantOAuthClient
		case "fastapi.login":
			r.body = []byte("username=nobody&password=x")
			return r, badWantFastAPILogin
		case "fastapi.refresh":
			r.ct, r.body = badJSON, []byte(`{"refresh_token":"tgr_`+long+`"}`)
			return r, badWantFastAPIUnknown
		case "fastapi.api_key":
			r.query = "key=" + long
			return r, badWantFastAPIBadKey
		case "datarhei.login":
			r.ct = ""
			r.header.Set("Authorization", "Bearer "+long)
			return r, badWantDatarheiAuth
		case "datarhei.refresh":
			r.header.Set("Authorization", "Bearer "+long)
			return r, badWantDatarheiAuth
		case "metadata", "jwks":
			return r, badWantDocument
		}
		return badUnknownEndpoint(t, rt)
	}},
	{"10 KiB Content-Type", func(t *testing.T, bs *badServer, rt badRoute) (badRequest, badWant) {
		r := badRequest{method: rt.method, path: rt.path, ct: badForm + "; charset=" + strings.Repeat("y", 10<<10), header: bs.clientAuth(),
			body: []byte("grant_type=client_credentials&token=tgr_unknown")}
		switch {
		case badIsOAuth(rt):
			return r, badWantOAuthInvalid
		}
		switch rt.endpoint {
		case "fastapi.login", "fastapi.api_key":
			return r, badWantFastAPIMissing
		case "fastapi.refresh":
			// Not a JSON type: FastAPI does not decode the body.
			r.body = []byte(`{"refresh_token":"tgr_unknown"}`)
			return r, badWantFastAPINotObject
		case "datarhei.login":
			return r, badWantDatarheiBad
		case "datarhei.refresh":
			return r, badWantDatarheiAuth
		case "metadata", "jwks":
			return r, badWantDocument
		}
		return badUnknownEndpoint(t, rt)
	}},
	{"garbage token", func(t *testing.T, bs *badServer, rt badRoute) (badRequest, badWant) {
		garbage := "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9."
		r := badRequest{method: rt.method, path: rt.path, ct: badForm, header: bs.clientAuth()}
		switch rt.endpoint {
		case "token":
			r.body = []byte("grant_type=refresh_token&refresh_token=" + garbage)
			return r, badWant{status: http.StatusBadRequest, shape: shapeOAuth, code: "invalid_grant"}
		case "revoke":
			// RFC 7009 §2.2: an invalid token is not an error.
			r.body = []byte("token=" + garbage)
			return r, badWant{status: http.StatusOK, shape: shapeRevoked, html: rt.response == "empty_html"}
		case "introspect":
			r.body = []byte("token=" + garbage)
			return r, badWant{status: http.StatusOK, shape: shapeInactive}
		case "fastapi.login":
			r.body, r.header = []byte("username=nobody&password="+garbage), nil
			return r, badWantFastAPILogin
		case "fastapi.refresh":
			r.ct, r.body = badJSON, []byte(`{"refresh_token":"`+garbage+`"}`)
			return r, badWantFastAPIUnknown
		case "fastapi.api_key":
			r.query = "key=" + url.QueryEscape(garbage)
			return r, badWantFastAPIBadKey
		case "datarhei.login", "datarhei.refresh":
			r.ct, r.header = "", http.Header{"Authorization": {"Bearer " + garbage}}
			return r, badWantDatarheiAuth
		case "metadata", "jwks":
			return r, badWantDocument
		}
		return badUnknownEndpoint(t, rt)
	}},
	{"text/plain body", func(t *testing.T, bs *badServer, rt badRoute) (badRequest, badWant) {
		r := badRequest{method: rt.method, path: rt.path, ct: "text/plain", header: bs.clientAuth(),
			body: []byte("grant_type=password&username=nobody&password=x")}
		switch {
		case badIsOAuth(rt):
			return r, badWantOAuthInvalid
		}
		switch rt.endpoint {
		case "fastapi.login", "fastapi.api_key":
			return r, badWantFastAPIMissing
		case "fastapi.refresh":
			// FastAPI decodes JSON only from a JSON-typed (or untyped) body.
			r.body = []byte(`{"refresh_token":"tgr_unknown"}`)
			return r, badWantFastAPINotObject
		case "datarhei.login":
			r.body, r.header = []byte(`{"username":"nobody","password":"x"}`), nil
			return r, badWantDatarheiBad
		case "datarhei.refresh":
			return r, badWantDatarheiAuth
		case "metadata", "jwks":
			return r, badWantDocument
		}
		return badUnknownEndpoint(t, rt)
	}},
	{"multipart body", func(t *testing.T, bs *badServer, rt badRoute) (badRequest, badWant) {
		r := badRequest{method: rt.method, path: rt.path, ct: "multipart/form-data; boundary=XyZ", header: bs.clientAuth(),
			body: []byte("--XyZ\r\nContent-Disposition: form-data; name=\"grant_type\"\r\n\r\npassword\r\n--XyZ--\r\n")}
		switch {
		case badIsOAuth(rt):
			return r, badWantOAuthInvalid
		}
		switch rt.endpoint {
		case "fastapi.login", "fastapi.api_key":
			return r, badWantFastAPIMissing
		case "fastapi.refresh":
			return r, badWantFastAPINotObject
		case "datarhei.login":
			return r, badWantDatarheiBad
		case "datarhei.refresh":
			return r, badWantDatarheiAuth
		case "metadata", "jwks":
			return r, badWantDocument
		}
		return badUnknownEndpoint(t, rt)
	}},
	{"malformed Content-Type and a foreign charset", func(t *testing.T, bs *badServer, rt badRoute) (badRequest, badWant) {
		r := badRequest{method: rt.method, path: rt.path, ct: badForm + "; charset=iso-8859-1", header: bs.clientAuth(),
			body: []byte("grant_type=password&username=caf\xe9&password=x")}
		switch {
		case badIsOAuth(rt):
			return r, badWantOAuthInvalid
		}
		switch rt.endpoint {
		case "fastapi.login", "fastapi.api_key":
			return r, badWantFastAPIMissing
		case "fastapi.refresh":
			r.ct, r.body = "application/json; charset", []byte(`{"refresh_token":"tgr_unknown"}`)
			return r, badWantFastAPINotObject // a Content-Type FastAPI cannot parse is not JSON
		case "datarhei.login":
			r.ct, r.body = "application/json; =", []byte(`{"username":"nobody","password":"x"}`)
			return r, badWantDatarheiBad
		case "datarhei.refresh":
			return r, badWantDatarheiAuth
		case "metadata", "jwks":
			return r, badWantDocument
		}
		return badUnknownEndpoint(t, rt)
	}},
	{"form to a JSON endpoint and JSON to a form endpoint", func(t *testing.T, bs *badServer, rt badRoute) (badRequest, badWant) {
		r := badRequest{method: rt.method, path: rt.path}
		switch {
		case badIsOAuth(rt):
			// Both encodings are served; an object that is not flat is not.
			r.ct, r.body, r.header = badJSON, []byte(`{"grant_type":"password","user":{"username":"nobody","password":"x"}}`), bs.clientAuth()
			if rt.formOnly && rt.endpoint == "token" {
				return r, badWantOAuthNoGrant // as oauthlib: JSON carries no parameters
			}
			return r, badWantOAuthInvalid
		}
		switch rt.endpoint {
		case "fastapi.login":
			r.ct, r.body = badJSON, []byte(`{"username":"nobody","password":"x"}`)
			return r, badWantFastAPIMissing
		case "fastapi.refresh":
			r.ct, r.body = badForm, []byte("refresh_token=tgr_unknown")
			return r, badWantFastAPINotObject
		case "fastapi.api_key":
			return r, badWantFastAPIMissing
		case "datarhei.login":
			r.ct, r.body = badForm, []byte("username=nobody&password=x")
			return r, badWantDatarheiBad
		case "datarhei.refresh":
			return r, badWantDatarheiAuth
		case "metadata", "jwks":
			return r, badWantDocument
		}
		return badUnknownEndpoint(t, rt)
	}},
}

// badSettle waits until the goroutine count stops falling and returns it.
func badSettle() int {
	n := runtime.NumGoroutine()
	for range 50 {
		time.Sleep(20 * time.Millisecond)
		m := runtime.NumGoroutine()
		if m >= n {
			return m
		}
		n = m
	}
	return n
}

// badWaitGoroutines waits up to 10s for the goroutine count to fall to at
// most limit; connections and timers wind down asynchronously, so an
// exact comparison at one instant would be flaky.
func badWaitGoroutines(t *testing.T, limit int, when string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= limit {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("%s: %d goroutines, want at most %d; leaked:\n%s", when, n, limit, buf)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// badLogs is a slog.Handler keeping every warning and error: a panic, a
// 5xx cause or a net/http complaint (a superfluous WriteHeader) is logged
// at one of those levels even when the client sees nothing wrong.
type badLogs struct {
	mu      sync.Mutex
	records []string
}

func (l *badLogs) Enabled(_ context.Context, lv slog.Level) bool { return lv >= slog.LevelWarn }

func (l *badLogs) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", r.Level, r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	l.mu.Lock()
	l.records = append(l.records, b.String())
	l.mu.Unlock()
	return nil
}

func (l *badLogs) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *badLogs) WithGroup(string) slog.Handler      { return l }

func (l *badLogs) check(t *testing.T) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.records) > 0 {
		t.Fatalf("the server logged warnings or errors:\n%s", strings.Join(l.records, "\n"))
	}
}
