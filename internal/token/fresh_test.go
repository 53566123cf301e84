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
