package server_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokengate/tokengate/internal/devicepage"
	"github.com/tokengate/tokengate/internal/devicepage/devicepagetest"
	"github.com/tokengate/tokengate/internal/oauth"
	"github.com/tokengate/tokengate/internal/servertest"
)

const deviceConfig = `
password_hashing: {memory_kib: 1024, time: 1}
bootstrap:
  users:
    - {username: alice, password: alice-pw, scopes: [read, write]}
  clients:
    - {id: tv, public: true, grants: ["urn:ietf:params:oauth:grant-type:device_code", refresh_token], scopes: [read, write]}
    - {id: cli, secret: cli-secret, grants: ["urn:ietf:params:oauth:grant-type:device_code"], scopes: [read]}
    - {id: web, secret: web-secret, grants: [password, refresh_token], scopes: [read]}
`

type deviceServer struct {
	*testServer
	clock    *servertest.Clock
	sessions *devicepagetest.Sessions
}

func newDeviceServer(t *testing.T) *deviceServer {
	t.Helper()
	clock := servertest.NewClock(time.Now())
	sessions := devicepagetest.New()
	sessions.Add("s-alice", devicepage.Identity{UserID: "alice", Username: "alice", AuthTime: clock.Now()})
	s := servertest.Start(t, deviceConfig, servertest.Options{Now: clock.Now, DeviceSessions: sessions})
	return &deviceServer{testServer: &testServer{Server: s.Server, srv: s.Srv}, clock: clock, sessions: sessions}
}

func (ds *deviceServer) authorize(t *testing.T, vals url.Values, hdr map[string]string) answer {
	t.Helper()
	return ds.do(t, "POST", "/oauth/device_authorization", form, vals.Encode(), hdr)
}

func (ds *deviceServer) poll(t *testing.T, client, deviceCode string) answer {
	t.Helper()
	return ds.token(t, url.Values{"grant_type": {oauth.GrantDeviceCode}, "client_id": {client}, "device_code": {deviceCode}}, nil)
}

func wantOAuthError(t *testing.T, a answer, status int, code string) {
	t.Helper()
	if a.status != status || a.str("error") != code {
		t.Fatalf("got %d %s, want %d %s", a.status, a.raw, status, code)
	}
}

// TestDeviceFlowEndToEnd runs RFC 8628 over HTTP on 127.0.0.1: device
// authorization, polling (pending, slow_down), the verification page
// (prefilled from verification_uri_complete, client and scopes shown,
// approval), then exactly one poll gets the tokens.
func TestDeviceFlowEndToEnd(t *testing.T) {
	ds := newDeviceServer(t)
	a := ds.authorize(t, url.Values{"client_id": {"tv"}, "scope": {"read"}}, nil)
	if a.status != 200 || a.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("device authorization: %d %s", a.status, a.raw)
	}
	dc, uc := a.str("device_code"), a.str("user_code")
	if a.str("verification_uri") != ds.URL+"/device" || a.str("verification_uri_complete") != ds.URL+"/device?user_code="+uc ||
		a.body["expires_in"] != float64(600) || a.body["interval"] != float64(5) || dc == "" || len(uc) != 9 {
		t.Fatalf("answer: %s", a.raw)
	}
	wantOAuthError(t, ds.poll(t, "tv", dc), 400, "authorization_pending")
	wantOAuthError(t, ds.poll(t, "tv", dc), 400, "slow_down")
	ds.clock.Add(10 * time.Second)

	// The browser opens verification_uri_complete: the code is filled in.
	req, _ := http.NewRequest("GET", a.str("verification_uri_complete"), nil)
	req.AddCookie(&http.Cookie{Name: devicepagetest.CookieName, Value: "s-alice"})
	resp, err := ds.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("X-Frame-Options") != "DENY" || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Fatalf("page: %d %v", resp.StatusCode, resp.Header)
	}
	if err := devicepagetest.Decide(context.Background(), ds.Client(), ds.URL+"/device", "s-alice", uc, "tv", true); err != nil {
		t.Fatal(err)
	}
	got := ds.poll(t, "tv", dc)
	if got.status != 200 || got.str("access_token") == "" || got.str("refresh_token") == "" || got.str("scope") != "read" {
		t.Fatalf("poll after approval: %d %s", got.status, got.raw)
	}
	wantOAuthError(t, ds.poll(t, "tv", dc), 400, "invalid_grant")
	// The session refreshes like any other.
	r := ds.token(t, url.Values{"grant_type": {"refresh_token"}, "client_id": {"tv"}, "refresh_token": {got.str("refresh_token")}}, nil)
	if r.status != 200 {
		t.Fatalf("refresh: %d %s", r.status, r.raw)
	}
}

func TestDeviceMetadata(t *testing.T) {
	ds := newDeviceServer(t)
	a := ds.do(t, "GET", "/.well-known/oauth-authorization-server", "", "", nil)
	if a.str("device_authorization_endpoint") != ds.URL+"/oauth/device_authorization" {
		t.Errorf("device_authorization_endpoint: %s", a.raw)
	}
	grants, _ := a.body["grant_types_supported"].([]any)
	found := false
	for _, g := range grants {
		found = found || g == oauth.GrantDeviceCode
	}
	if !found {
		t.Errorf("grant_types_supported lacks the device grant: %s", a.raw)
	}
}

func TestDeviceAuthorizationClientAuthentication(t *testing.T) {
	ds := newDeviceServer(t)
	wantOAuthError(t, ds.authorize(t, url.Values{"client_id": {"web"}}, basic("web", "web-secret")), 400, "unauthorized_client")
	wantOAuthError(t, ds.authorize(t, url.Values{}, basic("cli", "wrong")), 401, "invalid_client")
	wantOAuthError(t, ds.authorize(t, url.Values{"client_id": {"cli"}}, nil), 401, "invalid_client")
	wantOAuthError(t, ds.authorize(t, url.Values{"scope": {"write"}}, basic("cli", "cli-secret")), 400, "invalid_scope")
	// A confidential client polls with its credentials too.
	a := ds.authorize(t, url.Values{}, basic("cli", "cli-secret"))
	if a.status != 200 {
		t.Fatalf("%d %s", a.status, a.raw)
	}
	wantOAuthError(t, ds.token(t, url.Values{"grant_type": {oauth.GrantDeviceCode}, "device_code": {a.str("device_code")}}, basic("cli", "wrong")), 401, "invalid_client")
	wantOAuthError(t, ds.token(t, url.Values{"grant_type": {oauth.GrantDeviceCode}, "device_code": {a.str("device_code")}}, basic("cli", "cli-secret")), 400, "authorization_pending")
}

func TestDeviceExpiredOverHTTP(t *testing.T) {
	ds := newDeviceServer(t)
	a := ds.authorize(t, url.Values{"client_id": {"tv"}}, nil)
	ds.clock.Add(10 * time.Minute)
	wantOAuthError(t, ds.poll(t, "tv", a.str("device_code")), 400, "expired_token")
	st, body, err := devicepagetest.Post(context.Background(), ds.Client(), ds.URL+"/device", "s-alice", url.Values{"user_code": {a.str("user_code")}, "decision": {"approve"}})
	if err != nil || st != 400 || !strings.Contains(body, "not valid or has expired") {
		t.Fatalf("approving an expired code: %d %v", st, err)
	}
}

func TestDeviceDeniedOverHTTP(t *testing.T) {
	ds := newDeviceServer(t)
	a := ds.authorize(t, url.Values{"client_id": {"tv"}}, nil)
	if err := devicepagetest.Decide(context.Background(), ds.Client(), ds.URL+"/device", "s-alice", a.str("user_code"), "tv", false); err != nil {
		t.Fatal(err)
	}
	wantOAuthError(t, ds.poll(t, "tv", a.str("device_code")), 400, "access_denied")
}

func TestDeviceConcurrentPollsOverHTTP(t *testing.T) {
	ds := newDeviceServer(t)
	a := ds.authorize(t, url.Values{"client_id": {"tv"}}, nil)
	if err := devicepagetest.Decide(context.Background(), ds.Client(), ds.URL+"/device", "s-alice", a.str("user_code"), "tv", true); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	statuses := map[int]int{}
	var wg sync.WaitGroup
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got := ds.poll(t, "tv", a.str("device_code"))
			mu.Lock()
			statuses[got.status]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if statuses[200] != 1 || statuses[400] != 99 {
		t.Fatalf("statuses of 100 concurrent polls: %v, want one 200", statuses)
	}
}

func TestDeviceCodeOfAnotherClientOverHTTP(t *testing.T) {
	ds := newDeviceServer(t)
	a := ds.authorize(t, url.Values{"scope": {"read"}}, basic("cli", "cli-secret"))
	if err := devicepagetest.Decide(context.Background(), ds.Client(), ds.URL+"/device", "s-alice", a.str("user_code"), "cli", true); err != nil {
		t.Fatal(err)
	}
	wantOAuthError(t, ds.poll(t, "tv", a.str("device_code")), 400, "invalid_grant")
	got := ds.token(t, url.Values{"grant_type": {oauth.GrantDeviceCode}, "device_code": {a.str("device_code")}}, basic("cli", "cli-secret"))
	if got.status != 200 {
		t.Fatalf("the client it was issued to: %d %s", got.status, got.raw)
	}
}

func TestDevicePageCSRFAndLoginOverHTTP(t *testing.T) {
	ds := newDeviceServer(t)
	a := ds.authorize(t, url.Values{"client_id": {"tv"}}, nil)
	st, _, err := devicepagetest.Post(context.Background(), ds.Client(), ds.URL+"/device", "s-alice", url.Values{"user_code": {a.str("user_code")}, "decision": {"approve"}, "csrf_token": {"forged"}})
	if err != nil || st != 403 {
		t.Fatalf("without the CSRF token: %d %v", st, err)
	}
	wantOAuthError(t, ds.poll(t, "tv", a.str("device_code")), 400, "authorization_pending")
	hc := *ds.Client()
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := hc.Get(ds.URL + "/device")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login?") {
		t.Fatalf("signed out: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestDeviceWrongUserCodesRateLimitedOverHTTP(t *testing.T) {
	ds := newDeviceServer(t)
	a := ds.authorize(t, url.Values{"client_id": {"tv"}}, nil)
	for range oauth.UserCodeAttempts {
		if st, _, _ := devicepagetest.Post(context.Background(), ds.Client(), ds.URL+"/device", "s-alice", url.Values{"user_code": {"BBBB-BBBB"}}); st != 400 {
			t.Fatalf("wrong code: %d", st)
		}
	}
	st, _, _ := devicepagetest.Post(context.Background(), ds.Client(), ds.URL+"/device", "s-alice", url.Values{"user_code": {a.str("user_code")}, "decision": {"approve"}})
	if st != http.StatusTooManyRequests {
		t.Fatalf("past the limit: %d", st)
	}
	wantOAuthError(t, ds.poll(t, "tv", a.str("device_code")), 400, "authorization_pending")
}
