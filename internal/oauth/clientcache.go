package oauth

import (
	"context"
	"sync"
	"time"

	"github.com/tokengate/tokengate/internal/store"
)

// clientCache keeps client records so that client authentication costs
// no database round trip on every request. It is invalidated rather than
// expired: an entry is used only while the store's ClientsVersion is the
// one it was read under, and the store changes that version whenever a
// client may have changed, in this process, in another one (the CLI) or
// on another node. While the store cannot tell (ok false: a lost change
// feed), every look-up reads the store. The TTL is an upper bound, a
// safety net should a change feed fail without a word. It is bounded:
// when full, it is cleared.
type clientCache struct {
	ttl time.Duration
	max int
	now func() time.Time

	mu  sync.RWMutex
	ver uint64 // the version the entries were read under (under mu)
	m   map[string]cachedClient
}

type cachedClient struct {
	c     store.Client
	ver   uint64
	until time.Time
}

func newClientCache(ttl time.Duration, max int, now func() time.Time) *clientCache {
	return &clientCache{ttl: ttl, max: max, now: now, m: make(map[string]cachedClient)}
}

// get returns the client with id, from the cache while it is current.
func (cc *clientCache) get(ctx context.Context, st store.Clients, id string) (store.Client, error) {
	// The version is read before the record: a change that commits
	// after this point changes the version, so a record read before the
	// commit is never used under the new one.
	ver, ok := st.ClientsVersion(ctx)
	if !ok {
		return st.GetClient(ctx, id)
	}
	now := cc.now()
	cc.mu.RLock()
	e, hit := cc.m[id]
	cc.mu.RUnlock()
	if hit && e.ver == ver && now.Before(e.until) {
		return e.c, nil
	}
	c, err := st.GetClient(ctx, id)
	if err != nil {
		return c, err // misses are not cached: a new client works at once
	}
	cc.mu.Lock()
	if ver != cc.ver {
		// Whatever was read under another version is of no use now.
		clear(cc.m)
		cc.ver = ver
	}
	if len(cc.m) >= cc.max {
		clear(cc.m)
	}
	cc.m[id] = cachedClient{c: c, ver: ver, until: now.Add(cc.ttl)}
	cc.mu.Unlock()
	return c, nil
}

// forget drops the cached record of id, after this node changed it.
func (cc *clientCache) forget(id string) {
	cc.mu.Lock()
	delete(cc.m, id)
	cc.mu.Unlock()
}
