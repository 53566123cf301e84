package client_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tokengate/client"
)

func TestResumedOpaqueTokenKeepsItsExpiry(t *testing.T) {
	s := newStub(t, map[string]func() (int, string){"POST /oauth/token": counter(oauthAnswer)})
	store := client.FileStore(filepath.Join(t.TempDir(), "tokens.json"))
	first := newClient(t, client.Config{BaseURL: s.URL, Username: "u", Password: "p", Store: store})
	want := first.Tokens().Expiry
	if want.IsZero() {
		t.Fatal("no expiry after login")
	}
	// Another process resumes the opaque token from the store; x/oauth2
	// (oauth2.NewClient's ReuseTokenSource) needs its expiry to renew it.
	second := newClient(t, client.Config{BaseURL: s.URL, Username: "u", Store: store})
	tok, err := second.TokenSource(context.Background()).Token()
	if err != nil {
		t.Fatal(err)
	}
	if !tok.Expiry.Equal(want) {
		t.Fatalf("x/oauth2 token expiry %v, want %v", tok.Expiry, want)
	}
	if n := len(s.requests()); n != 1 {
		t.Fatalf("%d requests: the resume logged in again", n)
	}
}

func TestUsernameWithoutPasswordResumesASavedSession(t *testing.T) {
	s := newStub(t, map[string]func() (int, string){"POST /oauth/token": counter(oauthAnswer)})
	c, err := client.New(context.Background(), client.Config{BaseURL: s.URL, ClientID: "app", ClientSecret: "app-secret", Username: "alice", RefreshToken: "RT0"})
	if err != nil {
		t.Fatalf("resume with a user name and no password: %v", err)
	}
	if tok, err := c.Token(context.Background()); err != nil || tok != "AT1" {
		t.Fatalf("%q %v", tok, err)
	}
	if got := s.requests(); len(got) != 1 || got[0].Params["grant_type"] != "refresh_token" {
		t.Fatalf("requests %+v, want one refresh", got)
	}
	// Without saved tokens the password is still required.
	if _, err := client.New(context.Background(), client.Config{BaseURL: s.URL, Username: "alice"}); err == nil || !strings.Contains(err.Error(), "Password") {
		t.Fatalf("no password, no tokens: %v", err)
	}
}

func TestNewWithACancelledContextMakesNoLogin(t *testing.T) {
	s := newStub(t, map[string]func() (int, string){"POST /oauth/token": counter(oauthAnswer)})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := client.New(ctx, client.Config{BaseURL: s.URL, Username: "u", Password: "p"}); err == nil {
		t.Fatal("New succeeded with a cancelled context")
	}
	c := newClient(t, client.Config{BaseURL: s.URL, Username: "u", Password: "p"})
	if _, err := c.Refresh(ctx); err == nil {
		t.Fatal("Refresh succeeded with a cancelled context")
	}
	if n := len(s.requests()); n != 1 {
		t.Fatalf("%d requests, want only the one login with a live context", n)
	}
}

func TestFileStoreFixesItsDirectoryAndCleansUp(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	store := client.FileStore(filepath.Join(dir, "tokens.json"))
	// A crash between writing the temporary file and renaming it.
	stale := filepath.Join(dir, ".tokens.json.tmp-123")
	if err := os.WriteFile(stale, []byte(`{"access_token":"old"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	os.Chtimes(stale, old, old)
	if err := store.Save(client.Tokens{AccessToken: "a"}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("directory mode %v %v, want 0700", fi.Mode(), err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Fatalf("the crash's temporary file is still there: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), "tmp") {
			t.Fatalf("left behind: %s", e.Name())
		}
	}
}
