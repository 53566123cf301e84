package admin_test

import (
	"context"
	"fmt"
	"log"
	"net/http/httptest"

	"github.com/tokengate/tokengate/client/admin"
	"github.com/tokengate/tokengate/internal/config"
	"github.com/tokengate/tokengate/internal/server"
	"github.com/tokengate/tokengate/internal/store/memory"
)

// startTokengate runs a real tokengate in memory for the examples, with
// an admin client "ops" (client_credentials, scope tokengate:admin).
func startTokengate() (*httptest.Server, func()) {
	hs := httptest.NewUnstartedServer(nil)
	cfg, err := config.Parse("example.yaml", []byte(`
password_hashing: {memory_kib: 1024, time: 1}
bootstrap:
  clients:
    - {id: ops, secret: ops-secret, grants: [client_credentials], scopes: [tokengate:admin]}
    - {id: app, secret: app-secret, grants: [password, refresh_token], scopes: [read]}
`))
	if err != nil {
		log.Fatal(err)
	}
	cfg.Addr, cfg.Issuer = "127.0.0.1:0", "http://"+hs.Listener.Addr().String()
	if err := cfg.Validate(); err != nil {
		log.Fatal(err)
	}
	srv, err := server.New(context.Background(), server.Options{Config: cfg, Store: memory.New()})
	if err != nil {
		log.Fatal(err)
	}
	hs.Config.Handler = srv.Handler()
	hs.Start()
	return hs, hs.Close
}

// An application manages its users over HTTP: create one, give it an API
// key, disable it.
func Example() {
	ts, stop := startTokengate()
	defer stop()
	ctx := context.Background()

	adm, err := admin.NewWithCredentials(ctx, ts.URL, "ops", "ops-secret")
	if err != nil {
		log.Fatal(err)
	}
	u, err := adm.CreateUser(ctx, admin.NewUser{Username: "bob", Password: "correct horse", Scopes: []string{"read"}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("created", u.Username, "with a password:", u.HasPassword)

	key, rec, err := adm.CreateAPIKey(ctx, "bob", admin.NewAPIKey{Name: "laptop", Scopes: []string{"read"}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("API key", rec.Name, "shown once:", key != "")

	disabled := true
	if _, err := adm.UpdateUser(ctx, "bob", admin.UserChange{Disabled: &disabled}); err != nil {
		log.Fatal(err)
	}
	_, err = adm.CreateUser(ctx, admin.NewUser{Username: "bob"})
	fmt.Println("again:", admin.IsConflict(err))
	_, err = adm.GetUser(ctx, "nobody")
	fmt.Println("unknown:", admin.IsNotFound(err))
	// Output:
	// created bob with a password: true
	// API key laptop shown once: true
	// again: true
	// unknown: true
}

// A client's secret is rotated; the new one is shown once.
func ExampleClient_RotateClientSecret() {
	ts, stop := startTokengate()
	defer stop()
	ctx := context.Background()
	adm, err := admin.NewWithCredentials(ctx, ts.URL, "ops", "ops-secret")
	if err != nil {
		log.Fatal(err)
	}
	secret, err := adm.RotateClientSecret(ctx, "app")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(secret) > 40)
	// Output: true
}
