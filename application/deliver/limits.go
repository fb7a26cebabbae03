package deliver

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// rateLimits holds a token bucket per webhook with a rate limit, refilled at the webhook's rate
// with a burst of one second's worth. A changed limit takes effect at the next attempt.
type rateLimits struct {
	mu      sync.Mutex
	buckets map[string]*rate.Limiter
}

func newRateLimits() *rateLimits {
	return &rateLimits{buckets: make(map[string]*rate.Limiter)}
}

// wait takes a token for an attempt to webhook id, limited to perSecond (0: no limit), and returns
// 0 when the attempt may go now, or how long until it may; no token is taken then.
func (l *rateLimits) wait(id string, perSecond int, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if perSecond <= 0 {
		delete(l.buckets, id)
		return 0
	}
	b, ok := l.buckets[id]
	if !ok {
		b = rate.NewLimiter(rate.Limit(perSecond), perSecond)
		l.buckets[id] = b
	} else if b.Limit() != rate.Limit(perSecond) {
		b.SetLimitAt(now, rate.Limit(perSecond))
		b.SetBurstAt(now, perSecond)
	}
	r := b.ReserveN(now, 1)
	if delay := r.DelayFrom(now); delay > 0 {
		r.CancelAt(now)
		return delay
	}
	return 0
}

// endpointSlots counts the attempts in flight per endpoint.
type endpointSlots struct {
	mu   sync.Mutex
	busy map[string]int
}

func newEndpointSlots() *endpointSlots {
	return &endpointSlots{busy: make(map[string]int)}
}

// acquire takes a slot of endpoint, or reports false when limit are taken. The limit is passed at
// each call: a node's share changes as nodes join and leave.
func (s *endpointSlots) acquire(endpoint string, limit int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.busy[endpoint] >= limit {
		return false
	}
	s.busy[endpoint]++
	return true
}

// release gives back a slot acquire took.
func (s *endpointSlots) release(endpoint string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.busy[endpoint]--; s.busy[endpoint] <= 0 {
		delete(s.busy, endpoint)
	}
}
