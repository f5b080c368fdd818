package registry

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"
)

// CacheTTL is how long a cached client or API is trusted before it is read again:
// an admin's change made through the CLI on another process (or another replica)
// takes effect within this time, while the hot token path reads no database.
const CacheTTL = 2 * time.Second

// MaxCached bounds each cache, here and in the broker's other caches keyed by
// request input: unknown client IDs are cached too (as misses), so random IDs
// could otherwise grow it without bound.
const MaxCached = 10_000

// Cache is a read-through cache of clients by ID and APIs by audience, for the
// request paths that look one up on every request.
type Cache struct {
	store store.Store
	now   func() time.Time

	mu      sync.RWMutex
	clients map[string]cachedClient
	apis    map[string]cachedAPI
}

type cachedClient struct {
	c      *store.Client // nil: no such client
	loaded time.Time
}

type cachedAPI struct {
	a      *store.API // nil: no such API
	loaded time.Time
}

// NewCache returns an empty cache over st; now is the clock entries age by.
func NewCache(st store.Store, now func() time.Time) *Cache {
	return &Cache{store: st, now: now, clients: map[string]cachedClient{}, apis: map[string]cachedAPI{}}
}

// Client returns the client, or nil if there is none. The returned value is shared:
// callers must not modify it.
func (rc *Cache) Client(ctx context.Context, id string) (*store.Client, error) {
	now := rc.now()
	rc.mu.RLock()
	e, ok := rc.clients[id]
	rc.mu.RUnlock()
	if ok && now.Sub(e.loaded) < CacheTTL && !now.Before(e.loaded) {
		return e.c, nil
	}
	c, err := rc.store.Clients().Get(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		e = cachedClient{loaded: now}
	case err != nil:
		return nil, err
	default:
		e = cachedClient{c: &c, loaded: now}
	}
	rc.mu.Lock()
	if len(rc.clients) >= MaxCached {
		clear(rc.clients)
	}
	rc.clients[id] = e
	rc.mu.Unlock()
	return e.c, nil
}

// API returns the API with this audience, or nil if there is none.
func (rc *Cache) API(ctx context.Context, audience string) (*store.API, error) {
	now := rc.now()
	rc.mu.RLock()
	e, ok := rc.apis[audience]
	rc.mu.RUnlock()
	if ok && now.Sub(e.loaded) < CacheTTL && !now.Before(e.loaded) {
		return e.a, nil
	}
	a, err := rc.store.APIs().GetByAudience(ctx, audience)
	switch {
	case errors.Is(err, store.ErrNotFound):
		e = cachedAPI{loaded: now}
	case err != nil:
		return nil, err
	default:
		e = cachedAPI{a: &a, loaded: now}
	}
	rc.mu.Lock()
	if len(rc.apis) >= MaxCached {
		clear(rc.apis)
	}
	rc.apis[audience] = e
	rc.mu.Unlock()
	return e.a, nil
}
