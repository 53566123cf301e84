package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokengate/tokengate/bearer"
	"github.com/tokengate/tokengate/client"
)

func newClient(t *testing.T, cfg client.Config) *client.Client {
	t.Helper()
	c, err := client.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// api is a protected resource server: bearer middleware in front of a
// handler that echoes the subject and the request body.
func api(t *testing.T, tg *tokengate, now func() time.Time) *httptest.Server {
	t.Helper()
	v, err := bearer.NewVerifier(context.Background(), bearer.Config{Issuer: tg.URL, Audience: "api://orders", Leeway: -1, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(v.Require("read")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s:%s", bearer.ClaimsFrom(r.Context()).Subject, b)
	})))
	t.Cleanup(hs.Close)
	return hs
}

func TestNewLogsInOnceAndReusesTheToken(t *testing.T) {
	tg := startTokengate(t, baseConfig, nil, nil)
	c := newClient(t, client.Config{BaseURL: tg.URL, ClientID: "app", ClientSecret: "app-secret", Username: "alice", Password: "alice-pw", Scopes: []string{"read"}})
	if n := tg.count("grant:password"); n != 1 {
		t.Fatalf("New made %d password logins, want 1", n)
	}
	ctx := context.Background()
	first, err := c.Token(ctx)
	if err != nil || first == "" {
		t.Fatal(err)
	}
	for range 10 {
		if tok, _ := c.Token(ctx); tok != first {
			t.Fatal("a valid token was replaced")
		}
	}
	if n := tg.count("POST /oauth/token"); n != 1 {
		t.Fatalf("%d token requests, want 1", n)
	}
	got := c.Tokens()
	if got.AccessToken != first || !strings.HasPrefix(got.RefreshToken, "tgr_") || got.Expiry.IsZero() {
		t.Fatalf("Tokens() = %+v", got)
	}
}

// A real server and a real resource server on one fake clock: the
// session outlives several access tokens of 2s, renewing each expired
// one with a refresh and never logging in again.
func TestTokenRefreshesAcrossExpiry(t *testing.T) {
	clk := newClock()
	tg := startTokengate(t, baseConfig, clk.Now, nil)
	res := api(t, tg, clk.Now)
	c := newClient(t, client.Config{BaseURL: tg.URL, ClientID: "app", ClientSecret: "app-secret", Username: "alice", Password: "alice-pw", RefreshMargin: 500 * time.Millisecond, Now: clk.Now})
	hc := c.HTTPClient()
	seen := map[string]bool{}
	const expiries = 3
	for i := 0; i <= expiries; i++ {
		resp, err := hc.Get(res.URL)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(b) != "alice:" {
			t.Fatalf("API call %d: %d %s", i, resp.StatusCode, b)
		}
		tok, err := c.Token(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		seen[tok] = true
		clk.Add(2100 * time.Millisecond) // past the 2s token's expiry
	}
	if len(seen) != expiries+1 {
		t.Fatalf("%d access tokens across %d expiries, want %d", len(seen), expiries, expiries+1)
	}
	if n := tg.count("grant:password"); n != 1 {
		t.Fatalf("%d logins, want 1: the session should live on refreshes", n)
	}
	if n := tg.count("grant:refresh_token"); n != expiries {
		t.Fatalf("%d refreshes for %d expiries", n, expiries)
	}
}

func TestConcurrentCallersShareOneRefresh(t *testing.T) {
	clk := newClock()
	tg := startTokengate(t, baseConfig, clk.Now, nil)
	var callbacks atomic.Int32
	c := newClient(t, client.Config{BaseURL: tg.URL, ClientID: "app", ClientSecret: "app-secret", Username: "alice", Password: "alice-pw", Now: clk.Now,
		OnTokens: func(client.Tokens) { callbacks.Add(1) }})
	old := c.Tokens()
	clk.Add(3 * time.Second) // past the 2s access token
	var wg sync.WaitGroup
	start := make(chan struct{})
	tokens := make([]string, 100)
	errs := make([]error, 100)
	for i := range 100 {
		wg.Go(func() {
			<-start
			tokens[i], errs[i] = c.Token(context.Background())
		})
	}
	close(start)
	wg.Wait()
	for i := range 100 {
		if errs[i] != nil {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
		if tokens[i] != tokens[0] || tokens[i] == old.AccessToken {
			t.Fatalf("caller %d got another token", i)
		}
	}
	if n := tg.count("grant:refresh_token"); n != 1 {
		t.Fatalf("%d refresh requests for 100 concurrent callers, want 1", n)
	}
	if n := tg.count("grant:password"); n != 1 {
		t.Fatalf("%d logins, want 1", n)
	}
	if n := callbacks.Load(); n != 2 {
		t.Fatalf("OnTokens called %d times, want 2 (login, refresh)", n)
	}
	if nt := c.Tokens(); nt.RefreshToken == old.RefreshToken || nt.RefreshToken == "" {
		t.Fatal("the rotated refresh token was not kept")
	}
}

func TestResumeFromExportedTokensWithoutLogin(t *testing.T) {
	clk := newClock()
	tg := startTokengate(t, baseConfig, clk.Now, nil)
	creds := client.Config{BaseURL: tg.URL, ClientID: "app", ClientSecret: "app-secret", Username: "alice", Password: "alice-pw", Now: clk.Now}
	saved := newClient(t, creds).Tokens()

	resumed := creds
	resumed.AccessToken, resumed.RefreshToken = saved.AccessToken, saved.RefreshToken
	c := newClient(t, resumed)
	if n := tg.count("grant:password"); n != 1 {
		t.Fatalf("resuming logged in: %d logins", n)
	}
	ctx := context.Background()
	if tok, err := c.Token(ctx); err != nil || tok != saved.AccessToken {
		t.Fatalf("resumed token: %v (same: %v)", err, tok == saved.AccessToken)
	}
	if exp := c.Tokens().Expiry; exp.IsZero() {
		t.Fatal("expiry not read from the saved JWT")
	}
	// When it expires, the saved refresh token renews it: no login.
	clk.Add(3 * time.Second)
	tok, err := c.Token(ctx)
	if err != nil || tok == saved.AccessToken {
		t.Fatalf("refresh of the resumed session: %v", err)
	}
	if tg.count("grant:password") != 1 || tg.count("grant:refresh_token") != 1 {
		t.Fatalf("logins %d, refreshes %d; want 1 and 1", tg.count("grant:password"), tg.count("grant:refresh_token"))
	}
}

func TestLogsInAgainWhenTheRefreshTokenIsGone(t *testing.T) {
	ctx := context.Background()
	t.Run("expired", func(t *testing.T) {
		clk := newClock()
		tg := startTokengate(t, baseConfig, clk.Now, nil)
		var saved []client.Tokens
		c := newClient(t, client.Config{BaseURL: tg.URL, ClientID: "app", ClientSecret: "app-secret", Username: "alice", Password: "alice-pw", Now: clk.Now,
			OnTokens: func(tk client.Tokens) { saved = append(saved, tk) }})
		clk.Add(11 * time.Second) // past the 10s refresh token
		tok, err := c.Token(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if tg.count("grant:refresh_token") != 1 || tg.count("grant:password") != 2 {
			t.Fatalf("refreshes %d, logins %d; want 1 refused refresh, then a second login", tg.count("grant:refresh_token"), tg.count("grant:password"))
		}
		if len(saved) != 2 || saved[1].AccessToken != tok {
			t.Fatalf("OnTokens saw %d pairs", len(saved))
		}
	})
	t.Run("revoked", func(t *testing.T) {
		tg := startTokengate(t, baseConfig, nil, nil)
		c := newClient(t, client.Config{BaseURL: tg.URL, ClientID: "app", ClientSecret: "app-secret", Username: "alice", Password: "alice-pw"})
		if status, _ := tg.post(t, "/oauth/revoke", "app", "app-secret", url.Values{"token": {c.Tokens().RefreshToken}}); status != http.StatusOK {
			t.Fatalf("revoke: %d", status)
		}
		old := c.Tokens().AccessToken
		tok, err := c.Refresh(ctx)
		if err != nil || tok == old {
			t.Fatalf("after revocation: %v", err)
		}
		if tg.count("grant:password") != 2 {
			t.Fatalf("%d logins, want 2", tg.count("grant:password"))
		}
	})
	t.Run("no credentials", func(t *testing.T) {
		clk := newClock()
		tg := startTokengate(t, baseConfig, clk.Now, nil)
		saved := newClient(t, client.Config{BaseURL: tg.URL, ClientID: "app", ClientSecret: "app-secret", Username: "alice", Password: "alice-pw", Now: clk.Now}).Tokens()
		// The client's credentials and the saved tokens, but no password:
		// client_credentials must not replace alice's session.
		c := newClient(t, client.Config{BaseURL: tg.URL, ClientID: "app", ClientSecret: "app-secret", AccessToken: saved.AccessToken, RefreshToken: saved.RefreshToken, Now: clk.Now})
		clk.Add(11 * time.Second)
		_, err := c.Token(ctx)
		if !errors.Is(err, client.ErrSessionExpired) {
			t.Fatalf("got %v, want ErrSessionExpired", err)
		}
		var e *client.Error
		if !errors.As(err, &e) || e.Op != "refresh" || e.StatusCode != 400 || e.Code != "invalid_grant" {
			t.Fatalf("the server's refusal is not inside: %#v", e)
		}
		if n := tg.count("grant:client_credentials"); n != 0 {
			t.Fatalf("%d client_credentials logins replaced the user's session", n)
		}
	})
}

func TestRefusedLoginIsATypedError(t *testing.T) {
	tg := startTokengate(t, baseConfig, nil, nil)
	cases := []struct {
		name   string
		cfg    client.Config
		status int
		code   string
	}{
		{"wrong password", client.Config{ClientID: "app", ClientSecret: "app-secret", Username: "alice", Password: "hunter2-wrong"}, 400, "invalid_grant"},
		{"wrong client secret", client.Config{ClientID: "app", ClientSecret: "hunter2-wrong", Username: "alice", Password: "alice-pw"}, 401, "invalid_client"},
		{"grant not allowed", client.Config{ClientID: "svc", ClientSecret: "svc-secret", Username: "alice", Password: "alice-pw"}, 400, "unauthorized_client"},
		{"scope not allowed", client.Config{ClientID: "app", ClientSecret: "app-secret", Username: "alice", Password: "alice-pw", Scopes: []string{"admin"}}, 400, "invalid_scope"},
		{"wrong API key", client.Config{ClientID: "app", ClientSecret: "app-secret", APIKey: "hunter2-wrong"}, 400, "invalid_grant"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.BaseURL = tg.URL
			_, err := client.New(context.Background(), tc.cfg)
			var e *client.Error
			if !errors.As(err, &e) {
				t.Fatalf("got %v, want *client.Error", err)
			}
			if e.Op != "login" || e.StatusCode != tc.status || e.Code != tc.code || e.Description == "" {
				t.Fatalf("got %#v, want %d %s", e, tc.status, tc.code)
			}
			if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "secret") {
				t.Fatalf("error leaks a credential: %v", err)
			}
		})
	}
	// Not a refusal: nothing listens there.
	hs := httptest.NewServer(http.NotFoundHandler())
	hs.Close()
	_, err := client.New(context.Background(), client.Config{BaseURL: hs.URL, Contract: client.ContractFastAPI, APIKey: "hunter2-key"})
	var e *client.Error
	if err == nil || errors.As(err, &e) || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("unreachable server: %v", err)
	}
}

func TestOtherLoginCredentials(t *testing.T) {
	clk := newClock()
	tg := startTokengate(t, baseConfig, clk.Now, nil)
	ctx := context.Background()
	t.Run("client credentials log in again at expiry", func(t *testing.T) {
		c := newClient(t, client.Config{BaseURL: tg.URL, ClientID: "svc", ClientSecret: "svc-secret", Now: clk.Now})
		if c.Tokens().RefreshToken != "" {
			t.Fatal("client_credentials should give no refresh token")
		}
		clk.Add(3 * time.Second)
		if _, err := c.Token(ctx); err != nil {
			t.Fatal(err)
		}
		if n := tg.count("grant:client_credentials"); n != 2 {
			t.Fatalf("%d client_credentials logins, want 2", n)
		}
	})
	t.Run("API key", func(t *testing.T) {
		c := newClient(t, client.Config{BaseURL: tg.URL, ClientID: "app", ClientSecret: "app-secret", APIKey: "my-imported-key", Now: clk.Now})
		if n := tg.count("grant:" + client.GrantAPIKey); n != 1 {
			t.Fatalf("%d API key grants", n)
		}
		clk.Add(3 * time.Second)
		if _, err := c.Token(ctx); err != nil {
			t.Fatal(err)
		}
		if n := tg.count("grant:" + client.GrantAPIKey); n != 2 {
			t.Fatalf("%d API key grants, want 2", n)
		}
	})
	t.Run("public client", func(t *testing.T) {
		c := newClient(t, client.Config{BaseURL: tg.URL, ClientID: "spa", Username: "alice", Password: "alice-pw", Now: clk.Now})
		clk.Add(3 * time.Second)
		if _, err := c.Token(ctx); err != nil {
			t.Fatal(err)
		}
		if n := tg.count("grant:refresh_token"); n != 1 {
			t.Fatalf("%d refreshes", n)
		}
	})
}

func TestNewRefusesUnusableConfigs(t *testing.T) {
	cases := []struct {
		name string
		cfg  client.Config
		want string
	}{
		{"nothing", client.Config{BaseURL: "http://x"}, "no credentials"},
		{"unknown contract", client.Config{BaseURL: "http://x", Contract: "soap", Username: "u", Password: "p"}, "unknown contract"},
		{"bad base URL", client.Config{BaseURL: "x", Username: "u", Password: "p"}, "BaseURL"},
		{"username without password", client.Config{BaseURL: "http://x", Username: "u"}, "Password"},
		{"API key with datarhei", client.Config{BaseURL: "http://x", Contract: client.ContractDatarheiCore, APIKey: "k"}, "cannot log in with an API key"},
		{"client credentials with fastapi", client.Config{BaseURL: "http://x", Contract: client.ContractFastAPI, ClientID: "a", ClientSecret: "b"}, "cannot log in with client credentials"},
		{"external token with fastapi", client.Config{BaseURL: "http://x", Contract: client.ContractFastAPI, ExternalToken: "t"}, "cannot log in with an external token"},
		{"relative endpoint without base", client.Config{Username: "u", Password: "p"}, "BaseURL is empty"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := client.New(context.Background(), tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

func TestTokensDoNotPrint(t *testing.T) {
	tk := client.Tokens{AccessToken: "eyJsecret.payload.sig", RefreshToken: "tgr_secret", Expiry: time.Unix(0, 0).UTC()}
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		if s := fmt.Sprintf(format, tk); strings.Contains(s, "secret") {
			t.Fatalf("%s prints %q", format, s)
		}
	}
}
