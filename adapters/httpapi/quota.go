package httpapi

import (
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"golang.org/x/time/rate"

	"github.com/hookd/hookd/internal/bounded"
)

// quotaLicenses bounds the licenses whose buckets are kept: one per license in use. Past it a random
// bucket is dropped, and its license starts again from a full bucket: that takes more licenses in
// use at once than hookd's license cache holds.
const quotaLicenses = 10_000

// licenseQuota gives each license a token bucket: rate requests per second, up to burst at once. No
// license can then take every request the node serves, nor fill the replay cache that all licenses
// share (each accepted request takes a place in it for up to twice the allowed time span).
type licenseQuota struct {
	rate  rate.Limit
	burst int

	mu      sync.Mutex // makes a license's first two requests share one bucket
	buckets *bounded.Map[*rate.Limiter]
}

func newLicenseQuota(perSecond float64, burst int) *licenseQuota {
	return &licenseQuota{rate: rate.Limit(perSecond), burst: burst, buckets: bounded.New[*rate.Limiter](quotaLicenses)}
}

func (q *licenseQuota) bucket(licenseID string) *rate.Limiter {
	q.mu.Lock()
	defer q.mu.Unlock()
	b, ok := q.buckets.Get(licenseID)
	if !ok {
		b = rate.NewLimiter(q.rate, q.burst)
		q.buckets.Put(licenseID, b)
	}
	return b
}

// take takes a token from the license's bucket, or reports how long until one is there. A request
// refused takes nothing.
func (q *licenseQuota) take(licenseID string, now time.Time) (ok bool, wait time.Duration) {
	r := q.bucket(licenseID).ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// checkQuota answers 429, with Retry-After, a request of a license whose quota is used up.
func (s *server) checkQuota(c *fiber.Ctx, licenseID string) error {
	if s.quota == nil {
		return nil
	}
	ok, wait := s.quota.take(licenseID, time.Now())
	if ok {
		return nil
	}
	retry := int64(math.Ceil(wait.Seconds()))
	c.Set(fiber.HeaderRetryAfter, strconv.FormatInt(retry, 10))
	return &apiError{status: fiber.StatusTooManyRequests, message: fmt.Sprintf(
		"the license's quota of %s requests per second (bursts of %d) is used up; try again after %d s",
		strconv.FormatFloat(float64(s.quota.rate), 'f', -1, 64), s.quota.burst, retry)}
}
