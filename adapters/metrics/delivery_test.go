package metrics

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/hookd/hookd/application/command"
	"github.com/hookd/hookd/application/deliver"
	"github.com/hookd/hookd/domain/delivery"
)

// fakeSender answers each Send with the next of its outcomes.
type fakeSender struct {
	outcomes []deliver.Outcome
}

func (s *fakeSender) Send(context.Context, deliver.Request) deliver.Outcome {
	o := s.outcomes[0]
	s.outcomes = s.outcomes[1:]
	return o
}

func (s *fakeSender) Forget(string) {}

func TestSenderCountsByOutcomeAndErrorClass(t *testing.T) {
	t.Parallel()
	m := NewDelivery(prometheus.NewRegistry(), []string{"refused", "timeout"})
	s := m.Sender(&fakeSender{outcomes: []deliver.Outcome{
		{Status: 200, Duration: time.Second}, {Status: 503}, {ErrorClass: "refused"}, {ErrorClass: "made-up"},
		{ErrorClass: "canceled", Canceled: true}, {ErrorClass: "blocked", Unsendable: true}, {Status: 200},
	}})
	for range 7 {
		s.Send(t.Context(), deliver.Request{})
	}
	for _, c := range []struct {
		outcome, class string
		want           float64
	}{
		{"2xx", ClassNone, 2}, {"5xx", ClassNone, 1}, {"no_response", "refused", 1}, {"no_response", ClassOther, 1},
		{"canceled", ClassOther, 1}, {"unsendable", ClassOther, 1},
	} {
		if got := testutil.ToFloat64(m.attempts.WithLabelValues(c.outcome, c.class)); got != c.want {
			t.Errorf("attempts{outcome=%s,error_class=%s} = %v, want %v", c.outcome, c.class, got, c.want)
		}
	}
	if got := testutil.CollectAndCount(m.attempts); got != 6 {
		t.Errorf("%d attempt series, want 6", got)
	}
	if got := testutil.ToFloat64(m.inFlight); got != 0 {
		t.Errorf("in flight after every Send returned: %v", got)
	}
}

// fakeStore saves and schedules without a log; err, when set, fails every call.
type fakeStore struct {
	err       error
	scheduled bool
}

func (f *fakeStore) Load(context.Context, string) (*delivery.Delivery, error) { return nil, f.err }
func (f *fakeStore) LoadSealed(context.Context, string) (*delivery.Delivery, error) {
	return nil, f.err
}

func (f *fakeStore) Save(_ context.Context, d *delivery.Delivery, _ command.Caller) (command.Result, error) {
	if f.err != nil {
		return command.Result{}, f.err
	}
	d.Saved()
	return command.Result{Changed: true}, nil
}

func (f *fakeStore) Schedule(_ context.Context, s delivery.Scheduling, _ command.Caller) (*delivery.Delivery, command.Result, error) {
	if f.err != nil {
		return nil, command.Result{}, f.err
	}
	if f.scheduled { // scheduled before: nothing new
		return nil, command.Result{}, nil
	}
	d, err := delivery.Schedule(s)
	if err != nil {
		return nil, command.Result{}, err
	}
	d.Saved()
	return d, command.Result{Changed: true}, nil
}

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func newDelivery(t *testing.T, event string) *delivery.Delivery {
	t.Helper()
	d, err := delivery.Schedule(delivery.Scheduling{EventID: event, WebhookID: "w", TenantID: "t", CommunityID: "c",
		EventName: "E", Body: `{}`, At: t0.Add(time.Second), PublishedAt: t0,
		Settings: delivery.Snapshot{Policy: delivery.Policy{SuccessCodes: []int{200}}}})
	if err != nil {
		t.Fatal(err)
	}
	d.Saved()
	return d
}

func attempt(t *testing.T, d *delivery.Delivery, status int, at time.Time) {
	t.Helper()
	err := d.RecordAttempt(delivery.Attempt{Number: d.Attempts() + 1, Status: status, Duration: 500 * time.Millisecond, At: at},
		d.Snapshot().Policy, delivery.Backoff{})
	if err != nil {
		t.Fatal(err)
	}
}

// TestDeliveriesCountParkedAndLatency: what a save or a schedule records once it is in the log is
// counted; a replayed delivery's latency and a failed save are not.
func TestDeliveriesCountParkedAndLatency(t *testing.T) {
	t.Parallel()
	m := NewDelivery(prometheus.NewRegistry(), nil)
	store := &fakeStore{}
	ds := m.Deliveries(store)
	ctx := t.Context()

	delivered := newDelivery(t, "e1")
	attempt(t, delivered, 200, t0.Add(2*time.Second))
	if _, err := ds.Save(ctx, delivered, command.Caller{}); err != nil {
		t.Fatal(err)
	}
	rejected := newDelivery(t, "e2")
	attempt(t, rejected, 400, t0.Add(2*time.Second))
	if _, err := ds.Save(ctx, rejected, command.Caller{}); err != nil {
		t.Fatal(err)
	}
	// Replayed and delivered: parked no more, and its latency is not delivery's.
	if err := rejected.RequestReplay(delivery.ReplayOriginal, "ops", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	attempt(t, rejected, 200, t0.Add(time.Hour))
	if _, err := ds.Save(ctx, rejected, command.Caller{}); err != nil {
		t.Fatal(err)
	}
	// A save that fails recorded nothing.
	store.err = errors.New("conflict")
	lost := newDelivery(t, "e3")
	attempt(t, lost, 400, t0.Add(2*time.Second))
	if _, err := ds.Save(ctx, lost, command.Caller{}); err == nil {
		t.Fatal("the failing save succeeded")
	}
	store.err = nil
	// Parked as it is scheduled, once: scheduling it again changes nothing.
	unbuildable := delivery.Scheduling{EventID: "e4", WebhookID: "w", TenantID: "t", CommunityID: "c", EventName: "E",
		ParkReason: delivery.ReasonBodyUnbuildable, At: t0}
	if _, _, err := ds.Schedule(ctx, unbuildable, command.Caller{}); err != nil {
		t.Fatal(err)
	}
	store.scheduled = true
	if _, _, err := ds.Schedule(ctx, unbuildable, command.Caller{}); err != nil {
		t.Fatal(err)
	}

	for reason, want := range map[string]float64{delivery.ReasonRejected: 1, delivery.ReasonBodyUnbuildable: 1, delivery.ReasonExhausted: 0} {
		if got := testutil.ToFloat64(m.parked.WithLabelValues(reason)); got != want {
			t.Errorf("parked{reason=%s} = %v, want %v", reason, got, want)
		}
	}
	if n, sum := histogram(t, m.acceptToDeliver); n != 1 || sum != 2.5 {
		t.Errorf("accept-to-deliver: %d observations summing to %v s, want the first delivery's 2.5 s", n, sum)
	}
}

// histogram returns h's count and sum.
func histogram(t *testing.T, h prometheus.Histogram) (uint64, float64) {
	t.Helper()
	ch := make(chan prometheus.Metric, 1)
	h.Collect(ch)
	var out dto.Metric
	if err := (<-ch).Write(&out); err != nil {
		t.Fatal(err)
	}
	return out.Histogram.GetSampleCount(), out.Histogram.GetSampleSum()
}
