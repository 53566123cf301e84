package server_test

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/tokengate/tokengate/internal/admin"
)

// Sessions end everywhere at once: revoking a family ends the access
// tokens issued from it (sid), and ending a user's sessions ends every
// token issued to the user before (per-user not-before). Both are read
// from the store at introspection, so every node sees them at once.

const sessionsConfig = `
password_hashing: {memory_kib: 1024, time: 1}
brute_force: {disabled: true}
routes:
  - {path: /oauth/token, endpoint: token}
  - {path: /oauth/revoke, endpoint: revoke}
  - {path: /oauth/introspect, endpoint: introspect}
  - {path: /fixed/token, endpoint: token, rotate_refresh_tokens: false, refresh_token_format: jwt}
bootstrap:
  users:
    - {username: alice, password: alice-pw, scopes: [read]}
  clients:
    - {id: strict, secret: strict-secret, grants: [password, refresh_token], scopes: [read]}
    - {id: norefresh, secret: norefresh-secret, grants: [password], scopes: [read]}
`

// loginPair logs alice in through client and returns its access and
// refresh tokens.
func (ts *clockedServer) loginPair(t *testing.T, path, client string) (string, string) {
	t.Helper()
	a := ts.do(t, "POST", path, form, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"alice-pw"}}.Encode(), basic(client, client+"-secret"))
	if a.status != 200 {
		t.Fatalf("login: %d %s", a.status, a.raw)
	}
	return a.str("access_token"), a.str("refresh_token")
}

func TestRevokingARefreshTokenEndsItsAccessTokens(t *testing.T) {
	ts := newClockedServer(t, sessionsConfig, newFakeClock())
	at, rt := ts.loginPair(t, "/oauth/token", "strict")
	other, _ := ts.loginPair(t, "/oauth/token", "strict")
	a := ts.refresh(t, "strict", rt)
	if a.status != 200 {
		t.Fatalf("refresh: %d %s", a.status, a.raw)
	}
	at2 := a.str("access_token")
	if !ts.active(t, at) || !ts.active(t, at2) {
		t.Fatal("access tokens inactive before revocation")
	}
	if a := ts.do(t, "POST", "/oauth/revoke", form, url.Values{"token": {a.str("refresh_token")}}.Encode(), basic("strict", "strict-secret")); a.status != 200 {
		t.Fatalf("revoke: %d %s", a.status, a.raw)
	}
	// RFC 7009 §2.1: every access token of the grant is inactive at once,
	// the one issued at login and the one issued by the refresh.
	if ts.active(t, at) || ts.active(t, at2) {
		t.Fatal("access token of a revoked family still active")
	}
	if !ts.active(t, other) {
		t.Fatal("access token of another session inactive")
	}
}

func TestReuseDetectionEndsTheFamilysAccessTokens(t *testing.T) {
	ts := newClockedServer(t, sessionsConfig, newFakeClock())
	at, rt0 := ts.loginPair(t, "/oauth/token", "strict")
	ts.mustRefresh(t, "strict", rt0)
	ts.wantRefused(t, "strict", rt0, "already used")
	if ts.active(t, at) {
		t.Fatal("access token of a family revoked by reuse detection still active")
	}
}

func TestAdminUserActionsEndEveryTokenIssuedBefore(t *testing.T) {
	for _, tc := range []struct {
		name string
		act  func(u *admin.Users) error
		// ended: tokens issued before are inactive; refreshed: the
		// refresh token still works afterwards.
		ended bool
	}{
		{"disable", func(u *admin.Users) error { _, err := u.SetDisabled(context.Background(), "alice", true); return err }, true},
		{"delete", func(u *admin.Users) error { return u.Delete(context.Background(), "alice") }, true},
		{"passwd", func(u *admin.Users) error {
			_, err := u.SetPassword(context.Background(), "alice", "alice-pw", false)
			return err
		}, true},
		{"passwd --keep-sessions", func(u *admin.Users) error {
			_, err := u.SetPassword(context.Background(), "alice", "alice-pw", true)
			return err
		}, false},
		{"token revoke --user", func(u *admin.Users) error { _, err := u.EndSessions(context.Background(), "alice"); return err }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := newFakeClock()
			ts := newClockedServer(t, sessionsConfig, clk)
			at, rt := ts.loginPair(t, "/oauth/token", "strict")
			// A token from a client without refresh tokens has no family:
			// only the user's not-before time can end it.
			bare, _ := ts.loginPair(t, "/oauth/token", "norefresh")
			clk.Add(time.Second)
			users := &admin.Users{Store: ts.store, Now: clk.Now, Hash: func(context.Context, string) (string, error) {
				return "$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHRzYWx0$3GQqqzYFfVmDs5tFc+R5dHHfH4n6dUczoFwGDzqSeZA", nil
			}}
			if err := tc.act(users); err != nil {
				t.Fatal(err)
			}
			for name, tok := range map[string]string{"access": at, "family-less access": bare, "refresh": rt} {
				if got := ts.active(t, tok); got == tc.ended {
					t.Errorf("%s token active = %v after %s", name, got, tc.name)
				}
			}
			a := ts.refresh(t, "strict", rt)
			if (a.status == 200) == tc.ended {
				t.Errorf("refresh after %s: %d %s", tc.name, a.status, a.raw)
			}
		})
	}
}

func TestTokensIssuedAfterEndingSessionsAreActive(t *testing.T) {
	clk := newFakeClock()
	ts := newClockedServer(t, sessionsConfig, clk)
	users := &admin.Users{Store: ts.store, Now: clk.Now}
	clk.Add(time.Second)
	if _, err := users.EndSessions(context.Background(), "alice"); err != nil {
		t.Fatal(err)
	}
	// Within the same second, and after it.
	for range 2 {
		at, rt := ts.loginPair(t, "/oauth/token", "strict")
		if !ts.active(t, at) || !ts.active(t, rt) {
			t.Fatal("token issued after the sessions ended is inactive")
		}
		clk.Add(time.Second)
	}
}

func TestRefreshPolicyIsTheFamilysOnEveryRoute(t *testing.T) {
	ts := newClockedServer(t, sessionsConfig, newFakeClock())
	refreshAt := func(path, rt string) answer {
		return ts.do(t, "POST", path, form, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}.Encode(), basic("strict", "strict-secret"))
	}

	// A session begun at the non-rotating JWT route keeps its token on
	// the rotating route: no new refresh token, and the old one still works.
	_, fixed := ts.loginPair(t, "/fixed/token", "strict")
	for _, path := range []string{"/oauth/token", "/fixed/token", "/oauth/token"} {
		a := refreshAt(path, fixed)
		if a.status != 200 || a.str("refresh_token") != "" {
			t.Fatalf("refresh of a fixed family at %s: %d %s", path, a.status, a.raw)
		}
	}

	// A session begun at the rotating route rotates on the non-rotating
	// route too, and a replay of its old token is reuse on either route:
	// the family is revoked.
	_, rt0 := ts.loginPair(t, "/oauth/token", "strict")
	a := refreshAt("/fixed/token", rt0)
	if a.status != 200 || a.str("refresh_token") == "" || a.str("refresh_token") == rt0 {
		t.Fatalf("refresh of a rotating family at the fixed route: %d %s", a.status, a.raw)
	}
	rt1 := a.str("refresh_token")
	if a := refreshAt("/fixed/token", rt0); a.status != 400 || a.str("error") != "invalid_grant" {
		t.Fatalf("replay at the fixed route: %d %s", a.status, a.raw)
	}
	if a := refreshAt("/oauth/token", rt1); a.status != 400 {
		t.Fatalf("family not revoked by a replay at the fixed route: %d %s", a.status, a.raw)
	}
}

// TestRotatingSessionIsRefusedWhereNoRefreshTokenComesBack: a datarhei
// refresh answers an access token only, so a rotating session presented
// there is refused and left as it was (rotating it would leave the client
// holding a dead token, and its next use would revoke the session).
func TestRotatingSessionIsRefusedWhereNoRefreshTokenComesBack(t *testing.T) {
	const cfg = `
password_hashing: {memory_kib: 1024, time: 1}
brute_force: {disabled: true}
routes:
  - {path: /oauth/token, endpoint: token}
  - {path: /oauth/introspect, endpoint: introspect}
  - {path: /api/login/refresh, endpoint: datarhei.refresh, refresh_token_format: jwt, rotate_refresh_tokens: false,
     default_client: pub, refresh_client_auth: none}
bootstrap:
  users:
    - {username: alice, password: alice-pw, scopes: [read]}
  clients:
    - {id: strict, secret: strict-secret, grants: [password, refresh_token], scopes: [read]}
    - {id: pub, public: true, grants: [password, refresh_token], scopes: [read]}
`
	ts := newClockedServer(t, cfg, newFakeClock())
	// A session of the route's public client, so that only the rotation
	// policy (not client authentication) is at stake.
	login := ts.do(t, "POST", "/oauth/token", form, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"alice-pw"}, "client_id": {"pub"}}.Encode(), nil)
	if login.status != 200 {
		t.Fatalf("login: %d %s", login.status, login.raw)
	}
	rt := login.str("refresh_token")
	a := ts.do(t, "GET", "/api/login/refresh", "", "", map[string]string{"Authorization": "Bearer " + rt})
	if a.status == 200 {
		t.Fatalf("rotating session refreshed where no refresh token comes back: %s", a.raw)
	}
	if !ts.active(t, rt) {
		t.Fatal("the refused refresh changed the session")
	}
	if a := ts.token(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {"pub"}}, nil); a.status != 200 || a.str("refresh_token") == "" {
		t.Fatalf("refresh at the token endpoint: %d %s", a.status, a.raw)
	}
}
