// Package dispatch turns published events into deliveries. It follows the log (as a
// projections.Processor, fed by a checkpointed Runner): each EventPublished is matched against the
// enabled webhooks of its tenant and community, and every match becomes a delivery
// (DeliveryScheduled), whose id derives from the event and the webhook, so that going over the same
// events again after a crash schedules nothing twice. Each delivery it schedules is handed to the
// Scheduler, and so is each delivery that becomes due in the log by another's hand (a replay, or a
// DeliveryScheduled another writer appended); an error from the Scheduler fails the batch, so the
// checkpoint never passes a delivery that was not handed over.
//
// An event is one tenant's, and nothing in it may stop the others' deliveries: an event whose body
// cannot be built schedules its deliveries parked (delivery.ReasonBodyUnbuildable), and one that
// cannot be read at all is logged and passed over. Only what stops every event alike (the log or
// the read models failing) fails a batch, which the Runner then retries and reports.
package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/hookd/hookd/application/command"
	"github.com/hookd/hookd/domain/delivery"
	"github.com/hookd/hookd/domain/eventlog"
	"github.com/hookd/hookd/domain/platform"
	"github.com/hookd/hookd/domain/publication"
	"github.com/hookd/hookd/domain/webhook"
)

// scheduleConcurrency bounds the appends of one batch in flight at once: enough for the store to
// commit them in groups.
const scheduleConcurrency = 64

// Candidate is a webhook that listens to an event's name: enabled, in the event's tenant and
// community. Its credential is open: the delivery's snapshot carries it (sealed again in the log).
type Candidate struct {
	ID        string
	Settings  webhook.Settings
	CreatedAt time.Time
	// CredentialErr says why the credential could not be opened (Settings then hold none): the
	// delivery is recorded parked, delivery.ReasonSecretUnopenable. Nil when it is open.
	CredentialErr error
}

// Ports are what the Dispatcher needs. Every field is required.
type Ports struct {
	// Decode decodes a record of the log; Metadata its metadata.
	Decode   func(r eventlog.RecordedEvent) (interface{ EventName() string }, error)
	Metadata func(r eventlog.RecordedEvent) (eventlog.Metadata, error)
	// Candidates returns the enabled webhooks of the tenant and community that list the event name.
	// The Dispatcher reads the answer and never changes it, so it may be shared.
	Candidates func(ctx context.Context, tenantID, communityID, eventName string) ([]Candidate, error)
	// WebhooksAt waits until Candidates answers from the log up to pos at least, so that a webhook
	// created before an event was published is seen when the event is dispatched.
	WebhooksAt func(ctx context.Context, pos eventlog.Position) error
	// Body builds a delivery's request body from the event's name and payload: the builder of body
	// format delivery.BodyBuiltV1, which the deliverer builds again. The deliveries record the format
	// and no body; the Dispatcher builds it once per event all the same, so that an error parks the
	// event's deliveries at once (delivery.ReasonBodyUnbuildable) and the body is there to Keep.
	Body func(eventName string, payload json.RawMessage) ([]byte, error)
	// Bodies keeps each body built, for the deliverer to send without reading the event again
	// (optional: nil keeps none, and the deliverer reads each event from the log).
	Bodies Bodies
	// Deliveries appends DeliveryScheduled.
	Deliveries Deliveries
	// Head returns the log's last position.
	Head func(ctx context.Context) (eventlog.Position, error)
	// Scheduler hands a delivery to the transport, due at dueAt.
	Scheduler Scheduler
	// Clock gives the scheduling time.
	Clock func() time.Time
	// PlatformURL is WEBHOOK_URL, where platform events go (optional: without it they are recorded
	// and delivered nowhere).
	PlatformURL string
	// Platform publishes a platform event (optional: nil publishes none). The Dispatcher publishes
	// WEBHOOK_DISABLED for each webhook hookd disabled, with idempotencyKey derived from the
	// disabling event, so that going over it again publishes nothing twice.
	Platform func(ctx context.Context, name string, payload json.RawMessage, idempotencyKey string) error
	// Logger records the events passed over and the deliveries parked unbuilt (optional).
	Logger *slog.Logger
	// Takeover is set when this Dispatcher takes over from another (the cluster profile's new
	// dispatch leader) after a recovery; nil otherwise.
	Takeover *Takeover
	// Remember bounds the deliveries this Dispatcher remembers having handed over
	// (DefaultRemember when 0).
	Remember int
}

// DefaultRemember is Ports.Remember's default: 32,768 delivery ids, about 3 MB with the ids (a Go
// map keeps the room it grew to).
//
// A Dispatcher remembers what it handed over until it reads the DeliveryScheduled back, which comes
// after every record appended before it; so while publishing outruns dispatch the Dispatcher falls
// behind the log, and what it has handed over and not yet read back grows with the lag, without a
// bound of its own (in a 30 s burst of batch publishing, 170,000 ids, 15 MB). Past the bound it
// forgets nothing it holds but remembers no more, and hands over again each delivery it did not
// remember when it meets it: one more message for the transport, which holds one per delivery (and,
// behind a backlog, leaves it to the backlog), or an attempt that finds the delivery done and sends
// nothing. Keeping up, the lag is a batch or two: a few thousand ids at most.
const DefaultRemember = 1 << 15

// Takeover is what the recovery of a new dispatch leader covered (reconcile.Takeover): every
// delivery due in the log up to At was handed over, unless the transport held it.
//
// The Dispatcher then hands over no DeliveryScheduled at or before At when it meets it in the log
// (the last leader's, coming back as another writer's): handing one over again would put a second
// message beside the one another node may be attempting. A ReplayRequested at or before At is
// handed over unless the transport holds the delivery (Holds): the recovery handed it over, or
// some node holds it.
type Takeover struct {
	At    eventlog.Position
	Holds func(ctx context.Context, deliveryID string) (bool, error)
}

// Deliveries records new deliveries. *command.Deliveries is one.
type Deliveries interface {
	// Schedule appends a new delivery's DeliveryScheduled and returns it, saved; nil, with Changed
	// false, when the delivery was scheduled before.
	Schedule(ctx context.Context, s delivery.Scheduling, caller command.Caller) (*delivery.Delivery, command.Result, error)
}

// Bodies keeps the body built for the deliveries of an event. *deliver.EventBodies is one.
type Bodies interface {
	// Keep keeps body, built for the deliveries of event eventID named eventName; it never changes
	// afterwards.
	Keep(eventID, eventName string, body []byte)
}

// Scheduler hands a delivery to the transport, to be attempted at dueAt. An error means it may not
// be scheduled.
type Scheduler interface {
	Schedule(ctx context.Context, deliveryID string, dueAt time.Time) error
}

// Dispatcher matches published events to webhooks and schedules their deliveries. Its Process
// calls must not overlap (a Runner makes them one batch at a time).
type Dispatcher struct {
	p Ports
	// horizon is the log's head when this Dispatcher first scheduled: a delivery scheduled at or
	// before it was scheduled by an earlier process, and is the recovery's to hand over; one after
	// it, this Dispatcher's. Zero until then.
	horizon eventlog.Position
	// handed holds the deliveries this Dispatcher scheduled and handed over, until their
	// DeliveryScheduled comes back through the log, where it needs no handing over again; at most
	// Ports.Remember of them.
	mu     sync.Mutex
	handed map[string]struct{}
}

// New returns a Dispatcher, or reports every missing port.
func New(p Ports) (*Dispatcher, error) {
	var errs []error
	for name, missing := range map[string]bool{
		"Decode": p.Decode == nil, "Metadata": p.Metadata == nil, "Candidates": p.Candidates == nil,
		"WebhooksAt": p.WebhooksAt == nil, "Body": p.Body == nil, "Deliveries": p.Deliveries == nil, "Head": p.Head == nil,
		"Scheduler": p.Scheduler == nil, "Clock": p.Clock == nil,
	} {
		if missing {
			errs = append(errs, fmt.Errorf("dispatch: %s is required", name))
		}
	}
	if p.Takeover != nil && p.Takeover.Holds == nil {
		errs = append(errs, errors.New("dispatch: Takeover.Holds is required"))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if p.Logger == nil {
		p.Logger = slog.New(slog.DiscardHandler)
	}
	if p.Remember <= 0 {
		p.Remember = DefaultRemember
	}
	return &Dispatcher{p: p, handed: make(map[string]struct{})}, nil
}

// caller is who schedules deliveries; the request id is the published event's id, the correlation
// id of everything that follows from it, and traceParent the publication's trace, which the
// deliveries join.
func caller(eventID, traceParent string) command.Caller {
	return command.Caller{Actor: "hookd-dispatcher", RequestID: eventID, TraceParent: traceParent}
}

// Reads reports whether Process acts on events of the type: publications, and deliveries that
// become due.
func (d *Dispatcher) Reads(eventType string) bool {
	switch eventType {
	case publication.EventPublished, delivery.EventScheduled, delivery.EventReplayRequested:
		return true
	case webhook.EventDisabled:
		return d.p.Platform != nil
	}
	return false
}

// Process implements projections.Processor: it schedules the deliveries of the batch's published
// events and hands each to the Scheduler, and hands over the deliveries the batch made due by
// another's hand. Repeating it on the same events repeats nothing that shows: scheduling is
// idempotent, and the transport holds one message per delivery.
//
// A delivery reaches the Scheduler from here, from the recovery at start (what the deliveries read
// model says is due) and from the delivery use case itself (its retries); this Dispatcher does not
// hand over its own DeliveryScheduled again when it comes back through the log, nor, after a
// takeover, those the recovery covered (Takeover).
func (d *Dispatcher) Process(ctx context.Context, events []eventlog.RecordedEvent) error {
	var published []eventlog.RecordedEvent
	for _, r := range events {
		switch r.Type {
		case publication.EventPublished:
			published = append(published, r)
		case webhook.EventDisabled:
			if err := d.announceDisabled(ctx, r); err != nil {
				return err
			}
		case delivery.EventScheduled, delivery.EventReplayRequested:
			// The stream names the delivery; its events need no decoding to say that it is due: the
			// delivery itself knows when, and the use case asks it.
			id, ok := strings.CutPrefix(r.Stream, delivery.StreamPrefix)
			if !ok {
				continue
			}
			due, err := d.becameDue(ctx, r, id)
			if err == nil && due {
				err = d.p.Scheduler.Schedule(ctx, id, d.p.Clock())
			}
			if err != nil {
				return fmt.Errorf("dispatch: handing over delivery %s: %w", id, err)
			}
		}
	}
	if len(published) == 0 {
		return nil
	}
	if err := d.p.WebhooksAt(ctx, published[len(published)-1].Position); err != nil {
		return fmt.Errorf("dispatch: waiting for the webhooks read model: %w", err)
	}
	// Scheduling is idempotent: going over these events again (after a crash, or a batch that
	// failed) appends the same DeliveryScheduled, which the store takes for a repeat and answers
	// with the first append's result. A result past the horizon was appended by this Dispatcher,
	// perhaps in a batch that failed before handing it over: it is handed over (again; the
	// transport holds one message per delivery). One at or before it was scheduled by an earlier
	// process, and the recovery at start handed it over.
	if d.horizon == eventlog.Start {
		head, err := d.p.Head(ctx)
		if err != nil {
			return fmt.Errorf("dispatch: %w", err)
		}
		d.horizon = head
	}
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(scheduleConcurrency)
	for _, r := range published {
		scheduling, traceParent, err := d.match(ctx, r)
		if err != nil {
			g.Go(func() error { return err }) // ends the batch once what is in flight is done
			break
		}
		for _, s := range scheduling {
			g.Go(func() error {
				scheduled, res, err := d.p.Deliveries.Schedule(ctx, s, caller(s.EventID, traceParent))
				var invalid *webhook.ValidationError
				if errors.As(err, &invalid) {
					// No delivery can be recorded for it (an event written past publish's rules,
					// with a scope or name no delivery takes): it is passed over, not retried for ever.
					d.p.Logger.Error("dispatch: an event cannot be scheduled; passed over",
						"event_id", s.EventID, "webhook_id", s.WebhookID, "err", err)
					return nil
				}
				if err != nil {
					return fmt.Errorf("dispatch: scheduling event %s for webhook %s: %w", s.EventID, s.WebhookID, err)
				}
				if err := d.handOver(ctx, s, scheduled, res); err != nil {
					return fmt.Errorf("dispatch: handing over event %s for webhook %s: %w", s.EventID, s.WebhookID, err)
				}
				return nil
			})
		}
	}
	return g.Wait()
}

// announceDisabled publishes WEBHOOK_DISABLED when hookd disabled the webhook (the event has a
// reason); a caller's disable is announced to nobody. A record that does not decode is passed over.
func (d *Dispatcher) announceDisabled(ctx context.Context, r eventlog.RecordedEvent) error {
	if d.p.Platform == nil {
		return nil
	}
	e, err := d.p.Decode(r)
	disabled, ok := e.(webhook.Disabled)
	if err != nil || !ok {
		d.p.Logger.Error("dispatch: a webhook's disable cannot be read; passed over", "stream", r.Stream, "err", err)
		return nil
	}
	if disabled.Reason == "" {
		return nil
	}
	md, err := d.p.Metadata(r)
	if err != nil {
		d.p.Logger.Error("dispatch: a webhook's disable cannot be read; passed over", "stream", r.Stream, "err", err)
		return nil
	}
	key := fmt.Sprintf("%s:%s:%d", platform.WebhookDisabled, disabled.WebhookID, r.Revision)
	if err := d.p.Platform(ctx, platform.WebhookDisabled, platform.WebhookDisabledPayload(disabled, md.OccurredAt), key); err != nil {
		return fmt.Errorf("dispatch: publishing %s for webhook %s: %w", platform.WebhookDisabled, disabled.WebhookID, err)
	}
	return nil
}

// handOver hands a delivery this Dispatcher scheduled to the Scheduler, due at s.At, unless it was
// parked at once. One scheduled by an earlier process (at or before the horizon) is left alone.
func (d *Dispatcher) handOver(ctx context.Context, s delivery.Scheduling, scheduled *delivery.Delivery, res command.Result) error {
	if scheduled == nil || !res.Changed || !d.horizon.Before(res.Position) || s.ParkReason != "" {
		return nil
	}
	if err := d.p.Scheduler.Schedule(ctx, scheduled.ID(), s.At); err != nil {
		return err
	}
	d.mu.Lock()
	if len(d.handed) < d.p.Remember {
		d.handed[scheduled.ID()] = struct{}{}
	}
	d.mu.Unlock()
	return nil
}

// becameDue reports whether the record r of delivery id makes it due by another's hand, to be
// handed over: a replay, or a DeliveryScheduled this Dispatcher did not hand over itself, unless the
// recovery at takeover covered it (Takeover).
func (d *Dispatcher) becameDue(ctx context.Context, r eventlog.RecordedEvent, id string) (bool, error) {
	if t := d.p.Takeover; t != nil && !t.At.Before(r.Position) {
		if r.Type == delivery.EventScheduled {
			return false, nil
		}
		held, err := t.Holds(ctx, id)
		return !held, err
	}
	return r.Type == delivery.EventReplayRequested || !d.ownScheduled(id), nil
}

// ownScheduled reports whether this Dispatcher scheduled and handed over the delivery id itself,
// and forgets it: its DeliveryScheduled has come back.
func (d *Dispatcher) ownScheduled(id string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, ok := d.handed[id]
	delete(d.handed, id)
	return ok
}

// match returns the deliveries one published event makes: one per enabled webhook of its scope
// that lists its name, was created before it was published, and whose query matches its payload;
// and the publication's traceparent, from its metadata.
// A record that does not decode (another writer's, or damaged) is the same on every try: it is
// logged and passed over, with no delivery, since nothing in it says whose it is.
func (d *Dispatcher) match(ctx context.Context, r eventlog.RecordedEvent) ([]delivery.Scheduling, string, error) {
	e, err := d.p.Decode(r)
	p, ok := e.(publication.Published)
	if err == nil && !ok {
		err = fmt.Errorf("decodes to %T", e)
	}
	var md eventlog.Metadata
	if err == nil {
		md, err = d.p.Metadata(r)
	}
	if err != nil {
		d.p.Logger.Error("dispatch: a published event cannot be read; passed over",
			"stream", r.Stream, "revision", r.Revision, "err", err)
		return nil, "", nil
	}
	scheduling, err := d.matchPublished(ctx, p, md.OccurredAt)
	return scheduling, md.TraceParent, err
}

// matchPublished returns the deliveries a published event makes, without scheduling them. publishedAt
// keeps webhooks created later from receiving it: going over old events again (a dispatcher whose
// checkpoint was lost starts from the beginning of the log) must not deliver them to webhooks that
// did not exist when they were published.
//
// A platform event has one target, PlatformURL, when it is set.
func (d *Dispatcher) matchPublished(ctx context.Context, p publication.Published, publishedAt time.Time) ([]delivery.Scheduling, error) {
	if p.TenantID == platform.Scope {
		return d.platform(p, publishedAt)
	}
	candidates, err := d.p.Candidates(ctx, p.TenantID, p.CommunityID, p.Name)
	if err != nil {
		return nil, fmt.Errorf("dispatch: webhooks for event %s: %w", p.EventID, err)
	}
	// The payload is decoded and the body built once, for the first webhook that needs them (the body
	// is not recorded, but building it says whether it can be, and fills Bodies): only a
	// webhook with a query reads the decoded payload, so an event whose webhooks have none is never
	// decoded (decoding was about a third of matching an event; docs/benchmarks.md, "Profile and changes
	// (issue 13)"). A payload that cannot be decoded cannot be matched against queries: every webhook
	// that lists the name gets the delivery, parked, so that its log shows the event it missed; one
	// without a query gets it parked too, since its body cannot be built from such a payload either.
	var (
		payload    any
		unreadable bool
		body       []byte
		bodyErr    error
		out        []delivery.Scheduling
	)
	for _, c := range candidates {
		if c.CreatedAt.After(publishedAt) {
			continue
		}
		if payload == nil && !unreadable && len(c.Settings.Query) > 0 {
			if payload, err = publication.DecodePayload(p.Payload); err != nil {
				unreadable = true
				d.unbuildable(p, err)
			}
		}
		if !unreadable && !c.Settings.Matches(p.Name, payload) {
			continue
		}
		if body == nil && bodyErr == nil && !unreadable {
			if body, bodyErr = d.p.Body(p.Name, p.Payload); bodyErr != nil {
				d.unbuildable(p, bodyErr)
			} else {
				d.keep(p, body)
			}
		}
		park := ""
		switch {
		case unreadable || bodyErr != nil:
			park = delivery.ReasonBodyUnbuildable
		case c.CredentialErr != nil:
			park = delivery.ReasonSecretUnopenable
			d.p.Logger.Error("dispatch: a webhook's credential cannot be opened; its delivery is parked",
				"event_id", p.EventID, "webhook_id", c.ID, "reason", park, "err", c.CredentialErr)
		}
		out = append(out, d.scheduling(p, publishedAt, c.ID, delivery.SnapshotOf(c.Settings), park))
	}
	return out, nil
}

// scheduling is the delivery of p, published at publishedAt, to a webhook, or parked for the reason
// park. Its body is built from p when it is sent (delivery.BodyBuiltV1), so it records none: the
// log holds the payload once, in p. One whose body cannot be built records none either, as before
// body formats (delivery.BodyRecorded, empty).
func (d *Dispatcher) scheduling(p publication.Published, publishedAt time.Time, webhookID string, settings delivery.Snapshot, park string) delivery.Scheduling {
	s := delivery.Scheduling{
		EventID: p.EventID, WebhookID: webhookID, TenantID: p.TenantID, CommunityID: p.CommunityID,
		EventName: p.Name, BodyFormat: delivery.BodyBuiltV1, Settings: settings, At: d.p.Clock(), ParkReason: park,
		PublishedAt: publishedAt, OrderedID: p.OrderedIDs(),
	}
	if park == delivery.ReasonBodyUnbuildable {
		s.BodyFormat = delivery.BodyRecorded
	}
	return s
}

// keep gives the body built for p's deliveries to Bodies, when there is one.
func (d *Dispatcher) keep(p publication.Published, body []byte) {
	if d.p.Bodies != nil {
		d.p.Bodies.Keep(p.EventID, p.Name, body)
	}
}

// unbuildable logs that an event's deliveries are parked without a body.
func (d *Dispatcher) unbuildable(p publication.Published, err error) {
	d.p.Logger.Warn("dispatch: the body of an event cannot be built; its deliveries are parked",
		"event_id", p.EventID, "tenant_id", p.TenantID, "community_id", p.CommunityID,
		"reason", delivery.ReasonBodyUnbuildable, "err", err)
}

// platform returns the delivery of a platform event to PlatformURL, or none when it is not set.
func (d *Dispatcher) platform(p publication.Published, publishedAt time.Time) ([]delivery.Scheduling, error) {
	if d.p.PlatformURL == "" {
		return nil, nil
	}
	body, err := d.p.Body(p.Name, p.Payload)
	park := ""
	if err != nil {
		d.unbuildable(p, err)
		park = delivery.ReasonBodyUnbuildable
	} else {
		d.keep(p, body)
	}
	return []delivery.Scheduling{d.scheduling(p, publishedAt, platform.WebhookID, platform.Target(d.p.PlatformURL), park)}, nil
}
