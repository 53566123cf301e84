package bearer

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
	"strings"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// maxDocumentSize bounds the metadata, JWKS and introspection documents
// read from the network.
const maxDocumentSize = 1 << 20

// minRSABits is the smallest RSA key accepted.
const minRSABits = 2048

// fetchTimeout bounds one key-set fetch that runs detached from the
// requests waiting on it.
const fetchTimeout = 30 * time.Second

// defaultAlgorithms are the signature algorithms accepted when
// Config.Algorithms is empty: every asymmetric JWS algorithm. "none" and
// the HMAC algorithms are never accepted.
var defaultAlgorithms = []jose.SignatureAlgorithm{
	jose.EdDSA, jose.ES256, jose.ES384, jose.ES512,
	jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512,
}

// verifyKey is one public key, bound to the one algorithm it verifies.
type verifyKey struct {
	kid string
	alg jose.SignatureAlgorithm
	pub crypto.PublicKey
}

// keySet is an immutable set of keys; the Verifier swaps whole sets.
type keySet struct {
	byKID   map[string]*verifyKey
	noKID   []*verifyKey // keys published without a kid
	fetched time.Time
}

// lookup returns the key a token with this kid and alg header must verify
// with. A token without kid may use a key published without one.
func (s *keySet) lookup(kid string, alg string) (*verifyKey, error) {
	if kid != "" {
		k := s.byKID[kid]
		if k == nil {
			return nil, ErrUnknownKey
		}
		if string(k.alg) != alg {
			return nil, ErrAlgorithm
		}
		return k, nil
	}
	for _, k := range s.noKID {
		if string(k.alg) == alg {
			return k, nil
		}
	}
	return nil, ErrUnknownKey
}

// keyAlgorithm returns the algorithm a key verifies: its "alg" when given
// (which must fit the key type), else the usual one for its type.
func keyAlgorithm(pub crypto.PublicKey, declared string) (jose.SignatureAlgorithm, error) {
	switch k := pub.(type) {
	case ed25519.PublicKey:
		if declared == "" || declared == string(jose.EdDSA) {
			return jose.EdDSA, nil
		}
	case *ecdsa.PublicKey:
		var want jose.SignatureAlgorithm
		switch k.Curve {
		case elliptic.P256():
			want = jose.ES256
		case elliptic.P384():
			want = jose.ES384
		case elliptic.P521():
			want = jose.ES512
		default:
			return "", errors.New("unsupported elliptic curve")
		}
		if declared == "" || declared == string(want) {
			return want, nil
		}
	case *rsa.PublicKey:
		if k.N.BitLen() < minRSABits {
			return "", fmt.Errorf("RSA key of %d bits, want at least %d", k.N.BitLen(), minRSABits)
		}
		switch jose.SignatureAlgorithm(declared) {
		case "":
			return jose.RS256, nil
		case jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512:
			return jose.SignatureAlgorithm(declared), nil
		}
	default:
		return "", fmt.Errorf("unsupported key type %T (only public Ed25519, ECDSA and RSA keys verify)", pub)
	}
	return "", fmt.Errorf("algorithm %q does not fit a %T", declared, pub)
}

// has reports whether k is one of the set's keys: the same kid and key
// (fetch keeps the *verifyKey of a key that stays in the set).
func (s *keySet) has(k *verifyKey) bool {
	if k.kid != "" {
		return s.byKID[k.kid] == k
	}
	for _, x := range s.noKID {
		if x == k {
			return true
		}
	}
	return false
}

// newKeySet builds a key set from JWKs. Keys for encryption, of
// unsupported types or of algorithms not allowed are skipped with an
// error each in skipped; strict callers (static keys) refuse them. A kid
// that appears twice is an error: which key it names would be a guess.
func newKeySet(jwks []jose.JSONWebKey, allowed []jose.SignatureAlgorithm, now time.Time) (set *keySet, skipped []error, err error) {
	seen := make(map[string]bool, len(jwks))
	for i := range jwks {
		if kid := jwks[i].KeyID; kid != "" {
			if seen[kid] {
				return nil, nil, fmt.Errorf("kid %q appears twice", kid)
			}
			seen[kid] = true
		}
	}
	set = &keySet{byKID: make(map[string]*verifyKey, len(jwks)), fetched: now}
	for i := range jwks {
		j := &jwks[i]
		if j.Use != "" && j.Use != "sig" {
			skipped = append(skipped, fmt.Errorf("key %q: use %q is not sig", j.KeyID, j.Use))
			continue
		}
		pub := j.Key
		if j.Valid() && !j.IsPublic() {
			pub = j.Public().Key
		}
		alg, err := keyAlgorithm(pub, j.Algorithm)
		if err != nil {
			skipped = append(skipped, fmt.Errorf("key %q: %w", j.KeyID, err))
			continue
		}
		if !containsAlg(allowed, alg) {
			skipped = append(skipped, fmt.Errorf("key %q: algorithm %s is not allowed", j.KeyID, alg))
			continue
		}
		k := &verifyKey{kid: j.KeyID, alg: alg, pub: pub}
		if k.kid == "" {
			set.noKID = append(set.noKID, k)
			continue
		}
		set.byKID[k.kid] = k
	}
	return set, skipped, nil
}

// keep replaces the keys of s that old has too (same kid, algorithm and
// public key) by old's, so that cached verifications of a key that stays
// stay valid, and those of a key that left do not (keySet.has).
func (s *keySet) keep(old *keySet) {
	if old == nil {
		return
	}
	type equaler interface{ Equal(crypto.PublicKey) bool }
	same := func(a, b *verifyKey) bool {
		e, ok := a.pub.(equaler)
		return ok && a.alg == b.alg && e.Equal(b.pub)
	}
	for kid, k := range s.byKID {
		if o := old.byKID[kid]; o != nil && same(o, k) {
			s.byKID[kid] = o
		}
	}
	for i, k := range s.noKID {
		for _, o := range old.noKID {
			if same(o, k) {
				s.noKID[i] = o
				break
			}
		}
	}
}

func containsAlg(algs []jose.SignatureAlgorithm, a jose.SignatureAlgorithm) bool {
	for _, x := range algs {
		if x == a {
			return true
		}
	}
	return false
}

// parseJWKS decodes a JWKS document key by key, so that one key of an
// unknown type does not hide the others (RFC 7517 §5).
func parseJWKS(b []byte) ([]jose.JSONWebKey, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, errors.New("JWKS is not a JSON object with keys")
	}
	out := make([]jose.JSONWebKey, 0, len(doc.Keys))
	for _, raw := range doc.Keys {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(raw); err != nil {
			continue
		}
		out = append(out, k)
	}
	return out, nil
}

// fetchCall is one key-set fetch that concurrent callers wait on.
type fetchCall struct {
	done chan struct{}
	err  error
}

// remoteKeys keeps the issuer's JWKS: fetched at start, refetched when a
// token names an unknown kid (at most once per interval, concurrent
// refetches collapsed into one request, as coreos/go-oidc does), and when
// the set is older than maxAge, so that a key the issuer withdrew stops
// verifying.
type remoteKeys struct {
	url      string
	hc       *http.Client
	allowed  []jose.SignatureAlgorithm
	interval time.Duration
	now      func() time.Time

	set atomic.Pointer[keySet]

	mu          sync.Mutex
	inflight    *fetchCall
	lastAttempt time.Time
}

// current returns the key set in use.
func (r *remoteKeys) current() *keySet { return r.set.Load() }

// refetch fetches the key set again unless a fetch ran less than interval
// ago, and waits for it (or for ctx). Callers arriving while a fetch is
// in flight wait for it.
func (r *remoteKeys) refetch(ctx context.Context) error {
	f := r.start(ctx)
	if f == nil {
		return errRateLimited
	}
	select {
	case <-f.done:
		return f.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// start starts a fetch of the key set, unless one is in flight (which it
// returns) or one started less than interval ago (nil). The fetch is
// detached from ctx (a caller giving up does not fail the others),
// bounded by fetchTimeout.
func (r *remoteKeys) start(ctx context.Context) *fetchCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	f := r.inflight
	if f == nil {
		now := r.now()
		if !r.lastAttempt.IsZero() && now.Sub(r.lastAttempt) < r.interval {
			return nil
		}
		r.lastAttempt = now
		f = &fetchCall{done: make(chan struct{})}
		r.inflight = f
		go func() {
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fetchTimeout)
			defer cancel()
			f.err = r.fetch(fctx)
			r.mu.Lock()
			r.inflight = nil
			r.mu.Unlock()
			close(f.done)
		}()
	}
	return f
}

var errRateLimited = errors.New("bearer: key set fetched recently")

// fetch downloads and installs the key set.
func (r *remoteKeys) fetch(ctx context.Context) error {
	b, err := getDocument(ctx, r.hc, r.url)
	if err != nil {
		return fmt.Errorf("bearer: fetching JWKS: %w", err)
	}
	jwks, err := parseJWKS(b)
	if err != nil {
		return fmt.Errorf("bearer: fetching JWKS from %s: %w", r.url, err)
	}
	set, skipped, err := newKeySet(jwks, r.allowed, r.now())
	if err != nil {
		return fmt.Errorf("bearer: JWKS at %s refused: %w", r.url, err)
	}
	if len(set.byKID) == 0 && len(set.noKID) == 0 {
		return fmt.Errorf("bearer: JWKS at %s has no usable signing key (%w)", r.url, errors.Join(skipped...))
	}
	set.keep(r.set.Load())
	r.set.Store(set)
	return nil
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
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxDocumentSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &statusError{url: u, status: resp.StatusCode}
	}
	if len(b) > maxDocumentSize {
		return nil, fmt.Errorf("%s: document larger than %d bytes", u, maxDocumentSize)
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

// metadataURLs returns where an issuer's metadata may be found: the RFC
// 8414 §3.1 location (well-known segment inserted before the issuer's
// path), then the OpenID Connect Discovery one (appended).
func metadataURLs(issuer string) ([]string, error) {
	u, err := url.Parse(issuer)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("bearer: issuer %q is not an http(s) URL without query or fragment", issuer)
	}
	path := strings.TrimSuffix(u.EscapedPath(), "/")
	oauth := u.Scheme + "://" + u.Host + "/.well-known/oauth-authorization-server" + path
	oidc := strings.TrimSuffix(issuer, "/") + "/.well-known/openid-configuration"
	return []string{oauth, oidc}, nil
}

// discover reads the issuer's metadata (RFC 8414) and returns its
// jwks_uri. The document's issuer must be the configured one (§3.3).
func discover(ctx context.Context, hc *http.Client, issuer string) (string, error) {
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
			return "", fmt.Errorf("bearer: discovering %s: %w", issuer, err)
		}
		var meta struct {
			Issuer  string `json:"issuer"`
			JWKSURI string `json:"jwks_uri"`
		}
		if err := json.Unmarshal(b, &meta); err != nil {
			return "", fmt.Errorf("bearer: metadata at %s is not a JSON object", u)
		}
		if meta.Issuer != issuer {
			return "", fmt.Errorf("bearer: metadata at %s names issuer %q, want %q", u, meta.Issuer, issuer)
		}
		if meta.JWKSURI == "" {
			return "", fmt.Errorf("bearer: metadata at %s has no jwks_uri", u)
		}
		if err := checkURL("jwks_uri of "+u, meta.JWKSURI); err != nil {
			return "", err
		}
		return meta.JWKSURI, nil
	}
	return "", fmt.Errorf("bearer: discovering %s: %w", issuer, lastErr)
}

// checkURL refuses a URL that is not https, except http on loopback
// (127.0.0.0/8, ::1, localhost): keys, metadata and introspection
// answers fetched in clear could be replaced on the way.
func checkURL(what, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("bearer: %s %q is not an absolute URL", what, raw)
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
		return nil
	case "http":
		if isLoopback(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("bearer: %s %q is plain http: use https (http is accepted on loopback only)", what, raw)
	}
	return fmt.Errorf("bearer: %s %q is not an http(s) URL", what, raw)
}

// isLoopback reports whether host is localhost or a loopback address.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// secureRedirects returns a copy of hc that follows a redirect of a
// metadata or JWKS request only to a URL checkURL accepts.
func secureRedirects(hc *http.Client) *http.Client {
	cp := *hc
	inner := hc.CheckRedirect
	cp.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if err := checkURL("redirect target", req.URL.String()); err != nil {
			return err
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
