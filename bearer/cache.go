package bearer

import (
	"crypto/sha256"
	"sync"
	"time"

	"github.com/tokengate/tokengate/jwks"
)

// cacheKey is the SHA-256 of a token: the cache never holds tokens.
type cacheKey [sha256.Size]byte

// cacheEntry is a verdict on one token, good until until (Unix ns).
type cacheEntry struct {
	claims *Claims
	key    *jwks.Key // the key that verified it, nil for introspection
	err    error     // a cached rejection (introspection mode only)
	until  int64
}

// tokenCache remembers verdicts so that a token seen again costs a hash
// and a map lookup. It is bounded: an insert into a full cache drops every
// expired entry (at most once per sweepEvery, so that a cache full of live
// entries does not sweep on every insert), then, if still full, an expired
// entry among a few or else an arbitrary one. Go's map iteration order is
// random, so this is random eviction: no bookkeeping on the read path,
// unlike LRU.
type tokenCache struct {
	mu        sync.RWMutex
	m         map[cacheKey]cacheEntry
	max       int
	lastSweep int64 // Unix ns
}

// sweepEvery is the least time between two full sweeps.
const sweepEvery = int64(time.Second)

// evictScan is how many entries an insert into a full cache looks at for
// expired ones.
const evictScan = 8

func newTokenCache(size int) *tokenCache {
	return &tokenCache{m: make(map[cacheKey]cacheEntry, min(size, 1024)), max: size}
}

// get returns the live entry for k.
func (c *tokenCache) get(k *cacheKey, now time.Time) (cacheEntry, bool) {
	c.mu.RLock()
	e, ok := c.m[*k]
	c.mu.RUnlock()
	if !ok || now.UnixNano() >= e.until {
		return cacheEntry{}, false
	}
	return e, true
}

// put stores e under k, evicting when the cache is full.
func (c *tokenCache) put(k *cacheKey, e cacheEntry, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[*k]; !ok && len(c.m) >= c.max {
		t := now.UnixNano()
		if t-c.lastSweep >= sweepEvery {
			c.lastSweep = t
			for key, old := range c.m {
				if old.until <= t {
					delete(c.m, key)
				}
			}
		}
	}
	if _, ok := c.m[*k]; !ok && len(c.m) >= c.max {
		n, evicted := 0, false
		t := now.UnixNano()
		for key, old := range c.m {
			if old.until <= t {
				delete(c.m, key)
				evicted = true
			}
			if n++; n >= evictScan {
				break
			}
		}
		if !evicted {
			for key := range c.m {
				delete(c.m, key)
				break
			}
		}
	}
	c.m[*k] = e
}

// remove drops the entry for k.
func (c *tokenCache) remove(k *cacheKey) {
	c.mu.Lock()
	delete(c.m, *k)
	c.mu.Unlock()
}

// len returns the number of entries, for tests.
func (c *tokenCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}
