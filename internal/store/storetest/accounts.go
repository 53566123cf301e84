package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/tokengate/tokengate/internal/store"
)

func testUsers(t *testing.T, s store.Store) {
	alice := store.User{
		Username:     "alice",
		PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
		Scopes:       []string{"read", "write"},
		CreatedAt:    at(0),
		UpdatedAt:    at(0),
	}
	bob := store.User{Username: "bob", Disabled: true, CreatedAt: at(time.Second), UpdatedAt: at(2 * time.Second)}
	must(t, s.CreateUser(ctx(t), alice))
	must(t, s.CreateUser(ctx(t), bob))
	wantErr(t, s.CreateUser(ctx(t), store.User{Username: "alice", CreatedAt: at(0), UpdatedAt: at(0)}), store.ErrConflict)

	got, err := s.GetUser(ctx(t), "alice")
	must(t, err)
	checkUser(t, got, alice)
	got, err = s.GetUser(ctx(t), "bob")
	must(t, err)
	checkUser(t, got, bob)
	_, err = s.GetUser(ctx(t), "carol")
	wantErr(t, err, store.ErrNotFound)

	list, err := s.ListUsers(ctx(t))
	must(t, err)
	slices.SortFunc(list, func(a, b store.User) int { return cmpString(a.Username, b.Username) })
	if len(list) != 2 {
		t.Fatalf("ListUsers returned %d users, want 2", len(list))
	}
	checkUser(t, list[0], alice)
	checkUser(t, list[1], bob)

	upd := alice
	upd.PasswordHash = ""
	upd.Disabled = true
	upd.Scopes = []string{"admin"}
	upd.UpdatedAt = at(time.Hour)
	must(t, s.UpdateUser(ctx(t), upd))
	got, err = s.GetUser(ctx(t), "alice")
	must(t, err)
	checkUser(t, got, upd) // CreatedAt unchanged
	wantErr(t, s.UpdateUser(ctx(t), store.User{Username: "carol", UpdatedAt: at(0)}), store.ErrNotFound)

	must(t, s.DeleteUser(ctx(t), "alice"))
	_, err = s.GetUser(ctx(t), "alice")
	wantErr(t, err, store.ErrNotFound)
	wantErr(t, s.DeleteUser(ctx(t), "alice"), store.ErrNotFound)
	got, err = s.GetUser(ctx(t), "bob")
	must(t, err)
	checkUser(t, got, bob)
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func testDeleteUserRevokesFamilies(t *testing.T, s store.Store) {
	must(t, s.CreateUser(ctx(t), store.User{Username: "alice", CreatedAt: at(0), UpdatedAt: at(0)}))
	newFamily(t, s, "fa1", "alice", "app", "a1", at(0), time.Hour)
	newFamily(t, s, "fa2", "alice", "cli", "a2", at(0), time.Hour)
	newFamily(t, s, "fb", "bob", "app", "b", at(0), time.Hour)
	must(t, s.CreateAPIKey(ctx(t), store.APIKey{ID: "ka", Hash: hash("alice-key"), Name: "k", Username: "alice", CreatedAt: at(0)}))

	must(t, s.DeleteUser(ctx(t), "alice"))
	if _, err := s.GetAPIKeyByHash(ctx(t), hash("alice-key")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("API key of a deleted user survives: %v", err)
	}
	for _, tok := range []string{"a1", "a2"} {
		if f := familyOf(t, s, tok); !f.Revoked {
			t.Errorf("family %s of deleted user not revoked", f.ID)
		}
		_, err := rotate(t, s, tok, tok+"'", at(time.Minute), 0)
		wantErr(t, err, errRevoked)
	}
	if f := familyOf(t, s, "b"); f.Revoked {
		t.Error("family of another user revoked")
	}
}

func testClients(t *testing.T, s store.Store) {
	web := store.Client{
		ID:                   "web",
		SecretHash:           hash("web-secret"),
		Grants:               []string{"authorization_code", "refresh_token", "client_credentials"},
		Scopes:               []string{"openid", "email"},
		AccessTokenTTL:       5 * time.Minute,
		RefreshTokenTTL:      30 * 24 * time.Hour,
		RefreshReuseInterval: 2 * time.Second,
		NoIntrospect:         true,
		Resources:            []string{"https://api.example", "urn:example:other"},
		RedirectURIs:         []string{"https://app.example/cb", "http://127.0.0.1/cb", "com.example.app:/cb"},
		ThirdParty:           true,
		Origins:              []string{"https://app.example", "http://localhost:3000"},
		CreatedAt:            at(0),
	}
	cli := store.Client{ID: "cli", Public: true, Grants: []string{"password"}, CreatedAt: at(time.Minute)}
	must(t, s.CreateClient(ctx(t), web))
	must(t, s.CreateClient(ctx(t), cli))
	wantErr(t, s.CreateClient(ctx(t), store.Client{ID: "web", Public: true, CreatedAt: at(0)}), store.ErrConflict)

	got, err := s.GetClient(ctx(t), "web")
	must(t, err)
	checkClient(t, got, web)
	got, err = s.GetClient(ctx(t), "cli")
	must(t, err)
	checkClient(t, got, cli)
	if len(got.SecretHash) != 0 {
		t.Errorf("public client has secret hash %x", got.SecretHash)
	}
	_, err = s.GetClient(ctx(t), "nope")
	wantErr(t, err, store.ErrNotFound)

	list, err := s.ListClients(ctx(t))
	must(t, err)
	slices.SortFunc(list, func(a, b store.Client) int { return cmpString(a.ID, b.ID) })
	if len(list) != 2 {
		t.Fatalf("ListClients returned %d clients, want 2", len(list))
	}
	checkClient(t, list[0], cli)
	checkClient(t, list[1], web)

	// UpdateClient replaces everything but the id and creation time.
	upd := store.Client{ID: "web", SecretHash: hash("new-secret"), Grants: []string{"client_credentials"}, Scopes: []string{"tokengate:admin"},
		AccessTokenTTL: time.Minute, RefreshTokenTTL: time.Hour, RefreshReuseInterval: 0, NoIntrospect: false, Resources: []string{"https://other.example"},
		RedirectURIs: []string{"https://new.example/cb"}, CreatedAt: at(time.Hour)}
	must(t, s.UpdateClient(ctx(t), upd))
	got, err = s.GetClient(ctx(t), "web")
	must(t, err)
	upd.CreatedAt = web.CreatedAt
	checkClient(t, got, upd)
	pub := upd
	pub.SecretHash, pub.Public = nil, true
	must(t, s.UpdateClient(ctx(t), pub))
	if got, err = s.GetClient(ctx(t), "web"); err != nil || len(got.SecretHash) != 0 || !got.Public {
		t.Fatalf("client made public: %+v, %v", got, err)
	}
	wantErr(t, s.UpdateClient(ctx(t), store.Client{ID: "nope", Public: true}), store.ErrNotFound)

	must(t, s.DeleteClient(ctx(t), "web"))
	_, err = s.GetClient(ctx(t), "web")
	wantErr(t, err, store.ErrNotFound)
	wantErr(t, s.DeleteClient(ctx(t), "web"), store.ErrNotFound)
	if _, err := s.GetClient(ctx(t), "cli"); err != nil {
		t.Fatalf("other client gone: %v", err)
	}
}

func testDeleteClientRevokesFamilies(t *testing.T, s store.Store) {
	must(t, s.CreateClient(ctx(t), store.Client{ID: "app", Public: true, CreatedAt: at(0)}))
	newFamily(t, s, "f1", "alice", "app", "t1", at(0), time.Hour)
	newFamily(t, s, "f2", "app", "app", "t2", at(0), time.Hour) // client-only grant
	newFamily(t, s, "f3", "alice", "other", "t3", at(0), time.Hour)

	must(t, s.DeleteClient(ctx(t), "app"))
	for _, tok := range []string{"t1", "t2"} {
		if f := familyOf(t, s, tok); !f.Revoked {
			t.Errorf("family %s of deleted client not revoked", f.ID)
		}
	}
	if f := familyOf(t, s, "t3"); f.Revoked {
		t.Error("family of another client revoked")
	}
}

func testAPIKeys(t *testing.T, s store.Store) {
	userKey := store.APIKey{
		ID:        "k1",
		Hash:      hash("tg_user_key"),
		Name:      "laptop",
		Username:  "alice",
		Prefix:    "tg_us",
		Last4:     "_key",
		Scopes:    []string{"read"},
		CreatedAt: at(0),
		ExpiresAt: at(24 * time.Hour),
	}
	clientKey := store.APIKey{
		ID:        "k2",
		Hash:      hash("tg_client_key"),
		Name:      "ci",
		ClientID:  "ci-bot",
		Prefix:    "tg_cl",
		Last4:     "_key",
		CreatedAt: at(time.Minute),
	}
	must(t, s.CreateAPIKey(ctx(t), userKey))
	must(t, s.CreateAPIKey(ctx(t), clientKey))
	dupID := clientKey
	dupID.Hash = hash("another")
	dupID.ID = "k1"
	wantErr(t, s.CreateAPIKey(ctx(t), dupID), store.ErrConflict)
	dupHash := userKey
	dupHash.ID = "k3"
	wantErr(t, s.CreateAPIKey(ctx(t), dupHash), store.ErrConflict)

	got, err := s.GetAPIKeyByHash(ctx(t), hash("tg_user_key"))
	must(t, err)
	checkAPIKey(t, got, userKey)
	got, err = s.GetAPIKeyByHash(ctx(t), hash("tg_client_key"))
	must(t, err)
	checkAPIKey(t, got, clientKey)
	_, err = s.GetAPIKeyByHash(ctx(t), hash("unknown"))
	wantErr(t, err, store.ErrNotFound)

	list, err := s.ListAPIKeys(ctx(t))
	must(t, err)
	slices.SortFunc(list, func(a, b store.APIKey) int { return cmpString(a.ID, b.ID) })
	if len(list) != 2 {
		t.Fatalf("ListAPIKeys returned %d keys, want 2", len(list))
	}
	checkAPIKey(t, list[0], userKey)
	checkAPIKey(t, list[1], clientKey)

	must(t, s.TouchAPIKey(ctx(t), "k1", at(time.Hour)))
	must(t, s.TouchAPIKey(ctx(t), "k1", at(2*time.Hour)))
	userKey.LastUsedAt = at(2 * time.Hour)
	got, err = s.GetAPIKeyByHash(ctx(t), userKey.Hash)
	must(t, err)
	checkAPIKey(t, got, userKey)
	wantErr(t, s.TouchAPIKey(ctx(t), "nope", at(0)), store.ErrNotFound)

	must(t, s.RevokeAPIKey(ctx(t), "k2", at(3*time.Hour)))
	clientKey.RevokedAt = at(3 * time.Hour)
	got, err = s.GetAPIKeyByHash(ctx(t), clientKey.Hash)
	must(t, err)
	checkAPIKey(t, got, clientKey)
	wantErr(t, s.RevokeAPIKey(ctx(t), "nope", at(0)), store.ErrNotFound)

	// The other key is untouched.
	got, err = s.GetAPIKeyByHash(ctx(t), userKey.Hash)
	must(t, err)
	checkAPIKey(t, got, userKey)
}

// testTombstones: deleting a user or client leaves a tombstone that
// re-creating it clears; the kinds are separate namespaces.
func testTombstones(t *testing.T, s store.Store) {
	deleted := func(kind, name string) bool {
		t.Helper()
		gone, err := s.Deleted(ctx(t), kind, name)
		must(t, err)
		return gone
	}
	must(t, s.CreateUser(ctx(t), store.User{Username: "alice", CreatedAt: at(0), UpdatedAt: at(0)}))
	must(t, s.CreateClient(ctx(t), store.Client{ID: "alice", Public: true, Grants: []string{"password"}, CreatedAt: at(0)}))
	if deleted(store.KindUser, "alice") || deleted(store.KindClient, "alice") || deleted(store.KindUser, "never") {
		t.Fatal("tombstone before any deletion")
	}
	must(t, s.DeleteUser(ctx(t), "alice"))
	if !deleted(store.KindUser, "alice") {
		t.Error("deleted user has no tombstone")
	}
	if deleted(store.KindClient, "alice") {
		t.Error("deleting user alice left a tombstone for client alice")
	}
	must(t, s.DeleteClient(ctx(t), "alice"))
	if !deleted(store.KindClient, "alice") {
		t.Error("deleted client has no tombstone")
	}
	wantErr(t, s.DeleteUser(ctx(t), "alice"), store.ErrNotFound)
	if !deleted(store.KindUser, "alice") {
		t.Error("a second, failed delete cleared the tombstone")
	}
	must(t, s.CreateUser(ctx(t), store.User{Username: "alice", CreatedAt: at(time.Hour), UpdatedAt: at(time.Hour)}))
	must(t, s.CreateClient(ctx(t), store.Client{ID: "alice", Public: true, Grants: []string{"password"}, CreatedAt: at(time.Hour)}))
	if deleted(store.KindUser, "alice") || deleted(store.KindClient, "alice") {
		t.Error("re-created records still have tombstones")
	}
}

// testProbeWrite: a store that can write passes the probe, repeatedly.
func testProbeWrite(t *testing.T, s store.Store) {
	for range 3 {
		must(t, s.ProbeWrite(ctx(t)))
	}
}

// clientsVersion waits (at most 5 s: a change feed may still be
// connecting) until the store can tell client changes, and returns its
// version.
func clientsVersion(t *testing.T, s store.Store) uint64 {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if v, ok := s.ClientsVersion(ctx(t)); ok {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatal("ClientsVersion never became available")
		}
		time.Sleep(time.Millisecond)
	}
}

// waitClientsChange waits until ClientsVersion differs from v and returns
// how long that took; a change must show within a second.
func waitClientsChange(t *testing.T, s store.Store, v uint64, what string) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < time.Second {
		if got, ok := s.ClientsVersion(ctx(t)); ok && got != v {
			return time.Since(start)
		}
		time.Sleep(100 * time.Microsecond)
	}
	t.Fatalf("%s: ClientsVersion still %d after 1s", what, v)
	return 0
}

// testClientsVersion: every client write changes ClientsVersion (what a
// client cache is invalidated by), and other writes do not.
func testClientsVersion(t *testing.T, s store.Store) {
	// Writes to other records leave it alone, so that a cache is not
	// emptied by every login or refresh. (First, while no client write
	// may still be on its way: a store may see its own write twice, once
	// at once and once through its change feed.)
	v := clientsVersion(t, s)
	must(t, s.CreateUser(ctx(t), store.User{Username: "u", PasswordHash: "x", CreatedAt: at(0)}))
	newFamily(t, s, "f1", "u", "svc", "tok-1", at(0), time.Hour)
	for end := time.Now().Add(20 * time.Millisecond); time.Now().Before(end); time.Sleep(time.Millisecond) {
		if got, ok := s.ClientsVersion(ctx(t)); ok && got != v {
			t.Fatalf("ClientsVersion changed from %d to %d without a client write", v, got)
		}
	}

	must(t, s.CreateClient(ctx(t), store.Client{ID: "svc", SecretHash: hash("s1"), Grants: []string{"client_credentials"}, CreatedAt: at(0)}))
	t.Logf("create seen after %v", waitClientsChange(t, s, v, "create"))

	v = clientsVersion(t, s)
	must(t, s.UpdateClient(ctx(t), store.Client{ID: "svc", SecretHash: hash("s2"), Grants: []string{"client_credentials"}}))
	t.Logf("update seen after %v", waitClientsChange(t, s, v, "update"))

	v = clientsVersion(t, s)
	must(t, s.DeleteClient(ctx(t), "svc"))
	t.Logf("delete seen after %v", waitClientsChange(t, s, v, "delete"))
}

// testListPages checks ListUsersAfter and ListClientsAfter: byte order
// (upper case before lower case, "é" after "z", whatever the database's
// collation), a page starts strictly after the cursor, which need not
// exist, and is at most limit long.
func testListPages(t *testing.T, s store.Store) {
	names := []string{"b", "a", "Z", "é", "z", "a-1", "a.1", "aa"}
	want := []string{"Z", "a", "a-1", "a.1", "aa", "b", "z", "é"}
	for _, n := range names {
		must(t, s.CreateUser(ctx(t), store.User{Username: n, CreatedAt: at(0), UpdatedAt: at(0)}))
		must(t, s.CreateClient(ctx(t), store.Client{ID: n, Public: true, CreatedAt: at(0)}))
	}
	users := func(after string, limit int) []string {
		us, err := s.ListUsersAfter(ctx(t), after, limit)
		must(t, err)
		var out []string
		for _, u := range us {
			out = append(out, u.Username)
		}
		return out
	}
	clients := func(after string, limit int) []string {
		cs, err := s.ListClientsAfter(ctx(t), after, limit)
		must(t, err)
		var out []string
		for _, c := range cs {
			out = append(out, c.ID)
		}
		return out
	}
	// API keys: a's, b's and a client's, interleaved by id.
	for i, owner := range []string{"a", "b", "", "a", "b", "a"} {
		k := store.APIKey{ID: "key_" + string(rune('0'+i)), Hash: []byte{byte(i), 1, 2, 3}, Username: owner, CreatedAt: at(0)}
		if owner == "" {
			k.ClientID = "z"
		}
		must(t, s.CreateAPIKey(ctx(t), k))
	}
	keys := func(user string) func(string, int) []string {
		return func(after string, limit int) []string {
			ks, err := s.ListAPIKeysAfter(ctx(t), user, after, limit)
			must(t, err)
			var out []string
			for _, k := range ks {
				out = append(out, k.ID)
			}
			return out
		}
	}
	for user, want := range map[string][]string{"a": {"key_0", "key_3", "key_5"}, "": {"key_0", "key_1", "key_2", "key_3", "key_4", "key_5"}, "nobody": nil} {
		var all []string
		for after := ""; ; {
			p := keys(user)(after, 2)
			if len(p) > 2 {
				t.Fatalf("API keys of %q: page of %d, limit 2", user, len(p))
			}
			if len(p) == 0 {
				break
			}
			all = append(all, p...)
			after = p[len(p)-1]
		}
		if !slices.Equal(all, want) {
			t.Errorf("API keys of %q paged: %q, want %q", user, all, want)
		}
	}
	for name, list := range map[string]func(string, int) []string{"users": users, "clients": clients} {
		var all []string
		for after := ""; ; {
			p := list(after, 3)
			if len(p) > 3 {
				t.Fatalf("%s: page of %d, limit 3", name, len(p))
			}
			if len(p) == 0 {
				break
			}
			all = append(all, p...)
			after = p[len(p)-1]
		}
		if !slices.Equal(all, want) {
			t.Errorf("%s paged: %q, want %q", name, all, want)
		}
		if got := list("a0", 2); !slices.Equal(got, []string{"aa", "b"}) {
			t.Errorf("%s after a cursor that is no record: %q", name, got)
		}
		if got := list("é", 5); len(got) != 0 {
			t.Errorf("%s after the last: %q", name, got)
		}
		if got := list("", 100); !slices.Equal(got, want) {
			t.Errorf("%s in one page: %q", name, got)
		}
	}
}
