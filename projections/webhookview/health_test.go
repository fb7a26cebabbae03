package webhookview_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/hookd/hookd/domain/delivery"
	"github.com/hookd/hookd/domain/eventlog"
	"github.com/hookd/hookd/domain/webhook"
	"github.com/hookd/hookd/projections/webhookview"
)

// attempt queues a DeliveryAttempted of a delivery to the webhook id, at at.
func (f *fixture) attempt(id, deliveryID string, revision uint64, success bool, at time.Time) {
	f.t.Helper()
	f.position++
	stream := delivery.Stream(deliveryID)
	e := delivery.Attempted{DeliveryID: deliveryID, Attempt: int(revision), Status: 503, At: at, WebhookID: id, Success: success}
	if success {
		e.Status = 200
	}
	data, err := f.codec.Encode(stream, eventlog.EventID{}, e, eventlog.Metadata{Actor: "test", OccurredAt: at})
	if err != nil {
		f.t.Fatal(err)
	}
	f.pending = append(f.pending, eventlog.RecordedEvent{
		Stream: stream, Revision: revision, Type: data.Type, Data: data.Data, Metadata: data.Metadata,
		Position: eventlog.Position{Commit: f.position, Prepare: f.position}, Created: at,
	})
}

func (f *fixture) health(id string) (webhookview.Webhook, webhook.Health) {
	f.t.Helper()
	w, err := f.view.Get(context.Background(), "t1", "c1", id)
	if err != nil {
		f.t.Fatal(err)
	}
	return w, w.Health
}

// The attempts to a webhook fold into its health, its circuit events set its circuit (moving its
// version, not its updatedAt), a disable by hookd notes the reason, enabling starts it afresh; and
// the same events applied in one batch, as a rebuild does, give the same health.
func TestHealthIsFoldedFromAttemptsAndCircuitEvents(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	id := f.create("t1", "c1")
	other := f.create("t1", "c1")
	f.flush()
	t0 := f.clock
	f.attempt(id, "d1", 1, true, t0.Add(time.Second))
	f.attempt(id, "d2", 1, false, t0.Add(2*time.Second))
	f.flush()
	f.attempt(id, "d2", 2, false, t0.Add(3*time.Second))
	f.attempt(other, "d3", 1, true, t0.Add(3*time.Second))
	f.attempt("", "d4", 1, false, t0.Add(3*time.Second)) // recorded before attempts named their webhook
	b := webhook.Breaker{Window: time.Minute, MinAttempts: 1, FailureRate: 0.5, CoolDown: 10 * time.Second, MaxCoolDown: time.Minute}
	f.do(id, func(w *webhook.Webhook) error { return w.OpenCircuit(b, t0.Add(4*time.Second), 3, 2) })
	f.flush()

	w, h := f.health(id)
	if h.ConsecutiveFailures != 2 || len(h.Recent) != 3 || !h.LastSuccessAt.Equal(t0.Add(time.Second)) ||
		!h.FailingSince.Equal(t0.Add(2*time.Second)) || !h.LastFailureAt.Equal(t0.Add(3*time.Second)) {
		t.Errorf("health %+v", h)
	}
	if !h.Circuit.Open || !h.Circuit.Until.Equal(t0.Add(14*time.Second)) || h.Circuit.CoolDown != 10*time.Second {
		t.Errorf("circuit %+v", h.Circuit)
	}
	if w.Version != 1 || !w.UpdatedAt.Equal(w.CreatedAt) {
		t.Errorf("after the circuit opened: version %d, updated %v (created %v)", w.Version, w.UpdatedAt, w.CreatedAt)
	}
	if _, oh := f.health(other); len(oh.Recent) != 1 || oh.ConsecutiveFailures != 0 {
		t.Errorf("the other webhook's health %+v", oh)
	}

	rebuilt := newFixture(t)
	rebuilt.apply(f.flushAgain())
	if got, err := rebuilt.view.Get(context.Background(), "t1", "c1", id); err != nil || !reflect.DeepEqual(got.Health, h) {
		t.Errorf("rebuilt in one batch: %+v (%v)\nlive: %+v", got.Health, err, h)
	}

	f.do(id, func(w *webhook.Webhook) error { return w.DisableFor(webhook.DisabledFailing, t0.Add(2*time.Second)) })
	f.flush()
	if _, h := f.health(id); h.DisabledReason != webhook.DisabledFailing || h.ConsecutiveFailures != 2 {
		t.Errorf("disabled by hookd: %+v", h)
	}
	f.do(id, func(w *webhook.Webhook) error { return w.Enable() })
	f.flush()
	if _, h := f.health(id); !reflect.DeepEqual(h, webhook.Health{Recent: h.Recent}) || len(h.Recent) != 0 {
		t.Errorf("enabled again: %+v, want a fresh health", h)
	}
}
