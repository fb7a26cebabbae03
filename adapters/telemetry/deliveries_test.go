package telemetry

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/hookd/hookd/application/command"
	"github.com/hookd/hookd/domain/delivery"
	"github.com/hookd/hookd/domain/webhook"
)

// store is a delivery store in memory that remembers the callers it was given.
type store struct {
	callers []command.Caller
}

func (s *store) Schedule(_ context.Context, sc delivery.Scheduling, caller command.Caller) (*delivery.Delivery, command.Result, error) {
	s.callers = append(s.callers, caller)
	d, err := delivery.Schedule(sc)
	if err == nil {
		d.Saved()
	}
	return d, command.Result{Changed: true}, err
}

func (s *store) Load(context.Context, string) (*delivery.Delivery, error) {
	return nil, delivery.ErrNotFound
}

func (s *store) LoadSealed(context.Context, string) (*delivery.Delivery, error) {
	return nil, delivery.ErrNotFound
}

func (s *store) Save(_ context.Context, d *delivery.Delivery, caller command.Caller) (command.Result, error) {
	s.callers = append(s.callers, caller)
	d.Saved()
	return command.Result{Changed: true}, nil
}

var t0 = time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)

func testScheduling() delivery.Scheduling {
	return delivery.Scheduling{
		EventID: "0190f0a0-0000-7000-8000-000000000001", WebhookID: "6650f1b2c3d4e5f6a7b8c9d0", TenantID: "t1", CommunityID: "c1",
		EventName: "E", Body: `{"version":1,"event":"E","payload":{}}`, At: t0,
		Settings: delivery.SnapshotOf(webhook.Settings{Name: "n", EventNames: []string{"E"},
			API: webhook.Endpoint{Type: webhook.EndpointType, URL: "https://example.com/hook?key=URLSECRET", AuthType: webhook.AuthBearer,
				Credential: webhook.Credential{Token: "TOKENSECRET"}},
			SuccessCodes: []int{200}, RetryCodes: []int{503}, RetryCount: 2, TTL: 3}),
	}
}

// attempted records a failed attempt on d, to be retried.
func attempted(t *testing.T, d *delivery.Delivery) {
	t.Helper()
	err := d.RecordAttempt(delivery.Attempt{Number: 1, Status: 503, Duration: 40 * time.Millisecond, At: t0.Add(time.Second),
		ResponseExcerpt: "busy"}, d.PolicyFor(delivery.Policy{}), delivery.Backoff{Random: func() float64 { return 0 }})
	if err != nil {
		t.Fatal(err)
	}
}

// TestAttemptJoinsTheDispatchTraceFromTheLog schedules through one decorator and attempts through
// another that never saw the delivery (another node, or later): the attempt span is a child of the
// dispatch span, found through TraceOf, and the events' callers carry each span's context.
func TestAttemptJoinsTheDispatchTraceFromTheLog(t *testing.T) {
	t.Parallel()
	spans := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	const publish = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	inner := &store{}
	scheduler, err := NewDeliveries(inner, DeliveriesConfig{TracerProvider: tp,
		TraceOf: func(context.Context, string) (string, error) {
			t.Error("TraceOf read for a delivery just scheduled")
			return "", nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	d, _, err := scheduler.Schedule(context.Background(), testScheduling(), command.Caller{Actor: "a", TraceParent: publish})
	if err != nil {
		t.Fatal(err)
	}
	dispatchTrace := inner.callers[0].TraceParent
	if !strings.HasPrefix(dispatchTrace, "00-4bf92f3577b34da6a3ce929d0e0e4736-") || dispatchTrace == publish {
		t.Fatalf("DeliveryScheduled's trace context %q, want the dispatch span's in the publish trace", dispatchTrace)
	}

	var read []string
	var logs bytes.Buffer
	attempter, err := NewDeliveries(inner, DeliveriesConfig{TracerProvider: tp, Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		TraceOf: func(_ context.Context, id string) (string, error) { read = append(read, id); return dispatchTrace, nil }})
	if err != nil {
		t.Fatal(err)
	}
	attempted(t, d)
	if _, err := attempter.Save(context.Background(), d, command.Caller{Actor: "hookd-deliverer"}); err != nil {
		t.Fatal(err)
	}
	if len(read) != 1 || read[0] != d.ID() {
		t.Errorf("TraceOf read %v, want the delivery once", read)
	}
	all := spans.GetSpans()
	dispatch, attempt := named(all, SpanDispatch), named(all, SpanAttempt)
	if len(dispatch) != 1 || len(attempt) != 1 {
		t.Fatalf("spans %v", all)
	}
	if attempt[0].Parent.SpanID() != dispatch[0].SpanContext.SpanID() || attempt[0].SpanContext.TraceID() != dispatch[0].SpanContext.TraceID() {
		t.Errorf("the attempt is not the dispatch span's child")
	}
	if !attempt[0].StartTime.Equal(t0.Add(time.Second)) || attempt[0].EndTime.Sub(attempt[0].StartTime) != 40*time.Millisecond {
		t.Errorf("attempt span from %v to %v, want the attempt's own time and duration", attempt[0].StartTime, attempt[0].EndTime)
	}
	if got := inner.callers[1].TraceParent; got != TraceParent(contextOf(attempt[0])) {
		t.Errorf("DeliveryAttempted's trace context %q, want the attempt span's", got)
	}
	for _, want := range []string{"delivery attempt", "delivery_id=" + d.ID(), "webhook_id=" + d.WebhookID(), "attempt=1",
		"outcome=retrying", "status=503", "duration=40ms"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log %q lacks %q", logs.String(), want)
		}
	}
	for _, secret := range []string{"URLSECRET", "TOKENSECRET", "busy"} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("log %q shows %q", logs.String(), secret)
		}
		for _, s := range all {
			for _, kv := range s.Attributes {
				if strings.Contains(kv.Value.Emit(), secret) {
					t.Errorf("span %s attribute %s shows %q", s.Name, kv.Key, secret)
				}
			}
		}
	}
}

// TestNoTracingReadsAndWritesNoTraceContext: with tracing off, nothing is read from the log for it
// and no event gets a trace context, but each attempt is still logged.
func TestNoTracingReadsAndWritesNoTraceContext(t *testing.T) {
	t.Parallel()
	inner := &store{}
	var logs bytes.Buffer
	dd, err := NewDeliveries(inner, DeliveriesConfig{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	d, _, err := dd.Schedule(context.Background(), testScheduling(), command.Caller{Actor: "a"})
	if err != nil {
		t.Fatal(err)
	}
	attempted(t, d)
	if _, err := dd.Save(context.Background(), d, command.Caller{Actor: "b"}); err != nil {
		t.Fatal(err)
	}
	for i, c := range inner.callers {
		if c.TraceParent != "" {
			t.Errorf("event %d carries trace context %q with tracing off", i, c.TraceParent)
		}
	}
	if strings.Count(logs.String(), "delivery attempt") != 1 {
		t.Errorf("log %q, want one attempt line", logs.String())
	}
}

func named(spans tracetest.SpanStubs, name string) tracetest.SpanStubs {
	var out tracetest.SpanStubs
	for _, s := range spans {
		if s.Name == name {
			out = append(out, s)
		}
	}
	return out
}

// contextOf returns a context holding the span's context, for TraceParent.
func contextOf(s tracetest.SpanStub) context.Context {
	return trace.ContextWithSpanContext(context.Background(), s.SpanContext)
}
