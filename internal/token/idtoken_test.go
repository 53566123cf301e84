package token

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/internal/store"
)

func idClaims(now time.Time) Claims {
	return Claims{Issuer: issuer, Subject: "alice", Audience: []string{"web"}, ExpiresAt: now.Add(5 * time.Minute), IssuedAt: now}
}

func idOpts() VerifyOptions {
	return VerifyOptions{Issuer: issuer, Type: TypeJWT, Audience: "web", IDToken: true}
}

// jwksAlgs maps each published kid to its alg.
func jwksAlgs(t *testing.T, m *Manager) map[string]string {
	t.Helper()
	var set struct {
		Keys []struct{ Kid, Alg, Use string }
	}
	if err := json.Unmarshal(m.JWKS(), &set); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, k := range set.Keys {
		out[k.Kid] = k.Alg
	}
	return out
}

func TestIDTokenKeyPublishedBesideTheDefaultKey(t *testing.T) {
	for _, alg := range []string{AlgEdDSA, AlgES256, AlgRS256} {
		t.Run(alg, func(t *testing.T) {
			clk := newClock()
			ks := &fakeKeys{}
			m := newManager(t, ks, clk, Options{Algorithm: alg, IDTokenAlgorithm: AlgRS256})
			def, id := m.ActiveKeyID(), m.IDTokenKeyID()
			if def == "" || id == "" || def == id {
				t.Fatalf("active keys %q (default) and %q (ID token), want two", def, id)
			}
			got := jwksAlgs(t, m)
			if len(got) != 2 || got[def] != alg || got[id] != AlgRS256 {
				t.Fatalf("JWKS = %v, want %s: %s and %s: RS256", got, def, alg, id)
			}
			if k := ks.get(id); k.Purpose != store.PurposeIDToken || k.Algorithm != AlgRS256 {
				t.Fatalf("stored ID token key = %s/%q", k.Algorithm, k.Purpose)
			}
			if algs := m.IDTokenAlgorithms(); algs[0] != AlgRS256 || !slices.Contains(algs, alg) {
				t.Fatalf("IDTokenAlgorithms = %v", algs)
			}
			// A second Init (a restart) makes no new key.
			m2 := newManager(t, ks, clk, Options{Algorithm: alg, IDTokenAlgorithm: AlgRS256})
			if ks.len() != 2 || m2.IDTokenKeyID() != id || m2.ActiveKeyID() != def {
				t.Fatalf("restart: %d keys, active %s/%s", ks.len(), m2.ActiveKeyID(), m2.IDTokenKeyID())
			}
		})
	}
}

func TestIDTokenKeyAddedToAnExistingStore(t *testing.T) {
	clk := newClock()
	ks := &fakeKeys{}
	old := newManager(t, ks, clk, Options{})
	m := newManager(t, ks, clk, Options{IDTokenAlgorithm: AlgRS256})
	if m.ActiveKeyID() != old.ActiveKeyID() || m.IDTokenKeyID() == "" || ks.len() != 2 {
		t.Fatalf("default %s (was %s), ID token key %q, %d keys", m.ActiveKeyID(), old.ActiveKeyID(), m.IDTokenKeyID(), ks.len())
	}
}

func TestIDTokenKeySignsOnlyIDTokens(t *testing.T) {
	clk := newClock()
	m := newManager(t, &fakeKeys{}, clk, Options{IDTokenAlgorithm: AlgRS256})
	raw, alg, err := m.SignIDToken(idClaims(clk.now()), "", "")
	if err != nil || alg != AlgRS256 {
		t.Fatalf("SignIDToken: %q, %v", alg, err)
	}
	if _, err := m.Verify(raw, idOpts()); err != nil {
		t.Fatalf("ID token does not verify as one: %v", err)
	}
	// The ID token key never vouches for anything else, whatever the
	// claims say: not as a JWT refresh token, not as an access token.
	o := idOpts()
	o.IDToken = false
	if _, err := m.Verify(raw, o); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("ID token verified without IDToken: %v", err)
	}
	forged, _, err := m.SignIDToken(accessClaims(clk.now()), "", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Verify(forged, accessOpts()); !errors.Is(err, ErrUnknownKey) {
		t.Fatal("a token of the ID token key verified as an access token")
	}
	if _, err := m.VerifyFresh(context.Background(), raw, o); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("VerifyFresh without IDToken: %v", err)
	}
	// Access tokens are signed with the default key, never the ID token key.
	at := mustSign(t, m, accessClaims(clk.now()), TypeAccess)
	if kid := headerKid(t, at); kid != m.ActiveKeyID() {
		t.Fatalf("access token signed by %s, want the default key %s", kid, m.ActiveKeyID())
	}
	// A client may ask for the default algorithm; an unknown one fails.
	if _, alg, err := m.SignIDToken(idClaims(clk.now()), AlgEdDSA, ""); err != nil || alg != AlgEdDSA {
		t.Fatalf("EdDSA ID token: %q, %v", alg, err)
	}
	if _, _, err := m.SignIDToken(idClaims(clk.now()), AlgES256, ""); !errors.Is(err, ErrNoIDTokenKey) {
		t.Fatalf("ES256 ID token without such a key: %v", err)
	}
}

func TestIDTokenWithoutIDTokenKeyUsesTheDefaultKey(t *testing.T) {
	clk := newClock()
	m := newManager(t, &fakeKeys{}, clk, Options{Algorithm: AlgES256})
	raw, alg, err := m.SignIDToken(idClaims(clk.now()), "", "at")
	if err != nil || alg != AlgES256 || headerKid(t, raw) != m.ActiveKeyID() {
		t.Fatalf("SignIDToken: %q, %v", alg, err)
	}
	if _, err := m.RotateIDToken(context.Background()); err == nil {
		t.Fatal("RotateIDToken without an ID token key succeeded")
	}
}

func TestIDTokenKeyRotationKeepsThePreviousKeyUntilItsTokensExpire(t *testing.T) {
	clk := newClock()
	ks := &fakeKeys{}
	const maxTTL = time.Hour
	m := newManager(t, ks, clk, Options{IDTokenAlgorithm: AlgRS256, MaxTokenTTL: maxTTL, ReloadInterval: 5 * time.Second})
	oldDef, oldID := m.ActiveKeyID(), m.IDTokenKeyID()
	before, _, err := m.SignIDToken(idClaims(clk.now()), "", "")
	if err != nil {
		t.Fatal(err)
	}
	clk.advance(time.Minute)
	if _, err := m.Rotate(context.Background()); err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	newID := m.IDTokenKeyID()
	if newID == oldID || m.ActiveKeyID() == oldDef {
		t.Fatalf("Rotate left %s/%s active", m.ActiveKeyID(), newID)
	}
	if k := ks.get(oldID); k.RetiredAt.IsZero() || !k.ExpiresAt.Equal(clk.now().Add(5*time.Second+maxTTL)) {
		t.Fatalf("old ID token key retired %v, expires %v", k.RetiredAt, k.ExpiresAt)
	}
	got := jwksAlgs(t, m)
	for _, kid := range []string{oldDef, oldID, m.ActiveKeyID(), newID} {
		if _, ok := got[kid]; !ok {
			t.Fatalf("JWKS %v lacks %s", got, kid)
		}
	}
	if _, err := m.Verify(before, idOpts()); err != nil {
		t.Fatalf("ID token of the retired key: %v", err)
	}
	after, _, err := m.SignIDToken(idClaims(clk.now()), "", "")
	if err != nil || headerKid(t, after) != newID {
		t.Fatalf("new ID tokens signed by %s, want %s (%v)", headerKid(t, after), newID, err)
	}
	// Once its last token has expired, the old key leaves the JWKS.
	clk.advance(maxTTL + 6*time.Second)
	if err := m.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	got = jwksAlgs(t, m)
	if _, ok := got[oldID]; ok || len(got) != 2 {
		t.Fatalf("JWKS after expiry = %v, want only the active keys", got)
	}
}

func TestRevokeActiveIDTokenKeyRotatesIt(t *testing.T) {
	clk := newClock()
	m := newManager(t, &fakeKeys{}, clk, Options{IDTokenAlgorithm: AlgRS256})
	def, id := m.ActiveKeyID(), m.IDTokenKeyID()
	raw, _, err := m.SignIDToken(idClaims(clk.now()), "", "")
	if err != nil {
		t.Fatal(err)
	}
	k, err := m.Revoke(context.Background(), id)
	if err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	if k.Purpose != store.PurposeIDToken || m.IDTokenKeyID() != k.ID || m.ActiveKeyID() != def {
		t.Fatalf("after revoking the ID token key: new %s (%q), active %s/%s", k.ID, k.Purpose, def, m.IDTokenKeyID())
	}
	if _, ok := jwksAlgs(t, m)[id]; ok {
		t.Fatal("revoked ID token key still published")
	}
	if _, err := m.Verify(raw, idOpts()); err == nil {
		t.Fatal("ID token of a revoked key verifies")
	}
}

// TestATHashVector checks at_hash against OpenID Connect Core 1.0
// Appendix A.4 (RS256) and the SHA-512 half for EdDSA.
func TestATHashVector(t *testing.T) {
	got, err := HalfHash(AlgRS256, "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y")
	if err != nil || got != "77QmUPtjPfzWtF2AnpK9RQ" {
		t.Fatalf("at_hash = %q, %v; want 77QmUPtjPfzWtF2AnpK9RQ", got, err)
	}
	// c_hash of the same appendix, the same function.
	if got, _ := HalfHash(AlgRS256, "Qcb0Orv1zh30vL1MPRsbm-diHiMwcLyZvn1arpZv-Jxf_11jnpEX3Tgfvk"); got != "LDktKdoQak3Pk0cnXxCltA" {
		t.Fatalf("c_hash = %q", got)
	}
	if got, _ := HalfHash(AlgEdDSA, "x"); len(got) != 43 {
		t.Fatalf("EdDSA half hash %q is not 32 bytes", got)
	}
	if _, err := HalfHash("HS256", "x"); err == nil {
		t.Fatal("HalfHash accepted HS256")
	}
	clk := newClock()
	m := newManager(t, &fakeKeys{}, clk, Options{IDTokenAlgorithm: AlgRS256})
	raw, _, err := m.SignIDToken(idClaims(clk.now()), "", "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y")
	if err != nil {
		t.Fatal(err)
	}
	c, err := m.Verify(raw, idOpts())
	if err != nil || c.Extra[ClaimATHash] != "77QmUPtjPfzWtF2AnpK9RQ" {
		t.Fatalf("signed at_hash = %v, %v", c.Extra[ClaimATHash], err)
	}
}

// headerKid returns the kid header of a compact JWS.
func headerKid(t *testing.T, raw string) string {
	t.Helper()
	h, _, _ := strings.Cut(raw, ".")
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		t.Fatal(err)
	}
	var hdr struct{ Kid string }
	if err := json.Unmarshal(b, &hdr); err != nil {
		t.Fatal(err)
	}
	return hdr.Kid
}
