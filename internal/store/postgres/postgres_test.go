package postgres

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tokengate/tokengate/internal/store"
	"github.com/tokengate/tokengate/internal/store/sqlmigrate"
	"github.com/tokengate/tokengate/internal/store/storetest"
)

// testServer returns the DSN of the PostgreSQL server the tests run
// against. Without one they skip and say why, so that `go test ./...`
// passes on a fresh clone; `make test` (scripts/with-postgres.sh) sets
// TOKENGATE_REQUIRE_POSTGRES=1, so that CI cannot pass without them.
func testServer(t testing.TB) string {
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

// withParams returns dsn (a URL) with query parameters set.
func withParams(t testing.TB, dsn string, kv ...string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("TOKENGATE_TEST_POSTGRES must be a postgres:// URL")
	}
	q := u.Query()
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// adminExec runs statements on the test server outside any store.
func adminExec(t testing.TB, dsn string, stmts ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connecting to the test server: %v", err)
	}
	defer conn.Close(ctx)
	for _, s := range stmts {
		if _, err := conn.Exec(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// freshSchema creates an empty schema, dropped when the test ends, and
// returns a DSN whose search_path selects it.
func freshSchema(t testing.TB) string {
	t.Helper()
	server := testServer(t)
	b := make([]byte, 6)
	rand.Read(b)
	schema := "tg_test_" + hex.EncodeToString(b)
	adminExec(t, server, `CREATE SCHEMA `+schema)
	t.Cleanup(func() { adminExec(t, server, `DROP SCHEMA `+schema+` CASCADE`) })
	return withParams(t, server, "search_path", schema)
}

// openFresh opens a store on a fresh schema.
func openFresh(t testing.TB, o Options) (*DB, string) {
	t.Helper()
	dsn := freshSchema(t)
	db, err := Open(context.Background(), dsn, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, dsn
}

func TestConformance(t *testing.T) {
	testServer(t) // skip or fail once, not in every subtest
	storetest.Run(t, func(t *testing.T) store.Store {
		db, _ := openFresh(t, Options{})
		return db
	})
}

func TestNodesStartingTogetherMigrateOnce(t *testing.T) {
	dsn := freshSchema(t)
	const nodes = 4
	dbs := make([]*DB, nodes)
	errs := make([]error, nodes)
	var wg sync.WaitGroup
	for i := range nodes {
		wg.Go(func() { dbs[i], errs[i] = Open(t.Context(), dsn, Options{}) })
	}
	wg.Wait()
	for i := range nodes {
		if errs[i] != nil {
			t.Fatalf("node %d: %v", i, errs[i])
		}
		defer dbs[i].Close()
	}
	if err := dbs[0].Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate again: %v", err)
	}
	ms, err := sqlmigrate.Load(migrationFS)
	if err != nil {
		t.Fatal(err)
	}
	var n, latest int
	if err := dbs[1].pool.QueryRow(t.Context(), `SELECT COUNT(*), MAX(version) FROM schema_migrations`).Scan(&n, &latest); err != nil {
		t.Fatal(err)
	}
	if n != len(ms) || latest != ms[len(ms)-1].Version {
		t.Errorf("schema_migrations has %d rows up to %d, want %d up to %d", n, latest, len(ms), ms[len(ms)-1].Version)
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	db, dsn := openFresh(t, Options{})
	if _, err := db.pool.Exec(t.Context(), `INSERT INTO schema_migrations (version, applied_at) VALUES (9999, 0)`); err != nil {
		t.Fatal(err)
	}
	if db2, err := Open(t.Context(), dsn, Options{}); err == nil {
		db2.Close()
		t.Fatal("Open accepted a database from a newer version")
	} else if !strings.Contains(err.Error(), "newer") {
		t.Fatalf("error does not say why: %v", err)
	}
}

func TestSessionSettingsFromDSN(t *testing.T) {
	dsn := withParams(t, freshSchema(t), "statement_timeout", "1500ms", "pool_max_conns", "3", "connect_retry", "2s")
	db, err := Open(t.Context(), dsn, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var st, app string
	if err := db.pool.QueryRow(t.Context(), `SELECT current_setting('statement_timeout'), current_setting('application_name')`).Scan(&st, &app); err != nil {
		t.Fatal(err)
	}
	if st != "1500ms" || app != "tokengate" {
		t.Errorf("statement_timeout = %q, application_name = %q; want 1500ms, tokengate", st, app)
	}
	if got := db.pool.Config().MaxConns; got != 3 {
		t.Errorf("MaxConns = %d, want 3", got)
	}
}

func TestStatementTimeoutIsUnavailable(t *testing.T) {
	db, _ := openFresh(t, Options{StatementTimeout: 100 * time.Millisecond})
	start := time.Now()
	_, err := db.exec(t.Context(), `SELECT pg_sleep(5)`)
	err = wrapErr("sleep", err)
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("statement past statement_timeout: %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("statement_timeout took %v", d)
	}
}

func TestParseConfig(t *testing.T) {
	const base = "postgres://u:pw@127.0.0.1:5432/db?sslmode=disable"
	tests := []struct {
		name      string
		dsn       string
		o         Options
		maxConns  int32
		stmt      time.Duration
		connect   time.Duration
		retry     time.Duration
		wantError string
	}{
		{name: "defaults", dsn: base, maxConns: DefaultMaxConns, stmt: DefaultStatementTimeout, connect: DefaultConnectTimeout, retry: DefaultConnectRetry},
		{name: "dsn", dsn: base + "&pool_max_conns=7&connect_timeout=3&statement_timeout=2s&connect_retry=1m",
			maxConns: 7, stmt: 2 * time.Second, connect: 3 * time.Second, retry: time.Minute},
		{name: "milliseconds and min", dsn: base + "&statement_timeout=750", maxConns: DefaultMaxConns, stmt: 750 * time.Millisecond, connect: DefaultConnectTimeout, retry: DefaultConnectRetry},
		{name: "postgres minutes", dsn: base + "&statement_timeout=1min", maxConns: DefaultMaxConns, stmt: time.Minute, connect: DefaultConnectTimeout, retry: DefaultConnectRetry},
		{name: "options win", dsn: base + "&pool_max_conns=7&connect_timeout=3&statement_timeout=2s&connect_retry=1m",
			o:        Options{MaxConns: 2, StatementTimeout: time.Second, ConnectTimeout: time.Second, ConnectRetry: -1},
			maxConns: 2, stmt: time.Second, connect: time.Second, retry: 0},
		{name: "no retry", dsn: base + "&connect_retry=0s", maxConns: DefaultMaxConns, stmt: DefaultStatementTimeout, connect: DefaultConnectTimeout, retry: 0},
		{name: "bad statement_timeout", dsn: base + "&statement_timeout=soon", wantError: "statement_timeout"},
		{name: "zero statement_timeout", dsn: base + "&statement_timeout=0", wantError: "statement_timeout"},
		{name: "bad connect_retry", dsn: base + "&connect_retry=forever", wantError: "connect_retry"},
		{name: "bad pool size", dsn: base + "&pool_max_conns=none", wantError: "pool_max_conns"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, retry, err := parseConfig(tc.dsn, tc.o)
			if tc.wantError != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantError) {
					t.Fatalf("error = %v, want one about %s", err, tc.wantError)
				}
				if strings.Contains(redactErr(err, tc.dsn).Error(), ":pw@") {
					t.Fatalf("error leaks the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.MaxConns != tc.maxConns || statementTimeoutOf(cfg) != tc.stmt || cfg.ConnConfig.ConnectTimeout != tc.connect || retry != tc.retry {
				t.Errorf("got max_conns=%d statement_timeout=%v connect_timeout=%v retry=%v; want %d %v %v %v",
					cfg.MaxConns, statementTimeoutOf(cfg), cfg.ConnConfig.ConnectTimeout, retry, tc.maxConns, tc.stmt, tc.connect, tc.retry)
			}
			if _, ok := cfg.ConnConfig.RuntimeParams["connect_retry"]; ok {
				t.Error("connect_retry would be sent to the server")
			}
		})
	}
}

func TestErrorsNeverContainThePassword(t *testing.T) {
	const pw = "hunter2-secret"
	for _, dsn := range []string{
		"postgres://u:" + pw + "@127.0.0.1:1/db?connect_retry=0s",
		"postgres://u@127.0.0.1:1/db?password=" + pw + "&connect_retry=0s",
		"host=127.0.0.1 port=1 user=u password=" + pw + " dbname=db connect_retry=0s",
		"postgres://u:" + pw + "@127.0.0.1:1/db?pool_max_conns=bad",
		"postgres://u:" + pw + "@[::1/db",
	} {
		_, err := Open(t.Context(), dsn, Options{ConnectTimeout: time.Second})
		if err == nil {
			t.Fatalf("Open(%q) succeeded", dsn)
		}
		if strings.Contains(err.Error(), pw) {
			t.Errorf("error leaks the password: %v", err)
		}
	}
}

func TestDatabaseDownAtOpenFailsAfterBoundedRetry(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	start := time.Now()
	_, err = Open(t.Context(), "postgres://u:pw-xyz@"+addr+"/db?connect_retry=1s", Options{})
	d := time.Since(start)
	if err == nil {
		t.Fatal("Open succeeded with no server")
	}
	if !errors.Is(err, store.ErrUnavailable) || !strings.Contains(err.Error(), addr+"/db") || !strings.Contains(err.Error(), "gave up") {
		t.Errorf("error = %v; want ErrUnavailable naming %s/db", err, addr)
	}
	if d < 500*time.Millisecond || d > 5*time.Second {
		t.Errorf("Open gave up after %v, want about 1s", d)
	}
}

func TestUnknownDatabaseFailsWithoutRetry(t *testing.T) {
	dsn := testServer(t)
	u, _ := url.Parse(dsn)
	u.Path = "/no_such_database_here"
	start := time.Now()
	_, err := Open(t.Context(), u.String(), Options{ConnectRetry: 30 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("error = %v, want database does not exist", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("retried a permanent error for %v", d)
	}
}

// proxy forwards TCP connections to a PostgreSQL server. Paused, it holds
// all traffic (a database that stops answering); closed, it refuses and
// resets connections (a database that went away).
type proxy struct {
	ln     net.Listener
	target string
	paused atomic.Bool
	mu     sync.Mutex
	conns  []net.Conn
}

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target}
	go p.serve()
	t.Cleanup(p.close)
	return p
}

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
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
		go p.pipe(s, c)
		go p.pipe(c, s)
	}
}

func (p *proxy) pipe(dst, src net.Conn) {
	defer dst.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		for p.paused.Load() {
			time.Sleep(10 * time.Millisecond)
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				src.Close()
			}
			return
		}
	}
}

func (p *proxy) close() {
	p.ln.Close()
	p.paused.Store(false)
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// viaProxy opens a store on a fresh schema through a proxy.
func viaProxy(t *testing.T, o Options, params ...string) (*DB, *proxy) {
	t.Helper()
	dsn := freshSchema(t)
	u, _ := url.Parse(dsn)
	p := newProxy(t, u.Host)
	u.Host = p.ln.Addr().String()
	db, err := Open(t.Context(), withParams(t, u.String(), params...), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, p
}

func TestDatabaseThatStopsAnsweringIsUnavailable(t *testing.T) {
	db, p := viaProxy(t, Options{StatementTimeout: 300 * time.Millisecond, ConnectTimeout: 300 * time.Millisecond})
	ctx := t.Context()
	if err := db.CreateUser(ctx, store.User{Username: "alice"}); err != nil {
		t.Fatal(err)
	}
	p.paused.Store(true)
	// Let traffic through before Close, which otherwise waits for the
	// cancel requests of the timed-out calls.
	defer p.paused.Store(false)
	start := time.Now()
	_, err := db.GetUser(ctx, "alice")
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("GetUser with the database silent: %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("GetUser took %v; calls must be bounded by statement_timeout + connect_timeout", d)
	}
	if err := db.Ping(ctx); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Ping with the database silent: %v, want ErrUnavailable", err)
	}
}

func TestDatabaseThatGoesAwayIsUnavailable(t *testing.T) {
	db, p := viaProxy(t, Options{})
	ctx := t.Context()
	if err := db.CreateUser(ctx, store.User{Username: "alice"}); err != nil {
		t.Fatal(err)
	}
	p.close()
	for _, call := range []struct {
		name string
		fn   func() error
	}{
		{"GetUser", func() error { _, err := db.GetUser(ctx, "alice"); return err }},
		{"AdvanceFamily", func() error {
			return db.AdvanceFamily(ctx, store.Advance{FamilyID: "x", NewHash: []byte("y"), Now: time.Now()})
		}},
		{"DeleteExpired", func() error { _, err := db.DeleteExpired(ctx, time.Now()); return err }},
		{"Ping", func() error { return db.Ping(ctx) }},
	} {
		start := time.Now()
		if err := call.fn(); !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s with the database gone: %v, want ErrUnavailable", call.name, err)
		}
		if d := time.Since(start); d > 12*time.Second {
			t.Errorf("%s took %v", call.name, d)
		}
	}
}

func TestRotationRaceAcrossNodes(t *testing.T) {
	// Three pools on one schema stand for three tokengate nodes.
	dsn := freshSchema(t)
	var nodes []*DB
	for range 3 {
		db, err := Open(t.Context(), dsn, Options{MaxConns: 8})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		nodes = append(nodes, db)
	}
	now := time.Now()
	f := store.Family{ID: "fam", Subject: "alice", ClientID: "web", AuthTime: now, ExpiresAt: now.Add(time.Hour)}
	if err := nodes[0].CreateFamily(t.Context(), f, store.RefreshToken{Hash: hash("t0"), IssuedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	const n = 90
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = nodes[i%3].AdvanceFamily(t.Context(), store.Advance{
				FamilyID: "fam", Generation: 0, NewHash: hash("new-" + strconv.Itoa(i)), Now: now, ExpiresAt: now.Add(time.Hour),
			})
		})
	}
	close(start)
	wg.Wait()
	var ok int
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, store.ErrStale):
		default:
			t.Errorf("rotation %d: %v", i, err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d rotations succeeded, want exactly 1", ok)
	}
	for _, db := range nodes {
		fam, err := db.GetFamily(t.Context(), "fam")
		if err != nil || fam.Revoked || fam.Generation != 1 || !slices.Equal(fam.PrevHash, hash("t0")) {
			t.Fatalf("family after the race: %+v, %v; want generation 1", fam, err)
		}
	}
}

func TestDeleteExpiredOneNodeAtATime(t *testing.T) {
	db, dsn := openFresh(t, Options{})
	ctx := t.Context()
	past := time.Now().Add(-time.Hour)
	if err := db.DenyAccessToken(ctx, "old", past); err != nil {
		t.Fatal(err)
	}
	// Another node is cleaning: it holds the lock on its own session.
	other, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(ctx)
	var got bool
	if err := other.QueryRow(ctx, `SELECT pg_try_advisory_lock(`+lockKey("delete_expired")+`)`).Scan(&got); err != nil || !got {
		t.Fatalf("taking the clean-up lock: %v %v", got, err)
	}
	n, err := db.DeleteExpired(ctx, time.Now())
	if err != nil || n != 0 {
		t.Fatalf("DeleteExpired while another node cleans = %d, %v; want 0, nil", n, err)
	}
	if denied, _ := db.IsAccessTokenDenied(ctx, "old"); !denied {
		t.Fatal("rows removed while another node held the clean-up lock")
	}
	if _, err := other.Exec(ctx, `SELECT pg_advisory_unlock(`+lockKey("delete_expired")+`)`); err != nil {
		t.Fatal(err)
	}
	if n, err := db.DeleteExpired(ctx, time.Now()); err != nil || n != 1 {
		t.Fatalf("DeleteExpired after the other node finished = %d, %v; want 1, nil", n, err)
	}
	// The lock was released: the other session can take it again.
	if err := other.QueryRow(ctx, `SELECT pg_try_advisory_lock(`+lockKey("delete_expired")+`)`).Scan(&got); err != nil || !got {
		t.Fatalf("clean-up lock not released: %v %v", got, err)
	}
}

func TestDeleteExpiredFamiliesInBatches(t *testing.T) {
	db, _ := openFresh(t, Options{})
	ctx := t.Context()
	now := time.Now()
	// 4500 families, ids interleaved; two in three expired: more than one
	// batch of expired families, each with one token.
	_, err := db.pool.Exec(ctx, `
		INSERT INTO families (id, subject, client_id, auth_time, generation, expires_at)
		SELECT format('f%s', lpad(i::text, 5, '0')), 'alice', 'web', 1, 0,
			CASE WHEN i % 3 = 0 THEN $1::bigint + 1000000000 ELSE $1::bigint - 1 END
		FROM generate_series(1, 4500) i`, now.UnixNano())
	if err == nil {
		_, err = db.pool.Exec(ctx, `INSERT INTO refresh_tokens (hash, family_id, generation, issued_at, expires_at)
			SELECT sha256(id::bytea), id, 0, 1, expires_at FROM families`)
	}
	if err != nil {
		t.Fatal(err)
	}
	n, err := db.DeleteExpired(ctx, now)
	if err != nil || n != 6000 {
		t.Fatalf("DeleteExpired = %d, %v; want 6000 (3000 families and their tokens)", n, err)
	}
	var fams, toks int
	if err := db.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM families), (SELECT count(*) FROM refresh_tokens)`).Scan(&fams, &toks); err != nil {
		t.Fatal(err)
	}
	if fams != 1500 || toks != 1500 {
		t.Fatalf("%d families and %d tokens left, want 1500 and 1500", fams, toks)
	}
}

func TestSigningKeyRaceMakesOneKey(t *testing.T) {
	dsn := freshSchema(t)
	const nodes = 4
	var dbs []*DB
	for range nodes {
		db, err := Open(t.Context(), dsn, Options{MaxConns: 2})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		dbs = append(dbs, db)
	}
	now := time.Now()
	errs := make([]error, nodes)
	var wg sync.WaitGroup
	for i, db := range dbs {
		wg.Go(func() {
			k := store.SigningKey{ID: fmt.Sprintf("k%d", i), Algorithm: "EdDSA", Private: []byte("x"), CreatedAt: now}
			errs[i] = db.AddSigningKey(t.Context(), k, "", time.Time{})
		})
	}
	wg.Wait()
	var ok int
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, store.ErrConflict):
			t.Errorf("node %d: %v", i, err)
		}
	}
	ks, err := dbs[0].ListSigningKeys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if ok != 1 || len(ks) != 1 {
		t.Fatalf("%d nodes added a first key, %d keys stored; want 1 and 1", ok, len(ks))
	}
}

func hash(s string) []byte {
	sum := sha256.Sum256([]byte(s))
	return sum[:]
}

// BenchmarkRotateRefresh measures the refresh_token grant's store write (AdvanceFamily):
// parallel goroutines each rotate the live token of their own family, one
// statement (one round trip, one commit) per rotation. The sub-benchmarks
// vary the session's synchronous_commit: "on" is PostgreSQL's durable
// default; "off" shows what the commit's WAL flush costs.
func BenchmarkRotateRefresh(b *testing.B) {
	for _, sc := range []string{"on", "off"} {
		b.Run("synchronous_commit="+sc, func(b *testing.B) {
			dsn := withParams(b, freshSchema(b), "synchronous_commit", sc)
			db, err := Open(b.Context(), dsn, Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			now := time.Now()
			var ids atomic.Int64
			b.SetParallelism(8) // 8 goroutines per core: requests in flight, as under HTTP load
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				id := strconv.FormatInt(ids.Add(1), 10)
				f := store.Family{ID: id, Subject: "alice", ClientID: "web", AuthTime: now, ExpiresAt: now.Add(time.Hour)}
				tok := store.RefreshToken{Hash: benchHash(id, 0), FamilyID: id, IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
				if err := db.CreateFamily(b.Context(), f, tok); err != nil {
					b.Error(err)
					return
				}
				for gen := 0; pb.Next(); gen++ {
					err := db.AdvanceFamily(b.Context(), store.Advance{
						FamilyID:   id,
						Generation: int64(gen),
						NewHash:    benchHash(id, gen+1),
						Now:        now,
						ExpiresAt:  now.Add(time.Hour),
					})
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rotations/s")
		})
	}
}

func benchHash(family string, gen int) []byte {
	sum := sha256.Sum256([]byte(family + "/" + strconv.Itoa(gen)))
	return sum[:]
}
