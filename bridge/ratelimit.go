package bridge

import (
	"math"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// limiter holds one token bucket per key (a client address or a source), created on first
// use and forgotten after idle minutes, so a flood of addresses cannot grow it without bound.
type limiter struct {
	limit rate.Limit
	burst int

	mu      sync.Mutex
	buckets map[netip.Addr]*bucket
	swept   time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

// idleForget is how long an unused bucket is kept; maxBuckets bounds the map.
const (
	idleForget = 5 * time.Minute
	maxBuckets = 100_000
)

func newLimiter(perSecond float64, burst int) *limiter {
	if perSecond <= 0 {
		return nil
	}
	if burst < 1 {
		burst = int(math.Ceil(perSecond))
	}
	return &limiter{limit: rate.Limit(perSecond), burst: burst, buckets: map[netip.Addr]*bucket{}}
}

// allow takes a token for key at now; when none is left it returns false and how long until
// one is.
func (l *limiter) allow(key netip.Addr, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) > time.Minute || len(l.buckets) >= maxBuckets {
		for k, b := range l.buckets {
			if now.Sub(b.seen) > idleForget || len(l.buckets) >= maxBuckets {
				delete(l.buckets, k)
			}
		}
		l.swept = now
	}
	b := l.buckets[key]
	if b == nil {
		b = &bucket{lim: rate.NewLimiter(l.limit, l.burst)}
		l.buckets[key] = b
	}
	b.seen = now
	r := b.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// sourceLimiter is a single token bucket for one source.
type sourceLimiter struct{ lim *rate.Limiter }

func newSourceLimiter(perSecond float64, burst int) *sourceLimiter {
	if perSecond <= 0 {
		return nil
	}
	if burst < 1 {
		burst = int(math.Ceil(perSecond))
	}
	return &sourceLimiter{lim: rate.NewLimiter(rate.Limit(perSecond), burst)}
}

func (l *sourceLimiter) allow(now time.Time) (bool, time.Duration) {
	r := l.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// retryAfterSeconds rounds a wait up to whole seconds, at least 1, for Retry-After.
func retryAfterSeconds(d time.Duration) int {
	s := int(math.Ceil(d.Seconds()))
	if s < 1 {
		s = 1
	}
	return s
}
