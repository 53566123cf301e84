package server_test

import (
	"net/url"
	"testing"
)

// TestStoreDownIssuesNoToken closes the database under a running server:
// every endpoint that needs it answers 5xx — never a token, never
// "active" — and readiness reports the outage.
func TestStoreDownIssuesNoToken(t *testing.T) {
	const cfg = `
password_hashing: {memory_kib: 1024, time: 1}
bootstrap:
  users:
    - {username: alice, password: alice-pw, scopes: [read]}
  clients:
    - {id: app, secret: app-secret, grants: [password, refresh_token, client_credentials], scopes: [read]}
`
	ts := newClockedServer(t, cfg, newFakeClock())
	login := passwordLogin(t, ts.testServer)
	at, rt := login.str("access_token"), login.str("refresh_token")
	if err := ts.store.Close(); err != nil {
		t.Fatal(err)
	}
	app := basic("app", "app-secret")
	for _, tc := range []struct {
		name string
		a    func() answer
	}{
		{"password", func() answer {
			return ts.token(t, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"alice-pw"}}, app)
		}},
		{"refresh", func() answer {
			return ts.token(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, app)
		}},
		{"client credentials", func() answer { return ts.token(t, url.Values{"grant_type": {"client_credentials"}}, app) }},
		{"introspection", func() answer {
			return ts.do(t, "POST", "/oauth/introspect", form, url.Values{"token": {at}}.Encode(), app)
		}},
		{"revocation", func() answer { return ts.do(t, "POST", "/oauth/revoke", form, url.Values{"token": {rt}}.Encode(), app) }},
		{"readiness", func() answer { return ts.do(t, "GET", "/readyz", "", "", nil) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := tc.a()
			if a.status < 500 || a.body["access_token"] != nil || a.body["active"] != nil {
				t.Fatalf("with the store down: %d %s", a.status, a.raw)
			}
		})
	}
}
