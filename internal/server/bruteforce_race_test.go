package server_test

import (
	"net/url"
	"sync"
	"testing"
)

// TestBruteForceThresholdHoldsUnderConcurrency sends 100 wrong passwords
// at once for one user: the attempt is reserved in the store before the
// password is hashed, so exactly threshold of them are checked (400) and
// every other one is refused unhashed (429). The same across three
// PostgreSQL nodes is TestBruteForceThresholdHoldsAcrossNodes.
func TestBruteForceThresholdHoldsUnderConcurrency(t *testing.T) {
	const cfg = `
password_hashing: {memory_kib: 1024, time: 1, queue: 256}
brute_force: {threshold: 10, window: 15m, base_backoff: 1m, max_backoff: 1h}
bootstrap:
  users:
    - {username: carol, password: carol-pw}
  clients:
    - {id: app, secret: app-secret, grants: [password], scopes: [read]}
`
	ts := newClockedServer(t, cfg, newFakeClock())
	const n = 100
	statuses := make([]int, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			a := ts.token(t, url.Values{"grant_type": {"password"}, "username": {"carol"}, "password": {"wrong"}}, basic("app", "app-secret"))
			statuses[i] = a.status
		})
	}
	close(start)
	wg.Wait()
	count := map[int]int{}
	for _, st := range statuses {
		count[st]++
	}
	if count[400] != 10 || count[429] != n-10 {
		t.Fatalf("statuses %v: want exactly 10 checked (400) and %d refused (429)", count, n-10)
	}
}
