package publicationview_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/hookd/hookd/domain/delivery"
	"github.com/hookd/hookd/domain/eventlog"
	"github.com/hookd/hookd/domain/publication"
	"github.com/hookd/hookd/domain/webhook"
	"github.com/hookd/hookd/internal/readmodeltest"
	"github.com/hookd/hookd/projections"
	"github.com/hookd/hookd/projections/publicationview"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// TestCountsTheDeliveriesOfEachPublication: a publication is recorded when published, and each
// DeliveryScheduled correlated with it counts, with the time of the last.
func TestCountsTheDeliveriesOfEachPublication(t *testing.T) {
	t.Parallel()
	codec := readmodeltest.Codec(t)
	db, _ := readmodeltest.TempDB(t)
	v, err := publicationview.New(db, codec)
	if err != nil {
		t.Fatal(err)
	}
	var position uint64
	record := func(stream string, e interface{ EventName() string }, md eventlog.Metadata) eventlog.RecordedEvent {
		t.Helper()
		data, err := codec.Encode(stream, eventlog.EventID{}, e, md)
		if err != nil {
			t.Fatal(err)
		}
		position++
		return eventlog.RecordedEvent{Stream: stream, Type: data.Type, Data: data.Data, Metadata: data.Metadata,
			Position: eventlog.Position{Commit: position, Prepare: position}}
	}
	const eventID = "0b8a3c1e-2f4d-4e6a-9b7c-1d2e3f4a5b6c"
	published := publication.Published{EventID: eventID, TenantID: "t1", CommunityID: "c1", Name: "E",
		Payload: json.RawMessage(`{}`), Publisher: "p"}
	records := []eventlog.RecordedEvent{record(publication.Stream(eventID), published, eventlog.Metadata{OccurredAt: t0})}
	for i, hook := range []string{"w1", "w2"} {
		d, err := delivery.Schedule(delivery.Scheduling{EventID: eventID, WebhookID: hook, TenantID: "t1", CommunityID: "c1",
			EventName: "E", Body: `{"version":1}`, At: t0, Settings: delivery.SnapshotOf(webhook.Settings{
				API: webhook.Endpoint{Type: webhook.EndpointType, URL: "https://example.com", AuthType: webhook.AuthNone}})})
		if err != nil {
			t.Fatal(err)
		}
		records = append(records, record(delivery.Stream(d.ID()), d.Changes()[0],
			eventlog.Metadata{CorrelationID: eventID, OccurredAt: t0.Add(time.Duration(i+1) * time.Millisecond)}))
	}

	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Setup(context.Background(), tx, projections.Schema{Build: "test"}); err != nil {
		t.Fatal(err)
	}
	if err := v.Apply(context.Background(), tx, projections.Schema{Build: "test"}, records); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	got, err := v.Get(context.Background(), eventID)
	if err != nil {
		t.Fatal(err)
	}
	want := publicationview.Publication{EventID: eventID, PublishedAt: t0, Deliveries: 2, LastScheduledAt: t0.Add(2 * time.Millisecond)}
	if got != want {
		t.Errorf("Get = %+v, want %+v", got, want)
	}
	if _, err := v.Get(context.Background(), "unknown"); !errors.Is(err, sql.ErrNoRows) {
		t.Errorf("Get(unknown) = %v, want sql.ErrNoRows", err)
	}
}
