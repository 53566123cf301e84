package server_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
)

func BenchmarkRefreshHandler(b *testing.B) {
	ts := newServer(b, testConfig)
	b.SetParallelism(8)
	// The goroutines' first logins are one at a time: the brute-force
	// guard reserves an attempt per password check in flight, and 16
	// concurrent checks of one user would pass its limit.
	var logins sync.Mutex
	b.RunParallel(func(pb *testing.PB) {
		rt := ""
		for pb.Next() {
			var body string
			if rt == "" {
				logins.Lock()
				body = url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"alice-pw"}}.Encode()
			} else {
				body = "grant_type=refresh_token&refresh_token=" + rt
			}
			req := httptest.NewRequest("POST", "/oauth/token", strings.NewReader(body))
			req.Header.Set("Content-Type", form)
			req.SetBasicAuth("app", "app-secret")
			w := httptest.NewRecorder()
			ts.srv.Handler().ServeHTTP(w, req)
			if rt == "" {
				logins.Unlock()
			}
			if w.Code != http.StatusOK {
				b.Fatalf("%d %s", w.Code, w.Body)
			}
			var out struct {
				RefreshToken string `json:"refresh_token"`
			}
			json.Unmarshal(w.Body.Bytes(), &out)
			rt = out.RefreshToken
		}
	})
}

// serveBench runs one request through the handler and fails on a status
// other than 200.
func serveBench(b *testing.B, h http.Handler, path, body, id, sec string) *httptest.ResponseRecorder {
	req := httptest.NewRequest("POST", path, strings.NewReader(body))
	req.Header.Set("Content-Type", form)
	req.SetBasicAuth(id, sec)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != http.StatusOK {
		b.Fatalf("%s: %d %s", path, w.Code, w.Body)
	}
	return w
}

// BenchmarkClientCredentialsHandler is the client_credentials grant
// through the whole handler (client cache on, as by default); run it with
// -benchmem for allocations per request.
func BenchmarkClientCredentialsHandler(b *testing.B) {
	ts := newServer(b, testConfig)
	h := ts.srv.Handler()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			serveBench(b, h, "/oauth/token", "grant_type=client_credentials", "app", "app-secret")
		}
	})
}

// BenchmarkIntrospectHandler is introspection (RFC 7662) of a signed
// access token by an authenticated confidential client.
func BenchmarkIntrospectHandler(b *testing.B) {
	ts := newServer(b, testConfig)
	h := ts.srv.Handler()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	w := serveBench(b, h, "/oauth/token", "grant_type=client_credentials", "app", "app-secret")
	if err := json.Unmarshal(w.Body.Bytes(), &tok); err != nil {
		b.Fatal(err)
	}
	body := "token=" + tok.AccessToken
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			w := serveBench(b, h, "/oauth/introspect", body, "app", "app-secret")
			if !strings.Contains(w.Body.String(), `"active":true`) {
				b.Fatalf("inactive: %s", w.Body)
			}
		}
	})
}
