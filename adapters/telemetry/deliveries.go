package telemetry

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/hookd/hookd/application/command"
	"github.com/hookd/hookd/domain/delivery"
	"github.com/hookd/hookd/internal/bounded"
)

// Span names and attribute keys. Attributes name ids, numbers and classes, never a URL, a header, a
// body or a credential: a trace backend is read by more people than the log is.
const (
	SpanPublish  = "publish"
	SpanDispatch = "dispatch"
	SpanAttempt  = "attempt"

	AttrTenantID    = attribute.Key("hookd.tenant.id")
	AttrCommunityID = attribute.Key("hookd.community.id")
	AttrEventID     = attribute.Key("hookd.event.id")
	AttrEventName   = attribute.Key("hookd.event.name")
	AttrEventCount  = attribute.Key("hookd.event.count")
	AttrWebhookID   = attribute.Key("hookd.webhook.id")
	AttrDeliveryID  = attribute.Key("hookd.delivery.id")
	AttrAttempt     = attribute.Key("hookd.attempt")
	AttrOutcome     = attribute.Key("hookd.outcome")
	AttrErrorClass  = attribute.Key("hookd.error_class")
	AttrParkReason  = attribute.Key("hookd.park_reason")
	AttrHTTPStatus  = attribute.Key("http.response.status_code")
	AttrHTTPMethod  = attribute.Key("http.request.method")
	AttrHTTPRoute   = attribute.Key("http.route")
)

// The outcomes of an attempt, as its span and its log line name them.
const (
	OutcomeSucceeded = "succeeded"
	// OutcomeRetrying: the attempt failed and another is scheduled.
	OutcomeRetrying = "retrying"
	// OutcomeFailed: the attempt failed and the delivery is parked (rejected or exhausted).
	OutcomeFailed = "failed"
)

// The outcomes of a dispatch span.
const (
	dispatchScheduled = "scheduled"
	dispatchParked    = "parked"
	// dispatchRepeated: the delivery was scheduled before (the dispatcher went over the event again).
	dispatchRepeated = "repeated"
)

// tracesCacheSize bounds the deliveries whose trace context is kept in memory for their attempts;
// one evicted is read from the log.
const tracesCacheSize = 10_000

// DeliveryStore is the delivery store that Deliveries decorates: the dispatcher's Schedule and the
// delivery use case's Load, LoadSealed and Save (*deliverer.Deliveries is one).
type DeliveryStore interface {
	Schedule(ctx context.Context, s delivery.Scheduling, caller command.Caller) (*delivery.Delivery, command.Result, error)
	Load(ctx context.Context, id string) (*delivery.Delivery, error)
	LoadSealed(ctx context.Context, id string) (*delivery.Delivery, error)
	Save(ctx context.Context, d *delivery.Delivery, caller command.Caller) (command.Result, error)
}

// DeliveriesConfig is what Deliveries needs besides the store it decorates.
type DeliveriesConfig struct {
	// TracerProvider makes the dispatch and attempt spans (optional: nil, or a no-op provider,
	// traces nothing and reads no trace context).
	TracerProvider trace.TracerProvider
	// TraceOf returns the traceparent a delivery's stream keeps in the metadata of its first event
	// (DeliveryScheduled), "" when it has none: the trace an attempt joins when this process did not
	// schedule the delivery itself, or has forgotten it. Required with a Tracer.
	TraceOf func(ctx context.Context, deliveryID string) (string, error)
	// Logger gets one line per attempt, at info (optional: none).
	Logger *slog.Logger
}

// Deliveries decorates the delivery store: Schedule is the dispatch span, and each attempt that Save
// records is an attempt span (a child of the dispatch span, in the publication's trace) and one log
// line at info. The spans' context goes into the events' metadata through the caller, so that a
// retry made an hour later, or by another node, joins the same trace.
//
// An attempt is seen once it is recorded: the span is made after the fact, from the attempt's own
// time and duration as the delivery recorded them, with the outcome that the recording decided.
type Deliveries struct {
	DeliveryStore
	tracer  trace.Tracer
	traceOf func(ctx context.Context, deliveryID string) (string, error)
	log     *slog.Logger
	// traces keeps the dispatch span's traceparent of the deliveries this process scheduled, so that
	// their attempts need not read it from the log.
	traces *bounded.Map[string]
}

// NewDeliveries returns the decorator over inner.
func NewDeliveries(inner DeliveryStore, cfg DeliveriesConfig) (*Deliveries, error) {
	if inner == nil {
		return nil, errors.New("telemetry: a delivery store is required")
	}
	d := &Deliveries{DeliveryStore: inner, log: cfg.Logger, traces: bounded.New[string](tracesCacheSize)}
	if Tracing(cfg.TracerProvider) {
		if cfg.TraceOf == nil {
			return nil, errors.New("telemetry: TraceOf is required with a TracerProvider")
		}
		d.tracer, d.traceOf = cfg.TracerProvider.Tracer(InstrumentationName), cfg.TraceOf
	}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	return d, nil
}

// Schedule schedules the delivery inside a dispatch span, a child of the publication's span that
// caller.TraceParent names; DeliveryScheduled keeps the dispatch span's context.
func (d *Deliveries) Schedule(ctx context.Context, s delivery.Scheduling, caller command.Caller) (*delivery.Delivery, command.Result, error) {
	if d.tracer == nil {
		return d.DeliveryStore.Schedule(ctx, s, caller)
	}
	id := s.ID()
	ctx, span := d.tracer.Start(WithTraceParent(ctx, caller.TraceParent), SpanDispatch,
		trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithAttributes(AttrDeliveryID.String(id), AttrEventID.String(s.EventID), AttrWebhookID.String(s.WebhookID),
			AttrEventName.String(s.EventName), AttrTenantID.String(s.TenantID), AttrCommunityID.String(s.CommunityID)))
	defer span.End()
	caller.TraceParent = TraceParent(ctx)
	scheduled, res, err := d.DeliveryStore.Schedule(ctx, s, caller)
	switch {
	case err != nil:
		span.SetStatus(codes.Error, "scheduling failed")
		span.RecordError(err)
	case scheduled == nil:
		span.SetAttributes(AttrOutcome.String(dispatchRepeated))
	case s.ParkReason != "":
		span.SetAttributes(AttrOutcome.String(dispatchParked), AttrParkReason.String(s.ParkReason))
	default:
		span.SetAttributes(AttrOutcome.String(dispatchScheduled))
		d.traces.Put(id, caller.TraceParent)
	}
	return scheduled, res, err
}

// Save records what the delivery recorded, and traces and logs each attempt among it.
func (d *Deliveries) Save(ctx context.Context, dl *delivery.Delivery, caller command.Caller) (command.Result, error) {
	attempts := attemptsOf(dl.Changes())
	if len(attempts) == 0 {
		return d.DeliveryStore.Save(ctx, dl, caller)
	}
	var spans []trace.Span
	if d.tracer != nil {
		parent := d.traceParentOf(ctx, dl.ID())
		for _, a := range attempts {
			_, span := d.tracer.Start(WithTraceParent(ctx, parent), SpanAttempt,
				trace.WithSpanKind(trace.SpanKindClient), trace.WithTimestamp(a.At),
				trace.WithAttributes(a.attributes(dl)...))
			spans = append(spans, span)
		}
		// The attempt's events keep the (last) attempt span's context.
		caller.TraceParent = TraceParent(trace.ContextWithSpan(ctx, spans[len(spans)-1]))
	}
	res, err := d.DeliveryStore.Save(ctx, dl, caller)
	for i, a := range attempts {
		a.log(ctx, d.log, dl, err)
		if spans != nil {
			if a.Outcome != OutcomeSucceeded {
				spans[i].SetStatus(codes.Error, a.Outcome)
			}
			if err != nil {
				spans[i].RecordError(err)
			}
			spans[i].End(trace.WithTimestamp(a.At.Add(a.Duration)))
		}
	}
	return res, err
}

// traceParentOf returns the trace context of the delivery's dispatch span: kept in memory when this
// process scheduled it, else read from the log. A read that fails leaves the attempt in a trace of
// its own, which is better than holding the delivery up.
func (d *Deliveries) traceParentOf(ctx context.Context, id string) string {
	if tp, ok := d.traces.Get(id); ok {
		return tp
	}
	tp, err := d.traceOf(ctx, id)
	if err != nil {
		d.log.WarnContext(ctx, "reading a delivery's trace context failed; its attempt starts a trace of its own",
			"delivery_id", id, "err", err)
		return ""
	}
	d.traces.Put(id, tp)
	return tp
}

// attempt is one attempt among a delivery's changes, with the outcome the recording decided.
type attempt struct {
	delivery.Attempted
	Duration   time.Duration
	Outcome    string
	ParkReason string
}

// attemptsOf picks the attempts out of a delivery's changes.
func attemptsOf(changes []delivery.Event) []attempt {
	var out []attempt
	for _, e := range changes {
		switch e := e.(type) {
		case delivery.Attempted:
			out = append(out, attempt{Attempted: e, Duration: time.Duration(e.DurationMs) * time.Millisecond, Outcome: OutcomeRetrying})
		case delivery.Succeeded:
			for i := range out {
				if out[i].Attempt == e.Attempt {
					out[i].Outcome = OutcomeSucceeded
				}
			}
		case delivery.Failed:
			for i := range out {
				if out[i].Attempt == e.Attempt {
					out[i].Outcome, out[i].ParkReason = OutcomeFailed, e.Reason
				}
			}
		}
	}
	return out
}

func (a attempt) attributes(dl *delivery.Delivery) []attribute.KeyValue {
	attrs := []attribute.KeyValue{
		AttrDeliveryID.String(dl.ID()), AttrWebhookID.String(dl.WebhookID()), AttrEventID.String(dl.EventID()),
		AttrAttempt.Int(a.Attempt), AttrOutcome.String(a.Outcome),
	}
	if a.Status != 0 {
		attrs = append(attrs, AttrHTTPStatus.Int(a.Status))
	}
	if a.ErrorClass != "" {
		attrs = append(attrs, AttrErrorClass.String(a.ErrorClass))
	}
	if a.ParkReason != "" {
		attrs = append(attrs, AttrParkReason.String(a.ParkReason))
	}
	return attrs
}

// log writes the attempt's line. saveErr says the attempt could not be recorded (another writer
// recorded first, or the log failed): the request was sent all the same.
func (a attempt) log(ctx context.Context, log *slog.Logger, dl *delivery.Delivery, saveErr error) {
	attrs := []slog.Attr{
		slog.String("delivery_id", dl.ID()), slog.String("webhook_id", dl.WebhookID()), slog.String("event_id", dl.EventID()),
		slog.Int("attempt", a.Attempt), slog.String("outcome", a.Outcome), slog.Duration("duration", a.Duration),
	}
	if a.Status != 0 {
		attrs = append(attrs, slog.Int("status", a.Status))
	}
	if a.ErrorClass != "" {
		attrs = append(attrs, slog.String("error_class", a.ErrorClass))
	}
	if a.ParkReason != "" {
		attrs = append(attrs, slog.String("park_reason", a.ParkReason))
	}
	if !a.RetryAt.IsZero() {
		attrs = append(attrs, slog.Time("retry_at", a.RetryAt))
	}
	if saveErr != nil {
		attrs = append(attrs, slog.Bool("recorded", false))
	}
	log.LogAttrs(ctx, slog.LevelInfo, "delivery attempt", attrs...)
}
