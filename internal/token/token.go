// Package token manages tokengate's signing keys and issues and verifies
// its JWTs: RFC 9068 access tokens and the other JWTs a contract may ask
// for (a JWT refresh token, for instance).
//
// A Manager holds an immutable snapshot of the keys (the active signing
// key, the public halves of the retired keys that may still have live
// tokens, the precomputed JWKS) behind an atomic pointer: Sign, Verify and
// JWKS never lock, and Init, Reload and Rotate swap in a new snapshot.
// Keys live in the store (store.Keys), so every node of a cluster signs
// with the same key once it has reloaded; rotation is a compare-and-swap
// on the active key, so nodes rotating together make one key, not two.
//
// JOSE and the cryptography are github.com/go-jose/go-jose/v4 and the
// standard library; this package only chooses, checks and wires them.
package token

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tokengate/tokengate/internal/store"
)

// Type header ("typ") values.
const (
	// TypeAccess is the typ of RFC 9068 access tokens.
	TypeAccess = "at+jwt"
	// TypeJWT is the typ of the other JWTs (e.g. a contract's JWT refresh
	// token).
	TypeJWT = "JWT"
)

// Signature algorithms a key may have.
const (
	// AlgEdDSA is Ed25519 (RFC 8037). It is the default.
	AlgEdDSA = "EdDSA"
	// AlgES256 is ECDSA on P-256 with SHA-256.
	AlgES256 = "ES256"
	// AlgRS256 is RSASSA-PKCS1-v1_5 with SHA-256 on a 2048-bit key.
	AlgRS256 = "RS256"
)

// MaxTokenSize is the length in bytes beyond which Verify rejects a token
// without parsing it.
const MaxTokenSize = 8 << 10

// Verification errors. Verify wraps exactly one of them; test with
// errors.Is.
var (
	// ErrMalformed means the token is not a well-formed compact JWS with a
	// JSON claims object (or is longer than MaxTokenSize, or lacks exp).
	ErrMalformed = errors.New("malformed token")
	// ErrAlgorithm means the alg header is not one of the loaded keys'
	// algorithms ("none" and HS256 never are), or is not the algorithm of
	// the key named by kid.
	ErrAlgorithm = errors.New("token algorithm not accepted")
	// ErrUnknownKey means the kid header is missing or names no published
	// key.
	ErrUnknownKey = errors.New("token signed by an unknown key")
	// ErrSignature means the signature does not verify.
	ErrSignature = errors.New("token signature invalid")
	// ErrExpired means exp is past (exp <= now - leeway).
	ErrExpired = errors.New("token expired")
	// ErrNotYetValid means nbf or iat is in the future (beyond the leeway).
	ErrNotYetValid = errors.New("token not yet valid")
	// ErrIssuer means iss is not the expected issuer.
	ErrIssuer = errors.New("token issuer mismatch")
	// ErrAudience means the expected audience is not in aud.
	ErrAudience = errors.New("token audience mismatch")
	// ErrType means the typ header is not the expected type.
	ErrType = errors.New("token type mismatch")
	// ErrRetiredKey means the token's iat is later than its key's
	// retirement plus the reload interval: no node signed it with that
	// key in the normal course of things.
	ErrRetiredKey = errors.New("token issued after its key was retired")
	// ErrLifetime means exp − iat exceeds the longest lifetime this
	// server issues for the token's kind.
	ErrLifetime = errors.New("token lifetime longer than any issued")
)

// Key management errors.
var (
	// ErrNotInitialized means Init has not succeeded yet.
	ErrNotInitialized = errors.New("token manager not initialized")
	// ErrNoActiveKey means the store holds no active signing key.
	ErrNoActiveKey = errors.New("no active signing key")
	// ErrMasterKey means a stored key is encrypted and the master key is
	// missing or wrong (or the stored bytes were tampered with).
	ErrMasterKey = errors.New("cannot decrypt signing key: master key missing or wrong")
)

// KeyStore is the part of the store the Manager needs; store.Store
// satisfies it.
type KeyStore interface {
	// ListSigningKeys returns every stored key, newest first.
	ListSigningKeys(ctx context.Context) ([]store.SigningKey, error)
	// AddSigningKey stores k as the active key and retires the active one
	// (see store.Keys).
	AddSigningKey(ctx context.Context, k store.SigningKey, expectActive string, retireUntil time.Time) error
	// RevokeSigningKey marks a retired key revoked (see store.Keys).
	RevokeSigningKey(ctx context.Context, kid string, at time.Time) error
	// SigningKeyRevoked reports whether kid is a stored, revoked key.
	SigningKeyRevoked(ctx context.Context, kid string) (bool, error)
}

// Options configure a Manager.
type Options struct {
	// Algorithm of the keys the Manager generates: AlgEdDSA (default),
	// AlgES256 or AlgRS256. Stored keys of any of these verify whatever
	// the setting.
	Algorithm string
	// IDTokenAlgorithm, when set (OpenID Connect requires AlgRS256),
	// makes the Manager keep a second active key of that algorithm
	// (purpose store.PurposeIDToken) beside the default one: made by
	// Init, rotated by Rotate, retired and published like the default
	// key, and used only by SignIDToken. Tokens it signs verify only with
	// VerifyOptions.IDToken.
	IDTokenAlgorithm string
	// MaxTokenTTL is the longest lifetime of any token the Manager signs;
	// a retired key's public half stays published (and verifying) for
	// that long, plus ReloadInterval, after it stops signing. Required.
	MaxTokenTTL time.Duration
	// MaxLifetimes bounds exp − iat by token kind (the typ header, e.g.
	// TypeAccess, TypeJWT): Verify refuses a longer-lived token
	// (ErrLifetime). A kind not listed is bounded by MaxTokenTTL.
	MaxLifetimes map[string]time.Duration
	// ReloadInterval is how often every node Reloads the keys. A node
	// that has not reloaded yet still signs with the key another node
	// retired, so a retired key's tokens are accepted when their iat is
	// at most RetiredAt + ReloadInterval (ErrRetiredKey otherwise), and
	// the key stays published until MaxTokenTTL after that.
	ReloadInterval time.Duration
	// MasterKey, when non-nil, must be 32 bytes: private keys are then
	// encrypted at rest with AES-256-GCM. See DeriveMasterKey.
	MasterKey []byte
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// DeferIDTokenKey makes Init leave a missing ID token key to
	// EnsureIDTokenKey, so that a first start does not wait for its
	// generation (RSA-2048 takes 50–300 ms here). Until the key exists,
	// SignIDToken waits for it, up to 5 s, and IDTokenAlgorithms already
	// names IDTokenAlgorithm.
	DeferIDTokenKey bool
	// Rand is the source of key ids, GCM nonces and Ed25519 seeds; nil
	// means crypto/rand.Reader. (Since Go 1.26 ECDSA and RSA key
	// generation always use the system source.)
	Rand io.Reader
}

// KeyInfo describes one stored key, for listing.
type KeyInfo struct {
	// ID is the kid.
	ID string
	// Algorithm is AlgEdDSA, AlgES256 or AlgRS256.
	Algorithm string
	// Purpose is "" for the key of access and refresh tokens,
	// store.PurposeIDToken for an ID token key.
	Purpose string
	// Encrypted says whether the private key is stored encrypted.
	Encrypted bool
	// CreatedAt is when the key was generated.
	CreatedAt time.Time
	// RetiredAt is when the key stopped signing; zero for the active key.
	RetiredAt time.Time
	// ExpiresAt is when the retired key's last token expires and the key
	// leaves the JWKS; zero for the active key.
	ExpiresAt time.Time
	// RevokedAt is when the key was revoked as compromised; zero if never.
	RevokedAt time.Time
	// Active is true for a key that signs (the active key of its
	// purpose).
	Active bool
	// Published is true when the public key is in the JWKS (the active
	// key and the retired keys neither expired nor revoked at the last
	// load).
	Published bool
}

// Manager owns the signing keys. It is safe for concurrent use.
type Manager struct {
	ks          KeyStore
	alg         string
	idAlg       string // "": no ID token key
	masterKey   []byte
	maxTTL      time.Duration
	lifetimes   map[string]time.Duration
	reloadEvery time.Duration
	now         func() time.Time
	rand        io.Reader

	mu   sync.Mutex // serializes Init, Reload and Rotate
	snap atomic.Pointer[snapshot]
	// deferID and idKeyWait: see Options.DeferIDTokenKey.
	deferID   bool
	idKeyWait time.Duration
	// installed is closed, and replaced, whenever a new snapshot is
	// installed: SignIDToken waits on it for a deferred ID token key.
	installedMu sync.Mutex
	installed   chan struct{}
	// lastMiss is when (Unix ns) an unknown kid last made VerifyFresh
	// re-read the keys.
	lastMiss atomic.Int64
	// seen remembers tokens whose signature verified (verifiedCache).
	seen verifiedCache
}

// freshInterval is the least time between two key re-reads caused by
// unknown kids, so that a flood of forged kids costs one query a second.
const freshInterval = time.Second

// VerifyFresh is Verify against the keys as the store has them now: a
// token naming a kid this manager does not know first makes it re-read
// the keys (at most once per second), so a key another node has just
// rotated in verifies at once instead of after the next periodic reload;
// and a token that verifies is refused (ErrUnknownKey) when the store
// says its key has been revoked, so a revocation holds on every node at
// once, before their next reload. That costs one store read; Verify is
// the pure, store-free check.
func (m *Manager) VerifyFresh(ctx context.Context, raw string, o VerifyOptions) (Claims, error) {
	return m.VerifyFreshWith(ctx, raw, o, func(ctx context.Context, _ Claims, kid string) (bool, error) {
		return m.ks.SigningKeyRevoked(ctx, kid)
	})
}

// VerifyFreshWith is VerifyFresh with the store read of the key's
// revocation left to revoked, so that a caller that reads the store for
// the token anyway (introspection: denylist, session, subject) reads the
// revocation in the same statement. revoked is called once, only for a
// token that otherwise verified, with its claims and the id of the key
// that signed it, and must report whether that key is revoked; its error
// is returned wrapped.
func (m *Manager) VerifyFreshWith(ctx context.Context, raw string, o VerifyOptions, revoked func(ctx context.Context, c Claims, kid string) (bool, error)) (Claims, error) {
	c, kid, err := m.verify(raw, o)
	if errors.Is(err, ErrUnknownKey) {
		now := m.now().UnixNano()
		last := m.lastMiss.Load()
		if now-last < int64(freshInterval) || !m.lastMiss.CompareAndSwap(last, now) {
			return c, err
		}
		if rerr := m.Reload(ctx); rerr != nil {
			return c, err
		}
		c, kid, err = m.verify(raw, o)
	}
	if err != nil {
		return c, err
	}
	rev, err := revoked(ctx, c, kid)
	if err != nil {
		return Claims{}, fmt.Errorf("token: verify: checking key %s: %w", kid, err)
	}
	if rev {
		return Claims{}, fmt.Errorf("token: verify: %w: key %s revoked", ErrUnknownKey, kid)
	}
	return c, nil
}

// NewManager checks the options and returns a Manager with no keys loaded;
// call Init before use.
func NewManager(ks KeyStore, opts Options) (*Manager, error) {
	if ks == nil {
		return nil, errors.New("token: nil key store")
	}
	alg := opts.Algorithm
	if alg == "" {
		alg = AlgEdDSA
	}
	if _, ok := joseAlg(alg); !ok {
		return nil, fmt.Errorf("token: unsupported algorithm %q (want %s, %s or %s)", alg, AlgEdDSA, AlgES256, AlgRS256)
	}
	if _, ok := joseAlg(opts.IDTokenAlgorithm); opts.IDTokenAlgorithm != "" && !ok {
		return nil, fmt.Errorf("token: unsupported ID token algorithm %q", opts.IDTokenAlgorithm)
	}
	if opts.MasterKey != nil && len(opts.MasterKey) != 32 {
		return nil, fmt.Errorf("token: master key is %d bytes, want 32 (use DeriveMasterKey)", len(opts.MasterKey))
	}
	if opts.MaxTokenTTL <= 0 {
		return nil, errors.New("token: MaxTokenTTL must be positive: it is how long a retired key stays published")
	}
	if opts.ReloadInterval < 0 {
		return nil, errors.New("token: negative ReloadInterval")
	}
	for typ, d := range opts.MaxLifetimes {
		if d <= 0 || d > opts.MaxTokenTTL {
			return nil, fmt.Errorf("token: MaxLifetimes[%q] = %v, want positive and at most MaxTokenTTL", typ, d)
		}
	}
	m := &Manager{
		ks:          ks,
		alg:         alg,
		idAlg:       opts.IDTokenAlgorithm,
		maxTTL:      opts.MaxTokenTTL,
		lifetimes:   maps.Clone(opts.MaxLifetimes),
		reloadEvery: opts.ReloadInterval,
		now:         opts.Now,
		rand:        opts.Rand,
		deferID:     opts.DeferIDTokenKey,
		idKeyWait:   5 * time.Second,
		installed:   make(chan struct{}),
	}
	if opts.MasterKey != nil {
		m.masterKey = append([]byte(nil), opts.MasterKey...)
	}
	if m.now == nil {
		m.now = time.Now
	}
	if m.rand == nil {
		m.rand = rand.Reader
	}
	return m, nil
}

// Init loads the keys, generating and storing the first one (and the
// first ID token key, when IDTokenAlgorithm is set) when the store has
// none. It is safe to run on several nodes at once over one store.
// The store adds a key with no expected active key only while none of its
// purpose is active, so racing nodes end up sharing one first key.
func (m *Manager) Init(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for attempt := 0; attempt < 6; attempt++ {
		keys, err := m.ks.ListSigningKeys(ctx)
		if err != nil {
			return fmt.Errorf("token: init: listing signing keys: %w", err)
		}
		purpose, alg := "", m.alg
		if activeIndex(keys, "") >= 0 {
			if m.idAlg == "" || m.deferID || activeIndex(keys, store.PurposeIDToken) >= 0 {
				return m.install(keys)
			}
			purpose, alg = store.PurposeIDToken, m.idAlg
		}
		now := m.now().UTC()
		k, err := m.newKey("", alg, purpose, now)
		if err != nil {
			return fmt.Errorf("token: init: %w", err)
		}
		// expectActive "" succeeds only while no key is active, so of nodes
		// starting together on an empty store exactly one adds its key.
		err = m.ks.AddSigningKey(ctx, k, "", m.retireUntil(now))
		if err != nil && !errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("token: init: storing first signing key: %w", err)
		}
		// Stored, or another node stored one first: load what is there.
	}
	return fmt.Errorf("token: init: %w after 6 attempts", ErrNoActiveKey)
}

// Reload re-reads the keys from the store (another node may have rotated)
// and swaps in a new snapshot. On error the previous snapshot stays.
func (m *Manager) Reload(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.reload(ctx)
}

func (m *Manager) reload(ctx context.Context) error {
	keys, err := m.ks.ListSigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("token: reload: listing signing keys: %w", err)
	}
	return m.install(keys)
}

func (m *Manager) install(keys []store.SigningKey) error {
	s, err := m.build(keys, m.now())
	if err != nil {
		return fmt.Errorf("token: loading signing keys: %w", err)
	}
	m.snap.Store(s)
	m.installedMu.Lock()
	close(m.installed)
	m.installed = make(chan struct{})
	m.installedMu.Unlock()
	return nil
}

// nextInstall returns a channel closed when the next snapshot is
// installed.
func (m *Manager) nextInstall() <-chan struct{} {
	m.installedMu.Lock()
	defer m.installedMu.Unlock()
	return m.installed
}

// EnsureIDTokenKey makes and stores the ID token key when none is active
// (after a deferred Init; see Options.DeferIDTokenKey), and is a no-op
// otherwise. The key is generated before any lock is taken, so that
// reloads and rotations do not wait for it; of nodes doing this at once
// on one store, one key is stored and every node loads it.
func (m *Manager) EnsureIDTokenKey(ctx context.Context) error {
	if s := m.snap.Load(); m.idAlg == "" || s == nil || s.idActive != nil {
		return nil
	}
	// Another node may have made it already: then load it, and spare the
	// generation.
	keys, err := m.ks.ListSigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("token: ID token key: listing signing keys: %w", err)
	}
	if activeIndex(keys, store.PurposeIDToken) >= 0 {
		m.mu.Lock()
		defer m.mu.Unlock()
		return m.reload(ctx)
	}
	now := m.now().UTC()
	k, err := m.newKey("", m.idAlg, store.PurposeIDToken, now)
	if err != nil {
		return fmt.Errorf("token: ID token key: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if keys, err = m.ks.ListSigningKeys(ctx); err != nil {
		return fmt.Errorf("token: ID token key: listing signing keys: %w", err)
	}
	if activeIndex(keys, store.PurposeIDToken) < 0 {
		// expectActive "" succeeds only while no ID token key is active.
		if err := m.ks.AddSigningKey(ctx, k, "", m.retireUntil(now)); err != nil && !errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("token: ID token key: storing it: %w", err)
		}
	}
	return m.reload(ctx)
}

// retireUntil is when a key retired at now has no live token left: nodes
// may sign with it for ReloadInterval more, and those tokens live up to
// MaxTokenTTL.
func (m *Manager) retireUntil(now time.Time) time.Time {
	return now.Add(m.reloadEvery + m.maxTTL)
}

// Rotate generates a key with the configured algorithm and makes it the
// active one, retiring the current key: its public half stays published
// until now + ReloadInterval + MaxTokenTTL. The result's Private is nil.
// With IDTokenAlgorithm set, the ID token key is then rotated too, in the
// same way (RotateIDToken).
//
// When another node rotated first (the active key in the store is not
// the one this Manager knew), nothing is stored, the Manager reloads, and
// the error wraps store.ErrConflict; call Rotate again to force another
// key. If the key was stored but the reload after it failed, Rotate
// returns the key and the error.
func (m *Manager) Rotate(ctx context.Context) (store.SigningKey, error) {
	k, err := m.rotate(ctx, "")
	if err != nil || m.idAlg == "" {
		return k, err
	}
	if _, err := m.rotate(ctx, store.PurposeIDToken); err != nil && !errors.Is(err, store.ErrConflict) {
		return k, fmt.Errorf("token: rotate: key %s stored, ID token key not rotated: %w", k.ID, err)
	}
	return k, nil
}

// RotateIDToken rotates the ID token key alone, as Rotate does the
// default key. Without IDTokenAlgorithm it is an error.
func (m *Manager) RotateIDToken(ctx context.Context) (store.SigningKey, error) {
	if m.idAlg == "" {
		return store.SigningKey{}, errors.New("token: rotate: no ID token key configured")
	}
	return m.rotate(ctx, store.PurposeIDToken)
}

// rotate replaces the active key of purpose.
func (m *Manager) rotate(ctx context.Context, purpose string) (store.SigningKey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cur := m.snap.Load()
	if cur == nil {
		return store.SigningKey{}, fmt.Errorf("token: rotate: %w", ErrNotInitialized)
	}
	alg, expect := m.alg, cur.active.id
	if purpose == store.PurposeIDToken {
		alg, expect = m.idAlg, ""
		if cur.idActive != nil {
			expect = cur.idActive.id
		}
	}
	now := m.now().UTC()
	k, err := m.newKey("", alg, purpose, now)
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("token: rotate: %w", err)
	}
	err = m.ks.AddSigningKey(ctx, k, expect, m.retireUntil(now))
	if errors.Is(err, store.ErrConflict) {
		if rerr := m.reload(ctx); rerr != nil {
			return store.SigningKey{}, fmt.Errorf("token: rotate: active key changed concurrently (%w); %w", err, rerr)
		}
		return store.SigningKey{}, fmt.Errorf("token: rotate: another node rotated first, keys reloaded: %w", err)
	}
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("token: rotate: storing key: %w", err)
	}
	k.Private = nil
	if err := m.reload(ctx); err != nil {
		return k, fmt.Errorf("token: rotate: key %s stored: %w", k.ID, err)
	}
	return k, nil
}

// Revoke revokes a compromised key: it leaves the JWKS, and every token
// it signed fails VerifyFresh at once on every node (and Verify on each
// node after its next reload). When kid is an active key (the default or
// the ID token key), Revoke first rotates that key to a new one and
// returns it (Private nil); otherwise the returned key is zero. An
// unknown kid is store.ErrNotFound.
func (m *Manager) Revoke(ctx context.Context, kid string) (store.SigningKey, error) {
	var rotated store.SigningKey
	for attempt := 0; ; attempt++ {
		err := m.ks.RevokeSigningKey(ctx, kid, m.now().UTC())
		if err == nil {
			break
		}
		if !errors.Is(err, store.ErrConflict) || attempt == 2 {
			return rotated, fmt.Errorf("token: revoke %s: %w", kid, err)
		}
		// kid is the active key in the store: rotate away from it (or
		// learn that another node just did) and try again.
		if err := m.Reload(ctx); err != nil {
			return rotated, fmt.Errorf("token: revoke %s: %w", kid, err)
		}
		if purpose, active := m.activePurpose(kid); active {
			k, err := m.rotate(ctx, purpose)
			if err != nil && !errors.Is(err, store.ErrConflict) {
				return rotated, fmt.Errorf("token: revoke %s: rotating first: %w", kid, err)
			}
			if err == nil {
				rotated = k
			}
		}
	}
	if err := m.Reload(ctx); err != nil {
		return rotated, fmt.Errorf("token: revoke %s: revoked: %w", kid, err)
	}
	return rotated, nil
}

// activePurpose reports whether kid is an active key, and its purpose.
func (m *Manager) activePurpose(kid string) (string, bool) {
	s := m.snap.Load()
	switch {
	case s == nil:
		return "", false
	case s.active.id == kid:
		return "", true
	case s.idActive != nil && s.idActive.id == kid:
		return store.PurposeIDToken, true
	}
	return "", false
}

// IDTokenKeyID returns the kid of the active ID token key, "" when there
// is none.
func (m *Manager) IDTokenKeyID() string {
	s := m.snap.Load()
	if s == nil || s.idActive == nil {
		return ""
	}
	return s.idActive.id
}

// ActiveKeyID returns the kid of the signing key, "" before Init.
func (m *Manager) ActiveKeyID() string {
	s := m.snap.Load()
	if s == nil {
		return ""
	}
	return s.active.id
}

// JWKS returns the JSON Web Key Set {"keys":[...]} of the active key and
// the retired keys not yet expired, as of the last load. It is computed
// when keys load; each call returns a fresh copy. Before Init it returns
// an empty set.
func (m *Manager) JWKS() []byte {
	s := m.snap.Load()
	if s == nil {
		return []byte(`{"keys":[]}`)
	}
	return append([]byte(nil), s.jwks...)
}

// Keys describes every stored key as of the last load, newest first.
func (m *Manager) Keys() []KeyInfo {
	s := m.snap.Load()
	if s == nil {
		return nil
	}
	return append([]KeyInfo(nil), s.infos...)
}
