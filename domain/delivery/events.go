package delivery

import "time"

// Event is a fact about a delivery, as its stream in the log records it. Each type's name is stable:
// it is written into the log and never derived from the Go type.
//
// The JSON names of the event structs are the log's schema; fields may be added, never renamed.
type Event interface{ EventName() string }

// The names of the delivery events in the log.
const (
	EventScheduled       = "DeliveryScheduled"
	EventAttempted       = "DeliveryAttempted"
	EventSucceeded       = "DeliverySucceeded"
	EventFailed          = "DeliveryFailed"
	EventReplayRequested = "DeliveryReplayRequested"
	EventDeferred        = "DeliveryDeferred"
)

// The formats of a delivery's body (Scheduled.BodyFormat).
const (
	// BodyRecorded: the body is recorded in Scheduled.Body.
	BodyRecorded = 0
	// BodyBuiltV1: the body is webhooksig.Body of the event's name and its published payload.
	BodyBuiltV1 = 1
)

// StreamPrefix starts the name of every delivery's stream; the part before '-' is the stream category.
const StreamPrefix = "delivery-"

// Stream names the stream that holds a delivery's events.
func Stream(id string) string { return StreamPrefix + id }

// Scheduled records that an event is to be delivered to a webhook, with the settings in force, and
// says how its request body is had (BodyFormat): recorded here, or built again from the published
// event, which the log keeps as long as any of its deliveries (retention removes the event last).
type Scheduled struct {
	DeliveryID  string `json:"deliveryId"`
	EventID     string `json:"eventId"`
	WebhookID   string `json:"webhookId"`
	TenantID    string `json:"tenantId"`
	CommunityID string `json:"communityId"`
	// Name is the published event's name (a field named EventName would clash with the method).
	Name string `json:"eventName"`
	// Body is the request body in format BodyRecorded, built once; every attempt, retry and replay
	// sends these bytes. It is a string, not json.RawMessage, because encoding/json re-spells raw JSON
	// ('<' as \u003c), and the bytes must not change; a string of valid UTF-8 comes back from the log
	// byte for byte. It is empty in format BodyBuiltV1, and when the body could not be built
	// (ReasonBodyUnbuildable).
	Body string `json:"body"`
	// BodyFormat says where the body comes from. BodyRecorded (0, absent from the record, as in
	// every delivery recorded before formats): Body holds it. BodyBuiltV1 (1): Body is empty, and the
	// body is webhooksig.Body(Name, payload of the EventPublished of EventID), a pure function of the
	// event, so every attempt, retry and replay still sends the same bytes without the log holding
	// the payload twice. A format names one builder for ever: should the builder ever change, the new
	// one is format 2, and the deliveries recorded in format 1 keep sending the bytes they always did.
	BodyFormat  int       `json:"bodyFormat,omitempty"`
	Settings    Snapshot  `json:"settings"`
	ScheduledAt time.Time `json:"scheduledAt"`
	// PublishedAt is when the event was accepted (its EventPublished's time), from which the
	// accept-to-deliver latency is measured; zero in deliveries recorded before it was kept.
	PublishedAt time.Time `json:"publishedAt,omitzero"`
}

// Attempted records one attempt to send: its number, counted from 1 over the delivery's whole life
// (replays continue the count), and what came of it. It never holds the target's credentials.
type Attempted struct {
	DeliveryID string `json:"deliveryId"`
	Attempt    int    `json:"attempt"`
	// Status is the HTTP status of the response; 0 when none came.
	Status int `json:"status"`
	// ErrorClass names why no response came (or why reading it failed); empty otherwise.
	ErrorClass      string    `json:"errorClass,omitempty"`
	DurationMs      int64     `json:"durationMs"`
	ResponseExcerpt string    `json:"responseExcerpt,omitempty"`
	At              time.Time `json:"at"`
	// RetryAt is when the next attempt is due, when the verdict was to retry and a retry was left;
	// zero otherwise. It is recorded, not recomputed, because it includes jitter.
	RetryAt time.Time `json:"retryAt,omitzero"`
	// WebhookID and Success say which endpoint the attempt went to and whether it succeeded, so that
	// the endpoint's health is folded from attempts alone. Attempts recorded before them have neither.
	WebhookID string `json:"webhookId,omitempty"`
	Success   bool   `json:"success,omitempty"`
	// Probe marks the one attempt a half-open circuit lets through: its failure spends none of the
	// delivery's retries, since the endpoint was known to be down.
	Probe bool `json:"probe,omitempty"`
}

// Succeeded records that the attempt numbered Attempt succeeded. No attempt follows until a replay.
type Succeeded struct {
	DeliveryID string    `json:"deliveryId"`
	Attempt    int       `json:"attempt"`
	At         time.Time `json:"at"`
}

// The reasons a delivery is parked, as Failed.Reason records them.
const (
	// ReasonRejected: the status was neither a success nor a retry code.
	ReasonRejected = "rejected"
	// ReasonExhausted: the status was to be retried, and no retry was left.
	ReasonExhausted = "exhausted"
	// ReasonWebhookDeleted: the webhook was deleted before the delivery was sent.
	ReasonWebhookDeleted = "webhook_deleted"
	// ReasonWebhookDisabled: the webhook was disabled before the delivery was sent. Enabling it
	// again does not resend parked deliveries; a replay does.
	ReasonWebhookDisabled = "webhook_disabled"
	// ReasonBodyUnbuildable: the event's payload cannot be made into a body (it breaks the payload
	// rules: an event recorded before them, or by another writer). The delivery is recorded with no
	// body and parked at once; a replay parks it again.
	ReasonBodyUnbuildable = "body_unbuildable"
	// ReasonSecretUnopenable: a secret or credential the delivery is signed or sent with cannot be
	// opened (sealed with a key this node does not hold, or damaged) or cannot sign.
	ReasonSecretUnopenable = "secret_unopenable"
	// ReasonEventExpired: the body is built from the published event (BodyBuiltV1), and the event is
	// no longer in the log (removed by retention, or missing). A replay parks it again.
	ReasonEventExpired = "event_expired"
)

// ParkReasons lists every reason a delivery is parked for: Failed.Reason is one of them.
var ParkReasons = []string{ReasonRejected, ReasonExhausted, ReasonWebhookDeleted, ReasonWebhookDisabled,
	ReasonBodyUnbuildable, ReasonSecretUnopenable, ReasonEventExpired}

// Failed records that the delivery is parked after the attempt numbered Attempt (0 when it was
// parked before any attempt, because its webhook was gone). No attempt follows until a replay.
type Failed struct {
	DeliveryID string    `json:"deliveryId"`
	Attempt    int       `json:"attempt"`
	Reason     string    `json:"reason"`
	At         time.Time `json:"at"`
}

// ReplayRequested records that a finished delivery is to be sent again, with the same id and body.
// It reopens the delivery: a new round of 1 + RetryCount attempts, numbered on from the last one.
type ReplayRequested struct {
	DeliveryID  string     `json:"deliveryId"`
	Mode        ReplayMode `json:"mode"`
	RequestedBy string     `json:"requestedBy"`
	At          time.Time  `json:"at"`
}

// DeferReasonCircuitOpen: the webhook's circuit is open; the delivery waits for its cool-down.
const DeferReasonCircuitOpen = "circuit_open"

// Deferred records that a due delivery waits, without an attempt and without spending a retry, until
// Until: its endpoint's circuit is open (Reason DeferReasonCircuitOpen).
type Deferred struct {
	DeliveryID string    `json:"deliveryId"`
	Until      time.Time `json:"until"`
	Reason     string    `json:"reason"`
	At         time.Time `json:"at"`
}

// EventName implements Event.
func (Deferred) EventName() string { return EventDeferred }

// EventName implements Event.
func (Scheduled) EventName() string { return EventScheduled }

// EventName implements Event.
func (Attempted) EventName() string { return EventAttempted }

// EventName implements Event.
func (Succeeded) EventName() string { return EventSucceeded }

// EventName implements Event.
func (Failed) EventName() string { return EventFailed }

// EventName implements Event.
func (ReplayRequested) EventName() string { return EventReplayRequested }

// SecretFields lists the fields that must be encrypted before the event reaches the log: the
// target's credentials in the settings snapshot.
func (e *Scheduled) SecretFields() []*string { return e.Settings.API.Credential.Fields() }
