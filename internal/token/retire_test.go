package token

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tokengate/tokengate/internal/store"
)

// TestTokenSignedAfterRetirementRefused: a node that has not reloaded yet
// signs with the key another node retired, for at most the reload interval;
// a token whose iat is later than that (a stolen retired key, or a node
// that never reloads) is refused everywhere.
func TestTokenSignedAfterRetirementRefused(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	ks := &fakeKeys{}
	opts := Options{MaxTokenTTL: time.Hour, ReloadInterval: 5 * time.Second}
	m := newManager(t, ks, clk, opts)
	node2 := newManager(t, ks, clk, opts)
	oldKid := m.ActiveKeyID()
	if _, err := m.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	rotatedAt := clk.now()

	clk.advance(4 * time.Second) // node2 has not reloaded yet
	inTime := mustSign(t, node2, accessClaims(clk.now()), TypeAccess)
	clk.advance(2 * time.Second) // past the reload interval: node2 should have reloaded
	late := mustSign(t, node2, accessClaims(clk.now()), TypeAccess)
	if err := node2.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	for _, v := range []*Manager{m, node2} {
		if _, err := v.Verify(inTime, accessOpts()); err != nil {
			t.Errorf("token signed with the retired key within the reload interval: %v", err)
		}
		if _, err := v.Verify(late, accessOpts()); !errors.Is(err, ErrRetiredKey) {
			t.Errorf("token signed with the retired key after the reload interval: %v, want ErrRetiredKey", err)
		}
	}

	// The review's case: the retired key's private half signs a token
	// long after retirement (iat after, exp 20 days ahead).
	c := accessClaims(rotatedAt.Add(time.Minute))
	c.ExpiresAt = c.IssuedAt.Add(20 * 24 * time.Hour)
	forged := signRaw(t, jose.EdDSA, privateOf(t, ks, oldKid), oldKid, TypeAccess, mustMarshal(t, &c))
	clk.set(rotatedAt.Add(2 * time.Minute))
	if _, err := m.Verify(forged, accessOpts()); !errors.Is(err, ErrRetiredKey) && !errors.Is(err, ErrLifetime) {
		t.Errorf("forged token of a retired key: %v, want refused", err)
	}
	c.ExpiresAt = c.IssuedAt.Add(10 * time.Minute)
	forged = signRaw(t, jose.EdDSA, privateOf(t, ks, oldKid), oldKid, TypeAccess, mustMarshal(t, &c))
	if _, err := m.Verify(forged, accessOpts()); !errors.Is(err, ErrRetiredKey) {
		t.Errorf("token of a retired key issued after retirement: %v, want ErrRetiredKey", err)
	}
	// Clock skew between nodes is covered by the leeway.
	o := accessOpts()
	o.Leeway = 2 * time.Second
	if _, err := m.Verify(late, o); err != nil {
		t.Errorf("late token within the leeway: %v", err)
	}
}

func mustMarshal(t *testing.T, c *Claims) []byte {
	t.Helper()
	b, err := marshalClaims(c)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestLifetimeBoundedByKind: a token living longer than any this server
// issues for its kind (typ) is refused, whoever signed it; so is one
// without iat, whose lifetime cannot be told.
func TestLifetimeBoundedByKind(t *testing.T) {
	clk := newClock()
	m := newManager(t, &fakeKeys{}, clk, Options{
		MaxTokenTTL:  30 * 24 * time.Hour,
		MaxLifetimes: map[string]time.Duration{TypeAccess: 15 * time.Minute, TypeJWT: 30 * 24 * time.Hour},
	})
	now := clk.now()
	jwtOpts := VerifyOptions{Issuer: issuer, Type: TypeJWT}
	for _, tc := range []struct {
		name string
		typ  string
		life time.Duration
		ok   bool
	}{
		{"access at its limit", TypeAccess, 15 * time.Minute, true},
		{"access a second longer", TypeAccess, 15*time.Minute + time.Second, false},
		{"access 20 days", TypeAccess, 20 * 24 * time.Hour, false},
		{"JWT at its limit", TypeJWT, 30 * 24 * time.Hour, true},
		{"JWT a day longer", TypeJWT, 31 * 24 * time.Hour, false},
	} {
		c := accessClaims(now)
		c.ExpiresAt = now.Add(tc.life)
		o := accessOpts()
		if tc.typ == TypeJWT {
			o = jwtOpts
		}
		_, err := m.Verify(mustSign(t, m, c, tc.typ), o)
		if tc.ok && err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		if !tc.ok && !errors.Is(err, ErrLifetime) {
			t.Errorf("%s: %v, want ErrLifetime", tc.name, err)
		}
	}
	c := accessClaims(now)
	c.IssuedAt = time.Time{}
	if _, err := m.Verify(mustSign(t, m, c, TypeAccess), accessOpts()); !errors.Is(err, ErrMalformed) {
		t.Errorf("token without iat: %v, want ErrMalformed", err)
	}
}

// TestRetiredKeyPublishedUntilItsLastToken: with 30-second tokens and a
// 5-second reload, a node that had not reloaded signs with the retired
// key up to 5 s after the rotation; the key stays published (and
// verifying) until those tokens expire, and no longer.
func TestRetiredKeyPublishedUntilItsLastToken(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	opts := Options{MaxTokenTTL: 30 * time.Second, ReloadInterval: 5 * time.Second}
	ks := &fakeKeys{}
	m := newManager(t, ks, clk, opts)
	node2 := newManager(t, ks, clk, opts)
	oldKid := m.ActiveKeyID()
	if _, err := m.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	rotatedAt := clk.now()
	clk.advance(5 * time.Second)
	c := accessClaims(clk.now())
	c.ExpiresAt = clk.now().Add(30 * time.Second)
	tok := mustSign(t, node2, c, TypeAccess)

	if infos := m.Keys(); infos[1].ID != oldKid || !infos[1].ExpiresAt.Equal(rotatedAt.Add(35*time.Second)) {
		t.Errorf("retired key expires at %v, want rotation + TTL + reload = %v", infos[1].ExpiresAt, rotatedAt.Add(35*time.Second))
	}
	clk.set(c.ExpiresAt.Add(-100 * time.Millisecond))
	if err := m.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(jwksKids(t, m), oldKid) {
		t.Errorf("retired key left the JWKS before its last token expired")
	}
	if _, err := m.Verify(tok, accessOpts()); err != nil {
		t.Errorf("last token of the retired key, just before its exp: %v", err)
	}
	clk.set(c.ExpiresAt)
	if err := m.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if slices.Contains(jwksKids(t, m), oldKid) {
		t.Errorf("retired key still published after its last token expired")
	}
}

// TestRevokeKey: a revoked key leaves the JWKS and its tokens fail
// VerifyFresh at once on every node, reloaded or not.
func TestRevokeKey(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	ks := &fakeKeys{}
	opts := Options{MaxTokenTTL: time.Hour, ReloadInterval: 5 * time.Second}
	m := newManager(t, ks, clk, opts)
	node2 := newManager(t, ks, clk, opts)
	oldKid := m.ActiveKeyID()
	oldTok := mustSign(t, m, accessClaims(clk.now()), TypeAccess)
	if _, err := m.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	newTok := mustSign(t, m, accessClaims(clk.now()), TypeAccess)
	if err := node2.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := node2.VerifyFresh(ctx, oldTok, accessOpts()); err != nil {
		t.Fatalf("retired key's token before revocation: %v", err)
	}

	rotated, err := m.Revoke(ctx, oldKid)
	if err != nil || rotated.ID != "" {
		t.Fatalf("Revoke of a retired key: %+v, %v", rotated, err)
	}
	if slices.Contains(jwksKids(t, m), oldKid) {
		t.Error("revoked key still in the JWKS")
	}
	if _, err := m.Verify(oldTok, accessOpts()); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("revoking node verifies the revoked key's token: %v", err)
	}
	// node2 has not reloaded: VerifyFresh asks the store.
	if _, err := node2.VerifyFresh(ctx, oldTok, accessOpts()); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("other node, before reload, VerifyFresh of the revoked key's token: %v, want ErrUnknownKey", err)
	}
	if _, err := node2.VerifyFresh(ctx, newTok, accessOpts()); err != nil {
		t.Errorf("other node, token of the active key: %v", err)
	}
	if err := node2.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := node2.Verify(oldTok, accessOpts()); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("other node after reload: %v", err)
	}
	if infos := node2.Keys(); infos[1].ID != oldKid || infos[1].Published || infos[1].RevokedAt.IsZero() {
		t.Errorf("Keys after revocation: %+v", infos)
	}

	// Revoking the active key rotates first.
	active := m.ActiveKeyID()
	rotated, err = m.Revoke(ctx, active)
	if err != nil || rotated.ID == "" || rotated.ID == active || m.ActiveKeyID() != rotated.ID {
		t.Fatalf("Revoke of the active key: %+v, %v (active now %s)", rotated, err, m.ActiveKeyID())
	}
	if _, err := node2.VerifyFresh(ctx, newTok, accessOpts()); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("token of the revoked (formerly active) key: %v", err)
	}
	if _, err := m.Verify(mustSign(t, m, accessClaims(clk.now()), TypeAccess), accessOpts()); err != nil {
		t.Errorf("token of the new key: %v", err)
	}
	if _, err := m.Revoke(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Revoke of an unknown kid: %v, want ErrNotFound", err)
	}
}
