package deliver

import (
	"context"
	"errors"
	"time"

	"github.com/hookd/hookd/application/command"
	"github.com/hookd/hookd/domain/delivery"
	"github.com/hookd/hookd/domain/webhook"
)

// Deliveries loads and saves deliveries. *command.Deliveries is one; an adapter may keep what it
// saved in memory for the next Load.
type Deliveries interface {
	// Load returns the delivery with its target's credentials opened: delivery.ErrNotFound when
	// there is none, an error matching eventcodec.ErrUnopenable when a credential does not open.
	Load(ctx context.Context, id string) (*delivery.Delivery, error)
	// LoadSealed returns the delivery with its credentials left sealed: enough to park it.
	LoadSealed(ctx context.Context, id string) (*delivery.Delivery, error)
	// Save appends what d recorded since it was loaded, expecting its stream where it was loaded:
	// eventlog.ErrWrongExpectedVersion says another writer recorded first.
	Save(ctx context.Context, d *delivery.Delivery, caller command.Caller) (command.Result, error)
}

// Targets answers a webhook's present settings and secrets.
type Targets interface {
	// Webhook returns the webhook as it stands at now, or webhook.ErrNotFound when it was deleted.
	Webhook(ctx context.Context, tenantID, communityID, id string, now time.Time) (Webhook, error)
}

// Webhook is what an attempt needs of a webhook's present state. Its secrets and credential are
// opened on demand: an attempt that waits for its endpoint or its rate limit needs neither.
type Webhook struct {
	Disabled bool
	// RateLimit is the webhook's requests per second at most; 0 for none.
	RateLimit int
	// Health is what the attempts to the webhook's endpoint say of it, and its circuit, as the read
	// model folded them from the log.
	Health webhook.Health
	// Settings opens the webhook's present settings, with its credential, for a replay in mode
	// current. An error means the credential does not open.
	Settings func() (delivery.Snapshot, error)
	// Secrets opens the secrets that sign an attempt, the current one first (during a rotation, the
	// previous one too). An error means one does not open.
	Secrets func() ([]string, error)
}

// ErrSecretUnusable is matched by a Signer's error when one of the webhook's secrets cannot sign:
// the same on every try, so the delivery is parked.
var ErrSecretUnusable = errors.New("deliver: a webhook secret cannot sign")

// Signer computes the headers that sign one attempt.
type Signer interface {
	// Sign returns the signature headers of body sent as message msgID at at, with secrets (the
	// first is the current one) and the service's own key. An error matching ErrSecretUnusable is
	// the secrets' fault; any other (the service key unreadable) may pass.
	Sign(ctx context.Context, msgID string, at time.Time, body []byte, secrets []string) (map[string]string, error)
}

// Request is one attempt to send.
type Request struct {
	URL     string
	Body    []byte
	Headers map[string]string
	// Endpoint says how to authenticate to the target; its URL is not used, URL is.
	Endpoint webhook.Endpoint
	// WebhookID keys what the sender keeps per webhook (an OAuth 2.0 token).
	WebhookID string
	// Timeout bounds the exchange; 0 means the sender's default.
	Timeout time.Duration
}

// Outcome is what came of a Request.
type Outcome struct {
	// Status is the HTTP status, 0 when no response came.
	Status int
	// ErrorClass names why no (whole) response came; "" when all went well.
	ErrorClass string
	// Unsendable says that no request could be sent, and no retry would change that.
	Unsendable bool
	// Canceled says the attempt was cut short by its context (shutdown): it is not the target's
	// doing, and is not recorded.
	Canceled        bool
	Duration        time.Duration
	ResponseExcerpt []byte
}

// Sender sends attempts.
type Sender interface {
	Send(ctx context.Context, r Request) Outcome
	// Forget drops what the sender keeps for a webhook that is gone.
	Forget(webhookID string)
}

// Scheduler hands a delivery to the transport, to be attempted at dueAt. It replaces any earlier
// schedule of the delivery that is still waiting. An error means it may not be scheduled.
type Scheduler interface {
	Schedule(ctx context.Context, deliveryID string, dueAt time.Time) error
}

// Endpoints records in the log what the circuit breaker and auto-disable decide about a webhook.
// *command.Webhooks is one.
type Endpoints interface {
	// OpenCircuit opens the webhook's circuit at at, or opens it again for a longer cool-down after
	// a failed probe, and returns the circuit as it then is; webhook.ErrCircuitOpen (with the circuit)
	// says another writer opened it first.
	OpenCircuit(ctx context.Context, tenantID, communityID, id string, b webhook.Breaker, at time.Time, attempts, failures int) (webhook.Circuit, error)
	// CloseCircuit closes the webhook's circuit after a probe succeeded at at.
	CloseCircuit(ctx context.Context, tenantID, communityID, id string, at time.Time) error
	// DisableFor disables the webhook, the system as the actor, for reason (webhook.DisabledFailing
	// or webhook.DisabledGone); it reports whether this call disabled it.
	DisableFor(ctx context.Context, tenantID, communityID, id, reason string, failingSince time.Time) (bool, error)
}
