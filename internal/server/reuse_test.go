package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// The per-client refresh reuse interval, end to end through the token
// endpoint on SQLite with a fake clock. The store's side (on every
// backend) is the ReuseInterval* cases of internal/store/storetest; strict
// rotation with its 100-request race is TestRefreshRaceHasOneWinner.

const reuseConfig = `
password_hashing: {memory_kib: 1024, time: 1}
brute_force: {disabled: true}
bootstrap:
  users:
    - {username: alice, password: alice-pw, scopes: [read]}
  clients:
    - {id: tabs, secret: tabs-secret, grants: [password, refresh_token], scopes: [read], refresh_reuse_interval: 10s}
    - {id: strict, secret: strict-secret, grants: [password, refresh_token], scopes: [read]}
`

const reuseInterval = 10 * time.Second

func (ts *clockedServer) loginAs(t *testing.T, client string) string {
	t.Helper()
	a := ts.token(t, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"alice-pw"}}, basic(client, client+"-secret"))
	if a.status != 200 || a.str("refresh_token") == "" {
		t.Fatalf("login: %d %s", a.status, a.raw)
	}
	return a.str("refresh_token")
}

func (ts *clockedServer) refresh(t *testing.T, client, rt string) answer {
	t.Helper()
	return ts.token(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, basic(client, client+"-secret"))
}

// mustRefresh refreshes and returns the new refresh token.
func (ts *clockedServer) mustRefresh(t *testing.T, client, rt string) string {
	t.Helper()
	a := ts.refresh(t, client, rt)
	if a.status != 200 || a.str("refresh_token") == "" || a.str("refresh_token") == rt {
		t.Fatalf("refresh: %d %s", a.status, a.raw)
	}
	return a.str("refresh_token")
}

// wantRefused checks a refresh is refused with invalid_grant and a
// description containing desc ("already used": reuse detected; "revoked":
// the family was revoked before).
func (ts *clockedServer) wantRefused(t *testing.T, client, rt, desc string) {
	t.Helper()
	a := ts.refresh(t, client, rt)
	if a.status != 400 || a.str("error") != "invalid_grant" || !strings.Contains(a.str("error_description"), desc) {
		t.Fatalf("refresh: %d %s, want invalid_grant %q", a.status, a.raw, desc)
	}
}

// family returns the id of rt's family, read from the store.
// family returns the id of the stored family that refresh token rt
// states (its second field, under the MAC).
func (ts *clockedServer) family(t *testing.T, rt string) string {
	t.Helper()
	f := strings.Split(rt, ".")
	if len(f) != 6 {
		t.Fatalf("refresh token of %d fields", len(f))
	}
	fam, err := ts.store.GetFamily(context.Background(), f[1])
	if err != nil {
		t.Fatal(err)
	}
	return fam.ID
}

func (ts *clockedServer) active(t *testing.T, tok string) bool {
	t.Helper()
	a := ts.do(t, "POST", "/oauth/introspect", form, url.Values{"token": {tok}}.Encode(), basic("strict", "strict-secret"))
	return a.body["active"] == true
}

func TestRefreshReuseIntervalGraceIssuesAFreshPairInTheSameFamily(t *testing.T) {
	clk := newFakeClock()
	ts := newClockedServer(t, reuseConfig, clk)
	rt0 := ts.loginAs(t, "tabs")
	rt1 := ts.mustRefresh(t, "tabs", rt0)

	// The same token again, 5s later: a retried request, or another tab.
	clk.Add(5 * time.Second)
	a := ts.refresh(t, "tabs", rt0)
	if a.status != 200 || a.str("access_token") == "" {
		t.Fatalf("repeat within the interval: %d %s", a.status, a.raw)
	}
	rt2 := a.str("refresh_token")
	if rt2 == "" || rt2 == rt1 || rt2 == rt0 {
		t.Fatalf("no fresh refresh token: %s", a.raw)
	}
	if !ts.active(t, a.str("access_token")) {
		t.Fatal("the grace answer's access token is inactive")
	}
	if f := ts.family(t, rt0); ts.family(t, rt2) != f || ts.family(t, rt1) != f {
		t.Fatal("the grace rotation started another family")
	}
	// The fresh token is the live one; the earlier successor is not.
	if !ts.active(t, rt2) || ts.active(t, rt1) {
		t.Fatalf("after the grace rotation: rt2 active %v, rt1 active %v", ts.active(t, rt2), ts.active(t, rt1))
	}
	// The session goes on from rt2.
	clk.Add(time.Minute)
	ts.mustRefresh(t, "tabs", rt2)
}

func TestRefreshReuseIntervalElapsedRevokesTheFamily(t *testing.T) {
	clk := newFakeClock()
	ts := newClockedServer(t, reuseConfig, clk)
	rt0 := ts.loginAs(t, "tabs")
	rt1 := ts.mustRefresh(t, "tabs", rt0)
	// The interval is half-open: at exactly 10s it is over.
	clk.Add(reuseInterval)
	ts.wantRefused(t, "tabs", rt0, "already used")
	ts.wantRefused(t, "tabs", rt1, "revoked")
}

func TestRefreshReuseIntervalIsForTheLatestRotationOnly(t *testing.T) {
	clk := newFakeClock()
	ts := newClockedServer(t, reuseConfig, clk)
	rt0 := ts.loginAs(t, "tabs")
	rt1 := ts.mustRefresh(t, "tabs", rt0)
	clk.Add(time.Second)
	rt2 := ts.mustRefresh(t, "tabs", rt1)
	// rt0 is two generations behind: no grace, however recent.
	clk.Add(time.Second)
	ts.wantRefused(t, "tabs", rt0, "already used")
	ts.wantRefused(t, "tabs", rt2, "revoked")
}

func TestRefreshReuseIntervalGraceIsOncePerToken(t *testing.T) {
	clk := newFakeClock()
	ts := newClockedServer(t, reuseConfig, clk)
	rt0 := ts.loginAs(t, "tabs")
	ts.mustRefresh(t, "tabs", rt0)
	clk.Add(time.Second)
	rt2 := ts.mustRefresh(t, "tabs", rt0)
	// A third presentation of rt0: the grace rotation moved the family on
	// a generation, so rt0 is now two behind.
	clk.Add(time.Second)
	ts.wantRefused(t, "tabs", rt0, "already used")
	ts.wantRefused(t, "tabs", rt2, "revoked")
}

func TestRefreshReuseIntervalEarlierSuccessorIsDemoted(t *testing.T) {
	// After a grace rotation (rt0 presented twice: rt1, then rt2), rt1 is
	// no longer live. Grace follows generations, not tokens: rt1 is now
	// the generation before the current one, so it has exactly the grace
	// any just-rotated token has — within the interval after the latest
	// rotation it is accepted (the two tabs may each go on), after that
	// it is reuse and revokes the family.
	t.Run("within the interval", func(t *testing.T) {
		clk := newFakeClock()
		ts := newClockedServer(t, reuseConfig, clk)
		rt0 := ts.loginAs(t, "tabs")
		rt1 := ts.mustRefresh(t, "tabs", rt0)
		clk.Add(2 * time.Second)
		rt2 := ts.mustRefresh(t, "tabs", rt0)
		clk.Add(2 * time.Second)
		rt3 := ts.mustRefresh(t, "tabs", rt1)
		if ts.active(t, rt2) || !ts.active(t, rt3) {
			t.Fatal("rt3 is not the live token")
		}
	})
	t.Run("after the interval", func(t *testing.T) {
		clk := newFakeClock()
		ts := newClockedServer(t, reuseConfig, clk)
		rt0 := ts.loginAs(t, "tabs")
		rt1 := ts.mustRefresh(t, "tabs", rt0)
		clk.Add(2 * time.Second)
		rt2 := ts.mustRefresh(t, "tabs", rt0)
		clk.Add(reuseInterval)
		ts.wantRefused(t, "tabs", rt1, "already used")
		ts.wantRefused(t, "tabs", rt2, "revoked")
	})
}

func TestRefreshWithoutReuseIntervalIsStrict(t *testing.T) {
	clk := newFakeClock()
	ts := newClockedServer(t, reuseConfig, clk)
	rt0 := ts.loginAs(t, "strict")
	rt1 := ts.mustRefresh(t, "strict", rt0)
	// The same instant: no grace at all.
	ts.wantRefused(t, "strict", rt0, "already used")
	ts.wantRefused(t, "strict", rt1, "revoked")
}

func TestRefreshReuseIntervalRaceHasTwoWinnersThenRevokes(t *testing.T) {
	// 100 parallel presentations of one token with a reuse interval: the
	// first rotates, the second gets the grace, the third is reuse and
	// revokes the family. The grace absorbs a duplicate, not a storm.
	ts := newClockedServer(t, reuseConfig, newFakeClock())
	rt := ts.loginAs(t, "tabs")
	body := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}.Encode()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		statuses = map[int]int{}
		winners  []string
	)
	start := make(chan struct{})
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			req, _ := http.NewRequest("POST", ts.URL+"/oauth/token", strings.NewReader(body))
			req.Header.Set("Content-Type", form)
			req.SetBasicAuth("tabs", "tabs-secret")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			mu.Lock()
			statuses[resp.StatusCode]++
			if resp.StatusCode == 200 {
				winners = append(winners, string(b))
			}
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()
	if statuses[200] != 2 || statuses[400] != 98 {
		t.Fatalf("statuses %v: want two 200s and 98 400s", statuses)
	}
	// The family is revoked: neither winner's token works.
	for _, w := range winners {
		var body struct {
			RefreshToken string `json:"refresh_token"`
		}
		if err := json.Unmarshal([]byte(w), &body); err != nil || body.RefreshToken == "" {
			t.Fatalf("winner without a refresh token: %s", w)
		}
		ts.wantRefused(t, "tabs", body.RefreshToken, "revoked")
	}
}
