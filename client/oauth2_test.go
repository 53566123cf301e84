package client_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/tokengate/tokengate/client"
)

// golang.org/x/oauth2 is a client we did not write: it must work against
// tokengate's token endpoint with either client authentication style.
func TestGolangOAuth2AgainstTokengate(t *testing.T) {
	tg := startTokengate(t, baseConfig, nil, nil)
	ctx := context.Background()
	for _, style := range []struct {
		name  string
		style oauth2.AuthStyle
	}{{"header", oauth2.AuthStyleInHeader}, {"params", oauth2.AuthStyleInParams}} {
		t.Run("password/"+style.name, func(t *testing.T) {
			conf := &oauth2.Config{ClientID: "app", ClientSecret: "app-secret", Scopes: []string{"read"},
				Endpoint: oauth2.Endpoint{TokenURL: tg.URL + "/oauth/token", AuthStyle: style.style}}
			tok, err := conf.PasswordCredentialsToken(ctx, "alice", "alice-pw")
			if err != nil {
				t.Fatal(err)
			}
			if tok.AccessToken == "" || tok.RefreshToken == "" || tok.Type() != "Bearer" || tok.Expiry.IsZero() || tok.Extra("scope") != "read" {
				t.Fatalf("token type %q, expiry %v, scope %v", tok.Type(), tok.Expiry, tok.Extra("scope"))
			}
			// x/oauth2 refreshes on its own when told the token expired.
			tok.Expiry = time.Now().Add(-time.Minute)
			fresh, err := conf.TokenSource(ctx, tok).Token()
			if err != nil {
				t.Fatal(err)
			}
			if fresh.AccessToken == tok.AccessToken || fresh.RefreshToken == tok.RefreshToken {
				t.Fatal("refresh did not give new tokens")
			}
			_, err = conf.PasswordCredentialsToken(ctx, "alice", "wrong")
			var re *oauth2.RetrieveError
			if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" || re.Response.StatusCode != 400 {
				t.Fatalf("wrong password: %v", err)
			}
		})
		t.Run("client_credentials/"+style.name, func(t *testing.T) {
			conf := &clientcredentials.Config{ClientID: "svc", ClientSecret: "svc-secret", TokenURL: tg.URL + "/oauth/token", Scopes: []string{"svc"}, AuthStyle: style.style}
			tok, err := conf.Token(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if tok.AccessToken == "" || tok.RefreshToken != "" || tok.Extra("scope") != "svc" {
				t.Fatalf("refresh token given: %v, scope %v", tok.RefreshToken != "", tok.Extra("scope"))
			}
			conf.ClientSecret = "wrong"
			_, err = conf.Token(ctx)
			var re *oauth2.RetrieveError
			if !errors.As(err, &re) || re.ErrorCode != "invalid_client" {
				t.Fatalf("wrong secret: %v", err)
			}
		})
	}
}

func TestTokenSourceAdapter(t *testing.T) {
	tg := startTokengate(t, baseConfig, nil, nil)
	res := api(t, tg, nil)
	c := newClient(t, client.Config{BaseURL: tg.URL, ClientID: "app", ClientSecret: "app-secret", Username: "alice", Password: "alice-pw"})
	ctx := context.Background()
	var ts oauth2.TokenSource = c.TokenSource(ctx)
	tok, err := ts.Token()
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken != c.Tokens().AccessToken || tok.Type() != "Bearer" || tok.RefreshToken == "" || !tok.Expiry.Equal(c.Tokens().Expiry) {
		t.Fatal("the adapter's token is not the session's")
	}
	resp, err := oauth2.NewClient(ctx, ts).Get(res.URL)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(b) != "alice:" {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
}

func TestFileStoreResumesASession(t *testing.T) {
	clk := newClock()
	tg := startTokengate(t, baseConfig, clk.Now, nil)
	path := filepath.Join(t.TempDir(), "cfg", "tokengate", "tokens.json")
	store := client.FileStore(path)
	if _, err := store.Load(); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("load of a missing file: %v", err)
	}
	creds := client.Config{BaseURL: tg.URL, ClientID: "app", ClientSecret: "app-secret", Username: "alice", Password: "alice-pw", Now: clk.Now, OnTokens: store.Saver(func(err error) { t.Error(err) })}
	first := newClient(t, creds)
	saved, err := store.Load()
	if err != nil {
		t.Fatal(err)
	}
	if !sameTokens(saved, first.Tokens()) {
		t.Fatal("the file does not hold the session's tokens")
	}
	if runtime.GOOS != "windows" {
		for p, want := range map[string]os.FileMode{path: 0o600, filepath.Dir(path): 0o700} {
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != want {
				t.Fatalf("%s has mode %v, want %v", p, fi.Mode().Perm(), want)
			}
		}
	}
	// A second process resumes from the file without logging in, and its
	// refresh is saved.
	resumed := creds
	resumed.AccessToken, resumed.RefreshToken = saved.AccessToken, saved.RefreshToken
	c := newClient(t, resumed)
	clk.Add(3 * time.Second)
	if _, err := c.Token(context.Background()); err != nil {
		t.Fatal(err)
	}
	if tg.count("grant:password") != 1 {
		t.Fatalf("%d logins", tg.count("grant:password"))
	}
	again, _ := store.Load()
	if !sameTokens(again, c.Tokens()) || again.RefreshToken == saved.RefreshToken {
		t.Fatal("the refreshed pair was not saved")
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("temporary files left behind: %v", entries)
	}
	if err := store.Remove(); err != nil {
		t.Fatal(err)
	}
	if err := store.Remove(); err != nil {
		t.Fatalf("removing twice: %v", err)
	}
	p, err := client.DefaultCachePath()
	if err == nil && filepath.Base(p) != "tokens.json" {
		t.Fatalf("DefaultCachePath %q", p)
	}
}

func sameTokens(a, b client.Tokens) bool {
	return a.AccessToken == b.AccessToken && a.RefreshToken == b.RefreshToken && a.Expiry.Equal(b.Expiry)
}
