package federation

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// maxDocBytes bounds a discovery document or JWKS read from a provider.
const maxDocBytes = 1 << 20

// minRSABits refuses provider keys too short to be trusted.
const minRSABits = 2048

// failureBackoff is the longest a failed key fetch waits before it is
// tried again (shorter when min_refetch_interval is).
const failureBackoff = 5 * time.Second

// keySet is one provider's verification keys, in the manner of go-oidc's
// RemoteKeySet: fetched on first use, refetched when a token names an
// unknown kid or the keys are older than maxAge, with concurrent
// refetches collapsed into one request in flight. Unlike RemoteKeySet it
// rate-limits refetches (an attacker minting random kids cannot make us
// hammer the provider), bounds every refresh by a timeout, and takes the
// context of the request that triggered the refresh.
type keySet struct {
	name       string
	issuer     string
	jwksURL    string // configured; "" means discovery
	client     *http.Client
	timeout    time.Duration
	minRefetch time.Duration
	maxAge     time.Duration
	now        func() time.Time
	log        *slog.Logger
	urlOK      func(string) error

	mu         sync.Mutex
	keys       []jose.JSONWebKey
	loaded     bool      // keys hold a successful fetch
	fetchedAt  time.Time // of the keys held
	attemptAt  time.Time // of the latest fetch, successful or not
	lastErr    error     // of the latest fetch
	discovered string    // jwks_uri found by discovery
	inflight   chan struct{}
}

// candidates returns the keys that may have signed a token with kid and
// alg, refreshing the set when needed and allowed. Errors are
// *oauth.Error values.
func (ks *keySet) candidates(ctx context.Context, kid, alg string) ([]any, error) {
	ks.mu.Lock()
	now := ks.now()
	if ks.loaded && now.Sub(ks.fetchedAt) < ks.maxAge {
		if m := matchKeys(ks.keys, kid, alg); len(m) > 0 {
			ks.mu.Unlock()
			return m, nil
		}
	}
	// Not loaded yet, stale, or an unknown kid: refresh if allowed.
	wait := ks.refreshLocked(ctx, now)
	ks.mu.Unlock()
	if wait != nil {
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, errUnavailable(ctx.Err())
		}
	}
	ks.mu.Lock()
	defer ks.mu.Unlock()
	// Keys that are stale but still published before a failed refresh
	// keep working: the provider being down is no reason to refuse
	// tokens signed with a key it published.
	if m := matchKeys(ks.keys, kid, alg); len(m) > 0 {
		return m, nil
	}
	if ks.lastErr != nil {
		// The kid may be a new key we could not fetch.
		return nil, errUnavailable(ks.lastErr)
	}
	return nil, errUnknownKey()
}

// refreshLocked starts a fetch, or joins the one in flight, and returns
// the channel closed when it is done; nil means a fetch is not allowed
// yet. ks.mu must be held.
func (ks *keySet) refreshLocked(ctx context.Context, now time.Time) <-chan struct{} {
	if ks.inflight != nil {
		return ks.inflight
	}
	if !ks.attemptAt.IsZero() {
		wait := ks.minRefetch
		if ks.lastErr != nil {
			wait = min(wait, failureBackoff)
		}
		if now.Sub(ks.attemptAt) < wait {
			return nil
		}
	}
	ks.attemptAt = now
	done := make(chan struct{})
	ks.inflight = done
	// The fetch outlives the request that started it (others may be
	// waiting for it), so it keeps the context's values but not its
	// cancellation; the timeout bounds it.
	go ks.fetch(context.WithoutCancel(ctx), done)
	return done
}

// fetch downloads the key set and publishes the result.
func (ks *keySet) fetch(ctx context.Context, done chan struct{}) {
	defer close(done)
	ctx, cancel := context.WithTimeout(ctx, ks.timeout)
	defer cancel()
	ks.mu.Lock()
	jwksURL := ks.jwksURL
	if jwksURL == "" {
		jwksURL = ks.discovered
	}
	ks.mu.Unlock()

	var err error
	discovered := ""
	if jwksURL == "" {
		if jwksURL, err = ks.discover(ctx); err == nil {
			discovered = jwksURL
		}
	}
	var keys []jose.JSONWebKey
	if err == nil {
		keys, err = ks.download(ctx, jwksURL)
	}

	ks.mu.Lock()
	defer ks.mu.Unlock()
	ks.inflight = nil
	ks.lastErr = err
	if err != nil {
		// Discover again next time: the provider may have moved its keys.
		ks.discovered = ""
		ks.log.Warn("fetching identity provider keys failed", "issuer", ks.name, "err", err)
		return
	}
	if discovered != "" {
		ks.discovered = discovered
	}
	ks.keys, ks.loaded, ks.fetchedAt = keys, true, ks.now()
	ks.log.Debug("fetched identity provider keys", "issuer", ks.name, "keys", len(keys))
}

// discoveryURLs lists where the provider's metadata may be: OpenID
// Connect discovery, then RFC 8414 (which tokengate serves), in its
// path-inserted form and appended to the issuer.
func discoveryURLs(issuer string) []string {
	base := strings.TrimSuffix(issuer, "/")
	out := []string{base + "/.well-known/openid-configuration"}
	if u, err := url.Parse(issuer); err == nil {
		path := strings.TrimSuffix(u.Path, "/")
		out = append(out, u.Scheme+"://"+u.Host+"/.well-known/oauth-authorization-server"+path)
		if path != "" {
			out = append(out, base+"/.well-known/oauth-authorization-server")
		}
	}
	return out
}

// discover finds the provider's jwks_uri.
func (ks *keySet) discover(ctx context.Context) (string, error) {
	tried := discoveryURLs(ks.issuer)
	for _, u := range tried {
		var doc struct {
			Issuer  string `json:"issuer"`
			JWKSURI string `json:"jwks_uri"`
		}
		status, err := ks.getJSON(ctx, u, &doc)
		if status == http.StatusNotFound {
			continue
		}
		if err != nil {
			return "", err
		}
		if doc.Issuer != ks.issuer {
			return "", fmt.Errorf("discovery document %s names issuer %q, not %q", u, doc.Issuer, ks.issuer)
		}
		if doc.JWKSURI == "" {
			return "", fmt.Errorf("discovery document %s has no jwks_uri", u)
		}
		if err := ks.urlOK(doc.JWKSURI); err != nil {
			return "", fmt.Errorf("discovery document %s: jwks_uri: %w", u, err)
		}
		return doc.JWKSURI, nil
	}
	return "", fmt.Errorf("no discovery document for issuer %s (tried %s)", ks.issuer, strings.Join(tried, ", "))
}

// download fetches and parses a JWKS. Keys that cannot verify
// signatures (unknown types, encryption keys, symmetric or short keys)
// are skipped, so one odd key does not break the set.
func (ks *keySet) download(ctx context.Context, u string) ([]jose.JSONWebKey, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if _, err := ks.getJSON(ctx, u, &doc); err != nil {
		return nil, err
	}
	var keys []jose.JSONWebKey
	for _, raw := range doc.Keys {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(raw); err != nil {
			continue
		}
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		if !k.IsPublic() {
			pub := k.Public()
			if !pub.Valid() {
				continue // symmetric: never a verification key here
			}
			k = pub
		}
		if rk, ok := k.Key.(*rsa.PublicKey); ok && rk.N.BitLen() < minRSABits {
			continue
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("JWKS %s has no usable signing keys", u)
	}
	return keys, nil
}

// getJSON GETs u into v. The status is returned so that discovery can
// tell a missing document from a failing provider.
func (ks *keySet) getJSON(ctx context.Context, u string, v any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := ks.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDocBytes))
		return resp.StatusCode, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxDocBytes+1))
	if err != nil {
		return resp.StatusCode, fmt.Errorf("GET %s: %w", u, err)
	}
	if len(b) > maxDocBytes {
		return resp.StatusCode, fmt.Errorf("GET %s: document larger than %d bytes", u, maxDocBytes)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return resp.StatusCode, fmt.Errorf("GET %s: %w", u, err)
	}
	return resp.StatusCode, nil
}

// matchKeys returns the keys of set that fit kid and alg. A token without
// a kid is tried against every key that fits alg.
func matchKeys(set []jose.JSONWebKey, kid, alg string) []any {
	var out []any
	for _, k := range set {
		if kid != "" && k.KeyID != kid {
			continue
		}
		if k.Algorithm != "" && k.Algorithm != alg {
			continue
		}
		if !keyFitsAlg(k.Key, alg) {
			continue
		}
		out = append(out, k.Key)
	}
	return out
}

// keyFitsAlg checks the key type against the algorithm, so that a key is
// only ever used the way its owner meant it.
func keyFitsAlg(key any, alg string) bool {
	switch k := key.(type) {
	case *rsa.PublicKey:
		return strings.HasPrefix(alg, "RS") || strings.HasPrefix(alg, "PS")
	case *ecdsa.PublicKey:
		switch alg {
		case "ES256":
			return k.Curve == elliptic.P256()
		case "ES384":
			return k.Curve == elliptic.P384()
		case "ES512":
			return k.Curve == elliptic.P521()
		}
	case ed25519.PublicKey:
		return alg == "EdDSA"
	}
	return false
}
