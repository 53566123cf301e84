package server_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/internal/oauth"
	"github.com/tokengate/tokengate/internal/servertest"
)

// TestDeviceApprovalWithTheSignInSession wires the verification page to
// the web pages' real sign-in session: a signed-out browser opening
// verification_uri_complete is sent to /login, comes back to the
// prefilled page after signing in, sees the client and approves with the
// session's CSRF token; the device then gets the user's tokens.
func TestDeviceApprovalWithTheSignInSession(t *testing.T) {
	clk := newFakeClock()
	s := servertest.Start(t, `
password_hashing: {memory_kib: 1024, time: 1}
bootstrap:
  users: [{username: alice, password: alice-pw, scopes: [read]}]
  clients: [{id: tv, public: true, grants: ["urn:ietf:params:oauth:grant-type:device_code", refresh_token], scopes: [read]}]
`, servertest.Options{Now: clk.Now})
	b := &bt{t: t, srv: s, store: s.Store, clock: clk, c: newBrowser(t)}
	p := b.req(http.DefaultClient, "POST", "/oauth/device_authorization", url.Values{"client_id": {"tv"}}, nil)
	var da struct {
		DeviceCode              string `json:"device_code"`
		UserCode                string `json:"user_code"`
		VerificationURIComplete string `json:"verification_uri_complete"`
	}
	if err := json.Unmarshal([]byte(p.body), &da); err != nil || p.status != 200 {
		t.Fatalf("device authorization: %d %s", p.status, p.body)
	}
	p = b.get(da.VerificationURIComplete)
	if p.status != http.StatusSeeOther || !strings.HasPrefix(p.loc, "/login?return_to=") {
		t.Fatalf("signed out: %d %q", p.status, p.loc)
	}
	returnTo, _ := url.QueryUnescape(strings.TrimPrefix(p.loc, "/login?return_to="))
	if returnTo != "/device?user_code="+url.QueryEscape(da.UserCode) {
		t.Fatalf("return_to %q", returnTo)
	}
	p = b.signIn(returnTo, "alice", "alice-pw")
	if p.status != http.StatusSeeOther || p.loc != returnTo {
		t.Fatalf("sign-in: %d %q", p.status, p.loc)
	}
	p = b.get(returnTo)
	if p.status != 200 || !strings.Contains(p.body, `value="`+da.UserCode+`"`) {
		t.Fatalf("prefilled page: %d\n%s", p.status, p.body)
	}
	// A post without the session's CSRF token decides nothing.
	if p2 := b.post("/device", url.Values{"user_code": {da.UserCode}, "decision": {"approve"}}); p2.status != http.StatusForbidden {
		t.Fatalf("without CSRF: %d", p2.status)
	}
	p = b.post("/device", url.Values{"csrf_token": {field(t, csrfRE, p.body)}, "user_code": {da.UserCode}})
	if p.status != 200 || !strings.Contains(p.body, `id="client">tv<`) {
		t.Fatalf("confirmation: %d\n%s", p.status, p.body)
	}
	p = b.post("/device", url.Values{"csrf_token": {field(t, csrfRE, p.body)}, "user_code": {da.UserCode}, "decision": {"approve"}})
	if p.status != 200 || !strings.Contains(p.body, `id="done"`) {
		t.Fatalf("approval: %d\n%s", p.status, p.body)
	}
	tok := b.req(http.DefaultClient, "POST", "/oauth/token", url.Values{"grant_type": {oauth.GrantDeviceCode}, "client_id": {"tv"}, "device_code": {da.DeviceCode}}, nil)
	if tok.status != 200 || !strings.Contains(tok.body, `"refresh_token"`) {
		t.Fatalf("poll: %d %s", tok.status, tok.body)
	}
}
