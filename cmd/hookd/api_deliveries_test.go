package main

// Component tests of a webhook's delivery log and of replays through the management API, against
// the real server, with deliveries written to its log as the delivery pipeline would.

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/hookd/hookd/domain/delivery"
)

// deliveriesT0 is when the deliveries of the API tests were first scheduled.
var deliveriesT0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

type apiDeliveryJSON struct {
	ID          string           `json:"id"`
	EventID     string           `json:"eventId"`
	EventName   string           `json:"eventName"`
	Status      string           `json:"status"`
	Attempts    []apiAttemptJSON `json:"attempts"`
	ScheduledAt time.Time        `json:"scheduledAt"`
	UpdatedAt   time.Time        `json:"updatedAt"`
	NextDueAt   *time.Time       `json:"nextDueAt"`
	ReplayMode  *string          `json:"replayMode"`
	ParkReason  *string          `json:"parkReason"`
}

type apiAttemptJSON struct {
	Number          int       `json:"number"`
	Status          int       `json:"status"`
	ErrorClass      string    `json:"errorClass"`
	DurationMs      int64     `json:"durationMs"`
	ResponseExcerpt string    `json:"responseExcerpt"`
	At              time.Time `json:"at"`
}

type apiDeliveryPageJSON struct {
	Page struct{ Index, Total, Size int } `json:"page"`
	Data []apiDeliveryJSON                `json:"data"`
}

type apiReplayJSON struct {
	Replayed int      `json:"replayed"`
	Skipped  int      `json:"skipped"`
	NotFound []string `json:"notFound"`
}

func webhookPath(scope, id string) string { return scope + "/webhook/" + id }

// apiDeliveries fetches a page of a webhook's deliveries; the answer must be 200.
func apiDeliveries(h *testHookd, scope, webhookID string, body any) apiDeliveryPageJSON {
	h.t.Helper()
	var p apiDeliveryPageJSON
	h.mustJSON(h.system(http.MethodPost, webhookPath(scope, webhookID)+"/deliveries/fetch", body), http.StatusOK, &p)
	if p.Data == nil {
		h.t.Fatal("fetch deliveries: data is not a JSON array")
	}
	return p
}

// apiDeliveryIDs fetches the ids of a webhook's deliveries that body selects, on one page.
func apiDeliveryIDs(h *testHookd, scope, webhookID string, body map[string]any) []string {
	h.t.Helper()
	if body == nil {
		body = map[string]any{}
	}
	body["pSize"] = 100
	p := apiDeliveries(h, scope, webhookID, body)
	ids := make([]string, len(p.Data))
	for i, d := range p.Data {
		ids[i] = d.ID
	}
	return ids
}

// apiReplay asks for a replay; the answer must be 202.
func apiReplay(h *testHookd, scope, webhookID string, body any) apiReplayJSON {
	h.t.Helper()
	var out apiReplayJSON
	h.mustJSON(h.system(http.MethodPost, webhookPath(scope, webhookID)+"/replay", body), http.StatusAccepted, &out)
	if out.NotFound == nil {
		h.t.Fatal("replay: notFound is not a JSON array")
	}
	return out
}

func TestDeliveriesFetchFiltersAndPagesNewestFirst(t *testing.T) {
	t.Parallel()
	h := startHookd(t, handDrivenDeliveries)
	l := newTestLog(h)
	scope := apiScope("t1", "c1")
	w := apiCreate(h, h.license, scope, apiMinimal("w"))
	other := apiCreate(h, h.license, scope, apiMinimal("other"))
	at := func(minutes int) time.Time { return deliveriesT0.Add(time.Duration(minutes) * time.Minute) }
	d0 := l.deliver(w, "E_A", at(0), 200)
	d1 := l.deliver(w, "E_B", at(1), 500)
	d2 := l.deliver(w, "E_A", at(2), 0)
	d3 := l.deliver(w, "E_B", at(3))
	d4 := l.deliver(w, "E_A", at(4), 200)
	l.deliver(other, "E_A", at(5), 500)
	l.sync()

	all := apiDeliveries(h, scope, w.ID, nil)
	if all.Page.Total != 5 || all.Page.Index != 0 || all.Page.Size != 25 {
		t.Errorf("page %+v, want index 0, total 5, size 25", all.Page)
	}
	byID := map[string]apiDeliveryJSON{}
	var ids []string
	for _, d := range all.Data {
		byID[d.ID] = d
		ids = append(ids, d.ID)
	}
	if want := []string{d4, d3, d2, d1, d0}; !slices.Equal(ids, want) {
		t.Fatalf("deliveries %v, want %v: newest first, and none of the other webhook", ids, want)
	}

	// What one delivery shows: its status, every attempt, when it is due, and no replay yet.
	if d := byID[d1]; d.Status != "failed" || d.EventName != "E_B" || d.EventID == "" || !d.ScheduledAt.Equal(at(1)) ||
		d.NextDueAt != nil || d.ReplayMode != nil ||
		!slices.Equal(d.Attempts, []apiAttemptJSON{{Number: 1, Status: 500, DurationMs: 42, ResponseExcerpt: "boom 500", At: at(1).Add(time.Second)}}) {
		t.Errorf("failed delivery %+v", d)
	}
	if d := byID[d2]; d.Status != "failed" ||
		!slices.Equal(d.Attempts, []apiAttemptJSON{{Number: 1, Status: 0, ErrorClass: "timeout", DurationMs: 42, At: at(2).Add(time.Second)}}) {
		t.Errorf("timed-out delivery %+v", d)
	}
	if d := byID[d3]; d.Status != "scheduled" || d.NextDueAt == nil || !d.NextDueAt.Equal(at(3)) || len(d.Attempts) != 0 {
		t.Errorf("scheduled delivery %+v, want due at %s with no attempt", d, at(3))
	}
	if d := byID[d0]; d.Status != "succeeded" || len(d.Attempts) != 1 || d.Attempts[0].Status != 200 {
		t.Errorf("succeeded delivery %+v", d)
	}
	// Fields that do not apply are left out, not null; attempts is a list even when empty.
	r := h.system(http.MethodPost, webhookPath(scope, w.ID)+"/deliveries/fetch", map[string]any{"status": "scheduled"})
	var raw struct{ Data []map[string]json.RawMessage }
	h.mustJSON(r, http.StatusOK, &raw)
	if _, ok := raw.Data[0]["replayMode"]; ok || string(raw.Data[0]["attempts"]) != "[]" {
		t.Errorf("scheduled delivery as JSON: %s", r.Body)
	}

	for _, c := range []struct {
		body map[string]any
		want []string
	}{
		{map[string]any{"status": "failed"}, []string{d2, d1}},
		{map[string]any{"status": "succeeded"}, []string{d4, d0}},
		{map[string]any{"eventName": "E_A"}, []string{d4, d2, d0}},
		{map[string]any{"from": at(1).Format(time.RFC3339), "to": at(3).Format(time.RFC3339)}, []string{d2, d1}},
		{map[string]any{"from": at(3).Format(time.RFC3339)}, []string{d4, d3}},
		{map[string]any{"to": "2026-03-01T12:01:00.5+00:00"}, []string{d1, d0}},
		{map[string]any{"status": "failed", "eventName": "E_B"}, []string{d1}},
		{map[string]any{"eventName": "E_NONE"}, []string{}},
	} {
		if got := apiDeliveryIDs(h, scope, w.ID, c.body); !slices.Equal(got, c.want) {
			t.Errorf("fetch %v: %v, want %v", c.body, got, c.want)
		}
	}

	var paged []string
	for page := range 4 {
		p := apiDeliveries(h, scope, w.ID, map[string]any{"pIndex": page, "pSize": 2})
		if p.Page.Total != 5 || p.Page.Index != page || p.Page.Size != 2 || len(p.Data) != min(2, max(5-2*page, 0)) {
			t.Errorf("page %d: %+v with %d deliveries", page, p.Page, len(p.Data))
		}
		for _, d := range p.Data {
			paged = append(paged, d.ID)
		}
	}
	if !slices.Equal(paged, ids) {
		t.Errorf("pages of 2 hold %v, want %v", paged, ids)
	}
}

func TestDeliveriesOfAnotherScopeOrADeletedWebhookAreNotFound(t *testing.T) {
	t.Parallel()
	h := startHookd(t, handDrivenDeliveries)
	l := newTestLog(h)
	home := apiScope("t1", "c1")
	w := apiCreate(h, h.license, home, apiMinimal("home"))
	failed := l.deliver(w, "E_LOGIN", deliveriesT0, 500)
	l.sync()
	replay := map[string]any{"deliveryIds": []string{failed}}
	for _, path := range []string{
		webhookPath(apiScope("t1", "c2"), w.ID), webhookPath(apiScope("t2", "c1"), w.ID),
		webhookPath(home, uuid.NewString()), webhookPath(home, "not-a-uuid"),
	} {
		apiWantError(t, h.system(http.MethodPost, path+"/deliveries/fetch", nil), http.StatusNotFound, "webhook not found")
		apiWantError(t, h.system(http.MethodPost, path+"/replay", replay), http.StatusNotFound, "webhook not found")
	}
	// A license of another tenant may not even ask.
	otherTenant := apiIssueLicense(h, "--level", "service", "--tenant", "t2")
	apiWantError(t, h.as(otherTenant, http.MethodPost, webhookPath(home, w.ID)+"/deliveries/fetch", nil), http.StatusForbidden)
	apiWantError(t, h.as(otherTenant, http.MethodPost, webhookPath(home, w.ID)+"/replay", replay), http.StatusForbidden)

	h.mustJSON(h.system(http.MethodDelete, webhookPath(home, w.ID), nil), http.StatusNoContent, nil)
	apiWantError(t, h.system(http.MethodPost, webhookPath(home, w.ID)+"/deliveries/fetch", nil), http.StatusNotFound)
	apiWantError(t, h.system(http.MethodPost, webhookPath(home, w.ID)+"/replay", replay), http.StatusNotFound)
	apiWantError(t, h.system(http.MethodPost, webhookPath(home, w.ID)+"/replay", map[string]any{"status": "failed"}), http.StatusNotFound)
	if n := len(l.replayRequests(failed)); n != 0 {
		t.Errorf("%d replay requests in the log, want none", n)
	}
}

func TestReplayByIDsInBothModes(t *testing.T) {
	t.Parallel()
	h := startHookd(t, handDrivenDeliveries)
	l := newTestLog(h)
	scope := apiScope("t1", "c1")
	w := apiCreate(h, h.license, scope, apiMinimal("w"))
	other := apiCreate(h, h.license, scope, apiMinimal("other"))
	failed := l.deliver(w, "E_LOGIN", deliveriesT0, 500)
	succeeded := l.deliver(w, "E_LOGIN", deliveriesT0.Add(time.Minute), 200)
	inFlight := l.deliver(w, "E_LOGIN", deliveriesT0.Add(2*time.Minute))
	ofOther := l.deliver(other, "E_LOGIN", deliveriesT0, 500)
	unknown := uuid.NewString()
	l.sync()

	before := time.Now()
	got := apiReplay(h, scope, w.ID, map[string]any{
		"deliveryIds": []string{failed, inFlight, ofOther, unknown, failed}, "mode": "original",
	})
	if got.Replayed != 1 || got.Skipped != 1 || !slices.Equal(got.NotFound, []string{ofOther, unknown}) {
		t.Fatalf("replay: %+v, want 1 replayed, 1 skipped, not found [%s %s]", got, ofOther, unknown)
	}
	// The answer came once the read model shows the replay: no wait here.
	d := apiDeliveries(h, scope, w.ID, map[string]any{"status": "scheduled"}).Data
	if len(d) != 2 || d[1].ID != failed || d[1].ReplayMode == nil || *d[1].ReplayMode != "original" ||
		d[1].NextDueAt == nil || d[1].NextDueAt.Before(before.Add(-time.Second)) || len(d[1].Attempts) != 1 {
		t.Fatalf("scheduled deliveries after the replay: %+v, want %s again, in mode original, due now, its attempt kept", d, failed)
	}
	requests := l.replayRequests(failed)
	if len(requests) != 1 || requests[0].Mode != delivery.ReplayOriginal || !strings.HasPrefix(requests[0].RequestedBy, "license:") {
		t.Errorf("replay requests in the log %+v, want one in mode original by the license", requests)
	}
	for _, id := range []string{inFlight, ofOther} {
		if n := len(l.replayRequests(id)); n != 0 {
			t.Errorf("delivery %s got %d replay requests, want none", id, n)
		}
	}

	// The mode defaults to current.
	if got := apiReplay(h, scope, w.ID, map[string]any{"deliveryIds": []string{succeeded}}); got.Replayed != 1 {
		t.Fatalf("replay of the succeeded delivery: %+v", got)
	}
	if requests := l.replayRequests(succeeded); len(requests) != 1 || requests[0].Mode != delivery.ReplayCurrent {
		t.Errorf("replay requests %+v, want one in mode current", requests)
	}
	if d := apiDeliveries(h, scope, w.ID, map[string]any{"status": "scheduled"}).Data; len(d) != 3 || *d[1].ReplayMode != "current" {
		t.Errorf("scheduled deliveries %+v, want the succeeded one scheduled again in mode current", d)
	}
}

func TestReplayByFilterAndRepeatedRequests(t *testing.T) {
	t.Parallel()
	h := startHookd(t, handDrivenDeliveries)
	l := newTestLog(h)
	scope := apiScope("t1", "c1")
	w := apiCreate(h, h.license, scope, apiMinimal("w"))
	at := func(minutes int) time.Time { return deliveriesT0.Add(time.Duration(minutes) * time.Minute) }
	early := l.deliver(w, "E_A", at(0), 500)
	inRange1 := l.deliver(w, "E_A", at(10), 500)
	inRange2 := l.deliver(w, "E_B", at(20), 0)
	succeeded := l.deliver(w, "E_A", at(25), 200)
	inFlight := l.deliver(w, "E_A", at(27))
	late := l.deliver(w, "E_A", at(30), 500)
	l.sync()

	filter := map[string]any{"status": "failed", "from": at(10).Format(time.RFC3339), "to": at(30).Format(time.RFC3339), "mode": "original"}
	if got := apiReplay(h, scope, w.ID, filter); got.Replayed != 2 || got.Skipped != 0 || len(got.NotFound) != 0 {
		t.Fatalf("replay by filter: %+v, want the 2 failed in range", got)
	}
	if got := apiDeliveryIDs(h, scope, w.ID, map[string]any{"status": "scheduled"}); !slices.Equal(got, []string{inFlight, inRange2, inRange1}) {
		t.Errorf("scheduled after the replay: %v", got)
	}
	for _, id := range []string{inRange1, inRange2} {
		if requests := l.replayRequests(id); len(requests) != 1 || requests[0].Mode != delivery.ReplayOriginal {
			t.Errorf("delivery %s: replay requests %+v, want one in mode original", id, requests)
		}
	}
	for _, id := range []string{early, succeeded, inFlight, late} {
		if n := len(l.replayRequests(id)); n != 0 {
			t.Errorf("delivery %s, outside the filter, got %d replay requests", id, n)
		}
	}

	// The same body again is a new request: what the first one reopened is no longer failed, so it
	// selects nothing and replays nothing twice.
	if got := apiReplay(h, scope, w.ID, filter); got.Replayed != 0 || got.Skipped != 0 {
		t.Errorf("repeated replay by filter: %+v, want nothing selected", got)
	}
	// Without a status, it selects them and skips them: they are in flight.
	byEvent := map[string]any{"eventName": "E_A", "from": at(10).Format(time.RFC3339), "to": at(30).Format(time.RFC3339)}
	if got := apiReplay(h, scope, w.ID, byEvent); got.Replayed != 1 || got.Skipped != 2 {
		t.Errorf("replay by event name: %+v, want the succeeded one replayed, the replayed and the scheduled one skipped", got)
	}
	// Once the pipeline has sent a replayed delivery and it failed again, a new request replays it
	// again.
	l.attempt(inRange1, 503, time.Now())
	l.sync()
	if got := apiReplay(h, scope, w.ID, filter); got.Replayed != 1 {
		t.Errorf("replay after a new failure: %+v, want 1", got)
	}
	if n := len(l.replayRequests(inRange1)); n != 2 {
		t.Errorf("%d replay requests for a delivery replayed, failed again and replayed again, want 2", n)
	}
	if n := len(l.replayRequests(inRange2)); n != 1 {
		t.Errorf("%d replay requests for a delivery still in flight, want 1", n)
	}
}

func TestReplayAndDeliveriesRefuseBadInputAndAppendNothing(t *testing.T) {
	t.Parallel()
	h := startHookd(t, handDrivenDeliveries)
	l := newTestLog(h)
	scope := apiScope("t1", "c1")
	w := apiCreate(h, h.license, scope, apiMinimal("w"))
	failed := l.deliver(w, "E_LOGIN", deliveriesT0, 500)
	l.sync()
	head := l.head()

	tooMany := make([]string, 1001)
	for i := range tooMany {
		tooMany[i] = uuid.NewString()
	}
	ids := []string{failed}
	for _, c := range []struct {
		body     any
		mentions []string
	}{
		{map[string]any{}, []string{"deliveryIds or a filter"}},
		{map[string]any{"mode": "original"}, []string{"deliveryIds or a filter"}},
		{map[string]any{"deliveryIds": ids, "status": "failed"}, []string{"deliveryIds and a filter"}},
		{map[string]any{"deliveryIds": ids, "from": "2026-01-01T00:00:00Z"}, []string{"deliveryIds and a filter"}},
		{map[string]any{"deliveryIds": []string{}}, []string{"deliveryIds must have 1 to 1000"}},
		{map[string]any{"deliveryIds": tooMany}, []string{"deliveryIds must have 1 to 1000"}},
		{map[string]any{"deliveryIds": []string{failed, ""}}, []string{"deliveryIds[1]"}},
		{map[string]any{"deliveryIds": failed}, []string{"deliveryIds must be an array"}},
		{map[string]any{"deliveryIds": ids, "mode": "latest"}, []string{"mode"}},
		{map[string]any{"deliveryIds": ids, "mode": ""}, []string{"mode"}},
		{map[string]any{"status": "done"}, []string{"status"}},
		{map[string]any{"status": ""}, []string{"status"}},
		{map[string]any{"eventName": "E LOGIN"}, []string{"eventName"}},
		{map[string]any{"from": "yesterday"}, []string{"from", "RFC 3339"}},
		{map[string]any{"to": "2026-01-02"}, []string{"to", "RFC 3339"}},
		{map[string]any{"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, []string{"from must be before to"}},
		{map[string]any{"ids": ids}, []string{"unknown field ids"}},
		{`{"deliveryIds": [`, []string{"malformed JSON"}},
	} {
		apiWantError(t, h.system(http.MethodPost, webhookPath(scope, w.ID)+"/replay", c.body), http.StatusBadRequest, c.mentions...)
	}
	if after := l.head(); after != head {
		t.Errorf("bad replays moved the log from %v to %v", head, after)
	}
	if n := len(l.replayRequests(failed)); n != 0 {
		t.Errorf("%d replay requests after bad input, want none", n)
	}

	for _, c := range []struct {
		body    map[string]any
		mention string
	}{
		{map[string]any{"pSize": 0}, "pSize"},
		{map[string]any{"pSize": 101}, "pSize"},
		{map[string]any{"pIndex": -1}, "pIndex"},
		{map[string]any{"status": "failing"}, "status"},
		{map[string]any{"from": "2026-13-01T00:00:00Z"}, "from"},
		{map[string]any{"from": "2026-01-02T00:00:00Z", "to": "2026-01-02T00:00:00Z"}, "from must be before to"},
		{map[string]any{"deliveryIds": ids}, "unknown field deliveryIds"},
	} {
		apiWantError(t, h.system(http.MethodPost, webhookPath(scope, w.ID)+"/deliveries/fetch", c.body), http.StatusBadRequest, c.mention)
	}
}

// handDrivenDeliveries runs a node that does not deliver, for tests that put deliveries in the
// states they need by appending their events by hand: a delivering node would attempt them.
// Retention is off: they date deliveries months back, which the default 30 days would remove.
var handDrivenDeliveries = map[string]string{"HOOKD_DELIVERY": "off", "HOOKD_DELIVERY_RETENTION": "0"}
