package admin

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/internal/secret"
	"github.com/tokengate/tokengate/internal/store"
	"github.com/tokengate/tokengate/internal/store/memory"
)

func fieldsOf(err error) []string {
	var inv *InvalidError
	if !errors.As(err, &inv) {
		return nil
	}
	var out []string
	for _, f := range inv.Fields {
		out = append(out, f.Field)
	}
	return out
}

func TestClientsStoreOnlyTheSecretsHash(t *testing.T) {
	ctx := context.Background()
	st := memory.New()
	a := &Clients{Store: st}
	c, sec, err := a.Add(ctx, NewClient{ID: "web", Grants: []string{"client_credentials"}})
	if err != nil || !strings.HasPrefix(sec, "tgs_") {
		t.Fatalf("add: %q %v", sec, err)
	}
	got, _ := st.GetClient(ctx, "web")
	if !secret.Equal(sec, got.SecretHash) || strings.Contains(string(got.SecretHash), sec) || c.ID != "web" {
		t.Fatal("the stored hash is not the secret's")
	}
	sec2, err := a.RotateSecret(ctx, "web")
	if err != nil || sec2 == sec {
		t.Fatalf("rotate: %v", err)
	}
	got, _ = st.GetClient(ctx, "web")
	if secret.Equal(sec, got.SecretHash) || !secret.Equal(sec2, got.SecretHash) {
		t.Fatal("rotation kept the old secret")
	}
	if _, err := a.RotateSecret(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown client: %v", err)
	}
	// An imported secret is not answered back.
	if _, sec, err := a.Add(ctx, NewClient{ID: "legacy", Secret: "imported", Grants: []string{"client_credentials"}}); err != nil || sec != "" {
		t.Fatalf("import: %q %v", sec, err)
	}
}

func TestInvalidFieldsAreNamed(t *testing.T) {
	ctx := context.Background()
	st := memory.New()
	_, _, err := (&Clients{Store: st}).Add(ctx, NewClient{ID: "a/b", Public: true, Grants: []string{"client_credentials", "implicit"}, AccessTokenTTL: -1})
	if got := strings.Join(fieldsOf(err), ","); got != "client_id,grants,access_token_ttl,grants" {
		t.Fatalf("fields %q (%v)", got, err)
	}
	// A long reuse interval would switch reuse detection off.
	if _, _, err := (&Clients{Store: st}).Add(ctx, NewClient{ID: "r", Grants: []string{"refresh_token"}, RefreshReuseInterval: 301 * time.Second}); strings.Join(fieldsOf(err), ",") != "refresh_reuse_interval" {
		t.Fatalf("reuse interval beyond 5 minutes: %v", err)
	}
	u := &Users{Store: st, Hash: func(context.Context, string) (string, error) { return "h", nil }}
	if got := fieldsOf(u.Add(ctx, "ext:x", "pw", nil)); len(got) != 1 || got[0] != "username" {
		t.Fatalf("reserved name: %v", got)
	}
	if _, err := u.SetPassword(ctx, "nobody", "", false); fieldsOf(err) == nil {
		t.Fatalf("empty password: %v", err)
	}
	// Login refuses a NUL byte, so such a password could never be used.
	if got := fieldsOf(u.Add(ctx, "carol", "p\x00w", nil)); len(got) != 1 || got[0] != "password" {
		t.Fatalf("password with NUL: %v", got)
	}
	if _, _, err := (&APIKeys{Store: st}).Create(ctx, NewKey{Username: "nobody", Scopes: []string{"a b"}}); fieldsOf(err)[0] != "scopes" {
		t.Fatalf("bad scope: %v", err)
	}
}

func TestAPIKeysListsOneUsersKeys(t *testing.T) {
	ctx := context.Background()
	st := memory.New()
	// A long reuse interval would switch reuse detection off.
	if _, _, err := (&Clients{Store: st}).Add(ctx, NewClient{ID: "r", Grants: []string{"refresh_token"}, RefreshReuseInterval: 301 * time.Second}); strings.Join(fieldsOf(err), ",") != "refresh_reuse_interval" {
		t.Fatalf("reuse interval beyond 5 minutes: %v", err)
	}
	u := &Users{Store: st, Hash: func(context.Context, string) (string, error) { return "h", nil }}
	for _, n := range []string{"ann", "ben"} {
		if err := u.Add(ctx, n, "pw", nil); err != nil {
			t.Fatal(err)
		}
	}
	k := &APIKeys{Store: st}
	for _, n := range []string{"ann", "ann", "ben"} {
		if _, _, err := k.Create(ctx, NewKey{Username: n}); err != nil {
			t.Fatal(err)
		}
	}
	if l, err := k.List(ctx, "ann"); err != nil || len(l) != 2 {
		t.Fatalf("ann's keys: %d %v", len(l), err)
	}
	if _, err := k.List(ctx, "nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown user: %v", err)
	}
}
