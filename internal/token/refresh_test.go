package token

import (
	"context"
	"crypto/rand"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

func refreshClaims(now time.Time) RefreshClaims {
	return RefreshClaims{Family: "Fam1abc", Generation: 7, ExpiresAt: now.Add(30 * time.Minute)}
}

// TestRefreshMACRoundTrip: a refresh token states its family, generation
// and expiry, and every node with the same keys reads it back.
func TestRefreshMACRoundTrip(t *testing.T) {
	clk := newClock()
	ks := &fakeKeys{}
	m := newManager(t, ks, clk, Options{})
	want := refreshClaims(clk.now())
	raw, err := m.NewRefresh(want, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(raw, RefreshPrefix) || !IsMACRefresh(raw) || strings.Contains(raw, " ") {
		t.Fatalf("token %q has not the documented shape", raw)
	}
	node2 := newManager(t, ks, clk, Options{})
	for _, v := range []*Manager{m, node2} {
		got, err := v.OpenRefresh(raw)
		if err != nil || got.Family != want.Family || got.Generation != want.Generation || !got.ExpiresAt.Equal(want.ExpiresAt) {
			t.Fatalf("OpenRefresh = %+v, %v; want %+v", got, err, want)
		}
	}
	// Two tokens of the same claims differ (the random part).
	raw2, err := m.NewRefresh(want, nil)
	if err != nil || raw2 == raw {
		t.Fatalf("second token %v equal to the first", err)
	}
}

// TestRefreshMACRefusesForgedAndAltered: a token whose MAC does not
// verify (made without the key, or with any field changed) is refused
// before anything it states is used.
func TestRefreshMACRefusesForgedAndAltered(t *testing.T) {
	clk := newClock()
	m := newManager(t, &fakeKeys{}, clk, Options{})
	raw, err := m.NewRefresh(refreshClaims(clk.now()), nil)
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Split(strings.TrimPrefix(raw, RefreshPrefix), ".")
	join := func(g []string) string { return RefreshPrefix + strings.Join(g, ".") }
	alter := func(i int, v string) string {
		g := append([]string(nil), f...)
		g[i] = v
		return join(g)
	}
	// The same claims under a key of the attacker's own, with the real key id.
	forged, err := SealRefresh(f[0], []byte("attacker's key, 32 bytes long!!!"), refreshClaims(clk.now()), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		raw  string
		want error
	}{
		"forged MAC":          {forged, ErrSignature},
		"altered family":      {alter(1, "Fam1abd"), ErrSignature},
		"altered generation":  {alter(2, strconv.FormatInt(6, 36)), ErrSignature},
		"generation ahead":    {alter(2, strconv.FormatInt(8, 36)), ErrSignature},
		"altered expiry":      {alter(3, strconv.FormatInt(clk.now().Add(time.Hour).UnixNano(), 36)), ErrSignature},
		"altered random part": {alter(4, strings.Repeat("A", len(f[4]))), ErrSignature},
		"unknown key id":      {alter(0, "AAAAAAAA"), ErrUnknownKey},
		"truncated MAC":       {alter(5, f[5][:20]), ErrMalformed},
		"MAC not base64":      {alter(5, strings.Repeat("*", len(f[5]))), ErrMalformed},
		"a field missing":     {join(f[1:]), ErrMalformed},
		"stored earlier form": {"tgr_" + strings.Repeat("a", 43), ErrMalformed},
		"oversized":           {raw + strings.Repeat("a", MaxTokenSize), ErrMalformed},
		"fields moved":        {join([]string{f[0], f[2], f[1], f[3], f[4], f[5]}), ErrSignature},
		"no prefix":           {strings.TrimPrefix(raw, RefreshPrefix), ErrMalformed},
		"empty family":        {alter(1, ""), ErrSignature},
	}
	for name, tc := range cases {
		if _, err := m.OpenRefresh(tc.raw); !errors.Is(err, tc.want) {
			t.Errorf("%s: OpenRefresh error = %v, want %v", name, err, tc.want)
		} else if strings.Contains(err.Error(), f[4]) || strings.Contains(err.Error(), f[5]) {
			t.Errorf("%s: error %q contains the token", name, err)
		}
	}
}

// TestRefreshMACKeyRotation: the MAC key is derived from the signing key
// and rotates with it. A token made under a retired key verifies until the
// key expires (MaxTokenTTL after it stopped signing); a revoked key's
// tokens are refused at once; an encrypted key ring yields the same MAC
// keys on every node that has the master key.
func TestRefreshMACKeyRotation(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	ks := &fakeKeys{}
	master := DeriveMasterKey("a master secret with enough entropy, say 32 random bytes")
	m := newManager(t, ks, clk, Options{MaxTokenTTL: time.Hour, MasterKey: master})
	old, err := m.NewRefresh(refreshClaims(clk.now()), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	fresh, err := m.NewRefresh(refreshClaims(clk.now()), nil)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Split(old, ".")[0] == strings.Split(fresh, ".")[0] {
		t.Fatal("rotation kept the refresh MAC key")
	}
	node2 := newManager(t, ks, clk, Options{MaxTokenTTL: time.Hour, MasterKey: master})
	for _, raw := range []string{old, fresh} {
		if _, err := node2.OpenRefresh(raw); err != nil {
			t.Errorf("token after rotation on another node: %v", err)
		}
	}
	// Past the retired key's expiry (reloaded), its tokens are refused.
	clk.advance(time.Hour + time.Second)
	if err := node2.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := node2.OpenRefresh(old); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("token of an expired key: %v, want ErrUnknownKey", err)
	}
	if _, err := node2.OpenRefresh(fresh); err != nil {
		t.Errorf("token of the active key: %v", err)
	}

	// Revocation: a retired key's tokens are refused as soon as it is revoked.
	clk2 := newClock()
	m2 := newManager(t, &fakeKeys{}, clk2, Options{MaxTokenTTL: time.Hour})
	tok, err := m2.NewRefresh(refreshClaims(clk2.now()), nil)
	if err != nil {
		t.Fatal(err)
	}
	kid := m2.ActiveKeyID()
	if _, err := m2.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := m2.OpenRefresh(tok); err != nil {
		t.Fatalf("before revocation: %v", err)
	}
	if _, err := m2.Revoke(ctx, kid); err != nil {
		t.Fatal(err)
	}
	if _, err := m2.OpenRefresh(tok); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("token of a revoked key: %v, want ErrUnknownKey", err)
	}
}
