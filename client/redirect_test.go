package client_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/tokengate/tokengate/client"
)

// sink is a server on another origin that records every request it gets.
type sink struct {
	*httptest.Server
	mu   sync.Mutex
	seen []string // "METHOD path auth=... body=..."
}

func newSink(t *testing.T) *sink {
	t.Helper()
	s := &sink{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.seen = append(s.seen, r.Method+" "+r.URL.String()+" auth="+r.Header.Get("Authorization")+" referer="+r.Header.Get("Referer")+" body="+string(b))
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"access_token":"stolen","token_type":"Bearer","expires_in":3600}`)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *sink) requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.seen...)
}

// redirector answers every request with status and a Location on to.
func redirector(t *testing.T, status int, to string) *httptest.Server {
	t.Helper()
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", to+r.URL.Path)
		w.WriteHeader(status)
	}))
	t.Cleanup(hs.Close)
	return hs
}

func TestTokenRequestsNeverFollowRedirects(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		cfg    client.Config
	}{
		{"password 307", http.StatusTemporaryRedirect, client.Config{ClientID: "app", ClientSecret: "app-secret", Username: "alice", Password: "alice-pw"}},
		{"body client secret 308", http.StatusPermanentRedirect, client.Config{Contract: client.ContractDjangoOAuthToolkit, ClientID: "app", ClientSecret: "app-secret", Username: "alice", Password: "alice-pw"}},
		{"fastapi api key 302", http.StatusFound, client.Config{Contract: client.ContractFastAPI, APIKey: "the-api-key"}},
		{"refresh 307", http.StatusTemporaryRedirect, client.Config{ClientID: "app", ClientSecret: "app-secret", RefreshToken: "the-refresh-token"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			evil := newSink(t)
			rd := redirector(t, tc.status, evil.URL)
			cfg := tc.cfg
			cfg.BaseURL = rd.URL
			c, err := client.New(context.Background(), cfg)
			if err == nil {
				_, err = c.Token(context.Background())
			}
			if err == nil {
				t.Fatal("a redirected token request succeeded")
			}
			if !strings.Contains(err.Error(), "redirect") || !strings.Contains(err.Error(), evil.URL) {
				t.Fatalf("error does not name the redirect target: %v", err)
			}
			for _, secret := range []string{"alice-pw", "app-secret", "the-api-key", "the-refresh-token"} {
				if strings.Contains(err.Error(), secret) {
					t.Fatalf("error leaks %s: %v", secret, err)
				}
			}
			if got := evil.requests(); len(got) != 0 {
				t.Fatalf("the redirect target received %q", got)
			}
		})
	}
}

func TestTransportDropsTheTokenOnCrossOriginRedirects(t *testing.T) {
	tg := startTokengate(t, baseConfig, nil, nil)
	evil := newSink(t)
	rd := redirector(t, http.StatusFound, evil.URL)
	for _, optIn := range []bool{false, true} {
		c := newClient(t, client.Config{BaseURL: tg.URL, ClientID: "app", ClientSecret: "app-secret", Username: "alice", Password: "alice-pw", ForwardTokenOnRedirect: optIn})
		resp, err := c.HTTPClient().Get(rd.URL + "/orders")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		got := evil.requests()
		last := got[len(got)-1]
		if leaked := strings.Contains(last, "auth=Bearer"); leaked != optIn {
			t.Fatalf("ForwardTokenOnRedirect=%v: the other origin got %q", optIn, last)
		}
	}
}

func TestTransportKeepsTheTokenOnSameOriginRedirects(t *testing.T) {
	tg := startTokengate(t, baseConfig, nil, nil)
	var mu sync.Mutex
	var auths []string
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		auths = append(auths, r.Header.Get("Authorization"))
		mu.Unlock()
		if r.URL.Path == "/old" {
			http.Redirect(w, r, "/new", http.StatusFound)
		}
	}))
	t.Cleanup(hs.Close)
	c := newClient(t, client.Config{BaseURL: tg.URL, ClientID: "app", ClientSecret: "app-secret", Username: "alice", Password: "alice-pw"})
	resp, err := c.HTTPClient().Get(hs.URL + "/old")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if len(auths) != 2 || !strings.HasPrefix(auths[1], "Bearer ") {
		t.Fatalf("same-origin redirect lost the token: %q", auths)
	}
}
