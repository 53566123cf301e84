package client_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokengate/tokengate/client"
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

// TestConflictingCredentialsAreAnError: two ways of logging in (a
// password and an API key, ...) are refused by New, before any request,
// instead of one being chosen silently.
func TestConflictingCredentialsAreAnError(t *testing.T) {
	s := newStub(t, map[string]func() (int, string){"POST /oauth/token": counter(oauthAnswer)})
	for name, cfg := range map[string]client.Config{
		"password and API key":        {Username: "u", Password: "p", APIKey: "k"},
		"password and external token": {Username: "u", Password: "p", ExternalToken: "t"},
		"API key and external token":  {APIKey: "k", ExternalToken: "t"},
		"user name and API key":       {Username: "u", APIKey: "k"},
	} {
		cfg.BaseURL, cfg.ClientID, cfg.ClientSecret = s.URL, "app", "app-secret"
		_, err := client.New(context.Background(), cfg)
		if !errors.Is(err, client.ErrConflictingCredentials) {
			t.Errorf("%s: got %v, want ErrConflictingCredentials", name, err)
		}
	}
	if n := len(s.requests()); n != 0 {
		t.Fatalf("%d requests for conflicting credentials", n)
	}
	// The client's own credentials go with any one of them.
	if _, err := client.New(context.Background(), client.Config{BaseURL: s.URL, ClientID: "app", ClientSecret: "app-secret", APIKey: "k"}); err != nil {
		t.Fatal(err)
	}
}

// TestSaverReportsErrors: a Saver's failed Save reaches the caller's
// function instead of being dropped.
func TestSaverReportsErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	var got error
	save := client.FileStore(filepath.Join(file, "tokens.json")).Saver(func(err error) { got = err }) // a path under a file
	save(client.Tokens{AccessToken: "A"})
	if got == nil {
		t.Fatal("a failed save was not reported")
	}
	defer func() {
		if recover() == nil {
			t.Fatal("a Saver without an error function")
		}
	}()
	client.FileStore(file).Saver(nil)
}

// TestContractIsANamedType: Config.Contract takes the constants, and
// Contracts lists them with the default first.
func TestContractIsANamedType(t *testing.T) {
	var c client.Contract = client.DefaultContract
	cs := client.Contracts()
	if c != client.ContractOAuth2 || len(cs) != 6 || cs[0] != client.DefaultContract {
		t.Fatalf("default %q, contracts %v", c, cs)
	}
}

// failingStore is a Store in memory whose Save can be made to fail.
type failingStore struct {
	mu   sync.Mutex
	t    client.Tokens
	fail bool
	lock sync.Mutex
}

func (s *failingStore) Load() (client.Tokens, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.t.AccessToken == "" {
		return client.Tokens{}, fs.ErrNotExist
	}
	return s.t, nil
}

func (s *failingStore) Save(t client.Tokens) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail {
		return errors.New("disk full")
	}
	s.t = t
	return nil
}

func (s *failingStore) Lock(context.Context) (func(), error) {
	s.lock.Lock()
	return s.lock.Unlock, nil
}

// TestFailedSaveKeepsTheRotatedSession: when Store.Save fails after a
// refresh, the error is returned, but the new pair (the server has
// rotated the old refresh token) is kept and used, never the rotated
// refresh token the store still holds.
func TestFailedSaveKeepsTheRotatedSession(t *testing.T) {
	s := newStub(t, map[string]func() (int, string){"POST /oauth/token": counter(oauthAnswer)})
	clk := newClock()
	st := &failingStore{}
	c := newClient(t, client.Config{BaseURL: s.URL, Username: "u", Password: "p", Store: st, Now: clk.Now})
	ctx := context.Background()
	st.mu.Lock()
	st.fail = true
	st.mu.Unlock()
	clk.Add(2 * time.Minute) // past the 60 s expiry
	if _, err := c.Token(ctx); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("a failed save: %v", err)
	}
	st.mu.Lock()
	st.fail = false
	st.mu.Unlock()
	tok, err := c.Token(ctx)
	if err != nil || tok != "AT2" {
		t.Fatalf("after the failed save: %q %v, want the refreshed AT2", tok, err)
	}
	clk.Add(2 * time.Minute)
	if tok, err := c.Token(ctx); err != nil || tok != "AT3" {
		t.Fatalf("next refresh: %q %v", tok, err)
	}
	reqs := s.requests()
	if len(reqs) != 3 || reqs[2].Params["refresh_token"] != "RT2" {
		t.Fatalf("requests %+v: the next refresh must send RT2", reqs)
	}
	if saved, _ := st.Load(); saved.AccessToken != "AT3" {
		t.Fatalf("store holds %q", saved.AccessToken)
	}
}
