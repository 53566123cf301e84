package oauth

import (
	"context"
	"testing"
	"time"

	"github.com/tokengate/tokengate/internal/store/memory"
)

// TestExtraClaimsHook: a profile's hook adds a contract's claims to access
// and JWT refresh tokens, told which kind and lifetime it is asked about,
// and cannot replace a claim the core sets.
func TestExtraClaimsHook(t *testing.T) {
	fx := newCoreFixture(t, memory.New())
	signer := fx.svc.signer.(*fakeSigner)
	type call struct {
		kind TokenKind
		ttl  time.Duration
	}
	var calls []call
	p := &Profile{JWTRefresh: true, ExtraClaims: func(kind TokenKind, ttl time.Duration) map[string]any {
		calls = append(calls, call{kind, ttl})
		return map[string]any{"kind": int(kind), "sub": "mallory", "sid": "forged", "scope": "admin"}
	}}
	resp, err := fx.svc.Token(context.Background(), &TokenRequest{GrantType: GrantPassword, ClientID: "web", Username: "alice", Password: "alice-pw"}, p)
	if err != nil {
		t.Fatal(err)
	}
	at, rt := signer.claims[resp.AccessToken], signer.claims[resp.RefreshToken]
	if at.Extra["kind"] != int(KindAccess) || rt.Extra["kind"] != int(KindRefresh) {
		t.Fatalf("hook claims: access %v, refresh %v", at.Extra, rt.Extra)
	}
	if at.Subject != "alice" || rt.Subject != "alice" || at.Scope == "admin" || at.Extra["sid"] == "forged" || at.Extra["sid"] == nil {
		t.Fatalf("the hook replaced registered claims: access %+v", at)
	}
	if _, ok := rt.Extra["sub"]; ok {
		t.Fatalf("a registered claim went into Extra: %v", rt.Extra)
	}
	want := []call{{KindAccess, 15 * time.Minute}, {KindRefresh, 30 * 24 * time.Hour}}
	if len(calls) != 2 || calls[0] != want[0] && calls[1] != want[0] || calls[0] != want[1] && calls[1] != want[1] {
		t.Fatalf("hook calls %v, want %v in some order", calls, want)
	}
	// Without a hook the core adds nothing but sid.
	resp, err = fx.svc.Token(context.Background(), &TokenRequest{GrantType: GrantPassword, ClientID: "web", Username: "alice", Password: "alice-pw"}, &Profile{})
	if err != nil {
		t.Fatal(err)
	}
	if ex := signer.claims[resp.AccessToken].Extra; len(ex) != 1 || ex["sid"] == nil {
		t.Fatalf("claims without a hook: %v", ex)
	}
}
