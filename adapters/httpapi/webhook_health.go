package httpapi

import (
	"encoding/json"
	"time"

	"github.com/hookd/hookd/domain/webhook"
)

// healthJSON is a webhook's endpoint health as GET .../webhook/{id} shows it.
type healthJSON struct {
	// SuccessRate is the share of the recent attempts (the last webhook.MaxRecent at most) that
	// succeeded, from 0 to 1; null before any attempt.
	SuccessRate         *float64    `json:"successRate"`
	RecentAttempts      int         `json:"recentAttempts"`
	RecentFailures      int         `json:"recentFailures"`
	ConsecutiveFailures int         `json:"consecutiveFailures"`
	LastSuccessAt       *time.Time  `json:"lastSuccessAt"`
	LastFailureAt       *time.Time  `json:"lastFailureAt"`
	FailingSince        *time.Time  `json:"failingSince"`
	Circuit             circuitJSON `json:"circuit"`
	DisabledReason      string      `json:"disabledReason,omitempty"`
}

// circuitJSON is a webhook's circuit breaker: closed, open (deliveries wait until until) or
// half_open (the next attempt probes).
type circuitJSON struct {
	State           string     `json:"state"`
	OpenedAt        *time.Time `json:"openedAt,omitempty"`
	Until           *time.Time `json:"until,omitempty"`
	CoolDownSeconds float64    `json:"coolDownSeconds,omitempty"`
}

func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

// toHealthJSON shows h as it stands at now.
func toHealthJSON(h webhook.Health, now time.Time) healthJSON {
	out := healthJSON{
		RecentAttempts: len(h.Recent), ConsecutiveFailures: h.ConsecutiveFailures,
		LastSuccessAt: timeOrNil(h.LastSuccessAt), LastFailureAt: timeOrNil(h.LastFailureAt),
		FailingSince: timeOrNil(h.FailingSince), DisabledReason: h.DisabledReason,
		Circuit: circuitJSON{State: h.Circuit.State(now).String()},
	}
	if rate, ok := h.SuccessRate(); ok {
		out.SuccessRate = &rate
	}
	for _, o := range h.Recent {
		if !o.OK {
			out.RecentFailures++
		}
	}
	if h.Circuit.Open {
		out.Circuit.OpenedAt, out.Circuit.Until = timeOrNil(h.Circuit.OpenedAt), timeOrNil(h.Circuit.Until)
		out.Circuit.CoolDownSeconds = h.Circuit.CoolDown.Seconds()
	}
	return out
}

// withHealth appends the "health" member to a webhook's rendered document. The document is cached
// by the webhook's version, which attempts do not move, so the health is added to it afresh.
func withHealth(doc []byte, h webhook.Health, now time.Time) ([]byte, error) {
	health, err := json.Marshal(toHealthJSON(h, now))
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(doc)+len(health)+16)
	out = append(out, doc[:len(doc)-1]...)
	out = append(out, `,"health":`...)
	out = append(out, health...)
	return append(out, '}'), nil
}
