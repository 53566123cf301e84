package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"

	"github.com/tokengate/tokengate/client"
)

// fakeServer stands in for tokengate in the examples: a token endpoint
// that accepts alice and an API that greets the bearer of its token.
func fakeServer() *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /oauth/token", func(w http.ResponseWriter, r *http.Request) {
		id, secret, _ := r.BasicAuth()
		if id != "my-app" || secret != "my-app-secret" || r.FormValue("password") != "alice-pw" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"error":"invalid_grant","error_description":"invalid username or password"}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"access_token":"token-for-alice","token_type":"Bearer","expires_in":900,"refresh_token":"tgr_refresh"}`)
	})
	mux.HandleFunc("GET /api/hello", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer token-for-alice" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		io.WriteString(w, "hello, alice")
	})
	return httptest.NewServer(mux)
}

// The program of the package's README: a session kept in a file that
// several runs and processes share (it is refreshed once between them,
// under the file's lock), used for API calls. Compiled, not run: it needs
// a real server.
func Example_program() {
	ctx := context.Background()
	c, err := client.New(ctx, client.Config{
		BaseURL:  "https://auth.example.com",
		ClientID: "my-app", ClientSecret: os.Getenv("CLIENT_SECRET"),
		Username: "alice", Password: os.Getenv("PASSWORD"),
		Store: client.FileStore(filepath.Join(os.Getenv("HOME"), ".config", "my-app", "tokens.json")),
	})
	if err != nil {
		log.Fatal(err) // a *client.Error when the server refused the login
	}
	// The token is added to each request, renewed ahead of its expiry,
	// and sent to no other origin a response redirects to.
	resp, err := c.HTTPClient().Get("https://api.example.com/orders")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.Status, string(body))
}

// A program that calls a protected API: the client logs in once and
// keeps the token fresh for every request.
func Example() {
	srv := fakeServer() // your tokengate and API
	defer srv.Close()

	ctx := context.Background()
	c, err := client.New(ctx, client.Config{
		BaseURL:  srv.URL,
		ClientID: "my-app", ClientSecret: "my-app-secret",
		Username: "alice", Password: "alice-pw",
	})
	if err != nil {
		log.Fatal(err)
	}
	resp, err := c.HTTPClient().Get(srv.URL + "/api/hello")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, string(body))
	// Output: 200 hello, alice
}

// A refused login is a *client.Error carrying the server's error code;
// errors.As finds it in whatever wraps it.
func ExampleError() {
	srv := fakeServer()
	defer srv.Close()

	_, err := client.New(context.Background(), client.Config{
		BaseURL:  srv.URL,
		ClientID: "my-app", ClientSecret: "my-app-secret",
		Username: "alice", Password: "wrong",
	})
	var e *client.Error
	if errors.As(err, &e) {
		fmt.Println(e.StatusCode, e.Code)
		fmt.Println(e)
	}
	// Output:
	// 400 invalid_grant
	// client: login refused: invalid_grant: invalid username or password (HTTP 400)
}

// Saved tokens resume a session without a login round trip; the
// credentials let the client log in again once the refresh token has
// expired.
func ExampleNew_resume() {
	srv := fakeServer()
	defer srv.Close()

	c, err := client.New(context.Background(), client.Config{
		BaseURL:  srv.URL,
		ClientID: "my-app", ClientSecret: "my-app-secret",
		Username: "alice", Password: "alice-pw",
		AccessToken:  "token-for-alice", // from a previous Client's Tokens()
		RefreshToken: "tgr_refresh",
	})
	if err != nil {
		log.Fatal(err)
	}
	tok, _ := c.Token(context.Background())
	fmt.Println(tok)
	// Output: token-for-alice
}

// Each documented API contract is a preset: here a datarhei Core-style
// server, logging in with an Auth0 token instead of a password.
func ExampleConfig_contract() {
	c, err := client.New(context.Background(), client.Config{
		BaseURL:       "http://127.0.0.1:8080",
		Contract:      client.ContractDatarheiCore,
		ExternalToken: os.Getenv("AUTH0_TOKEN"),
	})
	if err != nil {
		log.Fatal(err)
	}
	access := c.Tokens()
	fmt.Println(access.AccessToken != "")
}

// The session survives restarts when its tokens are kept in a file
// readable only by the user.
func ExampleFileStore() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	store := client.FileStore(filepath.Join(dir, "tokengate", "tokens.json"))

	srv := fakeServer()
	defer srv.Close()
	c, err := client.New(context.Background(), client.Config{
		BaseURL:  srv.URL,
		ClientID: "my-app", ClientSecret: "my-app-secret",
		Username: "alice", Password: "alice-pw",
		Store: store, // resumed from, locked while renewing, saved to
	})
	if err != nil {
		log.Fatal(err)
	}
	_ = c
	again, _ := store.Load()
	fi, _ := os.Stat(string(store))
	fmt.Println(again.RefreshToken, fi.Mode().Perm())
	// Output: tgr_refresh -rw-------
}

// The session as a golang.org/x/oauth2 TokenSource, for libraries that
// take one.
func ExampleClient_TokenSource() {
	srv := fakeServer()
	defer srv.Close()
	ctx := context.Background()
	c, err := client.New(ctx, client.Config{BaseURL: srv.URL, ClientID: "my-app", ClientSecret: "my-app-secret", Username: "alice", Password: "alice-pw"})
	if err != nil {
		log.Fatal(err)
	}
	tok, err := c.TokenSource(ctx).Token()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(tok.Type(), strings.HasPrefix(tok.AccessToken, "token-"))
	// Output: Bearer true
}
