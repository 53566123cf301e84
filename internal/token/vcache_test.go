package token

import (
	"context"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestVerifiedTokenIsCheckedAgainOnEveryUse: a token whose signature
// verified is remembered, but what depends on the time, the expected type
// and the key's state is checked again each time it is presented.
func TestVerifiedTokenIsCheckedAgainOnEveryUse(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	ks := &fakeKeys{}
	m := newManager(t, ks, clk, Options{})
	c := accessClaims(clk.now())
	c.Extra = map[string]any{"sid": "fam-1"}
	tok := mustSign(t, m, c, TypeAccess)
	opts := VerifyOptions{Issuer: issuer, Type: TypeAccess}

	got, err := m.VerifyFresh(ctx, tok, opts)
	if err != nil {
		t.Fatal(err)
	}
	if m.seen.len() != 1 {
		t.Fatalf("%d tokens remembered after one verification, want 1", m.seen.len())
	}
	// The caller's copy is its own: changing it changes nothing cached.
	got.Extra["sid"] = "changed"
	got.Audience[0] = "changed"
	again, err := m.VerifyFresh(ctx, tok, opts)
	if err != nil {
		t.Fatal(err)
	}
	if again.Extra["sid"] != "fam-1" || again.Audience[0] == "changed" {
		t.Fatalf("cached claims were changed through a caller's copy: %+v", again)
	}
	if _, err := m.Verify(tok, VerifyOptions{Issuer: issuer, Type: TypeJWT}); !errors.Is(err, ErrType) {
		t.Errorf("remembered access token as another type: %v, want ErrType", err)
	}
	if _, err := m.Verify(tok, VerifyOptions{Issuer: "https://other.example", Type: TypeAccess}); !errors.Is(err, ErrIssuer) {
		t.Errorf("remembered token for another issuer: %v, want ErrIssuer", err)
	}
	// One changed byte is another token: a miss, and a bad signature.
	parts := strings.Split(tok, ".")
	sig := []byte(parts[2])
	sig[0] ^= 'A' ^ 'B'
	if sig[0] == parts[2][0] {
		sig[0] = 'C'
	}
	if _, err := m.Verify(parts[0]+"."+parts[1]+"."+string(sig), opts); !errors.Is(err, ErrSignature) && !errors.Is(err, ErrMalformed) {
		t.Errorf("altered remembered token: %v, want a signature error", err)
	}
	// Revoking the key ends the remembered token at once.
	kid := m.ActiveKeyID()
	if _, err := m.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Revoke(ctx, kid); err != nil {
		t.Fatal(err)
	}
	if _, err := m.VerifyFresh(ctx, tok, opts); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("remembered token of a revoked key: %v, want ErrUnknownKey", err)
	}
	// And expiry holds whatever was remembered.
	tok2 := mustSign(t, m, accessClaims(clk.now()), TypeAccess)
	if _, err := m.VerifyFresh(ctx, tok2, opts); err != nil {
		t.Fatal(err)
	}
	clk.advance(time.Hour)
	if _, err := m.VerifyFresh(ctx, tok2, opts); !errors.Is(err, ErrExpired) {
		t.Errorf("remembered token after its expiry: %v, want ErrExpired", err)
	}
}

// TestVerifiedCacheIsBounded: a flood of distinct valid tokens keeps at
// most verifiedCap of them.
func TestVerifiedCacheIsBounded(t *testing.T) {
	var vc verifiedCache
	for i := range verifiedCap + 100 {
		vc.put(sha256.Sum256([]byte{byte(i), byte(i >> 8), byte(i >> 16)}), verified{kid: "k"})
	}
	if n := vc.len(); n != verifiedCap {
		t.Fatalf("%d entries, want %d", n, verifiedCap)
	}
}
