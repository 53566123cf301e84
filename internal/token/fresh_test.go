package token

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestVerifyFreshPicksUpAKeyRotatedElsewhere: node B does not know the key
// node A rotated in until it re-reads the store; VerifyFresh does that on
// the unknown kid, at most once per interval.
func TestVerifyFreshPicksUpAKeyRotatedElsewhere(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	ks := &fakeKeys{}
	a := newManager(t, ks, clk, Options{})
	b := newManager(t, ks, clk, Options{})
	if _, err := a.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	opts := VerifyOptions{Issuer: issuer, Type: TypeAccess}
	tok := mustSign(t, a, accessClaims(clk.now()), TypeAccess)
	if _, err := b.Verify(tok, opts); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("plain Verify on the stale node: %v, want ErrUnknownKey", err)
	}
	if _, err := b.VerifyFresh(ctx, tok, opts); err != nil {
		t.Fatalf("VerifyFresh: %v", err)
	}

	// Another rotation within the interval: no second re-read yet.
	clk.advance(100 * time.Millisecond)
	if _, err := a.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	tok2 := mustSign(t, a, accessClaims(clk.now()), TypeAccess)
	if _, err := b.VerifyFresh(ctx, tok2, opts); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("second unknown kid within the interval: %v, want ErrUnknownKey", err)
	}
	clk.advance(freshInterval)
	if _, err := b.VerifyFresh(ctx, tok2, opts); err != nil {
		t.Fatalf("after the interval: %v", err)
	}
}

// TestVerifyFreshWithLeavesTheRevocationReadToTheCaller: the caller's
// check is asked once, for a token that otherwise verified, with its
// claims and the kid that signed it; revoked means ErrUnknownKey, and
// the check's error comes back wrapped. A token that fails verification
// never reaches it.
func TestVerifyFreshWithLeavesTheRevocationReadToTheCaller(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	m := newManager(t, &fakeKeys{}, clk, Options{})
	opts := VerifyOptions{Issuer: issuer, Type: TypeAccess}
	tok := mustSign(t, m, accessClaims(clk.now()), TypeAccess)

	var calls int
	check := func(revoked bool, err error) func(context.Context, Claims, string) (bool, error) {
		return func(_ context.Context, c Claims, kid string) (bool, error) {
			calls++
			if kid != m.ActiveKeyID() || c.ID != "jti-1" {
				t.Errorf("check called with kid %q, jti %q", kid, c.ID)
			}
			return revoked, err
		}
	}
	if c, err := m.VerifyFreshWith(ctx, tok, opts, check(false, nil)); err != nil || c.Subject != "alice" || calls != 1 {
		t.Fatalf("not revoked: %v %+v, %d calls", err, c, calls)
	}
	if _, err := m.VerifyFreshWith(ctx, tok, opts, check(true, nil)); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("revoked: %v, want ErrUnknownKey", err)
	}
	storeDown := errors.New("store down")
	if _, err := m.VerifyFreshWith(ctx, tok, opts, check(false, storeDown)); !errors.Is(err, storeDown) {
		t.Fatalf("check failing: %v, want it wrapped", err)
	}
	calls = 0
	if _, err := m.VerifyFreshWith(ctx, tok+"x", opts, check(false, nil)); err == nil || calls != 0 {
		t.Fatalf("altered token: %v, %d calls of the check", err, calls)
	}
	if _, err := m.VerifyFreshWith(ctx, tok, VerifyOptions{Issuer: issuer, Type: TypeJWT}, check(false, nil)); err == nil || calls != 0 {
		t.Fatalf("wrong type: %v, %d calls of the check", err, calls)
	}
}
