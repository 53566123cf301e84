package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/bearer"
	"github.com/tokengate/tokengate/internal/config"
	"github.com/tokengate/tokengate/internal/server"
	"github.com/tokengate/tokengate/internal/store/sqlite"
)

// Scenario names shared by the load runs and the allocation figures.
const (
	scCC         = "client_credentials grant"
	scRefresh    = "refresh_token grant, SQLite (committed before the response)"
	scPassword   = "password grant (argon2id m=19 MiB, t=2, p=1)"
	scIntrospect = "introspection of an access token (signature verified, client authenticated)"
	scBearer     = "hello-world behind bearer middleware (valid token)"
	scHello      = "hello-world baseline (net/http)"
)

// allocsRuns is how many requests each allocation figure averages.
const allocsRuns = 200

// measureAllocs counts heap allocations per request of each scenario's
// handler in this process (testing.AllocsPerRun: runtime.MemStats deltas
// around the calls), with the same configuration as the served binary on
// its own SQLite file. Building the request and recording the response
// cost allocations too; they are measured on a handler that does nothing
// and subtracted. issuer is the running server's URL, whose JWKS the
// bearer middleware fetches.
func (b *bench) measureAllocs(dir, issuer string) (map[string]float64, error) {
	ctx := context.Background()
	cfg, err := config.Parse("bench.yaml", []byte(benchConfig))
	if err != nil {
		return nil, err
	}
	cfg.Issuer = "http://tokengate.bench"
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	st, err := sqlite.Open(ctx, filepath.Join(dir, "allocs.db"))
	if err != nil {
		return nil, err
	}
	defer st.Close()
	srv, err := server.New(ctx, server.Options{Config: cfg, Store: st})
	if err != nil {
		return nil, err
	}
	h := srv.Handler()
	var failed error
	// call serves one request and keeps the first failure.
	call := func(h http.Handler, method, path, body string, hdr map[string]string) *httptest.ResponseRecorder {
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		req := httptest.NewRequest(method, path, rd)
		if body != "" {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK && failed == nil {
			failed = fmt.Errorf("%s %s: %d %s", method, path, w.Code, w.Body)
		}
		return w
	}
	nop := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	overhead := func(method, body string, hdr map[string]string) float64 {
		return testing.AllocsPerRun(allocsRuns, func() { call(nop, method, "/", body, hdr) })
	}
	per := func(method, path, body string, hdr map[string]string, h http.Handler) float64 {
		n := testing.AllocsPerRun(allocsRuns, func() { call(h, method, path, body, hdr) })
		return max(0, n-overhead(method, body, hdr))
	}
	out := map[string]float64{}
	ccBody := "grant_type=client_credentials"
	out[scCC] = per("POST", "/oauth/token", ccBody, basicBench, h)

	w := call(h, "POST", "/oauth/token", ccBody, basicBench)
	access := field(w.Body.Bytes(), "access_token")
	out[scIntrospect] = per("POST", "/oauth/introspect", "token="+url.QueryEscape(access), basicBench, h)

	// The refresh chain: each call rotates the token the previous one
	// returned (the extraction is one allocation, counted in).
	w = call(h, "POST", "/oauth/token", passwordBody, basicBench)
	rt := field(w.Body.Bytes(), "refresh_token")
	refresh := func() {
		w := call(h, "POST", "/oauth/token", "grant_type=refresh_token&refresh_token="+url.QueryEscape(rt), basicBench)
		rt = field(w.Body.Bytes(), "refresh_token")
	}
	n := testing.AllocsPerRun(allocsRuns, refresh)
	out[scRefresh] = max(0, n-overhead("POST", "grant_type=refresh_token&refresh_token="+url.QueryEscape(rt), basicBench))

	out[scPassword] = func() float64 {
		n := testing.AllocsPerRun(5, func() { call(h, "POST", "/oauth/token", passwordBody, basicBench) })
		return max(0, n-overhead("POST", passwordBody, basicBench))
	}()

	hello := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("hello\n"))
	})
	out[scHello] = per("GET", "/", "", nil, hello)
	if issuer != "" {
		// A token of the served binary, verified against its JWKS.
		v, err := bearer.NewVerifier(ctx, bearer.Config{Issuer: issuer, Audience: benchAudience})
		if err != nil {
			return nil, fmt.Errorf("verifier: %w", err)
		}
		c := newHTTPClient(1)
		st, body, err := post(ctx, c, issuer+"/oauth/token", ccBody, basicBench)
		if err != nil || st != 200 {
			return nil, fmt.Errorf("token for the middleware: %d %v", st, err)
		}
		authz := map[string]string{"Authorization": "Bearer " + field(body, "access_token")}
		out[scBearer] = per("GET", "/", "", authz, v.Require()(hello))
	}
	if failed != nil {
		return nil, failed
	}
	return out, nil
}

// field returns a top-level string member of a JSON object (the token
// responses' access_token, refresh_token), without a decoder.
func field(body []byte, name string) string {
	key := []byte(`"` + name + `":"`)
	i := bytes.Index(body, key)
	if i < 0 {
		return ""
	}
	rest := body[i+len(key):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return ""
	}
	return string(rest[:j])
}
