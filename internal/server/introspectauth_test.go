package server_test

import (
	"net/url"
	"testing"
)

const introspectAuthConfig = `
password_hashing: {memory_kib: 1024, time: 1}
bootstrap:
  users:
    - {username: alice, password: alice-pw, scopes: [read]}
  clients:
    - {id: app, secret: app-secret, grants: [password, refresh_token], scopes: [read]}
    - {id: rs, secret: rs-secret, grants: [client_credentials], scopes: [read]}
    - {id: quiet, secret: quiet-secret, grants: [password], scopes: [read], introspect: false}
    - {id: spa, public: true, grants: [password, refresh_token], scopes: [read]}
`

// TestIntrospectionNeedsAnAuthenticatedConfidentialClient: RFC 7662 §2.1
// asks for authorization so that introspection is not a token scanner. A
// public client (client_id alone) gets 401 invalid_client, and a
// confidential client whose introspect permission is off is refused too;
// neither learns anything about the token.
func TestIntrospectionNeedsAnAuthenticatedConfidentialClient(t *testing.T) {
	ts := newServer(t, introspectAuthConfig)
	login := ts.do(t, "POST", "/oauth/token", form, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"alice-pw"}}.Encode(), basic("app", "app-secret"))
	if login.status != 200 {
		t.Fatalf("login: %d %s", login.status, login.raw)
	}
	for _, tok := range []string{login.str("access_token"), login.str("refresh_token")} {
		body := url.Values{"token": {tok}}
		public := ts.do(t, "POST", "/oauth/introspect", form, url.Values{"token": {tok}, "client_id": {"spa"}}.Encode(), nil)
		if public.status != 401 || public.str("error") != "invalid_client" || public.body["active"] != nil {
			t.Errorf("public client: %d %s, want 401 invalid_client", public.status, public.raw)
		}
		publicBasic := ts.do(t, "POST", "/oauth/introspect", form, body.Encode(), basic("spa", ""))
		if publicBasic.status != 401 || publicBasic.str("error") != "invalid_client" || publicBasic.header.Get("WWW-Authenticate") == "" {
			t.Errorf("public client with Basic: %d %s, want 401 invalid_client with WWW-Authenticate", publicBasic.status, publicBasic.raw)
		}
		none := ts.do(t, "POST", "/oauth/introspect", form, body.Encode(), nil)
		if none.status != 401 || none.str("error") != "invalid_client" {
			t.Errorf("no client: %d %s, want 401", none.status, none.raw)
		}
		off := ts.do(t, "POST", "/oauth/introspect", form, body.Encode(), basic("quiet", "quiet-secret"))
		if off.status != 403 || off.str("error") != "unauthorized_client" || off.body["active"] != nil {
			t.Errorf("client with introspect: false: %d %s, want 403 unauthorized_client", off.status, off.raw)
		}
		rs := ts.do(t, "POST", "/oauth/introspect", form, body.Encode(), basic("rs", "rs-secret"))
		if rs.status != 200 || rs.body["active"] != true {
			t.Errorf("confidential client: %d %s, want active", rs.status, rs.raw)
		}
	}
}
