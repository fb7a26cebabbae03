package deliver

import (
	"errors"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/hookd/hookd/domain/delivery"
	"github.com/hookd/hookd/domain/webhook"
	"github.com/hookd/hookd/internal/bounded"
)

// The circuit breaker's defaults (HOOKD_BREAKER_*) and timings.
const (
	// DefaultBreakerWindow, DefaultBreakerMinAttempts and DefaultBreakerFailureRate: the circuit
	// opens when at least half of at least 5 attempts in the last minute failed.
	DefaultBreakerWindow      = time.Minute
	DefaultBreakerMinAttempts = 5
	DefaultBreakerFailureRate = 0.5
	// DefaultBreakerCoolDown is the first cool-down; each failed probe doubles it, up to
	// DefaultBreakerMaxCoolDown.
	DefaultBreakerCoolDown    = 10 * time.Second
	DefaultBreakerMaxCoolDown = 10 * time.Minute
	// DefaultDisableAfter is HOOKD_DISABLE_AFTER's default: an endpoint failing without a success for
	// five days is disabled, as Svix does.
	DefaultDisableAfter = 5 * 24 * time.Hour
	// ProbeWait is how long a delivery waits, unrecorded, while another attempt of this process
	// probes its half-open circuit, plus up to as much again of jitter.
	ProbeWait = time.Second
	// circuitMemory is how long a circuit this process changed overrides the read model's, which
	// shows the change only once it has applied it.
	circuitMemory = 5 * time.Second
	// circuitsKept bounds the circuits this process remembers.
	circuitsKept = 10_000
)

// DefaultBreaker is the breaker a Config without one gets.
func DefaultBreaker() webhook.Breaker {
	return webhook.Breaker{Window: DefaultBreakerWindow, MinAttempts: DefaultBreakerMinAttempts,
		FailureRate: DefaultBreakerFailureRate, CoolDown: DefaultBreakerCoolDown, MaxCoolDown: DefaultBreakerMaxCoolDown}
}

// circuits is what this process knows of circuits beyond the read model: those it changed in the
// last circuitMemory, and the probes it has in flight (one per webhook at most).
type circuits struct {
	known *bounded.Map[knownCircuit]
	mu    sync.Mutex
	// probing holds the webhooks whose probe is in flight here; an entry lives as long as an attempt.
	probing map[string]struct{}
}

// knownCircuit is a circuit as this process last wrote it, and when.
type knownCircuit struct {
	c  webhook.Circuit
	at time.Time
}

func newCircuits() *circuits {
	return &circuits{known: bounded.New[knownCircuit](circuitsKept), probing: make(map[string]struct{})}
}

// of returns the webhook's circuit at now: the one this process wrote, while recent, else the read
// model's.
func (c *circuits) of(webhookID string, fromReadModel webhook.Circuit, now time.Time) webhook.Circuit {
	if k, ok := c.known.Get(webhookID); ok && now.Sub(k.at) < circuitMemory {
		return k.c
	}
	return fromReadModel
}

// wrote remembers the circuit this process recorded at now.
func (c *circuits) wrote(webhookID string, circuit webhook.Circuit, now time.Time) {
	c.known.Put(webhookID, knownCircuit{c: circuit, at: now})
}

// startProbe takes the webhook's probe, or reports false when an attempt of this process has it.
func (c *circuits) startProbe(webhookID string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, busy := c.probing[webhookID]; busy {
		return false
	}
	c.probing[webhookID] = struct{}{}
	return true
}

func (c *circuits) endProbe(webhookID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.probing, webhookID)
}

// guard is what judge decided for an attempt about to be made.
type guard struct {
	// probe says the attempt is its circuit's probe; done must be called once it is recorded.
	probe bool
	done  func()
}

// judgeHealth applies the circuit breaker before an attempt to a webhook: an open circuit defers
// the delivery to its cool-down's end, recorded; a half-open one lets one attempt through as its
// probe; a closed one that the breaker's rule trips is opened, and the delivery deferred. handled
// says it dealt with the delivery (deferred, parked or scheduled again) and no attempt is to be made:
// err is then what Attempt returns.
func (a *attempt) judgeHealth(d *delivery.Delivery, h webhook.Health, now time.Time) (g guard, handled bool, err error) {
	cfg := a.u.cfg
	id := d.WebhookID()
	c := a.u.circuits.of(id, h.Circuit, now)
	h.Circuit = c
	switch c.State(now) {
	case webhook.StateOpen:
		return guard{}, true, a.deferTo(d, c, now)
	case webhook.StateHalfOpen:
		if !a.u.circuits.startProbe(id) {
			return guard{}, true, a.later(now.Add(ProbeWait + rand.N(ProbeWait)))
		}
		return guard{probe: true, done: func() { a.u.circuits.endProbe(id) }}, false, nil
	}
	if cfg.Breaker.Trips(h, now) {
		opened, err := a.openCircuit(d, h, now)
		switch {
		case err != nil:
			return guard{}, true, a.storeFailed("opening the circuit", err)
		case opened.State(now) == webhook.StateOpen:
			return guard{}, true, a.deferTo(d, opened, now)
		}
		// Not opened: the webhook was disabled meanwhile. Nothing is sent to it; the next try, once
		// the read model shows the disable, parks the delivery.
		return guard{}, true, a.later(now.Add(StoreRetryDelay))
	}
	return guard{}, false, nil
}

// afterAttempt records what an attempt to a webhook, now in the log, means for its endpoint: a 410
// disables the webhook, and so does a failure after failing without a success for DisableAfter; a
// probe closes the circuit or opens it again; a failure that trips the breaker opens it. Failures
// to record are logged: the next attempt judges again. The delivery's other attempts find the
// webhook disabled and are parked.
//
// Auto-disable is judged on a failure, not before an attempt, so that an endpoint nothing was sent
// to for days gets an attempt before it is disabled; while its circuit is open, the probes fail
// once per cool-down.
func (a *attempt) afterAttempt(d *delivery.Delivery, h webhook.Health, g guard, status int, succeeded bool, at time.Time) {
	cfg := a.u.cfg
	id := d.WebhookID()
	if failed := h.Record(at, false); !succeeded && cfg.DisableAfter > 0 && failed.FailingFor(at) >= cfg.DisableAfter {
		a.disableFailing(d, failed.FailingSince)
		return
	}
	if status == 410 {
		if _, err := cfg.Endpoints.DisableFor(a.ctx, d.TenantID(), d.CommunityID(), id, webhook.DisabledGone, time.Time{}); err != nil {
			a.log.Warn("the endpoint answered 410 Gone, and disabling the webhook failed", "err", err)
		} else {
			a.log.Info("the endpoint answered 410 Gone: webhook disabled", "webhook_id", id)
		}
		return
	}
	switch {
	case g.probe && succeeded:
		if err := cfg.Endpoints.CloseCircuit(a.ctx, d.TenantID(), d.CommunityID(), id, at); err != nil {
			a.log.Warn("closing the circuit failed", "err", err)
			return
		}
		a.u.circuits.wrote(id, webhook.Circuit{ClosedAt: at}, at)
	case g.probe:
		if _, err := a.openCircuit(d, webhook.Health{}.Record(at, false), at); err != nil {
			a.log.Warn("opening the circuit again failed", "err", err)
		}
	case !succeeded:
		h.Circuit = a.u.circuits.of(id, h.Circuit, at)
		if h.Circuit.Open || !cfg.Breaker.Trips(h.Record(at, false), at) {
			return
		}
		if _, err := a.openCircuit(d, h.Record(at, false), at); err != nil {
			a.log.Warn("opening the circuit failed", "err", err)
		}
	}
}

// openCircuit records the webhook's circuit open, tripped by h at now, and returns it: as this call
// opened it, or as another writer did first.
func (a *attempt) openCircuit(d *delivery.Delivery, h webhook.Health, now time.Time) (webhook.Circuit, error) {
	cfg := a.u.cfg
	attempts, failures := cfg.Breaker.Counts(h, now)
	c, err := cfg.Endpoints.OpenCircuit(a.ctx, d.TenantID(), d.CommunityID(), d.WebhookID(), cfg.Breaker, now, attempts, failures)
	if err != nil && !errors.Is(err, webhook.ErrCircuitOpen) {
		return webhook.Circuit{}, err
	}
	if err == nil {
		a.log.Info("circuit opened", "webhook_id", d.WebhookID(), "until", c.Until, "attempts", attempts, "failures", failures)
	}
	a.u.circuits.wrote(d.WebhookID(), c, now)
	return c, nil
}

// deferTo records that the delivery waits for the open circuit c, until its cool-down ends plus up
// to a tenth of it (a second at most), so that the deliveries that waited together do not all come
// due in the same instant; the first to come probes.
func (a *attempt) deferTo(d *delivery.Delivery, c webhook.Circuit, now time.Time) error {
	until := c.Until
	if spread := min(c.CoolDown/10, time.Second); spread > 0 {
		until = until.Add(rand.N(spread))
	}
	if err := d.Defer(until, delivery.DeferReasonCircuitOpen, now); err != nil {
		a.log.Error("the delivery cannot be deferred", "err", err)
		return nil
	}
	return a.save(d)
}

// disableFailing disables the webhook, failing without a success since failingSince.
func (a *attempt) disableFailing(d *delivery.Delivery, failingSince time.Time) {
	disabled, err := a.u.cfg.Endpoints.DisableFor(a.ctx, d.TenantID(), d.CommunityID(), d.WebhookID(), webhook.DisabledFailing, failingSince)
	switch {
	case err != nil:
		a.log.Warn("disabling a webhook failing for too long failed", "err", err)
	case disabled:
		a.log.Info("the endpoint has failed for too long: webhook disabled", "webhook_id", d.WebhookID(),
			"failing_since", failingSince)
	}
}
