package webhookview_test

import (
	"context"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/domain/delivery"
	"github.com/hookd/hookd/domain/eventlog"
	"github.com/hookd/hookd/domain/webhook"
	"github.com/hookd/hookd/projections/webhookview"
)

// event queues e, the revision-th event of stream, as the next record of the log.
func (f *fixture) event(stream string, revision uint64, e interface{ EventName() string }) {
	f.t.Helper()
	f.clock = f.clock.Add(time.Second)
	f.position++
	data, err := f.codec.Encode(stream, eventlog.EventID{}, e, eventlog.Metadata{Actor: "test", OccurredAt: f.clock})
	if err != nil {
		f.t.Fatal(err)
	}
	f.pending = append(f.pending, eventlog.RecordedEvent{
		Stream: stream, Revision: revision, Type: data.Type, Data: data.Data, Metadata: data.Metadata,
		Position: eventlog.Position{Commit: f.position, Prepare: f.position}, Created: f.clock,
	})
}

// carry marks the webhook's pair, applies the marker, then carries the health the view had at it,
// as retention does.
func (f *fixture) carry(id string, pair uint64, between func()) {
	f.t.Helper()
	f.event(webhook.HealthStream(id, pair), 0, webhook.HealthMarked{WebhookID: id, Pair: pair})
	f.flush()
	c, found, err := f.view.Carrying(context.Background(), "t1", "c1", id)
	if err != nil || !found || c.Marked != pair || !c.Pending() {
		f.t.Fatalf("after marking pair %d: %+v, found %v, %v", pair, c, found, err)
	}
	between()
	f.event(webhook.HealthStream(id, pair), 1, webhook.HealthCarried{WebhookID: id, Pair: pair, Health: *c.AtMark})
	f.flush()
}

// without returns the records but those of the streams gone.
func without(records []eventlog.RecordedEvent, gone ...string) []eventlog.RecordedEvent {
	return slices.DeleteFunc(records, func(r eventlog.RecordedEvent) bool { return slices.Contains(gone, r.Stream) })
}

func (f *fixture) carrying(id string) webhookview.Carry {
	f.t.Helper()
	c, _, err := f.view.Carrying(context.Background(), "t1", "c1", id)
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

// Once a pair has carried a webhook's health, a rebuild from a log whose older deliveries are gone
// (as retention leaves it) gives the health the live view has, in one batch or event by event; and
// the live view's health did not change when the pair was carried. Without the pair the rebuild
// would lose the last success and the failures before it.
func TestCarriedHealthSurvivesTheRemovalOfItsAttempts(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	id := f.create("t1", "c1")
	t0 := f.clock
	f.attempt(id, "d1", 1, true, t0.Add(time.Second))
	f.attempt(id, "d2", 1, false, t0.Add(2*time.Second))
	f.attempt(id, "d2", 2, false, t0.Add(3*time.Second))
	f.flush()
	_, before := f.health(id)
	f.carry(id, 1, func() {
		f.attempt(id, "d3", 1, false, t0.Add(4*time.Second)) // folded apart, after the marker
		f.flush()
	})
	f.attempt(id, "d4", 1, false, t0.Add(5*time.Second))
	f.flush()
	_, live := f.health(id)
	if live.ConsecutiveFailures != 4 || !live.LastSuccessAt.Equal(t0.Add(time.Second)) ||
		!live.FailingSince.Equal(t0.Add(2*time.Second)) || len(live.Recent) != 5 {
		t.Fatalf("live health %+v (before the pair: %+v)", live, before)
	}
	c := f.carrying(id)
	if c.Carried != 1 || c.Pending() || c.From.Commit == 0 {
		t.Fatalf("carrying after pair 1: %+v", c)
	}

	kept := without(f.flushAgain(), delivery.Stream("d1"), delivery.Stream("d2"))
	for name, batches := range map[string][][]eventlog.RecordedEvent{
		"one batch": {kept}, "event by event": chunks(kept, 1),
	} {
		rebuilt := newFixture(t)
		for _, b := range batches {
			rebuilt.apply(b)
		}
		if _, h := rebuilt.health(id); !reflect.DeepEqual(h, live) {
			t.Errorf("%s: rebuilt health %+v\nlive %+v", name, h, live)
		}
		if got := rebuilt.carrying(id); !reflect.DeepEqual(got, c) {
			t.Errorf("%s: rebuilt carrying %+v, live %+v", name, got, c)
		}
	}

	lost := newFixture(t)
	lost.apply(without(kept, webhook.HealthStream(id, 1)))
	if _, h := lost.health(id); h.ConsecutiveFailures != 2 || !h.LastSuccessAt.IsZero() {
		t.Errorf("without the pair a rebuild should count the kept attempts only: %+v", h)
	}
}

// A later pair supersedes an earlier one: with the earlier pair's stream removed too, a rebuild
// still gives the live health. Enabling the webhook between a marker and its carrier starts the
// health afresh and the carrier brings nothing back, live or rebuilt; a carrier of a pair other
// than the last marked is passed over.
func TestLaterPairsAndEnablingWhileCarrying(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	id := f.create("t1", "c1")
	t0 := f.clock
	f.attempt(id, "d1", 1, true, t0.Add(time.Second))
	f.attempt(id, "d2", 1, false, t0.Add(2*time.Second))
	f.flush()
	f.carry(id, 1, func() {})
	f.attempt(id, "d3", 1, false, t0.Add(3*time.Second))
	f.flush()
	f.carry(id, 2, func() {
		f.attempt(id, "d4", 1, true, t0.Add(4*time.Second))
		f.flush()
	})
	_, live := f.health(id)
	kept := without(f.flushAgain(), delivery.Stream("d1"), delivery.Stream("d2"), delivery.Stream("d3"),
		webhook.HealthStream(id, 1))
	rebuilt := newFixture(t)
	rebuilt.apply(kept)
	if _, h := rebuilt.health(id); !reflect.DeepEqual(h, live) || len(h.Recent) != 4 {
		t.Errorf("after two pairs: rebuilt %+v\nlive %+v", h, live)
	}

	f.do(id, func(w *webhook.Webhook) error { return w.DisableFor(webhook.DisabledFailing, t0) })
	f.flush()
	f.carry(id, 3, func() {
		f.do(id, func(w *webhook.Webhook) error { return w.Enable() })
		f.flush()
	})
	_, live = f.health(id)
	if !reflect.DeepEqual(live, webhook.Health{Recent: live.Recent}) || len(live.Recent) != 0 {
		t.Errorf("enabled while carrying: %+v, want a fresh health", live)
	}
	if c := f.carrying(id); c.Carried != 3 || c.Marked != 3 || c.Pending() {
		t.Errorf("enabled while carrying: carrying %+v", c)
	}
	f.event(webhook.HealthStream(id, 2), 2, webhook.HealthCarried{WebhookID: id, Pair: 2, Health: webhook.Health{}.Record(t0, true)})
	f.flush()
	if _, h := f.health(id); len(h.Recent) != 0 {
		t.Errorf("a carrier of an earlier pair changed the health: %+v", h)
	}
	rebuilt = newFixture(t)
	rebuilt.apply(without(f.flushAgain(), delivery.Stream("d1"), delivery.Stream("d2"), delivery.Stream("d3"),
		delivery.Stream("d4"), webhook.HealthStream(id, 1), webhook.HealthStream(id, 2)))
	if _, h := rebuilt.health(id); !reflect.DeepEqual(h, live) {
		t.Errorf("enabled while carrying, rebuilt: %+v\nlive %+v", h, live)
	}
}

// A pair for a webhook the view does not hold (deleted) is passed over, and Carrying says so.
func TestCarryOfAWebhookGone(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	id := f.create("t1", "c1")
	f.do(id, func(w *webhook.Webhook) error { return w.Delete() })
	f.event(webhook.HealthStream(id, 1), 0, webhook.HealthMarked{WebhookID: id, Pair: 1})
	f.flush()
	if c, found, err := f.view.Carrying(context.Background(), "t1", "c1", id); err != nil || found || c != (webhookview.Carry{}) {
		t.Errorf("Carrying of a deleted webhook: %+v, %v, %v", c, found, err)
	}
	if !strings.HasPrefix(webhook.HealthStream(id, 1), webhook.HealthStreamPrefix) {
		t.Error("HealthStream does not start with HealthStreamPrefix")
	}
}

// chunks splits records into batches of n.
func chunks(records []eventlog.RecordedEvent, n int) [][]eventlog.RecordedEvent {
	var out [][]eventlog.RecordedEvent
	for len(records) > 0 {
		k := min(n, len(records))
		out = append(out, records[:k])
		records = records[k:]
	}
	return out
}
