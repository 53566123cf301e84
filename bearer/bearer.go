// Package bearer protects HTTP APIs with OAuth 2.0 access tokens: JWTs
// in the RFC 9068 profile, as tokengate (or any authorization server that
// follows that profile) issues them.
//
// A Verifier checks tokens offline against the issuer's published keys
// (found through RFC 8414 metadata, or given as a JWKS URL, or as static
// keys), and optionally asks the issuer's RFC 7662 introspection endpoint
// whether a token is still active, for routes that must see a revocation
// at once. Verified tokens are cached until they expire (at most
// MaxTokenLifetime, and no longer than their key stays in the issuer's
// key set), so a token seen again costs a SHA-256 and a map lookup.
//
// What the package guarantees (redirects, fetching, caching, what is
// logged) is summed up in its README.md.
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
	"encoding/base64"
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
	// DefaultLeeway is the clock skew allowed on exp.
	DefaultLeeway = 10 * time.Second
	// DefaultNotBeforeLeeway is the clock skew allowed on nbf and iat: a
	// resource server whose clock is up to this much behind the issuer's
	// accepts the issuer's fresh tokens.
	DefaultNotBeforeLeeway = 5 * time.Minute
	// DefaultMaxTokenLifetime is the longest lifetime (exp − iat) of an
	// accepted token, and the longest a verification is cached.
	DefaultMaxTokenLifetime = 24 * time.Hour
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

// unknownKidWait bounds how long a token with a kid not in the key set
// waits for the key set to be fetched again; the fetch itself goes on in
// the background for later tokens.
const unknownKidWait = 2 * time.Second

// Config says where a Verifier finds the issuer's keys and what it
// expects of a token. Give one of Issuer, JWKSURL or StaticKeys for
// offline verification, IntrospectionURL for introspection, or both:
// tokens are then verified offline first, then introspected.
//
// Audience is required, and so is Issuer for offline verification,
// unless SkipAudienceCheck or SkipIssuerCheck says so explicitly (as in
// coreos/go-oidc). URLs (issuer, metadata, jwks_uri, introspection) must
// be https, except on loopback (127.0.0.0/8, ::1, localhost).
type Config struct {
	// Issuer is the authorization server's issuer identifier; the iss of
	// every token must equal it. Without JWKSURL and StaticKeys, the key
	// set is found through its RFC 8414 metadata
	// (/.well-known/oauth-authorization-server, falling back to
	// /.well-known/openid-configuration), whose issuer must match.
	Issuer string
	// SkipIssuerCheck accepts tokens of any iss with offline verification
	// and no Issuer. Only for issuers whose keys sign for no one else.
	SkipIssuerCheck bool
	// JWKSURL is the issuer's JSON Web Key Set, skipping discovery.
	JWKSURL string
	// StaticKeys are the public keys to verify with, for issuers whose
	// keys are distributed out of band. Each key's algorithm is its Algorithm
	// or, when empty, the usual one for its type (EdDSA, ES256/384/512
	// by curve, RS256). HMAC keys are refused.
	StaticKeys []jose.JSONWebKey

	// Audience must be one of the token's aud values (RFC 9068 §4):
	// without it, a token minted for another API of the same issuer
	// would be accepted. Required unless SkipAudienceCheck.
	Audience string
	// SkipAudienceCheck accepts tokens of any aud when Audience is empty.
	SkipAudienceCheck bool
	// Leeway is the clock skew allowed on exp. Zero means DefaultLeeway;
	// negative means none.
	Leeway time.Duration
	// NotBeforeLeeway is the clock skew allowed on nbf and iat, for a
	// resource server whose clock is behind the issuer's. Zero means
	// DefaultNotBeforeLeeway; negative means none.
	NotBeforeLeeway time.Duration
	// MaxTokenLifetime refuses tokens whose exp − iat (or, without iat,
	// exp − now) exceeds it (ErrLifetime); so no verification is cached
	// longer. Set it to the longest access-token lifetime the issuer
	// grants. Zero means DefaultMaxTokenLifetime; negative means no
	// limit.
	MaxTokenLifetime time.Duration
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
	// KeyMaxAge is how long a fetched key set is used before it is
	// fetched again, in the background while tokens go on verifying with
	// it (so that a key the issuer withdrew stops verifying, and the
	// verifications it cached with it end). Zero means DefaultKeyMaxAge;
	// negative means never.
	KeyMaxAge time.Duration

	// IntrospectionURL is the issuer's RFC 7662 endpoint. When set, every
	// token not in the cache is introspected and must be active.
	IntrospectionURL string
	// ClientID and ClientSecret authenticate the resource server to the
	// introspection endpoint (HTTP Basic). NewVerifier checks them with
	// one introspection request.
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
	nbfLeew  time.Duration
	maxLife  time.Duration // 0: no limit
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
	switch {
	case cfg.NotBeforeLeeway == 0:
		v.nbfLeew = DefaultNotBeforeLeeway
	case cfg.NotBeforeLeeway > 0:
		v.nbfLeew = cfg.NotBeforeLeeway
	}
	switch {
	case cfg.MaxTokenLifetime == 0:
		v.maxLife = DefaultMaxTokenLifetime
	case cfg.MaxTokenLifetime > 0:
		v.maxLife = cfg.MaxTokenLifetime
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
	if offline && cfg.Issuer == "" && !cfg.SkipIssuerCheck {
		return nil, errors.New("bearer: give Issuer (every token's iss must equal it), or set SkipIssuerCheck")
	}
	if cfg.Audience == "" && !cfg.SkipAudienceCheck {
		return nil, errors.New("bearer: give Audience (every token's aud must contain it), or set SkipAudienceCheck")
	}
	for _, u := range []struct{ what, url string }{{"JWKSURL", cfg.JWKSURL}, {"IntrospectionURL", cfg.IntrospectionURL}} {
		if u.url != "" {
			if err := checkURL(u.what, u.url); err != nil {
				return nil, err
			}
		}
	}
	if cfg.Issuer != "" && cfg.JWKSURL == "" && len(cfg.StaticKeys) == 0 {
		if err := checkURL("Issuer", cfg.Issuer); err != nil {
			return nil, err
		}
	}
	docs := secureRedirects(hc)
	switch {
	case len(cfg.StaticKeys) > 0:
		set, skipped, err := newKeySet(cfg.StaticKeys, v.algs, v.now())
		if err == nil && len(skipped) > 0 {
			err = errors.Join(skipped...)
		}
		if err != nil {
			return nil, fmt.Errorf("bearer: static keys: %w", err)
		}
		v.static = set
	case offline:
		jwksURL := cfg.JWKSURL
		if jwksURL == "" {
			if jwksURL, err = discover(ctx, docs, cfg.Issuer); err != nil {
				return nil, err
			}
		}
		interval := cfg.MinRefetchInterval
		if interval <= 0 {
			interval = DefaultMinRefetchInterval
		}
		v.remote = &remoteKeys{url: jwksURL, hc: docs, allowed: v.algs, interval: interval, now: v.now}
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
		// One introspection of a token that exists nowhere checks the
		// endpoint and our credentials now rather than as 503s later.
		if _, err := v.introspect(ctx, "tokengate-bearer-startup-probe", v.now()); err != nil && !errors.Is(err, ErrInactive) {
			return nil, fmt.Errorf("bearer: checking the introspection endpoint: %w", err)
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
// The returned Claims are the caller's own copy.
func (v *Verifier) Verify(ctx context.Context, raw string) (*Claims, error) {
	c, err := v.verify(ctx, raw)
	if err != nil {
		return nil, err
	}
	return c.clone(), nil
}

// verify is Verify without the copy: the Claims may be the cache's.
func (v *Verifier) verify(ctx context.Context, raw string) (*Claims, error) {
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
			if v.remote == nil {
				return e.claims, e.err
			}
			v.refreshStale(ctx, now)
			if e.key == nil || v.remote.current().has(e.key) {
				return e.claims, e.err
			}
			// Its key left the key set: verify again (and fail).
			v.cache.remove(&key)
		}
	}
	var c *Claims
	var vk *verifyKey
	var until time.Time
	if v.static != nil || v.remote != nil {
		var err error
		if c, vk, err = v.verifyJWT(ctx, raw, now); err != nil {
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
		v.cache.put(&key, cacheEntry{claims: c, key: vk, until: until.UnixNano()}, now)
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

// refreshStale starts fetching the key set again in the background when
// it is older than KeyMaxAge; verification goes on with the keys at hand.
func (v *Verifier) refreshStale(ctx context.Context, now time.Time) {
	if v.maxAge > 0 && now.Sub(v.remote.current().fetched) >= v.maxAge {
		v.remote.start(ctx)
	}
}

// key finds the key for kid and alg. A stale key set is refetched in the
// background; an unknown kid waits for a refetch (rate-limited to one
// fetch per MinRefetchInterval) for at most unknownKidWait.
func (v *Verifier) key(ctx context.Context, kid, alg string, now time.Time) (*verifyKey, error) {
	if v.remote != nil {
		v.refreshStale(ctx, now)
	}
	k, err := v.keys().lookup(kid, alg)
	if v.remote == nil || !errors.Is(err, ErrUnknownKey) {
		return k, err
	}
	wctx, cancel := context.WithTimeout(ctx, unknownKidWait)
	_ = v.remote.refetch(wctx)
	cancel()
	return v.remote.current().lookup(kid, alg)
}

// verifyJWT is the offline verification of RFC 9068 §4. It returns the
// key that verified the token.
func (v *Verifier) verifyJWT(ctx context.Context, raw string, now time.Time) (*Claims, *verifyKey, error) {
	if !canonical(raw) {
		// One token, one spelling: base64url without padding and with
		// zero trailing bits (RFC 7515 §2, RFC 4648 §3.5).
		return nil, nil, fmt.Errorf("%w: not canonical base64url", ErrMalformed)
	}
	jws, err := jose.ParseSignedCompact(raw, v.algs)
	if err != nil {
		var ua *jose.ErrUnexpectedSignatureAlgorithm
		if errors.As(err, &ua) {
			return nil, nil, ErrAlgorithm
		}
		return nil, nil, fmt.Errorf("%w: not a compact JWS", ErrMalformed)
	}
	if len(jws.Signatures) != 1 {
		return nil, nil, fmt.Errorf("%w: want exactly one signature", ErrMalformed)
	}
	h := jws.Signatures[0].Header
	k, err := v.key(ctx, h.KeyID, h.Algorithm, now)
	if err != nil {
		return nil, nil, err
	}
	payload, err := jws.Verify(k.pub)
	if err != nil {
		return nil, nil, ErrSignature
	}
	typ, _ := h.ExtraHeaders[jose.HeaderType].(string)
	if !isAccessType(typ) {
		return nil, nil, ErrType
	}
	c, err := decodeClaims(payload)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if use, ok := c.Extra["usefor"]; ok && use != "access" {
		return nil, nil, ErrUse
	}
	if err := v.checkTimes(c, now); err != nil {
		return nil, nil, err
	}
	if v.maxLife > 0 {
		if (!c.IssuedAt.IsZero() && c.ExpiresAt.Sub(c.IssuedAt) > v.maxLife) || c.ExpiresAt.Sub(now) > v.maxLife+v.nbfLeew {
			return nil, nil, ErrLifetime
		}
	}
	if v.issuer != "" && c.Issuer != v.issuer {
		return nil, nil, ErrIssuer
	}
	if v.audience != "" && !contains(c.Audience, v.audience) {
		return nil, nil, ErrAudience
	}
	return c, k, nil
}

// canonical reports whether raw is three base64url segments in their one
// canonical spelling.
func canonical(raw string) bool {
	n := 0
	for seg := range strings.SplitSeq(raw, ".") {
		if n++; n > 3 {
			return false
		}
		// The encoded length alone says whether the decoded bytes fit;
		// Strict refuses non-zero trailing bits.
		if _, err := base64.RawURLEncoding.Strict().DecodeString(seg); err != nil {
			return false
		}
	}
	return n == 3
}

// checkTimes checks exp against now with the leeway, nbf and iat with
// the not-before leeway.
func (v *Verifier) checkTimes(c *Claims, now time.Time) error {
	if !c.ExpiresAt.IsZero() && !now.Add(-v.leeway).Before(c.ExpiresAt) {
		return ErrExpired
	}
	if !c.NotBefore.IsZero() && c.NotBefore.After(now.Add(v.nbfLeew)) {
		return ErrNotYetValid
	}
	if !c.IssuedAt.IsZero() && c.IssuedAt.After(now.Add(v.nbfLeew)) {
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
