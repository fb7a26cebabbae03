// Package deliver is the delivery attempt, as a use case: load the delivery, resolve its target
// (its webhook, or the platform's WEBHOOK_URL), judge it (deleted or disabled: parked; its circuit
// open: deferred, recorded; over its rate limit or its endpoint busy: deferred), sign, send, and
// record the attempt, scheduling the next one when a retry is due. What an attempt says of its
// endpoint follows (breaker.go): a circuit opened or closed, a webhook disabled after a 410 or after
// failing for too long. Every way out either records in the log or schedules the delivery again, so a
// transport may drop its message once Attempt returns nil.
//
// Its ports are declared here, where they are used: Deliveries, Bodies, Targets, Signer, Sender,
// Scheduler and a clock. The Scheduler is the one the dispatcher, replays and recovery use too.
package deliver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"time"

	"github.com/hookd/hookd/application/command"
	"github.com/hookd/hookd/application/eventcodec"
	"github.com/hookd/hookd/domain/delivery"
	"github.com/hookd/hookd/domain/eventlog"
	"github.com/hookd/hookd/domain/platform"
	"github.com/hookd/hookd/domain/webhook"
)

// Defaults and delays.
const (
	// DefaultEndpointConcurrency bounds the attempts in flight to one endpoint by default.
	DefaultEndpointConcurrency = 128
	// BusyEndpointDelay is how long a delivery to an endpoint at its concurrency limit waits before
	// it is tried again, plus up to as much again of jitter, which spreads those that wait together.
	BusyEndpointDelay = 100 * time.Millisecond
	// StoreRetryDelay is how long a delivery waits after the log or a read model could not be read
	// or written.
	StoreRetryDelay = time.Second
)

// ErrCanceled is returned by Attempt when its context ended during the attempt (a shutdown): the
// attempt is not recorded, and the delivery is to be handed out again.
var ErrCanceled = errors.New("deliver: the attempt was cut short")

// Config is what a Deliverer needs. Every field is required unless its comment says otherwise.
type Config struct {
	Deliveries Deliveries
	// Bodies gives the bodies of deliveries in body format delivery.BodyBuiltV1.
	Bodies    Bodies
	Targets   Targets
	Signer    Signer
	Sender    Sender
	Scheduler Scheduler
	Clock     func() time.Time
	// Backoff spaces a webhook's retries (optional: the delivery package's defaults).
	Backoff delivery.Backoff
	// EndpointConcurrency bounds the attempts in flight to one endpoint (scheme, host and port), so
	// that a slow or dead endpoint cannot take every slot (optional: DefaultEndpointConcurrency).
	EndpointConcurrency int
	// Share returns this node's part of a limit that every delivering node shares (the cluster
	// profile: each of N live nodes takes about limit/N): it applies to EndpointConcurrency and to
	// each webhook's rateLimit. Optional: nil, a node takes the whole limit (one process).
	Share func(limit int) int
	// Endpoints records what the circuit breaker and auto-disable decide (optional: nil turns both
	// off). Platform deliveries are never subject to them: WEBHOOK_URL has no webhook to disable.
	Endpoints Endpoints
	// Breaker is the circuit breaker's rule (optional: DefaultBreaker()).
	Breaker webhook.Breaker
	// DisableAfter is how long an endpoint may fail without a success before its webhook is
	// disabled; 0 never disables.
	DisableAfter time.Duration
	// PlatformURL and PlatformSecret are WEBHOOK_URL and WEBHOOK_SECRET: where platform events go,
	// and the secret that signs them (optional: without a secret they are not signed by HMAC).
	PlatformURL, PlatformSecret string
	// Logger is optional.
	Logger *slog.Logger
}

// share is this node's part of a webhook's rate limit; 0 (no limit) stays 0.
func (u *Deliverer) share(perSecond int) int {
	if perSecond <= 0 {
		return perSecond
	}
	return u.cfg.Share(perSecond)
}

// Deliverer makes delivery attempts. It is safe for concurrent use, but one delivery must not be
// attempted twice at once (the transport hands a key out once at a time).
type Deliverer struct {
	cfg             Config
	platformBackoff delivery.Backoff
	limits          *rateLimits
	endpoints       *endpointSlots
	circuits        *circuits
}

// New returns a Deliverer, or reports every missing field.
func New(cfg Config) (*Deliverer, error) {
	var errs []error
	for _, f := range []struct {
		name    string
		missing bool
	}{
		{"Deliveries", cfg.Deliveries == nil}, {"Bodies", cfg.Bodies == nil}, {"Targets", cfg.Targets == nil}, {"Signer", cfg.Signer == nil},
		{"Sender", cfg.Sender == nil}, {"Scheduler", cfg.Scheduler == nil}, {"Clock", cfg.Clock == nil},
	} {
		if f.missing {
			errs = append(errs, fmt.Errorf("deliver: %s is required", f.name))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if cfg.Breaker == (webhook.Breaker{}) {
		cfg.Breaker = DefaultBreaker()
	}
	if err := cfg.Breaker.Validate(); err != nil {
		return nil, fmt.Errorf("deliver: breaker: %w", err)
	}
	if cfg.EndpointConcurrency <= 0 {
		cfg.EndpointConcurrency = DefaultEndpointConcurrency
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Share == nil {
		cfg.Share = func(limit int) int { return limit }
	}
	if cfg.Backoff.Random == nil {
		cfg.Backoff.Random = rand.Float64
	}
	if cfg.Backoff.Jitter == 0 {
		cfg.Backoff.Jitter = delivery.DefaultJitter
	}
	platformBackoff := platform.RetryBackoff()
	platformBackoff.Random = cfg.Backoff.Random
	return &Deliverer{cfg: cfg, platformBackoff: platformBackoff, limits: newRateLimits(),
		endpoints: newEndpointSlots(), circuits: newCircuits()}, nil
}

// attemptCaller records attempts; each save gets its own request id, so two writers recording the
// same attempt number conflict instead of one being taken for a repeat of the other.
var attemptCaller = command.Caller{Actor: "hookd-deliverer"}

// Attempt makes the delivery's next attempt if it is due, and records what came of it. It returns
// nil once the outcome is in the log or the delivery is scheduled again (or has nothing left to
// do); an error when the Scheduler failed, or ErrCanceled when ctx ended mid-attempt: the caller
// must then have the delivery handed out again.
func (u *Deliverer) Attempt(ctx context.Context, id string) error {
	a := &attempt{u: u, ctx: ctx, id: id, log: u.cfg.Logger.With("delivery_id", id)}
	return a.run()
}

// attempt is one call of Attempt.
type attempt struct {
	u   *Deliverer
	ctx context.Context
	id  string
	log *slog.Logger
}

func (a *attempt) run() error {
	cfg := a.u.cfg
	d, err := cfg.Deliveries.Load(a.ctx, a.id)
	switch {
	case errors.Is(err, eventcodec.ErrUnopenable):
		return a.parkSealed(err)
	case errors.Is(err, delivery.ErrNotFound):
		a.log.Error("a delivery handed out is not in the log; dropped")
		return nil
	case err != nil:
		return a.storeFailed("reading the delivery", err)
	}
	now := cfg.Clock()
	number, wait, err := d.NextAttempt(now)
	if errors.Is(err, delivery.ErrFinished) {
		return nil
	}
	if wait > 0 {
		return a.later(now.Add(wait))
	}
	body, err := a.body(d)
	switch {
	case errors.Is(err, ErrEventGone):
		a.log.Warn("the delivery's event is no longer in the log; parked", "event_id", d.EventID())
		return a.park(d, delivery.ReasonEventExpired)
	case errors.Is(err, ErrUnbuildable):
		a.log.Error("the delivery's body cannot be built; parked", "err", err)
		return a.park(d, delivery.ReasonBodyUnbuildable)
	case err != nil:
		return a.storeFailed("reading the delivery's event", err)
	}

	t, err := a.target(d, now)
	switch {
	case errors.Is(err, webhook.ErrNotFound):
		cfg.Sender.Forget(d.WebhookID()) // its OAuth 2.0 token will not be used again
		return a.park(d, delivery.ReasonWebhookDeleted)
	case errors.Is(err, errDisabled):
		return a.park(d, delivery.ReasonWebhookDisabled)
	case errors.Is(err, errCredential):
		a.log.Error("the webhook's credential cannot be opened; parked", "err", err)
		return a.park(d, delivery.ReasonSecretUnopenable)
	case err != nil:
		return a.storeFailed("reading the webhook", err)
	}
	var g guard
	if t.health != nil {
		var handled bool
		if g, handled, err = a.judgeHealth(d, *t.health, now); handled {
			return err
		}
		if g.done != nil {
			defer g.done()
		}
	}
	if wait := a.u.limits.wait(d.WebhookID(), a.u.share(t.rateLimit), now); wait > 0 {
		return a.later(now.Add(wait))
	}
	settings := d.SettingsFor(t.present)
	endpoint := endpointOf(settings.API.URL)
	if !a.u.endpoints.acquire(endpoint, a.u.cfg.Share(a.u.cfg.EndpointConcurrency)) {
		return a.later(now.Add(BusyEndpointDelay + rand.N(BusyEndpointDelay)))
	}
	outcome, err := a.send(d, body, settings, t.secrets)
	a.u.endpoints.release(endpoint)
	switch {
	case errors.Is(err, ErrSecretUnusable):
		// The same on every try: parked with its reason, for a replay once the secret is fixed.
		a.log.Error("the delivery's secret cannot be opened or cannot sign; parked", "err", err)
		return a.park(d, delivery.ReasonSecretUnopenable)
	case err != nil:
		a.log.Error("signing a delivery failed; trying again", "err", err)
		return a.later(cfg.Clock().Add(StoreRetryDelay))
	case outcome.Canceled:
		// Stopping: the attempt is handed back unrecorded, and is made again.
		return ErrCanceled
	}
	err = d.RecordAttempt(delivery.Attempt{
		Number: number, Status: outcome.Status, ErrorClass: outcome.ErrorClass, Unsendable: outcome.Unsendable,
		Duration: outcome.Duration, ResponseExcerpt: string(outcome.ResponseExcerpt), At: now, Probe: g.probe,
	}, settings.Policy, t.backoff)
	if err != nil {
		// Only a malformed outcome gets here, which another try would repeat.
		a.log.Error("the attempt cannot be recorded; dropped", "err", err)
		return nil
	}
	succeeded := d.Status() == delivery.StatusSucceeded
	if t.health == nil {
		return a.save(d)
	}
	// The endpoint's circuit is recorded before the retry is scheduled, so that the retry finds it.
	if saved, err := a.saveOnly(d); !saved {
		return err
	}
	a.afterAttempt(d, *t.health, g, outcome.Status, succeeded, now)
	return a.scheduleNext(d)
}

// target is where and how a delivery goes now.
type target struct {
	// present is the settings in force now, which a replay in mode current sends with; empty
	// otherwise, and the delivery's snapshot is used.
	present delivery.Snapshot
	secrets func() ([]string, error)
	backoff delivery.Backoff
	// rateLimit is the webhook's requests per second at most; 0 for none.
	rateLimit int
	// health is the webhook's health when the breaker and auto-disable apply; nil otherwise (the
	// platform's target, or both turned off).
	health *webhook.Health
}

// Reasons target gives for not sending, besides webhook.ErrNotFound and the Targets' own errors.
var (
	errDisabled   = errors.New("the webhook is disabled")
	errCredential = errors.New("the webhook's credential does not open")
)

// target resolves the delivery's target: the platform's, or its webhook as it stands now.
func (a *attempt) target(d *delivery.Delivery, now time.Time) (target, error) {
	cfg := a.u.cfg
	if d.WebhookID() == platform.WebhookID {
		t := target{present: platform.Target(cfg.PlatformURL), backoff: a.u.platformBackoff,
			secrets: func() ([]string, error) { return nil, nil }}
		if secret := cfg.PlatformSecret; secret != "" {
			t.secrets = func() ([]string, error) { return []string{secret}, nil }
		}
		return t, nil
	}
	w, err := cfg.Targets.Webhook(a.ctx, d.TenantID(), d.CommunityID(), d.WebhookID(), now)
	if err != nil {
		return target{}, err
	}
	if w.Disabled {
		return target{}, errDisabled
	}
	t := target{backoff: cfg.Backoff, rateLimit: w.RateLimit, secrets: w.Secrets}
	if cfg.Endpoints != nil {
		t.health = &w.Health
	}
	if d.ReplayMode() == delivery.ReplayCurrent {
		if t.present, err = w.Settings(); err != nil {
			return target{}, fmt.Errorf("%w: %w", errCredential, err)
		}
	}
	return t, nil
}

// body returns the request body of the delivery, as its body format says: recorded with it, or
// built from its published event (Bodies). The errors that park it match ErrUnbuildable (recorded
// without a body, because it could not be built; or a format this version does not know) or
// ErrEventGone.
func (a *attempt) body(d *delivery.Delivery) ([]byte, error) {
	switch f := d.BodyFormat(); f {
	case delivery.BodyRecorded:
		if d.Body() == "" {
			// It could not be built when it was scheduled (a replay reopened it): nothing to send.
			return nil, fmt.Errorf("%w: recorded without a body", ErrUnbuildable)
		}
		return []byte(d.Body()), nil
	case delivery.BodyBuiltV1:
		return a.u.cfg.Bodies.Body(a.ctx, d.EventID(), d.EventName())
	default:
		return nil, fmt.Errorf("%w: body format %d is not one this version builds", ErrUnbuildable, f)
	}
}

// send signs body for this attempt of the delivery with the secrets openSecrets gives, and sends it.
// An error of the webhook's secrets matches ErrSecretUnusable.
func (a *attempt) send(d *delivery.Delivery, body []byte, settings delivery.Snapshot, openSecrets func() ([]string, error)) (Outcome, error) {
	cfg := a.u.cfg
	secrets, err := openSecrets()
	if err != nil {
		return Outcome{}, fmt.Errorf("%w: opening it: %w", ErrSecretUnusable, err)
	}
	headers, err := cfg.Signer.Sign(a.ctx, d.ID(), cfg.Clock(), body, secrets)
	if err != nil {
		return Outcome{}, err
	}
	return cfg.Sender.Send(a.ctx, Request{
		URL: settings.API.URL, Body: body, Headers: headers, Endpoint: settings.API, WebhookID: d.WebhookID(),
		Timeout: time.Duration(settings.Policy.TTL) * time.Second,
	}), nil
}

// park records that the delivery cannot be sent, for the reason given.
func (a *attempt) park(d *delivery.Delivery, reason string) error {
	if err := d.Abandon(reason, a.u.cfg.Clock()); err != nil {
		a.log.Error("the delivery cannot be parked", "err", err)
		return nil
	}
	return a.save(d)
}

// parkSealed parks a delivery whose own snapshot holds a credential that does not open (cause): the
// same on every try. It reads the delivery with the credential sealed, which is enough to park it.
func (a *attempt) parkSealed(cause error) error {
	d, err := a.u.cfg.Deliveries.LoadSealed(a.ctx, a.id)
	if err != nil {
		return a.storeFailed("reading the delivery", err)
	}
	if d.Status().Finished() {
		return nil
	}
	a.log.Error("the delivery's credential cannot be opened; parked", "err", cause)
	return a.park(d, delivery.ReasonSecretUnopenable)
}

// save appends what the delivery recorded, and schedules its next attempt when one is due.
func (a *attempt) save(d *delivery.Delivery) error {
	if saved, err := a.saveOnly(d); !saved {
		return err
	}
	return a.scheduleNext(d)
}

// saveOnly appends what the delivery recorded and reports whether it did. When it did not, err is
// what Attempt is to return: nil when another writer recorded first (what it recorded stands, and
// says what comes next), the outcome of scheduling a new try when the log failed.
func (a *attempt) saveOnly(d *delivery.Delivery) (saved bool, err error) {
	_, err = a.u.cfg.Deliveries.Save(a.ctx, d, attemptCaller)
	switch {
	case errors.Is(err, eventlog.ErrWrongExpectedVersion):
		a.log.Info("the delivery changed while it was attempted; dropping this attempt's record")
		return false, nil
	case err != nil:
		return false, a.storeFailed("recording the attempt", err)
	}
	return true, nil
}

// scheduleNext schedules the delivery's next attempt when one is due.
func (a *attempt) scheduleNext(d *delivery.Delivery) error {
	if d.Status() == delivery.StatusScheduled {
		return a.later(d.NextDueAt())
	}
	return nil
}

// storeFailed schedules the delivery again after the log or a read model failed. A failure that
// is only the end of ctx (a shutdown) hands the delivery back instead.
func (a *attempt) storeFailed(doing string, err error) error {
	if a.ctx.Err() != nil {
		return ErrCanceled
	}
	a.log.Warn(doing+" failed; trying again", "err", err)
	return a.later(a.u.cfg.Clock().Add(StoreRetryDelay))
}

// later schedules the delivery's next attempt at at.
func (a *attempt) later(at time.Time) error {
	if err := a.u.cfg.Scheduler.Schedule(a.ctx, a.id, at); err != nil {
		return fmt.Errorf("deliver: scheduling delivery %s: %w", a.id, err)
	}
	return nil
}

// endpointOf names the endpoint a URL goes to: its scheme, host and port.
func endpointOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	return u.Scheme + "://" + u.Host
}
