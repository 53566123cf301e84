package admin_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/tokengate/tokengate/client"
	"github.com/tokengate/tokengate/client/admin"
	"github.com/tokengate/tokengate/internal/adminapi/openapitest"
	"github.com/tokengate/tokengate/internal/servertest"
)

// TestEveryCallAgainstTheServer drives each SDK call against a real
// tokengate, every answer checked against the OpenAPI document.
func TestEveryCallAgainstTheServer(t *testing.T) {
	s := servertest.Start(t, `
password_hashing: {memory_kib: 1024, time: 1}
bootstrap:
  clients:
    - {id: ops, secret: ops-secret, grants: [client_credentials], scopes: [tokengate:admin]}
`, servertest.Options{})
	ctx := context.Background()
	tc, err := client.New(ctx, client.Config{BaseURL: s.URL, ClientID: "ops", ClientSecret: "ops-secret", Scopes: []string{admin.Scope}})
	if err != nil {
		t.Fatal(err)
	}
	adm := admin.New(s.URL, openapitest.New(t).Client(tc.HTTPClient()))

	for _, n := range []string{"u1", "u2", "u3"} {
		if _, err := adm.CreateUser(ctx, admin.NewUser{Username: n, Password: n + "-pw"}); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	opt := admin.ListOptions{Limit: 2}
	for {
		p, err := adm.ListUsers(ctx, opt)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range p.Items {
			names = append(names, u.Username)
		}
		if p.NextCursor == nil {
			break
		}
		opt.Cursor = *p.NextCursor
	}
	if len(names) != 3 {
		t.Fatalf("paged users: %v", names)
	}
	scopes := []string{"read"}
	if u, err := adm.UpdateUser(ctx, "u1", admin.UserChange{Scopes: &scopes}); err != nil || len(u.Scopes) != 1 {
		t.Fatalf("update: %v %v", u, err)
	}
	if _, err := adm.SetPassword(ctx, "u1", "new-pw", false); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.RevokeSessions(ctx, "u1"); err != nil {
		t.Fatal(err)
	}
	key, rec, err := adm.CreateAPIKey(ctx, "u1", admin.NewAPIKey{Name: "k", ExpiresIn: time.Hour})
	if err != nil || key == "" || rec.ExpiresAt == nil {
		t.Fatalf("api key: %v %v", rec, err)
	}
	if p, err := adm.ListAPIKeys(ctx, "u1", admin.ListOptions{}); err != nil || len(p.Items) != 1 {
		t.Fatalf("keys: %v %v", p, err)
	}
	if err := adm.RevokeAPIKey(ctx, rec.ID); err != nil {
		t.Fatal(err)
	}
	cl, sec, err := adm.CreateClient(ctx, admin.NewOAuthClient{ClientID: "web", Grants: []string{"client_credentials"}})
	if err != nil || sec == "" || cl.ClientID != "web" {
		t.Fatalf("client: %v %v", cl, err)
	}
	ttl := int64(120)
	if cl, err := adm.UpdateClient(ctx, "web", admin.OAuthClientChange{AccessTokenTTL: &ttl}); err != nil || cl.AccessTokenTTL != 120 {
		t.Fatalf("update client: %v %v", cl, err)
	}
	if p, err := adm.ListClients(ctx, admin.ListOptions{}); err != nil || len(p.Items) != 2 {
		t.Fatalf("clients: %v %v", p, err)
	}
	if _, err := adm.GetClient(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	if s2, err := adm.RotateClientSecret(ctx, "web"); err != nil || s2 == sec {
		t.Fatalf("rotate: %v", err)
	}
	if err := adm.DeleteClient(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	users := admin.UserImport{Format: "csv", Data: "username,password_hash,scopes\nimp1,{noop}imp1-pw,read\nweak,$1$abcdefgh$weakdigest,\n"}
	for run, want := range []admin.ImportReport{{Created: 1}, {Unchanged: 1}} {
		rep, err := adm.ImportUsers(ctx, users)
		if err != nil || rep.Created != want.Created || rep.Unchanged != want.Unchanged || len(rep.Refused) != 1 ||
			rep.Refused[0].Line != 3 || rep.Refused[0].Username != "weak" || rep.Refused[0].ClientID != "" || rep.Refused[0].Reason == "" {
			t.Fatalf("user import, run %d: %+v %v", run+1, rep, err)
		}
	}
	if u, err := adm.GetUser(ctx, "imp1"); err != nil || !slices.Equal(u.Scopes, []string{"read"}) {
		t.Fatalf("imported user: %v %v", u, err)
	}
	k, err := adm.RotateKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Two default keys and two ID token keys (rotated together).
	if keys, err := adm.ListKeys(ctx); err != nil || len(keys) != 4 || !slices.ContainsFunc(keys, func(x admin.SigningKey) bool { return x.KID == k.KID && x.Active && x.Purpose == "" }) {
		t.Fatalf("keys: %v %v", keys, err)
	}
	if err := adm.DeleteUser(ctx, "u1"); err != nil {
		t.Fatal(err)
	}
	err = adm.DeleteUser(ctx, "u1")
	var e *admin.Error
	if !errors.As(err, &e) || e.Status != 404 || !admin.IsNotFound(err) {
		t.Fatalf("typed error: %v", err)
	}
	_, err = adm.CreateUser(ctx, admin.NewUser{Username: "bad name"})
	if !errors.As(err, &e) || e.Status != 422 || len(e.Fields) != 1 || e.Fields[0].Field != "username" {
		t.Fatalf("invalid fields: %#v", err)
	}
}
