// Package bearer protects HTTP APIs with OAuth 2.0 access tokens: JWTs
// in the RFC 9068 profile, as tokengate (or any authorization server that
// follows that profile) issues them.
//
// A Verifier checks tokens offline against the issuer's published keys
// (found through RFC 8414 metadata, or given as a JWKS URL, or as static
// keys), and optionally asks the issuer's RFC 7662 introspection endpoint
// whether a token is still active, for routes that must see a revocation
// at once. Verified tokens are cached until they expire, so a token seen
// again costs a SHA-256 and a map lookup.
//
// Require wraps a handler: requests without a valid token, or without the
// scopes the route needs, are answered per RFC 6750, and the claims of
// the accepted ones reach the handler through the request's context
// (ClaimsFrom).
//
// The package needs nothing of tokengate's server and speaks only the
// standards: JOSE is github.com/go-jose/go-jose/v4.
package bearer

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// MaxTokenSize is the length in bytes beyond which a token is rejected
// without being parsed or hashed.
const MaxTokenSize = 8 << 10

// Defaults of Config's zero values.
const (
	// DefaultLeeway is the clock skew allowed on exp, nbf and iat.
	DefaultLeeway = 10 * time.Second
	// DefaultMinRefetchInterval is the least time between two key-set
	// fetches caused by unknown kids.
	DefaultMinRefetchInterval = 10 * time.Second
	// DefaultKeyMaxAge is how long a fetched key set is used before it
	// is fetched again.
	DefaultKeyMaxAge = time.Hour
	// DefaultIntrospectionCacheTTL is how long an introspection verdict
	// is reused.
	DefaultIntrospectionCacheTTL = 2 * time.Second
	// DefaultCacheSize bounds the cache of verified tokens.
	DefaultCacheSize = 10000
	// DefaultHTTPTimeout bounds the requests of the default HTTP client.
	DefaultHTTPTimeout = 10 * time.Second
)

// Config says where a Verifier finds the issuer's keys and what it
// expects of a token. Give one of Issuer, JWKSURL or StaticKeys for
// offline verification, IntrospectionURL for introspection, or both:
// tokens are then verified offline first, then introspected.
type Config struct {
	// Issuer is the authorization server's issuer identifier; the iss of
	// every token must equal it. Without JWKSURL and StaticKeys, the key
	// set is found through its RFC 8414 metadata
	// (/.well-known/oauth-authorization-server, falling back to
	// /.well-known/openid-configuration), whose issuer must match.
	Issuer string
	// JWKSURL is the issuer's JSON Web Key Set, skipping discovery. Set
	// Issuer as well: without it, iss is not checked.
	JWKSURL string
	// StaticKeys are the public keys to verify with, for issuers whose
	// keys are distributed out of band. Each key's algorithm is its Algorithm
	// or, when empty, the usual one for its type (EdDSA, ES256/384/512
	// by curve, RS256). HMAC keys are refused.
	StaticKeys []jose.JSONWebKey

	// Audience, when set, must be one of the token's aud values. Set it:
	// a token minted for another API of the same issuer is otherwise
	// accepted.
	Audience string
	// Leeway is the clock skew allowed on exp, nbf and iat. Zero means
	// DefaultLeeway; negative means none.
	Leeway time.Duration
	// Algorithms restricts the accepted JWS algorithms (e.g. "EdDSA",
	// "ES256", "RS256"). Empty means every asymmetric algorithm. "none"
	// and the HMAC algorithms are never accepted. A token must in any
	// case use the algorithm of the key its kid names.
	Algorithms []string

	// HTTPClient fetches metadata and keys and calls the introspection
	// endpoint. Nil means a client with a DefaultHTTPTimeout timeout.
	HTTPClient *http.Client
	// MinRefetchInterval is the least time between two fetches of the key
	// set when tokens name an unknown kid. Zero means
	// DefaultMinRefetchInterval.
	MinRefetchInterval time.Duration
	// KeyMaxAge is how long a fetched key set is trusted before it is
	// fetched again (so that a key the issuer withdrew stops verifying).
	// Zero means DefaultKeyMaxAge; negative means never.
	KeyMaxAge time.Duration

	// IntrospectionURL is the issuer's RFC 7662 endpoint. When set, every
	// token not in the cache is introspected and must be active.
	IntrospectionURL string
	// ClientID and ClientSecret authenticate the resource server to the
	// introspection endpoint (HTTP Basic).
	ClientID     string
	ClientSecret string
	// IntrospectionCacheTTL is how long an introspection verdict is
	// reused: a revocation is seen at most this late. Zero means
	// DefaultIntrospectionCacheTTL; negative disables the cache in
	// introspection mode.
	IntrospectionCacheTTL time.Duration

	// CacheSize bounds the cache of verified tokens. Zero means
	// DefaultCacheSize; negative disables the cache.
	CacheSize int
	// Realm, when set, is announced in WWW-Authenticate challenges.
	Realm string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Verifier verifies access tokens. It is safe for concurrent use.
type Verifier struct {
	issuer   string
	audience string
	leeway   time.Duration
	algs     []jose.SignatureAlgorithm
	static   *keySet     // StaticKeys, or nil
	remote   *remoteKeys // fetched keys, or nil
	maxAge   time.Duration
	intro    *introspector
	introTTL time.Duration
	cache    *tokenCache // nil when disabled
	realm    string
	now      func() time.Time
}

// NewVerifier checks cfg, discovers the issuer's key set and fetches it.
// It fails when the keys cannot be had: a resource server that cannot
// verify tokens should not start.
func NewVerifier(ctx context.Context, cfg Config) (*Verifier, error) {
	v := &Verifier{issuer: cfg.Issuer, audience: cfg.Audience, realm: cfg.Realm, now: cfg.Now}
	if v.now == nil {
		v.now = time.Now
	}
	switch {
	case cfg.Leeway == 0:
		v.leeway = DefaultLeeway
	case cfg.Leeway > 0:
		v.leeway = cfg.Leeway
	}
	if strings.ContainsAny(cfg.Realm, "\"\\") {
		return nil, errors.New("bearer: realm may not contain quotes or backslashes")
	}
	algs, err := allowedAlgorithms(cfg.Algorithms)
	if err != nil {
		return nil, err
	}
	v.algs = algs
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: DefaultHTTPTimeout}
	}
	offline := cfg.Issuer != "" || cfg.JWKSURL != "" || len(cfg.StaticKeys) > 0
	if !offline && cfg.IntrospectionURL == "" {
		return nil, errors.New("bearer: give Issuer, JWKSURL, StaticKeys or IntrospectionURL")
	}
	if len(cfg.StaticKeys) > 0 && cfg.JWKSURL != "" {
		return nil, errors.New("bearer: give JWKSURL or StaticKeys, not both")
	}
	switch {
	case len(cfg.StaticKeys) > 0:
		set, skipped := newKeySet(cfg.StaticKeys, v.algs, v.now())
		if len(skipped) > 0 {
			return nil, fmt.Errorf("bearer: static keys: %w", errors.Join(skipped...))
		}
		v.static = set
	case offline:
		jwksURL := cfg.JWKSURL
		if jwksURL == "" {
			if jwksURL, err = discover(ctx, hc, cfg.Issuer); err != nil {
				return nil, err
			}
		}
		interval := cfg.MinRefetchInterval
		if interval <= 0 {
			interval = DefaultMinRefetchInterval
		}
		v.remote = &remoteKeys{url: jwksURL, hc: hc, allowed: v.algs, interval: interval, now: v.now}
		v.remote.lastAttempt = v.now()
		if err := v.remote.fetch(ctx); err != nil {
			return nil, err
		}
		switch {
		case cfg.KeyMaxAge == 0:
			v.maxAge = DefaultKeyMaxAge
		case cfg.KeyMaxAge > 0:
			v.maxAge = cfg.KeyMaxAge
		}
	}
	if cfg.IntrospectionURL != "" {
		if cfg.ClientID == "" {
			return nil, errors.New("bearer: introspection needs ClientID (and ClientSecret)")
		}
		v.intro = &introspector{url: cfg.IntrospectionURL, clientID: cfg.ClientID, clientSecret: cfg.ClientSecret, hc: noRedirects(hc)}
		switch {
		case cfg.IntrospectionCacheTTL == 0:
			v.introTTL = DefaultIntrospectionCacheTTL
		case cfg.IntrospectionCacheTTL > 0:
			v.introTTL = cfg.IntrospectionCacheTTL
		}
	}
	size := cfg.CacheSize
	if size == 0 {
		size = DefaultCacheSize
	}
	if size > 0 && (v.intro == nil || v.introTTL > 0) {
		v.cache = newTokenCache(size)
	}
	return v, nil
}

// allowedAlgorithms parses Config.Algorithms.
func allowedAlgorithms(names []string) ([]jose.SignatureAlgorithm, error) {
	if len(names) == 0 {
		return defaultAlgorithms, nil
	}
	out := make([]jose.SignatureAlgorithm, 0, len(names))
	for _, n := range names {
		a := jose.SignatureAlgorithm(n)
		if !containsAlg(defaultAlgorithms, a) {
			return nil, fmt.Errorf("bearer: algorithm %q is not accepted (asymmetric JWS algorithms only)", n)
		}
		out = append(out, a)
	}
	return out, nil
}

// Verify checks an access token and returns its claims. A token seen
// before is answered from the cache until it expires (or, with
// introspection, for IntrospectionCacheTTL). Failures wrap one of the
// package's errors (ErrExpired, ErrSignature, ...).
//
// The returned Claims may be shared with other callers: do not modify
// them.
func (v *Verifier) Verify(ctx context.Context, raw string) (*Claims, error) {
	if raw == "" {
		return nil, ErrMissingToken
	}
	if len(raw) > MaxTokenSize {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrMalformed, MaxTokenSize)
	}
	now := v.now()
	var key cacheKey
	if v.cache != nil {
		key = hashToken(raw)
		if e, ok := v.cache.get(&key, now); ok {
			return e.claims, e.err
		}
	}
	var c *Claims
	var until time.Time
	if v.static != nil || v.remote != nil {
		var err error
		if c, err = v.verifyJWT(ctx, raw, now); err != nil {
			return nil, err
		}
		until = c.ExpiresAt.Add(v.leeway)
	}
	if v.intro != nil {
		ic, err := v.introspect(ctx, raw, now)
		if errors.Is(err, ErrUnavailable) {
			return nil, err
		}
		if err != nil {
			if v.cache != nil {
				v.cache.put(&key, cacheEntry{err: err, until: now.Add(v.introTTL).UnixNano()}, now)
			}
			return nil, err
		}
		if c == nil {
			c = ic
			until = c.ExpiresAt.Add(v.leeway)
			if c.ExpiresAt.IsZero() {
				until = now.Add(v.introTTL)
			}
		}
		if t := now.Add(v.introTTL); t.Before(until) {
			until = t
		}
	}
	if v.cache != nil {
		v.cache.put(&key, cacheEntry{claims: c, until: until.UnixNano()}, now)
	}
	return c, nil
}

// hashToken is the cache key of a token. Tokens of usual size are copied
// to the stack first: converting the string to a []byte would allocate
// on every request.
func hashToken(raw string) cacheKey {
	var buf [2048]byte
	if len(raw) <= len(buf) {
		n := copy(buf[:], raw)
		return sha256.Sum256(buf[:n])
	}
	return sha256.Sum256([]byte(raw))
}

// keys returns the key set in use.
func (v *Verifier) keys() *keySet {
	if v.static != nil {
		return v.static
	}
	return v.remote.current()
}

// key finds the key for kid and alg, refetching the key set once when
// kid is unknown (rate-limited to one fetch per MinRefetchInterval).
func (v *Verifier) key(ctx context.Context, kid, alg string, now time.Time) (*verifyKey, error) {
	if v.remote != nil && v.maxAge > 0 && now.Sub(v.remote.current().fetched) >= v.maxAge {
		// Stale: fetch again; on failure keep verifying with what we have.
		_ = v.remote.refetch(ctx)
	}
	k, err := v.keys().lookup(kid, alg)
	if v.remote == nil || !errors.Is(err, ErrUnknownKey) {
		return k, err
	}
	_ = v.remote.refetch(ctx)
	return v.remote.current().lookup(kid, alg)
}

// verifyJWT is the offline verification of RFC 9068 §4.
func (v *Verifier) verifyJWT(ctx context.Context, raw string, now time.Time) (*Claims, error) {
	jws, err := jose.ParseSignedCompact(raw, v.algs)
	if err != nil {
		var ua *jose.ErrUnexpectedSignatureAlgorithm
		if errors.As(err, &ua) {
			return nil, ErrAlgorithm
		}
		return nil, fmt.Errorf("%w: not a compact JWS", ErrMalformed)
	}
	if len(jws.Signatures) != 1 {
		return nil, fmt.Errorf("%w: want exactly one signature", ErrMalformed)
	}
	h := jws.Signatures[0].Header
	k, err := v.key(ctx, h.KeyID, h.Algorithm, now)
	if err != nil {
		return nil, err
	}
	payload, err := jws.Verify(k.pub)
	if err != nil {
		return nil, ErrSignature
	}
	typ, _ := h.ExtraHeaders[jose.HeaderType].(string)
	if !isAccessType(typ) {
		return nil, ErrType
	}
	c, err := decodeClaims(payload)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if use, ok := c.Extra["usefor"]; ok && use != "access" {
		return nil, ErrUse
	}
	if err := v.checkTimes(c, now); err != nil {
		return nil, err
	}
	if v.issuer != "" && c.Issuer != v.issuer {
		return nil, ErrIssuer
	}
	if v.audience != "" && !contains(c.Audience, v.audience) {
		return nil, ErrAudience
	}
	return c, nil
}

// checkTimes checks exp, nbf and iat against now with the leeway.
func (v *Verifier) checkTimes(c *Claims, now time.Time) error {
	if !c.ExpiresAt.IsZero() && !now.Add(-v.leeway).Before(c.ExpiresAt) {
		return ErrExpired
	}
	if !c.NotBefore.IsZero() && c.NotBefore.After(now.Add(v.leeway)) {
		return ErrNotYetValid
	}
	if !c.IssuedAt.IsZero() && c.IssuedAt.After(now.Add(v.leeway)) {
		return ErrNotYetValid
	}
	return nil
}

// isAccessType reports whether a typ header names an RFC 9068 access
// token: "at+jwt", case-insensitively, with or without "application/".
func isAccessType(typ string) bool {
	const p = "application/"
	if len(typ) > len(p) && strings.EqualFold(typ[:len(p)], p) {
		typ = typ[len(p):]
	}
	return strings.EqualFold(typ, "at+jwt")
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
