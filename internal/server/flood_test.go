package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// TestLoginFloodGets503PastTheQueue floods the password grant past the
// hashing queue: the logins the queue holds are answered, the rest get 503
// temporarily_unavailable with Retry-After at once, and nothing else.
func TestLoginFloodGets503PastTheQueue(t *testing.T) {
	ts := newServer(t, `
password_hashing: {memory_kib: 8192, time: 3, workers: 1, queue: 2}
brute_force: {disabled: true}
bootstrap:
  users: [{username: alice, password: alice-pw}]
  clients: [{id: app, secret: app-secret, grants: [password]}]
`)
	const n = 30
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[int]int{}
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			req, _ := http.NewRequest("POST", ts.URL+"/oauth/token", strings.NewReader("grant_type=password&username=alice&password=alice-pw"))
			req.Header.Set("Content-Type", form)
			req.SetBasicAuth("app", "app-secret")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode == http.StatusServiceUnavailable {
				var body map[string]string
				_ = json.Unmarshal(b, &body)
				if resp.Header.Get("Retry-After") == "" || body["error"] != "temporarily_unavailable" {
					t.Errorf("503 without Retry-After or with %s", b)
				}
			}
			mu.Lock()
			statuses[resp.StatusCode]++
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()
	if statuses[200] == 0 || statuses[503] == 0 || statuses[200]+statuses[503] != n {
		t.Fatalf("statuses %v: want some 200, some 503 and nothing else", statuses)
	}
}
