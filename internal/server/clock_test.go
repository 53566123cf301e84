package server_test

import (
	"testing"
	"time"

	"github.com/tokengate/tokengate/internal/servertest"
	"github.com/tokengate/tokengate/internal/store/sqlite"
)

// fakeClock is a settable clock shared by a server and its test.
type fakeClock = servertest.Clock

func newFakeClock() *fakeClock { return servertest.NewClock(time.Now().Truncate(time.Second)) }

// clockedServer is a test server on a fake clock, with its store at hand.
type clockedServer struct {
	*testServer
	store *sqlite.DB
	clock *fakeClock
}

// newClockedServer serves yaml on a fresh SQLite file with the clock clk.
func newClockedServer(t *testing.T, yaml string, clk *fakeClock) *clockedServer {
	t.Helper()
	s := servertest.Start(t, yaml, servertest.Options{Issuer: "http://tokengate.test", Now: clk.Now})
	return &clockedServer{testServer: &testServer{Server: s.Server, srv: s.Srv}, store: s.Store, clock: clk}
}
