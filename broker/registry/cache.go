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
	clients readThrough[store.Client]
	apis    readThrough[store.API]
}

// NewCache returns an empty cache over st; now is the clock entries age by.
func NewCache(st store.Store, now func() time.Time) *Cache {
	return &Cache{
		clients: readThrough[store.Client]{load: st.Clients().Get, now: now, entries: map[string]cached[store.Client]{}},
		apis:    readThrough[store.API]{load: st.APIs().GetByAudience, now: now, entries: map[string]cached[store.API]{}},
	}
}

// Client returns the client, or nil if there is none. The returned value is shared:
// callers must not modify it.
func (rc *Cache) Client(ctx context.Context, id string) (*store.Client, error) {
	return rc.clients.get(ctx, id)
}

// ForgetClient drops the cached client id, so that this process's next lookup
// reads the store: a change made here (a rotated secret, a deleted app) takes
// effect at once on this replica; other replicas read it within CacheTTL.
func (rc *Cache) ForgetClient(id string) {
	rc.clients.mu.Lock()
	delete(rc.clients.entries, id)
	rc.clients.mu.Unlock()
}

// API returns the API with this audience, or nil if there is none. The returned
// value is shared: callers must not modify it.
func (rc *Cache) API(ctx context.Context, audience string) (*store.API, error) {
	return rc.apis.get(ctx, audience)
}

// readThrough caches what load returns for a key, a miss (ErrNotFound) included,
// for CacheTTL.
type readThrough[T any] struct {
	load func(ctx context.Context, key string) (T, error)
	now  func() time.Time

	mu      sync.RWMutex
	entries map[string]cached[T]
}

type cached[T any] struct {
	v      *T // nil: no such record
	loaded time.Time
}

func (c *readThrough[T]) get(ctx context.Context, key string) (*T, error) {
	now := c.now()
	c.mu.RLock()
	e, ok := c.entries[key]
	c.mu.RUnlock()
	if ok && now.Sub(e.loaded) < CacheTTL && !now.Before(e.loaded) {
		return e.v, nil
	}
	v, err := c.load(ctx, key)
	switch {
	case errors.Is(err, store.ErrNotFound):
		e = cached[T]{loaded: now}
	case err != nil:
		return nil, err
	default:
		e = cached[T]{v: &v, loaded: now}
	}
	c.mu.Lock()
	if len(c.entries) >= MaxCached {
		clear(c.entries)
	}
	c.entries[key] = e
	c.mu.Unlock()
	return e.v, nil
}
