package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tokengate/tokengate/internal/store"
)

// provisioned returns a provisioned user and its link for (iss, sub).
func provisioned(iss, sub, name string) (store.User, store.IdentityLink) {
	u := store.User{Username: name, Scopes: []string{"read"}, CreatedAt: at(0), UpdatedAt: at(0)}
	return u, store.IdentityLink{Issuer: iss, Subject: sub, Username: name, CreatedAt: at(0)}
}

func testIdentityLinks(t *testing.T, s store.Store) {
	_, err := s.GetIdentityLink(ctx(t), "https://idp.example/", "alice")
	wantErr(t, err, store.ErrNotFound)

	u, l := provisioned("https://idp.example/", "alice", "ext:one")
	must(t, s.ProvisionIdentity(ctx(t), u, l))
	got, err := s.GetIdentityLink(ctx(t), "https://idp.example/", "alice")
	must(t, err)
	if got != l {
		t.Fatalf("link = %+v, want %+v", got, l)
	}
	gu, err := s.GetUser(ctx(t), "ext:one")
	must(t, err)
	checkUser(t, gu, u)

	// The same subject at another issuer is another identity.
	_, err = s.GetIdentityLink(ctx(t), "https://other.example/", "alice")
	wantErr(t, err, store.ErrNotFound)
	u2, l2 := provisioned("https://other.example/", "alice", "ext:two")
	must(t, s.ProvisionIdentity(ctx(t), u2, l2))

	// An identity linked already: conflict, and no second user.
	u3, l3 := provisioned("https://idp.example/", "alice", "ext:three")
	wantErr(t, s.ProvisionIdentity(ctx(t), u3, l3), store.ErrConflict)
	_, err = s.GetUser(ctx(t), "ext:three")
	wantErr(t, err, store.ErrNotFound)

	// A username taken already (a local user): conflict, and no link.
	must(t, s.CreateUser(ctx(t), store.User{Username: "admin", Scopes: []string{"admin"}, CreatedAt: at(0), UpdatedAt: at(0)}))
	u4, l4 := provisioned("https://idp.example/", "admin", "admin")
	wantErr(t, s.ProvisionIdentity(ctx(t), u4, l4), store.ErrConflict)
	_, err = s.GetIdentityLink(ctx(t), "https://idp.example/", "admin")
	wantErr(t, err, store.ErrNotFound)
	admin, err := s.GetUser(ctx(t), "admin")
	must(t, err)
	if len(admin.Scopes) != 1 || admin.Scopes[0] != "admin" {
		t.Fatalf("the conflicting provision changed the local user: %+v", admin)
	}

	// Deleting a user removes its links, and only its links.
	must(t, s.DeleteUser(ctx(t), "ext:one"))
	_, err = s.GetIdentityLink(ctx(t), "https://idp.example/", "alice")
	wantErr(t, err, store.ErrNotFound)
	if _, err := s.GetIdentityLink(ctx(t), "https://other.example/", "alice"); err != nil {
		t.Fatalf("another user's link went too: %v", err)
	}
	// The identity can be provisioned again afterwards.
	must(t, s.ProvisionIdentity(ctx(t), u, l))
}

func testConcurrentProvision(t *testing.T, s store.Store) {
	const n = 50
	start := make(chan struct{})
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			// Every racer uses the same name, as federation derives it
			// from the identity; odd ones try another name to prove the
			// link alone is unique too.
			name := "ext:same"
			if i%2 == 1 {
				name = fmt.Sprintf("ext:racer-%d", i)
			}
			u, l := provisioned("https://idp.example/", "new-user", name)
			u.CreatedAt = at(time.Duration(i) * time.Millisecond)
			errs[i] = s.ProvisionIdentity(ctx(t), u, l)
		}()
	}
	close(start)
	wg.Wait()
	ok := 0
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, store.ErrConflict):
		default:
			t.Errorf("provision %d: unexpected error %v", i, err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d provisions succeeded, want exactly 1", ok)
	}
	l, err := s.GetIdentityLink(ctx(t), "https://idp.example/", "new-user")
	must(t, err)
	users, err := s.ListUsers(ctx(t))
	must(t, err)
	if len(users) != 1 || users[0].Username != l.Username {
		t.Fatalf("users %+v, link %+v: want exactly the linked user", users, l)
	}
}
