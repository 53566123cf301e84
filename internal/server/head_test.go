package server_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestHeadOnlyWhereGetChangesNothing: HEAD is answered like GET only by
// the endpoints whose GET is safe (documents, keys, probes). On one whose
// GET acts (the authorization endpoint may issue a code, userinfo and the
// seeds' GET token routes read or issue credentials) HEAD is 405 with an
// Allow header, so a prefetching proxy cannot make it act.
func TestHeadOnlyWhereGetChangesNothing(t *testing.T) {
	ts := newServer(t, testConfig+`
routes:
  - {path: /oauth/token, endpoint: token}
  - {path: /oauth/authorize, endpoint: authorize}
  - {path: /oauth/userinfo, endpoint: userinfo}
  - {path: /api/login/refresh, endpoint: datarhei.refresh, default_client: spa, refresh_client_auth: none}
  - {path: /.well-known/jwks.json, endpoint: jwks}
  - {path: /.well-known/oauth-authorization-server, endpoint: metadata}
  - {path: /.well-known/openid-configuration, endpoint: oidc_discovery}
`)
	for path, want := range map[string]int{
		"/oauth/authorize":                        http.StatusMethodNotAllowed,
		"/oauth/userinfo":                         http.StatusMethodNotAllowed,
		"/api/login/refresh":                      http.StatusMethodNotAllowed,
		"/.well-known/jwks.json":                  http.StatusOK,
		"/.well-known/oauth-authorization-server": http.StatusOK,
		"/.well-known/openid-configuration":       http.StatusOK,
		"/readyz":                                 http.StatusOK,
		"/healthz":                                http.StatusOK,
	} {
		a := ts.do(t, "HEAD", path, "", "", nil)
		if a.status != want {
			t.Errorf("HEAD %s: %d, want %d", path, a.status, want)
		}
		if want == http.StatusMethodNotAllowed && a.header.Get("Allow") == "" {
			t.Errorf("HEAD %s: 405 without an Allow header", path)
		}
	}
}

// TestHeadOnTheMetricsListener: the probes and /metrics on the separate
// metrics_addr listener answer HEAD as they answer GET, like on the main
// listener (load balancers probe with either).
func TestHeadOnTheMetricsListener(t *testing.T) {
	ts := newServer(t, testConfig+"metrics_addr: 127.0.0.1:9\n")
	ops := ts.srv.OpsHandler()
	if ops == nil {
		t.Fatal("no metrics listener handler with metrics_addr set")
	}
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		for _, m := range []string{http.MethodGet, http.MethodHead} {
			rec := httptest.NewRecorder()
			ops.ServeHTTP(rec, httptest.NewRequest(m, path, nil))
			if rec.Code != http.StatusOK {
				t.Errorf("%s %s on the metrics listener: %d", m, path, rec.Code)
			}
		}
	}
}
