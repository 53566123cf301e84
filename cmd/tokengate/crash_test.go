package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The crash test: refresh chains under load, the server killed with
// SIGKILL at a random moment, restarted on the same database. Every
// refresh token a client received in a 200 must have been durably stored
// before it was sent, so after the restart:
//
//   - every token a client received and had not used yet works exactly
//     once (a second use is reuse);
//   - every token rotated before the crash stays rotated: introspection
//     says inactive and, replayed, it is detected as reuse (not unknown,
//     which would mean its row was lost);
//   - a token that was in flight when the server died either was not
//     rotated (it works once) or was (it is reuse) — never unknown.

const crashConfig = `
password_hashing: {memory_kib: 1024, time: 1}
bootstrap:
  users:
    - {username: alice, password: alice-pw, scopes: [read]}
  clients:
    - {id: app, secret: app-secret, grants: [password, refresh_token], scopes: [read]}
`

const (
	crashRounds        = 4
	crashClients       = 8
	crashMaxRefreshes  = 300 // per client and round: the load is bounded
	crashMinKillDelay  = 150 * time.Millisecond
	crashMaxKillDelay  = 900 * time.Millisecond
	crashRequestWindow = 10 * time.Second
)

// chain is one client's refresh chain in one round.
type chain struct {
	received []string // refresh tokens received in 200s; [0] from the login
	inFlight bool     // the last token was sent and no answer came back
	err      error    // an unexpected answer during the load
}

// tokenCall posts a token or introspection request and decodes the JSON.
func tokenCall(c *http.Client, base, path string, vals url.Values) (int, map[string]any, error) {
	req, err := http.NewRequest("POST", base+path, strings.NewReader(vals.Encode()))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("app", "app-secret")
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, err
	}
	var body map[string]any
	if err := json.Unmarshal(b, &body); err != nil {
		return resp.StatusCode, nil, fmt.Errorf("status %d, body %q: %w", resp.StatusCode, b, err)
	}
	return resp.StatusCode, body, nil
}

func newCrashClient() *http.Client {
	return &http.Client{Timeout: crashRequestWindow, Transport: &http.Transport{MaxIdleConnsPerHost: crashClients}}
}

func TestCrashKeepsEveryIssuedRefreshToken(t *testing.T) {
	start := time.Now()
	seed := crashSeed(t)
	rng := rand.New(rand.NewPCG(seed, seed>>1))

	dir := t.TempDir()
	cfg := filepath.Join(dir, "tokengate.yaml")
	if err := os.WriteFile(cfg, []byte(crashConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"--config", cfg, "--db", "sqlite:" + filepath.Join(dir, "tg.db")}
	p := startServer(t, args...)

	var received, checked, inFlight, rotatedInFlight int
	for round := 1; round <= crashRounds; round++ {
		chains := runUntilKilled(t, p, rng)
		p = startServerAt(t, p.addr, args...)
		r, c, f, rf := checkAfterCrash(t, p.base, chains, round, rng)
		received, checked, inFlight, rotatedInFlight = received+r, checked+c, inFlight+f, rotatedInFlight+rf
		if t.Failed() {
			return
		}
	}
	sessions := crashRounds * crashClients
	t.Logf("%d kills in %v: %d refresh tokens received in 200s — %d rotated before a kill, %d held unused, %d in flight (%d of those rotated before it) — and %d checks after the restarts",
		crashRounds, time.Since(start).Round(time.Millisecond), received, received-sessions, sessions-inFlight, inFlight, rotatedInFlight, checked)
}

// crashSeed returns the seed of the crash test's randomness: from
// TOKENGATE_CRASH_SEED when set (to replay a failure), else from the time.
// It is printed either way, so that a failed run can be repeated.
func crashSeed(t *testing.T) uint64 {
	t.Helper()
	if s := os.Getenv("TOKENGATE_CRASH_SEED"); s != "" {
		seed, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("TOKENGATE_CRASH_SEED=%q: want an unsigned integer", s)
		}
		t.Logf("seed %d (from TOKENGATE_CRASH_SEED)", seed)
		return seed
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d (set TOKENGATE_CRASH_SEED=%d to repeat this run)", seed, seed)
	return seed
}

// runUntilKilled logs crashClients clients in, runs their refresh chains
// and kills the server with SIGKILL at a random moment. It returns once
// the process is gone and every client has stopped.
func runUntilKilled(t *testing.T, p *proc, rng *rand.Rand) []*chain {
	t.Helper()
	hc := newCrashClient()
	defer hc.CloseIdleConnections()
	chains := make([]*chain, crashClients)
	for i := range chains {
		st, body, err := tokenCall(hc, p.base, "/oauth/token", url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"alice-pw"}})
		rt, _ := body["refresh_token"].(string)
		if err != nil || st != 200 || rt == "" {
			t.Fatalf("login: %d %v %v", st, body, err)
		}
		chains[i] = &chain{received: []string{rt}}
	}

	var killed atomic.Bool
	var wg sync.WaitGroup
	for i, c := range chains {
		// Half the clients pause between refreshes, as real ones do, so
		// that the kill finds some holding a token they have not sent.
		think := i%4 < 2
		// Each client its own generator (rand.Rand is not safe for
		// concurrent use), drawn from the test's seed.
		crng := rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64()))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range crashMaxRefreshes {
				if think {
					time.Sleep(time.Duration(crng.IntN(20)) * time.Millisecond)
				}
				if killed.Load() {
					return // not sent: the last token is unused for sure
				}
				cur := c.received[len(c.received)-1]
				st, body, err := tokenCall(hc, p.base, "/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {cur}})
				if err != nil && st == 0 {
					c.inFlight = true // sent (maybe), never answered
					return
				}
				rt, _ := body["refresh_token"].(string)
				if err != nil || st != 200 || rt == "" {
					c.err = fmt.Errorf("refresh under load: %d %v %v", st, body, err)
					return
				}
				c.received = append(c.received, rt)
			}
		}()
	}
	time.Sleep(crashMinKillDelay + time.Duration(rng.Int64N(int64(crashMaxKillDelay-crashMinKillDelay))))
	// SIGKILL to the process this test started, by its PID.
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	killed.Store(true)
	<-p.done
	wg.Wait()
	for _, c := range chains {
		if c.err != nil {
			t.Fatal(c.err)
		}
	}
	return chains
}

// checkAfterCrash checks every chain against the restarted server at
// base. It returns how many tokens the chains had received, how many
// checks were made, how many tokens were in flight at the kill and how
// many of those had been rotated.
func checkAfterCrash(t *testing.T, base string, chains []*chain, round int, rng *rand.Rand) (received, checked, inFlight, rotatedInFlight int) {
	t.Helper()
	hc := newCrashClient()
	defer hc.CloseIdleConnections()
	refresh := func(rt string) (int, map[string]any) {
		t.Helper()
		st, body, err := tokenCall(hc, base, "/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
		if err != nil {
			t.Fatalf("round %d: refresh after restart: %v", round, err)
		}
		checked++
		return st, body
	}
	active := func(tok string) bool {
		t.Helper()
		st, body, err := tokenCall(hc, base, "/oauth/introspect", url.Values{"token": {tok}})
		if err != nil || st != 200 {
			t.Fatalf("round %d: introspection after restart: %d %v %v", round, st, body, err)
		}
		checked++
		return body["active"] == true
	}
	desc := func(body map[string]any) string { s, _ := body["error_description"].(string); return s }
	reused := func(st int, body map[string]any) bool {
		return st == 400 && body["error"] == "invalid_grant" && strings.Contains(desc(body), "already used")
	}

	for i, c := range chains {
		received += len(c.received)
		last := c.received[len(c.received)-1]
		rotated := c.received[:len(c.received)-1]
		// Without side effects first: every rotated token is inactive.
		for j, rt := range rotated {
			if active(rt) {
				t.Fatalf("round %d, client %d: token %d of %d was rotated before the crash and is active again", round, i, j, len(c.received))
			}
		}
		if c.inFlight {
			inFlight++
			st, body := refresh(last)
			switch {
			case st == 200:
				// The rotation in flight had not committed: the token is
				// still the live one, checked below like any unused one.
				if !reused(refresh(last)) {
					t.Fatalf("round %d, client %d: an in-flight token worked twice after the restart", round, i)
				}
				continue
			case reused(st, body):
				// It had committed and the answer was lost: correctly reuse.
				rotatedInFlight++
				continue
			default:
				t.Fatalf("round %d, client %d: the token in flight at the kill is neither live nor rotated: %d %v", round, i, st, body)
			}
		}
		// The unused token: live, and it works exactly once.
		if !active(last) {
			t.Fatalf("round %d, client %d: the last token received (%d of the chain) is not active after the restart", round, i, len(c.received))
		}
		st, body := refresh(last)
		next, _ := body["refresh_token"].(string)
		if st != 200 || next == "" {
			t.Fatalf("round %d, client %d: the last token received (%d of the chain) does not work after the restart: %d %v", round, i, len(c.received), st, body)
		}
		if i%2 == 1 && len(rotated) > 0 {
			// Replay a token rotated before the crash: detected as reuse,
			// so its row survived, and the family is revoked.
			old := rotated[rng.IntN(len(rotated))]
			if st, body := refresh(old); !reused(st, body) {
				t.Fatalf("round %d, client %d: replay of a token rotated before the crash: %d %v", round, i, st, body)
			}
			if st, body := refresh(next); st != 400 || !strings.Contains(desc(body), "revoked") {
				t.Fatalf("round %d, client %d: the family survived a replay: %d %v", round, i, st, body)
			}
			continue
		}
		if st, body := refresh(last); !reused(st, body) {
			t.Fatalf("round %d, client %d: the last token received worked twice: %d %v", round, i, st, body)
		}
	}
	return received, checked, inFlight, rotatedInFlight
}
