package server_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tokengate/tokengate/internal/config"
	"github.com/tokengate/tokengate/internal/server"
	"github.com/tokengate/tokengate/internal/store"
	"github.com/tokengate/tokengate/internal/store/sqlite"
)

// faultyStore reports storage unavailable for every rotation while fail
// is set: after committing it (commit true, as when a response is lost or
// the database answers after the node gave up), or without writing it.
type faultyStore struct {
	*sqlite.DB
	fail   atomic.Bool
	commit bool
	// lookups fail too once a rotation has failed: the outcome cannot
	// be checked.
	lookups bool
	tripped atomic.Bool
}

func (s *faultyStore) AdvanceFamily(ctx context.Context, a store.Advance) error {
	if !s.fail.Load() {
		return s.DB.AdvanceFamily(ctx, a)
	}
	s.tripped.Store(true)
	if s.commit {
		if err := s.DB.AdvanceFamily(ctx, a); err != nil {
			return err
		}
	}
	return fmt.Errorf("faulty: %w", store.ErrUnavailable)
}

func (s *faultyStore) GetFamily(ctx context.Context, id string) (store.Family, error) {
	if s.fail.Load() && s.lookups && s.tripped.Load() {
		return store.Family{}, fmt.Errorf("faulty: %w", store.ErrUnavailable)
	}
	return s.DB.GetFamily(ctx, id)
}

func newFaultyServer(t *testing.T, fs *faultyStore) *testServer {
	t.Helper()
	cfg, err := config.Parse("test.yaml", []byte(reuseConfig))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Addr, cfg.Issuer = "127.0.0.1:0", "http://tokengate.test"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	db, err := sqlite.Open(context.Background(), t.TempDir()+"/tg.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	fs.DB = db
	srv, err := server.New(context.Background(), server.Options{Config: cfg, Store: fs})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	return &testServer{Server: hs, srv: srv}
}

func faultyLogin(t *testing.T, ts *testServer) string {
	t.Helper()
	a := ts.token(t, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"alice-pw"}}, basic("strict", "strict-secret"))
	if a.status != 200 {
		t.Fatalf("login: %d %s", a.status, a.raw)
	}
	return a.str("refresh_token")
}

func faultyRefresh(t *testing.T, ts *testServer, rt string) answer {
	t.Helper()
	return ts.token(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, basic("strict", "strict-secret"))
}

// TestRefreshThatCommittedIsAnswered200 is issue 11 item 13(a): storage
// reports an error for a rotation that in fact committed; the server
// finds the new token and answers with it, so the session goes on.
func TestRefreshThatCommittedIsAnswered200(t *testing.T) {
	fs := &faultyStore{commit: true}
	ts := newFaultyServer(t, fs)
	rt0 := faultyLogin(t, ts)
	fs.fail.Store(true)
	a := faultyRefresh(t, ts, rt0)
	fs.fail.Store(false)
	if a.status != 200 || a.str("refresh_token") == "" {
		t.Fatalf("refresh that committed: %d %s, want 200 with the new tokens", a.status, a.raw)
	}
	if a := faultyRefresh(t, ts, a.str("refresh_token")); a.status != 200 {
		t.Fatalf("the answered token does not refresh: %d %s", a.status, a.raw)
	}
}

// TestRefreshWithUnknownOutcomeSaysSo: when storage confirms neither the
// rotation nor its absence, the 503 says the refresh may have taken effect.
func TestRefreshWithUnknownOutcomeSaysSo(t *testing.T) {
	for _, commit := range []bool{false, true} {
		fs := &faultyStore{commit: commit, lookups: true}
		ts := newFaultyServer(t, fs)
		rt0 := faultyLogin(t, ts)
		fs.fail.Store(true)
		a := faultyRefresh(t, ts, rt0)
		fs.fail.Store(false)
		if a.status != 503 || a.str("error") != "temporarily_unavailable" || !strings.Contains(a.str("error_description"), "may have taken effect") {
			t.Fatalf("commit=%v: %d %s, want 503 saying the outcome is unknown", commit, a.status, a.raw)
		}
	}
}
