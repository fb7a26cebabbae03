package dispatch_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/hookd/hookd/adapters/eventstore/sqlitestore"
	"github.com/hookd/hookd/adapters/webhooksig"
	"github.com/hookd/hookd/application/command"
	"github.com/hookd/hookd/application/dispatch"
	"github.com/hookd/hookd/application/eventcodec"
	"github.com/hookd/hookd/domain/delivery"
	"github.com/hookd/hookd/domain/eventlog"
	"github.com/hookd/hookd/domain/platform"
	"github.com/hookd/hookd/domain/publication"
	"github.com/hookd/hookd/domain/webhook"
	"github.com/hookd/hookd/internal/readmodeltest"
)

// harness is a Dispatcher over the real embedded store, with the candidates the test gives and a
// scheduler that records what it is handed.
type harness struct {
	t           *testing.T
	store       *sqlitestore.Store
	codec       *eventcodec.Codec
	events      *command.Events
	deliveries  *command.Deliveries
	platformURL string
	remember    int // Ports.Remember of the Dispatchers made after it is set
	candidates  []dispatch.Candidate
	d           *dispatch.Dispatcher

	mu          sync.Mutex
	handed      []string
	scheduleErr error
	kept        map[string]string // the bodies given to Bodies, by event id and name
}

// Keep records the body kept for an event's deliveries.
func (h *harness) Keep(eventID, eventName string, body []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.kept == nil {
		h.kept = map[string]string{}
	}
	h.kept[eventID+" "+eventName] = string(body)
}

func (h *harness) keptBody(eventID, eventName string) (string, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	body, ok := h.kept[eventID+" "+eventName]
	return body, ok
}

func newHarness(t *testing.T, platformURL string) *harness {
	t.Helper()
	store, err := sqlitestore.Open(t.Context(), filepath.Join(t.TempDir(), "events.db"), sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	codec := readmodeltest.Codec(t)
	h := &harness{t: t, store: store, codec: codec, platformURL: platformURL}
	if h.events, err = command.NewEvents(store, codec, time.Now); err != nil {
		t.Fatal(err)
	}
	if h.deliveries, err = command.NewDeliveries(store, codec, time.Now); err != nil {
		t.Fatal(err)
	}
	h.d = h.newDispatcher()
	return h
}

// newDispatcher returns a Dispatcher on the harness's log, as a process started anew has.
func (h *harness) newDispatcher() *dispatch.Dispatcher {
	h.t.Helper()
	return h.newDispatcherAfter(nil)
}

// newDispatcherAfter returns a Dispatcher on the harness's log that takes over after a recovery,
// as a new dispatch leader has.
func (h *harness) newDispatcherAfter(takeover *dispatch.Takeover) *dispatch.Dispatcher {
	h.t.Helper()
	d, err := dispatch.New(dispatch.Ports{
		Takeover: takeover,
		Decode: func(r eventlog.RecordedEvent) (interface{ EventName() string }, error) {
			return h.codec.DecodeSealed(r)
		},
		Metadata: h.codec.DecodeMetadata,
		Candidates: func(_ context.Context, tenantID, communityID, _ string) ([]dispatch.Candidate, error) {
			if communityID != "c1" {
				return nil, nil
			}
			return h.candidates, nil
		},
		WebhooksAt:  func(context.Context, eventlog.Position) error { return nil },
		Body:        webhooksig.Body,
		Bodies:      h,
		Deliveries:  h.deliveries,
		Head:        h.store.LastPosition,
		Scheduler:   h,
		Clock:       time.Now,
		PlatformURL: h.platformURL,
		Remember:    h.remember,
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return d
}

// Schedule records the delivery handed over, or fails with scheduleErr.
func (h *harness) Schedule(_ context.Context, id string, _ time.Time) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.scheduleErr != nil {
		return h.scheduleErr
	}
	h.handed = append(h.handed, id)
	return nil
}

// publish publishes an event and returns its id.
func (h *harness) publish(tenant, name, payload string) string {
	h.t.Helper()
	id, _, err := h.events.Publish(context.Background(), command.PublishEvent{
		TenantID: tenant, CommunityID: "c1", Name: name, Payload: json.RawMessage(payload),
	}, command.Caller{Actor: "test"})
	if err != nil {
		h.t.Fatal(err)
	}
	return id
}

// deliveryID is the id of the delivery of an event published through the harness to a webhook: an
// ordered id, from the time the log recorded for the publication.
func (h *harness) deliveryID(eventID, webhookID string) string {
	h.t.Helper()
	records, err := h.store.ReadStream(context.Background(), publication.Stream(eventID), 0, 0)
	if err != nil || len(records) != 1 {
		h.t.Fatalf("reading event %s: %d records, %v", eventID, len(records), err)
	}
	md, err := h.codec.DecodeMetadata(records[0])
	if err != nil {
		h.t.Fatal(err)
	}
	return delivery.OrderedID(eventID, webhookID, md.OccurredAt)
}

// log returns every event in the log after position after.
func (h *harness) log(after eventlog.Position) []eventlog.RecordedEvent {
	h.t.Helper()
	all, err := h.store.ReadAll(context.Background(), after, 0)
	if err != nil {
		h.t.Fatal(err)
	}
	return all
}

// scheduledIn returns the delivery ids of the DeliveryScheduled events among events.
func scheduledIn(events []eventlog.RecordedEvent) []string {
	var ids []string
	for _, r := range events {
		if r.Type == delivery.EventScheduled {
			ids = append(ids, r.Stream[len(delivery.StreamPrefix):])
		}
	}
	slices.Sort(ids)
	return ids
}

// taken returns the deliveries handed over, sorted, and forgets them.
func (h *harness) taken() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	handed := slices.Sorted(slices.Values(h.handed))
	h.handed = nil
	return handed
}

func candidate(id string, createdAt time.Time, query ...webhook.QueryEntry) dispatch.Candidate {
	return dispatch.Candidate{ID: id, CreatedAt: createdAt, Settings: webhook.Settings{
		Name: id, EventNames: []string{"user.created"}, Query: query, Criteria: webhook.CriteriaAll,
		API: webhook.Endpoint{URL: "https://receiver.example/" + id}, SuccessCodes: []int{200},
	}}
}

// TestProcessSchedulesEachMatchOnce: a published event becomes one delivery per candidate that was
// created before it and whose query matches, with the id of the event and the webhook, handed to
// the scheduler; processing the same events again appends nothing.
func TestProcessSchedulesEachMatchOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "")
	before := time.Now().Add(-time.Hour)
	h.candidates = []dispatch.Candidate{
		candidate("plain", before),
		candidate("pro-only", before, webhook.QueryEntry{Key: "user.plan", Value: "pro"}),
		candidate("free-only", before, webhook.QueryEntry{Key: "user.plan", Value: "free"}),
		candidate("created-later", time.Now().Add(time.Hour)),
	}
	event := h.publish("t1", "user.created", `{"user":{"plan":"pro"}}`)
	published := h.log(eventlog.Start)
	if err := h.d.Process(context.Background(), published); err != nil {
		t.Fatal(err)
	}
	want := []string{h.deliveryID(event, "plain"), h.deliveryID(event, "pro-only")}
	slices.Sort(want)
	after := h.log(published[len(published)-1].Position)
	if got := scheduledIn(after); !slices.Equal(got, want) {
		t.Fatalf("scheduled %v, want %v (plain and pro-only)", got, want)
	}
	if handed := h.taken(); !slices.Equal(handed, want) {
		t.Fatalf("handed over %v, want %v", handed, want)
	}
	// Each delivery keeps when its event was accepted, the accept-to-deliver latency's start.
	md, err := h.codec.DecodeMetadata(published[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range after {
		var scheduled struct {
			DeliveryID  string    `json:"deliveryId"`
			PublishedAt time.Time `json:"publishedAt"`
		}
		if err := json.Unmarshal(r.Data, &scheduled); err != nil {
			t.Fatal(err)
		}
		if !scheduled.PublishedAt.Equal(md.OccurredAt) || scheduled.PublishedAt.IsZero() {
			t.Fatalf("delivery %s published at %v, want the event's %v", scheduled.DeliveryID, scheduled.PublishedAt, md.OccurredAt)
		}
	}

	// The same events again, as after a crash before the checkpoint: nothing new in the log.
	if err := h.newDispatcher().Process(context.Background(), published); err != nil {
		t.Fatal(err)
	}
	if again := h.log(published[len(published)-1].Position); len(again) != len(after) {
		t.Fatalf("processing again appended %d events", len(again)-len(after))
	}
	// Its own DeliveryScheduled coming back through the log is not handed over again.
	if err := h.d.Process(context.Background(), after); err != nil {
		t.Fatal(err)
	}
	if handed := h.taken(); len(handed) != 0 {
		t.Fatalf("handed over %v again, want nothing", handed)
	}
}

// TestProcessRemembersABoundedNumberOfHandOvers: a Dispatcher that handed over more deliveries than
// it may remember, before reading any of them back from the log, hands over again those it did not
// remember when their DeliveryScheduled comes, and only those: memory stays bounded, and no delivery
// is left without a hand-over.
func TestProcessRemembersABoundedNumberOfHandOvers(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "")
	h.remember = 2
	h.d = h.newDispatcher()
	before := time.Now().Add(-time.Hour)
	h.candidates = []dispatch.Candidate{candidate("a", before), candidate("b", before), candidate("c", before)}
	h.publish("t1", "user.created", `{}`)
	h.publish("t1", "user.created", `{}`)
	published := h.log(eventlog.Start)
	if err := h.d.Process(context.Background(), published); err != nil {
		t.Fatal(err)
	}
	scheduled := h.log(published[len(published)-1].Position)
	ids := scheduledIn(scheduled)
	if handed := h.taken(); len(ids) != 6 || !slices.Equal(handed, ids) {
		t.Fatalf("handed over %v, want the 6 deliveries scheduled %v", handed, ids)
	}
	if err := h.d.Process(context.Background(), scheduled); err != nil {
		t.Fatal(err)
	}
	again := h.taken()
	if len(again) != 4 {
		t.Fatalf("handed over %v again, want the 4 of 6 it did not remember", again)
	}
	for _, id := range again {
		if !slices.Contains(ids, id) || slices.Contains(again[:slices.Index(again, id)], id) {
			t.Fatalf("handed over %v again, want 4 distinct deliveries of %v", again, ids)
		}
	}
	// Having read them back, it remembers none: room again for the next.
	h.publish("t1", "user.created", `{}`)
	next := h.log(scheduled[len(scheduled)-1].Position)
	if err := h.d.Process(context.Background(), next); err != nil {
		t.Fatal(err)
	}
	h.taken()
	if err := h.d.Process(context.Background(), h.log(next[len(next)-1].Position)); err != nil {
		t.Fatal(err)
	}
	if handed := h.taken(); len(handed) != 1 {
		t.Fatalf("handed over %v again of the next 3, want the 1 it had no room to remember", handed)
	}
}

// TestProcessFailsOnASchedulerErrorAndHandsOverWhenRetried: a delivery the scheduler refused fails
// the batch, so the checkpoint stays before it; the batch processed again by the same Dispatcher
// hands it over, although its DeliveryScheduled is in the log already. A Dispatcher started anew
// leaves deliveries scheduled before it to the recovery at start.
func TestProcessFailsOnASchedulerErrorAndHandsOverWhenRetried(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "")
	h.candidates = []dispatch.Candidate{candidate("plain", time.Now().Add(-time.Hour))}
	event := h.publish("t1", "user.created", `{}`)
	published := h.log(eventlog.Start)
	h.scheduleErr = errors.New("the transport is full")
	if err := h.d.Process(context.Background(), published); err == nil {
		t.Fatal("Process returned nil while the scheduler failed")
	}
	if got := scheduledIn(h.log(published[len(published)-1].Position)); len(got) != 1 {
		t.Fatalf("scheduled %v, want the delivery in the log", got)
	}
	h.scheduleErr = nil
	if err := h.d.Process(context.Background(), published); err != nil {
		t.Fatal(err)
	}
	if handed := h.taken(); !slices.Equal(handed, []string{h.deliveryID(event, "plain")}) {
		t.Fatalf("handed over %v when the batch was retried, want the delivery", handed)
	}
	if err := h.newDispatcher().Process(context.Background(), published); err != nil {
		t.Fatal(err)
	}
	if handed := h.taken(); len(handed) != 0 {
		t.Fatalf("a new Dispatcher handed over %v, want nothing (the recovery's)", handed)
	}
}

// TestProcessHandsOverDeliveriesScheduledElsewhere: a DeliveryScheduled this Dispatcher did not
// append (another writer's) is handed to the scheduler when it comes through the log.
func TestProcessHandsOverDeliveriesScheduledElsewhere(t *testing.T) {
	t.Parallel()
	first := newHarness(t, "")
	first.candidates = []dispatch.Candidate{candidate("plain", time.Now().Add(-time.Hour))}
	event := first.publish("t1", "user.created", `{}`)
	if err := first.d.Process(context.Background(), first.log(eventlog.Start)); err != nil {
		t.Fatal(err)
	}
	// A second Dispatcher on another log reads the first log's DeliveryScheduled.
	second := newHarness(t, "")
	if err := second.d.Process(context.Background(), first.log(eventlog.Start)[1:]); err != nil {
		t.Fatal(err)
	}
	if handed := second.taken(); !slices.Equal(handed, []string{first.deliveryID(event, "plain")}) {
		t.Fatalf("handed over %v, want the delivery", handed)
	}
}

// TestProcessHandsOverReplays: a DeliveryReplayRequested in the log, appended by this process or
// another, is handed to the scheduler; a scheduler error fails the batch.
func TestProcessHandsOverReplays(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "")
	replay := []eventlog.RecordedEvent{{Stream: delivery.Stream("d1"), Type: delivery.EventReplayRequested}}
	if err := h.d.Process(context.Background(), replay); err != nil {
		t.Fatal(err)
	}
	if handed := h.taken(); !slices.Equal(handed, []string{"d1"}) {
		t.Fatalf("handed over %v, want d1", handed)
	}
	h.scheduleErr = errors.New("the transport is full")
	if err := h.d.Process(context.Background(), replay); err == nil {
		t.Fatal("Process returned nil while the scheduler failed")
	}
}

// TestProcessAfterTakeover: a leader stops after scheduling deliveries, before its checkpoint passes
// them, and before it handed over a replay. Its successor recovers what is due, then goes over the
// log from the last checkpoint: it hands over none of the last leader's DeliveryScheduled (the
// recovery covered them; another node may be attempting them), and of the replays before the
// takeover only the one the transport does not hold. What comes after the takeover is handed over
// as ever.
func TestProcessAfterTakeover(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "")
	h.candidates = []dispatch.Candidate{candidate("a", time.Now().Add(-time.Hour)), candidate("b", time.Now().Add(-time.Hour))}
	event := h.publish("t1", "user.created", `{}`)
	if err := h.d.Process(t.Context(), h.log(eventlog.Start)); err != nil {
		t.Fatal(err)
	}
	if handed := h.taken(); len(handed) != 2 {
		t.Fatalf("the first leader handed over %v, want its 2 deliveries", handed)
	}
	at, err := h.store.LastPosition(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	held := map[string]bool{h.deliveryID(event, "a"): true, "replayed-held": true}
	var asked []string
	successor := h.newDispatcherAfter(&dispatch.Takeover{At: at, Holds: func(_ context.Context, id string) (bool, error) {
		asked = append(asked, id)
		return held[id], nil
	}})
	replays := []eventlog.RecordedEvent{
		{Stream: delivery.Stream("replayed-held"), Type: delivery.EventReplayRequested, Position: at},
		{Stream: delivery.Stream("replayed-not-held"), Type: delivery.EventReplayRequested, Position: at},
	}
	// The successor starts from the checkpoint before the publication: the log's DeliveryScheduled
	// come back to it as another writer's.
	if err := successor.Process(t.Context(), append(h.log(eventlog.Start), replays...)); err != nil {
		t.Fatal(err)
	}
	if handed := h.taken(); !slices.Equal(handed, []string{"replayed-not-held"}) {
		t.Errorf("the successor handed over %v, want only the replay the transport does not hold", handed)
	}
	if want := []string{"replayed-held", "replayed-not-held"}; !slices.Equal(asked, want) {
		t.Errorf("the transport was asked about %v, want %v (the replays only)", asked, want)
	}

	// After the takeover: a new publication's deliveries, and a replay even of a delivery held.
	next := h.publish("t1", "user.created", `{}`)
	after := h.log(at)
	last := after[len(after)-1].Position
	after = append(after, eventlog.RecordedEvent{Stream: delivery.Stream("replayed-held"), Type: delivery.EventReplayRequested,
		Position: eventlog.Position{Commit: last.Commit + 1, Prepare: last.Prepare + 1}})
	if err := successor.Process(t.Context(), after); err != nil {
		t.Fatal(err)
	}
	want := []string{h.deliveryID(next, "a"), h.deliveryID(next, "b"), "replayed-held"}
	slices.Sort(want)
	if handed := h.taken(); !slices.Equal(handed, want) {
		t.Errorf("after the takeover the successor handed over %v, want %v", handed, want)
	}
}

// TestProcessPlatformEvents: a platform event goes to WEBHOOK_URL when it is set, and nowhere
// otherwise; the scope's webhooks never see it.
func TestProcessPlatformEvents(t *testing.T) {
	t.Parallel()
	for _, url := range []string{"", "https://platform.example/hook"} {
		h := newHarness(t, url)
		h.candidates = []dispatch.Candidate{candidate("plain", time.Now().Add(-time.Hour))}
		event := h.publish(platform.Scope, "user.created", `{}`)
		published := h.log(eventlog.Start)
		if err := h.d.Process(context.Background(), published); err != nil {
			t.Fatal(err)
		}
		var want []string
		if url != "" {
			want = []string{h.deliveryID(event, platform.WebhookID)}
		}
		if got := scheduledIn(h.log(published[len(published)-1].Position)); !slices.Equal(got, want) {
			t.Errorf("WEBHOOK_URL %q: scheduled %v, want %v", url, got, want)
		}
	}
}

// appendRaw appends an EventPublished to the log as another writer (or an older hookd) could, past
// publish's rules: data is the record's JSON as it is stored.
func (h *harness) appendRaw(eventID string, data []byte) {
	h.t.Helper()
	meta, err := json.Marshal(eventlog.Metadata{OccurredAt: time.Now().UTC(), Actor: "elsewhere"})
	if err != nil {
		h.t.Fatal(err)
	}
	_, err = h.store.Append(context.Background(), publication.Stream(eventID), eventlog.NoStream(), []eventlog.EventData{{
		ID: eventlog.EventID(uuid.New()), Type: publication.EventPublished, Data: data, Metadata: meta,
	}})
	if err != nil {
		h.t.Fatal(err)
	}
}

// poisonRecord is an EventPublished of tenant in c1 whose payload is given as raw JSON text (or
// left out when empty).
func poisonRecord(eventID, tenant, payload string) []byte {
	record := `{"eventId":"` + eventID + `","tenantId":"` + tenant + `","communityId":"c1","name":"user.created","publisher":"elsewhere"`
	if payload != "" {
		record += `,"payload":` + payload
	}
	return []byte(record + "}")
}

// recordedBody is what a DeliveryScheduled records of its body.
type recordedBody struct {
	Body       string `json:"body"`
	BodyFormat int    `json:"bodyFormat"`
}

// TestProcessParksPoisonAndGoesOn: events in the log that publish's rules would refuse (written
// before them, or by another writer) stop nothing. Beside other tenants' good events, in one batch:
// a payload too deep or not UTF-8 for a body is scheduled parked with reason body_unbuildable, to
// every webhook that matches it; one with no payload at all, which no query can be matched against,
// is parked for every webhook of its name; a record that does not decode, or with a scope no
// delivery takes, is passed over. The good events are scheduled and handed to the scheduler.
func TestProcessParksPoisonAndGoesOn(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "")
	h.candidates = []dispatch.Candidate{
		candidate("plain", time.Now().Add(-time.Hour)),
		candidate("pro-only", time.Now().Add(-time.Hour), webhook.QueryEntry{Key: "user.plan", Value: "pro"}),
	}
	good1 := h.publish("t1", "user.created", `{"user":{"plan":"free"}}`)
	deep := uuid.NewString()
	h.appendRaw(deep, poisonRecord(deep, "t2", `{"user":{"plan":"pro"},"a":`+strings.Repeat("[", 600)+strings.Repeat("]", 600)+`}`))
	notUTF8 := uuid.NewString()
	h.appendRaw(notUTF8, poisonRecord(notUTF8, "t3", `{"a":"`+"\xff"+`"}`))
	noPayload := uuid.NewString()
	h.appendRaw(noPayload, poisonRecord(noPayload, "t4", ""))
	h.appendRaw(uuid.NewString(), []byte(`{"eventId":`))
	badScope := uuid.NewString()
	h.appendRaw(badScope, poisonRecord(badScope, "bad tenant!", `{}`))
	good2 := h.publish("t5", "user.created", `{"user":{"plan":"pro"}}`)

	published := h.log(eventlog.Start)
	if err := h.d.Process(context.Background(), published); err != nil {
		t.Fatalf("Process = %v, want the batch done", err)
	}
	good := []string{h.deliveryID(good1, "plain"), h.deliveryID(good2, "plain"), h.deliveryID(good2, "pro-only")}
	parked := []string{delivery.ID(deep, "plain"), delivery.ID(deep, "pro-only"), delivery.ID(notUTF8, "plain"),
		delivery.ID(noPayload, "plain"), delivery.ID(noPayload, "pro-only")}
	want := slices.Sorted(slices.Values(append(slices.Clone(good), parked...)))
	if got := scheduledIn(h.log(published[len(published)-1].Position)); !slices.Equal(got, want) {
		t.Fatalf("scheduled %v,\nwant %v", got, want)
	}
	for _, id := range good {
		records, err := h.store.ReadStream(context.Background(), delivery.Stream(id), 0, 0)
		var scheduled recordedBody
		if err != nil || len(records) != 1 || json.Unmarshal(records[0].Data, &scheduled) != nil ||
			scheduled.Body != "" || scheduled.BodyFormat != delivery.BodyBuiltV1 {
			t.Errorf("good delivery %s: %d records (%v), want it scheduled in body format 1, with no body", id, len(records), err)
		}
	}
	// Each good event's body was built once and kept for the deliverer, as the deliverer builds it.
	for _, e := range []struct{ id, payload string }{{good1, `{"user":{"plan":"free"}}`}, {good2, `{"user":{"plan":"pro"}}`}} {
		want, _ := webhooksig.Body("user.created", json.RawMessage(e.payload))
		if got, ok := h.keptBody(e.id, "user.created"); !ok || got != string(want) {
			t.Errorf("body kept for event %s: %q (%v), want %s", e.id, got, ok, want)
		}
	}
	for _, id := range parked {
		records, err := h.store.ReadStream(context.Background(), delivery.Stream(id), 0, 0)
		if err != nil || len(records) != 2 || records[1].Type != delivery.EventFailed {
			t.Fatalf("parked delivery %s: %d records (%v), want DeliveryScheduled and DeliveryFailed", id, len(records), err)
		}
		var failed delivery.Failed
		if err := json.Unmarshal(records[1].Data, &failed); err != nil || failed.Reason != "body_unbuildable" || failed.Attempt != 0 {
			t.Errorf("parked delivery %s: %s, want reason body_unbuildable before any attempt", id, records[1].Data)
		}
		var scheduled recordedBody
		if err := json.Unmarshal(records[0].Data, &scheduled); err != nil || scheduled.Body != "" || scheduled.BodyFormat != delivery.BodyRecorded {
			t.Errorf("parked delivery %s: %s, want no body in format 0, as before body formats", id, records[0].Data)
		}
	}
	// The good deliveries are handed over at once; the parked ones have nothing due.
	if scheduled := h.taken(); !slices.Contains(scheduled, good[0]) || !slices.Contains(scheduled, good[2]) {
		t.Errorf("handed to the deliverer %v, want the good deliveries among them", scheduled)
	}
}

// TestProcessParksADeliveryWhoseCredentialDoesNotOpen: a webhook whose credential cannot be opened
// gets its delivery recorded with its body and parked, reason secret_unopenable; the batch goes on.
func TestProcessParksADeliveryWhoseCredentialDoesNotOpen(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "")
	locked := candidate("locked", time.Now().Add(-time.Hour))
	locked.CredentialErr = errors.New("opening the credential: message authentication failed")
	h.candidates = []dispatch.Candidate{locked, candidate("plain", time.Now().Add(-time.Hour))}
	event := h.publish("t1", "user.created", `{}`)
	if err := h.d.Process(context.Background(), h.log(eventlog.Start)); err != nil {
		t.Fatalf("Process = %v, want the batch done", err)
	}
	records, err := h.store.ReadStream(context.Background(), delivery.Stream(h.deliveryID(event, "locked")), 0, 0)
	if err != nil || len(records) != 2 || records[1].Type != delivery.EventFailed {
		t.Fatalf("the locked webhook's delivery: %d records (%v), want DeliveryScheduled and DeliveryFailed", len(records), err)
	}
	var failed delivery.Failed
	if err := json.Unmarshal(records[1].Data, &failed); err != nil || failed.Reason != "secret_unopenable" {
		t.Errorf("parked: %s, want reason secret_unopenable", records[1].Data)
	}
	if scheduled := h.taken(); !slices.Contains(scheduled, h.deliveryID(event, "plain")) {
		t.Errorf("handed to the deliverer %v, want the plain webhook's delivery", scheduled)
	}
}

// A webhook hookd disabled is announced once, as WEBHOOK_DISABLED, however often the dispatcher
// goes over its disable; one a caller disabled is announced to nobody.
func TestProcessAnnouncesWebhooksHookdDisabled(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "https://platform.example/hook")
	var mu sync.Mutex
	var announced []string
	platformPort := func(ctx context.Context, name string, payload json.RawMessage, key string) error {
		mu.Lock()
		announced = append(announced, name)
		mu.Unlock()
		_, _, err := h.events.Publish(ctx, command.PublishEvent{TenantID: platform.Scope, CommunityID: platform.Scope,
			Name: name, Payload: payload, IdempotencyKey: key}, command.Caller{Actor: command.SystemActor, RequestID: key})
		return err
	}
	d, err := dispatch.New(dispatch.Ports{
		Decode: func(r eventlog.RecordedEvent) (interface{ EventName() string }, error) {
			return h.codec.DecodeSealed(r)
		},
		Metadata:   h.codec.DecodeMetadata,
		Candidates: func(context.Context, string, string, string) ([]dispatch.Candidate, error) { return nil, nil },
		WebhooksAt: func(context.Context, eventlog.Position) error { return nil },
		Body:       webhooksig.Body, Deliveries: h.deliveries, Head: h.store.LastPosition, Scheduler: h, Clock: time.Now,
		PlatformURL: h.platformURL, Platform: platformPort,
	})
	if err != nil {
		t.Fatal(err)
	}
	webhooks, err := command.NewWebhooks(h.store, h.codec, time.Now, uuid.NewString, func() (string, error) { return "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", nil })
	if err != nil {
		t.Fatal(err)
	}
	create := func(name string) string {
		w, _, err := webhooks.Create(context.Background(), command.CreateWebhook{TenantID: "t1", CommunityID: "c1",
			Settings: webhook.Settings{Name: name, EventNames: []string{"E"}, API: webhook.Endpoint{URL: "https://example.com/h"},
				SuccessCodes: []int{200}}}, command.Caller{Actor: "test"})
		if err != nil {
			t.Fatal(err)
		}
		return w.ID()
	}
	dead, byCaller := create("dead"), create("by caller")
	if _, err := webhooks.DisableFor(context.Background(), "t1", "c1", dead, webhook.DisabledGone, time.Time{}); err != nil {
		t.Fatal(err)
	}
	disabled := true
	if _, _, err := webhooks.Update(context.Background(), command.UpdateWebhook{TenantID: "t1", CommunityID: "c1",
		WebhookID: byCaller, Disabled: &disabled}, command.Caller{Actor: "test"}); err != nil {
		t.Fatal(err)
	}
	events := h.log(eventlog.Start)
	for range 2 { // going over the same events again publishes nothing twice
		if err := d.Process(context.Background(), events); err != nil {
			t.Fatal(err)
		}
	}
	var published []publication.Published
	for _, r := range h.log(events[len(events)-1].Position) {
		if e, err := h.codec.DecodeSealed(r); err == nil {
			if p, ok := e.(publication.Published); ok {
				published = append(published, p)
			}
		}
	}
	if len(published) != 1 || published[0].Name != platform.WebhookDisabled || published[0].TenantID != platform.Scope ||
		!strings.Contains(string(published[0].Payload), dead) || !strings.Contains(string(published[0].Payload), `"reason":"gone"`) {
		t.Fatalf("published %+v, want one WEBHOOK_DISABLED for the webhook hookd disabled", published)
	}
	if len(announced) != 2 {
		t.Errorf("announced %d times over two passes, want once each (the second a repeat the log ignores)", len(announced))
	}
}

// TestProcessNamesDeliveriesAsTheirEventSays: an event published before ordered ids (its
// EventPublished has no deliveryIds) keeps the UUIDv5 delivery id it had before the upgrade, and one
// published since gets its ordered id; a dispatcher going over both again (restarted from an older
// checkpoint, a rebuild, a takeover) finds the deliveries scheduled the first time and schedules
// none twice, under either id.
func TestProcessNamesDeliveriesAsTheirEventSays(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "")
	const hook = "5f0c6d1e-8a1b-4c2d-9e3f-0a1b2c3d4e5f"
	h.candidates = []dispatch.Candidate{candidate(hook, time.Now().Add(-time.Hour))}
	const old = "0b8a3c1e-2f4d-4e6a-9b7c-1d2e3f4a5b6c"
	h.appendRaw(old, poisonRecord(old, "t1", `{"user":{"plan":"pro"}}`))
	published := h.publish("t1", "user.created", `{"user":{"plan":"pro"}}`)
	if err := h.d.Process(context.Background(), h.log(eventlog.Start)); err != nil {
		t.Fatal(err)
	}
	// The known answer is the id the code before ordered ids gave this event and webhook.
	const before = "5164a6bf-f374-59fd-bffc-a6c9ab3ab234"
	ordered := h.deliveryID(published, hook)
	want := slices.Sorted(slices.Values([]string{before, ordered}))
	if got := scheduledIn(h.log(eventlog.Start)); !slices.Equal(got, want) {
		t.Fatalf("scheduled %v, want %v (the old event's UUIDv5, the new one's ordered id)", got, want)
	}
	if ordered[14] != '8' {
		t.Errorf("the new event's delivery %s is not a UUIDv8", ordered)
	}

	head := h.log(eventlog.Start)
	again := h.newDispatcher()
	if err := again.Process(context.Background(), head); err != nil {
		t.Fatal(err)
	}
	if more := h.log(head[len(head)-1].Position); len(more) != 0 {
		t.Errorf("going over the events again appended %d records (%v), want none", len(more), scheduledIn(more))
	}
}
