package token

import (
	"crypto/sha256"
	"maps"
	"slices"
	"sync"
)

// verifiedCap bounds the verified-signature cache: at most this many
// tokens are remembered (a few hundred bytes each), whatever the load.
const verifiedCap = 8192

// verified is what a token's signature check established: which key
// signed it, with which algorithm and typ header, and its decoded claims.
// Everything that depends on the time or on the key's current state is
// checked again on every use.
type verified struct {
	kid, alg, typ string
	claims        Claims
	hasExp        bool
}

// verifiedCache remembers tokens whose signature verified, keyed by the
// SHA-256 of the whole compact token, so that a token presented again (a
// resource server introspecting the same access token on every call) is
// not parsed and verified again. Only exact byte-for-byte repeats hit; a
// changed byte is a miss and goes through the full check. Memory is
// bounded by verifiedCap: when full, an arbitrary entry makes room.
type verifiedCache struct {
	mu sync.Mutex
	m  map[[sha256.Size]byte]verified
}

func (vc *verifiedCache) get(sum [sha256.Size]byte) (verified, bool) {
	vc.mu.Lock()
	v, ok := vc.m[sum]
	vc.mu.Unlock()
	if ok {
		v.claims = cloneClaims(v.claims)
	}
	return v, ok
}

func (vc *verifiedCache) put(sum [sha256.Size]byte, v verified) {
	v.claims = cloneClaims(v.claims)
	vc.mu.Lock()
	defer vc.mu.Unlock()
	if vc.m == nil {
		vc.m = make(map[[sha256.Size]byte]verified)
	}
	if _, ok := vc.m[sum]; !ok && len(vc.m) >= verifiedCap {
		for k := range vc.m {
			delete(vc.m, k)
			break
		}
	}
	vc.m[sum] = v
}

func (vc *verifiedCache) len() int {
	vc.mu.Lock()
	defer vc.mu.Unlock()
	return len(vc.m)
}

// cloneClaims copies the claims' slices and maps, so that no caller
// shares them with the cache.
func cloneClaims(c Claims) Claims {
	c.Audience = slices.Clone(c.Audience)
	if c.Extra != nil {
		c.Extra = maps.Clone(c.Extra)
	}
	return c
}
