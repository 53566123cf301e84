package oauth

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/internal/secret"
	"github.com/tokengate/tokengate/internal/store"
	"github.com/tokengate/tokengate/internal/store/memory"
	"github.com/tokengate/tokengate/internal/token"
)

// oidcFixture is a Service over the memory store with real signing keys
// (the default EdDSA key and the RS256 ID token key) and a settable
// clock; user alice, client web (password grant, openid allowed) and
// client batch (client_credentials).
type oidcFixture struct {
	svc   *Service
	keys  *token.Manager
	store *memory.Store
	now   time.Time
	web   store.Client
}

const oidcIssuer = "https://issuer.test"

func newOIDCFixture(t *testing.T) *oidcFixture {
	t.Helper()
	ctx := context.Background()
	fx := &oidcFixture{store: memory.New(), now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	clock := func() time.Time { return fx.now }
	var err error
	fx.keys, err = token.NewManager(fx.store, token.Options{MaxTokenTTL: 24 * time.Hour, IDTokenAlgorithm: token.AlgRS256, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	if err := fx.keys.Init(ctx); err != nil {
		t.Fatal(err)
	}
	h, err := secret.NewHasher(secret.HasherOptions{Params: secret.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}})
	if err != nil {
		t.Fatal(err)
	}
	fx.svc, err = NewService(Options{Store: fx.store, Signer: fx.keys, Hasher: h, Settings: Settings{Issuer: oidcIssuer}, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	pw, err := h.Hash(ctx, "alice-pw")
	if err != nil {
		t.Fatal(err)
	}
	if err := fx.store.CreateUser(ctx, store.User{Username: "alice", PasswordHash: pw, CreatedAt: fx.now, UpdatedAt: fx.now}); err != nil {
		t.Fatal(err)
	}
	fx.web = store.Client{ID: "web", Public: true, Grants: []string{GrantPassword, GrantRefreshToken}, Scopes: []string{"openid", "profile", "read"}, CreatedAt: fx.now}
	batch := store.Client{ID: "batch", SecretHash: secret.Hash("batch-secret"), Grants: []string{GrantClientCredentials}, Scopes: []string{"openid"}, CreatedAt: fx.now}
	for _, c := range []store.Client{fx.web, batch} {
		if err := fx.store.CreateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	return fx
}

func (fx *oidcFixture) login(t *testing.T, scope string) *TokenResponse {
	t.Helper()
	resp, err := fx.svc.Token(context.Background(), &TokenRequest{GrantType: GrantPassword, ClientID: "web", Username: "alice", Password: "alice-pw", Scope: scope, ScopeGiven: true}, &Profile{})
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func (fx *oidcFixture) verifyID(t *testing.T, raw, aud string) token.Claims {
	t.Helper()
	c, err := fx.keys.Verify(raw, token.VerifyOptions{Issuer: oidcIssuer, Type: token.TypeJWT, Audience: aud, IDToken: true, Now: fx.now})
	if err != nil {
		t.Fatalf("ID token does not verify: %v", err)
	}
	return c
}

func TestIDTokenClaims(t *testing.T) {
	fx := newOIDCFixture(t)
	auth := fx.now.Add(-90 * time.Second)
	raw, err := fx.svc.IssueIDToken(context.Background(), IDTokenRequest{
		Subject: "alice", ClientID: "web", AuthTime: auth, Nonce: "n-0S6_WzA2Mj", AccessToken: "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y", SessionID: "sess-1",
	})
	if err != nil {
		t.Fatal(err)
	}
	c := fx.verifyID(t, raw, "web")
	if c.Issuer != oidcIssuer || c.Subject != "alice" || len(c.Audience) != 1 || c.Audience[0] != "web" {
		t.Fatalf("iss/sub/aud = %q %q %v", c.Issuer, c.Subject, c.Audience)
	}
	if !c.IssuedAt.Equal(fx.now) || !c.ExpiresAt.Equal(fx.now.Add(IDTokenTTL)) {
		t.Fatalf("iat %v exp %v, want %v and +%v", c.IssuedAt, c.ExpiresAt, fx.now, IDTokenTTL)
	}
	want := map[string]any{"auth_time": float64(auth.Unix()), "nonce": "n-0S6_WzA2Mj", "at_hash": "77QmUPtjPfzWtF2AnpK9RQ", "sid": "sess-1"}
	if len(c.Extra) != len(want) {
		t.Fatalf("claims %v, want %v", c.Extra, want)
	}
	for k, v := range want {
		if c.Extra[k] != v {
			t.Fatalf("claim %s = %v, want %v", k, c.Extra[k], v)
		}
	}
	if c.ID != "" || c.Scope != "" || c.ClientID != "" || !c.NotBefore.IsZero() {
		t.Fatalf("ID token carries access token claims: %+v", c)
	}
	// Signed by the RS256 ID token key with typ JWT.
	if kid := headerOf(t, raw); kid.Alg != "RS256" || kid.Typ != "JWT" || kid.Kid != fx.keys.IDTokenKeyID() {
		t.Fatalf("header %+v, want RS256/JWT by %s", kid, fx.keys.IDTokenKeyID())
	}
	// Another client's audience does not accept it (substitution).
	if _, err := fx.keys.Verify(raw, token.VerifyOptions{Issuer: oidcIssuer, Type: token.TypeJWT, Audience: "other", IDToken: true, Now: fx.now}); err == nil {
		t.Fatal("ID token for web accepted for another client")
	}
	// Optional claims are left out when not given; the lifetime follows a
	// shorter access token lifetime.
	fx.svc.settings.AccessTokenTTL = time.Minute
	raw, err = fx.svc.IssueIDToken(context.Background(), IDTokenRequest{Subject: "alice", ClientID: "web"})
	if err != nil {
		t.Fatal(err)
	}
	c = fx.verifyID(t, raw, "web")
	if len(c.Extra) != 0 || !c.ExpiresAt.Equal(fx.now.Add(time.Minute)) {
		t.Fatalf("minimal ID token: extra %v, exp %v", c.Extra, c.ExpiresAt)
	}
	// A subject and a client are required.
	if _, err := fx.svc.IssueIDToken(context.Background(), IDTokenRequest{ClientID: "web"}); err == nil {
		t.Fatal("ID token without a subject")
	}
	if _, err := fx.svc.IssueIDToken(context.Background(), IDTokenRequest{Subject: "alice"}); err == nil {
		t.Fatal("ID token without a client")
	}
}

func TestAttachIDTokenOnlyWithOpenIDScope(t *testing.T) {
	fx := newOIDCFixture(t)
	ctx := context.Background()
	resp := fx.login(t, "openid read")
	if resp.IDToken != "" {
		t.Fatal("the password grant issued an ID token")
	}
	if err := fx.svc.AttachIDToken(ctx, resp, IDTokenRequest{Subject: "alice", ClientID: "web", Nonce: "abc"}); err != nil {
		t.Fatal(err)
	}
	c := fx.verifyID(t, resp.IDToken, "web")
	sum := sha256.Sum256([]byte(resp.AccessToken))
	if c.Extra["at_hash"] != base64.RawURLEncoding.EncodeToString(sum[:16]) || c.Extra["nonce"] != "abc" {
		t.Fatalf("at_hash %v nonce %v", c.Extra["at_hash"], c.Extra["nonce"])
	}
	plain := fx.login(t, "read")
	if err := fx.svc.AttachIDToken(ctx, plain, IDTokenRequest{Subject: "alice", ClientID: "web"}); err != nil || plain.IDToken != "" {
		t.Fatalf("ID token without openid: %q %v", plain.IDToken, err)
	}
}

func TestServiceWithoutIDTokenSigner(t *testing.T) {
	fx := newCoreFixture(t, memory.New())
	if fx.svc.IDTokenAlgorithms() != nil {
		t.Fatal("a fake signer advertises ID token algorithms")
	}
	if _, err := fx.svc.IssueIDToken(context.Background(), IDTokenRequest{Subject: "alice", ClientID: "web"}); err == nil {
		t.Fatal("ID token without a signer")
	}
}

func TestUserInfo(t *testing.T) {
	fx := newOIDCFixture(t)
	ctx := context.Background()
	resp := fx.login(t, "openid profile")
	ui, err := fx.svc.UserInfo(ctx, resp.AccessToken)
	if err != nil || ui.Subject != "alice" || ui.PreferredUsername != "alice" {
		t.Fatalf("userinfo = %+v, %v", ui, err)
	}
	ui, err = fx.svc.UserInfo(ctx, fx.login(t, "openid").AccessToken)
	if err != nil || ui.Subject != "alice" || ui.PreferredUsername != "" {
		t.Fatalf("userinfo without profile = %+v, %v", ui, err)
	}
	code := func(raw string) string {
		t.Helper()
		_, err := fx.svc.UserInfo(ctx, raw)
		if err == nil {
			return ""
		}
		return AsError(err).Code
	}
	if c := code(fx.login(t, "read").AccessToken); c != CodeInsufficientScope {
		t.Fatalf("token without openid: %q", c)
	}
	for name, raw := range map[string]string{"empty": "", "garbage": "abc", "refresh token": resp.RefreshToken, "jwt-shaped": "a.b.c"} {
		if c := code(raw); c != CodeInvalidToken {
			t.Fatalf("%s: %q, want invalid_token", name, c)
		}
	}
	// An ID token is no access token.
	idt, err := fx.svc.IssueIDToken(ctx, IDTokenRequest{Subject: "alice", ClientID: "web"})
	if err != nil {
		t.Fatal(err)
	}
	if c := code(idt); c != CodeInvalidToken {
		t.Fatalf("ID token as access token: %q", c)
	}
	// A client's own token names no user.
	cc, err := fx.svc.Token(ctx, &TokenRequest{GrantType: GrantClientCredentials, ClientID: "batch", ClientSecret: "batch-secret", Scope: "openid", ScopeGiven: true}, &Profile{})
	if err != nil {
		t.Fatal(err)
	}
	if c := code(cc.AccessToken); c != CodeInvalidToken {
		t.Fatalf("client_credentials token: %q", c)
	}
}

func TestUserInfoRefusesExpiredRevokedAndDisabled(t *testing.T) {
	ctx := context.Background()
	t.Run("expired", func(t *testing.T) {
		fx := newOIDCFixture(t)
		resp := fx.login(t, "openid")
		fx.now = resp.ExpiresAt
		if _, err := fx.svc.UserInfo(ctx, resp.AccessToken); AsError(err).Code != CodeInvalidToken {
			t.Fatalf("expired: %v", err)
		}
	})
	t.Run("revoked access token", func(t *testing.T) {
		fx := newOIDCFixture(t)
		resp := fx.login(t, "openid")
		if err := fx.svc.Revoke(ctx, &fx.web, resp.AccessToken); err != nil {
			t.Fatal(err)
		}
		if _, err := fx.svc.UserInfo(ctx, resp.AccessToken); AsError(err).Code != CodeInvalidToken {
			t.Fatalf("revoked: %v", err)
		}
	})
	t.Run("revoked session", func(t *testing.T) {
		fx := newOIDCFixture(t)
		resp := fx.login(t, "openid")
		if err := fx.svc.Revoke(ctx, &fx.web, resp.RefreshToken); err != nil {
			t.Fatal(err)
		}
		if _, err := fx.svc.UserInfo(ctx, resp.AccessToken); AsError(err).Code != CodeInvalidToken {
			t.Fatalf("session revoked: %v", err)
		}
	})
	t.Run("disabled user", func(t *testing.T) {
		fx := newOIDCFixture(t)
		resp := fx.login(t, "openid")
		u, err := fx.store.GetUser(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		u.Disabled = true
		if err := fx.store.UpdateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		if _, err := fx.svc.UserInfo(ctx, resp.AccessToken); AsError(err).Code != CodeInvalidToken {
			t.Fatalf("disabled user: %v", err)
		}
	})
	t.Run("deleted user", func(t *testing.T) {
		fx := newOIDCFixture(t)
		resp := fx.login(t, "openid")
		if err := fx.store.DeleteUser(ctx, "alice"); err != nil {
			t.Fatal(err)
		}
		if _, err := fx.svc.UserInfo(ctx, resp.AccessToken); AsError(err).Code != CodeInvalidToken {
			t.Fatalf("deleted user: %v", err)
		}
	})
	t.Run("signed out", func(t *testing.T) {
		fx := newOIDCFixture(t)
		resp := fx.login(t, "openid")
		fx.now = fx.now.Add(2 * time.Second)
		if _, err := fx.store.EndSessions(ctx, "alice", fx.now); err != nil {
			t.Fatal(err)
		}
		if _, err := fx.svc.UserInfo(ctx, resp.AccessToken); AsError(err).Code != CodeInvalidToken {
			t.Fatalf("sessions ended: %v", err)
		}
	})
}

type jwsHeader struct{ Alg, Kid, Typ string }

func headerOf(t *testing.T, raw string) jwsHeader {
	t.Helper()
	part, _, _ := strings.Cut(raw, ".")
	b, err := base64.RawURLEncoding.DecodeString(part)
	if err != nil {
		t.Fatal(err)
	}
	var h jwsHeader
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	return h
}
