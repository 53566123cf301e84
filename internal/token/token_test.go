package token

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tokengate/tokengate/internal/store"
)

// fakeKeys is an in-memory KeyStore with the semantics of store.Keys:
// AddSigningKey retires the active key and, with expectActive non-empty,
// is a compare-and-swap on it; a duplicate kid is ErrConflict.
type fakeKeys struct {
	mu   sync.Mutex
	keys []store.SigningKey // oldest first
	// addGate, when set, runs at the start of AddSigningKey (to line up
	// concurrent callers).
	addGate func()
}

func (f *fakeKeys) ListSigningKeys(context.Context) ([]store.SigningKey, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]store.SigningKey, 0, len(f.keys))
	for i := len(f.keys) - 1; i >= 0; i-- {
		k := f.keys[i]
		k.Private = slices.Clone(k.Private)
		out = append(out, k)
	}
	return out, nil
}

func (f *fakeKeys) AddSigningKey(_ context.Context, k store.SigningKey, expectActive string, retireUntil time.Time) error {
	if f.addGate != nil {
		f.addGate()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	active := -1
	for i := range f.keys {
		if f.keys[i].ID == k.ID {
			return fmt.Errorf("fake: kid %s: %w", k.ID, store.ErrConflict)
		}
		if f.keys[i].RetiredAt.IsZero() && f.keys[i].Purpose == k.Purpose {
			active = i
		}
	}
	if (expectActive == "" && active >= 0) || (expectActive != "" && (active < 0 || f.keys[active].ID != expectActive)) {
		return fmt.Errorf("fake: active key is not %s: %w", expectActive, store.ErrConflict)
	}
	if active >= 0 {
		f.keys[active].RetiredAt = k.CreatedAt
		f.keys[active].ExpiresAt = retireUntil
	}
	k.RetiredAt, k.ExpiresAt = time.Time{}, time.Time{}
	k.Private = slices.Clone(k.Private)
	f.keys = append(f.keys, k)
	return nil
}

func (f *fakeKeys) RevokeSigningKey(_ context.Context, kid string, at time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.keys {
		if f.keys[i].ID != kid {
			continue
		}
		if f.keys[i].RetiredAt.IsZero() {
			return fmt.Errorf("fake: %s is active: %w", kid, store.ErrConflict)
		}
		if f.keys[i].RevokedAt.IsZero() {
			f.keys[i].RevokedAt = at
		}
		return nil
	}
	return fmt.Errorf("fake: %s: %w", kid, store.ErrNotFound)
}

func (f *fakeKeys) SigningKeyRevoked(_ context.Context, kid string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, k := range f.keys {
		if k.ID == kid {
			return !k.RevokedAt.IsZero(), nil
		}
	}
	return false, nil
}

func (f *fakeKeys) get(kid string) store.SigningKey {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, k := range f.keys {
		if k.ID == kid {
			return k
		}
	}
	return store.SigningKey{}
}

func (f *fakeKeys) len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.keys)
}

// clock is a settable test clock.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.set(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	return c
}
func (c *clock) now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) set(t time.Time)         { c.ns.Store(t.UnixNano()) }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }

const issuer = "https://auth.example.com"

func newManager(t testing.TB, ks KeyStore, clk *clock, opts Options) *Manager {
	t.Helper()
	if opts.MaxTokenTTL == 0 {
		opts.MaxTokenTTL = time.Hour
	}
	if opts.Now == nil {
		opts.Now = clk.now
	}
	m, err := NewManager(ks, opts)
	if err != nil {
		t.Fatalf("NewManager: %v", err)
	}
	if err := m.Init(context.Background()); err != nil {
		t.Fatalf("Init: %v", err)
	}
	return m
}

func accessClaims(now time.Time) Claims {
	return Claims{
		Issuer: issuer, Subject: "alice", Audience: []string{"https://api.example.com"},
		ExpiresAt: now.Add(10 * time.Minute), IssuedAt: now, NotBefore: now,
		ID: "jti-1", ClientID: "cli", Scope: "read write",
	}
}

func accessOpts() VerifyOptions {
	return VerifyOptions{Issuer: issuer, Type: TypeAccess, Audience: "https://api.example.com"}
}

func mustSign(t testing.TB, m *Manager, c Claims, typ string) string {
	t.Helper()
	tok, err := m.Sign(c, typ)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return tok
}

// privateOf returns the private key of an unencrypted stored key.
func privateOf(t testing.TB, ks *fakeKeys, kid string) crypto.Signer {
	t.Helper()
	k := ks.get(kid)
	key, err := x509.ParsePKCS8PrivateKey(k.Private)
	if err != nil {
		t.Fatalf("parsing stored key %s: %v", kid, err)
	}
	return key.(crypto.Signer)
}

// signRaw signs an arbitrary payload with go-jose, with the given kid
// (omitted when empty) and typ headers.
func signRaw(t testing.TB, alg jose.SignatureAlgorithm, key any, kid, typ string, payload []byte) string {
	t.Helper()
	opts := &jose.SignerOptions{}
	if typ != "" {
		opts.WithType(jose.ContentType(typ))
	}
	if kid != "" {
		opts.WithHeader("kid", kid)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatalf("NewSigner %s: %v", alg, err)
	}
	jws, err := s.Sign(payload)
	if err != nil {
		t.Fatalf("Sign %s: %v", alg, err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func payloadJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRoundTrip(t *testing.T) {
	for _, alg := range []string{AlgEdDSA, AlgES256, AlgRS256} {
		t.Run(alg, func(t *testing.T) {
			clk := newClock()
			ks := &fakeKeys{}
			m := newManager(t, ks, clk, Options{Algorithm: alg})
			now := clk.now()
			in := accessClaims(now)
			in.Extra = map[string]any{"usefor": "access", "exi": int64(600)}
			tok := mustSign(t, m, in, TypeAccess)

			// Header: alg, kid, typ.
			hdr, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
			if err != nil {
				t.Fatal(err)
			}
			var h map[string]any
			if err := json.Unmarshal(hdr, &h); err != nil {
				t.Fatal(err)
			}
			if h["alg"] != alg || h["kid"] != m.ActiveKeyID() || h["typ"] != TypeAccess {
				t.Errorf("header = %v", h)
			}

			got, err := m.Verify(tok, accessOpts())
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			want := in
			want.Extra = map[string]any{"usefor": "access", "exi": float64(600)}
			if got.Issuer != want.Issuer || got.Subject != want.Subject || !slices.Equal(got.Audience, want.Audience) ||
				!got.ExpiresAt.Equal(want.ExpiresAt) || !got.IssuedAt.Equal(want.IssuedAt) || !got.NotBefore.Equal(want.NotBefore) ||
				got.ID != want.ID || got.ClientID != want.ClientID || got.Scope != want.Scope ||
				fmt.Sprint(got.Extra) != fmt.Sprint(want.Extra) {
				t.Errorf("claims = %+v\nwant     %+v", got, want)
			}

			// A second manager over the same store verifies it too, and the
			// JWKS verifies it with go-jose alone.
			m2 := newManager(t, ks, clk, Options{Algorithm: alg})
			if _, err := m2.Verify(tok, accessOpts()); err != nil {
				t.Errorf("second manager: %v", err)
			}
			var set jose.JSONWebKeySet
			if err := json.Unmarshal(m.JWKS(), &set); err != nil {
				t.Fatalf("JWKS: %v", err)
			}
			keys := set.Key(m.ActiveKeyID())
			if len(keys) != 1 || keys[0].Algorithm != alg || keys[0].Use != "sig" || !keys[0].IsPublic() {
				t.Fatalf("JWKS keys = %+v", set.Keys)
			}
			jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := jws.Verify(keys[0]); err != nil {
				t.Errorf("verify with JWKS key: %v", err)
			}
			if strings.Contains(string(m.JWKS()), `"d"`) {
				t.Errorf("JWKS leaks a private part: %s", m.JWKS())
			}
		})
	}
}

func TestAudienceEncoding(t *testing.T) {
	clk := newClock()
	m := newManager(t, &fakeKeys{}, clk, Options{})
	for _, aud := range [][]string{nil, {"a"}, {"a", "b"}} {
		c := accessClaims(clk.now())
		c.Audience = aud
		tok := mustSign(t, m, c, TypeAccess)
		p, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(p, &raw); err != nil {
			t.Fatal(err)
		}
		switch len(aud) {
		case 0:
			if _, ok := raw["aud"]; ok {
				t.Errorf("aud present: %s", p)
			}
		case 1:
			if string(raw["aud"]) != `"a"` {
				t.Errorf("aud = %s, want a string", raw["aud"])
			}
		default:
			if string(raw["aud"]) != `["a","b"]` {
				t.Errorf("aud = %s, want an array", raw["aud"])
			}
		}
		got, err := m.Verify(tok, VerifyOptions{Issuer: issuer, Type: TypeAccess})
		if err != nil || !slices.Equal(got.Audience, aud) {
			t.Errorf("aud %v: got %v, %v", aud, got.Audience, err)
		}
		if len(aud) == 2 {
			if _, err := m.Verify(tok, VerifyOptions{Issuer: issuer, Type: TypeAccess, Audience: "b"}); err != nil {
				t.Errorf("aud b in array: %v", err)
			}
		}
	}
}

func TestVerifyRejects(t *testing.T) {
	clk := newClock()
	ks := &fakeKeys{}
	m := newManager(t, ks, clk, Options{})
	kid := m.ActiveKeyID()
	priv := privateOf(t, ks, kid).(ed25519.PrivateKey)
	pub := priv.Public().(ed25519.PublicKey)
	now := clk.now()

	// Another deployment, rotated so its kid differs from ours.
	other := newManager(t, &fakeKeys{}, clk, Options{})
	if _, err := other.Rotate(context.Background()); err != nil {
		t.Fatal(err)
	}
	_, otherPriv, _ := ed25519.GenerateKey(nil)

	good := accessClaims(now)
	goodPayload := payloadJSON(t, map[string]any{
		"iss": issuer, "sub": "alice", "aud": "https://api.example.com",
		"exp": now.Add(time.Minute).Unix(), "iat": now.Unix(), "client_id": "cli",
	})
	with := func(f func(*Claims)) Claims { c := good; f(&c); return c }

	validTok := mustSign(t, m, good, TypeAccess)
	parts := strings.Split(validTok, ".")
	pkix, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		tok  string
		opts func(*VerifyOptions)
		want error // nil: must pass
	}{
		{name: "valid", tok: validTok},
		{name: "alg none", want: ErrAlgorithm,
			tok: b64(`{"alg":"none","kid":"`+kid+`","typ":"at+jwt"}`) + "." + parts[1] + "."},
		{name: "alg none, signature kept", want: ErrAlgorithm,
			tok: b64(`{"alg":"none","kid":"`+kid+`","typ":"at+jwt"}`) + "." + parts[1] + "." + parts[2]},
		{name: "alg None", want: ErrAlgorithm,
			tok: b64(`{"alg":"None","kid":"`+kid+`","typ":"at+jwt"}`) + "." + parts[1] + "."},
		{name: "HS256 keyed with raw public key", want: ErrAlgorithm,
			tok: signRaw(t, jose.HS256, []byte(pub), kid, TypeAccess, goodPayload)},
		{name: "HS256 keyed with PKIX public key", want: ErrAlgorithm,
			tok: signRaw(t, jose.HS256, pkix, kid, TypeAccess, goodPayload)},
		{name: "HS256 keyed with JWKS", want: ErrAlgorithm,
			tok: signRaw(t, jose.HS256, m.JWKS(), kid, TypeAccess, goodPayload)},
		{name: "unknown kid", want: ErrUnknownKey, tok: mustSign(t, other, good, TypeAccess)},
		{name: "no kid", want: ErrUnknownKey, tok: signRaw(t, jose.EdDSA, priv, "", TypeAccess, goodPayload)},
		{name: "our kid, another key", want: ErrSignature, tok: signRaw(t, jose.EdDSA, otherPriv, kid, TypeAccess, goodPayload)},
		{name: "payload swapped", want: ErrSignature,
			tok: parts[0] + "." + b64(strings.Replace(string(goodPayload), "alice", "admin", 1)) + "." + parts[2]},
		{name: "signature truncated", want: ErrSignature, tok: parts[0] + "." + parts[1] + "." + parts[2][:20]},
		{name: "expired", want: ErrExpired,
			tok: mustSign(t, m, with(func(c *Claims) { c.ExpiresAt = now.Add(-time.Second) }), TypeAccess)},
		{name: "exp == now", want: ErrExpired,
			tok: mustSign(t, m, with(func(c *Claims) { c.ExpiresAt = now }), TypeAccess)},
		{name: "expired within leeway",
			tok:  mustSign(t, m, with(func(c *Claims) { c.ExpiresAt = now.Add(-time.Second) }), TypeAccess),
			opts: func(o *VerifyOptions) { o.Leeway = 5 * time.Second }},
		{name: "expired beyond leeway", want: ErrExpired,
			tok:  mustSign(t, m, with(func(c *Claims) { c.ExpiresAt = now.Add(-5 * time.Second) }), TypeAccess),
			opts: func(o *VerifyOptions) { o.Leeway = 5 * time.Second }},
		{name: "nbf in the future", want: ErrNotYetValid,
			tok: mustSign(t, m, with(func(c *Claims) { c.NotBefore = now.Add(time.Minute) }), TypeAccess)},
		{name: "nbf within leeway",
			tok:  mustSign(t, m, with(func(c *Claims) { c.NotBefore = now.Add(time.Second) }), TypeAccess),
			opts: func(o *VerifyOptions) { o.Leeway = 5 * time.Second }},
		{name: "iat in the future", want: ErrNotYetValid,
			tok: mustSign(t, m, with(func(c *Claims) { c.IssuedAt = now.Add(time.Minute) }), TypeAccess)},
		{name: "wrong issuer", want: ErrIssuer,
			tok: mustSign(t, m, with(func(c *Claims) { c.Issuer = "https://evil.example.com" }), TypeAccess)},
		{name: "no issuer expected", want: ErrIssuer, tok: validTok, opts: func(o *VerifyOptions) { o.Issuer = "" }},
		{name: "wrong audience", want: ErrAudience,
			tok: mustSign(t, m, with(func(c *Claims) { c.Audience = []string{"https://other.example.com"} }), TypeAccess)},
		{name: "no audience", want: ErrAudience,
			tok: mustSign(t, m, with(func(c *Claims) { c.Audience = nil }), TypeAccess)},
		{name: "no audience, none expected",
			tok:  mustSign(t, m, with(func(c *Claims) { c.Audience = nil }), TypeAccess),
			opts: func(o *VerifyOptions) { o.Audience = "" }},
		{name: "typ JWT as access", want: ErrType, tok: mustSign(t, m, good, TypeJWT)},
		{name: "no typ", want: ErrType, tok: signRaw(t, jose.EdDSA, priv, kid, "", goodPayload)},
		{name: "no type expected", want: ErrType, tok: validTok, opts: func(o *VerifyOptions) { o.Type = "" }},
		{name: "typ application/at+jwt", tok: mustSign(t, m, good, "application/at+jwt")},
		{name: "typ AT+JWT", tok: mustSign(t, m, good, "AT+JWT")},
		{name: "typ application/jwt as JWT", tok: mustSign(t, m, good, "application/jwt"),
			opts: func(o *VerifyOptions) { o.Type = TypeJWT }},
		{name: "refresh JWT as access token", want: ErrType,
			tok: mustSign(t, m, with(func(c *Claims) { c.Extra = map[string]any{"usefor": "refresh"} }), TypeJWT)},
		{name: "refresh JWT as refresh",
			tok:  mustSign(t, m, with(func(c *Claims) { c.Extra = map[string]any{"usefor": "refresh"} }), TypeJWT),
			opts: func(o *VerifyOptions) { o.Type = TypeJWT }},
		{name: "access token as refresh JWT", want: ErrType, tok: validTok,
			opts: func(o *VerifyOptions) { o.Type = TypeJWT }},
		{name: "too long", want: ErrMalformed, tok: validTok + strings.Repeat("A", MaxTokenSize)},
		{name: "garbage", want: ErrMalformed, tok: "not-a-token"},
		{name: "empty", want: ErrMalformed, tok: ""},
		{name: "JSON serialization", want: ErrMalformed,
			tok: `{"payload":"` + parts[1] + `","protected":"` + parts[0] + `","signature":"` + parts[2] + `"}`},
		{name: "payload not an object", want: ErrMalformed, tok: signRaw(t, jose.EdDSA, priv, kid, TypeAccess, []byte(`["x"]`))},
		{name: "payload not JSON", want: ErrMalformed, tok: signRaw(t, jose.EdDSA, priv, kid, TypeAccess, []byte(`hello`))},
		{name: "no exp", want: ErrMalformed,
			tok: signRaw(t, jose.EdDSA, priv, kid, TypeAccess, payloadJSON(t, map[string]any{"iss": issuer}))},
		{name: "exp a string", want: ErrMalformed,
			tok: signRaw(t, jose.EdDSA, priv, kid, TypeAccess, payloadJSON(t, map[string]any{"iss": issuer, "exp": "9999999999"}))},
		{name: "exp null", want: ErrMalformed,
			tok: signRaw(t, jose.EdDSA, priv, kid, TypeAccess, []byte(`{"iss":"`+issuer+`","exp":null}`))},
		{name: "exp huge", want: ErrMalformed,
			tok: signRaw(t, jose.EdDSA, priv, kid, TypeAccess, []byte(`{"iss":"`+issuer+`","exp":1e300}`))},
		{name: "exp fractional",
			tok:  signRaw(t, jose.EdDSA, priv, kid, TypeAccess, []byte(fmt.Sprintf(`{"iss":%q,"iat":%d,"exp":%d.5}`, issuer, now.Unix(), now.Unix()+60))),
			opts: func(o *VerifyOptions) { o.Audience = "" }},
		{name: "iss a number", want: ErrMalformed,
			tok: signRaw(t, jose.EdDSA, priv, kid, TypeAccess, []byte(fmt.Sprintf(`{"iss":1,"exp":%d}`, now.Unix()+60)))},
		{name: "aud a number", want: ErrMalformed,
			tok: signRaw(t, jose.EdDSA, priv, kid, TypeAccess, []byte(fmt.Sprintf(`{"iss":%q,"aud":1,"exp":%d}`, issuer, now.Unix()+60)))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := accessOpts()
			o.Now = now
			if tt.opts != nil {
				tt.opts(&o)
			}
			_, err := m.Verify(tt.tok, o)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify error = %v, want %v", err, tt.want)
			}
			for _, sentinel := range []error{ErrMalformed, ErrAlgorithm, ErrUnknownKey, ErrSignature, ErrExpired,
				ErrNotYetValid, ErrIssuer, ErrAudience, ErrType} {
				if sentinel != tt.want && errors.Is(err, sentinel) {
					t.Errorf("error %v also matches %v", err, sentinel)
				}
			}
			for _, part := range strings.Split(tt.tok, ".") {
				if len(part) > 16 && strings.Contains(err.Error(), part) {
					t.Errorf("error contains token text: %v", err)
				}
			}
		})
	}
}

// TestAlgorithmOfKey covers a key set with two algorithms: the header alg
// must be the algorithm of the key kid names.
func TestAlgorithmOfKey(t *testing.T) {
	clk := newClock()
	ks := &fakeKeys{}
	rs := newManager(t, ks, clk, Options{Algorithm: AlgRS256})
	rsKid := rs.ActiveKeyID()
	oldTok := mustSign(t, rs, accessClaims(clk.now()), TypeAccess)

	m := newManager(t, ks, clk, Options{Algorithm: AlgEdDSA})
	if got := m.Keys()[0].Algorithm; got != AlgRS256 {
		t.Fatalf("Init adopted a %s key, want the stored RS256 one", got)
	}
	clk.advance(time.Minute)
	if _, err := m.Rotate(context.Background()); err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	edKid := m.ActiveKeyID()
	now := clk.now()
	if _, err := m.Verify(oldTok, accessOpts()); err != nil {
		t.Fatalf("RS256 token after rotation to EdDSA: %v", err)
	}
	if tok := mustSign(t, m, accessClaims(now), TypeAccess); !strings.HasPrefix(tok, b64(`{"alg":"EdDSA"`)) {
		t.Errorf("new token not EdDSA")
	}
	payload := payloadJSON(t, map[string]any{"iss": issuer, "aud": "https://api.example.com", "exp": now.Add(time.Minute).Unix()})
	rsPriv := privateOf(t, ks, rsKid)
	edPriv := privateOf(t, ks, edKid)
	for name, tok := range map[string]string{
		"RS256 header on the EdDSA key": signRaw(t, jose.RS256, rsPriv, edKid, TypeAccess, payload),
		"EdDSA header on the RS256 key": signRaw(t, jose.EdDSA, edPriv, rsKid, TypeAccess, payload),
		"PS256 on the RS256 key":        signRaw(t, jose.PS256, rsPriv, rsKid, TypeAccess, payload),
	} {
		if _, err := m.Verify(tok, accessOpts()); !errors.Is(err, ErrAlgorithm) {
			t.Errorf("%s: error = %v, want ErrAlgorithm", name, err)
		}
	}
	var set struct {
		Keys []struct{ Kid, Alg string }
	}
	if err := json.Unmarshal(m.JWKS(), &set); err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) != 2 || set.Keys[0].Kid != edKid || set.Keys[0].Alg != AlgEdDSA || set.Keys[1].Kid != rsKid || set.Keys[1].Alg != AlgRS256 {
		t.Errorf("JWKS = %+v", set.Keys)
	}

	// With the RS256 key gone, an RS256 token fails at parse.
	only := newManager(t, &fakeKeys{}, clk, Options{})
	tok := signRaw(t, jose.RS256, rsPriv, only.ActiveKeyID(), TypeAccess, payload)
	if _, err := only.Verify(tok, accessOpts()); !errors.Is(err, ErrAlgorithm) {
		t.Errorf("RS256 on an EdDSA-only manager: %v, want ErrAlgorithm", err)
	}
}

func jwksKids(t *testing.T, m *Manager) []string {
	t.Helper()
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(m.JWKS(), &set); err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.KeyID)
	}
	return kids
}

func TestRotation(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	ks := &fakeKeys{}
	m := newManager(t, ks, clk, Options{MaxTokenTTL: time.Hour})
	node2 := newManager(t, ks, clk, Options{MaxTokenTTL: time.Hour})
	oldKid := m.ActiveKeyID()
	if oldKid == "" {
		t.Error("first kid is empty")
	}
	c := accessClaims(clk.now())
	c.ExpiresAt = clk.now().Add(time.Hour)
	oldTok := mustSign(t, m, c, TypeAccess)

	clk.advance(5 * time.Minute)
	rotatedAt := clk.now()
	k, err := m.Rotate(ctx)
	if err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	if k.ID == oldKid || k.ID != m.ActiveKeyID() || k.Private != nil || k.Algorithm != AlgEdDSA {
		t.Fatalf("Rotate returned %+v (active %s)", k, m.ActiveKeyID())
	}
	if got := jwksKids(t, m); !slices.Equal(got, []string{k.ID, oldKid}) {
		t.Errorf("JWKS kids = %v, want [new old]", got)
	}
	infos := m.Keys()
	if len(infos) != 2 || !infos[0].Active || infos[0].ID != k.ID || infos[1].Active ||
		!infos[1].RetiredAt.Equal(rotatedAt) || !infos[1].ExpiresAt.Equal(rotatedAt.Add(time.Hour)) || !infos[1].Published {
		t.Errorf("Keys = %+v", infos)
	}
	newTok := mustSign(t, m, accessClaims(clk.now()), TypeAccess)
	for name, tok := range map[string]string{"old": oldTok, "new": newTok} {
		if _, err := m.Verify(tok, accessOpts()); err != nil {
			t.Errorf("%s token after rotation: %v", name, err)
		}
	}

	// node2 has not reloaded: it still signs with the old key, and does
	// not know the new one yet.
	if node2.ActiveKeyID() != oldKid {
		t.Fatalf("node2 active = %s", node2.ActiveKeyID())
	}
	if _, err := node2.Verify(newTok, accessOpts()); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("node2 before reload: %v, want ErrUnknownKey", err)
	}
	if err := node2.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if node2.ActiveKeyID() != k.ID {
		t.Errorf("node2 after reload signs with %s, want %s", node2.ActiveKeyID(), k.ID)
	}
	if _, err := node2.Verify(oldTok, accessOpts()); err != nil {
		t.Errorf("node2 old token: %v", err)
	}

	// Just before the old token's expiry it still verifies...
	o := accessOpts()
	o.Now = c.ExpiresAt.Add(-time.Second)
	if _, err := m.Verify(oldTok, o); err != nil {
		t.Errorf("old token before its exp: %v", err)
	}
	// ...after the retired key's expiry, a reload drops it from the JWKS.
	clk.set(rotatedAt.Add(time.Hour + time.Second))
	if err := m.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if got := jwksKids(t, m); !slices.Equal(got, []string{k.ID}) {
		t.Errorf("JWKS kids after expiry = %v, want [%s]", got, k.ID)
	}
	if infos := m.Keys(); len(infos) != 2 || infos[1].Published {
		t.Errorf("Keys after expiry = %+v", infos)
	}
	o.Now = time.Time{}
	o.Leeway = 24 * time.Hour // even with leeway on exp, the key is gone
	if _, err := m.Verify(oldTok, o); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("old token after key expiry: %v, want ErrUnknownKey", err)
	}

}

func TestRetiredKeyExpiresWithoutReload(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	m := newManager(t, &fakeKeys{}, clk, Options{MaxTokenTTL: time.Hour})
	c := accessClaims(clk.now())
	c.ExpiresAt = clk.now().Add(time.Hour) // the longest a token lives
	tok := mustSign(t, m, c, TypeAccess)
	if _, err := m.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	o := accessOpts()
	o.Now = clk.now().Add(59 * time.Minute)
	if _, err := m.Verify(tok, o); err != nil {
		t.Errorf("before key expiry: %v", err)
	}
	o.Now = clk.now().Add(time.Hour)
	if _, err := m.Verify(tok, o); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("after key expiry, no reload: %v, want ErrUnknownKey", err)
	}
}

func TestRotateConflict(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	ks := &fakeKeys{}
	a := newManager(t, ks, clk, Options{})
	b := newManager(t, ks, clk, Options{})
	ka, err := a.Rotate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.Rotate(ctx)
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second rotation from a stale node: %v, want ErrConflict", err)
	}
	if b.ActiveKeyID() != ka.ID {
		t.Errorf("after conflict b signs with %s, want %s (reloaded)", b.ActiveKeyID(), ka.ID)
	}
	if ks.len() != 2 {
		t.Errorf("store has %d keys, want 2", ks.len())
	}
	kb, err := b.Rotate(ctx)
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	if ks.len() != 3 || b.ActiveKeyID() != kb.ID {
		t.Errorf("after retry: %d keys, active %s", ks.len(), b.ActiveKeyID())
	}
}

func TestConcurrentInit(t *testing.T) {
	t.Run("two racing", func(t *testing.T) {
		clk := newClock()
		gate := make(chan struct{})
		var arrived atomic.Int32
		ks := &fakeKeys{}
		// Both managers have listed an empty store before either adds.
		ks.addGate = func() {
			if arrived.Add(1) == 2 {
				close(gate)
			}
			<-gate
		}
		ms := initConcurrently(t, ks, clk, 2)
		if ks.len() != 1 {
			t.Fatalf("store has %d keys, want 1", ks.len())
		}
		if ms[0].ActiveKeyID() != ms[1].ActiveKeyID() {
			t.Errorf("managers disagree: %s vs %s", ms[0].ActiveKeyID(), ms[1].ActiveKeyID())
		}
		if n := arrived.Load(); n != 2 {
			t.Errorf("%d adds, want 2 (the race did not happen)", n)
		}
	})
	t.Run("eight", func(t *testing.T) {
		clk := newClock()
		ks := &fakeKeys{}
		ms := initConcurrently(t, ks, clk, 8)
		if ks.len() != 1 {
			t.Fatalf("store has %d keys, want 1", ks.len())
		}
		for _, m := range ms[1:] {
			if m.ActiveKeyID() != ms[0].ActiveKeyID() {
				t.Errorf("managers disagree")
			}
		}
	})
}

func initConcurrently(t *testing.T, ks KeyStore, clk *clock, n int) []*Manager {
	t.Helper()
	ms := make([]*Manager, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range ms {
		m, err := NewManager(ks, Options{MaxTokenTTL: time.Hour, Now: clk.now})
		if err != nil {
			t.Fatal(err)
		}
		ms[i] = m
		wg.Go(func() { errs[i] = m.Init(context.Background()) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Init %d: %v", i, err)
		}
	}
	return ms
}

func TestInitWithoutActiveKey(t *testing.T) {
	// Against the store's contract every key is retired: Init makes a
	// new one.
	clk := newClock()
	ks := &fakeKeys{}
	m := newManager(t, ks, clk, Options{})
	ks.mu.Lock()
	ks.keys[0].RetiredAt = clk.now()
	ks.keys[0].ExpiresAt = clk.now().Add(time.Hour)
	ks.mu.Unlock()
	if err := m.Reload(context.Background()); !errors.Is(err, ErrNoActiveKey) {
		t.Errorf("Reload with no active key: %v, want ErrNoActiveKey", err)
	}
	m2 := newManager(t, ks, clk, Options{})
	if ks.len() != 2 || m2.ActiveKeyID() == m.ActiveKeyID() {
		t.Errorf("keys %d, active %s", ks.len(), m2.ActiveKeyID())
	}
}

func TestEncryptedAtRest(t *testing.T) {
	ctx := context.Background()
	for _, alg := range []string{AlgEdDSA, AlgES256} {
		t.Run(alg, func(t *testing.T) {
			clk := newClock()
			ks := &fakeKeys{}
			master := DeriveMasterKey("correct horse battery staple, but longer and random")
			m := newManager(t, ks, clk, Options{Algorithm: alg, MasterKey: master})
			if _, err := m.Rotate(ctx); err != nil {
				t.Fatal(err)
			}
			for _, k := range []store.SigningKey{ks.get(m.Keys()[0].ID), ks.get(m.Keys()[1].ID)} {
				if !k.Encrypted {
					t.Errorf("key %s not marked encrypted", k.ID)
				}
				if _, err := x509.ParsePKCS8PrivateKey(k.Private); err == nil {
					t.Errorf("key %s: stored bytes parse as PKCS#8", k.ID)
				}
			}
			tok := mustSign(t, m, accessClaims(clk.now()), TypeAccess)

			// Same secret on another node: works.
			m2 := newManager(t, ks, clk, Options{Algorithm: alg, MasterKey: DeriveMasterKey("correct horse battery staple, but longer and random")})
			if _, err := m2.Verify(tok, accessOpts()); err != nil {
				t.Errorf("second node: %v", err)
			}

			for name, key := range map[string][]byte{
				"wrong master key": DeriveMasterKey("wrong"),
				"no master key":    nil,
			} {
				bad, err := NewManager(ks, Options{Algorithm: alg, MasterKey: key, MaxTokenTTL: time.Hour, Now: clk.now})
				if err != nil {
					t.Fatal(err)
				}
				err = bad.Init(ctx)
				if !errors.Is(err, ErrMasterKey) {
					t.Errorf("%s: Init error = %v, want ErrMasterKey", name, err)
				}
				if _, err := bad.Sign(accessClaims(clk.now()), TypeAccess); !errors.Is(err, ErrNotInitialized) {
					t.Errorf("%s: Sign after failed Init: %v", name, err)
				}
			}
			if n := ks.len(); n != 2 {
				t.Errorf("failed Inits changed the store: %d keys", n)
			}

			// The ciphertext is bound to its kid.
			ks.mu.Lock()
			ks.keys[0].Private, ks.keys[1].Private = ks.keys[1].Private, ks.keys[0].Private
			ks.mu.Unlock()
			if err := m2.Reload(ctx); !errors.Is(err, ErrMasterKey) {
				t.Errorf("swapped ciphertexts: %v, want ErrMasterKey", err)
			}
			if _, err := m2.Verify(tok, accessOpts()); err != nil {
				t.Errorf("failed reload lost the previous snapshot: %v", err)
			}
		})
	}
}

func TestNewManagerOptions(t *testing.T) {
	ks := &fakeKeys{}
	for name, o := range map[string]Options{
		"algorithm HS256": {Algorithm: "HS256", MaxTokenTTL: time.Hour},
		"algorithm none":  {Algorithm: "none", MaxTokenTTL: time.Hour},
		"short master":    {MasterKey: make([]byte, 16), MaxTokenTTL: time.Hour},
		"no max TTL":      {},
	} {
		if _, err := NewManager(ks, o); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := NewManager(nil, Options{MaxTokenTTL: time.Hour}); err == nil {
		t.Error("nil store: no error")
	}
	if DeriveMasterKey("") != nil || len(DeriveMasterKey("x")) != 32 {
		t.Error("DeriveMasterKey")
	}
}

func TestNotInitialized(t *testing.T) {
	m, err := NewManager(&fakeKeys{}, Options{MaxTokenTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Sign(accessClaims(time.Now()), TypeAccess); !errors.Is(err, ErrNotInitialized) {
		t.Errorf("Sign: %v", err)
	}
	if _, err := m.Verify("a.b.c", accessOpts()); !errors.Is(err, ErrNotInitialized) {
		t.Errorf("Verify: %v", err)
	}
	if _, err := m.Rotate(context.Background()); !errors.Is(err, ErrNotInitialized) {
		t.Errorf("Rotate: %v", err)
	}
	if string(m.JWKS()) != `{"keys":[]}` || m.Keys() != nil || m.ActiveKeyID() != "" {
		t.Error("accessors before Init")
	}
}

func TestSignChecks(t *testing.T) {
	clk := newClock()
	m := newManager(t, &fakeKeys{}, clk, Options{})
	c := accessClaims(clk.now())
	for _, name := range []string{"iss", "sub", "aud", "exp", "iat", "nbf", "jti", "client_id", "scope"} {
		bad := c
		bad.Extra = map[string]any{name: "x"}
		if _, err := m.Sign(bad, TypeAccess); err == nil {
			t.Errorf("Extra %q accepted", name)
		}
	}
	for name, bad := range map[string]Claims{
		"no iss": {ExpiresAt: c.ExpiresAt},
		"no exp": {Issuer: issuer},
		"bad extra": {Issuer: issuer, ExpiresAt: c.ExpiresAt,
			Extra: map[string]any{"ch": make(chan int)}},
	} {
		if _, err := m.Sign(bad, TypeAccess); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := m.Sign(c, ""); err == nil {
		t.Error("empty typ accepted")
	}
	// Odd claim names stay valid JSON and round-trip.
	odd := "a\x7f\"b\u2028<>&\x00"
	tok0 := mustSign(t, m, Claims{Issuer: issuer, IssuedAt: c.IssuedAt, ExpiresAt: c.ExpiresAt, Extra: map[string]any{odd: "v"}}, TypeJWT)
	got, err := m.Verify(tok0, VerifyOptions{Issuer: issuer, Type: TypeJWT})
	if err != nil || got.Extra[odd] != "v" || len(got.Extra) != 1 {
		t.Errorf("odd claim name: %v, %v", got.Extra, err)
	}
	// Extra claims only: a well-formed object.
	tok := mustSign(t, m, Claims{Issuer: issuer, ExpiresAt: c.ExpiresAt, Extra: map[string]any{"a": 1, "b": "x"}}, TypeJWT)
	p, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
	if want := fmt.Sprintf(`{"iss":%q,"exp":%d,"a":1,"b":"x"}`, issuer, c.ExpiresAt.Unix()); string(p) != want {
		t.Errorf("payload = %s, want %s", p, want)
	}
}

// TestConcurrentUse runs Sign and Verify while keys rotate and reload,
// for the race detector.
func TestConcurrentUse(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	ks := &fakeKeys{}
	m := newManager(t, ks, clk, Options{})
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				tok, err := m.Sign(accessClaims(clk.now()), TypeAccess)
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := m.Verify(tok, accessOpts()); err != nil {
					t.Error(err)
					return
				}
				_ = m.JWKS()
			}
		})
	}
	for range 10 {
		if _, err := m.Rotate(ctx); err != nil {
			t.Error(err)
		}
		if err := m.Reload(ctx); err != nil {
			t.Error(err)
		}
	}
	close(stop)
	wg.Wait()
}

func benchManager(b *testing.B, alg string) (*Manager, *clock) {
	clk := newClock()
	return newManager(b, &fakeKeys{}, clk, Options{Algorithm: alg}), clk
}

func BenchmarkSign(b *testing.B) {
	for _, alg := range []string{AlgEdDSA, AlgES256, AlgRS256} {
		b.Run(alg, func(b *testing.B) {
			m, clk := benchManager(b, alg)
			c := accessClaims(clk.now())
			c.Extra = map[string]any{"usefor": "access"}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := m.Sign(c, TypeAccess); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

func BenchmarkVerify(b *testing.B) {
	for _, alg := range []string{AlgEdDSA, AlgES256, AlgRS256} {
		b.Run(alg, func(b *testing.B) {
			m, clk := benchManager(b, alg)
			c := accessClaims(clk.now())
			c.Extra = map[string]any{"usefor": "access"}
			tok := mustSign(b, m, c, TypeAccess)
			o := accessOpts()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := m.Verify(tok, o); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// FuzzVerify checks that Verify never panics and accepts nothing but
// what the key signed. (Base64 is decoded leniently, so another spelling
// of the same token may pass: its claims must be the signed ones.)
func FuzzVerify(f *testing.F) {
	clk := newClock()
	m := newManager(f, &fakeKeys{}, clk, Options{})
	tok := mustSign(f, m, accessClaims(clk.now()), TypeAccess)
	f.Add(tok)
	f.Add(tok[:len(tok)-2])
	f.Add("e30.e30.")
	f.Add(b64(`{"alg":"EdDSA","kid":"`+m.ActiveKeyID()+`"}`) + ".e30.AAAA")
	o := accessOpts()
	o.Now = clk.now()
	want, err := m.Verify(tok, o)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := m.Verify(raw, o)
		if err == nil && fmt.Sprint(c) != fmt.Sprint(want) {
			t.Errorf("accepted claims that were not signed: %q %+v", raw, c)
		}
	})
}

// dashFirst is a random source whose every draw of a key id would encode
// with a leading '-' (base64url index 62 is 0b111110: bytes 0xF8..0xFB)
// for its first n reads, and random bytes after.
type dashFirst struct{ n int }

func (d *dashFirst) Read(p []byte) (int, error) {
	if d.n > 0 {
		d.n--
		for i := range p {
			p[i] = 0xF8
		}
		return len(p), nil
	}
	return rand.Read(p)
}

// TestKeyIDsNeverStartWithADash: a key id is typed on command lines
// (`tokengate keys revoke KID`), where a leading '-' reads as a flag. One
// draw in 64 of a base64url id starts with '-', so generated ids are drawn
// again until they do not.
func TestKeyIDsNeverStartWithADash(t *testing.T) {
	clk := newClock()
	m := newManager(t, &fakeKeys{}, clk, Options{Rand: &dashFirst{n: 3}})
	kid := m.ActiveKeyID()
	if kid == "" || strings.HasPrefix(kid, "-") {
		t.Fatalf("key id %q", kid)
	}
	if len(kid) != 22 {
		t.Fatalf("key id %q: want 22 base64url characters (128 bits)", kid)
	}
}
