package client

import (
	"context"
	"testing"
	"time"

	"github.com/tokengate/tokengate/internal/devicepage"
	"github.com/tokengate/tokengate/internal/devicepage/devicepagetest"
	"github.com/tokengate/tokengate/internal/servertest"
)

// TestDeviceLoginAgainstTokengate signs in with the device flow against
// the real server on 127.0.0.1, a person approving the code on the
// verification page while the client polls; the server's clock moves by
// each wait, so polling is honoured without sleeping.
func TestDeviceLoginAgainstTokengate(t *testing.T) {
	clock := servertest.NewClock(time.Now())
	sessions := devicepagetest.New()
	sessions.Add("s-alice", devicepage.Identity{UserID: "alice", Username: "alice", AuthTime: clock.Now()})
	s := servertest.Start(t, `
password_hashing: {memory_kib: 1024, time: 1}
bootstrap:
  users: [{username: alice, password: alice-pw, scopes: [read]}]
  clients: [{id: cli, public: true, grants: ["urn:ietf:params:oauth:grant-type:device_code", refresh_token], scopes: [read]}]
`, servertest.Options{Now: clock.Now, DeviceSessions: sessions})
	approved := make(chan error, 1)
	polls := 0
	c, err := deviceLogin(context.Background(), Config{BaseURL: s.URL, ClientID: "cli", Now: clock.Now},
		func(uri, code string) {
			if uri != s.URL+"/device" {
				t.Errorf("verification URI %q", uri)
			}
			go func() {
				approved <- devicepagetest.Decide(context.Background(), s.Client(), uri, "s-alice", code, "cli", true)
			}()
		},
		func(_ context.Context, d time.Duration) error {
			polls++
			if polls == 2 { // the first poll was (most likely) pending
				if err := <-approved; err != nil {
					t.Fatal(err)
				}
			}
			clock.Add(d)
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := c.Token(context.Background())
	if err != nil || tok == "" || c.Tokens().RefreshToken == "" {
		t.Fatalf("token %q, %v", tok, err)
	}
	// The session refreshes like any other.
	if _, err := c.Refresh(context.Background()); err != nil {
		t.Fatalf("refresh: %v", err)
	}
}
