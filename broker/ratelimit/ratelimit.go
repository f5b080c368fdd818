// Package ratelimit keeps in-memory token buckets, one per key (a client ID or an
// IP address), with a bounded number of keys.
package ratelimit

import (
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Keyed is a set of token buckets, one per key. Each replica limits on its own,
// which bounds the work one caller can cause per replica: what matters against
// flooding (DOS-07, DOS-08). Buckets are created on first use and swept once the
// set grows large, so random keys cannot grow it without bound. A nil *Keyed
// allows everything.
type Keyed struct {
	limit rate.Limit
	burst int
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*rate.Limiter
}

// MaxBuckets is when a sweep drops the buckets that are full again (idle keys).
const MaxBuckets = 50_000

// New refills each bucket at limit tokens a second up to burst; a limit of zero or
// less switches limiting off (nil).
func New(limit rate.Limit, burst int, now func() time.Time) *Keyed {
	if limit <= 0 {
		return nil
	}
	return &Keyed{limit: limit, burst: burst, now: now, buckets: map[string]*rate.Limiter{}}
}

// PerSecond allows n a second, in bursts of up to 2n.
func PerSecond(n int, now func() time.Time) *Keyed {
	return New(rate.Limit(n), 2*n, now)
}

// Take removes cost tokens from key's bucket. If the bucket holds fewer it takes
// nothing and says how long to wait, in whole seconds for Retry-After.
func (l *Keyed) Take(key string, cost int) (ok bool, retryAfter int) {
	if l == nil {
		return true, 0
	}
	now := l.now()
	b := l.bucket(key, now)
	if b.AllowN(now, cost) {
		return true, 0
	}
	missing := float64(cost) - b.TokensAt(now)
	return false, max(1, int(math.Ceil(missing/float64(l.limit))))
}

// Charge takes cost tokens (at most a burst) from key's bucket even when that
// leaves it in debt, so the next requests wait for the refill: how failures are
// counted.
func (l *Keyed) Charge(key string, cost int) {
	if l == nil {
		return
	}
	now := l.now()
	l.bucket(key, now).ReserveN(now, min(cost, l.burst))
}

func (l *Keyed) bucket(key string, now time.Time) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= MaxBuckets {
			l.sweepLocked(now)
		}
		b = rate.NewLimiter(l.limit, l.burst)
		l.buckets[key] = b
	}
	return b
}

func (l *Keyed) sweepLocked(now time.Time) {
	for k, b := range l.buckets {
		if b.TokensAt(now) >= float64(l.burst) {
			delete(l.buckets, k)
		}
	}
	if len(l.buckets) >= MaxBuckets {
		// Every key is busy: start over rather than grow. Limits reset, memory holds.
		clear(l.buckets)
	}
}

// size is how many buckets are kept (for tests).
func (l *Keyed) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}
