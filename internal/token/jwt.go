package token

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tokengate/tokengate/internal/store"
)

// Claims of a tokengate JWT. Zero fields are left out of the token.
type Claims struct {
	Issuer    string    // iss
	Subject   string    // sub
	Audience  []string  // aud: a string when one, an array when several
	ExpiresAt time.Time // exp; required
	IssuedAt  time.Time // iat
	NotBefore time.Time // nbf
	ID        string    // jti
	ClientID  string    // client_id
	Scope     string    // scope, space-separated
	// Extra holds the other claims (a contract's own, "sid"). It may not
	// hold the registered names above. Verify fills it with the claims
	// it does not map to fields, decoded as encoding/json decodes into
	// an any (numbers are float64); nil when there are none.
	Extra map[string]any
}

// registered reports whether name is a claim Claims has a field for.
func registered(name string) bool {
	switch name {
	case "iss", "sub", "aud", "exp", "iat", "nbf", "jti", "client_id", "scope":
		return true
	}
	return false
}

// wireClaims is the JSON form of the registered claims.
type wireClaims struct {
	Iss      string   `json:"iss,omitempty"`
	Sub      string   `json:"sub,omitempty"`
	Aud      audience `json:"aud,omitempty"`
	Exp      int64    `json:"exp,omitempty"`
	Nbf      int64    `json:"nbf,omitempty"`
	Iat      int64    `json:"iat,omitempty"`
	Jti      string   `json:"jti,omitempty"`
	ClientID string   `json:"client_id,omitempty"`
	Scope    string   `json:"scope,omitempty"`
}

// audience marshals as a string when it has one element.
type audience []string

// MarshalJSON implements json.Marshaler.
func (a audience) MarshalJSON() ([]byte, error) {
	if len(a) == 1 {
		return json.Marshal(a[0])
	}
	return json.Marshal([]string(a))
}

func unix(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

// marshalClaims encodes c: the registered claims from a struct, then the
// extra claims appended in key order.
func marshalClaims(c *Claims) ([]byte, error) {
	b, err := json.Marshal(wireClaims{
		Iss: c.Issuer, Sub: c.Subject, Aud: audience(c.Audience),
		Exp: unix(c.ExpiresAt), Nbf: unix(c.NotBefore), Iat: unix(c.IssuedAt),
		Jti: c.ID, ClientID: c.ClientID, Scope: c.Scope,
	})
	if err != nil || len(c.Extra) == 0 {
		return b, err
	}
	names := slices.Sorted(maps.Keys(c.Extra))
	b = b[:len(b)-1] // drop '}'
	for _, name := range names {
		if registered(name) {
			return nil, fmt.Errorf("extra claim %q would override a registered claim", name)
		}
		v, err := json.Marshal(c.Extra[name])
		if err != nil {
			return nil, fmt.Errorf("encoding claim %q: %w", name, err)
		}
		if len(b) > 1 {
			b = append(b, ',')
		}
		if plainName(name) {
			b = append(append(append(b, '"'), name...), '"')
		} else {
			k, err := json.Marshal(name)
			if err != nil {
				return nil, fmt.Errorf("encoding claim name: %w", err)
			}
			b = append(b, k...)
		}
		b = append(b, ':')
		b = append(b, v...)
	}
	return append(b, '}'), nil
}

// plainName reports whether a claim name needs no escaping in JSON.
func plainName(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// Sign signs c with the active key. The header carries alg, kid and typ
// (TypeAccess or TypeJWT usually; other values cost a signer per call).
// c must have an issuer and an expiry.
func (m *Manager) Sign(c Claims, typ string) (string, error) {
	s := m.snap.Load()
	if s == nil {
		return "", fmt.Errorf("token: sign: %w", ErrNotInitialized)
	}
	if typ == "" {
		return "", errors.New("token: sign: empty typ")
	}
	if c.Issuer == "" || c.ExpiresAt.IsZero() {
		return "", errors.New("token: sign: claims need iss and exp")
	}
	payload, err := marshalClaims(&c)
	if err != nil {
		return "", fmt.Errorf("token: sign: %w", err)
	}
	signer, err := s.active.signer(typ)
	if err != nil {
		return "", fmt.Errorf("token: sign: %w", err)
	}
	out, err := signer.sign(payload)
	if err != nil {
		return "", fmt.Errorf("token: sign with key %s: %w", s.active.id, err)
	}
	return out, nil
}

// ClaimATHash is the OpenID Connect ID token claim binding an access
// token (OIDC Core §3.1.3.6); SignIDToken sets it.
const ClaimATHash = "at_hash"

// ErrNoIDTokenKey means SignIDToken was asked for an algorithm that
// neither the ID token key nor the default key has.
var ErrNoIDTokenKey = errors.New("no signing key for the requested ID token algorithm")

// IDTokenAlgorithms lists the algorithms SignIDToken can sign with now:
// the ID token key's first (the default), then the default key's when it
// differs. Empty before Init.
func (m *Manager) IDTokenAlgorithms() []string {
	s := m.snap.Load()
	if s == nil {
		return nil
	}
	var out []string
	switch {
	case s.idActive != nil:
		out = append(out, string(s.idActive.alg))
	case m.idAlg != "":
		// Deferred and not made yet: SignIDToken waits for it.
		out = append(out, m.idAlg)
	}
	if a := string(s.active.alg); !slices.Contains(out, a) {
		out = append(out, a)
	}
	return out
}

// waitIDKey waits, up to idKeyWait, for a snapshot with an ID token key
// (EnsureIDTokenKey making a deferred one) and returns the newest
// snapshot.
func (m *Manager) waitIDKey() *snapshot {
	timer := time.NewTimer(m.idKeyWait)
	defer timer.Stop()
	for {
		next := m.nextInstall()
		s := m.snap.Load()
		if s.idActive != nil {
			return s
		}
		select {
		case <-next:
		case <-timer.C:
			return m.snap.Load()
		}
	}
}

// SignIDToken signs an OpenID Connect ID token (typ JWT) with the key for
// alg: the ID token key when alg is "" or its algorithm, else the default
// key when alg is its algorithm (ErrNoIDTokenKey otherwise). When
// accessToken is not empty it sets the at_hash claim (OIDC Core §3.1.3.6):
// the left half of the hash of the token's ASCII bytes that the signing
// algorithm uses (SHA-256 for RS256 and ES256, SHA-512 for EdDSA, as
// OpenID Connect and go-oidc have it), base64url without padding. It
// returns the token and the algorithm used.
func (m *Manager) SignIDToken(c Claims, alg, accessToken string) (string, string, error) {
	s := m.snap.Load()
	if s == nil {
		return "", "", fmt.Errorf("token: sign ID token: %w", ErrNotInitialized)
	}
	wantID := m.idAlg != "" && (alg == "" || alg == m.idAlg)
	if wantID && s.idActive == nil {
		s = m.waitIDKey()
	}
	var k *signingKey
	switch {
	case s.idActive != nil && (alg == "" || alg == string(s.idActive.alg)):
		k = s.idActive
	case wantID:
		// Never the default key instead: clients expect IDTokenAlgorithm.
		return "", "", fmt.Errorf("token: sign ID token: %w: the %s ID token key is not made yet", ErrNoIDTokenKey, m.idAlg)
	case alg == "" || alg == string(s.active.alg):
		k = s.active
	default:
		return "", "", fmt.Errorf("token: sign ID token: %w: %q", ErrNoIDTokenKey, alg)
	}
	if c.Issuer == "" || c.ExpiresAt.IsZero() {
		return "", "", errors.New("token: sign ID token: claims need iss and exp")
	}
	if accessToken != "" {
		h, err := HalfHash(string(k.alg), accessToken)
		if err != nil {
			return "", "", fmt.Errorf("token: sign ID token: %w", err)
		}
		c.Extra = maps.Clone(c.Extra)
		if c.Extra == nil {
			c.Extra = map[string]any{}
		}
		c.Extra[ClaimATHash] = h
	}
	payload, err := marshalClaims(&c)
	if err != nil {
		return "", "", fmt.Errorf("token: sign ID token: %w", err)
	}
	out, err := k.jwt.sign(payload)
	if err != nil {
		return "", "", fmt.Errorf("token: sign ID token with key %s: %w", k.id, err)
	}
	return out, string(k.alg), nil
}

// HalfHash is the OpenID Connect at_hash (and c_hash) of value for a token
// signed with alg: the left half of its hash, base64url without padding.
func HalfHash(alg, value string) (string, error) {
	var sum []byte
	switch alg {
	case AlgRS256, AlgES256:
		h := sha256.Sum256([]byte(value))
		sum = h[:]
	case AlgEdDSA:
		h := sha512.Sum512([]byte(value))
		sum = h[:]
	default:
		return "", fmt.Errorf("no hash for algorithm %q", alg)
	}
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2]), nil
}

// VerifyOptions say what Verify expects of a token.
type VerifyOptions struct {
	// Issuer must equal iss. Required.
	Issuer string
	// Audience, when non-empty, must be one of aud.
	Audience string
	// Type is the required typ header (TypeAccess, TypeJWT). Compared
	// case-insensitively, an "application/" prefix on either side ignored
	// (RFC 7515 §4.1.9), so "application/at+jwt" passes as TypeAccess.
	// Required.
	Type string
	// Leeway is the clock skew allowed on exp, nbf and iat.
	Leeway time.Duration
	// Now is the verification time; zero means the Manager's clock.
	Now time.Time
	// IDToken accepts a token signed by the ID token key (an OpenID
	// Connect ID token); without it such a token is ErrUnknownKey, so
	// that the ID token key never vouches for an access or refresh token.
	IDToken bool
}

// Verify checks a compact JWS signed by one of the published keys and
// returns its claims. Each failure wraps one of ErrMalformed,
// ErrAlgorithm, ErrUnknownKey, ErrSignature, ErrType, ErrExpired,
// ErrNotYetValid, ErrIssuer, ErrAudience, ErrRetiredKey,
// ErrLifetime (or ErrNotInitialized). Errors never contain the token.
// A token must carry iat: its lifetime and, for a retired key, its
// issue time against the retirement are checked.
func (m *Manager) Verify(raw string, o VerifyOptions) (Claims, error) {
	c, _, err := m.verify(raw, o)
	return c, err
}

// verify is Verify, also returning the kid of the verifying key.
func (m *Manager) verify(raw string, o VerifyOptions) (Claims, string, error) {
	c, key, err := m.verifyKey(raw, o)
	if err != nil {
		return Claims{}, "", err
	}
	return c, key.id, nil
}

func (m *Manager) verifyKey(raw string, o VerifyOptions) (Claims, *verifyKey, error) {
	s := m.snap.Load()
	if s == nil {
		return Claims{}, nil, fmt.Errorf("token: verify: %w", ErrNotInitialized)
	}
	if o.Issuer == "" {
		return Claims{}, nil, fmt.Errorf("token: verify: %w: no issuer expected (VerifyOptions.Issuer is empty)", ErrIssuer)
	}
	if o.Type == "" {
		return Claims{}, nil, fmt.Errorf("token: verify: %w: no type expected (VerifyOptions.Type is empty)", ErrType)
	}
	if len(raw) > MaxTokenSize {
		return Claims{}, nil, fmt.Errorf("token: verify: %w: longer than %d bytes", ErrMalformed, MaxTokenSize)
	}
	sum := sha256.Sum256([]byte(raw))
	v, hit := m.seen.get(sum)
	var jws *jose.JSONWebSignature
	if !hit {
		var err error
		if v, jws, err = parseCompact(s, raw); err != nil {
			return Claims{}, nil, err
		}
	}
	key := s.verify[v.kid]
	if key == nil {
		return Claims{}, nil, fmt.Errorf("token: verify: %w: kid %.40q", ErrUnknownKey, v.kid)
	}
	if key.purpose != "" && (key.purpose != store.PurposeIDToken || !o.IDToken) {
		return Claims{}, nil, fmt.Errorf("token: verify: %w: key %s signs only ID tokens", ErrUnknownKey, key.id)
	}
	if v.alg != string(key.alg) {
		return Claims{}, nil, fmt.Errorf("token: verify: %w: %.16q on a %s key", ErrAlgorithm, v.alg, key.alg)
	}
	now := o.Now
	if now.IsZero() {
		now = m.now()
	}
	leeway := max(o.Leeway, 0)
	if !key.expiresAt.IsZero() && !now.Before(key.expiresAt.Add(leeway)) {
		return Claims{}, nil, fmt.Errorf("token: verify: %w: key %s expired", ErrUnknownKey, key.id)
	}
	if !hit {
		// The signature is checked only now that the key may be used for
		// this token, and remembered only once it verified.
		var err error
		if v, err = verifySignature(jws, key, v); err != nil {
			return Claims{}, nil, err
		}
		m.seen.put(sum, v)
	}
	if !sameType(v.typ, o.Type) {
		return Claims{}, nil, fmt.Errorf("token: verify: %w: typ %.32q, want %q", ErrType, v.typ, o.Type)
	}
	c, hasExp := v.claims, v.hasExp
	if !hasExp {
		return Claims{}, nil, fmt.Errorf("token: verify: %w: no exp claim", ErrMalformed)
	}
	if !now.Add(-leeway).Before(c.ExpiresAt) {
		return Claims{}, nil, fmt.Errorf("token: verify: %w", ErrExpired)
	}
	if !c.NotBefore.IsZero() && c.NotBefore.After(now.Add(leeway)) {
		return Claims{}, nil, fmt.Errorf("token: verify: %w: nbf in the future", ErrNotYetValid)
	}
	if c.IssuedAt.IsZero() {
		return Claims{}, nil, fmt.Errorf("token: verify: %w: no iat claim", ErrMalformed)
	}
	if c.IssuedAt.After(now.Add(leeway)) {
		return Claims{}, nil, fmt.Errorf("token: verify: %w: iat in the future", ErrNotYetValid)
	}
	if life, limit := c.ExpiresAt.Sub(c.IssuedAt), m.lifetime(o.Type); life > limit {
		return Claims{}, nil, fmt.Errorf("token: verify: %w: %v, at most %v", ErrLifetime, life, limit)
	}
	if !key.retiredAt.IsZero() && c.IssuedAt.After(key.retiredAt.Add(m.reloadEvery+leeway)) {
		return Claims{}, nil, fmt.Errorf("token: verify: %w: key %s", ErrRetiredKey, key.id)
	}
	if c.Issuer != o.Issuer {
		return Claims{}, nil, fmt.Errorf("token: verify: %w", ErrIssuer)
	}
	if o.Audience != "" && !slices.Contains(c.Audience, o.Audience) {
		return Claims{}, nil, fmt.Errorf("token: verify: %w", ErrAudience)
	}
	return c, key, nil
}

// parseCompact parses raw as a compact JWS with one signature by a named
// key and returns what its header says (kid, alg, typ); the signature
// itself is verified by verifySignature.
func parseCompact(s *snapshot, raw string) (verified, *jose.JSONWebSignature, error) {
	jws, err := jose.ParseSignedCompact(raw, s.algs)
	if err != nil {
		var ua *jose.ErrUnexpectedSignatureAlgorithm
		if errors.As(err, &ua) {
			return verified{}, nil, fmt.Errorf("token: verify: %w: %.16q", ErrAlgorithm, string(ua.Got))
		}
		return verified{}, nil, fmt.Errorf("token: verify: %w: not a compact JWS", ErrMalformed)
	}
	if len(jws.Signatures) != 1 {
		return verified{}, nil, fmt.Errorf("token: verify: %w: want one signature", ErrMalformed)
	}
	h := jws.Signatures[0].Header
	if h.KeyID == "" {
		return verified{}, nil, fmt.Errorf("token: verify: %w: no kid header", ErrUnknownKey)
	}
	typ, _ := h.ExtraHeaders[jose.HeaderType].(string)
	return verified{kid: h.KeyID, alg: h.Algorithm, typ: typ}, jws, nil
}

// verifySignature verifies the signature of jws with key and decodes its
// claims into v.
func verifySignature(jws *jose.JSONWebSignature, key *verifyKey, v verified) (verified, error) {
	payload, err := jws.Verify(key.public)
	if err != nil {
		return verified{}, fmt.Errorf("token: verify: %w (key %s)", ErrSignature, key.id)
	}
	if v.hasExp, err = decodeClaims(payload, &v.claims); err != nil {
		return verified{}, fmt.Errorf("token: verify: %w: %w", ErrMalformed, err)
	}
	return v, nil
}

// lifetime is the longest exp − iat accepted for a token of type typ,
// rounded up to whole seconds (NumericDates are whole seconds here).
func (m *Manager) lifetime(typ string) time.Duration {
	d, ok := m.lifetimes[typ]
	if !ok {
		for t, v := range m.lifetimes {
			if sameType(t, typ) {
				d, ok = v, true
				break
			}
		}
	}
	if !ok {
		d = m.maxTTL
	}
	if r := d % time.Second; r != 0 {
		d += time.Second - r
	}
	return d
}

// sameType compares typ header values case-insensitively, ignoring an
// "application/" prefix (RFC 7515 §4.1.9, RFC 9068 §2.1).
func sameType(got, want string) bool {
	return strings.EqualFold(trimApplication(got), trimApplication(want))
}

func trimApplication(t string) string {
	const p = "application/"
	if len(t) > len(p) && strings.EqualFold(t[:len(p)], p) {
		return t[len(p):]
	}
	return t
}

// decodeClaims decodes a JSON claims object into c, strictly typed for
// the registered claims. It reports whether exp was present. One
// generic decode: the registered claims are taken out of the map and what
// remains becomes Extra.
func decodeClaims(p []byte, c *Claims) (hasExp bool, err error) {
	var m map[string]any
	if err := json.Unmarshal(p, &m); err != nil || m == nil {
		return false, errors.New("claims are not a JSON object")
	}
	for _, f := range [...]struct {
		name string
		dst  *string
	}{{"iss", &c.Issuer}, {"sub", &c.Subject}, {"jti", &c.ID}, {"client_id", &c.ClientID}, {"scope", &c.Scope}} {
		if v, ok := m[f.name]; ok {
			s, ok := v.(string)
			if !ok {
				return false, fmt.Errorf("claim %s: not a string", f.name)
			}
			*f.dst = s
			delete(m, f.name)
		}
	}
	if v, ok := m["aud"]; ok {
		if c.Audience, err = decodeAudience(v); err != nil {
			return false, err
		}
		delete(m, "aud")
	}
	for _, f := range [...]struct {
		name string
		dst  *time.Time
	}{{"exp", &c.ExpiresAt}, {"nbf", &c.NotBefore}, {"iat", &c.IssuedAt}} {
		if v, ok := m[f.name]; ok {
			if *f.dst, err = decodeDate(v); err != nil {
				return false, fmt.Errorf("claim %s: %w", f.name, err)
			}
			if f.name == "exp" {
				hasExp = true
			}
			delete(m, f.name)
		}
	}
	if len(m) > 0 {
		c.Extra = m
	}
	return hasExp, nil
}

var errAudience = errors.New("claim aud: not a string or an array of strings")

func decodeAudience(v any) ([]string, error) {
	switch v := v.(type) {
	case string:
		return []string{v}, nil
	case []any:
		a := make([]string, len(v))
		for i, x := range v {
			s, ok := x.(string)
			if !ok {
				return nil, errAudience
			}
			a[i] = s
		}
		return a, nil
	}
	return nil, errAudience
}

// maxDate is 9999-12-31T23:59:59Z, the largest NumericDate accepted.
const maxDate = 253402300799

// decodeDate decodes a NumericDate (RFC 7519 §2): seconds since the
// epoch, possibly fractional.
func decodeDate(v any) (time.Time, error) {
	f, ok := v.(float64)
	if !ok {
		return time.Time{}, errors.New("not a number")
	}
	if math.IsNaN(f) || f < 0 || f > maxDate {
		return time.Time{}, errors.New("date out of range")
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), nil
}
