package server_test

import (
	"context"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/internal/admin"
	"github.com/tokengate/tokengate/internal/config"
	"github.com/tokengate/tokengate/internal/secret"
	"github.com/tokengate/tokengate/internal/server"
	"github.com/tokengate/tokengate/internal/servertest"
	"github.com/tokengate/tokengate/internal/store"
)

const apiKeyScopeConfig = `
password_hashing: {memory_kib: 1024, time: 1}
bootstrap:
  users:
    - {username: carol, password: carol-pw, scopes: [read]}
    - {username: dave, password: dave-pw, scopes: [read, write]}
  clients:
    - {id: wide, secret: wide-secret, grants: ["urn:tokengate:params:oauth:grant-type:api-key"], scopes: [read, write, admin]}
    - {id: narrow, secret: narrow-secret, grants: ["urn:tokengate:params:oauth:grant-type:api-key"], scopes: [read]}
`

const grantAPIKey = "urn:tokengate:params:oauth:grant-type:api-key"

// storeKey stores an API key record as it is, bypassing the checks of
// admin.NewAPIKey (a key created before them, or a user narrowed since).
func storeKey(t *testing.T, st store.Store, k store.APIKey) string {
	t.Helper()
	key, err := secret.NewAPIKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	k.ID, k.Hash, k.CreatedAt = "key_"+k.Name, secret.Hash(key), time.Now()
	if err := st.CreateAPIKey(context.Background(), k); err != nil {
		t.Fatal(err)
	}
	return key
}

// TestAPIKeyScopesAreKeyAndUserAndClientAndRequest: a key never grants
// more than its owner may have, or than the exchanging client may ask for.
func TestAPIKeyScopesAreKeyAndUserAndClientAndRequest(t *testing.T) {
	s := servertest.Start(t, apiKeyScopeConfig, servertest.Options{Issuer: testIssuer})
	ts := &testServer{Server: s.Server, srv: s.Srv}
	wide := storeKey(t, s.Store, store.APIKey{Name: "wide", Username: "carol", Scopes: []string{"read", "write", "admin"}})
	exchange := func(client, sec, key string, scope ...string) answer {
		v := url.Values{"grant_type": {grantAPIKey}, "api_key": {key}}
		if len(scope) > 0 {
			v.Set("scope", scope[0])
		}
		return ts.do(t, "POST", "/oauth/token", form, v.Encode(), basic(client, sec))
	}
	for _, tc := range []struct {
		name, client, sec, scope string
		status                   int
		want                     string
	}{
		{"key beyond user and client, scope omitted", "narrow", "narrow-secret", "", 200, "read"},
		{"key beyond user, wide client, scope omitted", "wide", "wide-secret", "", 200, "read"},
		{"asks for what only the key has", "wide", "wide-secret", "admin", 400, "invalid_scope"},
		{"asks for what the user lacks", "wide", "wide-secret", "write", 400, "invalid_scope"},
		{"asks within all four", "narrow", "narrow-secret", "read", 200, "read"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var a answer
			if tc.scope == "" {
				a = exchange(tc.client, tc.sec, wide)
			} else {
				a = exchange(tc.client, tc.sec, wide, tc.scope)
			}
			got := a.str("scope")
			if tc.status != 200 {
				got = a.str("error")
			}
			if a.status != tc.status || got != tc.want {
				t.Fatalf("got %d %s, want %d %q", a.status, a.raw, tc.status, tc.want)
			}
		})
	}

	// On every later use: narrowing the user narrows the key at once.
	dk, _, err := admin.NewAPIKey(context.Background(), s.Store, nil, store.APIKey{Name: "d", Username: "dave", Scopes: []string{"read", "write"}})
	if err != nil {
		t.Fatal(err)
	}
	if a := exchange("wide", "wide-secret", dk); a.status != 200 || a.str("scope") != "read write" {
		t.Fatalf("before narrowing: %d %s", a.status, a.raw)
	}
	u, err := s.Store.GetUser(context.Background(), "dave")
	if err != nil {
		t.Fatal(err)
	}
	u.Scopes = []string{"read"}
	if err := s.Store.UpdateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	if a := exchange("wide", "wide-secret", dk); a.status != 200 || a.str("scope") != "read" {
		t.Fatalf("after narrowing the user: %d %s, want scope read", a.status, a.raw)
	}
	// A client-owned key is bound by its owner's scopes as well.
	ck := storeKey(t, s.Store, store.APIKey{Name: "c", ClientID: "narrow", Scopes: []string{"read", "admin"}})
	if a := exchange("wide", "wide-secret", ck); a.status != 200 || a.str("scope") != "read" {
		t.Fatalf("client-owned key: %d %s, want scope read", a.status, a.raw)
	}
}

// TestAPIKeyCreationRefusesScopesTheOwnerLacks: the CLI's and bootstrap's
// key creation refuse, naming the scopes, instead of storing a key that
// claims more than its owner has.
func TestAPIKeyCreationRefusesScopesTheOwnerLacks(t *testing.T) {
	s := servertest.Start(t, apiKeyScopeConfig, servertest.Options{Issuer: testIssuer})
	ctx := context.Background()
	_, _, err := admin.NewAPIKey(ctx, s.Store, nil, store.APIKey{Name: "x", Username: "carol", Scopes: []string{"read", "write", "admin"}})
	if err == nil || !strings.Contains(err.Error(), `"write admin"`) || !strings.Contains(err.Error(), "carol") {
		t.Fatalf("NewAPIKey beyond the user: err = %v, want a refusal naming carol and \"write admin\"", err)
	}
	_, _, err = admin.NewAPIKey(ctx, s.Store, nil, store.APIKey{Name: "y", ClientID: "narrow", Scopes: []string{"write"}})
	if err == nil || !strings.Contains(err.Error(), `"write"`) {
		t.Fatalf("NewAPIKey beyond the owner client: err = %v", err)
	}
	if _, _, err := admin.NewAPIKey(ctx, s.Store, nil, store.APIKey{Name: "z", Username: "carol", Scopes: []string{"read"}}); err != nil {
		t.Fatalf("NewAPIKey within the user's scopes: %v", err)
	}
	keys, _ := s.Store.ListAPIKeys(ctx)
	if len(keys) != 1 {
		t.Fatalf("%d keys stored, want only the allowed one", len(keys))
	}
	b := config.Bootstrap{APIKeys: []config.BootstrapAPIKey{{Name: "boot", Key: "legacy-key-value", User: "carol", Scopes: config.Scopes{"read", "admin"}}}}
	err = admin.Bootstrap(ctx, s.Store, server.Seed(b), nil, nil, time.Now(), discardLog())
	if err == nil || !strings.Contains(err.Error(), `"admin"`) {
		t.Fatalf("bootstrap key beyond the user: err = %v", err)
	}
}

func discardLog() *slog.Logger { return slog.New(slog.DiscardHandler) }
