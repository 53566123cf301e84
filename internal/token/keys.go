package token

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tokengate/tokengate/internal/store"
)

// rsaBits is the size of generated RSA keys and the least accepted.
const rsaBits = 2048

// sealVersion is the first byte of an encrypted private key:
// version || 12-byte nonce || AES-256-GCM ciphertext and tag.
const sealVersion = 1

// DeriveMasterKey derives the 32-byte master key from a configured secret
// string (HMAC-SHA-256 under a fixed label, i.e. HKDF-Extract). It does no
// key stretching: s must carry enough entropy on its own (say 32 random
// bytes, encoded). It returns nil for "", meaning no encryption.
func DeriveMasterKey(s string) []byte {
	if s == "" {
		return nil
	}
	mac := hmac.New(sha256.New, []byte("tokengate signing-key master key v1"))
	mac.Write([]byte(s))
	return mac.Sum(nil)
}

// joseAlg maps a stored algorithm name to go-jose's.
func joseAlg(alg string) (jose.SignatureAlgorithm, bool) {
	switch alg {
	case AlgEdDSA:
		return jose.EdDSA, true
	case AlgES256:
		return jose.ES256, true
	case AlgRS256:
		return jose.RS256, true
	}
	return "", false
}

// newKeyID draws a random 128-bit key id, base64url-encoded. Ids are typed
// on command lines (`tokengate keys revoke KID`), where a leading '-' reads
// as a flag, so a draw that would start with '-' (one in 64) is drawn again.
func (m *Manager) newKeyID() (string, error) {
	b := make([]byte, 16)
	for {
		if _, err := io.ReadFull(m.rand, b); err != nil {
			return "", fmt.Errorf("generating key id: %w", err)
		}
		if kid := base64.RawURLEncoding.EncodeToString(b); kid[0] != '-' {
			return kid, nil
		}
	}
}

// newKey generates a key of algorithm alg for purpose, encrypting it when
// a master key is set. An empty kid means a random one.
func (m *Manager) newKey(kid, alg, purpose string, now time.Time) (store.SigningKey, error) {
	if kid == "" {
		var err error
		if kid, err = m.newKeyID(); err != nil {
			return store.SigningKey{}, err
		}
	}
	var priv crypto.Signer
	var err error
	switch alg {
	case AlgEdDSA:
		_, priv, err = ed25519.GenerateKey(m.rand)
	case AlgES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), m.rand)
	case AlgRS256:
		priv, err = rsa.GenerateKey(m.rand, rsaBits)
	default:
		err = fmt.Errorf("unsupported algorithm %q", alg)
	}
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("generating %s key: %w", alg, err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("encoding %s key: %w", alg, err)
	}
	k := store.SigningKey{ID: kid, Algorithm: alg, Purpose: purpose, Private: der, CreatedAt: now}
	if m.masterKey != nil {
		k.Private, err = m.seal(der, kid)
		if err != nil {
			return store.SigningKey{}, fmt.Errorf("encrypting key %s: %w", kid, err)
		}
		k.Encrypted = true
	}
	return k, nil
}

func (m *Manager) gcm() (cipher.AEAD, error) {
	block, err := aes.NewCipher(m.masterKey)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// seal encrypts a private key under the master key, with the kid as
// additional data so that a ciphertext cannot be moved to another key id.
func (m *Manager) seal(plain []byte, kid string) ([]byte, error) {
	aead, err := m.gcm()
	if err != nil {
		return nil, err
	}
	out := make([]byte, 1+aead.NonceSize(), 1+aead.NonceSize()+len(plain)+aead.Overhead())
	out[0] = sealVersion
	if _, err := io.ReadFull(m.rand, out[1:]); err != nil {
		return nil, fmt.Errorf("reading nonce: %w", err)
	}
	return aead.Seal(out, out[1:], plain, []byte(kid)), nil
}

// open reverses seal.
func (m *Manager) open(sealed []byte, kid string) ([]byte, error) {
	if m.masterKey == nil {
		return nil, fmt.Errorf("%w (key %s is encrypted and no master key is configured)", ErrMasterKey, kid)
	}
	aead, err := m.gcm()
	if err != nil {
		return nil, err
	}
	n := aead.NonceSize()
	if len(sealed) < 1+n+aead.Overhead() || sealed[0] != sealVersion {
		return nil, fmt.Errorf("%w (key %s: unknown encryption format)", ErrMasterKey, kid)
	}
	plain, err := aead.Open(nil, sealed[1:1+n], sealed[1+n:], []byte(kid))
	if err != nil {
		return nil, fmt.Errorf("%w (key %s)", ErrMasterKey, kid)
	}
	return plain, nil
}

// parsePrivate decrypts (when needed) and parses a stored key, checking
// that its type matches its algorithm.
// It also returns the decrypted PKCS#8 DER.
func (m *Manager) parsePrivate(k store.SigningKey) (crypto.Signer, []byte, error) {
	der := k.Private
	if k.Encrypted {
		var err error
		if der, err = m.open(k.Private, k.ID); err != nil {
			return nil, nil, err
		}
	}
	key, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, nil, fmt.Errorf("key %s: parsing PKCS#8: %w", k.ID, err)
	}
	ok := false
	switch priv := key.(type) {
	case ed25519.PrivateKey:
		ok = k.Algorithm == AlgEdDSA
	case *ecdsa.PrivateKey:
		ok = k.Algorithm == AlgES256 && priv.Curve == elliptic.P256()
	case *rsa.PrivateKey:
		ok = k.Algorithm == AlgRS256
		if ok && priv.N.BitLen() < rsaBits {
			return nil, nil, fmt.Errorf("key %s: RSA key of %d bits, want at least %d", k.ID, priv.N.BitLen(), rsaBits)
		}
	}
	if !ok {
		return nil, nil, fmt.Errorf("key %s: a %T does not fit algorithm %q", k.ID, key, k.Algorithm)
	}
	return key.(crypto.Signer), der, nil
}

// snapshot is an immutable view of the keys; a Manager swaps whole
// snapshots.
type snapshot struct {
	active *signingKey
	// idActive is the active ID token key (store.PurposeIDToken); nil
	// when the store holds none.
	idActive *signingKey
	// verify holds the published keys by kid.
	verify map[string]*verifyKey
	// algs are the algorithms of the published keys: the only ones
	// ParseSignedCompact accepts.
	algs  []jose.SignatureAlgorithm
	jwks  []byte
	infos []KeyInfo
	// macKeys are the refresh-token MAC keys of the published keys, by
	// MAC key id (see refreshMACKey).
	macKeys map[string][]byte
}

// signingKey is the active key with its prebuilt signers.
type signingKey struct {
	id   string
	alg  jose.SignatureAlgorithm
	priv crypto.Signer
	// signers by typ header, for TypeAccess and TypeJWT, immutable once
	// built and safe for concurrent use.
	access, jwt *compactSigner
	// macID and macKey make opaque refresh tokens (refreshMACKey).
	macID  string
	macKey []byte
}

// signer returns a signer producing the given typ header.
func (k *signingKey) signer(typ string) (*compactSigner, error) {
	switch typ {
	case TypeAccess:
		return k.access, nil
	case TypeJWT:
		return k.jwt, nil
	}
	return newSigner(k.id, k.alg, k.priv, typ)
}

// verifyKey is a published public key.
type verifyKey struct {
	id        string
	purpose   string // store.SigningKey.Purpose
	alg       jose.SignatureAlgorithm
	public    crypto.PublicKey
	retiredAt time.Time // zero for the active key
	expiresAt time.Time // zero for the active key
}

// activeIndex returns the index of the active key of purpose (neither
// retired nor revoked; the newest if, against the store's contract, there
// are several), or -1.
func activeIndex(keys []store.SigningKey, purpose string) int {
	best := -1
	for i := range keys {
		if keys[i].Purpose == purpose && keys[i].RetiredAt.IsZero() && keys[i].RevokedAt.IsZero() && (best < 0 || keys[i].CreatedAt.After(keys[best].CreatedAt)) {
			best = i
		}
	}
	return best
}

// build makes a snapshot of the stored keys as of now. Keys retired and
// expired, and revoked keys, are listed but neither parsed nor published.
// The active ID token key, when there is one, is published and signs ID
// tokens only; keys of a purpose this version does not know are published
// while active or unexpired but sign nothing.
func (m *Manager) build(keys []store.SigningKey, now time.Time) (*snapshot, error) {
	ai := activeIndex(keys, "")
	if ai < 0 {
		return nil, ErrNoActiveKey
	}
	idi := activeIndex(keys, store.PurposeIDToken)
	s := &snapshot{
		verify:  make(map[string]*verifyKey, len(keys)),
		infos:   make([]KeyInfo, len(keys)),
		macKeys: make(map[string][]byte, len(keys)),
	}
	activeOf := map[string]int{}
	for _, k := range keys {
		if _, done := activeOf[k.Purpose]; !done {
			activeOf[k.Purpose] = activeIndex(keys, k.Purpose)
		}
	}
	isActive := func(i int) bool { return activeOf[keys[i].Purpose] == i }
	published := func(i int) bool {
		return isActive(i) || (keys[i].RevokedAt.IsZero() && !keys[i].ExpiresAt.IsZero() && now.Before(keys[i].ExpiresAt))
	}
	for i, k := range keys {
		s.infos[i] = KeyInfo{
			ID: k.ID, Algorithm: k.Algorithm, Purpose: k.Purpose, Encrypted: k.Encrypted,
			CreatedAt: k.CreatedAt, RetiredAt: k.RetiredAt, ExpiresAt: k.ExpiresAt, RevokedAt: k.RevokedAt,
			Active: isActive(i), Published: published(i),
		}
	}
	// Publish the active key first, then the others in store order
	// (newest first).
	set := jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, 0, len(keys))}
	order := make([]int, 0, len(keys))
	order = append(order, ai)
	for i := range keys {
		if i != ai && published(i) {
			order = append(order, i)
		}
	}
	for _, i := range order {
		k := keys[i]
		active := isActive(i)
		if _, dup := s.verify[k.ID]; dup {
			return nil, fmt.Errorf("key id %s appears twice", k.ID)
		}
		alg, ok := joseAlg(k.Algorithm)
		if !ok {
			return nil, fmt.Errorf("key %s: unsupported algorithm %q", k.ID, k.Algorithm)
		}
		priv, der, err := m.parsePrivate(k)
		if err != nil {
			return nil, err
		}
		// Refresh-token MAC keys derive from the access-token keys only:
		// an ID token key signs ID tokens and nothing else.
		var macID string
		var macKey []byte
		if k.Purpose != store.PurposeIDToken {
			macID, macKey = refreshMACKey(k.ID, der)
			if _, dup := s.macKeys[macID]; dup {
				return nil, fmt.Errorf("key %s: refresh MAC key id collides with another key's", k.ID)
			}
			s.macKeys[macID] = macKey
		}
		pub := priv.Public()
		vk := &verifyKey{id: k.ID, purpose: k.Purpose, alg: alg, public: pub}
		if !active {
			vk.retiredAt, vk.expiresAt = k.RetiredAt, k.ExpiresAt
		}
		s.verify[k.ID] = vk
		if !containsAlg(s.algs, alg) {
			s.algs = append(s.algs, alg)
		}
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: pub, KeyID: k.ID, Algorithm: string(alg), Use: "sig"})
		if i == idi {
			sk := &signingKey{id: k.ID, alg: alg, priv: priv}
			if sk.jwt, err = newSigner(k.ID, alg, priv, TypeJWT); err != nil {
				return nil, err
			}
			s.idActive = sk
		}
		if i == ai {
			sk := &signingKey{id: k.ID, alg: alg, priv: priv, macID: macID, macKey: macKey}
			if sk.access, err = newSigner(k.ID, alg, priv, TypeAccess); err != nil {
				return nil, err
			}
			if sk.jwt, err = newSigner(k.ID, alg, priv, TypeJWT); err != nil {
				return nil, err
			}
			s.active = sk
		}
	}
	var err error
	if s.jwks, err = json.Marshal(set); err != nil {
		return nil, fmt.Errorf("encoding JWKS: %w", err)
	}
	return s, nil
}

func containsAlg(algs []jose.SignatureAlgorithm, a jose.SignatureAlgorithm) bool {
	for _, x := range algs {
		if x == a {
			return true
		}
	}
	return false
}
