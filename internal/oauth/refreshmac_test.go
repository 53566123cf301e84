package oauth

import (
	"context"
	"crypto/rand"

	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokengate/tokengate/internal/secret"
	"github.com/tokengate/tokengate/internal/store"
	"github.com/tokengate/tokengate/internal/store/memory"
	"github.com/tokengate/tokengate/internal/token"
)

// familyReads counts the family reads of a memory store, to show that a
// refused token never touched one.
type familyReads struct {
	*memory.Store
	reads atomic.Int64
}

func (f *familyReads) GetFamily(ctx context.Context, id string) (store.Family, error) {
	f.reads.Add(1)
	return f.Store.GetFamily(ctx, id)
}

func (f *familyReads) GetRefresh(ctx context.Context, hash []byte) (store.RefreshToken, store.Family, error) {
	f.reads.Add(1)
	return f.Store.GetRefresh(ctx, hash)
}

// refreshAs runs the refresh grant for client web with rt on route p.
func (fx *coreFixture) refreshAs(rt string, p *Profile) (*TokenResponse, error) {
	return fx.svc.Refresh(context.Background(), &fx.web, rt, "", false, p)
}

// claimsOf reads what an opaque refresh token states.
func (fx *coreFixture) claimsOf(t *testing.T, rt string) token.RefreshClaims {
	t.Helper()
	rc, err := fx.svc.signer.OpenRefresh(rt)
	if err != nil {
		t.Fatal(err)
	}
	return rc
}

func (fx *coreFixture) family(t *testing.T, id string) store.Family {
	t.Helper()
	f, err := fx.store.GetFamily(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestForgedOrAlteredRefreshTouchesNoFamily: a refresh token whose MAC
// does not verify (made without the key, or with its family or generation
// changed) is refused as unknown before any family is read, and the
// session it names goes on.
func TestForgedOrAlteredRefreshTouchesNoFamily(t *testing.T) {
	st := &familyReads{Store: memory.New()}
	fx := newCoreFixture(t, st)
	rt := fx.login(t).RefreshToken
	rc := fx.claimsOf(t, rt)
	f := strings.Split(rt, ".")
	withField := func(i int, v string) string {
		g := append([]string(nil), f...)
		g[i] = v
		return strings.Join(g, ".")
	}
	forged, err := token.SealRefresh("fk", []byte("not the server's MAC key, 32 b!!"), token.RefreshClaims{Family: rc.Family, Generation: 0, ExpiresAt: rc.ExpiresAt}, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	// alter changes the last character (to one it is not: a random id
	// ends in "x" one time in 64).
	alter := func(s string) string {
		if strings.HasSuffix(s, "x") {
			return s[:len(s)-1] + "y"
		}
		return s[:len(s)-1] + "x"
	}
	reads := st.reads.Load()
	for name, bad := range map[string]string{
		"forged MAC":                        forged,
		"altered family":                    withField(1, alter(rc.Family)),
		"altered generation (an ancestor)":  withField(2, "1"),
		"altered expiry":                    withField(3, strconv.FormatInt(rc.ExpiresAt.Add(time.Hour).UnixNano(), 36)),
		"unknown key id":                    withField(0, "tgr_zzzzzzzz"),
		"an earlier-form token never known": "tgr_" + strings.Repeat("q", 43),
	} {
		_, err := fx.refreshAs(bad, &Profile{})
		if AsError(err) != errUnknownRefresh {
			t.Errorf("%s: %v, want the unknown-token error", name, err)
		}
		if got := st.reads.Load() - reads; got != 0 && name != "an earlier-form token never known" {
			t.Errorf("%s: %d family reads, want none", name, got)
		}
		reads = st.reads.Load()
	}
	if fam := fx.family(t, rc.Family); fam.Revoked || fam.Generation != 0 {
		t.Fatalf("a refused token changed its family: %+v", fam)
	}
	if _, err := fx.refreshAs(rt, &Profile{}); err != nil {
		t.Fatalf("the real token after the forgeries: %v", err)
	}
}

// TestValidMACNeverIssuedRevokes: a token whose MAC verifies but whose
// hash is not the live token's (only a leaked MAC key makes one) is
// refused and, failing closed, revokes the family.
func TestValidMACNeverIssuedRevokes(t *testing.T) {
	fx := newCoreFixture(t, memory.New())
	rt := fx.login(t).RefreshToken
	rc := fx.claimsOf(t, rt)
	bad, err := token.SealRefresh("fk", fakeMACKey, rc, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fx.refreshAs(bad, &Profile{}); AsError(err) != errUnknownRefresh {
		t.Fatalf("never-issued token: %v, want the unknown-token error", err)
	}
	if !fx.family(t, rc.Family).Revoked {
		t.Fatal("family not revoked")
	}
	if _, err := fx.refreshAs(rt, &Profile{}); AsError(err) != errRevokedRefresh {
		t.Fatalf("the real token afterwards: %v, want revoked", err)
	}
}

// TestGenerationAheadChangesNothing: a verified token of a generation the
// family has not reached (the store was restored from a backup taken
// before it was issued) is refused as unknown and leaves the session to
// the token the store knows.
func TestGenerationAheadChangesNothing(t *testing.T) {
	fx := newCoreFixture(t, memory.New())
	rt := fx.login(t).RefreshToken
	rc := fx.claimsOf(t, rt)
	rc.Generation = 1
	ahead, err := token.SealRefresh("fk", fakeMACKey, rc, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fx.refreshAs(ahead, &Profile{}); AsError(err) != errUnknownRefresh {
		t.Fatalf("token ahead of its family: %v, want the unknown-token error", err)
	}
	if f := fx.family(t, rc.Family); f.Revoked || f.Generation != 0 {
		t.Fatalf("a token ahead changed its family: %+v", f)
	}
	if _, err := fx.refreshAs(rt, &Profile{}); err != nil {
		t.Fatalf("the token the store knows: %v", err)
	}
}

// TestAncestorReuseRevokesWithoutRows: presenting the token of two
// generations back (or any older one) revokes the family although no row
// of it exists; the store holds one family record however many rotations.
func TestAncestorReuseRevokesWithoutRows(t *testing.T) {
	fx := newCoreFixture(t, memory.New())
	fx.web.RefreshReuseInterval = time.Hour // no grace beyond the previous generation
	toks := []string{fx.login(t).RefreshToken}
	for range 3 {
		resp, err := fx.refreshAs(toks[len(toks)-1], &Profile{})
		if err != nil {
			t.Fatal(err)
		}
		toks = append(toks, resp.RefreshToken)
	}
	rc := fx.claimsOf(t, toks[3])
	if rc.Generation != 3 {
		t.Fatalf("generation %d after three rotations", rc.Generation)
	}
	if _, _, err := fx.store.GetRefresh(context.Background(), secret.Hash(toks[0])); err == nil {
		t.Fatal("a token row was stored")
	}
	if _, err := fx.refreshAs(toks[1], &Profile{}); AsError(err) != errReusedRefresh {
		t.Fatalf("ancestor two generations back: %v, want reuse", err)
	}
	if !fx.family(t, rc.Family).Revoked {
		t.Fatal("family not revoked")
	}
	for i, rt := range toks {
		if _, err := fx.refreshAs(rt, &Profile{}); AsError(err) != errRevokedRefresh {
			t.Errorf("token %d after the reuse: %v, want revoked", i, err)
		}
	}
}

// TestReuseIntervalGraceByGeneration: the token rotated most recently,
// presented again within the client's reuse interval, rotates again (a
// lost answer); past the interval it is reuse and revokes.
func TestReuseIntervalGraceByGeneration(t *testing.T) {
	fx := newCoreFixture(t, memory.New())
	fx.web.RefreshReuseInterval = 10 * time.Second
	t0 := fx.login(t).RefreshToken
	r1, err := fx.refreshAs(t0, &Profile{})
	if err != nil {
		t.Fatal(err)
	}
	fx.now = fx.now.Add(5 * time.Second)
	r2, err := fx.refreshAs(t0, &Profile{})
	if err != nil {
		t.Fatalf("retry within the interval: %v", err)
	}
	if rc := fx.claimsOf(t, r2.RefreshToken); rc.Generation != 2 {
		t.Fatalf("grace rotation made generation %d, want 2", rc.Generation)
	}
	// Past the interval (counted from the latest rotation), an older
	// token is reuse.
	fx.now = fx.now.Add(10 * time.Second)
	if _, err := fx.refreshAs(r1.RefreshToken, &Profile{}); AsError(err) != errReusedRefresh {
		t.Fatalf("previous token past the interval: %v, want reuse", err)
	}
	if _, err := fx.refreshAs(r2.RefreshToken, &Profile{}); AsError(err) != errRevokedRefresh {
		t.Fatalf("live token after the reuse: %v, want revoked", err)
	}
}

// TestRevokedOrDeletedFamilyToken: the token of a revoked family is
// refused as revoked; that of a family that no longer exists (expired and
// cleaned up) as unknown.
func TestRevokedOrDeletedFamilyToken(t *testing.T) {
	fx := newCoreFixture(t, memory.New())
	rt := fx.login(t).RefreshToken
	rc := fx.claimsOf(t, rt)
	if err := fx.svc.Revoke(context.Background(), &Client{rec: fx.web}, rt); err != nil {
		t.Fatal(err)
	}
	if _, err := fx.refreshAs(rt, &Profile{}); AsError(err) != errRevokedRefresh {
		t.Fatalf("token of a revoked family: %v, want revoked", err)
	}
	if _, err := fx.store.DeleteExpired(context.Background(), rc.ExpiresAt.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := fx.store.GetFamily(context.Background(), rc.Family); err == nil {
		t.Fatal("expired family kept")
	}
	fx.now = rc.ExpiresAt.Add(-time.Minute) // the token itself still unexpired
	if _, err := fx.refreshAs(rt, &Profile{}); AsError(err) != errUnknownRefresh {
		t.Fatalf("token of a deleted family: %v, want unknown", err)
	}
}

// TestParallelRefreshesOfOneTokenRotateOnce: 100 refreshes of one token at
// once make exactly one rotation; the others are reuse, which revokes.
func TestParallelRefreshesOfOneTokenRotateOnce(t *testing.T) {
	fx := newCoreFixture(t, memory.New())
	rt := fx.login(t).RefreshToken
	rc := fx.claimsOf(t, rt)
	const n = 100
	var ok atomic.Int64
	start := make(chan struct{})
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			<-start
			_, err := fx.refreshAs(rt, &Profile{})
			switch e := AsError(err); {
			case err == nil:
				ok.Add(1)
			case e != errReusedRefresh && e != errRevokedRefresh:
				t.Errorf("unexpected error %v", err)
			}
		})
	}
	close(start)
	wg.Wait()
	f := fx.family(t, rc.Family)
	if ok.Load() != 1 || f.Generation != 1 || !f.Revoked {
		t.Fatalf("%d successes, family %+v; want one rotation, then revoked by the reuse", ok.Load(), f)
	}
}

// TestIntrospectAndRevokeByGeneration: introspection answers active only
// for the live generation; revoking any token of the family (RFC 7009),
// an ancestor included, ends it, and only for its own client.
func TestIntrospectAndRevokeByGeneration(t *testing.T) {
	fx := newCoreFixture(t, memory.New())
	t0 := fx.login(t).RefreshToken
	r1, err := fx.refreshAs(t0, &Profile{})
	if err != nil {
		t.Fatal(err)
	}
	if fx.active(t, t0) {
		t.Error("rotated token introspects active")
	}
	in, err := fx.svc.Introspect(context.Background(), r1.RefreshToken)
	if err != nil || !in.Active || in.TokenType != "refresh_token" || in.ClientID != "web" || in.Username != "alice" || in.Iat != fx.now.Unix() {
		t.Fatalf("live token: %+v %v", in, err)
	}
	forged, _ := token.SealRefresh("fk", fakeMACKey, fx.claimsOf(t, r1.RefreshToken), rand.Reader)
	if fx.active(t, forged) {
		t.Error("never-issued token of the live generation introspects active")
	}
	other := store.Client{ID: "other"}
	if err := fx.svc.Revoke(context.Background(), &Client{rec: other}, t0); err != nil {
		t.Fatal(err)
	}
	if !fx.active(t, r1.RefreshToken) {
		t.Fatal("another client's revocation ended the session")
	}
	if err := fx.svc.Revoke(context.Background(), &Client{rec: fx.web}, t0); err != nil {
		t.Fatal(err)
	}
	if fx.active(t, r1.RefreshToken) {
		t.Fatal("revoking an ancestor left the session active")
	}
}

// TestJWTRefreshStatesFamilyAndGeneration: a JWT refresh token carries
// sid and gen claims under its signature; it rotates by generation and
// an ancestor's reuse revokes without any token row.
func TestJWTRefreshStatesFamilyAndGeneration(t *testing.T) {
	fx := newCoreFixture(t, memory.New())
	p := &Profile{JWTRefresh: true}
	resp, err := fx.svc.Token(context.Background(), &TokenRequest{GrantType: GrantPassword, ClientID: "web", Username: "alice", Password: "alice-pw"}, p)
	if err != nil {
		t.Fatal(err)
	}
	t0 := resp.RefreshToken
	r1, err := fx.refreshAs(t0, p)
	if err != nil {
		t.Fatal(err)
	}
	cl := fx.svc.signer.(*fakeSigner).claims[r1.RefreshToken]
	sid, _ := cl.Extra[ClaimSession].(string)
	if cl.Extra[ClaimGeneration] != int64(1) || sid == "" {
		t.Fatalf("JWT refresh claims %v, want sid and gen 1", cl.Extra)
	}
	if _, err := fx.refreshAs(r1.RefreshToken, p); err != nil {
		t.Fatal(err)
	}
	if _, err := fx.refreshAs(t0, p); AsError(err) != errReusedRefresh {
		t.Fatalf("JWT ancestor: %v, want reuse", err)
	}
	if !fx.family(t, sid).Revoked {
		t.Fatal("family not revoked")
	}
}

// TestStoredTokensOfTheEarlierFormStillWork: a token issued before
// migration 0011 (a row of its own) refreshes into the new form, and the
// rows of its ancestors are still recognised as reuse.
func TestStoredTokensOfTheEarlierFormStillWork(t *testing.T) {
	st := memory.New()
	fx := newCoreFixture(t, st)
	ctx := context.Background()
	exp := fx.now.Add(time.Hour)
	old := []string{"tgr_" + strings.Repeat("a", 43), "tgr_" + strings.Repeat("b", 43)}
	f := store.Family{ID: "legacyfam", Subject: "alice", ClientID: "web", Scopes: []string{"read"}, AuthTime: fx.now, Generation: 0, ExpiresAt: exp}
	if err := st.CreateFamily(ctx, f, store.RefreshToken{Hash: secret.Hash(old[0]), ExpiresAt: exp}); err != nil {
		t.Fatal(err)
	}
	if err := st.AdvanceFamily(ctx, store.Advance{FamilyID: f.ID, Generation: 0, NewHash: secret.Hash(old[1]), Now: fx.now, ExpiresAt: exp}); err != nil {
		t.Fatal(err)
	}
	for gen, rt := range old {
		st.PutLegacyRefreshToken(store.RefreshToken{Hash: secret.Hash(rt), FamilyID: f.ID, Generation: int64(gen), IssuedAt: fx.now, ExpiresAt: exp})
	}
	if !fx.active(t, old[1]) || fx.active(t, old[0]) {
		t.Fatal("stored tokens introspect wrongly")
	}
	fx.now = fx.now.Add(time.Minute)
	resp, err := fx.refreshAs(old[1], &Profile{})
	if err != nil {
		t.Fatalf("live stored token: %v", err)
	}
	if rc := fx.claimsOf(t, resp.RefreshToken); rc.Family != f.ID || rc.Generation != 2 {
		t.Fatalf("new token states %+v", rc)
	}
	if _, err := fx.refreshAs(old[0], &Profile{}); AsError(err) != errReusedRefresh {
		t.Fatalf("stored ancestor: %v, want reuse", err)
	}
	if _, err := fx.refreshAs(resp.RefreshToken, &Profile{}); AsError(err) != errRevokedRefresh {
		t.Fatalf("new token after the reuse: %v, want revoked", err)
	}
}
