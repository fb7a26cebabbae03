package delivery

import (
	"slices"
	"time"

	"github.com/hookd/hookd/domain/webhook"
)

// Snapshot is the part of a webhook's settings that a delivery needs, as they were when it was
// scheduled: where and how to send, and how to judge the answer. A replay in mode original sends with
// it. The webhook's signing secret is not part of it: signatures always use the webhook's present
// secrets, which are the ones receivers verify with.
//
// The JSON names are the log's schema. The credential in API is secret (see SecretFields).
type Snapshot struct {
	API    webhook.Endpoint `json:"api"`
	Policy Policy           `json:"policy"`
}

// Policy is how the answer to an attempt is judged and how often a delivery is retried.
type Policy struct {
	// SuccessCodes are the statuses that count as success.
	SuccessCodes []int `json:"successCodes"`
	// RetryCodes are the statuses that are retried; 0 stands for no response (connection error or
	// timeout).
	RetryCodes []int `json:"retryCodes"`
	// RetryCount is the number of retries after the first attempt.
	RetryCount int `json:"retryCount"`
	// TTL is the seconds one attempt waits for a response; 0 means the server's default.
	TTL int `json:"ttl"`
}

// SnapshotOf takes the snapshot of a webhook's settings; it shares no list with them.
func SnapshotOf(s webhook.Settings) Snapshot {
	s = s.Clone()
	return Snapshot{API: s.API, Policy: PolicyOf(s)}
}

// PolicyOf takes the delivery policy of a webhook's settings; it shares no list with them.
func PolicyOf(s webhook.Settings) Policy {
	return Policy{
		SuccessCodes: slices.Clone(s.SuccessCodes),
		RetryCodes:   slices.Clone(s.RetryCodes),
		RetryCount:   s.RetryCount,
		TTL:          s.TTL,
	}
}

func (s Snapshot) clone() Snapshot {
	s.API.OAuthScopes = slices.Clone(s.API.OAuthScopes)
	s.Policy = s.Policy.clone()
	return s
}

func (p Policy) clone() Policy {
	p.SuccessCodes = slices.Clone(p.SuccessCodes)
	p.RetryCodes = slices.Clone(p.RetryCodes)
	return p
}

// Verdict is what a policy makes of one attempt's status. It is a struct so that no code outside
// this package can invent a value.
type Verdict struct{ name string }

// The three verdicts.
var (
	// Succeed: the status is a success code.
	Succeed = Verdict{"succeed"}
	// Retry: the status is a retry code (0 for no response); the delivery is retried while retries
	// are left and parked after that.
	Retry = Verdict{"retry"}
	// Fail: any other status; the delivery is parked at once.
	Fail = Verdict{"fail"}
)

func (v Verdict) String() string { return v.name }

// Judge gives the verdict on status, the HTTP status of an attempt's response or 0 when none came:
// a success code succeeds, then a retry code is retried, and anything else fails. 0 never succeeds,
// and a 3xx is judged like any other status (redirects are never followed).
func (p Policy) Judge(status int) Verdict {
	switch {
	case status != 0 && slices.Contains(p.SuccessCodes, status):
		return Succeed
	case slices.Contains(p.RetryCodes, status):
		return Retry
	}
	return Fail
}

// JudgeAttempt gives the verdict on an attempt: Judge's on its status, except that an Unsendable
// attempt fails, since no retry would send it.
func (p Policy) JudgeAttempt(a Attempt) Verdict {
	if a.Status == 0 && a.Unsendable {
		return Fail
	}
	return p.Judge(a.Status)
}

// Backoff spaces the retries of a delivery. It reads no clock and no random source of its own: the
// caller passes Random.
type Backoff struct {
	// Delays[n-1] is the wait before retry n; the last one serves every later retry. Empty means
	// DefaultDelays.
	Delays []time.Duration
	// Jitter is the fraction, from 0 to 1, by which a delay varies either way: 0.2 makes 1 s anything
	// from 0.8 s up to (not including) 1.2 s.
	Jitter float64
	// Random returns a number in [0, 1), as math/rand/v2's Float64 does; nil means 0.5, the delay
	// itself.
	Random func() float64
}

// DefaultDelays are about 1 s before the first retry and 5 s before every later one.
var DefaultDelays = []time.Duration{time.Second, 5 * time.Second}

// DefaultJitter varies each delay by up to a fifth either way.
const DefaultJitter = 0.2

// Delay returns the wait before retry n (1 for the first retry), with jitter. A Jitter outside 0..1
// (or NaN) is taken as the nearest bound (0), a Random outside [0, 1] likewise (0.5 for NaN), and a
// negative delay as 0, so that a wait is never negative.
func (b Backoff) Delay(retry int) time.Duration {
	delays := b.Delays
	if len(delays) == 0 {
		delays = DefaultDelays
	}
	base := max(delays[min(max(retry, 1), len(delays))-1], 0)
	jitter := clamp(b.Jitter, 0, 0, 1)
	r := 0.5
	if b.Random != nil {
		r = clamp(b.Random(), 0.5, 0, 1)
	}
	return time.Duration(float64(base) * (1 - jitter + 2*jitter*r))
}

// clamp bounds x to lo..hi, and gives nan for NaN.
func clamp(x, nan, lo, hi float64) float64 {
	if x != x {
		return nan
	}
	return min(max(x, lo), hi)
}
