// Package jwks keeps an issuer's JSON Web Key Set (RFC 7517) for
// verifying the JWTs it signs, in the manner of coreos/go-oidc's
// RemoteKeySet: the set is found by discovery (OpenID Connect Discovery
// or RFC 8414 authorization server metadata) or at a given URL, cached,
// fetched again when a token names an unknown kid (at most once per
// MinRefetchInterval, concurrent fetches collapsed into one request) and,
// in the background, when it is older than MaxAge.
//
// Keys come over https only, or plain http on loopback (127.0.0.0/8, ::1,
// localhost); redirects are followed only to such URLs. Documents are
// bounded in size (1 MiB) and fetches in time (FetchTimeout). A key set
// that names one kid twice is refused, as are encryption keys, symmetric
// keys, RSA keys under 2048 bits and keys of algorithms not allowed. Each
// key verifies exactly one algorithm: its "alg", or the usual one for its
// type.
//
// The package logs nothing; Options.OnFetchError reports failed fetches.
// It is used by tokengate's bearer middleware and by its federation of
// external identity providers, and needs nothing of tokengate's server.
package jwks

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Defaults of Options' zero values.
const (
	// DefaultMinRefetchInterval is the least time between two fetches of
	// the key set.
	DefaultMinRefetchInterval = 10 * time.Second
	// DefaultMaxAge is how long a fetched key set is used before it is
	// fetched again.
	DefaultMaxAge = time.Hour
	// DefaultFetchTimeout bounds one fetch (discovery and key set).
	DefaultFetchTimeout = 30 * time.Second
	// DefaultHTTPTimeout is the timeout of the HTTP client used when
	// Options.HTTPClient is nil.
	DefaultHTTPTimeout = 10 * time.Second
)

// MaxDocumentSize bounds a discovery document or key set read from the
// network.
const MaxDocumentSize = 1 << 20

// failureBackoff is the longest a failed fetch waits before it may be
// tried again (MinRefetchInterval when that is shorter).
const failureBackoff = 5 * time.Second

// minRSABits is the smallest RSA key accepted.
const minRSABits = 2048

// Errors of Keys. Fetch failures wrap ErrUnavailable and their cause.
var (
	// ErrUnknownKey means no key of the set has the token's kid (or, for
	// a token without kid, verifies its algorithm), even after fetching
	// the set again when that was allowed.
	ErrUnknownKey = errors.New("jwks: no key for this kid")
	// ErrAlgorithm means the key the kid names verifies another
	// algorithm than the token's.
	ErrAlgorithm = errors.New("jwks: the key named by kid does not verify this algorithm")
	// ErrUnavailable means the key set could not be fetched and the keys
	// at hand (if any) do not have the key asked for.
	ErrUnavailable = errors.New("jwks: key set unavailable")
	// ErrSignature means no key of the set verifies the signature
	// (VerifySignature).
	ErrSignature = errors.New("jwks: signature invalid")
)

// supported are the JWS algorithms a key may verify.
var supported = [...]string{"EdDSA", "ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}

// Algorithms returns the JWS algorithms a key set accepts when
// Options.Algorithms is empty: every asymmetric one. "none" and the HMAC
// algorithms never are.
func Algorithms() []string { return slices.Clone(supported[:]) }

// Key is one verification key, bound to the one algorithm it verifies.
type Key struct {
	// ID is the key's kid; empty for a key published without one.
	ID string
	// Algorithm is the JWS algorithm the key verifies ("EdDSA", "ES256",
	// "RS256", ...). Given to NewStatic, empty means the usual one for
	// the key's type (EdDSA, ES256/384/512 by curve, RS256).
	Algorithm string
	// Public is an ed25519.PublicKey, *ecdsa.PublicKey or *rsa.PublicKey.
	Public crypto.PublicKey
}

// Options configure a remote KeySet. Give Issuer (discovery) or URL.
type Options struct {
	// Issuer is the issuer identifier whose key set is found through its
	// metadata: <issuer>/.well-known/openid-configuration (OpenID Connect
	// Discovery), then the RFC 8414 locations
	// (/.well-known/oauth-authorization-server inserted before the
	// issuer's path, then appended to it). A 404 tries the next one; the
	// document's issuer must equal Issuer.
	Issuer string
	// URL is the key set's address (a jwks_uri); it skips discovery.
	URL string
	// HTTPClient fetches the documents. Nil means a client with a
	// DefaultHTTPTimeout timeout. Its redirects are followed only to
	// https (or loopback http) URLs.
	HTTPClient *http.Client
	// Algorithms restricts the algorithms of the keys kept; empty means
	// Algorithms(). Keys of other algorithms are skipped.
	Algorithms []string
	// MinRefetchInterval is the least time between two fetches (one
	// after a failed fetch comes after at most 5 s). Zero means
	// DefaultMinRefetchInterval.
	MinRefetchInterval time.Duration
	// MaxAge is how long a fetched set is used before it is fetched
	// again. Zero means DefaultMaxAge; negative means never.
	MaxAge time.Duration
	// StaleWait is how long a look-up that finds the set older than
	// MaxAge waits for the fetch it starts before using the keys at hand.
	// Zero means not at all: the set is fetched in the background.
	StaleWait time.Duration
	// UnknownKeyWait bounds how long a look-up of an unknown kid waits
	// for the fetch it needs (which goes on for later look-ups). Zero
	// means until the fetch ends or the look-up's context does.
	UnknownKeyWait time.Duration
	// FetchTimeout bounds one fetch, which runs detached from the
	// callers waiting on it. Zero means DefaultFetchTimeout.
	FetchTimeout time.Duration
	// OnFetchError, when set, is called with every failed fetch.
	OnFetchError func(error)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// KeySet is an issuer's verification keys: fetched (NewRemote) or given
// (NewStatic). It is safe for concurrent use.
type KeySet struct {
	set atomic.Pointer[keys]

	// Remote sets only.
	remote   bool
	issuer   string
	hc       *http.Client
	algs     []string
	interval time.Duration
	maxAge   time.Duration
	stale    time.Duration
	unknown  time.Duration
	timeout  time.Duration
	onErr    func(error)
	now      func() time.Time

	mu          sync.Mutex
	url         string // configured or discovered jwks_uri; "" means discover
	configured  bool   // url was given, not discovered
	inflight    *call
	lastAttempt time.Time
	lastErr     error
}

// call is one fetch that concurrent callers wait on.
type call struct {
	done chan struct{}
	err  error
}

// keys is an immutable set; a KeySet swaps whole sets.
type keys struct {
	byKID   map[string][]*Key // one key each
	all     []*Key
	fetched time.Time
}

// NewRemote returns a key set fetched from Options.URL, or found through
// Options.Issuer's metadata. It does no I/O: the set is fetched at the
// first look-up, or by Refresh.
func NewRemote(o Options) (*KeySet, error) {
	ks := &KeySet{remote: true, issuer: o.Issuer, hc: o.HTTPClient, onErr: o.OnFetchError, now: o.Now,
		interval: o.MinRefetchInterval, timeout: o.FetchTimeout, stale: max(o.StaleWait, 0),
		unknown: max(o.UnknownKeyWait, 0)}
	switch {
	case o.URL != "":
		if err := CheckURL(o.URL); err != nil {
			return nil, fmt.Errorf("jwks: key set URL: %w", err)
		}
		ks.url, ks.configured = o.URL, true
	case o.Issuer != "":
		if err := CheckURL(o.Issuer); err != nil {
			return nil, fmt.Errorf("jwks: issuer: %w", err)
		}
		if _, err := metadataURLs(o.Issuer); err != nil {
			return nil, err
		}
	default:
		return nil, errors.New("jwks: give Issuer or URL")
	}
	algs, err := allowed(o.Algorithms)
	if err != nil {
		return nil, err
	}
	ks.algs = algs
	if ks.hc == nil {
		ks.hc = &http.Client{Timeout: DefaultHTTPTimeout}
	}
	ks.hc = secureRedirects(ks.hc)
	if ks.now == nil {
		ks.now = time.Now
	}
	if ks.interval <= 0 {
		ks.interval = DefaultMinRefetchInterval
	}
	if ks.timeout <= 0 {
		ks.timeout = DefaultFetchTimeout
	}
	switch {
	case o.MaxAge == 0:
		ks.maxAge = DefaultMaxAge
	case o.MaxAge > 0:
		ks.maxAge = o.MaxAge
	}
	return ks, nil
}

// NewStatic returns a key set of the given keys, for issuers whose keys
// are distributed out of band; it never fetches. Every key must be usable
// (a public Ed25519, ECDSA or RSA key of an allowed algorithm, algorithms
// empty meaning Algorithms()), and no kid may appear twice.
func NewStatic(given []Key, algorithms []string) (*KeySet, error) {
	algs, err := allowed(algorithms)
	if err != nil {
		return nil, err
	}
	set, skipped, err := build(given, algs, time.Time{})
	if err == nil && len(skipped) > 0 {
		err = errors.Join(skipped...)
	}
	if err == nil && len(set.all) == 0 {
		err = errors.New("no key")
	}
	if err != nil {
		return nil, fmt.Errorf("jwks: static keys: %w", err)
	}
	ks := &KeySet{algs: algs}
	ks.set.Store(set)
	return ks, nil
}

// allowed checks a list of algorithms.
func allowed(names []string) ([]string, error) {
	if len(names) == 0 {
		return Algorithms(), nil
	}
	for _, n := range names {
		if !slices.Contains(supported[:], n) {
			return nil, fmt.Errorf("jwks: algorithm %q is not accepted (asymmetric JWS algorithms only)", n)
		}
	}
	return slices.Clone(names), nil
}

// Keys returns the keys that may have signed a token with this kid and
// alg header: the one key with the kid, or without a kid every key of
// alg. A set older than MaxAge is fetched again (waiting StaleWait for
// it); an unknown kid fetches the set again unless a fetch ran less than
// MinRefetchInterval ago, and waits for it (at most UnknownKeyWait, and
// until ctx ends). Errors wrap ErrUnknownKey, ErrAlgorithm,
// ErrUnavailable, or the context's error.
//
// A key that stays in the set across fetches stays the same *Key, so
// that Has tells whether a key has left the set.
func (ks *KeySet) Keys(ctx context.Context, kid, alg string) ([]*Key, error) {
	s := ks.set.Load()
	if !ks.remote {
		return s.match(kid, alg)
	}
	now := ks.now()
	if s != nil && ks.isStale(s, now) {
		s = ks.revalidate(ctx, now, s)
	}
	if s != nil {
		if m, err := s.match(kid, alg); !errors.Is(err, ErrUnknownKey) {
			return m, err
		}
	}
	if f := ks.start(ctx, now, false); f != nil {
		wctx := ctx
		if ks.unknown > 0 {
			var cancel context.CancelFunc
			wctx, cancel = context.WithTimeout(ctx, ks.unknown)
			defer cancel()
		}
		select {
		case <-f.done:
		case <-wctx.Done():
			return nil, fmt.Errorf("jwks: waiting for the key set: %w", wctx.Err())
		}
	}
	if s = ks.set.Load(); s != nil {
		if m, err := s.match(kid, alg); !errors.Is(err, ErrUnknownKey) {
			return m, err
		}
	}
	ks.mu.Lock()
	lastErr := ks.lastErr
	ks.mu.Unlock()
	if lastErr != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, lastErr)
	}
	return nil, ErrUnknownKey
}

// VerifySignature verifies a compact JWS (a JWT) with the key its header
// names, found as by Keys, and returns its payload, like go-oidc's
// KeySet. It checks nothing of the claims.
func (ks *KeySet) VerifySignature(ctx context.Context, jws string) ([]byte, error) {
	algs := make([]jose.SignatureAlgorithm, len(ks.algs))
	for i, a := range ks.algs {
		algs[i] = jose.SignatureAlgorithm(a)
	}
	sig, err := jose.ParseSignedCompact(jws, algs)
	if err != nil {
		return nil, fmt.Errorf("jwks: not a compact JWS of an allowed algorithm: %w", err)
	}
	h := sig.Signatures[0].Header
	keys, err := ks.Keys(ctx, h.KeyID, h.Algorithm)
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		if payload, err := sig.Verify(k.Public); err == nil {
			return payload, nil
		}
	}
	return nil, ErrSignature
}

// Has reports whether k (returned by Keys) is still in the set. A set
// older than MaxAge is fetched again first, as by Keys.
func (ks *KeySet) Has(ctx context.Context, k *Key) bool {
	s := ks.set.Load()
	if ks.remote && s != nil && ks.isStale(s, ks.now()) {
		s = ks.revalidate(ctx, ks.now(), s)
	}
	if s == nil || k == nil {
		return false
	}
	if k.ID != "" {
		m := s.byKID[k.ID]
		return len(m) == 1 && m[0] == k
	}
	return slices.Contains(s.all, k)
}

// Refresh fetches the key set now (joining a fetch in flight), whatever
// MinRefetchInterval says, and returns the fetch's error. A program that
// cannot work without the keys calls it at start.
func (ks *KeySet) Refresh(ctx context.Context) error {
	if !ks.remote {
		return nil
	}
	f := ks.start(ctx, ks.now(), true)
	select {
	case <-f.done:
		return f.err
	case <-ctx.Done():
		return fmt.Errorf("jwks: waiting for the key set: %w", ctx.Err())
	}
}

func (ks *KeySet) isStale(s *keys, now time.Time) bool {
	return ks.maxAge > 0 && now.Sub(s.fetched) >= ks.maxAge
}

// revalidate starts fetching the stale set s again. With StaleWait it
// waits for the fetch up to that long and returns the set then in use;
// without, it returns s itself: the caller goes on with the keys at hand,
// whether or not the fetch it started happens to finish first.
func (ks *KeySet) revalidate(ctx context.Context, now time.Time, s *keys) *keys {
	f := ks.start(ctx, now, false)
	if f == nil || ks.stale <= 0 {
		return s
	}
	t := time.NewTimer(ks.stale)
	select {
	case <-f.done:
	case <-t.C:
	case <-ctx.Done():
	}
	t.Stop()
	return ks.set.Load()
}

// start starts a fetch, unless one is in flight (which it returns) or,
// without force, one started too recently (nil). The fetch is detached
// from ctx's cancellation (a caller giving up does not fail the others)
// and bounded by FetchTimeout.
func (ks *KeySet) start(ctx context.Context, now time.Time, force bool) *call {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if ks.inflight != nil {
		return ks.inflight
	}
	if !force && !ks.lastAttempt.IsZero() {
		wait := ks.interval
		if ks.lastErr != nil {
			wait = min(wait, failureBackoff)
		}
		if now.Sub(ks.lastAttempt) < wait {
			return nil
		}
	}
	ks.lastAttempt = now
	f := &call{done: make(chan struct{})}
	ks.inflight = f
	go func() {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ks.timeout)
		defer cancel()
		err := ks.fetch(fctx)
		ks.mu.Lock()
		ks.inflight, ks.lastErr = nil, err
		ks.mu.Unlock()
		if err != nil && ks.onErr != nil {
			ks.onErr(err)
		}
		f.err = err
		close(f.done)
	}()
	return f
}

// fetch discovers the key set's URL when needed, downloads the set and
// installs it.
func (ks *KeySet) fetch(ctx context.Context) error {
	ks.mu.Lock()
	u := ks.url
	ks.mu.Unlock()
	if u == "" {
		var err error
		if u, err = Discover(ctx, ks.hc, ks.issuer); err != nil {
			return err
		}
	}
	b, err := getDocument(ctx, ks.hc, u)
	if err == nil {
		var set *keys
		if set, err = ks.parse(b, u); err == nil {
			set.keep(ks.set.Load())
			ks.set.Store(set)
		}
	}
	ks.mu.Lock()
	defer ks.mu.Unlock()
	switch {
	case ks.configured:
	case err != nil:
		ks.url = "" // discover again next time: the issuer may have moved its keys
	default:
		ks.url = u
	}
	if err != nil {
		return fmt.Errorf("jwks: fetching the key set: %w", err)
	}
	return nil
}

// parse builds a set from a JWKS document.
func (ks *KeySet) parse(b []byte, u string) (*keys, error) {
	jwks, err := parseJWKS(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", u, err)
	}
	set, skipped, err := build(jwks, ks.algs, ks.now())
	if err != nil {
		return nil, fmt.Errorf("key set at %s refused: %w", u, err)
	}
	if len(set.all) == 0 {
		return nil, fmt.Errorf("key set at %s has no usable signing key (%w)", u, errors.Join(skipped...))
	}
	return set, nil
}

// parseJWKS decodes a JWKS document key by key, so that one key of an
// unknown type does not hide the others (RFC 7517 §5). Encryption keys
// are dropped here.
func parseJWKS(b []byte) ([]Key, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, errors.New("not a JSON object with keys")
	}
	out := make([]Key, 0, len(doc.Keys))
	for _, raw := range doc.Keys {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(raw); err != nil {
			// The kid counts for duplicates even when the key is unusable.
			var id struct {
				KID string `json:"kid"`
			}
			if json.Unmarshal(raw, &id) == nil && id.KID != "" {
				out = append(out, Key{ID: id.KID, Public: unusable("not a key go-jose can read")})
			}
			continue
		}
		if k.Use != "" && k.Use != "sig" {
			out = append(out, Key{ID: k.KeyID, Public: unusable(fmt.Sprintf("use %q is not sig", k.Use))})
			continue
		}
		pub := k.Key
		if k.Valid() && !k.IsPublic() {
			pub = k.Public().Key
		}
		out = append(out, Key{ID: k.KeyID, Algorithm: k.Algorithm, Public: pub})
	}
	return out, nil
}

// build makes a set of the given keys. Unusable keys are skipped with an
// error each in skipped. A kid that appears twice is an error: which key
// it names would be a guess.
func build(given []Key, algs []string, now time.Time) (set *keys, skipped []error, err error) {
	seen := make(map[string]bool, len(given))
	for _, k := range given {
		if k.ID != "" {
			if seen[k.ID] {
				return nil, nil, fmt.Errorf("kid %q appears twice", k.ID)
			}
			seen[k.ID] = true
		}
	}
	set = &keys{byKID: make(map[string][]*Key, len(given)), fetched: now}
	for _, k := range given {
		if u, ok := k.Public.(unusable); ok {
			skipped = append(skipped, fmt.Errorf("key %q: %s", k.ID, string(u)))
			continue
		}
		alg, err := keyAlgorithm(k.Public, k.Algorithm)
		if err != nil {
			skipped = append(skipped, fmt.Errorf("key %q: %w", k.ID, err))
			continue
		}
		if !slices.Contains(algs, alg) {
			skipped = append(skipped, fmt.Errorf("key %q: algorithm %s is not allowed", k.ID, alg))
			continue
		}
		kk := &Key{ID: k.ID, Algorithm: alg, Public: k.Public}
		set.all = append(set.all, kk)
		if kk.ID != "" {
			set.byKID[kk.ID] = []*Key{kk}
		}
	}
	return set, skipped, nil
}

// unusable stands for a key of a JWKS that cannot verify, kept so that
// its kid counts for duplicates; it says why.
type unusable string

// keyAlgorithm returns the algorithm a key verifies: its declared one
// (which must fit the key type), else the usual one for its type.
func keyAlgorithm(pub crypto.PublicKey, declared string) (string, error) {
	switch k := pub.(type) {
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return "", errors.New("malformed Ed25519 key")
		}
		if declared == "" || declared == "EdDSA" {
			return "EdDSA", nil
		}
	case *ecdsa.PublicKey:
		var want string
		switch k.Curve {
		case elliptic.P256():
			want = "ES256"
		case elliptic.P384():
			want = "ES384"
		case elliptic.P521():
			want = "ES512"
		default:
			return "", errors.New("unsupported elliptic curve")
		}
		if declared == "" || declared == want {
			return want, nil
		}
	case *rsa.PublicKey:
		if k.N.BitLen() < minRSABits {
			return "", fmt.Errorf("RSA key of %d bits, want at least %d", k.N.BitLen(), minRSABits)
		}
		switch declared {
		case "":
			return "RS256", nil
		case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512":
			return declared, nil
		}
	default:
		return "", fmt.Errorf("unsupported key type %T (only public Ed25519, ECDSA and RSA keys verify)", pub)
	}
	return "", fmt.Errorf("algorithm %q does not fit a %T", declared, pub)
}

// match returns the keys for kid and alg.
func (s *keys) match(kid, alg string) ([]*Key, error) {
	if kid != "" {
		m := s.byKID[kid]
		if m == nil {
			return nil, ErrUnknownKey
		}
		if m[0].Algorithm != alg {
			return nil, ErrAlgorithm
		}
		return m, nil
	}
	var out []*Key
	for _, k := range s.all {
		if k.Algorithm == alg {
			out = append(out, k)
		}
	}
	if len(out) == 0 {
		return nil, ErrUnknownKey
	}
	return out, nil
}

// keep replaces the keys of s that old has too (same kid, algorithm and
// public key) by old's, so that a key that stays is the same *Key.
func (s *keys) keep(old *keys) {
	if old == nil {
		return
	}
	type equaler interface{ Equal(crypto.PublicKey) bool }
	same := func(a, b *Key) bool {
		e, ok := a.Public.(equaler)
		return ok && a.ID == b.ID && a.Algorithm == b.Algorithm && e.Equal(b.Public)
	}
	for i, k := range s.all {
		for _, o := range old.all {
			if same(o, k) {
				s.all[i] = o
				if k.ID != "" {
					s.byKID[k.ID] = []*Key{o}
				}
				break
			}
		}
	}
}

// Discover reads an issuer's metadata and returns its jwks_uri: OpenID
// Connect Discovery first, then RFC 8414 (see Options.Issuer). The
// document's issuer must equal issuer (RFC 8414 §3.3, OIDC Discovery
// §4.3), and the jwks_uri must be https (or loopback http).
func Discover(ctx context.Context, hc *http.Client, issuer string) (string, error) {
	urls, err := metadataURLs(issuer)
	if err != nil {
		return "", err
	}
	var lastErr error
	for _, u := range urls {
		b, err := getDocument(ctx, hc, u)
		if err != nil {
			var se *statusError
			if errors.As(err, &se) && se.status == http.StatusNotFound {
				lastErr = err
				continue
			}
			return "", fmt.Errorf("jwks: discovering %s: %w", issuer, err)
		}
		var meta struct {
			Issuer  string `json:"issuer"`
			JWKSURI string `json:"jwks_uri"`
		}
		if err := json.Unmarshal(b, &meta); err != nil {
			return "", fmt.Errorf("jwks: metadata at %s is not a JSON object", u)
		}
		if meta.Issuer != issuer {
			return "", fmt.Errorf("jwks: metadata at %s names issuer %q, want %q", u, meta.Issuer, issuer)
		}
		if meta.JWKSURI == "" {
			return "", fmt.Errorf("jwks: metadata at %s has no jwks_uri", u)
		}
		if err := CheckURL(meta.JWKSURI); err != nil {
			return "", fmt.Errorf("jwks: jwks_uri of %s: %w", u, err)
		}
		return meta.JWKSURI, nil
	}
	return "", fmt.Errorf("jwks: no discovery document for issuer %s (tried %s): %w", issuer, strings.Join(urls, ", "), lastErr)
}

// metadataURLs returns where an issuer's metadata may be.
func metadataURLs(issuer string) ([]string, error) {
	u, err := url.Parse(issuer)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("jwks: issuer %q is not an http(s) URL without query or fragment", issuer)
	}
	base := strings.TrimSuffix(issuer, "/")
	path := strings.TrimSuffix(u.EscapedPath(), "/")
	out := []string{
		base + "/.well-known/openid-configuration",
		u.Scheme + "://" + u.Host + "/.well-known/oauth-authorization-server" + path,
	}
	if path != "" {
		out = append(out, base+"/.well-known/oauth-authorization-server")
	}
	return out, nil
}

// getDocument GETs a JSON document, refusing other statuses, other
// content types and oversized bodies.
func getDocument(ctx context.Context, hc *http.Client, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxDocumentSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &statusError{url: u, status: resp.StatusCode}
	}
	if len(b) > MaxDocumentSize {
		return nil, fmt.Errorf("%s: document larger than %d bytes", u, MaxDocumentSize)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return nil, fmt.Errorf("%s: Content-Type %q is not JSON", u, ct)
		}
	}
	return b, nil
}

// statusError is an unexpected HTTP status from a document URL.
type statusError struct {
	url    string
	status int
}

func (e *statusError) Error() string { return fmt.Sprintf("%s: HTTP status %d", e.url, e.status) }

// CheckURL refuses a URL that is not https, except http on loopback
// (127.0.0.0/8, ::1, localhost): keys and metadata fetched in clear could
// be replaced on the way.
func CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%q is not an absolute URL", raw)
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
		return nil
	case "http":
		if IsLoopback(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("%q is plain http: use https (http is accepted on loopback only)", raw)
	}
	return fmt.Errorf("%q is not an http(s) URL", raw)
}

// IsLoopback reports whether host is localhost or a loopback address.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// secureRedirects returns a copy of hc that follows a redirect only to a
// URL CheckURL accepts.
func secureRedirects(hc *http.Client) *http.Client {
	cp := *hc
	inner := hc.CheckRedirect
	cp.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if err := CheckURL(req.URL.String()); err != nil {
			return fmt.Errorf("redirect: %w", err)
		}
		if inner != nil {
			return inner(req, via)
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
	return &cp
}
