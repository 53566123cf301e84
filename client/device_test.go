package client

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"
)

// scriptedDevice is a device authorization server on loopback whose token
// endpoint answers polls with the scripted errors, then tokens.
func scriptedDevice(t *testing.T, answers []string) (*httptest.Server, *[]string) {
	t.Helper()
	var mu sync.Mutex
	var polls []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/oauth/device_authorization":
			if r.PostForm.Get("client_id") != "tv" || r.PostForm.Get("scope") != "read" {
				w.WriteHeader(400)
				_, _ = w.Write([]byte(`{"error":"invalid_request"}`))
				return
			}
			_, _ = w.Write([]byte(`{"device_code":"dc-1","user_code":"BCDF-GHJK","verification_uri":"https://idp.test/device","verification_uri_complete":"https://idp.test/device?user_code=BCDF-GHJK","expires_in":600,"interval":5}`))
		case "/oauth/token":
			mu.Lock()
			defer mu.Unlock()
			polls = append(polls, r.PostForm.Get("grant_type")+" "+r.PostForm.Get("device_code")+" "+r.PostForm.Get("client_id"))
			if i := len(polls) - 1; i < len(answers) {
				w.WriteHeader(400)
				_, _ = w.Write([]byte(`{"error":"` + answers[i] + `"}`))
				return
			}
			_, _ = w.Write([]byte(`{"access_token":"at-1","token_type":"Bearer","expires_in":900,"refresh_token":"rt-1"}`))
		default:
			w.WriteHeader(404)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &polls
}

func TestDeviceLoginHonoursIntervalAndSlowDown(t *testing.T) {
	srv, polls := scriptedDevice(t, []string{"authorization_pending", "slow_down", "authorization_pending"})
	var waits []time.Duration
	var shown []string
	c, err := deviceLogin(context.Background(), Config{BaseURL: srv.URL, ClientID: "tv", Scopes: []string{"read"}},
		func(uri, code string) { shown = append(shown, uri, code) },
		func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(shown, []string{"https://idp.test/device", "BCDF-GHJK"}) {
		t.Errorf("prompt got %q", shown)
	}
	// 5 s before each poll; 5 s more from the slow_down on.
	if want := []time.Duration{5 * time.Second, 5 * time.Second, 10 * time.Second, 10 * time.Second}; !slices.Equal(waits, want) {
		t.Errorf("waits %v, want %v", waits, want)
	}
	for _, p := range *polls {
		if p != GrantDeviceCode+" dc-1 tv" {
			t.Errorf("poll %q", p)
		}
	}
	if tok := c.Tokens(); tok.AccessToken != "at-1" || tok.RefreshToken != "rt-1" {
		t.Errorf("tokens %+v", tok)
	}
}

func TestDeviceLoginDeniedAndExpired(t *testing.T) {
	for _, code := range []string{"access_denied", "expired_token"} {
		srv, _ := scriptedDevice(t, []string{"authorization_pending", code})
		_, err := deviceLogin(context.Background(), Config{BaseURL: srv.URL, ClientID: "tv", Scopes: []string{"read"}},
			func(string, string) {}, func(context.Context, time.Duration) error { return nil })
		var e *Error
		if !errors.As(err, &e) || e.Code != code {
			t.Errorf("%s: %v", code, err)
		}
	}
}

func TestDeviceLoginRefusesUserCredentials(t *testing.T) {
	_, err := DeviceLogin(context.Background(), Config{BaseURL: "http://127.0.0.1:1", ClientID: "tv", Username: "alice", Password: "pw"}, func(string, string) {})
	if !errors.Is(err, ErrConflictingCredentials) {
		t.Errorf("with a password: %v", err)
	}
	_, err = DeviceLogin(context.Background(), Config{BaseURL: "http://127.0.0.1:1", ClientID: "tv", Contract: ContractFastAPI}, func(string, string) {})
	if err == nil {
		t.Error("a contract without a device endpoint was accepted")
	}
}
