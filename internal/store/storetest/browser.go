package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tokengate/tokengate/internal/store"
)

func checkCode(t *testing.T, got, want store.AuthCode) {
	t.Helper()
	if !slices.Equal(got.Hash, want.Hash) || got.ClientID != want.ClientID || got.RedirectURI != want.RedirectURI ||
		got.Challenge != want.Challenge || got.Username != want.Username || !slices.Equal(got.Scopes, want.Scopes) ||
		got.Nonce != want.Nonce || !got.AuthTime.Equal(want.AuthTime) || got.SessionID != want.SessionID ||
		got.FamilyID != want.FamilyID || !got.CreatedAt.Equal(want.CreatedAt) || !got.ExpiresAt.Equal(want.ExpiresAt) ||
		!got.PurgeAt.Equal(want.PurgeAt) || got.Redemptions != want.Redemptions {
		t.Errorf("auth code:\n got %+v\nwant %+v", got, want)
	}
}

func sampleCode(name string) store.AuthCode {
	return store.AuthCode{
		Hash: hash(name), ClientID: "web", RedirectURI: "https://app.example/cb?x=1", Challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
		Username: "alice", Scopes: []string{"openid", "profile"}, Nonce: "n-0S6_WzA2Mj", AuthTime: at(-time.Minute),
		SessionID: "sess1", FamilyID: "fam-" + name, CreatedAt: at(0), ExpiresAt: at(time.Minute), PurgeAt: at(time.Hour),
	}
}

// testAuthCodes: a code reads back whole; every redemption is counted;
// unknown codes are ErrNotFound; a duplicate hash is ErrConflict.
func testAuthCodes(t *testing.T, s store.Store) {
	c := sampleCode("code-1")
	must(t, s.CreateAuthCode(ctx(t), c))
	wantErr(t, s.CreateAuthCode(ctx(t), c), store.ErrConflict)
	got, err := s.GetAuthCode(ctx(t), c.Hash)
	must(t, err)
	checkCode(t, got, c)
	for i := int64(1); i <= 3; i++ {
		got, err = s.RedeemAuthCode(ctx(t), c.Hash)
		must(t, err)
		c.Redemptions = i
		checkCode(t, got, c)
	}
	got, err = s.GetAuthCode(ctx(t), c.Hash)
	must(t, err)
	checkCode(t, got, c)
	_, err = s.GetAuthCode(ctx(t), hash("nope"))
	wantErr(t, err, store.ErrNotFound)
	_, err = s.RedeemAuthCode(ctx(t), hash("nope"))
	wantErr(t, err, store.ErrNotFound)
	// A code without scopes or nonce reads back so.
	bare := sampleCode("code-2")
	bare.Scopes, bare.Nonce = nil, ""
	must(t, s.CreateAuthCode(ctx(t), bare))
	got, err = s.GetAuthCode(ctx(t), bare.Hash)
	must(t, err)
	checkCode(t, got, bare)
}

// testAuthCodeConcurrentRedemption: of 100 concurrent redemptions of one
// code exactly one is the first.
func testAuthCodeConcurrentRedemption(t *testing.T, s store.Store) {
	c := sampleCode("race")
	must(t, s.CreateAuthCode(ctx(t), c))
	const n = 100
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first int
		seen  = map[int64]bool{}
	)
	start := make(chan struct{})
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			got, err := s.RedeemAuthCode(ctx(t), c.Hash)
			if err != nil {
				errs <- err
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if seen[got.Redemptions] {
				errs <- fmt.Errorf("redemption count %d returned twice", got.Redemptions)
			}
			seen[got.Redemptions] = true
			if got.Redemptions == 1 {
				first++
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if first != 1 {
		t.Fatalf("%d redemptions saw count 1, want exactly 1", first)
	}
}

// testWebSessions: a session reads back; deleting it (twice) works; a
// session goes with its user.
func testWebSessions(t *testing.T, s store.Store) {
	must(t, s.CreateUser(ctx(t), store.User{Username: "alice", CreatedAt: at(0), UpdatedAt: at(0)}))
	w := store.WebSession{IDHash: hash("sess-a"), Username: "alice", AuthTime: at(time.Second), ExpiresAt: at(12 * time.Hour)}
	must(t, s.CreateWebSession(ctx(t), w))
	wantErr(t, s.CreateWebSession(ctx(t), w), store.ErrConflict)
	got, err := s.GetWebSession(ctx(t), w.IDHash)
	must(t, err)
	if !slices.Equal(got.IDHash, w.IDHash) || got.Username != w.Username || !got.AuthTime.Equal(w.AuthTime) || !got.ExpiresAt.Equal(w.ExpiresAt) {
		t.Fatalf("session:\n got %+v\nwant %+v", got, w)
	}
	_, err = s.GetWebSession(ctx(t), hash("nope"))
	wantErr(t, err, store.ErrNotFound)
	must(t, s.DeleteWebSession(ctx(t), w.IDHash))
	must(t, s.DeleteWebSession(ctx(t), w.IDHash))
	_, err = s.GetWebSession(ctx(t), w.IDHash)
	wantErr(t, err, store.ErrNotFound)

	w2 := store.WebSession{IDHash: hash("sess-b"), Username: "alice", AuthTime: at(0), ExpiresAt: at(time.Hour)}
	must(t, s.CreateWebSession(ctx(t), w2))
	must(t, s.DeleteUser(ctx(t), "alice"))
	_, err = s.GetWebSession(ctx(t), w2.IDHash)
	wantErr(t, err, store.ErrNotFound)
}

// testDeleteExpiredBrowser: codes go at PurgeAt (not at ExpiresAt, so a
// late second use is still recognised), sessions at ExpiresAt.
func testDeleteExpiredBrowser(t *testing.T, s store.Store) {
	must(t, s.CreateUser(ctx(t), store.User{Username: "alice", CreatedAt: at(0), UpdatedAt: at(0)}))
	c := sampleCode("old")
	must(t, s.CreateAuthCode(ctx(t), c))
	w := store.WebSession{IDHash: hash("sess"), Username: "alice", AuthTime: at(0), ExpiresAt: at(2 * time.Hour)}
	must(t, s.CreateWebSession(ctx(t), w))
	if _, err := s.DeleteExpired(ctx(t), at(30*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetAuthCode(ctx(t), c.Hash); err != nil {
		t.Fatalf("code past ExpiresAt but before PurgeAt deleted: %v", err)
	}
	if _, err := s.DeleteExpired(ctx(t), at(time.Hour)); err != nil {
		t.Fatal(err)
	}
	_, err := s.GetAuthCode(ctx(t), c.Hash)
	wantErr(t, err, store.ErrNotFound)
	if _, err := s.GetWebSession(ctx(t), w.IDHash); err != nil {
		t.Fatalf("live session deleted: %v", err)
	}
	if _, err := s.DeleteExpired(ctx(t), at(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	_, err = s.GetWebSession(ctx(t), w.IDHash)
	wantErr(t, err, store.ErrNotFound)
}
