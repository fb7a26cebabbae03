package webhook

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Why hookd disabled a webhook, as Disabled.Reason records it. A webhook disabled through the API
// has no reason.
const (
	// DisabledFailing: its endpoint failed without a success for longer than the operator allows
	// (HOOKD_DISABLE_AFTER).
	DisabledFailing = "failing"
	// DisabledGone: its endpoint answered 410 Gone, which Standard Webhooks reads as "stop sending".
	DisabledGone = "gone"
)

// ErrCircuitOpen is returned by OpenCircuit while the circuit is open and its cool-down still runs:
// another writer opened it first.
var ErrCircuitOpen = errors.New("webhook: circuit already open")

// MaxRecent is how many of an endpoint's latest attempts Health keeps: a breaker's window never
// counts more than these.
const MaxRecent = 64

// Health is what the attempts to a webhook's endpoint say of it, folded from the log: the latest
// attempts, the failures since the last success, and its circuit. Its zero value is a webhook
// nothing was sent to yet. Enabling a webhook starts it afresh.
type Health struct {
	// Recent are the latest attempts, oldest first, at most MaxRecent.
	Recent Outcomes `json:"recent"`
	// ConsecutiveFailures counts the attempts that failed since the last success.
	ConsecutiveFailures int       `json:"consecutiveFailures"`
	LastSuccessAt       time.Time `json:"lastSuccessAt,omitzero"`
	LastFailureAt       time.Time `json:"lastFailureAt,omitzero"`
	// FailingSince is when the first failure after the last success happened; zero while the last
	// attempt succeeded. Auto-disable counts from it.
	FailingSince time.Time `json:"failingSince,omitzero"`
	Circuit      Circuit   `json:"circuit"`
	// DisabledReason is why hookd disabled the webhook (DisabledFailing, DisabledGone); empty while
	// it is enabled, or when a caller disabled it.
	DisabledReason string `json:"disabledReason,omitempty"`
}

// Outcome is one attempt: when, and whether it succeeded.
type Outcome struct {
	At time.Time
	OK bool
}

// Outcomes are attempts, oldest first. They are written as a JSON array of Unix milliseconds,
// negative for a failure, because a read model rewrites them on every attempt.
type Outcomes []Outcome

// MarshalJSON writes the compact form.
func (o Outcomes) MarshalJSON() ([]byte, error) {
	ms := make([]int64, len(o))
	for i, x := range o {
		ms[i] = x.At.UnixMilli()
		if !x.OK {
			ms[i] = -ms[i]
		}
	}
	return json.Marshal(ms)
}

// UnmarshalJSON reads what MarshalJSON writes.
func (o *Outcomes) UnmarshalJSON(b []byte) error {
	var ms []int64
	if err := json.Unmarshal(b, &ms); err != nil {
		return err
	}
	out := make(Outcomes, len(ms))
	for i, m := range ms {
		out[i] = Outcome{At: time.UnixMilli(max(m, -m)).UTC(), OK: m > 0}
	}
	*o = out
	return nil
}

// Record returns h with one more attempt, made at at, that succeeded or not.
func (h Health) Record(at time.Time, ok bool) Health {
	recent := make(Outcomes, 0, MaxRecent)
	if len(h.Recent) >= MaxRecent {
		recent = append(recent, h.Recent[len(h.Recent)-MaxRecent+1:]...)
	} else {
		recent = append(recent, h.Recent...)
	}
	h.Recent = append(recent, Outcome{At: at.UTC(), OK: ok})
	if ok {
		h.ConsecutiveFailures, h.LastSuccessAt, h.FailingSince = 0, at.UTC(), time.Time{}
		return h
	}
	h.ConsecutiveFailures++
	h.LastFailureAt = at.UTC()
	if h.FailingSince.IsZero() {
		h.FailingSince = at.UTC()
	}
	return h
}

// Within counts the recent attempts made after now-window, and those of them that failed.
func (h Health) Within(now time.Time, window time.Duration) (attempts, failures int) {
	since := now.Add(-window)
	for _, o := range h.Recent {
		if o.At.After(since) {
			attempts++
			if !o.OK {
				failures++
			}
		}
	}
	return attempts, failures
}

// SuccessRate is the share of the recent attempts that succeeded, from 0 to 1; ok is false when
// there were none.
func (h Health) SuccessRate() (rate float64, ok bool) {
	if len(h.Recent) == 0 {
		return 0, false
	}
	n := 0
	for _, o := range h.Recent {
		if o.OK {
			n++
		}
	}
	return float64(n) / float64(len(h.Recent)), true
}

// FailingFor is how long the endpoint has failed without a success at now; 0 when it is not failing.
func (h Health) FailingFor(now time.Time) time.Duration {
	if h.FailingSince.IsZero() {
		return 0
	}
	return now.Sub(h.FailingSince)
}

// Circuit is a webhook's circuit breaker. Closed, deliveries go; open, they wait until Until; once
// Until has passed it is half-open: one probe attempt decides whether it closes or opens again, for
// a longer cool-down.
type Circuit struct {
	Open     bool          `json:"open"`
	OpenedAt time.Time     `json:"openedAt,omitzero"`
	Until    time.Time     `json:"until,omitzero"`
	CoolDown time.Duration `json:"coolDown,omitempty"`
	// ClosedAt is when a probe last closed it: the attempts before count no more towards opening it.
	ClosedAt time.Time `json:"closedAt,omitzero"`
}

// CircuitState is where a circuit stands at a given time.
type CircuitState struct{ name string }

// The circuit's states.
var (
	// StateClosed: deliveries go.
	StateClosed = CircuitState{"closed"}
	// StateOpen: deliveries wait for the cool-down's end.
	StateOpen = CircuitState{"open"}
	// StateHalfOpen: the cool-down is over; one probe attempt decides.
	StateHalfOpen = CircuitState{"half_open"}
)

func (s CircuitState) String() string { return s.name }

// State says where the circuit stands at now.
func (c Circuit) State(now time.Time) CircuitState {
	switch {
	case !c.Open:
		return StateClosed
	case now.Before(c.Until):
		return StateOpen
	}
	return StateHalfOpen
}

// Breaker is the rule that opens a circuit, and its cool-downs.
type Breaker struct {
	// Window is how far back attempts count; MinAttempts how many it must hold (at most MaxRecent)
	// before the circuit may open, 0 for never; FailureRate the share of them, from 0 to 1, that must
	// have failed.
	Window      time.Duration
	MinAttempts int
	FailureRate float64
	// CoolDown is how long the circuit first stays open; each failed probe doubles it, up to
	// MaxCoolDown.
	CoolDown    time.Duration
	MaxCoolDown time.Duration
}

// Validate reports every setting out of range.
func (b Breaker) Validate() error {
	var errs []error
	if b.Window <= 0 {
		errs = append(errs, errors.New("window must be positive"))
	}
	if b.MinAttempts < 0 || b.MinAttempts > MaxRecent {
		errs = append(errs, fmt.Errorf("minimum attempts must be from 0 (never open) to %d", MaxRecent))
	}
	if !(b.FailureRate > 0 && b.FailureRate <= 1) {
		errs = append(errs, errors.New("failure rate must be above 0 and at most 1"))
	}
	if b.CoolDown <= 0 || b.MaxCoolDown < b.CoolDown {
		errs = append(errs, errors.New("cool-down must be positive and at most the maximum cool-down"))
	}
	return errors.Join(errs...)
}

// Trips reports whether h, at now, calls for the circuit to open: at least MinAttempts attempts in
// the window, of which at least FailureRate failed. Only attempts since the circuit last closed count.
func (b Breaker) Trips(h Health, now time.Time) bool {
	attempts, failures := b.Counts(h, now)
	return b.MinAttempts > 0 && attempts >= b.MinAttempts && float64(failures) >= b.FailureRate*float64(attempts)
}

// Counts returns the attempts that count towards opening the circuit at now, and how many failed:
// those in the window, since the circuit last closed.
func (b Breaker) Counts(h Health, now time.Time) (attempts, failures int) {
	window := b.Window
	if closed := h.Circuit.ClosedAt; !closed.IsZero() && now.Sub(closed) < window {
		window = now.Sub(closed)
	}
	return h.Within(now, window)
}

// nextCoolDown is the cool-down of a circuit opened at now over c: the first one, or double the
// last (up to the maximum) when c is open and its probe failed.
func (b Breaker) nextCoolDown(c Circuit) time.Duration {
	if !c.Open || c.CoolDown <= 0 {
		return b.CoolDown
	}
	return min(2*c.CoolDown, b.MaxCoolDown)
}

// CircuitOpened records that the circuit opened (or opened again after a failed probe) until
// Until. Failures and Attempts are what tripped it in the breaker's window (a failed probe: 1 and 1).
type CircuitOpened struct {
	WebhookID string        `json:"webhookId"`
	At        time.Time     `json:"at"`
	Until     time.Time     `json:"until"`
	CoolDown  time.Duration `json:"coolDown"`
	Attempts  int           `json:"attempts"`
	Failures  int           `json:"failures"`
}

// CircuitClosed records that a probe succeeded: deliveries go again.
type CircuitClosed struct {
	WebhookID string    `json:"webhookId"`
	At        time.Time `json:"at"`
}

// EventName implements Event.
func (CircuitOpened) EventName() string { return EventCircuitOpened }

// EventName implements Event.
func (CircuitClosed) EventName() string { return EventCircuitClosed }

// OpenCircuit opens the webhook's circuit at at, for the breaker's first cool-down, or, when it is
// half-open (a probe failed), for double the last one up to the maximum. attempts and failures are
// what tripped it. It returns ErrCircuitOpen while the circuit is open and its cool-down runs
// (another writer opened it first), and records nothing for a disabled webhook, which is sent
// nothing anyway.
func (w *Webhook) OpenCircuit(b Breaker, at time.Time, attempts, failures int) error {
	if w.deleted {
		return ErrDeleted
	}
	if w.disabled {
		return nil
	}
	if w.circuit.State(at) == StateOpen {
		return ErrCircuitOpen
	}
	coolDown := b.nextCoolDown(w.circuit)
	w.record(CircuitOpened{WebhookID: w.id, At: at.UTC(), Until: at.Add(coolDown).UTC(), CoolDown: coolDown,
		Attempts: attempts, Failures: failures})
	return nil
}

// CloseCircuit closes the webhook's circuit after a probe succeeded at at. A closed circuit records
// nothing.
func (w *Webhook) CloseCircuit(at time.Time) error {
	if w.deleted {
		return ErrDeleted
	}
	if w.circuit.Open {
		w.record(CircuitClosed{WebhookID: w.id, At: at.UTC()})
	}
	return nil
}

// DisableFor stops deliveries because hookd judged the endpoint dead: reason is DisabledFailing or
// DisabledGone, failingSince when its failures began (zero for a 410). A disabled webhook records
// nothing.
func (w *Webhook) DisableFor(reason string, failingSince time.Time) error {
	if w.deleted {
		return ErrDeleted
	}
	if reason != DisabledFailing && reason != DisabledGone {
		return &ValidationError{Problems: []Problem{{Field: "reason",
			Message: fmt.Sprintf("must be %q or %q", DisabledFailing, DisabledGone)}}}
	}
	if !w.disabled {
		w.record(Disabled{WebhookID: w.id, Reason: reason, TenantID: w.tenantID, CommunityID: w.communityID,
			FailingSince: failingSince.UTC()})
	}
	return nil
}

// Circuit returns the webhook's circuit as the log has it.
func (w *Webhook) Circuit() Circuit { return w.circuit }
