package rs

import (
	"context"
	"errors"
	"sync"
	"time"
)

// ReplayCache remembers the DPoP proofs an API accepted, so that a captured
// proof cannot be sent again (RFC 9449 §11.1). Replicas of one API share one.
type ReplayCache interface {
	// Seen records key until the time given and reports whether it was already
	// recorded and not yet expired. An error refuses the request with a 503.
	Seen(ctx context.Context, key string, until time.Time) (bool, error)
}

// ErrReplayCacheFull: the in-memory cache holds its maximum of unexpired
// proofs; new proofs are refused until some expire rather than forgetting
// ones that could still be replayed.
var ErrReplayCacheFull = errors.New("rs: DPoP replay cache full")

// MemoryReplayCache is a ReplayCache of one process, bounded in size.
type MemoryReplayCache struct {
	mu   sync.Mutex
	max  int
	seen map[string]time.Time
	now  func() time.Time
}

// NewMemoryReplayCache holds at most max proofs (0 → 100,000). Only a request
// with a valid token and proof reaches it, so filling it needs valid tokens.
func NewMemoryReplayCache(max int) *MemoryReplayCache {
	if max <= 0 {
		max = 100_000
	}
	return &MemoryReplayCache{max: max, seen: map[string]time.Time{}, now: time.Now}
}

func (c *MemoryReplayCache) Seen(_ context.Context, key string, until time.Time) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if exp, ok := c.seen[key]; ok && now.Before(exp) {
		return true, nil
	}
	if len(c.seen) >= c.max {
		for k, exp := range c.seen {
			if !now.Before(exp) {
				delete(c.seen, k)
			}
		}
		if len(c.seen) >= c.max {
			return false, ErrReplayCacheFull
		}
	}
	c.seen[key] = until
	return false, nil
}
