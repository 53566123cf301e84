package server_test

import (
	"net/url"
	"slices"
	"testing"
)

const audienceConfig = `
password_hashing: {memory_kib: 1024, time: 1}
exchange_audiences: [https://reports.example]
bootstrap:
  users:
    - {username: alice, password: alice-pw, scopes: [read]}
  clients:
    - {id: app, secret: app-secret, grants: [password, refresh_token, client_credentials], scopes: [read]}
    - {id: billing, secret: billing-secret, grants: [password, refresh_token, client_credentials], scopes: [read],
       resources: [https://billing.example]}
`

// audOf returns the aud claim of an access token as a list.
func audOf(t *testing.T, tok string) []string {
	t.Helper()
	switch a := payload(t, tok)["aud"].(type) {
	case string:
		return []string{a}
	case []any:
		var out []string
		for _, x := range a {
			s, _ := x.(string)
			out = append(out, s)
		}
		return out
	}
	return nil
}

// TestAccessTokensAlwaysCarryAnAudience: RFC 9068 §2.2 requires aud.
// Without a configured audience it is the issuer URL, on every grant and
// after a refresh.
func TestAccessTokensAlwaysCarryAnAudience(t *testing.T) {
	ts := newServer(t, audienceConfig)
	cc := ts.do(t, "POST", "/oauth/token", form, "grant_type=client_credentials", basic("app", "app-secret"))
	pw := ts.do(t, "POST", "/oauth/token", form, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"alice-pw"}}.Encode(), basic("app", "app-secret"))
	if cc.status != 200 || pw.status != 200 {
		t.Fatalf("logins: %d %s; %d %s", cc.status, cc.raw, pw.status, pw.raw)
	}
	rf := ts.do(t, "POST", "/oauth/token", form, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {pw.str("refresh_token")}}.Encode(), basic("app", "app-secret"))
	if rf.status != 200 {
		t.Fatalf("refresh: %d %s", rf.status, rf.raw)
	}
	for name, a := range map[string]answer{"client_credentials": cc, "password": pw, "refresh": rf} {
		if got := audOf(t, a.str("access_token")); !slices.Equal(got, []string{testIssuer}) {
			t.Errorf("%s: aud = %v, want [%s]", name, got, testIssuer)
		}
	}
}

// TestResourceIndicatorsAreRestrictedPerClient: RFC 8707 resource asks for
// a token for one API; a client gets only the resources it is allowed (its
// own list, or else the configured audience and exchange audiences), and
// invalid_target otherwise. The audience holds across refreshes.
func TestResourceIndicatorsAreRestrictedPerClient(t *testing.T) {
	ts := newServer(t, audienceConfig)
	for _, tc := range []struct {
		name, client, secret, resource string
		wantAud                        string // "" means invalid_target
	}{
		{"default list: the issuer", "app", "app-secret", testIssuer, testIssuer},
		{"default list: an exchange audience", "app", "app-secret", "https://reports.example", "https://reports.example"},
		{"default list: another API", "app", "app-secret", "https://billing.example", ""},
		{"own list", "billing", "billing-secret", "https://billing.example", "https://billing.example"},
		{"own list replaces the default", "billing", "billing-secret", testIssuer, ""},
		{"not an absolute URI", "app", "app-secret", "billing", ""},
		{"a fragment", "app", "app-secret", "https://reports.example#x", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, grant := range []url.Values{
				{"grant_type": {"client_credentials"}},
				{"grant_type": {"password"}, "username": {"alice"}, "password": {"alice-pw"}},
			} {
				grant.Set("resource", tc.resource)
				a := ts.do(t, "POST", "/oauth/token", form, grant.Encode(), basic(tc.client, tc.secret))
				if tc.wantAud == "" {
					if a.status != 400 || a.str("error") != "invalid_target" {
						t.Errorf("%s: %d %s, want 400 invalid_target", grant.Get("grant_type"), a.status, a.raw)
					}
					continue
				}
				if a.status != 200 || !slices.Equal(audOf(t, a.str("access_token")), []string{tc.wantAud}) {
					t.Fatalf("%s: %d %s, want aud %s", grant.Get("grant_type"), a.status, a.raw, tc.wantAud)
				}
				if rt := a.str("refresh_token"); rt != "" {
					rf := ts.do(t, "POST", "/oauth/token", form, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}.Encode(), basic(tc.client, tc.secret))
					if rf.status != 200 || !slices.Equal(audOf(t, rf.str("access_token")), []string{tc.wantAud}) {
						t.Errorf("refresh: %d %s, want aud %s", rf.status, rf.raw, tc.wantAud)
					}
				}
			}
		})
	}
}
