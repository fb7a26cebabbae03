package main

import (
	"context"
	"maps"
	"reflect"
	"testing"
	"time"

	"github.com/hookd/hookd/domain/delivery"
	"github.com/hookd/hookd/domain/eventlog"
)

// TestRetentionZeroKeepsDeliveriesForEver: with HOOKD_DELIVERY_RETENTION=0, finished deliveries a
// year old (the clock run forward: they are written to the log dated back) stay in the delivery
// log and in the log, and a replay of them is accepted and recorded in their streams. A second
// server with a retention of an hour, given the same deliveries after the first, removes them:
// they are deliveries any retention removes, and a sweeper on the first server, had one run, would
// have had at least as long to remove them.
func TestRetentionZeroKeepsDeliveriesForEver(t *testing.T) {
	t.Parallel()
	scope := apiScope("t1", "c1")
	yearAgo := time.Now().Add(-365 * 24 * time.Hour)
	write := func(h *testHookd) (*testLog, apiWebhookJSON, []string) {
		l := newTestLog(h)
		w := apiCreate(h, h.license, scope, apiMinimal("w"))
		ids := []string{l.deliver(w, "E_A", yearAgo, 200), l.deliver(w, "E_A", yearAgo, 500), l.deliver(w, "E_A", yearAgo, 0)}
		// The store keeps the stream holding the log's last event: let it be none of theirs.
		apiCreate(h, h.license, scope, apiMinimal("last"))
		l.sync()
		return l, w, ids
	}
	keepAll := startHookd(t, handDrivenDeliveries)
	l, w, ids := write(keepAll)
	written := map[string][]eventlog.RecordedEvent{}
	for _, id := range ids {
		evs, err := l.n.store.ReadStream(context.Background(), delivery.Stream(id), 0, 0)
		if err != nil || len(evs) < 2 {
			t.Fatalf("delivery %s: its stream reads %d events (%v) as written", id, len(evs), err)
		}
		written[id] = evs
	}
	controlEnv := maps.Clone(handDrivenDeliveries)
	controlEnv["HOOKD_DELIVERY_RETENTION"] = "1h"
	control := startHookd(t, controlEnv)
	_, cw, _ := write(control)
	apiEventually(t, 60*time.Second, "the control server with a retention of 1h does not remove the year-old deliveries", func() bool {
		return len(apiDeliveryIDs(control, scope, cw.ID, nil)) == 0
	})

	if got := apiDeliveryIDs(keepAll, scope, w.ID, nil); !sameSet(got, ids) {
		t.Fatalf("with HOOKD_DELIVERY_RETENTION=0 the delivery log holds %v, want every delivery %v", got, ids)
	}
	for id, events := range written {
		if evs, err := l.n.store.ReadStream(context.Background(), delivery.Stream(id), 0, 0); err != nil || !reflect.DeepEqual(evs, events) {
			t.Errorf("delivery %s: its stream reads %d events (%v), want the %d written", id, len(evs), err, len(events))
		}
	}
	if got := apiReplay(keepAll, scope, w.ID, map[string]any{"deliveryIds": ids}); got.Replayed != len(ids) || len(got.NotFound) != 0 {
		t.Fatalf("replay of the year-old deliveries: %+v, want all %d replayed", got, len(ids))
	}
	for _, id := range ids {
		if rr := l.replayRequests(id); len(rr) != 1 {
			t.Errorf("delivery %s: %d replay requests in its stream, want 1", id, len(rr))
		}
	}
}
