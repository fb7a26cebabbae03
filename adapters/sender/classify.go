package sender

import (
	"slices"

	"github.com/hookd/hookd/domain/webhook"
)

// Verdict is what the webhook's policy makes of one attempt. It is a struct with an unexported field
// so that no code outside this package can invent a value; the zero Verdict is none of the three.
type Verdict struct{ name string }

// The three verdicts Classify returns.
var (
	// Succeeded: the target answered with one of the webhook's success codes.
	Succeeded = Verdict{"succeeded"}
	// Retry: the target answered with one of the retry codes, or did not answer and 0 is a retry code.
	// Whether a retry is left (retryCount) is the caller's business.
	Retry = Verdict{"retry"}
	// Fail: anything else; the delivery fails at once.
	Fail = Verdict{"fail"}
)

// String returns "succeeded", "retry" or "fail".
func (v Verdict) String() string { return v.name }

// Classify applies the webhook's policy to an attempt's outcome:
//   - a status in SuccessCodes succeeds;
//   - a status in RetryCodes is retried;
//   - no response at all (Status 0: refused, reset, timeout, DNS, TLS or a failed OAuth 2.0 token
//     fetch) is retried when 0 is in RetryCodes;
//   - anything else fails at once, including 3xx (never followed) and a destination refused by the
//     outbound policy (ErrorClass "blocked"), which no retry would change.
//
// When the target answered, only the status counts: an ErrorClass set alongside it ("timeout" while
// the body dripped, "too_large") says what happened to the body, not whether the target took the
// delivery.
func Classify(o Outcome, s webhook.Settings) Verdict {
	if o.Status != 0 {
		switch {
		case slices.Contains(s.SuccessCodes, o.Status):
			return Succeeded
		case slices.Contains(s.RetryCodes, o.Status):
			return Retry
		}
		return Fail
	}
	if o.ErrorClass == ClassBlocked || o.ErrorClass == ClassInvalidRequest {
		return Fail
	}
	if slices.Contains(s.RetryCodes, 0) {
		return Retry
	}
	return Fail
}
