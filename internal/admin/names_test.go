package admin

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/internal/store/memory"
)

// TestUsersAndClientsNeverShareAName: a client's own tokens carry its id
// as sub, so a user and a client of one name could not be told apart by
// a resource server; a client id may not start with "ext:", the prefix of
// users provisioned for external identities. Creating, importing and
// seeding all refuse such names, naming the field.
func TestUsersAndClientsNeverShareAName(t *testing.T) {
	ctx := context.Background()
	st := memory.New()
	users := &Users{Store: st, Hash: func(context.Context, string) (string, error) { return "h", nil }}
	clients := &Clients{Store: st}
	if _, err := users.Create(ctx, NewUser{Username: "alice"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := clients.Add(ctx, NewClient{ID: "svc", Grants: []string{"client_credentials"}}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := clients.Add(ctx, NewClient{ID: "alice", Grants: []string{"client_credentials"}}); !slices.Equal(fieldsOf(err), []string{"client_id"}) {
		t.Fatalf("client named like a user: %v", err)
	}
	if _, _, err := clients.Add(ctx, NewClient{ID: "ext:idp:42", Grants: []string{"client_credentials"}}); !slices.Equal(fieldsOf(err), []string{"client_id"}) {
		t.Fatalf("client named like an external user: %v", err)
	}
	if _, err := users.Create(ctx, NewUser{Username: "svc"}); !slices.Equal(fieldsOf(err), []string{"username"}) {
		t.Fatalf("user named like a client: %v", err)
	}

	rep, err := users.ImportUsers(ctx, strings.NewReader(`{"username": "svc", "password_hash": "$2y$10$xMYHaonppOzoCDS3xhGxLOfFqjx/yyi0HXMbvIlbX87lBXK5ZwPuW"}`+"\n"), ImportOptions{})
	if err != nil || rep.Created != 0 || len(rep.Refused) != 1 || !strings.Contains(rep.Refused[0].Reason, "client") {
		t.Fatalf("user import of a client's name: %+v %v", rep, err)
	}
	crep, err := clients.ImportClients(ctx, strings.NewReader(`{"id": "alice", "secret": "s3cret-s3cret", "grants": ["client_credentials"]}`+"\n"), ImportOptions{})
	if err != nil || crep.Created != 0 || len(crep.Refused) != 1 || !strings.Contains(crep.Refused[0].Reason, "user") {
		t.Fatalf("client import of a user's name: %+v %v", crep, err)
	}
	if _, err := st.GetClient(ctx, "alice"); err == nil {
		t.Fatal("a client named alice was stored")
	}
	if _, err := st.GetUser(ctx, "svc"); err == nil {
		t.Fatal("a user named svc was stored")
	}

	// The config's bootstrap section: refused at start, naming the record.
	seed := Seed{Users: []SeedUser{{Username: "bob", PasswordHash: "h"}}, Clients: []SeedClient{{ID: "bob", Grants: []string{"client_credentials"}, Secret: "s3cret-s3cret"}}}
	err = Bootstrap(ctx, st, seed, nil, nil, time.Now(), slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), `bootstrap client "bob"`) {
		t.Fatalf("bootstrap of a user and a client named bob: %v", err)
	}
	seed = Seed{Clients: []SeedClient{{ID: "ext:idp:1", Grants: []string{"client_credentials"}, Secret: "s3cret-s3cret"}}}
	if err := Bootstrap(ctx, st, seed, nil, nil, time.Now(), slog.New(slog.DiscardHandler)); err == nil {
		t.Fatal("bootstrap of a client named ext:…: no error")
	}
}
