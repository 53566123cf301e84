package client_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokengate/tokengate/client"
)

// reuseConfig is baseConfig with a refresh reuse interval longer than the
// client's timeout, as the client's README asks of the server.
var reuseConfig = strings.Replace(baseConfig, "access_token_ttl: 2s, refresh_token_ttl: 10s}", "access_token_ttl: 2s, refresh_token_ttl: 10s, refresh_reuse_interval: 10s}", 1)

// lossyProxy forwards to tg, except that the first refresh request is
// forwarded and its answer lost: the connection is closed unanswered,
// after the server rotated the refresh token.
func lossyProxy(t *testing.T, tg *tokengate) (*httptest.Server, *atomic.Bool) {
	t.Helper()
	up, err := url.Parse(tg.URL)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(up)
	var dropped atomic.Bool
	px := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(b))
		if strings.Contains(string(b), "grant_type=refresh_token") && dropped.CompareAndSwap(false, true) {
			req, _ := http.NewRequest(r.Method, tg.URL+r.URL.Path, bytes.NewReader(b))
			req.Header = r.Header.Clone()
			if resp, err := http.DefaultTransport.RoundTrip(req); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(px.Close)
	return px, &dropped
}

func TestLostRefreshAnswerIsRetriedOnce(t *testing.T) {
	clk := newClock()
	tg := startTokengate(t, reuseConfig, clk.Now, nil)
	px, dropped := lossyProxy(t, tg)
	c := newClient(t, client.Config{BaseURL: px.URL, ClientID: "app", ClientSecret: "app-secret", Username: "alice", Password: "alice-pw", Now: clk.Now})
	first := c.Tokens()
	clk.Add(3 * time.Second)
	tok, err := c.Token(context.Background())
	if err != nil {
		t.Fatalf("a lost answer ended the call: %v", err)
	}
	if !dropped.Load() || tok == first.AccessToken {
		t.Fatalf("dropped=%v, token renewed=%v", dropped.Load(), tok != first.AccessToken)
	}
	if n := tg.count("grant:refresh_token"); n != 2 {
		t.Fatalf("%d refreshes reached the server, want 2 (the lost one and its retry)", n)
	}
	if n := tg.count("grant:password"); n != 1 {
		t.Fatalf("%d logins: the session was replaced", n)
	}
	// The session lives on: the next refresh works.
	clk.Add(3 * time.Second)
	if _, err := c.Token(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := tg.count("grant:password"); n != 1 {
		t.Fatalf("%d logins: the retried refresh's family was revoked", n)
	}
}

func TestFileStoreSharedByTwoClientsRefreshesOnce(t *testing.T) {
	clk := newClock()
	tg := startTokengate(t, baseConfig, clk.Now, nil)
	store := client.FileStore(filepath.Join(t.TempDir(), "cache", "tokens.json"))
	seed := newClient(t, client.Config{BaseURL: tg.URL, ClientID: "app", ClientSecret: "app-secret", Username: "alice", Password: "alice-pw", Now: clk.Now})
	if err := store.Save(seed.Tokens()); err != nil {
		t.Fatal(err)
	}
	saved, err := store.Load()
	if err != nil {
		t.Fatal(err)
	}
	// Two processes resume the same session and find it expired at once.
	var clients []*client.Client
	for range 2 {
		clients = append(clients, newClient(t, client.Config{BaseURL: tg.URL, ClientID: "app", ClientSecret: "app-secret", Username: "alice",
			AccessToken: saved.AccessToken, RefreshToken: saved.RefreshToken, Expiry: saved.Expiry, Store: store, Now: clk.Now}))
	}
	clk.Add(3 * time.Second)
	toks := make([]string, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Go(func() { toks[i], errs[i] = c.Token(context.Background()) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := tg.count("grant:refresh_token"); n != 1 {
		t.Fatalf("%d refreshes for one shared session, want 1", n)
	}
	if toks[0] != toks[1] {
		t.Fatal("the two clients hold different access tokens")
	}
	if now, _ := store.Load(); now.AccessToken != toks[0] {
		t.Fatal("the store does not hold the new session")
	}
}

func TestAlways401ResourceDoesNotLoopRefreshes(t *testing.T) {
	tg := startTokengate(t, baseConfig, nil, nil)
	a := newFlakyAPI(t, tg)
	a.refuse("*")
	for _, replayable := range []bool{true, false} {
		c := newClient(t, client.Config{BaseURL: tg.URL, ClientID: "app", ClientSecret: "app-secret", Username: "alice", Password: "alice-pw"})
		hc := c.HTTPClient()
		before := tg.count("grant:refresh_token")
		for range 10 {
			var body io.Reader = strings.NewReader("payload")
			if !replayable {
				body = io.NopCloser(body)
			}
			req, _ := http.NewRequest(http.MethodPost, a.URL, body)
			if status, _ := call(t, hc, req); status != http.StatusUnauthorized {
				t.Fatalf("status %d", status)
			}
		}
		if n := tg.count("grant:refresh_token") - before; n > 1 {
			t.Fatalf("replayable=%v: 10 calls to an API that refuses everything made %d refreshes, want at most 1", replayable, n)
		}
	}
}

func TestInsufficientScope401DoesNotRenew(t *testing.T) {
	tg := startTokengate(t, baseConfig, nil, nil)
	c := newClient(t, client.Config{BaseURL: tg.URL, ClientID: "app", ClientSecret: "app-secret", Username: "alice", Password: "alice-pw"})
	for _, challenge := range []string{`Bearer error="insufficient_scope", scope="admin"`, `Bearer realm="x", error="invalid_request"`} {
		var hits atomic.Int32
		hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits.Add(1)
			w.Header().Set("WWW-Authenticate", challenge)
			w.WriteHeader(http.StatusUnauthorized)
		}))
		req, _ := http.NewRequest(http.MethodGet, hs.URL, nil)
		call(t, c.HTTPClient(), req)
		hs.Close()
		if n := tg.count("grant:refresh_token"); n != 0 || hits.Load() != 1 {
			t.Fatalf("%s: %d refreshes, %d API hits; want 0 and 1", challenge, n, hits.Load())
		}
	}
}

func TestFailedEarlyRenewalKeepsTheValidToken(t *testing.T) {
	clk := newClock()
	var refreshes atomic.Int32
	answered := make(chan struct{}, 100)
	s := newStub(t, map[string]func() (int, string){"POST /oauth/token": func() (int, string) {
		refreshes.Add(1)
		answered <- struct{}{}
		return 503, `{"error":"temporarily_unavailable"}`
	}})
	at := fakeJWT("u", clk.Now().Add(50*time.Second))
	c := newClient(t, client.Config{BaseURL: s.URL, Username: "u", Password: "p", AccessToken: at, RefreshToken: "RT1", Now: clk.Now})
	clk.Add(30 * time.Second) // 20 s left, inside the 30 s margin
	for i := range 50 {
		tok, err := c.Token(context.Background())
		if err != nil || tok != at {
			t.Fatalf("call %d: %q %v; want the still valid token", i, tok, err)
		}
	}
	<-answered
	if _, err := c.Token(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := refreshes.Load(); n > 2 {
		t.Fatalf("%d refresh attempts for 51 calls without the clock moving, want at most 2 (back-off)", n)
	}
	clk.Add(21 * time.Second) // expired
	if _, err := c.Token(context.Background()); err == nil {
		t.Fatal("an expired token was handed out")
	}
}
