package main

import (
	"context"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/domain/delivery"
	"github.com/hookd/hookd/domain/eventlog"
	"github.com/hookd/hookd/domain/license"
	"github.com/hookd/hookd/domain/publication"
	"github.com/hookd/hookd/domain/servicekey"
	"github.com/hookd/hookd/domain/webhook"
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

// TestRetentionKeepsWebhookLicenseAndServiceKeyStreams: with a retention of a second, once the
// sweeper has removed the expired deliveries and walked the log past a published event recorded
// after every webhook, license and service key event (it removed that event, which no webhook
// listened to), the log still holds those streams in full, event for event. Rebuilt from that log
// and restarted, hookd still serves them: the webhook and its history, the license it issued
// (accepted), the service keys as before.
func TestRetentionKeepsWebhookLicenseAndServiceKeyStreams(t *testing.T) {
	t.Parallel()
	env := map[string]string{"HOOKD_DELIVERY": "off", "HOOKD_DELIVERY_RETENTION": "1s"}
	h := startHookd(t, env)
	l := newTestLog(h)
	scope := apiScope("t1", "c1")
	w := apiCreate(h, h.license, scope, apiMinimal("kept"))
	path := webhookPath(scope, w.ID)
	renamed := apiMinimal("kept, renamed")
	h.mustJSON(h.system(http.MethodPatch, path, renamed), http.StatusOK, nil)
	h.mustJSON(h.system(http.MethodPatch, path, map[string]any{"disabled": true}), http.StatusOK, nil)
	h.mustJSON(h.system(http.MethodPatch, path, map[string]any{"disabled": false}), http.StatusOK, nil)
	key := apiIssueLicense(h, "--level", "service", "--tenant", "t1", "--community", "c1")
	var marker struct{ ID string }
	apiPublish(h, h.license, scope, map[string]any{"eventName": "E_NOBODY", "payload": map[string]any{}}, &marker)
	// The clock run forward: deliveries finished an hour ago, expired at once.
	hourAgo := time.Now().Add(-time.Hour)
	expired := []string{l.deliver(w, "E_LOGIN", hourAgo, 200), l.deliver(w, "E_LOGIN", hourAgo, 500)}
	// The store keeps the stream holding the log's last event: let it be none of those above.
	apiCreate(h, h.license, scope, apiMinimal("last"))

	before := configStreams(t, l)
	for _, prefix := range []string{webhook.StreamPrefix, license.StreamPrefix, servicekey.StreamPrefix} {
		if !slices.ContainsFunc(slices.Collect(maps.Keys(before)), func(s string) bool { return strings.HasPrefix(s, prefix) }) {
			t.Fatalf("the log holds no %s stream before the sweep: %v", prefix, slices.Collect(maps.Keys(before)))
		}
	}
	if n := len(before[webhook.Stream(w.ID)]); n != 4 {
		t.Fatalf("the webhook's stream holds %d events, want 4 (created, updated, disabled, enabled)", n)
	}
	historyBefore := apiHistoryTypes(h, scope, w.ID)
	var keysBefore any
	h.mustJSON(h.system(http.MethodGet, "/servicekeys", nil), http.StatusOK, &keysBefore)

	ctx := context.Background()
	apiEventually(t, 60*time.Second, "the sweeper does not remove the expired deliveries and the event nobody listened to", func() bool {
		for _, stream := range []string{delivery.Stream(expired[0]), delivery.Stream(expired[1]), publication.Stream(marker.ID)} {
			if evs, err := l.n.store.ReadStream(ctx, stream, 0, 0); err != nil || len(evs) != 0 {
				return false
			}
		}
		return len(apiDeliveryIDs(h, scope, w.ID, nil)) == 0
	})
	after := configStreams(t, l)
	for stream, events := range before {
		if !reflect.DeepEqual(after[stream], events) {
			t.Errorf("stream %s: %d events in the log after the sweep, %d before, or they differ", stream, len(after[stream]), len(events))
		}
		read, err := l.n.store.ReadStream(ctx, stream, 0, 0)
		if err != nil || !reflect.DeepEqual(read, events) {
			t.Errorf("stream %s: read alone, %d events (%v), want its %d", stream, len(read), err, len(events))
		}
	}

	// Rebuilt from the log as retention left it, and restarted: hookd serves them all still.
	h.stop()
	if out, err := h.runCLI("projections", "rebuild"); err != nil {
		t.Fatalf("rebuild: %v\n%s", err, out)
	}
	h = startHookdIn(t, h.cfg.DataDir, env)
	var got apiWebhookJSON
	h.mustJSON(h.as(key, http.MethodGet, path, nil), http.StatusOK, &got)
	if got.ID != w.ID || got.Name != "kept, renamed" || got.Disabled {
		t.Errorf("after retention, a rebuild and a restart the webhook reads %+v", got)
	}
	if history := apiHistoryTypes(h, scope, w.ID); !slices.Equal(history, historyBefore) {
		t.Errorf("the webhook's history reads %v, want %v as before", history, historyBefore)
	}
	var keysAfter any
	h.mustJSON(h.system(http.MethodGet, "/servicekeys", nil), http.StatusOK, &keysAfter)
	if !reflect.DeepEqual(keysAfter, keysBefore) {
		t.Errorf("/servicekeys answers %v, want %v as before", keysAfter, keysBefore)
	}
}

// configStreams reads the whole log and returns the events of each webhook, license and service key
// stream in it.
func configStreams(t *testing.T, l *testLog) map[string][]eventlog.RecordedEvent {
	t.Helper()
	out := map[string][]eventlog.RecordedEvent{}
	for after := (eventlog.Position{}); ; {
		page, err := l.n.store.ReadAll(context.Background(), after, 500)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			return out
		}
		for _, r := range page {
			for _, prefix := range []string{webhook.StreamPrefix, license.StreamPrefix, servicekey.StreamPrefix} {
				if strings.HasPrefix(r.Stream, prefix) {
					out[r.Stream] = append(out[r.Stream], r)
				}
			}
		}
		after = page[len(page)-1].Position
	}
}
