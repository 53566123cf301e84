package client_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tokengate/tokengate/bearer"
	"github.com/tokengate/tokengate/client"
	"github.com/tokengate/tokengate/internal/config"
)

// These tests run the client against tokengate serving the example
// configs in ../examples, with lifetimes shortened to seconds and a fake
// clock.

// shorten sets every access token lifetime to 2s and every refresh token
// lifetime to 10s, and the audience the verifier of verify expects.
func shorten(cfg *config.Config) {
	cfg.Audience = "api://orders"
	cfg.AccessTokenTTL = config.Duration(2 * time.Second)
	cfg.RefreshTokenTTL = config.Duration(10 * time.Second)
	for i := range cfg.Bootstrap.Clients {
		cfg.Bootstrap.Clients[i].AccessTokenTTL = config.Duration(2 * time.Second)
		cfg.Bootstrap.Clients[i].RefreshTokenTTL = config.Duration(10 * time.Second)
	}
}

// verify checks tok with the bearer middleware's verifier, against the
// server's published keys.
func verify(t *testing.T, tg *tokengate, now func() time.Time, tok string) (*bearer.Claims, error) {
	t.Helper()
	v, err := bearer.NewVerifier(context.Background(), bearer.Config{Issuer: tg.URL, Audience: "api://orders", Now: now, Leeway: -1})
	if err != nil {
		t.Fatal(err)
	}
	return v.Verify(context.Background(), tok)
}

// session logs in with cfg, checks the token, lets it expire and checks
// that the client renewed it through loginPath and refreshPath.
func session(t *testing.T, tg *tokengate, clk *clock, cfg client.Config, loginPath, refreshPath, wantSub string) *client.Client {
	t.Helper()
	cfg.BaseURL, cfg.Now = tg.URL, clk.Now
	c := newClient(t, cfg)
	ctx := context.Background()
	first, err := c.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cl, err := verify(t, tg, clk.Now, first); err != nil || cl.Subject != wantSub {
		t.Fatalf("login token: %v", err)
	}
	clk.Add(3 * time.Second)
	second, err := c.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if second == first {
		t.Fatal("the expired token was not renewed")
	}
	if cl, err := verify(t, tg, clk.Now, second); err != nil || cl.Subject != wantSub {
		t.Fatalf("renewed token: %v", err)
	}
	if n := tg.count(loginPath); n != 1 {
		t.Fatalf("%d requests to %s, want 1 login", n, loginPath)
	}
	if n := tg.count(refreshPath); n != 1 {
		t.Fatalf("%d requests to %s, want 1 refresh", n, refreshPath)
	}
	return c
}

func TestExampleSpringOAuth2(t *testing.T) {
	clk := newClock()
	tg := startExample(t, "spring-oauth2", clk.Now, shorten)
	c := session(t, tg, clk, client.Config{Contract: client.ContractSpringOAuth2, ClientID: "demo-client", ClientSecret: "demo-secret", Username: "demo-user", Password: "demo-password", Scopes: []string{"profile"}},
		"grant:password", "grant:refresh_token", "demo-user")
	if cl, _ := verify(t, tg, clk.Now, c.Tokens().AccessToken); cl == nil || !cl.HasScope("profile") {
		t.Fatal("scope profile not granted")
	}
	_, err := client.New(context.Background(), client.Config{BaseURL: tg.URL, Contract: client.ContractSpringOAuth2, ClientID: "demo-client", ClientSecret: "demo-secret", Username: "demo-user", Password: "wrong"})
	var e *client.Error
	if !errors.As(err, &e) || e.StatusCode != 400 || e.Code != "invalid_grant" {
		t.Fatalf("wrong password: %v", err)
	}
}

func TestExampleDjangoOAuthToolkit(t *testing.T) {
	clk := newClock()
	tg := startExample(t, "django-oauth-toolkit", clk.Now, shorten)
	session(t, tg, clk, client.Config{Contract: client.ContractDjangoOAuthToolkit, ClientID: "test_client_id", ClientSecret: "test_client_secret", Username: "test_api_user", Password: "test_api_user"},
		"grant:password", "grant:refresh_token", "test_api_user")
	if n := tg.count("POST /oauth/token/"); n != 2 {
		t.Fatalf("%d requests to /oauth/token/", n)
	}
	_, err := client.New(context.Background(), client.Config{BaseURL: tg.URL, Contract: client.ContractDjangoOAuthToolkit, ClientID: "test_client_id", ClientSecret: "wrong", Username: "test_api_user", Password: "test_api_user"})
	var e *client.Error
	if !errors.As(err, &e) || e.StatusCode != 401 || e.Code != "invalid_client" {
		t.Fatalf("wrong client secret: %v", err)
	}
}

func TestExampleLaravelPassport(t *testing.T) {
	clk := newClock()
	tg := startExample(t, "laravel-passport", clk.Now, shorten)
	session(t, tg, clk, client.Config{Contract: client.ContractLaravelPassport, ClientID: "demo-client", ClientSecret: "demo-secret", Username: "demo-user", Password: "demo-password"},
		"grant:password", "grant:refresh_token", "demo-user")
	if n := tg.count("POST /oauth/token"); n != 2 {
		t.Fatalf("%d requests to /oauth/token", n)
	}
}

func TestExampleFastAPI(t *testing.T) {
	ctx := context.Background()
	t.Run("password, default client", func(t *testing.T) {
		clk := newClock()
		tg := startExample(t, "fastapi", clk.Now, shorten)
		c := session(t, tg, clk, client.Config{Contract: client.ContractFastAPI, Username: "username_example", Password: "password_example"},
			"POST /auth/access-token", "POST /auth/refresh-token", "username_example")
		// After the refresh token's 10s, the refresh is refused and the
		// client logs in again.
		clk.Add(11 * time.Second)
		if _, err := c.Token(ctx); err != nil {
			t.Fatal(err)
		}
		if tg.count("POST /auth/refresh-token") != 2 || tg.count("POST /auth/access-token") != 2 {
			t.Fatalf("refreshes %d, logins %d", tg.count("POST /auth/refresh-token"), tg.count("POST /auth/access-token"))
		}
	})
	t.Run("password, own client", func(t *testing.T) {
		// The refresh route takes the token alone (refresh_client_auth:
		// none), so it refuses a confidential client's session; the
		// client logs in again with its credentials.
		clk := newClock()
		tg := startExample(t, "fastapi", clk.Now, shorten)
		c := newClient(t, client.Config{BaseURL: tg.URL, Now: clk.Now, Contract: client.ContractFastAPI, ClientID: "client_id_example", ClientSecret: "client_secret_example", Username: "username_example", Password: "password_example"})
		first, err := c.Token(ctx)
		if err != nil {
			t.Fatal(err)
		}
		clk.Add(3 * time.Second)
		second, err := c.Token(ctx)
		if err != nil || second == first {
			t.Fatalf("renewal: %v", err)
		}
		if cl, err := verify(t, tg, clk.Now, second); err != nil || cl.Subject != "username_example" {
			t.Fatalf("renewed token: %v", err)
		}
		if r, l := tg.count("POST /auth/refresh-token"), tg.count("POST /auth/access-token"); r != 1 || l != 2 {
			t.Fatalf("refreshes %d, logins %d; want the refresh refused and a second login", r, l)
		}
	})
	t.Run("API key", func(t *testing.T) {
		clk := newClock()
		tg := startExample(t, "fastapi", clk.Now, shorten)
		c := newClient(t, client.Config{BaseURL: tg.URL, Contract: client.ContractFastAPI, APIKey: "key_example", Now: clk.Now})
		first := c.Tokens()
		if first.RefreshToken != "" {
			t.Fatal("an API key login gave a refresh token")
		}
		if cl, err := verify(t, tg, clk.Now, first.AccessToken); err != nil || cl.Subject != "username_example" {
			t.Fatalf("API key token: %v", err)
		}
		clk.Add(3 * time.Second)
		if tok, err := c.Token(ctx); err != nil || tok == first.AccessToken {
			t.Fatalf("renewal: %v", err)
		}
		if n := tg.count("GET /auth/access-token"); n != 2 {
			t.Fatalf("%d API key logins, want 2", n)
		}
	})
	t.Run("refusals", func(t *testing.T) {
		tg := startExample(t, "fastapi", nil, shorten)
		_, err := client.New(ctx, client.Config{BaseURL: tg.URL, Contract: client.ContractFastAPI, Username: "username_example", Password: "wrong"})
		var e *client.Error
		if !errors.As(err, &e) || e.StatusCode != 400 || e.Description != "Incorrect username or password" {
			t.Fatalf("wrong password: %v", err)
		}
		_, err = client.New(ctx, client.Config{BaseURL: tg.URL, Contract: client.ContractFastAPI, APIKey: "wrong"})
		if !errors.As(err, &e) || e.StatusCode != 400 {
			t.Fatalf("wrong API key: %v", err)
		}
		// A refresh token the server never issued: 404, then a login.
		logins := tg.count("POST /auth/access-token")
		c := newClient(t, client.Config{BaseURL: tg.URL, Contract: client.ContractFastAPI, Username: "username_example", Password: "password_example", RefreshToken: "never-issued"})
		if _, err := c.Token(ctx); err != nil {
			t.Fatal(err)
		}
		if tg.count("POST /auth/refresh-token") != 1 || tg.count("POST /auth/access-token")-logins != 1 {
			t.Fatalf("refreshes %d, logins %d", tg.count("POST /auth/refresh-token"), tg.count("POST /auth/access-token")-logins)
		}
	})
}

func TestExampleDatarheiCore(t *testing.T) {
	clk := newClock()
	tg := startExample(t, "datarhei-core", clk.Now, shorten)
	ctx := context.Background()
	c := session(t, tg, clk, client.Config{Contract: client.ContractDatarheiCore, Username: "YOUR_USERNAME", Password: "YOUR_PASSWORD"},
		"POST /api/login", "GET /api/login/refresh", "YOUR_USERNAME")
	rt := c.Tokens().RefreshToken
	// The refresh token is a JWT (typ JWT, usefor refresh): it must never
	// pass as an access token.
	if _, err := verify(t, tg, clk.Now, rt); !errors.Is(err, bearer.ErrType) {
		t.Fatalf("refresh token as access token: %v", err)
	}
	// Not rotated: the client kept the one it had.
	clk.Add(3 * time.Second)
	if _, err := c.Token(ctx); err != nil {
		t.Fatal(err)
	}
	if c.Tokens().RefreshToken != rt || tg.count("GET /api/login/refresh") != 2 {
		t.Fatal("the refresh token that does not rotate was not reused")
	}
	// Once its exp has passed the client logs in without trying it.
	clk.Add(11 * time.Second)
	if _, err := c.Token(ctx); err != nil {
		t.Fatal(err)
	}
	if tg.count("GET /api/login/refresh") != 2 || tg.count("POST /api/login") != 2 {
		t.Fatalf("refreshes %d, logins %d", tg.count("GET /api/login/refresh"), tg.count("POST /api/login"))
	}
	_, err := client.New(ctx, client.Config{BaseURL: tg.URL, Contract: client.ContractDatarheiCore, Username: "YOUR_USERNAME", Password: "wrong"})
	var e *client.Error
	if !errors.As(err, &e) || e.StatusCode != 401 || e.Description != "invalid credentials" {
		t.Fatalf("wrong password: %v", err)
	}
}

// idp is a minimal external identity provider: one ES256 key behind a
// JWKS URL.
type idp struct {
	URL string
	key *ecdsa.PrivateKey
}

func newIdP(t *testing.T) *idp {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p := &idp{key: k}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: k.Public(), KeyID: "idp-1", Algorithm: "ES256", Use: "sig"}}})
	}))
	t.Cleanup(hs.Close)
	p.URL = hs.URL
	return p
}

func (p *idp) token(t *testing.T, sub string, now time.Time) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: p.key, KeyID: "idp-1"}}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]any{"iss": p.URL + "/", "aud": "https://api.example.test", "sub": sub, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()})
	jws, err := s.Sign(b)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := jws.CompactSerialize()
	return out
}

// trust maps each subject to the local user of the same name.
func (p *idp) trust(subjects ...string) config.TrustedIssuer {
	users := map[string]string{}
	for _, s := range subjects {
		users[s] = s
	}
	return config.TrustedIssuer{Issuer: p.URL + "/", Audiences: []string{"https://api.example.test"}, JWKSURL: p.URL + "/jwks.json", Algorithms: []string{"ES256"}, Users: users}
}

func TestExternalTokenLogin(t *testing.T) {
	ctx := context.Background()
	t.Run("oauth2 token exchange", func(t *testing.T) {
		clk := newClock()
		p := newIdP(t)
		tg := startTokengate(t, baseConfig, clk.Now, func(cfg *config.Config) {
			cfg.TrustedIssuers = []config.TrustedIssuer{p.trust("alice")}
			cfg.Bootstrap.Clients[0].Grants = append(cfg.Bootstrap.Clients[0].Grants, client.GrantTokenExchange)
		})
		c := newClient(t, client.Config{BaseURL: tg.URL, ClientID: "app", ClientSecret: "app-secret", ExternalToken: p.token(t, "alice", clk.Now()), Now: clk.Now})
		if cl, err := verify(t, tg, clk.Now, c.Tokens().AccessToken); err != nil || cl.Subject != "alice" {
			t.Fatalf("exchanged token: %v", err)
		}
		// No refresh token from an exchange: at expiry the client
		// exchanges the external token again.
		clk.Add(3 * time.Second)
		if _, err := c.Token(ctx); err != nil {
			t.Fatal(err)
		}
		if n := tg.count("grant:" + client.GrantTokenExchange); n != 2 {
			t.Fatalf("%d exchanges, want 2", n)
		}
		_, err := client.New(ctx, client.Config{BaseURL: tg.URL, ClientID: "app", ClientSecret: "app-secret", ExternalToken: p.token(t, "mallory", clk.Now())})
		var e *client.Error
		if !errors.As(err, &e) || e.StatusCode != 400 {
			t.Fatalf("subject not allowed: %v", err)
		}
	})
	t.Run("datarhei-core bearer login", func(t *testing.T) {
		clk := newClock()
		p := newIdP(t)
		tg := startExample(t, "datarhei-core", clk.Now, func(cfg *config.Config) {
			shorten(cfg)
			cfg.TrustedIssuers = []config.TrustedIssuer{p.trust("YOUR_USERNAME")}
		})
		session(t, tg, clk, client.Config{Contract: client.ContractDatarheiCore, ExternalToken: p.token(t, "YOUR_USERNAME", clk.Now())},
			"POST /api/login", "GET /api/login/refresh", "YOUR_USERNAME")
	})
}
