package deliveryview_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/hookd/hookd/projections/deliveryview"
)

func TestHealthCountsAScopesDeliveriesByWhereTheyStand(t *testing.T) {
	t.Parallel()
	v, l := newView(t), newLog(t)
	succeeded := schedule(t, spec{event: "e1", at: t0, name: "a"})
	attempt(t, succeeded, 200, t0.Add(time.Minute), "ok")
	parked := schedule(t, spec{event: "e2", at: t0, name: "b"})
	attempt(t, parked, 500, t0.Add(2*time.Minute), "no")
	retrying := schedule(t, spec{event: "e3", at: t0, retryCount: 2, name: "a"})
	attempt(t, retrying, 503, t0.Add(3*time.Minute), "later")
	pending := schedule(t, spec{event: "e4", webhook: "w2", at: t0, name: "c"})
	old := schedule(t, spec{event: "e5", at: t0.Add(-48 * time.Hour), name: "a"})
	attempt(t, old, 200, t0.Add(-48*time.Hour), "ok")
	elsewhere := schedule(t, spec{event: "e6", tenant: "t2", at: t0, name: "z"})
	attempt(t, elsewhere, 500, t0.Add(4*time.Minute), "no")
	v.apply(l.record(succeeded)...)
	v.apply(l.record(parked)...)
	v.apply(l.record(retrying)...)
	v.apply(l.record(pending)...)
	v.apply(l.record(old)...)
	v.apply(l.record(elsewhere)...)
	ctx := context.Background()
	since := t0.Add(-24 * time.Hour)

	h, err := v.Health(ctx, "t1", "c1", "", since)
	if err != nil {
		t.Fatal(err)
	}
	want := deliveryview.Health{Succeeded: 1, Failed: 1, Retrying: 1, Pending: 1, LastAttemptAt: t0.Add(3 * time.Minute)}
	if h != want {
		t.Fatalf("community health %+v, want %+v", h, want)
	}
	if r, ok := h.SuccessRate(); !ok || r != 0.5 {
		t.Fatalf("success rate %v %v, want 0.5", r, ok)
	}
	if h, err = v.Health(ctx, "t1", "c1", "w2", since); err != nil || h != (deliveryview.Health{Pending: 1}) {
		t.Fatalf("w2's health %+v %v, want one pending", h, err)
	}
	if _, ok := h.SuccessRate(); ok {
		t.Fatal("a rate with nothing finished")
	}
	if h, err = v.Health(ctx, "t9", "c9", "", since); err != nil || h != (deliveryview.Health{}) {
		t.Fatalf("an empty scope's health %+v %v", h, err)
	}

	names, err := v.EventNames(ctx, "t1", "c1", 10)
	if err != nil || !reflect.DeepEqual(names, []string{"a", "b", "c"}) {
		t.Fatalf("event names %v %v", names, err)
	}

	changed, err := v.Changed(ctx, "t1", "c1", t0.Add(90*time.Second), 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range changed {
		got = append(got, d.ID)
	}
	if !reflect.DeepEqual(got, []string{parked.ID(), retrying.ID()}) {
		t.Fatalf("changed since: %v, want the parked then the retrying delivery", got)
	}
	if all, err := v.Changed(ctx, "", "", t0.Add(90*time.Second), 10); err != nil || len(all) != 3 {
		t.Fatalf("changed in every tenant: %d %v, want 3", len(all), err)
	}
}
