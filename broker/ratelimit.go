package broker

import (
	"errors"
	"math"
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// limiter is a set of in-memory token buckets, one per key (a client ID or an IP
// address). Each replica limits on its own, which bounds the work one caller can
// cause per replica: what matters against flooding (DOS-07, DOS-08). Buckets are
// created on first use and swept once the set grows large, so random keys cannot
// grow it without bound.
type limiter struct {
	limit rate.Limit
	burst int
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*rate.Limiter
}

// maxBuckets is when a sweep drops the buckets that are full again (idle keys).
const maxBuckets = 50_000

// newLimiter refills each bucket at limit tokens a second up to burst; a limit of
// zero or less switches limiting off (nil).
func newLimiter(limit rate.Limit, burst int, now func() time.Time) *limiter {
	if limit <= 0 {
		return nil
	}
	return &limiter{limit: limit, burst: burst, now: now, buckets: map[string]*rate.Limiter{}}
}

// perSecond is the OAuth endpoints' limiter: n a second, bursts of 2n.
func perSecond(n int, now func() time.Time) *limiter {
	return newLimiter(rate.Limit(n), 2*n, now)
}

// take removes cost tokens from key's bucket. If the bucket holds fewer it takes
// nothing and says how long to wait, in whole seconds for Retry-After.
func (l *limiter) take(key string, cost int) (ok bool, retryAfter int) {
	if l == nil {
		return true, 0
	}
	now := l.now()
	l.mu.Lock()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= maxBuckets {
			l.sweepLocked(now)
		}
		b = rate.NewLimiter(l.limit, l.burst)
		l.buckets[key] = b
	}
	l.mu.Unlock()
	if b.AllowN(now, cost) {
		return true, 0
	}
	missing := float64(cost) - b.TokensAt(now)
	return false, max(1, int(math.Ceil(missing/float64(l.limit))))
}

// charge takes cost tokens from key's bucket even when that leaves it in debt, so
// the next requests wait for the refill: how failures are counted.
func (l *limiter) charge(key string, cost int) {
	if l == nil {
		return
	}
	now := l.now()
	l.mu.Lock()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= maxBuckets {
			l.sweepLocked(now)
		}
		b = rate.NewLimiter(l.limit, l.burst)
		l.buckets[key] = b
	}
	l.mu.Unlock()
	b.ReserveN(now, min(cost, l.burst))
}

func (l *limiter) sweepLocked(now time.Time) {
	for k, b := range l.buckets {
		if b.TokensAt(now) >= float64(l.burst) {
			delete(l.buckets, k)
		}
	}
	if len(l.buckets) >= maxBuckets {
		// Every key is busy: start over rather than grow. Limits reset, memory holds.
		clear(l.buckets)
	}
}

// failureCost is what a failed client authentication takes from the caller's and
// the claimed client's buckets: guessing secrets exhausts a bucket this many times
// faster than legitimate use does (DOS-07, AS-CA-02).
const failureCost = 100

// tooManyRequests is the 429 answer (RFC 6585 §4).
func tooManyRequests(retryAfter int) *oauthError {
	e := oauthErr(429, "slow_down", "too many requests; retry later", nil)
	e.RetryAfter = retryAfter
	return e
}

// loginLimits are the per-IP limits on starting sign-in flows (which also caps the
// pending flows one address can hold within their lifetime, WEB-24) and on upstream
// callbacks (DOS-08).
type loginLimits struct {
	start    *limiter
	callback *limiter
}

func newLoginLimits(now func() time.Time) loginLimits {
	return loginLimits{
		start:    newLimiter(rate.Every(6*time.Second), 30, now), // 30 at once, then 10 a minute
		callback: newLimiter(rate.Every(3*time.Second), 30, now),
	}
}

// rateLimit refuses a person's request once their address has used up l.
func (s *Server) rateLimit(l *limiter, r *http.Request) error {
	ok, wait := l.take(infoFrom(r.Context()).IP, 1)
	if ok {
		return nil
	}
	return &userError{Status: http.StatusTooManyRequests, Title: "Too many attempts",
		Message: "There were too many sign-in attempts from your network.",
		Next:    "Wait a minute and try again.", RetryAfter: wait,
		Err: errors.New("sign-in rate limit for this address")}
}
