package oauth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokengate/tokengate/internal/secret"
	"github.com/tokengate/tokengate/internal/store"
	"github.com/tokengate/tokengate/internal/store/memory"
	"github.com/tokengate/tokengate/internal/token"
)

// fakeSigner issues tokens that are only handles to the claims it keeps:
// the core's decisions can be tested without keys or cryptography.
type fakeSigner struct {
	mu     sync.Mutex
	claims map[string]token.Claims
}

func (f *fakeSigner) Sign(c token.Claims, typ string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.claims == nil {
		f.claims = map[string]token.Claims{}
	}
	tok := "fake." + typ + "." + strconv.Itoa(len(f.claims))
	f.claims[tok] = c
	return tok, nil
}

func (f *fakeSigner) VerifyFresh(_ context.Context, raw string, o token.VerifyOptions) (token.Claims, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.claims[raw]
	if !ok || !strings.HasPrefix(raw, "fake."+o.Type+".") {
		return token.Claims{}, errors.New("fake: unknown token")
	}
	if !o.Now.Before(c.ExpiresAt) {
		return token.Claims{}, token.ErrExpired
	}
	return c, nil
}

// fakeKeyID is the kid the fake signer reports for every token.
const fakeKeyID = "fake-key"

func (f *fakeSigner) VerifyFreshWith(ctx context.Context, raw string, o token.VerifyOptions, revoked func(context.Context, token.Claims, string) (bool, error)) (token.Claims, error) {
	c, err := f.VerifyFresh(ctx, raw, o)
	if err != nil {
		return c, err
	}
	rev, err := revoked(ctx, c, fakeKeyID)
	if err != nil {
		return token.Claims{}, err
	}
	if rev {
		return token.Claims{}, token.ErrUnknownKey
	}
	return c, nil
}

// fakeMACKey is the fake signer's refresh-token MAC key, named "fk".
var fakeMACKey = []byte("0123456789abcdef0123456789abcdef")

func (f *fakeSigner) NewRefresh(c token.RefreshClaims, rnd io.Reader) (string, error) {
	return token.SealRefresh("fk", fakeMACKey, c, rnd)
}

func (f *fakeSigner) OpenRefresh(raw string) (token.RefreshClaims, error) {
	return token.OpenRefresh(raw, func(id string) []byte {
		if id == "fk" {
			return fakeMACKey
		}
		return nil
	})
}

// coreFixture is a Service on the memory store, a fake signer and a
// settable clock, with user alice and client web.
type coreFixture struct {
	svc   *Service
	store store.Store
	now   time.Time
	web   store.Client
}

func newCoreFixture(t *testing.T, st store.Store) *coreFixture {
	t.Helper()
	h, err := secret.NewHasher(secret.HasherOptions{Params: secret.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}})
	if err != nil {
		t.Fatal(err)
	}
	fx := &coreFixture{store: st, now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	fx.svc, err = NewService(Options{Store: st, Signer: &fakeSigner{}, Hasher: h, Settings: Settings{Issuer: "https://issuer.test"}, Now: func() time.Time { return fx.now }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	pw, err := h.Hash(ctx, "alice-pw")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateUser(ctx, store.User{Username: "alice", PasswordHash: pw, CreatedAt: fx.now, UpdatedAt: fx.now}); err != nil {
		t.Fatal(err)
	}
	fx.web = store.Client{ID: "web", Public: true, Grants: []string{GrantPassword, GrantRefreshToken}, Scopes: []string{"read"}, CreatedAt: fx.now}
	if err := st.CreateClient(ctx, fx.web); err != nil {
		t.Fatal(err)
	}
	return fx
}

func (fx *coreFixture) login(t *testing.T) *TokenResponse {
	t.Helper()
	resp, err := fx.svc.Token(context.Background(), &TokenRequest{GrantType: GrantPassword, ClientID: "web", Username: "alice", Password: "alice-pw"}, &Profile{})
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func (fx *coreFixture) active(t *testing.T, tok string) bool {
	t.Helper()
	in, err := fx.svc.Introspect(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	return in.Active
}

// racingStore lets another rotation of the same family win just before
// the service's compare-and-set, as a concurrent request on another node
// would.
type racingStore struct {
	*memory.Store
	once sync.Once
}

func (r *racingStore) AdvanceFamily(ctx context.Context, a store.Advance) error {
	var err error
	r.once.Do(func() {
		err = r.Store.AdvanceFamily(ctx, store.Advance{FamilyID: a.FamilyID, Generation: a.Generation, NewHash: []byte("winner"), Now: a.Now, ExpiresAt: a.ExpiresAt})
	})
	if err != nil {
		return fmt.Errorf("racing store: %w", err)
	}
	return r.Store.AdvanceFamily(ctx, a)
}

// TestRefreshThatLosesTheCompareAndSetDecidesAgain: the family moved on
// between the read and the write; the service reads again, sees its token
// was already rotated, and treats it as reuse.
func TestRefreshThatLosesTheCompareAndSetDecidesAgain(t *testing.T) {
	st := &racingStore{Store: memory.New()}
	fx := newCoreFixture(t, st)
	rt := fx.login(t).RefreshToken
	_, err := fx.svc.Refresh(context.Background(), &fx.web, rt, "", false, &Profile{})
	if AsError(err) != errReusedRefresh {
		t.Fatalf("refresh that lost the race: %v, want reuse", err)
	}
	rc, err := fx.svc.signer.OpenRefresh(rt)
	if err != nil {
		t.Fatal(err)
	}
	fam, err := st.GetFamily(context.Background(), rc.Family)
	if err != nil || !fam.Revoked || string(fam.Hash) != "winner" {
		t.Fatalf("family after the lost race: %+v %v, want revoked", fam, err)
	}
}

// TestIntrospectionFollowsSessionsOnAnInjectedClock: the sid of an access
// token follows its family, and a user's not-before time ends the tokens
// issued in earlier seconds, not those issued later.
func TestIntrospectionFollowsSessionsOnAnInjectedClock(t *testing.T) {
	ctx := context.Background()
	fx := newCoreFixture(t, memory.New())
	first := fx.login(t)
	if !fx.active(t, first.AccessToken) || !fx.active(t, first.RefreshToken) {
		t.Fatal("fresh tokens inactive")
	}
	fx.now = fx.now.Add(1500 * time.Millisecond)
	if _, err := fx.store.EndSessions(ctx, "alice", fx.now); err != nil {
		t.Fatal(err)
	}
	if fx.active(t, first.AccessToken) || fx.active(t, first.RefreshToken) {
		t.Fatal("tokens issued before the sessions ended are active")
	}
	second := fx.login(t)
	if !fx.active(t, second.AccessToken) {
		t.Fatal("token issued after the sessions ended is inactive")
	}
	// Revoking the family (RFC 7009) ends its access token.
	if err := fx.svc.Revoke(ctx, &Client{rec: fx.web}, second.RefreshToken); err != nil {
		t.Fatal(err)
	}
	if fx.active(t, second.AccessToken) {
		t.Fatal("access token of a revoked family is active")
	}
	// Expiry is the signer's business: past it the token is inactive.
	third := fx.login(t)
	fx.now = third.ExpiresAt
	if fx.active(t, third.AccessToken) {
		t.Fatal("expired access token active")
	}
}
