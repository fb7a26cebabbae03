package command_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/hookd/hookd/application/command"
	"github.com/hookd/hookd/domain/delivery"
	"github.com/hookd/hookd/domain/eventlog"
	"github.com/hookd/hookd/domain/webhook"
)

var replayT0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// testPolicy succeeds on 200 and parks anything else at once.
var testPolicy = delivery.Policy{SuccessCodes: []int{200}}

// selector is a hand-written delivery selector: it pages through ids, newest first, as the read
// model would, and remembers what it was asked.
type selector struct {
	mu    sync.Mutex
	ids   []string
	asked []string
}

func (s *selector) SelectDeliveries(_ context.Context, tenantID, communityID, webhookID string, f command.DeliveryFilter, index, size int) ([]string, int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.asked = append(s.asked, fmt.Sprintf("%s/%s/%s status=%s event=%s page %d of %d", tenantID, communityID, webhookID, f.Status, f.EventName, index, size))
	from := min(index*size, len(s.ids))
	return slices.Clone(s.ids[from:min(from+size, len(s.ids))]), len(s.ids), nil
}

func newReplays(t *testing.T, f *fixture, log command.EventLog, sel command.DeliverySelector) *command.Replays {
	t.Helper()
	if log == nil {
		log = f.store
	}
	r, err := command.NewReplays(log, f.codec, func() time.Time { return replayT0.Add(time.Hour) }, sel)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// loadDelivery rebuilds a delivery from the fixture's log.
func (f *fixture) loadDelivery(t *testing.T, id string) *delivery.Delivery {
	t.Helper()
	records, err := f.store.ReadStream(context.Background(), delivery.Stream(id), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	history := make([]delivery.Event, len(records))
	for i, r := range records {
		if history[i], err = f.codec.Decode(r); err != nil {
			t.Fatal(err)
		}
	}
	d, err := delivery.Rehydrate(history, int64(len(records))-1)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// appendChanges appends what a delivery recorded, as the pipeline would.
func (f *fixture) appendChanges(t *testing.T, d *delivery.Delivery) {
	t.Helper()
	stream := delivery.Stream(d.ID())
	data := make([]eventlog.EventData, len(d.Changes()))
	for i, e := range d.Changes() {
		var err error
		data[i], err = f.codec.Encode(stream, eventlog.EventID(uuid.New()), e, eventlog.Metadata{Actor: "pipeline", OccurredAt: replayT0})
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.store.Append(context.Background(), stream, eventlog.After(d.Version()), data); err != nil {
		t.Fatal(err)
	}
}

// deliver schedules a delivery of a new event to w and, unless status is 0, records one attempt
// answered with status: 200 succeeds, anything else parks it.
func (f *fixture) deliver(t *testing.T, w *webhook.Webhook, status int) string {
	t.Helper()
	d, err := delivery.Schedule(delivery.Scheduling{
		EventID: uuid.NewString(), WebhookID: w.ID(), TenantID: w.TenantID(), CommunityID: w.CommunityID(),
		EventName: "E_LOGIN", Body: `{"version":1,"event":"E_LOGIN","payload":{}}`,
		Settings: delivery.SnapshotOf(w.Settings()), At: replayT0,
	})
	if err != nil {
		t.Fatal(err)
	}
	f.appendChanges(t, d)
	if status != 0 {
		f.attempt(t, d.ID(), status)
	}
	return d.ID()
}

// attempt records the next attempt of a scheduled delivery, answered with status.
func (f *fixture) attempt(t *testing.T, id string, status int) {
	t.Helper()
	d := f.loadDelivery(t, id)
	err := d.RecordAttempt(delivery.Attempt{Number: d.Attempts() + 1, Status: status, Duration: time.Millisecond, At: replayT0},
		testPolicy, delivery.Backoff{})
	if err != nil {
		t.Fatal(err)
	}
	f.appendChanges(t, d)
}

func (f *fixture) lastPosition(t *testing.T) eventlog.Position {
	t.Helper()
	pos, err := f.store.LastPosition(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return pos
}

// replayRequests returns the DeliveryReplayRequested events of a delivery's stream.
func (f *fixture) replayRequests(t *testing.T, id string) []delivery.ReplayRequested {
	t.Helper()
	records, err := f.store.ReadStream(context.Background(), delivery.Stream(id), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []delivery.ReplayRequested
	for _, r := range records {
		e, err := f.codec.Decode(r)
		if err != nil {
			t.Fatal(err)
		}
		if rr, ok := e.(delivery.ReplayRequested); ok {
			out = append(out, rr)
		}
	}
	return out
}

func byIDs(w *webhook.Webhook, mode delivery.ReplayMode, ids ...string) command.Replay {
	return command.Replay{TenantID: w.TenantID(), CommunityID: w.CommunityID(), WebhookID: w.ID(), DeliveryIDs: ids, Mode: mode}
}

func TestReplayByIDsReopensFinishedDeliveriesOnly(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	w, other := f.create(t), f.create(t)
	succeeded, failed, inFlight := f.deliver(t, w, 200), f.deliver(t, w, 500), f.deliver(t, w, 0)
	ofOther := f.deliver(t, other, 500)
	unknown := uuid.NewString()
	r := newReplays(t, f, nil, &selector{})

	c := command.Caller{Actor: "license:l1", RequestID: uuid.NewString()}
	res, err := r.Replay(context.Background(),
		byIDs(w, delivery.ReplayOriginal, succeeded, unknown, failed, inFlight, ofOther, failed), c)
	if err != nil {
		t.Fatal(err)
	}
	if res.Replayed != 2 || res.Skipped != 1 || res.WebhookGone != 0 || !slices.Equal(res.NotFound, []string{unknown, ofOther}) {
		t.Fatalf("result %+v, want 2 replayed, 1 skipped, not found [%s %s]", res, unknown, ofOther)
	}
	if !res.Changed || res.Position.Before(f.lastPosition(t)) {
		t.Errorf("result says %+v, want a change up to the log's end %v", res.Result, f.lastPosition(t))
	}
	for _, id := range []string{succeeded, failed} {
		requests := f.replayRequests(t, id)
		want := []delivery.ReplayRequested{{DeliveryID: id, Mode: delivery.ReplayOriginal, RequestedBy: "license:l1", At: replayT0.Add(time.Hour)}}
		if !slices.Equal(requests, want) {
			t.Errorf("delivery %s: replay requests %+v, want %+v", id, requests, want)
		}
		if d := f.loadDelivery(t, id); d.Status() != delivery.StatusScheduled || d.ReplayMode() != delivery.ReplayOriginal {
			t.Errorf("delivery %s is %s in mode %s after the replay, want scheduled in mode original", id, d.Status(), d.ReplayMode())
		}
	}
	for _, id := range []string{inFlight, ofOther} {
		if n := len(f.replayRequests(t, id)); n != 0 {
			t.Errorf("delivery %s got %d replay requests, want none", id, n)
		}
	}
}

func TestReplayRepeatedRequestReplaysEachDeliveryOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	w := f.create(t)
	a, b := f.deliver(t, w, 500), f.deliver(t, w, 0)
	r := newReplays(t, f, nil, &selector{})
	ctx := context.Background()
	c := caller()
	cmd := byIDs(w, delivery.ReplayCurrent, a, b)

	first, err := r.Replay(ctx, cmd, c)
	if err != nil || first.Replayed != 1 || first.Skipped != 1 {
		t.Fatalf("first run: %+v, %v; want a replayed and b skipped", first, err)
	}
	// The pipeline sends a again, and it fails again; b fails for the first time.
	f.attempt(t, a, 500)
	f.attempt(t, b, 500)
	end := f.lastPosition(t)

	// The same request again: a is this request's already and is not replayed twice; b, skipped
	// the first time, is finished now and is replayed.
	again, err := r.Replay(ctx, cmd, c)
	if err != nil || again.Replayed != 2 || again.Skipped != 0 {
		t.Fatalf("repeat: %+v, %v; want both counted as replayed", again, err)
	}
	if n := len(f.replayRequests(t, a)); n != 1 {
		t.Errorf("a has %d replay requests after the repeat, want 1", n)
	}
	if n := len(f.replayRequests(t, b)); n != 1 {
		t.Errorf("b has %d replay requests after the repeat, want 1", n)
	}
	if !again.Changed || !end.Before(again.Position) {
		t.Errorf("repeat result %+v, want the change to b after %v", again.Result, end)
	}

	// A new request is a new replay: a, parked again, is replayed again; b is in flight.
	fresh, err := r.Replay(ctx, cmd, caller())
	if err != nil || fresh.Replayed != 1 || fresh.Skipped != 1 {
		t.Fatalf("new request: %+v, %v; want a replayed and b skipped", fresh, err)
	}
	if n := len(f.replayRequests(t, a)); n != 2 {
		t.Errorf("a has %d replay requests after a new request, want 2", n)
	}
}

func TestReplayWithoutRequestIDGetsOneForTheWholeRequest(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	w := f.create(t)
	a, b := f.deliver(t, w, 500), f.deliver(t, w, 200)
	r := newReplays(t, f, nil, &selector{})
	res, err := r.Replay(context.Background(), byIDs(w, delivery.ReplayCurrent, a, b), command.Caller{Actor: "cli"})
	if err != nil || res.Replayed != 2 {
		t.Fatalf("%+v, %v", res, err)
	}
	var correlations []string
	for _, id := range []string{a, b} {
		records, err := f.store.ReadStream(context.Background(), delivery.Stream(id), 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		md, err := f.codec.DecodeMetadata(records[len(records)-1])
		if err != nil {
			t.Fatal(err)
		}
		correlations = append(correlations, md.CorrelationID)
	}
	if correlations[0] == "" || correlations[0] != correlations[1] {
		t.Errorf("correlation ids %q, want one generated id for the whole request", correlations)
	}
}

func TestReplayDryRunAppendsNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	w := f.create(t)
	ids := []string{f.deliver(t, w, 500), f.deliver(t, w, 200), f.deliver(t, w, 0)}
	before := f.lastPosition(t)
	r := newReplays(t, f, nil, &selector{ids: slices.Clone(ids)})
	cmd := command.Replay{TenantID: "t1", CommunityID: "c1", WebhookID: w.ID(), Mode: delivery.ReplayCurrent, DryRun: true,
		Filter: command.DeliveryFilter{From: replayT0.Add(-time.Hour)}}
	res, err := r.Replay(context.Background(), cmd, caller())
	if err != nil {
		t.Fatal(err)
	}
	if res.Replayed != 2 || res.Skipped != 1 || res.Changed {
		t.Errorf("dry run: %+v, want 2 that would be replayed, 1 skipped, no change", res)
	}
	if after := f.lastPosition(t); after != before {
		t.Errorf("the log moved from %v to %v in a dry run", before, after)
	}
}

func TestReplayByFilterPagesThroughTheSelectionOldestFirst(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	w := f.create(t)
	// More ids than one page holds, newest first as the read model lists them, one twice as a page
	// shift would show it. They name no delivery, so each comes back as not found, in the order
	// decided.
	var newestFirst []string
	for range 600 {
		newestFirst = append(newestFirst, uuid.NewString())
	}
	listed := slices.Insert(slices.Clone(newestFirst), 251, newestFirst[249])
	sel := &selector{ids: listed}
	r := newReplays(t, f, nil, sel)
	var progress [][2]int
	cmd := command.Replay{TenantID: "t1", CommunityID: "c1", WebhookID: w.ID(), Mode: delivery.ReplayCurrent,
		Filter:   command.DeliveryFilter{Status: delivery.StatusFailed, EventName: "E_LOGIN"},
		Progress: func(done, total int) { progress = append(progress, [2]int{done, total}) }}
	res, err := r.Replay(context.Background(), cmd, caller())
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(newestFirst)
	slices.Reverse(want)
	if !slices.Equal(res.NotFound, want) {
		t.Errorf("decided %d ids, want the 600 selected, each once, oldest first", len(res.NotFound))
	}
	wantAsked := []string{
		"t1/c1/" + w.ID() + " status=failed event=E_LOGIN page 0 of 250",
		"t1/c1/" + w.ID() + " status=failed event=E_LOGIN page 1 of 250",
		"t1/c1/" + w.ID() + " status=failed event=E_LOGIN page 2 of 250",
	}
	if !slices.Equal(sel.asked, wantAsked) {
		t.Errorf("the selector was asked %q, want %q", sel.asked, wantAsked)
	}
	if len(progress) != 600 || progress[0] != [2]int{1, 600} || progress[599] != [2]int{600, 600} {
		t.Errorf("progress reported %d times, from %v to %v; want 1/600 to 600/600", len(progress), progress[0], progress[len(progress)-1])
	}

	// Over the limit: refused before anything is decided.
	cmd.Limit, cmd.Progress = 500, nil
	var v *webhook.ValidationError
	if _, err := r.Replay(context.Background(), cmd, caller()); !errors.As(err, &v) || v.Problems[0].Field != "filter" {
		t.Errorf("a filter selecting 601 with a limit of 500: %v, want a validation error on filter", err)
	}
}

func TestReplayOfDeletedWebhooks(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	kept, gone := f.create(t), f.create(t)
	keptID, goneID := f.deliver(t, kept, 500), f.deliver(t, gone, 500)
	if _, err := f.webhooks.Delete(context.Background(), command.DeleteWebhook{TenantID: "t1", CommunityID: "c1", WebhookID: gone.ID()}, caller()); err != nil {
		t.Fatal(err)
	}
	r := newReplays(t, f, nil, &selector{ids: []string{goneID, keptID}})

	if _, err := r.Replay(context.Background(), byIDs(gone, delivery.ReplayCurrent, goneID), caller()); !errors.Is(err, webhook.ErrNotFound) {
		t.Errorf("replay to a deleted webhook: %v, want not found", err)
	}
	elsewhere := byIDs(kept, delivery.ReplayCurrent, keptID)
	elsewhere.CommunityID = "c2"
	if _, err := r.Replay(context.Background(), elsewhere, caller()); !errors.Is(err, webhook.ErrNotFound) {
		t.Errorf("replay to a webhook of another community: %v, want not found", err)
	}

	// Across the community: the deleted webhook's delivery is left alone.
	res, err := r.Replay(context.Background(), command.Replay{TenantID: "t1", CommunityID: "c1", Mode: delivery.ReplayCurrent,
		Filter: command.DeliveryFilter{Status: delivery.StatusFailed}}, caller())
	if err != nil || res.Replayed != 1 || res.WebhookGone != 1 {
		t.Fatalf("community-wide replay: %+v, %v; want 1 replayed, 1 of a deleted webhook", res, err)
	}
	if n := len(f.replayRequests(t, goneID)); n != 0 {
		t.Errorf("the deleted webhook's delivery got %d replay requests", n)
	}
}

// racingLog lets another writer append to a delivery's stream just before the replay's append, as
// a concurrent replay and the pipeline would.
type racingLog struct {
	command.EventLog
	once  sync.Once
	race  func()
	calls int
}

func (l *racingLog) Append(ctx context.Context, stream string, expected eventlog.ExpectedRevision, events []eventlog.EventData) (eventlog.AppendResult, error) {
	l.calls++
	l.once.Do(l.race)
	return l.EventLog.Append(ctx, stream, expected, events)
}

func TestReplayConflictReloadsAndTriesOnceMore(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	w := f.create(t)
	ctx := context.Background()

	// Someone else replays the delivery first, and it fails again before this replay tries again:
	// finished once more, so the second try replays it.
	again := f.deliver(t, w, 500)
	log := &racingLog{EventLog: f.store}
	log.race = func() {
		d := f.loadDelivery(t, again)
		if err := d.RequestReplay(delivery.ReplayCurrent, "someone", replayT0); err != nil {
			t.Error(err)
		}
		f.appendChanges(t, d)
		f.attempt(t, again, 500)
	}
	res, err := newReplays(t, f, log, &selector{}).Replay(ctx, byIDs(w, delivery.ReplayOriginal, again), caller())
	if err != nil || res.Replayed != 1 || log.calls != 2 {
		t.Fatalf("%+v, %v after %d appends; want replayed on the second append", res, err, log.calls)
	}
	if requests := f.replayRequests(t, again); len(requests) != 2 || requests[1].Mode != delivery.ReplayOriginal {
		t.Errorf("replay requests %+v, want someone's and then this one", requests)
	}

	// Someone else's replay is still in flight when this one reloads: skipped.
	inFlight := f.deliver(t, w, 500)
	log = &racingLog{EventLog: f.store}
	log.race = func() {
		d := f.loadDelivery(t, inFlight)
		if err := d.RequestReplay(delivery.ReplayCurrent, "someone", replayT0); err != nil {
			t.Error(err)
		}
		f.appendChanges(t, d)
	}
	res, err = newReplays(t, f, log, &selector{}).Replay(ctx, byIDs(w, delivery.ReplayOriginal, inFlight), caller())
	if err != nil || res.Skipped != 1 || res.Replayed != 0 {
		t.Fatalf("%+v, %v; want skipped", res, err)
	}
	if n := len(f.replayRequests(t, inFlight)); n != 1 {
		t.Errorf("%d replay requests, want someone's only", n)
	}
}

func TestReplayRefusesBadInputAndAppendsNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	w := f.create(t)
	id := f.deliver(t, w, 500)
	before := f.lastPosition(t)
	r := newReplays(t, f, nil, &selector{ids: []string{id}})
	valid := func(change func(*command.Replay)) command.Replay {
		cmd := byIDs(w, delivery.ReplayCurrent, id)
		change(&cmd)
		return cmd
	}
	tooMany := make([]string, command.MaxReplayIDs+1)
	for i := range tooMany {
		tooMany[i] = uuid.NewString()
	}
	for _, c := range []struct {
		name  string
		cmd   command.Replay
		field string
	}{
		{"ids and a filter", valid(func(c *command.Replay) { c.Filter.Status = delivery.StatusFailed }), "deliveryIds"},
		{"neither", valid(func(c *command.Replay) { c.DeliveryIDs = nil }), "deliveryIds"},
		{"no ids", valid(func(c *command.Replay) { c.DeliveryIDs = []string{} }), "deliveryIds"},
		{"too many ids", valid(func(c *command.Replay) { c.DeliveryIDs = tooMany }), "deliveryIds"},
		{"an empty id", valid(func(c *command.Replay) { c.DeliveryIDs = []string{id, ""} }), "deliveryIds[1]"},
		{"no mode", valid(func(c *command.Replay) { c.Mode = delivery.ReplayMode{} }), "mode"},
		{"bad tenant", valid(func(c *command.Replay) { c.TenantID = "t 1" }), "tenantId"},
		{"from after to", valid(func(c *command.Replay) {
			c.DeliveryIDs, c.Filter = nil, command.DeliveryFilter{From: replayT0, To: replayT0.Add(-time.Second)}
		}), "from"},
		{"from equal to", valid(func(c *command.Replay) {
			c.DeliveryIDs, c.Filter = nil, command.DeliveryFilter{From: replayT0, To: replayT0}
		}), "from"},
		{"bad event name", valid(func(c *command.Replay) {
			c.DeliveryIDs, c.Filter = nil, command.DeliveryFilter{EventName: "E LOGIN"}
		}), "eventName"},
	} {
		_, err := r.Replay(context.Background(), c.cmd, caller())
		var v *webhook.ValidationError
		if !errors.As(err, &v) || v.Problems[0].Field != c.field {
			t.Errorf("%s: %v, want a validation error on %s", c.name, err, c.field)
		}
	}
	if after := f.lastPosition(t); after != before {
		t.Errorf("bad input moved the log from %v to %v", before, after)
	}
}

// handedOver is a Scheduler that records what it is handed, or fails with err.
type handedOver struct {
	mu  sync.Mutex
	ids []string
	err error
}

func (h *handedOver) Schedule(_ context.Context, id string, _ time.Time) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.err != nil {
		return h.err
	}
	h.ids = append(h.ids, id)
	return nil
}

// TestReplayHandsOverWhatItReplays: a replay in a process that delivers hands each delivery it
// replays to the scheduler, and no other; a dry run hands none; a scheduler error stops the replay
// with that error.
func TestReplayHandsOverWhatItReplays(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	w := f.create(t)
	succeeded, failed, inFlight := f.deliver(t, w, 200), f.deliver(t, w, 500), f.deliver(t, w, 0)
	scheduler := &handedOver{}
	r := newReplays(t, f, nil, &selector{}).HandingOverTo(scheduler)

	cmd := byIDs(w, delivery.ReplayCurrent, succeeded, failed, inFlight)
	cmd.DryRun = true
	if _, err := r.Replay(context.Background(), cmd, command.Caller{Actor: "cli"}); err != nil {
		t.Fatal(err)
	}
	if len(scheduler.ids) != 0 {
		t.Fatalf("a dry run handed over %v", scheduler.ids)
	}
	cmd.DryRun = false
	if _, err := r.Replay(context.Background(), cmd, command.Caller{Actor: "cli"}); err != nil {
		t.Fatal(err)
	}
	want := []string{succeeded, failed}
	if got := slices.Sorted(slices.Values(scheduler.ids)); !slices.Equal(got, slices.Sorted(slices.Values(want))) {
		t.Fatalf("handed over %v, want the two finished deliveries %v", got, want)
	}

	scheduler.err = errors.New("the transport is full")
	f.attempt(t, succeeded, 200)
	_, err := r.Replay(context.Background(), byIDs(w, delivery.ReplayCurrent, succeeded), command.Caller{Actor: "cli"})
	if !errors.Is(err, scheduler.err) {
		t.Fatalf("Replay with a failing scheduler returned %v, want its error", err)
	}
}

// A replay by id of a delivery whose body is built from its published event (body format 1) is
// refused as expired, appending nothing, when the log no longer holds the event; one whose event
// is there is replayed, and so is one whose body is recorded (format 0), event or not.
func TestReplayRefusesDeliveriesWhoseEventExpired(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	w := f.create(t)
	events, err := command.NewEvents(f.store, f.codec, func() time.Time { return replayT0 })
	if err != nil {
		t.Fatal(err)
	}
	kept, _, err := events.Publish(context.Background(), command.PublishEvent{TenantID: w.TenantID(), CommunityID: w.CommunityID(),
		Name: "E_LOGIN", Payload: []byte(`{}`)}, command.Caller{Actor: "test"})
	if err != nil {
		t.Fatal(err)
	}
	builtFrom := func(eventID string) string {
		d, err := delivery.Schedule(delivery.Scheduling{
			EventID: eventID, WebhookID: w.ID(), TenantID: w.TenantID(), CommunityID: w.CommunityID(),
			EventName: "E_LOGIN", BodyFormat: delivery.BodyBuiltV1, Settings: delivery.SnapshotOf(w.Settings()), At: replayT0,
		})
		if err != nil {
			t.Fatal(err)
		}
		f.appendChanges(t, d)
		f.attempt(t, d.ID(), 500)
		return d.ID()
	}
	withEvent, expired, recorded := builtFrom(kept), builtFrom(uuid.NewString()), f.deliver(t, w, 500)
	r := newReplays(t, f, nil, &selector{})
	head := f.lastPosition(t)

	_, err = r.Replay(context.Background(), byIDs(w, delivery.ReplayOriginal, withEvent, expired, recorded), command.Caller{Actor: "test"})
	var gone *delivery.ExpiredError
	if !errors.As(err, &gone) || !gone.Event || !slices.Equal(gone.IDs, []string{expired}) {
		t.Fatalf("Replay = %v, want an ExpiredError of the event naming %s", err, expired)
	}
	if f.lastPosition(t) != head {
		t.Error("a refused replay appended to the log")
	}
	// Another webhook's replay learns nothing of the id: it is not found.
	other := f.create(t)
	res, err := r.Replay(context.Background(), byIDs(other, delivery.ReplayOriginal, expired), command.Caller{Actor: "test"})
	if err != nil || !slices.Equal(res.NotFound, []string{expired}) {
		t.Errorf("another webhook's replay of the id = %+v, %v; want it not found", res, err)
	}
	res, err = r.Replay(context.Background(), byIDs(w, delivery.ReplayOriginal, withEvent, recorded), command.Caller{Actor: "test"})
	if err != nil || res.Replayed != 2 {
		t.Errorf("Replay of the others = %+v, %v; want both replayed", res, err)
	}
}
