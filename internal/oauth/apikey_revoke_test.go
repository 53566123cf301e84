package oauth

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/tokengate/tokengate/internal/secret"
	"github.com/tokengate/tokengate/internal/store"
	"github.com/tokengate/tokengate/internal/store/memory"
)

// TestCheckAPIKeyDecisions tables the core's API-key check on an injected
// clock: who a key stands for and which scopes it carries now, or the one
// answer (invalid API key) for every key that may not be used.
func TestCheckAPIKeyDecisions(t *testing.T) {
	ctx := context.Background()
	fx := newCoreFixture(t, memory.New())
	st := fx.store
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(st.CreateUser(ctx, store.User{Username: "bob", Scopes: []string{"read"}, CreatedAt: fx.now}))
	must(st.CreateUser(ctx, store.User{Username: "off", Disabled: true, CreatedAt: fx.now}))
	must(st.CreateClient(ctx, store.Client{ID: "svc", SecretHash: secret.Hash("s"), Grants: []string{GrantClientCredentials}, Scopes: []string{"read", "write"}, CreatedAt: fx.now}))
	mk := func(k store.APIKey) string {
		t.Helper()
		raw, err := secret.NewAPIKey(nil)
		must(err)
		k.ID, k.Hash, k.CreatedAt = "id-"+k.Name, secret.Hash(raw), fx.now
		must(st.CreateAPIKey(ctx, k))
		return raw
	}
	keys := map[string]string{
		"user":         mk(store.APIKey{Name: "user", Username: "bob", Scopes: []string{"read", "write"}}),
		"unlimited":    mk(store.APIKey{Name: "unlimited", Username: "alice", Scopes: []string{"read", "admin"}}),
		"client":       mk(store.APIKey{Name: "client", ClientID: "svc", Scopes: []string{"write", "admin"}}),
		"revoked":      mk(store.APIKey{Name: "revoked", Username: "bob", Scopes: []string{"read"}, RevokedAt: fx.now}),
		"expired":      mk(store.APIKey{Name: "expired", Username: "bob", Scopes: []string{"read"}, ExpiresAt: fx.now.Add(time.Hour)}),
		"disabled":     mk(store.APIKey{Name: "disabled", Username: "off", Scopes: []string{"read"}}),
		"ownerdeleted": mk(store.APIKey{Name: "ownerdeleted", Username: "gone", Scopes: []string{"read"}}),
	}
	fx.now = fx.now.Add(2 * time.Hour) // past the expiring key's expiry
	unknown, _ := secret.NewAPIKey(nil)
	cases := []struct {
		name, key   string
		wantSubject string
		wantScopes  []string
	}{
		{"a user's key carries only what the user has", keys["user"], "bob", []string{"read"}},
		{"a user without a scope list: the key's own scopes", keys["unlimited"], "alice", []string{"read", "admin"}},
		{"a client's key carries only what the client has", keys["client"], "svc", []string{"write"}},
		{"revoked", keys["revoked"], "", nil},
		{"expired", keys["expired"], "", nil},
		{"owner disabled", keys["disabled"], "", nil},
		{"owner gone", keys["ownerdeleted"], "", nil},
		{"unknown", unknown, "", nil},
		{"malformed", "tg_not-a-key", "", nil},
		{"NUL", "tg_\x00", "", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sub, scopes, err := fx.svc.CheckAPIKey(ctx, tc.key, "192.0.2.1")
			if tc.wantSubject == "" {
				if err == nil || AsError(err).Description != "invalid API key" {
					t.Fatalf("got %q %v %v, want the invalid API key answer", sub, scopes, err)
				}
				return
			}
			if err != nil || sub != tc.wantSubject || !slices.Equal(scopes, tc.wantScopes) {
				t.Fatalf("got %q %v %v, want %q %v", sub, scopes, err, tc.wantSubject, tc.wantScopes)
			}
		})
	}
	// A use is recorded at minute precision.
	k, err := st.GetAPIKeyByHash(ctx, secret.Hash(keys["user"]))
	must(err)
	if !k.LastUsedAt.Equal(fx.now) {
		t.Fatalf("last use %v, want %v", k.LastUsedAt, fx.now)
	}
}

// TestRevokeDecisions tables revocation (RFC 7009) on an injected clock:
// what a client may revoke, and that revoking a refresh token ends its
// session's access tokens while another client's request changes nothing.
func TestRevokeDecisions(t *testing.T) {
	ctx := context.Background()
	fx := newCoreFixture(t, memory.New())
	other := store.Client{ID: "other", Public: true, Grants: []string{GrantPassword, GrantRefreshToken}, CreatedAt: fx.now}
	if err := fx.store.CreateClient(ctx, other); err != nil {
		t.Fatal(err)
	}
	type tokens struct{ access, refresh string }
	login := func() tokens {
		r := fx.login(t)
		return tokens{r.AccessToken, r.RefreshToken}
	}
	cases := []struct {
		name        string
		by          store.Client
		which       func(tokens) string
		wantAccess  bool // the access token still active afterwards
		wantRefresh bool
	}{
		{"refresh token by its client: the session ends", fx.web, func(x tokens) string { return x.refresh }, false, false},
		{"access token by its client: only that token", fx.web, func(x tokens) string { return x.access }, false, true},
		{"refresh token by another client: nothing", other, func(x tokens) string { return x.refresh }, true, true},
		{"access token by another client: nothing", other, func(x tokens) string { return x.access }, true, true},
		{"an unknown token: nothing, and no error", fx.web, func(tokens) string { return "tgr_unknown" }, true, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			x := login()
			if err := fx.svc.Revoke(ctx, &Client{rec: tc.by}, tc.which(x)); err != nil {
				t.Fatalf("Revoke: %v", err)
			}
			if got := fx.active(t, x.access); got != tc.wantAccess {
				t.Errorf("access token active = %v, want %v", got, tc.wantAccess)
			}
			if got := fx.active(t, x.refresh); got != tc.wantRefresh {
				t.Errorf("refresh token active = %v, want %v", got, tc.wantRefresh)
			}
		})
	}
	if err := fx.svc.Revoke(ctx, &Client{rec: fx.web}, ""); err == nil || AsError(err).Code != CodeInvalidRequest {
		t.Fatalf("Revoke without a token: %v, want invalid_request", err)
	}
}

// TestDeletingAClientEndsItsOwnTokens: a client_credentials token is
// inactive at introspection once its client is deleted.
func TestDeletingAClientEndsItsOwnTokens(t *testing.T) {
	ctx := context.Background()
	fx := newCoreFixture(t, memory.New())
	if err := fx.store.CreateClient(ctx, store.Client{ID: "svc", SecretHash: secret.Hash("s"), Grants: []string{GrantClientCredentials}, Scopes: []string{"read"}, CreatedAt: fx.now}); err != nil {
		t.Fatal(err)
	}
	resp, err := fx.svc.Token(ctx, &TokenRequest{GrantType: GrantClientCredentials, ClientID: "svc", ClientSecret: "s"}, &Profile{})
	if err != nil {
		t.Fatal(err)
	}
	if !fx.active(t, resp.AccessToken) {
		t.Fatal("a fresh client token is inactive")
	}
	if err := fx.store.DeleteClient(ctx, "svc"); err != nil {
		t.Fatal(err)
	}
	if fx.active(t, resp.AccessToken) {
		t.Fatal("the token of a deleted client is still active")
	}
}

// TestARecreatedClientDoesNotReviveTokens: deleting a client ends every
// access token issued to it, its own and its users' (also those without a
// refresh family), and a new client created later under the same id does
// not bring them back: a token issued before its client was created is
// inactive.
func TestARecreatedClientDoesNotReviveTokens(t *testing.T) {
	ctx := context.Background()
	fx := newCoreFixture(t, memory.New())
	svc := store.Client{ID: "svc", SecretHash: secret.Hash("s"), Grants: []string{GrantClientCredentials}, Scopes: []string{"read"}, CreatedAt: fx.now}
	cli := store.Client{ID: "cli", Public: true, Grants: []string{GrantPassword}, Scopes: []string{"read"}, CreatedAt: fx.now}
	for _, c := range []store.Client{svc, cli} {
		if err := fx.store.CreateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	own, err := fx.svc.Token(ctx, &TokenRequest{GrantType: GrantClientCredentials, ClientID: "svc", ClientSecret: "s"}, &Profile{})
	if err != nil {
		t.Fatal(err)
	}
	user, err := fx.svc.Token(ctx, &TokenRequest{GrantType: GrantPassword, ClientID: "cli", Username: "alice", Password: "alice-pw"}, &Profile{})
	if err != nil {
		t.Fatal(err)
	}
	if user.RefreshToken != "" {
		t.Fatal("the password-only client got a refresh token; the test needs a token without a family")
	}
	for _, tok := range []string{own.AccessToken, user.AccessToken} {
		if !fx.active(t, tok) {
			t.Fatal("a fresh token is inactive")
		}
	}
	if err := fx.store.DeleteClient(ctx, "cli"); err != nil {
		t.Fatal(err)
	}
	if fx.active(t, user.AccessToken) {
		t.Fatal("a user's token issued to a deleted client is still active")
	}
	if err := fx.store.DeleteClient(ctx, "svc"); err != nil {
		t.Fatal(err)
	}
	fx.now = fx.now.Add(2 * time.Second)
	for _, c := range []store.Client{svc, cli} {
		c.CreatedAt = fx.now
		if err := fx.store.CreateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if fx.active(t, own.AccessToken) {
		t.Fatal("a deleted client's own token came back when a client of the same id was created")
	}
	if fx.active(t, user.AccessToken) {
		t.Fatal("a user's token of a deleted client came back when a client of the same id was created")
	}
	again, err := fx.svc.Token(ctx, &TokenRequest{GrantType: GrantClientCredentials, ClientID: "svc", ClientSecret: "s"}, &Profile{})
	if err != nil {
		t.Fatal(err)
	}
	if !fx.active(t, again.AccessToken) {
		t.Fatal("the new client's own token is inactive")
	}
}

// TestARevokedSigningKeyEndsItsTokensAtIntrospectionAndUserinfo: the
// signing key's revocation is read with the token's other state (one
// statement) and ends the token at once.
func TestARevokedSigningKeyEndsItsTokensAtIntrospectionAndUserinfo(t *testing.T) {
	ctx := context.Background()
	fx := newCoreFixture(t, memory.New())
	fx.web.Scopes = []string{"read", ScopeOpenID}
	if err := fx.store.UpdateClient(ctx, fx.web); err != nil {
		t.Fatal(err)
	}
	resp, err := fx.svc.Token(ctx, &TokenRequest{GrantType: GrantPassword, ClientID: "web", Username: "alice", Password: "alice-pw", Scope: "read openid"}, &Profile{})
	if err != nil {
		t.Fatal(err)
	}
	if !fx.active(t, resp.AccessToken) {
		t.Fatal("a fresh token is inactive")
	}
	if _, err := fx.svc.UserInfo(ctx, resp.AccessToken); err != nil {
		t.Fatalf("userinfo with a fresh token: %v", err)
	}
	if err := fx.store.AddSigningKey(ctx, store.SigningKey{ID: fakeKeyID, Algorithm: "EdDSA", Private: []byte("p"), CreatedAt: fx.now}, "", time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := fx.store.AddSigningKey(ctx, store.SigningKey{ID: "next", Algorithm: "EdDSA", Private: []byte("p"), CreatedAt: fx.now}, fakeKeyID, fx.now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if !fx.active(t, resp.AccessToken) {
		t.Fatal("the token of a retired (not revoked) key is inactive")
	}
	if err := fx.store.RevokeSigningKey(ctx, fakeKeyID, fx.now); err != nil {
		t.Fatal(err)
	}
	if fx.active(t, resp.AccessToken) {
		t.Fatal("the token of a revoked key is still active")
	}
	if _, err := fx.svc.UserInfo(ctx, resp.AccessToken); err == nil || AsError(err).Code != CodeInvalidToken {
		t.Fatalf("userinfo with the token of a revoked key: %v, want invalid_token", err)
	}
}

// TestAUsersTokenIsNotTakenForItsClientsOwn: a user and a client that
// share a name (made before such overlaps were refused) give a token whose
// sub equals its client_id; it is judged as the user's, so disabling the
// user ends it.
func TestAUsersTokenIsNotTakenForItsClientsOwn(t *testing.T) {
	ctx := context.Background()
	fx := newCoreFixture(t, memory.New())
	h, err := fx.svc.hasher.Hash(ctx, "svc-pw")
	if err != nil {
		t.Fatal(err)
	}
	if err := fx.store.CreateUser(ctx, store.User{Username: "svc", PasswordHash: h, Scopes: []string{"read"}, CreatedAt: fx.now, UpdatedAt: fx.now}); err != nil {
		t.Fatal(err)
	}
	if err := fx.store.CreateClient(ctx, store.Client{ID: "svc", Public: true, Grants: []string{GrantPassword}, Scopes: []string{"read"}, CreatedAt: fx.now}); err != nil {
		t.Fatal(err)
	}
	resp, err := fx.svc.Token(ctx, &TokenRequest{GrantType: GrantPassword, ClientID: "svc", Username: "svc", Password: "svc-pw"}, &Profile{})
	if err != nil {
		t.Fatal(err)
	}
	if !fx.active(t, resp.AccessToken) {
		t.Fatal("a fresh token is inactive")
	}
	u, err := fx.store.GetUser(ctx, "svc")
	if err != nil {
		t.Fatal(err)
	}
	u.Disabled = true
	if err := fx.store.UpdateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if fx.active(t, resp.AccessToken) {
		t.Fatal("the token of a disabled user is active because its client has the user's name")
	}
}
