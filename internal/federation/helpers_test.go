package federation_test

import (
	"context"
	"errors"
	"github.com/tokengate/tokengate/internal/contract"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokengate/tokengate/internal/federation"
	"github.com/tokengate/tokengate/internal/federation/fedtest"
	"github.com/tokengate/tokengate/internal/oauth"
	"github.com/tokengate/tokengate/internal/store"
	"github.com/tokengate/tokengate/internal/store/sqlite"
)

const audience = "https://api.example.test"

// clock is a settable clock: expiry, refetch intervals and key cache
// ages are tested without sleeping.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now().Truncate(time.Second)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fixture is an IdP, a store with local users and an Authenticator
// trusting the IdP.
type fixture struct {
	idp  *fedtest.IdP
	st   *sqlite.DB
	clk  *clock
	auth *federation.Authenticator
	ti   federation.Issuer
}

// newStore opens a real SQLite store with the users every test knows.
func newStore(t *testing.T) *sqlite.DB {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir()+"/tg.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for _, u := range []store.User{
		{Username: "alice", Scopes: []string{"read", "write"}},
		{Username: "local-bob", Scopes: []string{"read", "admin"}},
		{Username: "dave", Disabled: true},
		{Username: "alice@example.com"},
	} {
		if err := st.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

// baseIssuer trusts idp for audience, with four mapped subjects (alice
// to the local alice) and scopes read and write; no auto_provision.
func baseIssuer(idp *fedtest.IdP) federation.Issuer {
	return federation.Issuer{
		Name: "fake", Issuer: idp.Issuer, Audiences: []string{audience},
		Users:  map[string]string{"alice": "alice", "ext-bob": "local-bob", "ext-dave": "dave", "ext-nobody": "nobody"},
		Scopes: []string{"read", "write"},
	}
}

// newFixture builds a fixture; mod adjusts the trusted issuer.
func newFixture(t *testing.T, o fedtest.Options, mod func(*federation.Issuer)) *fixture {
	t.Helper()
	f := &fixture{idp: fedtest.New(t, o), st: newStore(t), clk: newClock()}
	f.ti = baseIssuer(f.idp)
	if mod != nil {
		mod(&f.ti)
	}
	f.auth = f.newAuth(t, f.ti)
	return f
}

func (f *fixture) newAuth(t *testing.T, tis ...federation.Issuer) *federation.Authenticator {
	t.Helper()
	a, err := federation.New(tis, federation.Options{Store: f.st, Now: f.clk.Now, AllowInsecureLoopback: true, HTTPClient: f.idp.Client()})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// claims are valid claims for sub at the fixture's time.
func (f *fixture) claims(sub string) map[string]any { return f.idp.Claims(sub, audience, f.clk.Now()) }

// wantOK authenticates raw and checks the local user it maps to.
func wantOK(t *testing.T, a *federation.Authenticator, raw, user string) *oauth.Subject {
	t.Helper()
	sub, err := a.Authenticate(context.Background(), raw)
	if err != nil {
		t.Fatalf("want %s to log in, got %v", user, err)
	}
	if sub.Name != user {
		t.Fatalf("logged in as %q, want %q", sub.Name, user)
	}
	return sub
}

// wantErr checks that Authenticate refuses raw with code, status and a
// description containing desc, and that the description does not echo
// the token.
func wantErr(t *testing.T, err error, code string, status int, desc, raw string) *oauth.Error {
	t.Helper()
	var oe *oauth.Error
	if !errors.As(err, &oe) {
		t.Fatalf("want *oauth.Error %s, got %T %v", code, err, err)
	}
	if got := contract.HTTPStatus(oe); oe.Code != code || got != status || !strings.Contains(oe.Description, desc) {
		t.Fatalf("got %s %d %q, want %s %d containing %q", oe.Code, got, oe.Description, code, status, desc)
	}
	if raw != "" {
		for _, part := range strings.Split(raw, ".") {
			if len(part) > 8 && strings.Contains(oe.Description, part) {
				t.Fatalf("description %q leaks the token", oe.Description)
			}
		}
	}
	return oe
}

func authErr(t *testing.T, a *federation.Authenticator, raw, code string, status int, desc string) *oauth.Error {
	t.Helper()
	_, err := a.Authenticate(context.Background(), raw)
	return wantErr(t, err, code, status, desc, raw)
}
