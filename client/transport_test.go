package client_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/tokengate/tokengate/bearer"
	"github.com/tokengate/tokengate/client"
)

// flakyAPI is a protected API that refuses, with 401, every token in
// refused, and counts the requests that reach it.
type flakyAPI struct {
	*httptest.Server
	mu      sync.Mutex
	refused map[string]bool
	hits    int
}

func newFlakyAPI(t *testing.T, tg *tokengate) *flakyAPI {
	t.Helper()
	v, err := bearer.NewVerifier(context.Background(), bearer.Config{Issuer: tg.URL, Audience: "api://orders"})
	if err != nil {
		t.Fatal(err)
	}
	a := &flakyAPI{refused: map[string]bool{}}
	ok := v.Require()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		io.WriteString(w, bearer.ClaimsFrom(r.Context()).Subject+":"+string(b))
	}))
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		a.mu.Lock()
		a.hits++
		refused := a.refused[tok] || a.refused["*"]
		a.mu.Unlock()
		if refused {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		ok.ServeHTTP(w, r)
	}))
	t.Cleanup(a.Close)
	return a
}

func (a *flakyAPI) refuse(tok string) {
	a.mu.Lock()
	a.refused[tok] = true
	a.mu.Unlock()
}

func (a *flakyAPI) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.hits
}

func call(t *testing.T, hc *http.Client, req *http.Request) (int, string) {
	t.Helper()
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestTransportRenewsAndRetriesOnceAfter401(t *testing.T) {
	tg := startTokengate(t, baseConfig, nil, nil)
	c := newClient(t, client.Config{BaseURL: tg.URL, ClientID: "app", ClientSecret: "app-secret", Username: "alice", Password: "alice-pw"})
	hc := c.HTTPClient()

	t.Run("replayable body", func(t *testing.T) {
		a := newFlakyAPI(t, tg)
		a.refuse(c.Tokens().AccessToken) // e.g. revoked, or the API's clock is ahead
		before := tg.count("grant:refresh_token")
		req, _ := http.NewRequest(http.MethodPost, a.URL, strings.NewReader("payload"))
		status, body := call(t, hc, req)
		if status != http.StatusOK || body != "alice:payload" {
			t.Fatalf("%d %q", status, body)
		}
		if a.count() != 2 || tg.count("grant:refresh_token")-before != 1 {
			t.Fatalf("API hits %d, refreshes %d; want 2 and 1", a.count(), tg.count("grant:refresh_token")-before)
		}
		if req.Header.Get("Authorization") != "" {
			t.Fatal("the caller's request was modified")
		}
	})
	t.Run("body that cannot be replayed", func(t *testing.T) {
		a := newFlakyAPI(t, tg)
		refused := c.Tokens().AccessToken
		a.refuse(refused)
		req, _ := http.NewRequest(http.MethodPost, a.URL, io.NopCloser(strings.NewReader("once")))
		if status, _ := call(t, hc, req); status != http.StatusUnauthorized {
			t.Fatalf("status %d, want the 401 passed through", status)
		}
		if a.count() != 1 {
			t.Fatalf("%d API hits: a body that cannot be replayed was resent", a.count())
		}
		// The refused token is not handed out again.
		req, _ = http.NewRequest(http.MethodGet, a.URL, nil)
		if status, body := call(t, hc, req); status != http.StatusOK || body != "alice:" {
			t.Fatalf("next request: %d %q", status, body)
		}
		if tok, _ := c.Token(context.Background()); tok == refused {
			t.Fatal("the refused token is still in use")
		}
	})
	t.Run("API refuses every token", func(t *testing.T) {
		a := newFlakyAPI(t, tg)
		a.refuse("*")
		req, _ := http.NewRequest(http.MethodGet, a.URL, nil)
		if status, _ := call(t, hc, req); status != http.StatusUnauthorized {
			t.Fatalf("status %d", status)
		}
		if a.count() != 2 {
			t.Fatalf("%d API hits, want 2: one retry only", a.count())
		}
	})
}
