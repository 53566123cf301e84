package oauth

import (
	"context"
	"sync"
	"time"

	"github.com/tokengate/tokengate/internal/store"
)

// clientCache keeps client records for a short time, so that client
// authentication costs no database round trip on every request. It is
// off unless configured: with it on, a deleted client or a changed
// secret takes up to the TTL to reach every node. It is bounded: when
// full, it is cleared.
type clientCache struct {
	ttl time.Duration
	max int
	now func() time.Time

	mu sync.RWMutex
	m  map[string]cachedClient
}

type cachedClient struct {
	c     store.Client
	until time.Time
}

func newClientCache(ttl time.Duration, max int, now func() time.Time) *clientCache {
	return &clientCache{ttl: ttl, max: max, now: now, m: make(map[string]cachedClient)}
}

// get returns the client with id, from the cache while fresh.
func (cc *clientCache) get(ctx context.Context, st store.Clients, id string) (store.Client, error) {
	now := cc.now()
	cc.mu.RLock()
	e, ok := cc.m[id]
	cc.mu.RUnlock()
	if ok && now.Before(e.until) {
		return e.c, nil
	}
	c, err := st.GetClient(ctx, id)
	if err != nil {
		return c, err // misses are not cached: a new client works at once
	}
	cc.mu.Lock()
	if len(cc.m) >= cc.max {
		clear(cc.m)
	}
	cc.m[id] = cachedClient{c: c, until: now.Add(cc.ttl)}
	cc.mu.Unlock()
	return c, nil
}

// forget drops the cached record of id, after this node changed it.
func (cc *clientCache) forget(id string) {
	cc.mu.Lock()
	delete(cc.m, id)
	cc.mu.Unlock()
}
