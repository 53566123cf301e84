package bearer_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tokengate/tokengate/bearer"
)

// TestIntrospectionNeverFollowsRedirects: an introspection endpoint that
// redirects elsewhere gets neither the resource server's secret nor the
// token sent on, and the other host's {"active": true} is not trusted.
func TestIntrospectionNeverFollowsRedirects(t *testing.T) {
	var reached atomic.Int32
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"active": true, "scope": "admin", "sub": "mallory", "aud": "api://orders", "iss": "https://issuer.example", "exp": 4102444800}`))
	}))
	defer evil.Close()
	rd := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", evil.URL+"/introspect")
		w.WriteHeader(http.StatusTemporaryRedirect)
	}))
	defer rd.Close()
	v, err := bearer.NewVerifier(context.Background(), bearer.Config{IntrospectionURL: rd.URL + "/introspect", ClientID: "rs", ClientSecret: "rs-secret", Audience: "api://orders"})
	if err == nil {
		var c *bearer.Claims
		c, err = v.Verify(context.Background(), "opaque-token")
		if err == nil {
			t.Fatalf("a redirected introspection was trusted: %+v", c)
		}
		if !errors.Is(err, bearer.ErrUnavailable) {
			t.Fatalf("got %v, want ErrUnavailable", err)
		}
	}
	if !strings.Contains(err.Error(), "redirect") || !strings.Contains(err.Error(), evil.URL) {
		t.Fatalf("error does not name the redirect: %v", err)
	}
	if strings.Contains(err.Error(), "rs-secret") {
		t.Fatalf("error leaks the secret: %v", err)
	}
	if n := reached.Load(); n != 0 {
		t.Fatalf("the redirect target got %d requests", n)
	}
}
