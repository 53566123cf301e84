// Package bearer protects HTTP APIs with OAuth 2.0 access tokens: JWTs
// in the RFC 9068 profile, as tokengate (or any authorization server that
// follows that profile) issues them.
//
// A Verifier checks tokens offline against the issuer's published keys
// (a jwks.KeySet: found through the issuer's metadata, or given as a JWKS
// URL, as static keys or as a key set shared with other Verifiers), and
// optionally asks the issuer's RFC 7662 introspection endpoint
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
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/tokengate/tokengate/jwks"
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
	// every token must equal it. Without JWKSURL, StaticKeys and KeySet,
	// the key set is found through its metadata (jwks.Options.Issuer:
	// /.well-known/openid-configuration, then RFC 8414's
	// /.well-known/oauth-authorization-server), whose issuer must match.
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
	StaticKeys []jwks.Key
	// KeySet is a key set to verify with, shared with other Verifiers or
	// with other uses of the issuer's keys (jwks.NewRemote,
	// jwks.NewStatic). It replaces JWKSURL, StaticKeys, discovery,
	// MinRefetchInterval and KeyMaxAge; NewVerifier fetches it once.
	KeySet *jwks.KeySet

	// Audience must be one of the token's aud values (RFC 9068 §4):
	// without it, a token minted for another API of the same issuer
	// would be accepted. Required unless SkipAudienceCheck.
	Audience string
	// SkipAudienceCheck accepts tokens of any aud when Audience is empty.
	SkipAudienceCheck bool
	// Leeway is the clock skew allowed on exp. Zero means DefaultLeeway;
	// negative means none.
	Leeway time.Duration
	// UseClaim names a claim with which some servers mark what a token
	// is for, beside the RFC 9068 typ header that is always checked:
	// a token carrying the claim with any value but UseValue is refused
	// (ErrUse); a token without it passes. Empty means "usefor" (the
	// datarhei contract's claim, which tokengate issues on such routes);
	// "-" turns the check off.
	UseClaim string
	// UseValue is the UseClaim value of an access token; empty means
	// "access".
	UseValue string
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
	useClaim string // "" : no check
	useValue string
	maxLife  time.Duration // 0: no limit
	algs     []jose.SignatureAlgorithm
	keys     *jwks.KeySet // nil: introspection only
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
	v.useClaim, v.useValue = cfg.UseClaim, cfg.UseValue
	switch v.useClaim {
	case "":
		v.useClaim = "usefor"
	case "-":
		v.useClaim = ""
	}
	if v.useValue == "" {
		v.useValue = "access"
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
	offline := cfg.Issuer != "" || cfg.JWKSURL != "" || len(cfg.StaticKeys) > 0 || cfg.KeySet != nil
	if !offline && cfg.IntrospectionURL == "" {
		return nil, errors.New("bearer: give Issuer, JWKSURL, StaticKeys, KeySet or IntrospectionURL")
	}
	if n := btoi(len(cfg.StaticKeys) > 0) + btoi(cfg.JWKSURL != "") + btoi(cfg.KeySet != nil); n > 1 {
		return nil, errors.New("bearer: give one of JWKSURL, StaticKeys and KeySet")
	}
	if offline && cfg.Issuer == "" && !cfg.SkipIssuerCheck {
		return nil, errors.New("bearer: give Issuer (every token's iss must equal it), or set SkipIssuerCheck")
	}
	if cfg.Audience == "" && !cfg.SkipAudienceCheck {
		return nil, errors.New("bearer: give Audience (every token's aud must contain it), or set SkipAudienceCheck")
	}
	if cfg.IntrospectionURL != "" {
		if err := jwks.CheckURL(cfg.IntrospectionURL); err != nil {
			return nil, fmt.Errorf("bearer: IntrospectionURL: %w", err)
		}
	}
	switch {
	case cfg.KeySet != nil:
		v.keys = cfg.KeySet
	case len(cfg.StaticKeys) > 0:
		if v.keys, err = jwks.NewStatic(cfg.StaticKeys, cfg.Algorithms); err != nil {
			return nil, fmt.Errorf("bearer: %w", err)
		}
	case offline:
		maxAge := cfg.KeyMaxAge
		if maxAge == 0 {
			maxAge = DefaultKeyMaxAge
		}
		interval := cfg.MinRefetchInterval
		if interval <= 0 {
			interval = DefaultMinRefetchInterval
		}
		if v.keys, err = jwks.NewRemote(jwks.Options{
			Issuer: cfg.Issuer, URL: cfg.JWKSURL, HTTPClient: hc, Algorithms: cfg.Algorithms,
			MinRefetchInterval: interval, MaxAge: maxAge, UnknownKeyWait: unknownKidWait, Now: v.now,
		}); err != nil {
			return nil, fmt.Errorf("bearer: %w", err)
		}
	}
	if v.keys != nil {
		if err := v.keys.Refresh(ctx); err != nil {
			return nil, fmt.Errorf("bearer: %w", err)
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
	supported := jwks.Algorithms()
	if len(names) == 0 {
		names = supported
	}
	out := make([]jose.SignatureAlgorithm, 0, len(names))
	for _, n := range names {
		if !slices.Contains(supported, n) {
			return nil, fmt.Errorf("bearer: algorithm %q is not accepted (asymmetric JWS algorithms only)", n)
		}
		out = append(out, jose.SignatureAlgorithm(n))
	}
	return out, nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
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
			if e.key == nil || v.keys.Has(ctx, e.key) {
				return e.claims, e.err
			}
			// Its key left the key set: verify again (and fail).
			v.cache.remove(&key)
		}
	}
	var c *Claims
	var vk *jwks.Key
	var until time.Time
	if v.keys != nil {
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

// candidates finds the keys for kid and alg. A stale key set is
// refetched in the background; an unknown kid waits for a refetch
// (rate-limited to one fetch per MinRefetchInterval) for at most
// unknownKidWait.
func (v *Verifier) candidates(ctx context.Context, kid, alg string) ([]*jwks.Key, error) {
	ks, err := v.keys.Keys(ctx, kid, alg)
	switch {
	case err == nil:
		return ks, nil
	case errors.Is(err, jwks.ErrAlgorithm):
		return nil, ErrAlgorithm
	case errors.Is(err, jwks.ErrUnknownKey):
		return nil, ErrUnknownKey
	}
	// The key set could not be had in time: the kid is unknown here.
	return nil, fmt.Errorf("%w (%w)", ErrUnknownKey, err)
}

// verifyJWT is the offline verification of RFC 9068 §4. It returns the
// key that verified the token.
func (v *Verifier) verifyJWT(ctx context.Context, raw string, now time.Time) (*Claims, *jwks.Key, error) {
	if !canonical(raw) {
		// One token, one spelling: base64url without padding and with
		// zero trailing bits (RFC 7515 §2, RFC 4648 §3.5).
		return nil, nil, fmt.Errorf("%w: not canonical base64url", ErrMalformed)
	}
	tok, err := jwt.ParseSigned(raw, v.algs)
	if err != nil {
		var ua *jose.ErrUnexpectedSignatureAlgorithm
		if errors.As(err, &ua) {
			return nil, nil, ErrAlgorithm
		}
		return nil, nil, fmt.Errorf("%w: not a compact JWS", ErrMalformed)
	}
	if len(tok.Headers) != 1 {
		return nil, nil, fmt.Errorf("%w: want exactly one signature", ErrMalformed)
	}
	h := tok.Headers[0]
	cands, err := v.candidates(ctx, h.KeyID, h.Algorithm)
	if err != nil {
		return nil, nil, err
	}
	var k *jwks.Key
	for _, c := range cands {
		if tok.Claims(c.Public) == nil {
			k = c
			break
		}
	}
	if k == nil {
		return nil, nil, ErrSignature
	}
	typ, _ := h.ExtraHeaders[jose.HeaderType].(string)
	if !isAccessType(typ) {
		return nil, nil, ErrType
	}
	c, err := decodeClaims(tok)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if v.useClaim != "" {
		if use, ok := c.Extra[v.useClaim]; ok && use != v.useValue {
			return nil, nil, ErrUse
		}
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
	if v.audience != "" && !slices.Contains(c.Audience, v.audience) {
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
