package command_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/hookd/hookd/application/command"
	"github.com/hookd/hookd/application/eventcodec"
	"github.com/hookd/hookd/domain/eventlog"
	"github.com/hookd/hookd/domain/publication"
	"github.com/hookd/hookd/domain/webhook"
)

// newEvents returns the publish commands on the fixture's store, with a codec of their own.
func newEvents(t *testing.T, f *fixture) *command.Events {
	t.Helper()
	registry, err := eventcodec.NewRegistry(eventcodec.HookdEvents()...)
	if err != nil {
		t.Fatal(err)
	}
	codec, err := eventcodec.New(registry, noSeal{})
	if err != nil {
		t.Fatal(err)
	}
	events, err := command.NewEvents(f.store, codec, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	return events
}

// noSeal leaves secrets as they are: published events have none.
type noSeal struct{}

func (noSeal) Seal(plain, _ string) (string, error)  { return plain, nil }
func (noSeal) Open(sealed, _ string) (string, error) { return sealed, nil }

func event(name, key string) command.PublishEvent {
	return command.PublishEvent{
		TenantID: "t1", CommunityID: "c1", Name: name, Payload: json.RawMessage(`{"n": 1}`), IdempotencyKey: key,
	}
}

func TestPublishWithTheSameKeyPublishesOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	events := newEvents(t, f)
	ctx := context.Background()

	id, res, err := events.Publish(ctx, event("E_LOGIN", "k1"), caller())
	if err != nil {
		t.Fatal(err)
	}
	if !res.Changed || res.Position == eventlog.Start {
		t.Errorf("first publish: %+v, want a change at a position", res)
	}
	if _, err := uuid.Parse(id); err != nil {
		t.Errorf("event id %q is no UUID", id)
	}
	// Again, by another request, even with another name and payload: the first write wins.
	again := event("E_OTHER", "k1")
	again.Payload = json.RawMessage(`{"n": 2}`)
	id2, res2, err := events.Publish(ctx, again, caller())
	if err != nil {
		t.Fatal(err)
	}
	if id2 != id || res2.Changed {
		t.Errorf("republish: id %s changed %v, want %s unchanged", id2, res2.Changed, id)
	}
	records, err := f.store.ReadStream(ctx, publication.Stream(id), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(records) != 1 || records[0].Type != publication.EventPublished {
		t.Fatalf("stream %s holds %d events, want one %s", publication.Stream(id), len(records), publication.EventPublished)
	}
	var p publication.Published
	if err := json.Unmarshal(records[0].Data, &p); err != nil {
		t.Fatal(err)
	}
	if p.EventID != id || p.Name != "E_LOGIN" || string(p.Payload) != `{"n":1}` || p.Publisher != "test" || p.IdempotencyKey != "k1" ||
		p.DeliveryIDs != publication.OrderedDeliveryIDs {
		t.Errorf("stored %+v, want the first publication", p)
	}
}

func TestPublishIDsDifferByKeyAndScope(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	events := newEvents(t, f)
	ctx := context.Background()
	other := event("E_LOGIN", "k1")
	other.CommunityID = "c2"
	seen := map[string]bool{}
	for _, e := range []command.PublishEvent{event("E_LOGIN", "k1"), event("E_LOGIN", "k2"), other, event("E_LOGIN", ""), event("E_LOGIN", "")} {
		id, res, err := events.Publish(ctx, e, caller())
		if err != nil {
			t.Fatal(err)
		}
		if seen[id] || !res.Changed {
			t.Errorf("%+v: id %s (changed %v) is not new", e, id, res.Changed)
		}
		seen[id] = true
	}
}

// TestPublishIDsFollowTime: without an idempotency key, event ids are UUIDv7, each after the one
// before, so that indexes by event id grow at their end.
func TestPublishIDsFollowTime(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	events := newEvents(t, f)
	var last string
	for range 50 {
		id, _, err := events.Publish(context.Background(), event("E_LOGIN", ""), caller())
		if err != nil {
			t.Fatal(err)
		}
		if u, err := uuid.Parse(id); err != nil || u.Version() != 7 {
			t.Fatalf("event id %s is not a UUIDv7 (%v)", id, err)
		}
		if id <= last {
			t.Fatalf("event id %s does not sort after the one before, %s", id, last)
		}
		last = id
	}
}

func TestPublishBatch(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	events := newEvents(t, f)
	ctx := context.Background()

	first, _, err := events.Publish(ctx, event("E_LOGIN", "k0"), caller())
	if err != nil {
		t.Fatal(err)
	}
	batch := []command.PublishEvent{event("E_A", "k0"), event("E_B", "k1"), event("E_C", "")}
	ids, res, err := events.PublishBatch(ctx, batch, caller())
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 3 || ids[0] != first || ids[1] == ids[2] || ids[1] == first {
		t.Fatalf("ids %v, want %s first and two new ones", ids, first)
	}
	last, err := f.store.LastPosition(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Changed || res.Position != last {
		t.Errorf("result %+v, want a change at the last position %v", res, last)
	}
	for _, id := range ids {
		if n := f.streamLength(t, publication.Stream(id)); n != 1 {
			t.Errorf("stream of %s holds %d events, want 1", id, n)
		}
		records, err := f.store.ReadStream(ctx, publication.Stream(id), 0, 0)
		var p publication.Published
		if err != nil || len(records) != 1 || json.Unmarshal(records[0].Data, &p) != nil || !p.OrderedIDs() {
			t.Errorf("event %s in the log: %v, want it to give its deliveries ordered ids", id, err)
		}
	}
}

func TestPublishBatchWithAnInvalidEventPublishesNothing(t *testing.T) {
	t.Parallel()
	huge := event("E_OK", "")
	huge.Payload = json.RawMessage(`{"x":"` + strings.Repeat("a", publication.MaxPayloadBytes) + `"}`)
	notObject := event("E_OK", "")
	notObject.Payload = json.RawMessage(`[1]`)
	for _, tc := range []struct {
		name    string
		bad     command.PublishEvent
		mention string
		tooBig  bool
	}{
		{"name", event("bad name!", ""), "events[3].eventName", false},
		{"payload", notObject, "events[3].payload", false},
		{"too large", huge, "events[3].payload", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			events := newEvents(t, f)
			ctx := context.Background()
			batch := []command.PublishEvent{event("E_A", "a"), event("E_B", "b"), event("E_C", "c"), tc.bad, event("E_D", "d")}
			_, _, err := events.PublishBatch(ctx, batch, caller())
			var v *webhook.ValidationError
			if tc.tooBig != errors.Is(err, publication.ErrPayloadTooLarge) || (!tc.tooBig && !errors.As(err, &v)) {
				t.Fatalf("error %v (%T), want a validation error or ErrPayloadTooLarge", err, err)
			}
			if !strings.Contains(err.Error(), tc.mention) {
				t.Errorf("error %q does not name %s", err, tc.mention)
			}
			if pos, err := f.store.LastPosition(ctx); err != nil || pos != eventlog.Start {
				t.Errorf("the log is at %v (%v), want nothing appended", pos, err)
			}
		})
	}
}

func TestPublishBatchBounds(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	events := newEvents(t, f)
	for _, n := range []int{0, command.MaxBatch + 1} {
		batch := make([]command.PublishEvent, n)
		for i := range batch {
			batch[i] = event("E", "")
		}
		if _, _, err := events.PublishBatch(context.Background(), batch, caller()); err == nil || !strings.Contains(err.Error(), "events") {
			t.Errorf("a batch of %d: error %v, want one naming events", n, err)
		}
	}
}
