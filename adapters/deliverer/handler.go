// Package deliverer sends deliveries: a Watermill router handler signs and sends each delivery the
// Queue hands over, and appends what came of the attempt to the log. The handler is transport-
// agnostic (a message carries a delivery id; the delivery comes from the log, or from memory when
// this process saved it last), so NATS JetStream can carry the same messages as the embedded
// profile's GoChannel.
package deliverer

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/hookd/hookd/adapters/sender"
	"github.com/hookd/hookd/adapters/webhooksig"
	"github.com/hookd/hookd/application/command"
	"github.com/hookd/hookd/application/eventcodec"
	"github.com/hookd/hookd/domain/delivery"
	"github.com/hookd/hookd/domain/eventlog"
	"github.com/hookd/hookd/domain/platform"
	"github.com/hookd/hookd/domain/webhook"
	"github.com/hookd/hookd/internal/bounded"
	"github.com/hookd/hookd/projections/webhookview"
)

// Defaults of Config.
const (
	DefaultEndpointConcurrency = 128
	// busyEndpointDelay is how long a delivery to an endpoint at its concurrency limit waits before
	// it is tried again; a little jitter spreads those that wait together.
	busyEndpointDelay = 100 * time.Millisecond
	// storeRetryDelay is how long a delivery waits after the log could not be read or written.
	storeRetryDelay = time.Second
	// webhookFreshness is how old a webhook read from the read model may be when an attempt uses
	// it: a change (a new URL, a disable, a rotation) reaches attempts within it. Reading the
	// webhook once per attempt would cost a read transaction on every delivery.
	webhookFreshness = time.Second
	webhookCacheSize = 10_000
	// savedCacheSize bounds the deliveries kept in memory as last saved, for their next attempt.
	savedCacheSize = 10_000
)

// WebhookReader reads a webhook's present settings and secrets from the read model.
type WebhookReader interface {
	Get(ctx context.Context, tenantID, communityID, id string) (webhookview.Webhook, error)
}

// SecretOpener opens a secret that the read model keeps sealed.
type SecretOpener interface {
	OpenSecret(sealed, stream string) (string, error)
}

// Config is what a Handler needs. Every field is required unless its comment says otherwise.
type Config struct {
	Deliveries *command.Deliveries
	Webhooks   WebhookReader
	Secrets    SecretOpener
	Sender     *sender.Sender
	// SigningKey gives the service's ed25519 key for the v1a signature; it is asked on every attempt,
	// so it must answer from memory.
	SigningKey func(ctx context.Context) (ed25519.PrivateKey, error)
	Queue      *Queue
	// Backoff spaces retries (optional: the delivery package's defaults).
	Backoff delivery.Backoff
	// EndpointConcurrency bounds the attempts in flight to one endpoint (scheme, host and port), so
	// that a slow or dead endpoint cannot take every slot (optional: DefaultEndpointConcurrency).
	EndpointConcurrency int
	Clock               func() time.Time
	// PlatformURL and PlatformSecret are WEBHOOK_URL and WEBHOOK_SECRET: where platform events go,
	// and the secret that signs them (optional: without a secret they go unsigned by HMAC).
	PlatformURL, PlatformSecret string
	// Logger is optional.
	Logger *slog.Logger
}

// Handler delivers one delivery per message.
type Handler struct {
	cfg             Config
	platformBackoff delivery.Backoff
	limits          *rateLimits
	// sendCtx bounds attempts in flight; it ends only when a graceful stop runs out of time.
	sendCtx   context.Context
	endpoints *endpointSlots
	webhooks  *bounded.Map[readWebhook]
	// saved holds deliveries as this process last saved them, for their next attempt to take
	// instead of reading the log. One taken is gone, so a later message (a replay's, say) reads the
	// log; one evicted is read from the log too. Another writer in between makes the save conflict,
	// and the delivery is read again.
	saved *bounded.Map[*delivery.Delivery]
}

// readWebhook is a webhook as the read model answered, and when.
type readWebhook struct {
	w   webhookview.Webhook
	err error
	at  time.Time
}

// NewHandler returns a Handler whose attempts run until sendCtx ends.
func NewHandler(sendCtx context.Context, cfg Config) (*Handler, error) {
	var errs []error
	for name, missing := range map[string]bool{
		"Deliveries": cfg.Deliveries == nil, "Webhooks": cfg.Webhooks == nil, "Secrets": cfg.Secrets == nil,
		"Sender": cfg.Sender == nil, "SigningKey": cfg.SigningKey == nil, "Queue": cfg.Queue == nil, "Clock": cfg.Clock == nil,
	} {
		if missing {
			errs = append(errs, fmt.Errorf("deliverer: %s is required", name))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if cfg.EndpointConcurrency <= 0 {
		cfg.EndpointConcurrency = DefaultEndpointConcurrency
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Backoff.Random == nil {
		cfg.Backoff.Random = rand.Float64
	}
	if cfg.Backoff.Jitter == 0 {
		cfg.Backoff.Jitter = delivery.DefaultJitter
	}
	platformBackoff := platform.RetryBackoff()
	platformBackoff.Random = cfg.Backoff.Random
	return &Handler{cfg: cfg, platformBackoff: platformBackoff, sendCtx: sendCtx,
		endpoints: newEndpointSlots(cfg.EndpointConcurrency), webhooks: bounded.New[readWebhook](webhookCacheSize),
		limits: newRateLimits(), saved: bounded.New[*delivery.Delivery](savedCacheSize)}, nil
}

// Handle is the Watermill handler: the message's payload is a delivery id. It always acks: what
// must survive is in the log, and a delivery that could not be attempted now is queued again.
func (h *Handler) Handle(msg *message.Message) error {
	id := string(msg.Payload)
	defer h.cfg.Queue.Done(id)
	h.deliver(id)
	return nil
}

// attemptCaller records attempts; each save gets its own request id, so two writers recording the
// same attempt number conflict instead of one being taken for a repeat of the other.
var attemptCaller = command.Caller{Actor: "hookd-deliverer"}

func (h *Handler) deliver(id string) {
	ctx, log := h.sendCtx, h.cfg.Logger.With("delivery_id", id)
	d, err := h.load(ctx, id)
	if errors.Is(err, eventcodec.ErrUnopenable) {
		h.parkSealed(ctx, log, id, err)
		return
	}
	if err != nil {
		if ctx.Err() == nil {
			log.Warn("reading a delivery failed; trying again", "err", err)
			h.cfg.Queue.Schedule(id, h.cfg.Clock().Add(storeRetryDelay))
		}
		return
	}
	now := h.cfg.Clock()
	number, wait, err := d.NextAttempt(now)
	if errors.Is(err, delivery.ErrFinished) {
		return
	}
	if wait > 0 {
		h.later(d, now.Add(wait))
		return
	}
	if d.Body() == "" {
		// Its body could not be built when it was scheduled (a replay reopened it): nothing to send.
		h.abandon(ctx, log, d, delivery.ReasonBodyUnbuildable)
		return
	}

	t, ok := h.target(ctx, log, d, now)
	if !ok {
		return
	}
	if wait := h.limits.wait(d.WebhookID(), t.rateLimit, now); wait > 0 {
		h.later(d, now.Add(wait))
		return
	}
	settings := d.SettingsFor(t.present)
	endpoint := endpointOf(settings.API.URL)
	if !h.endpoints.acquire(endpoint) {
		h.later(d, now.Add(busyEndpointDelay+time.Duration(rand.Int64N(int64(busyEndpointDelay)))))
		return
	}
	outcome, err := h.send(ctx, d, settings, t.secrets)
	h.endpoints.release(endpoint)
	if errors.Is(err, errSecret) {
		// The same on every try: parked with its reason, for a replay once the secret is fixed.
		log.Error("the delivery's secret cannot be opened or cannot sign; parked", "err", err)
		h.abandon(ctx, log, d, delivery.ReasonSecretUnopenable)
		return
	}
	if err != nil {
		log.Error("signing a delivery failed; trying again", "err", err)
		h.cfg.Queue.Schedule(id, h.cfg.Clock().Add(storeRetryDelay))
		return
	}
	if outcome.ErrorClass == sender.ClassCanceled {
		// Stopping: the attempt is handed back unrecorded, and the next start makes it again.
		return
	}
	err = d.RecordAttempt(delivery.Attempt{
		Number: number, Status: outcome.Status, ErrorClass: outcome.ErrorClass, Unsendable: outcome.Unsendable(),
		Duration:        outcome.Duration,
		ResponseExcerpt: string(outcome.ResponseExcerpt), At: now,
	}, settings.Policy, t.backoff)
	if err != nil {
		log.Error("the attempt cannot be recorded", "err", err)
		return
	}
	h.save(ctx, log, d)
}

// target is where and how a delivery goes now: the settings in force at present (which a replay in
// mode current sends with), the secrets that sign it, and the spacing of its retries.
type target struct {
	present delivery.Snapshot
	// secrets opens the secrets that sign the delivery, only once it is to be sent: a delivery
	// that waits for its endpoint or its rate limit needs none.
	secrets func() ([]string, error)
	backoff delivery.Backoff
	// rateLimit is the webhook's requests per second at most; 0 for none.
	rateLimit int
}

// target finds the delivery's target. A webhook that is gone or disabled parks the delivery, as
// does a credential that cannot be opened; a read that fails queues it again. ok is false then,
// and nothing is to be sent.
func (h *Handler) target(ctx context.Context, log *slog.Logger, d *delivery.Delivery, now time.Time) (t target, ok bool) {
	if d.WebhookID() == platform.WebhookID {
		t = target{present: platform.Target(h.cfg.PlatformURL), backoff: h.platformBackoff,
			secrets: func() ([]string, error) { return nil, nil }}
		if secret := h.cfg.PlatformSecret; secret != "" {
			t.secrets = func() ([]string, error) { return []string{secret}, nil }
		}
		return t, true
	}
	w, err := h.webhook(ctx, d, now)
	switch {
	case errors.Is(err, webhook.ErrNotFound):
		h.abandon(ctx, log, d, delivery.ReasonWebhookDeleted)
		return target{}, false
	case err != nil:
		log.Warn("reading the webhook failed; trying again", "err", err)
		h.cfg.Queue.Schedule(d.ID(), now.Add(storeRetryDelay))
		return target{}, false
	case w.Disabled:
		h.abandon(ctx, log, d, delivery.ReasonWebhookDisabled)
		return target{}, false
	}
	// The present settings serve a replay in mode current alone; otherwise the delivery's snapshot
	// is sent with, and present is left empty.
	t = target{backoff: h.cfg.Backoff, rateLimit: w.Settings.RateLimit}
	if d.ReplayMode() == delivery.ReplayCurrent {
		if t.present, err = h.presentSnapshot(w); err != nil {
			log.Error("the webhook's credential cannot be opened; parked", "err", err)
			h.abandon(ctx, log, d, delivery.ReasonSecretUnopenable)
			return target{}, false
		}
	}
	// During a rotation both secrets sign, the new one first, so receivers that still hold the old
	// one keep verifying.
	t.secrets = func() ([]string, error) {
		sealed := w.ValidSecrets(now)
		secrets := make([]string, len(sealed))
		for i, s := range sealed {
			var err error
			if secrets[i], err = h.cfg.Secrets.OpenSecret(s, w.Stream); err != nil {
				return nil, fmt.Errorf("%w: opening the webhook's secret: %w", errSecret, err)
			}
		}
		return secrets, nil
	}
	return t, true
}

// webhook reads the delivery's webhook, from what was read within webhookFreshness if anything was.
func (h *Handler) webhook(ctx context.Context, d *delivery.Delivery, now time.Time) (webhookview.Webhook, error) {
	key := d.TenantID() + "\x00" + d.CommunityID() + "\x00" + d.WebhookID()
	if r, ok := h.webhooks.Get(key); ok && now.Sub(r.at) < webhookFreshness {
		return r.w, r.err
	}
	w, err := h.cfg.Webhooks.Get(ctx, d.TenantID(), d.CommunityID(), d.WebhookID())
	if err == nil || errors.Is(err, webhook.ErrNotFound) {
		h.webhooks.Put(key, readWebhook{w: w, err: err, at: now})
	}
	return w, err
}

// errSecret marks an error of a webhook's own secrets: one cannot be opened, or cannot sign. It is
// the same on every try, unlike the service's signing key, which a store read gives.
var errSecret = errors.New("the webhook's secret")

// send signs the delivery for this attempt with the secrets openSecrets gives and the service key,
// and sends it. An error of the webhook's secrets matches errSecret.
func (h *Handler) send(ctx context.Context, d *delivery.Delivery, settings delivery.Snapshot, openSecrets func() ([]string, error)) (sender.Outcome, error) {
	secrets, err := openSecrets()
	if err != nil {
		return sender.Outcome{}, err
	}
	key, err := h.cfg.SigningKey(ctx)
	if err != nil {
		return sender.Outcome{}, fmt.Errorf("the signing key: %w", err)
	}
	body := []byte(d.Body())
	headers, err := signatureHeaders(d.ID(), h.cfg.Clock().Unix(), body, secrets, key)
	if err != nil {
		return sender.Outcome{}, err
	}
	return h.cfg.Sender.Send(ctx, sender.Request{
		URL: settings.API.URL, Body: body, Headers: headers, Endpoint: settings.API, WebhookID: d.WebhookID(),
		Timeout: time.Duration(settings.Policy.TTL) * time.Second,
	}), nil
}

// signatureHeaders returns the headers that sign one attempt: Cosmo's, with the first (current)
// secret, and Standard Webhooks' with a v1 entry per secret and a v1a entry with the service key.
func signatureHeaders(msgID string, ts int64, body []byte, secrets []string, key ed25519.PrivateKey) (map[string]string, error) {
	entries := make([]string, 0, len(secrets)+1)
	for _, s := range secrets {
		v1, err := webhooksig.StandardV1(s, msgID, ts, body)
		if err != nil {
			return nil, fmt.Errorf("%w: signing with it: %w", errSecret, err)
		}
		entries = append(entries, v1)
	}
	entries = append(entries, webhooksig.StandardV1a(key, msgID, ts, body))
	headers := map[string]string{
		webhooksig.HeaderID:        msgID,
		webhooksig.HeaderTimestamp: strconv.FormatInt(ts, 10),
		webhooksig.HeaderSignature: webhooksig.SignatureHeader(entries...),
	}
	if len(secrets) > 0 {
		headers[webhooksig.HeaderCosmo] = webhooksig.CosmoSignature(secrets[0], body)
	}
	return headers, nil
}

// presentSnapshot is the webhook's settings now, with its credential opened, for a replay in mode
// current.
func (h *Handler) presentSnapshot(w webhookview.Webhook) (delivery.Snapshot, error) {
	s, err := w.OpenSettings(h.cfg.Secrets.OpenSecret)
	if err != nil {
		return delivery.Snapshot{}, err
	}
	return delivery.SnapshotOf(s), nil
}

// abandon parks a delivery that cannot be sent, for the reason given.
func (h *Handler) abandon(ctx context.Context, log *slog.Logger, d *delivery.Delivery, reason string) {
	if reason == delivery.ReasonWebhookDeleted {
		h.cfg.Sender.Forget(d.WebhookID()) // its OAuth 2.0 token will not be used again
	}
	if err := d.Abandon(reason, h.cfg.Clock()); err != nil {
		log.Error("the delivery cannot be parked", "err", err)
		return
	}
	h.save(ctx, log, d)
}

// parkSealed parks a delivery whose own snapshot holds a credential that does not open (cause): the
// same on every try. It reads the delivery with the credential sealed, which is enough to park it.
func (h *Handler) parkSealed(ctx context.Context, log *slog.Logger, id string, cause error) {
	d, err := h.cfg.Deliveries.LoadSealed(ctx, id)
	if err != nil {
		if ctx.Err() == nil {
			log.Warn("reading a delivery failed; trying again", "err", err)
			h.cfg.Queue.Schedule(id, h.cfg.Clock().Add(storeRetryDelay))
		}
		return
	}
	if d.Status().Finished() {
		return
	}
	log.Error("the delivery's credential cannot be opened; parked", "err", cause)
	h.abandon(ctx, log, d, delivery.ReasonSecretUnopenable)
}

// save appends what the delivery recorded, and queues its next attempt when one is due.
func (h *Handler) save(ctx context.Context, log *slog.Logger, d *delivery.Delivery) {
	_, err := h.cfg.Deliveries.Save(ctx, d, attemptCaller)
	switch {
	case errors.Is(err, eventlog.ErrWrongExpectedVersion):
		// Another writer recorded first; what it recorded stands, and says what comes next.
		log.Info("the delivery changed while it was attempted; dropping this attempt's record")
		return
	case err != nil:
		if ctx.Err() == nil {
			log.Error("recording an attempt failed; the delivery will be attempted again", "err", err)
			h.cfg.Queue.Schedule(d.ID(), h.cfg.Clock().Add(storeRetryDelay))
		}
		return
	}
	if d.Status() == delivery.StatusScheduled {
		h.later(d, d.NextDueAt())
	}
}

// later queues d's next attempt at at, keeping d as it stands for that attempt.
func (h *Handler) later(d *delivery.Delivery, at time.Time) {
	h.saved.Put(d.ID(), d)
	h.cfg.Queue.Schedule(d.ID(), at)
}

// Scheduled keeps a delivery the dispatcher just scheduled and saved, for its first attempt.
func (h *Handler) Scheduled(d *delivery.Delivery) { h.saved.Put(d.ID(), d) }

// load returns the delivery as this process last saved it, or else as the log has it.
func (h *Handler) load(ctx context.Context, id string) (*delivery.Delivery, error) {
	if d, ok := h.saved.Take(id); ok {
		return d, nil
	}
	return h.cfg.Deliveries.Load(ctx, id)
}

// endpointOf names the endpoint a URL goes to: its scheme, host and port.
func endpointOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	return u.Scheme + "://" + u.Host
}

// endpointSlots counts the attempts in flight per endpoint.
type endpointSlots struct {
	limit int
	mu    sync.Mutex
	busy  map[string]int
}

func newEndpointSlots(limit int) *endpointSlots {
	return &endpointSlots{limit: limit, busy: make(map[string]int)}
}

func (s *endpointSlots) acquire(endpoint string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.busy[endpoint] >= s.limit {
		return false
	}
	s.busy[endpoint]++
	return true
}

func (s *endpointSlots) release(endpoint string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.busy[endpoint]--; s.busy[endpoint] <= 0 {
		delete(s.busy, endpoint)
	}
}
