package broker

import (
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// ipLimiter is an in-memory token bucket per client IP. Each replica limits on
// its own; that bounds the work one address can cause per replica, which is what
// matters for flooding (DOS-08). Idle buckets are dropped so the map stays bounded.
type ipLimiter struct {
	every time.Duration // one token per every
	burst int
	max   int // most addresses tracked; beyond it the oldest idle are dropped

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

func newIPLimiter(every time.Duration, burst int) *ipLimiter {
	return &ipLimiter{every: every, burst: burst, max: 100_000, buckets: map[string]*bucket{}}
}

// allow takes a token for ip at now; when none is left it says how long until one is.
func (l *ipLimiter) allow(ip string, now time.Time) (ok bool, retryAfter time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[ip]
	if b == nil {
		if len(l.buckets) >= l.max {
			l.prune(now)
		}
		b = &bucket{lim: rate.NewLimiter(rate.Every(l.every), l.burst)}
		l.buckets[ip] = b
	}
	b.seen = now
	r := b.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// prune drops buckets idle long enough to be full again.
func (l *ipLimiter) prune(now time.Time) {
	full := l.every * time.Duration(l.burst)
	for ip, b := range l.buckets {
		if now.Sub(b.seen) > full {
			delete(l.buckets, ip)
		}
	}
}

// loginLimits are the per-IP limits on starting flows (which is also the cap on
// pending flows per IP within flowTTL, WEB-24) and on callbacks (DOS-08).
type loginLimits struct {
	start    *ipLimiter
	callback *ipLimiter
}

func newLoginLimits() loginLimits {
	return loginLimits{
		start:    newIPLimiter(6*time.Second, 30), // 30 at once, then 10 a minute
		callback: newIPLimiter(3*time.Second, 30),
	}
}

// errTooManyRequests is answered with 429 and Retry-After.
type tooManyRequests struct{ retryAfter time.Duration }

func (e *tooManyRequests) Error() string { return "too many sign-in attempts from this address" }

func (s *Server) rateLimit(l *ipLimiter, r *http.Request) error {
	ok, wait := l.allow(infoFrom(r.Context()).IP, s.Now())
	if ok {
		return nil
	}
	return &userError{Status: http.StatusTooManyRequests, Title: "Too many attempts",
		Message: "There were too many sign-in attempts from your network.",
		Next:    "Wait a minute and try again.", Err: &tooManyRequests{retryAfter: wait}}
}

func retryAfterSeconds(d time.Duration) string {
	return strconv.Itoa(int(math.Ceil(max(d, time.Second).Seconds())))
}
