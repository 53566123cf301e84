package server_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func BenchmarkRefreshHandler(b *testing.B) {
	ts := newServer(b, testConfig)
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		rt := ""
		for pb.Next() {
			var body string
			if rt == "" {
				body = url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"alice-pw"}}.Encode()
			} else {
				body = "grant_type=refresh_token&refresh_token=" + rt
			}
			req := httptest.NewRequest("POST", "/oauth/token", strings.NewReader(body))
			req.Header.Set("Content-Type", form)
			req.SetBasicAuth("app", "app-secret")
			w := httptest.NewRecorder()
			ts.srv.Handler().ServeHTTP(w, req)
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
