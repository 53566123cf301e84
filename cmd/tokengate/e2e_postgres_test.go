package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// pgServer returns the DSN of the PostgreSQL server of the tests (a
// postgres:// URL). Without one they skip and say why, so that `go test
// ./...` passes on a fresh clone; under `make test` they must run.
func pgServer(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv("TOKENGATE_TEST_POSTGRES")
	if dsn != "" {
		return dsn
	}
	if os.Getenv("TOKENGATE_REQUIRE_POSTGRES") == "1" {
		// make test (scripts/with-postgres.sh) promised a server.
		t.Fatal("TOKENGATE_REQUIRE_POSTGRES=1 but TOKENGATE_TEST_POSTGRES is not set")
	}
	t.Skip("PostgreSQL tests skipped: TOKENGATE_TEST_POSTGRES is not set (make test starts a throwaway PostgreSQL and runs them)")
	return ""
}

// pgDatabase creates an empty database, dropped when the test ends, and
// returns its DSN.
func pgDatabase(t *testing.T) string {
	t.Helper()
	server := pgServer(t)
	u, err := url.Parse(server)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatal("TOKENGATE_TEST_POSTGRES must be a postgres:// URL")
	}
	b := make([]byte, 6)
	rand.Read(b)
	name := "tg_e2e_" + hex.EncodeToString(b)
	pgExec(t, server, `CREATE DATABASE `+name)
	t.Cleanup(func() { pgExec(t, server, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`) })
	u.Path = "/" + name
	return u.String()
}

func pgExec(t *testing.T, dsn, stmt string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connecting to the test server: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, stmt); err != nil {
		t.Fatalf("%s: %v", stmt, err)
	}
}

// multiNodeConfig is e2eConfig with a fixed issuer, so that tokens of one
// node verify on every other.
const multiNodeConfig = "issuer: http://tokengate.test\n" + e2eConfig

// startNodes starts n `tokengate serve` processes at once (so that they
// migrate and bootstrap the database together) and waits until all are
// ready.
func startNodes(t *testing.T, n int, args ...string) []*proc {
	t.Helper()
	ps := make([]*proc, n)
	for i := range ps {
		addr := freeAddr(t)
		p := &proc{addr: addr, base: "http://" + addr, stderr: &bytes.Buffer{}, done: make(chan error, 1)}
		p.cmd = exec.Command(binPath, append([]string{"serve", "--addr", addr}, args...)...)
		p.cmd.Stderr = p.stderr
		p.cmd.Stdout = io.Discard
		if err := p.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { p.done <- p.cmd.Wait() }()
		t.Cleanup(func() { p.stop(t) })
		ps[i] = p
	}
	deadline := time.Now().Add(30 * time.Second)
	for i, p := range ps {
		for {
			if ready(p.base) {
				break
			}
			select {
			case err := <-p.done:
				t.Fatalf("node %d exited early: %v\n%s", i, err, p.stderr)
			case <-time.After(20 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				p.stop(t)
				t.Fatalf("node %d not ready\n%s", i, p.stderr)
			}
		}
	}
	return ps
}

// ready reports whether /readyz answers 200.
func ready(base string) bool {
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// tryPost is post for other goroutines than the test's: it returns the
// transport error instead of failing the test.
func tryPost(base, path string, vals url.Values, id, secret string) (int, map[string]any, error) {
	req, err := http.NewRequest("POST", base+path, strings.NewReader(vals.Encode()))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body, nil
}

func login(t *testing.T, base, user, pw string) map[string]any {
	t.Helper()
	st, tok := post(t, base, "/oauth/token", url.Values{"grant_type": {"password"}, "username": {user}, "password": {pw}}, "app", "app-secret")
	if st != 200 {
		t.Fatalf("password grant for %s on %s: %d %v", user, base, st, tok)
	}
	return tok
}

func refresh(t *testing.T, base, rt string) (int, map[string]any) {
	t.Helper()
	return post(t, base, "/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, "app", "app-secret")
}

// jwksKids returns the key ids a node publishes.
func jwksKids(t *testing.T, base string) []string {
	t.Helper()
	resp, err := http.Get(base + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatalf("decoding JWKS of %s: %v", base, err)
	}
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.Kid)
	}
	return kids
}

// jwtKid returns the kid in a JWT's header.
func jwtKid(t *testing.T, jwt string) string {
	t.Helper()
	h, _, _ := strings.Cut(jwt, ".")
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		t.Fatalf("JWT header: %v", err)
	}
	var hdr struct {
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(b, &hdr); err != nil {
		t.Fatalf("JWT header: %v", err)
	}
	return hdr.Kid
}

// TestPostgresThreeNodes runs three tokengate processes on one PostgreSQL
// database and checks that what one node does, the others honour at once.
func TestPostgresThreeNodes(t *testing.T) {
	db := pgDatabase(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "tokengate.yaml")
	if err := os.WriteFile(cfg, []byte(multiNodeConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	nodes := startNodes(t, 3, "--config", cfg, "--db", db)
	a, b, c := nodes[0], nodes[1], nodes[2]

	// The nodes started together on an empty database: one schema, one
	// first signing key and one ID token key, shared by all. The ID token
	// key is made in the background after the nodes are ready (RSA
	// generation does not delay a first start), so every node publishes
	// it a moment later: as after a rotation, they agree within seconds.
	var kids []string
	for deadline := time.Now().Add(10 * time.Second); ; {
		kids = jwksKids(t, a.base)
		same := len(kids) == 2
		for _, p := range nodes[1:] {
			same = same && slices.Equal(jwksKids(t, p.base), kids)
		}
		if same {
			break
		}
		if time.Now().After(deadline) {
			for _, p := range nodes {
				t.Logf("%s publishes %v", p.base, jwksKids(t, p.base))
			}
			t.Fatal("10 s after a concurrent first start the nodes do not publish the same two keys (signing and ID token)")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if out, e, code := cli(t, "", "migrate", "--db", db); code != 0 || !strings.Contains(out, "migrations applied") {
		t.Fatalf("migrate on a migrated database: %d %s %s", code, out, e)
	}

	t.Run("ParallelRefreshesOneWinner", func(t *testing.T) {
		rt := login(t, a.base, "alice", "alice-pw")["refresh_token"].(string)
		const n = 100
		type result struct {
			status int
			body   map[string]any
			err    error
		}
		results := make([]result, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				<-start
				st, body, err := tryPost(nodes[i%3].base, "/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, "app", "app-secret")
				results[i] = result{st, body, err}
			})
		}
		close(start)
		wg.Wait()
		var ok int
		var winner string
		for i, r := range results {
			switch {
			case r.err != nil:
				t.Errorf("refresh %d: %v", i, r.err)
			case r.status == 200:
				ok++
				winner, _ = r.body["refresh_token"].(string)
			case r.status == 400 && r.body["error"] == "invalid_grant":
			default:
				t.Errorf("refresh %d on node %d: %d %v", i, i%3, r.status, r.body)
			}
		}
		if ok != 1 {
			t.Fatalf("%d of %d parallel refreshes of one token succeeded, want exactly 1", ok, n)
		}
		// The losers presented a rotated token: the family is revoked, the
		// winner's new token with it, on every node.
		for _, p := range nodes {
			if st, body := refresh(t, p.base, winner); st != 400 {
				t.Fatalf("winner's token after the race on %s: %d %v", p.base, st, body)
			}
		}
	})

	t.Run("ReuseOnAnyNodeRevokesEverywhere", func(t *testing.T) {
		rt0 := login(t, a.base, "alice", "alice-pw")["refresh_token"].(string)
		st, tok := refresh(t, b.base, rt0)
		if st != 200 {
			t.Fatalf("refresh on B: %d %v", st, tok)
		}
		rt1 := tok["refresh_token"].(string)
		if st, body := refresh(t, c.base, rt0); st != 400 || body["error"] != "invalid_grant" {
			t.Fatalf("rotated token presented again on C: %d %v", st, body)
		}
		for _, p := range nodes {
			if st, body := refresh(t, p.base, rt1); st != 400 {
				t.Fatalf("current token after reuse, on %s: %d %v", p.base, st, body)
			}
		}
	})

	t.Run("RevocationOnAHonouredByB", func(t *testing.T) {
		tok := login(t, a.base, "alice", "alice-pw")
		rt, at := tok["refresh_token"].(string), tok["access_token"].(string)
		if st, body := post(t, b.base, "/oauth/introspect", url.Values{"token": {at}}, "app", "app-secret"); st != 200 || body["active"] != true {
			t.Fatalf("B introspects A's access token: %d %v", st, body)
		}
		for _, token := range []string{rt, at} {
			if st, body := post(t, a.base, "/oauth/revoke", url.Values{"token": {token}}, "app", "app-secret"); st != 200 {
				t.Fatalf("revoke on A: %d %v", st, body)
			}
		}
		if st, body := refresh(t, b.base, rt); st != 400 {
			t.Fatalf("refresh on B of a token revoked on A: %d %v", st, body)
		}
		for _, p := range []*proc{b, c} {
			if st, body := post(t, p.base, "/oauth/introspect", url.Values{"token": {at}}, "app", "app-secret"); st != 200 || body["active"] != false {
				t.Fatalf("introspection on %s of an access token revoked on A: %d %v", p.base, st, body)
			}
		}
	})

	t.Run("DisabledUserRefusedByEveryNode", func(t *testing.T) {
		if _, e, code := cli(t, "bob-pw\n", "user", "add", "bob", "--scopes", "read", "--db", db, "--config", cfg); code != 0 {
			t.Fatalf("user add: %s", e)
		}
		rt := login(t, a.base, "bob", "bob-pw")["refresh_token"].(string)
		if _, e, code := cli(t, "", "user", "disable", "bob", "--db", db); code != 0 {
			t.Fatalf("user disable: %s", e)
		}
		if st, body := refresh(t, b.base, rt); st != 400 {
			t.Fatalf("disabled user refreshed on B: %d %v", st, body)
		}
		if st, body := post(t, c.base, "/oauth/token", url.Values{"grant_type": {"password"}, "username": {"bob"}, "password": {"bob-pw"}}, "app", "app-secret"); st != 400 {
			t.Fatalf("disabled user logged in on C: %d %v", st, body)
		}
	})

	t.Run("KeyRotationReachesEveryNodeWithin10s", func(t *testing.T) {
		out, e, code := cli(t, "", "keys", "rotate", "--db", db, "--config", cfg)
		if code != 0 {
			t.Fatalf("keys rotate: %s", e)
		}
		rotated := time.Now()
		var kid string
		if _, err := fmt.Sscanf(out, "new active signing key %s", &kid); err != nil || kid == "" {
			t.Fatalf("keys rotate output: %q", out)
		}
		// Nodes re-read the keys every 5 seconds; allow 10.
		for _, p := range nodes {
			for {
				tok := accessToken(t, p.base)
				if slices.Contains(jwksKids(t, p.base), kid) && jwtKid(t, tok) == kid {
					t.Logf("%s publishes and signs with the new key %s after %v", p.base, kid, time.Since(rotated).Round(10*time.Millisecond))
					break
				}
				if time.Since(rotated) > 10*time.Second {
					t.Fatalf("%s does not use the new key %s 10s after the rotation: JWKS %v", p.base, kid, jwksKids(t, p.base))
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
		// Tokens signed with the new key on one node verify on another.
		st, tok := post(t, b.base, "/oauth/token", url.Values{"grant_type": {"client_credentials"}}, "app", "app-secret")
		if st != 200 {
			t.Fatalf("client_credentials on B: %d %v", st, tok)
		}
		if st, body := post(t, c.base, "/oauth/introspect", url.Values{"token": {tok["access_token"].(string)}}, "app", "app-secret"); st != 200 || body["active"] != true {
			t.Fatalf("C introspects B's token signed with the new key: %d %v", st, body)
		}
	})

	// Each bootstrap record was created, and logged, by one node only.
	for _, p := range nodes {
		p.stop(t) // its log is complete once it has exited
	}
	var logs strings.Builder
	for _, p := range nodes {
		logs.WriteString(p.stderr.String())
	}
	for _, line := range []string{"bootstrap: created user", "bootstrap: created client"} {
		if n := strings.Count(logs.String(), line); n != 1 {
			t.Errorf("%q logged %d times by 3 nodes, want once", line, n)
		}
	}
}

// accessToken returns a fresh client_credentials access token from base.
func accessToken(t *testing.T, base string) string {
	t.Helper()
	st, tok := post(t, base, "/oauth/token", url.Values{"grant_type": {"client_credentials"}}, "app", "app-secret")
	if st != 200 {
		t.Fatalf("client_credentials on %s: %d %v", base, st, tok)
	}
	return tok["access_token"].(string)
}

func TestPostgresDownAtStartExitsWithClearError(t *testing.T) {
	addr := freeAddr(t) // nothing listens there
	start := time.Now()
	_, e, code := cli(t, "", "serve", "--addr", freeAddr(t), "--db", "postgres://tokengate:hunter2@"+addr+"/tokengate?connect_retry=1s")
	if code == 0 {
		t.Fatal("serve started without a database")
	}
	if !strings.Contains(e, "cannot connect to "+addr+"/tokengate") || strings.Contains(e, "hunter2") {
		t.Fatalf("stderr: %s", e)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("gave up after %v with connect_retry=1s", d)
	}
}

// tcpProxy forwards a fixed loopback address to a target; Down closes the
// listener and every connection, Up listens again on the same address.
type tcpProxy struct {
	addr, target string
	mu           sync.Mutex
	ln           net.Listener
	conns        []net.Conn
}

func (p *tcpProxy) Up(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			go func() { io.Copy(s, c); s.Close() }()
			go func() { io.Copy(c, s); c.Close() }()
		}
	}()
}

func (p *tcpProxy) Down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func TestPostgresGoneAwayAnswers503AndRecovers(t *testing.T) {
	db := pgDatabase(t)
	u, _ := url.Parse(db)
	p := &tcpProxy{addr: freeAddr(t), target: u.Host}
	p.Up(t)
	t.Cleanup(p.Down)
	u.Host = p.addr
	q := u.Query()
	q.Set("statement_timeout", "1s")
	q.Set("connect_timeout", "1")
	u.RawQuery = q.Encode()

	dir := t.TempDir()
	cfg := filepath.Join(dir, "tokengate.yaml")
	if err := os.WriteFile(cfg, []byte(multiNodeConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	n := startNodes(t, 1, "--config", cfg, "--db", u.String())[0]
	rt := login(t, n.base, "alice", "alice-pw")["refresh_token"].(string)

	p.Down()
	start := time.Now()
	resp, err := http.Get(n.base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("/readyz with the database gone: %d, want 503", resp.StatusCode)
	}
	for _, vals := range []url.Values{
		{"grant_type": {"refresh_token"}, "refresh_token": {rt}},
		{"grant_type": {"password"}, "username": {"alice"}, "password": {"alice-pw"}},
		{"grant_type": {"client_credentials"}},
	} {
		st, body := post(t, n.base, "/oauth/token", vals, "app", "app-secret")
		if st != http.StatusServiceUnavailable || body["error"] != "temporarily_unavailable" {
			t.Fatalf("%s with the database gone: %d %v, want 503 temporarily_unavailable", vals.Get("grant_type"), st, body)
		}
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Fatalf("answers with the database gone took %v", d)
	}

	p.Up(t)
	deadline := time.Now().Add(15 * time.Second)
	for !ready(n.base) {
		if time.Now().After(deadline) {
			t.Fatal("/readyz still failing after the database came back")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if st, body := refresh(t, n.base, rt); st != 200 {
		t.Fatalf("refresh after the database came back: %d %v", st, body)
	}
	n.stop(t)
	logs := n.stderr.String()
	if strings.Contains(logs, "panic") || strings.Contains(logs, "goroutine ") {
		t.Fatalf("server logged a panic or stack:\n%s", logs)
	}
}

// TestPostgresKeyRevokeAcrossNodes: `keys revoke KID` on a compromised key
// makes its tokens inactive at once on every node (before any reload),
// and takes it out of every node's JWKS within the reload interval. A
// revoked active key is first rotated away from.
func TestPostgresKeyRevokeAcrossNodes(t *testing.T) {
	db := pgDatabase(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "tokengate.yaml")
	if err := os.WriteFile(cfg, []byte(multiNodeConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	nodes := startNodes(t, 2, "--config", cfg, "--db", db)
	a, b := nodes[0], nodes[1]
	active := func(p *proc, tok string) bool {
		t.Helper()
		st, body := post(t, p.base, "/oauth/introspect", url.Values{"token": {tok}}, "app", "app-secret")
		if st != 200 {
			t.Fatalf("introspect on %s: %d %v", p.base, st, body)
		}
		return body["active"] == true
	}
	k1Tok := accessToken(t, a.base)
	k1 := jwtKid(t, k1Tok)
	if out, e, code := cli(t, "", "keys", "rotate", "--db", db, "--config", cfg); code != 0 {
		t.Fatalf("keys rotate: %s %s", out, e)
	}
	// A retired key's tokens stay valid; B learns the rotation by reload.
	for _, p := range nodes {
		if !active(p, k1Tok) {
			t.Fatalf("%s: token of the retired (not revoked) key is inactive", p.base)
		}
	}
	if _, e, code := cli(t, "", "keys", "revoke", "nope", "--db", db, "--config", cfg); code == 0 || !strings.Contains(e, "not found") {
		t.Fatalf("keys revoke of an unknown kid: %d %s", code, e)
	}
	if out, e, code := cli(t, "", "keys", "revoke", k1, "--db", db, "--config", cfg); code != 0 || !strings.Contains(out, "revoked") {
		t.Fatalf("keys revoke %s: %d %s %s", k1, code, out, e)
	}
	revoked := time.Now()
	for _, p := range nodes {
		if active(p, k1Tok) {
			t.Errorf("%s: token of the revoked key %s still active right after `keys revoke`", p.base, k1)
		}
	}
	waitJWKS := func(kid string, want bool) {
		t.Helper()
		for _, p := range nodes {
			for slices.Contains(jwksKids(t, p.base), kid) != want {
				if time.Since(revoked) > 10*time.Second {
					t.Fatalf("%s: key %s published = %v 10s after `keys revoke`: %v", p.base, kid, !want, jwksKids(t, p.base))
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
	}
	waitJWKS(k1, false)

	// Revoking the active key rotates first: its tokens die at once, and
	// the nodes move to the new key.
	k2Tok := accessToken(t, b.base)
	k2 := jwtKid(t, k2Tok)
	if k2 == k1 {
		t.Fatalf("B still signs with the revoked key %s", k1)
	}
	out, e, code := cli(t, "", "keys", "revoke", k2, "--db", db, "--config", cfg)
	if code != 0 {
		t.Fatalf("keys revoke of the active key: %d %s %s", code, out, e)
	}
	var k3 string
	if _, err := fmt.Sscanf(out, "new active signing key %s", &k3); err != nil || k3 == "" || k3 == k2 {
		t.Fatalf("keys revoke of the active key: output %q", out)
	}
	revoked = time.Now()
	for _, p := range nodes {
		if active(p, k2Tok) {
			t.Errorf("%s: token of the revoked active key still active", p.base)
		}
	}
	waitJWKS(k2, false)
	waitJWKS(k3, true)
	for _, p := range nodes {
		if tok := accessToken(t, p.base); jwtKid(t, tok) != k3 || !active(a, tok) || !active(b, tok) {
			t.Errorf("%s: new token signed by %s (want %s) or inactive", p.base, jwtKid(t, tok), k3)
		}
	}
	out, _, code = cli(t, "", "keys", "list", "--json", "--db", db, "--config", cfg)
	var listed []struct {
		Purpose   string
		RevokedAt time.Time
	}
	if code != 0 || json.Unmarshal([]byte(out), &listed) != nil {
		t.Fatalf("keys list: %d %s", code, out)
	}
	var revokedKeys, liveKeys int
	for _, k := range listed {
		switch {
		case k.Purpose != "": // the ID token keys are not in play here
		case k.RevokedAt.IsZero():
			liveKeys++
		default:
			revokedKeys++
		}
	}
	if revokedKeys != 2 || liveKeys != 1 {
		t.Errorf("keys list: want two revoked access-token keys and one not: %s", out)
	}
}
