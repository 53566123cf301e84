// Command bench is tokengate's load benchmark. In one run on loopback it
// measures requests per second and p50/p99 latency of the
// client_credentials, refresh_token and password grants and of
// introspection against the real binary, a minimal net/http hello-world
// handler as the baseline, the same handler behind the bearer middleware,
// the raw argon2id hash rate, idle memory and start-up time, and (with
// -postgres) the refresh grant on PostgreSQL with one and two nodes and
// client_credentials on one node. It also counts heap allocations per
// request of each scenario's handler in process. It writes the figures,
// the machine and the ratios to BENCHMARKS.md.
//
//	go run ./bench -out BENCHMARKS.md [-postgres DSN] [-duration 5s]
package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/crypto/argon2"
)

func main() {
	hello := flag.String("serve-hello", "", "internal: serve the hello-world baseline on ADDR")
	issuer := flag.String("issuer", "", "internal: with -serve-hello, protect it with the bearer middleware for ISSUER")
	out := flag.String("out", "BENCHMARKS.md", "where to write the report")
	dur := flag.Duration("duration", 8*time.Second, "measured time per scenario")
	workers := flag.Int("workers", 16, "concurrent connections")
	pg := flag.String("postgres", os.Getenv("TOKENGATE_BENCH_POSTGRES"), "PostgreSQL DSN for the PostgreSQL scenarios (optional)")
	only := flag.String("only", "", "run only the scenarios whose name contains this text, print them, and write no report")
	flag.Parse()
	if *hello != "" {
		if err := serveHello(*hello, *issuer); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	b := &bench{dur: *dur, workers: *workers, pg: *pg, only: *only}
	if err := b.run(*out); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		b.cleanup()
		os.Exit(1)
	}
	b.cleanup()
}

type bench struct {
	dur     time.Duration
	workers int
	pg      string
	only    string
	dir     string
	bin     string
	procs   []*exec.Cmd
}

// benchAudience is the aud of the benchmark's access tokens, which the
// bearer middleware of -serve-hello requires.
const benchAudience = "https://api.bench.example"

const benchConfig = `
log: {level: warn}
audience: ` + benchAudience + `
brute_force: {disabled: true}
bootstrap:
  users:
    - {username: bench, password: bench-password}
  clients:
    - id: bench
      secret: bench-secret
      grants: [password, refresh_token, client_credentials]
      access_token_ttl: 1h
`

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
}

func (b *bench) cleanup() {
	for _, p := range b.procs {
		if p.ProcessState == nil {
			_ = p.Process.Signal(syscall.SIGTERM)
			_ = p.Wait()
		}
	}
	b.procs = nil
	if b.dir != "" {
		os.RemoveAll(b.dir)
	}
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// start runs a command and waits until GET readyURL answers want; it
// returns the time that took.
func (b *bench) start(readyURL string, want int, name string, args ...string) (*exec.Cmd, time.Duration, error) {
	cmd := exec.Command(name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, 0, err
	}
	b.procs = append(b.procs, cmd)
	c := &http.Client{Timeout: time.Second}
	for time.Since(t0) < 20*time.Second {
		resp, err := c.Get(readyURL)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == want {
				return cmd, time.Since(t0), nil
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	return nil, 0, fmt.Errorf("%s did not become ready: %s", name, stderr.String())
}

func (b *bench) stop(cmd *exec.Cmd) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	_ = cmd.Wait()
}

// rssKiB reads a process's resident set size.
func rssKiB(pid int) int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	return 0
}

type tokenResp struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
}

var basicBench = map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("bench:bench-secret"))}

const passwordBody = "grant_type=password&username=bench&password=bench-password"

func login(ctx context.Context, c *http.Client, base string) (tokenResp, error) {
	st, body, err := post(ctx, c, base+"/oauth/token", passwordBody, basicBench)
	if err != nil {
		return tokenResp{}, err
	}
	if st != 200 {
		return tokenResp{}, fmt.Errorf("login: %d %s", st, body)
	}
	var t tokenResp
	return t, json.Unmarshal(body, &t)
}

// refreshScenario makes each worker walk its own refresh chain on one of
// bases (round robin), logging in again if a chain breaks.
func refreshScenario(bases []string) func(w int) requestFunc {
	return func(w int) requestFunc {
		base := bases[w%len(bases)]
		var rt string
		return func(ctx context.Context, c *http.Client) bool {
			if rt == "" {
				t, err := login(ctx, c, base)
				if err != nil {
					return false
				}
				rt = t.RefreshToken
			}
			st, body, err := post(ctx, c, base+"/oauth/token", "grant_type=refresh_token&refresh_token="+url.QueryEscape(rt), basicBench)
			if err != nil || st != 200 {
				rt = ""
				return false
			}
			var t tokenResp
			if json.Unmarshal(body, &t) != nil || t.RefreshToken == "" {
				rt = ""
				return false
			}
			rt = t.RefreshToken
			return true
		}
	}
}

func postScenario(base, body string) func(w int) requestFunc {
	return func(int) requestFunc {
		return func(ctx context.Context, c *http.Client) bool {
			st, _, err := post(ctx, c, base+"/oauth/token", body, basicBench)
			return err == nil && st == 200
		}
	}
}

// postPathScenario posts body to u as the bench client.
func postPathScenario(u, body string) func(w int) requestFunc {
	return func(int) requestFunc {
		return func(ctx context.Context, c *http.Client) bool {
			st, _, err := post(ctx, c, u, body, basicBench)
			return err == nil && st == 200
		}
	}
}

func getScenario(u string, hdr map[string]string) func(w int) requestFunc {
	return func(int) requestFunc {
		return func(ctx context.Context, c *http.Client) bool { return get(ctx, c, u, hdr) }
	}
}

// argon2Rate measures raw argon2id hashes per second at tokengate's
// default parameters with one goroutine per CPU, as the server's hashing
// pool runs them.
func argon2Rate(d time.Duration) float64 {
	var n atomic.Int64
	var wg sync.WaitGroup
	deadline := time.Now().Add(d)
	salt := []byte("0123456789abcdef")
	for i := 0; i < runtime.GOMAXPROCS(0); i++ {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				argon2.IDKey([]byte("bench-password"), salt, 2, 19*1024, 1, 32)
				n.Add(1)
			}
		})
	}
	wg.Wait()
	return float64(n.Load()) / d.Seconds()
}

func (b *bench) run(out string) error {
	var err error
	if b.dir, err = os.MkdirTemp("", "tokengate-bench"); err != nil {
		return err
	}
	b.bin = filepath.Join(b.dir, "tokengate")
	b.logf("building tokengate")
	build := exec.Command("go", "build", "-o", b.bin, "./cmd/tokengate")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("building: %w", err)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cfg := filepath.Join(b.dir, "bench.yaml")
	if err := os.WriteFile(cfg, []byte(benchConfig), 0o600); err != nil {
		return err
	}
	db := "sqlite:" + filepath.Join(b.dir, "bench.db")
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	base := "http://" + addr
	var d reportData

	// Start-up: a first start (migrations, first signing key, bootstrap
	// hashing) and a restart on the existing database.
	tg, first, err := b.start(base+"/readyz", 200, b.bin, "serve", "--config", cfg, "--db", db, "--addr", addr)
	if err != nil {
		return err
	}
	b.stop(tg)
	tg, d.restart, err = b.start(base+"/readyz", 200, b.bin, "serve", "--config", cfg, "--db", db, "--addr", addr)
	if err != nil {
		return err
	}
	d.firstStart = first
	time.Sleep(time.Second)
	d.idleRSS = rssKiB(tg.Process.Pid)
	b.logf("start %v, restart %v, idle RSS %d KiB", first, d.restart, d.idleRSS)

	helloAddr, _ := freeAddr()
	if _, _, err := b.start("http://"+helloAddr+"/", 200, self, "-serve-hello", helloAddr); err != nil {
		return err
	}
	protAddr, _ := freeAddr()
	if _, _, err := b.start("http://"+protAddr+"/", 401, self, "-serve-hello", protAddr, "-issuer", base); err != nil {
		return err
	}
	c := newHTTPClient(1)
	st, body, err := post(context.Background(), c, base+"/oauth/token", "grant_type=client_credentials", basicBench)
	if err != nil || st != 200 {
		return fmt.Errorf("getting a token for the middleware: %d %v", st, err)
	}
	var tok tokenResp
	if err := json.Unmarshal(body, &tok); err != nil {
		return err
	}
	authz := map[string]string{"Authorization": "Bearer " + tok.AccessToken}

	w := b.workers
	measure := func(name string, workers int, mk func(int) requestFunc) result {
		if b.only != "" && !strings.Contains(name, b.only) {
			return result{Name: name, Duration: time.Second}
		}
		b.logf("running %s", name)
		r := run(name, workers, time.Second, b.dur, mk)
		d.results = append(d.results, r)
		b.logf("  %.0f req/s, p50 %v, p99 %v, errors %d", r.RPS(), r.P50, r.P99, r.Errors)
		return r
	}
	// A ratio's two sides are measured bracketed: half the baseline
	// before, the scenario, half after, so that the machine's drift
	// falls on both alike.
	bracket := func(name string, mk func(int) requestFunc, inner func() result) (result, result) {
		if b.only != "" && !strings.Contains(name, b.only) {
			return result{Name: name, Duration: time.Second}, inner()
		}
		b.logf("running %s (first half)", name)
		r1 := run(name, w, time.Second, b.dur/2, mk)
		in := inner()
		b.logf("running %s (second half)", name)
		r2 := run(name, w, time.Second, b.dur/2, mk)
		r := result{Name: name, Requests: r1.Requests + r2.Requests, Errors: r1.Errors + r2.Errors,
			Duration: r1.Duration + r2.Duration, P50: (r1.P50 + r2.P50) / 2, P99: max(r1.P99, r2.P99)}
		d.results = append(d.results, r)
		b.logf("  %.0f req/s", r.RPS())
		return r, in
	}
	d.baseline, d.cc = bracket(scHello, getScenario("http://"+helloAddr+"/", nil), func() result {
		return measure(scCC, w, postScenario(base, "grant_type=client_credentials"))
	})
	// Introspection of a signed access token by an authenticated
	// confidential client, as a resource server calls it.
	introBody := "token=" + url.QueryEscape(tok.AccessToken)
	d.introBase, d.intro = bracket("hello-world, around introspection", getScenario("http://"+helloAddr+"/", nil), func() result {
		return measure(scIntrospect, w, postPathScenario(base+"/oauth/introspect", introBody))
	})
	d.rf = measure(scRefresh, w, refreshScenario([]string{base}))
	// The raw argon2id rate is measured right before and right after the
	// password grant and averaged, so that both see the machine alike.
	var rawBefore float64
	if b.only == "" {
		b.logf("measuring raw argon2id")
		rawBefore = argon2Rate(b.dur / 2)
	}
	d.pw = measure(scPassword, w, postScenario(base, passwordBody))
	if b.only == "" {
		d.argon = (rawBefore + argon2Rate(b.dur/2)) / 2
	}
	d.unprot, d.prot = bracket("hello-world, unprotected", getScenario("http://"+helloAddr+"/", nil), func() result {
		return measure(scBearer, w, getScenario("http://"+protAddr+"/", authz))
	})
	if b.only == "" || strings.Contains("allocations", b.only) {
		b.logf("counting allocations per request")
		if d.allocs, err = b.measureAllocs(b.dir, base); err != nil {
			return fmt.Errorf("allocations: %w", err)
		}
		for name, n := range d.allocs {
			b.logf("  %s: %.0f allocs/request", name, n)
		}
	}
	b.stop(tg)

	if b.pg != "" {
		// Two nodes cache client records (the default: invalidated
		// through LISTEN/NOTIFY), two read them on every request
		// (client_cache_ttl: 0s).
		uncached := filepath.Join(b.dir, "bench-uncached.yaml")
		if err := os.WriteFile(uncached, []byte("client_cache_ttl: 0s\n"+benchConfig), 0o600); err != nil {
			return err
		}
		var plain, fast []string
		for i, c := range []string{cfg, cfg, uncached, uncached} {
			a, _ := freeAddr()
			if _, _, err := b.start("http://"+a+"/readyz", 200, b.bin, "serve", "--config", c, "--db", b.pg, "--addr", a); err != nil {
				return err
			}
			if i < 2 {
				plain = append(plain, "http://"+a)
			} else {
				fast = append(fast, "http://"+a)
			}
		}
		r1 := measure("refresh_token grant, PostgreSQL, one node", w, refreshScenario(plain[:1]))
		r2 := measure("refresh_token grant, PostgreSQL, two nodes", w, refreshScenario(plain))
		r3 := measure("refresh_token grant, PostgreSQL, one node, no client cache", w, refreshScenario(fast[:1]))
		r4 := measure("refresh_token grant, PostgreSQL, two nodes, no client cache", w, refreshScenario(fast))
		d.pg1, d.pg2, d.pg1c, d.pg2c = &r1, &r2, &r3, &r4
		// client_credentials on one node (defaults: the client cache on,
		// invalidated through LISTEN/NOTIFY), against its own bracketed
		// baseline.
		pb, pc := bracket("hello-world, around client_credentials on PostgreSQL", getScenario("http://"+helloAddr+"/", nil), func() result {
			return measure("client_credentials grant, PostgreSQL, one node", w, postScenario(plain[0], "grant_type=client_credentials"))
		})
		d.pgccBase, d.pgcc = &pb, &pc
	}
	if b.only != "" {
		return nil
	}
	return b.report(out, d)
}

type reportData struct {
	results              []result
	baseline, cc, rf, pw result
	unprot, prot         result
	argon                float64
	firstStart, restart  time.Duration
	idleRSS              int
	pg1, pg2, pg1c, pg2c *result
	intro, introBase     result
	pgcc, pgccBase       *result
	// allocs are heap allocations per request by scenario name.
	allocs map[string]float64
}

func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "model name"); ok {
			return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
		}
	}
	return "unknown"
}

func check(ok bool) string {
	if ok {
		return "met"
	}
	return "**missed**"
}

func (b *bench) report(out string, d reportData) error {
	var s strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&s, format+"\n", args...) }
	p("# Benchmarks")
	p("")
	p("Written by `go run ./bench -out BENCHMARKS.md` (`make bench`) on %s. Server, baseline and load", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	p("generator share one machine and talk over loopback; every figure below comes from the same run.")
	p("")
	p("- Machine: %s, %d CPUs (GOMAXPROCS %d), %s/%s, %s", cpuModel(), runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH, runtime.Version())
	p("- Load: %d keep-alive connections, 1 s warm-up, %v measured per scenario", b.workers, b.dur)
	p("- Server: the real `tokengate serve` binary, SQLite store (WAL, synchronous=FULL), EdDSA tokens, log level warn")
	p("")
	p("| scenario | req/s | p50 | p99 | errors | allocs/request |")
	p("|---|---:|---:|---:|---:|---:|")
	for _, r := range d.results {
		a := "–"
		if n, ok := d.allocs[r.Name]; ok {
			a = fmt.Sprintf("%.0f", n)
		}
		p("%s %s |", r.row(), a)
	}
	p("")
	p("## Against the targets")
	p("")
	p("| target | measured | result |")
	p("|---|---|---|")
	ccRatio := d.cc.RPS() / d.baseline.RPS()
	p("| client_credentials ≥ 45%% of the hello-world baseline | %.0f / %.0f req/s = %.0f%% | %s |", d.cc.RPS(), d.baseline.RPS(), 100*ccRatio, check(ccRatio >= 0.45))
	inRatio := d.intro.RPS() / d.introBase.RPS()
	p("| introspection of an access token ≥ 30%% of hello-world | %.0f / %.0f req/s = %.0f%% | %s |", d.intro.RPS(), d.introBase.RPS(), 100*inRatio, check(inRatio >= 0.30))
	p("| refresh_token ≥ 5,000/s on SQLite, durable | %.0f/s | %s |", d.rf.RPS(), check(d.rf.RPS() >= 5000))
	pwRatio := d.pw.RPS() / d.argon
	p("| password grant ≥ 95%% of raw argon2id at the same parameters | %.1f/s vs %.1f hashes/s = %.0f%% | %s |", d.pw.RPS(), d.argon, 100*pwRatio, check(pwRatio >= 0.95))
	p("| idle RSS ≤ 40 MiB | %.1f MiB | %s |", float64(d.idleRSS)/1024, check(d.idleRSS <= 40*1024))
	p("| start to /readyz ≤ 300 ms | first start %v, restart %v | %s |", d.firstStart.Round(time.Millisecond), d.restart.Round(time.Millisecond), check(d.restart <= 300*time.Millisecond && d.firstStart <= 300*time.Millisecond))
	mwRatio := d.prot.RPS() / d.unprot.RPS()
	p("| bearer middleware ≥ 85%% of the unprotected handler | %.0f / %.0f req/s = %.0f%% | %s |", d.prot.RPS(), d.unprot.RPS(), 100*mwRatio, check(mwRatio >= 0.85))
	if d.pg1 != nil {
		p("| refresh_token on PostgreSQL ≥ 3,000/s on one node, defaults | one node %.0f/s, two nodes %.0f/s | %s |", d.pg1.RPS(), d.pg2.RPS(), check(d.pg1.RPS() >= 3000))
		p("| the same without the client cache (`client_cache_ttl: 0s`), for comparison | one node %.0f/s, two nodes %.0f/s | – |", d.pg1c.RPS(), d.pg2c.RPS())
		pgRatio := d.pgcc.RPS() / d.pgccBase.RPS()
		p("| client_credentials on PostgreSQL, one node, ≥ 35%% of hello-world | %.0f / %.0f req/s = %.0f%% | %s |", d.pgcc.RPS(), d.pgccBase.RPS(), 100*pgRatio, check(pgRatio >= 0.35))
	} else {
		p("| refresh_token on PostgreSQL | not run (no -postgres DSN) | – |")
	}
	p("")
	p("The start-up figures are from process start to the first 200 on /readyz. The first start creates the")
	p("schema and the first signing key and hashes the bootstrap user's password once (argon2id, ~50 ms).")
	if notes, err := os.ReadFile(filepath.Join("bench", "NOTES.md")); err == nil {
		p("")
		s.Write(notes)
	}
	return os.WriteFile(out, []byte(s.String()), 0o644)
}
