package oauth

import (
	"testing"
	"time"

	"github.com/tokengate/tokengate/internal/store"
)

// TestDecideRefresh is the table of the refresh decision: every outcome,
// its boundaries (expiry inclusive, grace interval half-open, grace only
// for the generation just before the live one), and the order in which
// the checks apply.
func TestDecideRefresh(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	rotated := t0.Add(time.Minute)
	h := func(gen int64) []byte { return []byte{byte(gen), 0xAA} } // stands in for SHA-256 of generation gen's token
	fam := func(mod func(*store.Family)) store.Family {
		f := store.Family{ID: "f", ClientID: "web", Generation: 2, RotatedAt: rotated, SubjectActive: true, Hash: h(2), PrevHash: h(1)}
		if mod != nil {
			mod(&f)
		}
		return f
	}
	tok := func(gen int64) store.RefreshToken {
		return store.RefreshToken{Hash: h(gen), FamilyID: "f", Generation: gen, ExpiresAt: t0.Add(time.Hour)}
	}
	// other is a token that states generation gen under a valid MAC but
	// is not the one handed out for it (only a leaked key makes one).
	other := func(gen int64) store.RefreshToken {
		t := tok(gen)
		t.Hash = []byte{byte(gen), 0xBB}
		return t
	}
	const grace = 10 * time.Second
	for _, tc := range []struct {
		name   string
		tok    store.RefreshToken
		fam    store.Family
		client string
		reuse  time.Duration
		fixed  bool
		stored bool
		now    time.Time
		want   RefreshOutcome
	}{
		{name: "live token rotates", tok: tok(2), fam: fam(nil), now: rotated.Add(time.Hour / 2), want: RefreshRotate},
		{name: "live token of a fixed family is kept", tok: tok(2), fam: fam(nil), fixed: true, now: rotated, want: RefreshKeep},
		{name: "previous token within the interval grace-rotates", tok: tok(1), fam: fam(nil), reuse: grace, now: rotated.Add(grace - time.Nanosecond), want: RefreshGraceRotate},
		{name: "previous token at the end of the interval is reuse", tok: tok(1), fam: fam(nil), reuse: grace, now: rotated.Add(grace), want: RefreshReuse},
		{name: "previous token with a strict client is reuse", tok: tok(1), fam: fam(nil), now: rotated, want: RefreshReuse},
		{name: "two generations behind is reuse however recent", tok: tok(0), fam: fam(nil), reuse: time.Hour, now: rotated, want: RefreshReuse},
		{name: "previous token of a fixed family is reuse", tok: tok(1), fam: fam(nil), reuse: grace, fixed: true, now: rotated, want: RefreshReuse},
		{name: "revoked family", tok: tok(2), fam: fam(func(f *store.Family) { f.Revoked = true }), now: rotated, want: RefreshRevoked},
		{name: "revoked beats reuse", tok: tok(0), fam: fam(func(f *store.Family) { f.Revoked = true }), now: rotated, want: RefreshRevoked},
		{name: "expiry is inclusive", tok: tok(2), fam: fam(nil), now: t0.Add(time.Hour), want: RefreshExpired},
		{name: "expired beats reuse", tok: tok(0), fam: fam(nil), now: t0.Add(2 * time.Hour), want: RefreshExpired},
		{name: "just before expiry", tok: tok(2), fam: fam(nil), now: t0.Add(time.Hour - time.Nanosecond), want: RefreshRotate},
		{name: "disabled or deleted user", tok: tok(2), fam: fam(func(f *store.Family) { f.SubjectActive = false }), now: rotated, want: RefreshUserInactive},
		{name: "another client's token changes nothing", tok: tok(0), fam: fam(nil), client: "other", now: rotated, want: RefreshWrongClient},
		// A MAC'd token needs no row: its generation decides, and nothing
		// is issued unless its hash is the one the family stores.
		{name: "ancestor two generations back is reuse without a row", tok: other(0), fam: fam(nil), now: rotated, want: RefreshReuse},
		{name: "generation ahead of the family (a restored backup) changes nothing", tok: tok(3), fam: fam(nil), now: rotated, want: RefreshAhead},
		{name: "live generation with another hash is forged", tok: other(2), fam: fam(nil), now: rotated, want: RefreshForged},
		{name: "live generation of a fixed family with another hash is forged", tok: other(2), fam: fam(nil), fixed: true, now: rotated, want: RefreshForged},
		{name: "live generation of a family without a hash is forged", tok: tok(2), fam: fam(func(f *store.Family) { f.Hash = nil }), now: rotated, want: RefreshForged},
		{name: "grace needs the previous token's hash", tok: other(1), fam: fam(nil), reuse: grace, now: rotated, want: RefreshForged},
		{name: "previous generation with another hash after the interval is reuse", tok: other(1), fam: fam(nil), reuse: grace, now: rotated.Add(grace), want: RefreshReuse},
		{name: "revoked beats forged", tok: other(2), fam: fam(func(f *store.Family) { f.Revoked = true }), now: rotated, want: RefreshRevoked},
		{name: "expired beats forged", tok: other(2), fam: fam(nil), now: t0.Add(time.Hour), want: RefreshExpired},
		{name: "another client's forged token changes nothing", tok: tok(3), fam: fam(nil), client: "other", now: rotated, want: RefreshWrongClient},
		// A stored token of the earlier form: its row proves its generation.
		{name: "stored live token rotates without a family hash", tok: other(2), fam: fam(func(f *store.Family) { f.Hash = nil }), stored: true, now: rotated, want: RefreshRotate},
		{name: "stored previous token grace-rotates without a family hash", tok: other(1), fam: fam(func(f *store.Family) { f.PrevHash = nil }), stored: true, reuse: grace, now: rotated, want: RefreshGraceRotate},
		{name: "stored ancestor is reuse", tok: tok(0), fam: fam(nil), stored: true, now: rotated, want: RefreshReuse},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client := tc.client
			if client == "" {
				client = "web"
			}
			got := DecideRefresh(RefreshInput{Token: tc.tok, Family: tc.fam, Stored: tc.stored, ClientID: client, ReuseInterval: tc.reuse, Rotate: !tc.fixed, Now: tc.now})
			if got != tc.want {
				t.Fatalf("DecideRefresh = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestFamilyPolicyWinsOverTheRoute checks that a family's stored policy
// applies whatever route its token is presented at, and that a family
// stored before policies were (empty fields) follows the route.
func TestFamilyPolicyWinsOverTheRoute(t *testing.T) {
	rotating, fixedJWT := &Profile{}, &Profile{NoRotation: true, JWTRefresh: true}
	for _, tc := range []struct {
		f          store.Family
		p          *Profile
		rotate, jw bool
	}{
		{store.Family{Rotation: RotationFixed, Format: FormatJWT}, rotating, false, true},
		{store.Family{Rotation: RotationRotate, Format: FormatOpaque}, fixedJWT, true, false},
		{store.Family{}, fixedJWT, false, true},
		{store.Family{}, rotating, true, false},
	} {
		if got := FamilyRotates(tc.f, tc.p); got != tc.rotate {
			t.Errorf("FamilyRotates(%q, %+v) = %v", tc.f.Rotation, *tc.p, got)
		}
		if got := familyJWT(tc.f, tc.p); got != tc.jw {
			t.Errorf("familyJWT(%q, %+v) = %v", tc.f.Format, *tc.p, got)
		}
	}
	if r, f := policyOf(fixedJWT); r != RotationFixed || f != FormatJWT {
		t.Errorf("policyOf(fixed jwt route) = %s %s", r, f)
	}
	if r, f := policyOf(rotating); r != RotationRotate || f != FormatOpaque {
		t.Errorf("policyOf(default route) = %s %s", r, f)
	}
}
