// Package fedtest runs a fake identity provider on loopback for tests:
// OpenID Connect discovery (or RFC 8414 metadata), a JWKS whose keys can
// be added and dropped, and RS256, ES256 and EdDSA tokens signed with
// go-jose.
// Tests of federation, of the server and of contracts share it.
package fedtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Metadata says which discovery document the IdP serves.
type Metadata int

// Discovery documents.
const (
	OpenID Metadata = iota // /.well-known/openid-configuration (Auth0, Okta, Keycloak…)
	OAuth                  // only RFC 8414 /.well-known/oauth-authorization-server (tokengate)
	None                   // no discovery: configure the JWKS URL
)

// Options shape an IdP.
type Options struct {
	// TrailingSlash makes the issuer end in "/", as Auth0's does.
	TrailingSlash bool
	// Metadata is the discovery document served; default OpenID.
	Metadata Metadata
	// TLS serves https with a self-signed certificate; use Client.
	TLS bool
}

// IdP is a running fake identity provider.
type IdP struct {
	// URL is the server's base URL; Issuer is the iss of its tokens.
	URL    string
	Issuer string

	srv       *httptest.Server
	opts      Options
	stop      chan struct{} // closed by Close: delayed answers give up
	closeOnce sync.Once

	mu        sync.Mutex
	keys      map[string]*signingKey
	published []string // kids in the JWKS, in order
	delay     time.Duration
	jwksFail  int // status to answer the JWKS with; 0 serves it

	jwksHits      atomic.Int64
	discoveryHits atomic.Int64
}

type signingKey struct {
	alg  jose.SignatureAlgorithm
	priv crypto.Signer
}

// New starts an IdP; it stops when the test ends.
func New(t testing.TB, o Options) *IdP {
	t.Helper()
	p := &IdP{keys: map[string]*signingKey{}, opts: o, stop: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		p.metadata(w, r, OpenID)
	})
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", func(w http.ResponseWriter, r *http.Request) {
		p.metadata(w, r, OAuth)
	})
	mux.HandleFunc("GET /jwks.json", p.jwks)
	if o.TLS {
		p.srv = httptest.NewTLSServer(mux)
	} else {
		p.srv = httptest.NewServer(mux)
	}
	t.Cleanup(p.Close)
	p.URL = p.srv.URL
	p.Issuer = p.URL
	if o.TrailingSlash {
		p.Issuer += "/"
	}
	return p
}

// Close stops the IdP: later fetches fail as for a provider that is down.
func (p *IdP) Close() {
	p.closeOnce.Do(func() { close(p.stop) })
	p.srv.Close()
}

// Client returns an HTTP client that trusts the IdP (needed with TLS).
func (p *IdP) Client() *http.Client { return p.srv.Client() }

// JWKSURL is where the key set is served.
func (p *IdP) JWKSURL() string { return p.URL + "/jwks.json" }

// JWKSRequests counts requests for the key set.
func (p *IdP) JWKSRequests() int64 { return p.jwksHits.Load() }

// DiscoveryRequests counts requests for discovery documents.
func (p *IdP) DiscoveryRequests() int64 { return p.discoveryHits.Load() }

// SetDelay makes every answer wait d (or until the client gives up).
func (p *IdP) SetDelay(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.delay = d
}

// FailJWKS makes the JWKS answer status (0 serves it again).
func (p *IdP) FailJWKS(status int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.jwksFail = status
}

// wait applies the delay, returning false when the client gave up.
func (p *IdP) wait(r *http.Request) bool {
	p.mu.Lock()
	d := p.delay
	p.mu.Unlock()
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	case <-p.stop:
		return false
	}
}

func (p *IdP) metadata(w http.ResponseWriter, r *http.Request, kind Metadata) {
	p.discoveryHits.Add(1)
	if !p.wait(r) {
		return
	}
	if kind != p.opts.Metadata {
		http.NotFound(w, r)
		return
	}
	writeJSON(w, map[string]any{"issuer": p.Issuer, "jwks_uri": p.JWKSURL(), "token_endpoint": p.URL + "/oauth/token"})
}

func (p *IdP) jwks(w http.ResponseWriter, r *http.Request) {
	p.jwksHits.Add(1)
	if !p.wait(r) {
		return
	}
	p.mu.Lock()
	fail := p.jwksFail
	set := jose.JSONWebKeySet{}
	for _, kid := range p.published {
		k := p.keys[kid]
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.priv.Public(), KeyID: kid, Algorithm: string(k.alg), Use: "sig"})
	}
	p.mu.Unlock()
	if fail != 0 {
		http.Error(w, "failing on purpose", fail)
		return
	}
	writeJSON(w, set)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// AddKey makes a key for alg (RS256, ES256 or EdDSA), publishes it in the JWKS
// and returns its kid.
func (p *IdP) AddKey(t testing.TB, alg jose.SignatureAlgorithm) string {
	t.Helper()
	var priv crypto.Signer
	var err error
	switch alg {
	case jose.RS256:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case jose.ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case jose.EdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	default:
		t.Fatalf("fedtest: unsupported algorithm %s", alg)
	}
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var r [4]byte
	_, _ = rand.Read(r[:])
	kid := fmt.Sprintf("%s-%d-%x", strings.ToLower(string(alg)), len(p.keys)+1, r)
	p.keys[kid] = &signingKey{alg: alg, priv: priv}
	p.published = append(p.published, kid)
	return kid
}

// AddUnpublishedKey makes a key the IdP signs with but does not publish
// (a forged or not-yet-rotated key).
func (p *IdP) AddUnpublishedKey(t testing.TB, alg jose.SignatureAlgorithm) string {
	t.Helper()
	kid := p.AddKey(t, alg)
	p.Drop(kid)
	return kid
}

// Publish adds kid back to the JWKS.
func (p *IdP) Publish(kid string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, k := range p.published {
		if k == kid {
			return
		}
	}
	p.published = append(p.published, kid)
}

// Drop removes kid from the JWKS; the IdP can still sign with it.
func (p *IdP) Drop(kid string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.published[:0]
	for _, k := range p.published {
		if k != kid {
			out = append(out, k)
		}
	}
	p.published = out
}

// PublicKeyPEM returns kid's public key as PEM: what an attacker would
// use as the HMAC secret in an algorithm-confusion attack.
func (p *IdP) PublicKeyPEM(t testing.TB, kid string) []byte {
	t.Helper()
	p.mu.Lock()
	k := p.keys[kid]
	p.mu.Unlock()
	der, err := x509.MarshalPKIXPublicKey(k.priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// Claims returns valid claims for sub and aud at now (5 minutes of life);
// tests change what they need.
func (p *IdP) Claims(sub, aud string, now time.Time) map[string]any {
	return map[string]any{
		"iss": p.Issuer, "sub": sub, "aud": aud,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
	}
}

// Sign signs claims with kid's key and algorithm.
func (p *IdP) Sign(t testing.TB, kid string, claims map[string]any) string {
	t.Helper()
	p.mu.Lock()
	k := p.keys[kid]
	p.mu.Unlock()
	if k == nil {
		t.Fatalf("fedtest: unknown kid %q", kid)
	}
	return SignWith(t, jose.SigningKey{Algorithm: k.alg, Key: jose.JSONWebKey{Key: k.priv, KeyID: kid}}, claims)
}

// SignWith signs claims with any go-jose signing key (HS256 with a
// public key as secret, a key the IdP never published…).
func SignWith(t testing.TB, key jose.SigningKey, claims map[string]any) string {
	t.Helper()
	sig, err := jose.NewSigner(key, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := sig.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}
