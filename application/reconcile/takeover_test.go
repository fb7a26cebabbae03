package reconcile_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/hookd/hookd/application/reconcile"
)

// heldSet returns a Held port answering ids.
func heldSet(ids ...string) func(context.Context) (map[string]struct{}, error) {
	return func(context.Context) (map[string]struct{}, error) {
		held := map[string]struct{}{}
		for _, id := range ids {
			held[id] = struct{}{}
		}
		return held, nil
	}
}

// TestTakeoverLeavesWhatTheTransportHolds: a new leader hands over, at the log's due time, every due
// delivery the transport does not hold, over several pages, and none that it holds (another node
// attempts it, or will be handed it).
func TestTakeoverLeavesWhatTheTransportHolds(t *testing.T) {
	t.Parallel()
	log := logOf(-time.Hour, -time.Minute, -time.Second, 0, time.Minute)
	tr := &fakeTransport{}
	res, err := reconcile.Takeover(t.Context(), reconcile.TakeoverConfig{Deliveries: log, Scheduler: tr,
		Held: heldSet("d1", "d3", "not-due"), PageSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	if want := (reconcile.TakeoverResult{Due: 5, Held: 2, Scheduled: 3}); res != want {
		t.Errorf("result %+v, want %+v", res, want)
	}
	if want := []string{"d0", "d2", "d4"}; !slices.Equal(tr.scheduled, want) {
		t.Errorf("scheduled %v, want %v", tr.scheduled, want)
	}
	for _, d := range log.due {
		if at, ok := tr.at[d.DeliveryID]; ok && !at.Equal(d.DueAt) {
			t.Errorf("%s scheduled at %v, want its due time %v", d.DeliveryID, at, d.DueAt)
		}
	}
}

// TestTakeoverWhenTheTransportCannotSay: without an answer from the transport, every due delivery
// is handed over (nothing lost; what is in flight may be repeated).
func TestTakeoverWhenTheTransportCannotSay(t *testing.T) {
	t.Parallel()
	for name, held := range map[string]func(context.Context) (map[string]struct{}, error){
		"no Held port": nil,
		"Held fails":   func(context.Context) (map[string]struct{}, error) { return nil, errors.New("too many to list") },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			log := logOf(-time.Minute, 0, time.Minute)
			tr := &fakeTransport{}
			res, err := reconcile.Takeover(t.Context(), reconcile.TakeoverConfig{Deliveries: log, Scheduler: tr, Held: held})
			if err != nil {
				t.Fatal(err)
			}
			if want := (reconcile.TakeoverResult{Due: 3, Scheduled: 3, Unchecked: true}); res != want {
				t.Errorf("result %+v, want %+v", res, want)
			}
		})
	}
}

// TestTakeoverErrors: a failing listing or scheduler fails the takeover (the term of leadership
// starts over), with what was done so far.
func TestTakeoverErrors(t *testing.T) {
	t.Parallel()
	log := logOf(-time.Minute, 0, time.Minute)
	res, err := reconcile.Takeover(t.Context(), reconcile.TakeoverConfig{Deliveries: log, Scheduler: &fakeTransport{failOn: "d1"}})
	if err == nil || res.Scheduled != 1 {
		t.Errorf("scheduler failing on d1: %+v, %v; want an error after 1 scheduled", res, err)
	}
	log.err = errors.New("read model down")
	if _, err := reconcile.Takeover(t.Context(), reconcile.TakeoverConfig{Deliveries: log, Scheduler: &fakeTransport{}}); !errors.Is(err, log.err) {
		t.Errorf("listing failing: %v, want it wrapped", err)
	}
	if _, err := reconcile.Takeover(t.Context(), reconcile.TakeoverConfig{}); err == nil {
		t.Error("no ports: no error")
	}
}
