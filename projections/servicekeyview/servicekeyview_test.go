package servicekeyview_test

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/hookd/hookd/application/eventcodec"
	"github.com/hookd/hookd/domain/eventlog"
	"github.com/hookd/hookd/domain/servicekey"
	"github.com/hookd/hookd/internal/readmodeltest"
	"github.com/hookd/hookd/projections"
	"github.com/hookd/hookd/projections/servicekeyview"
)

// fixture applies service key events to a fresh view as the Runner would.
type fixture struct {
	t        testing.TB
	db       *sql.DB
	view     *servicekeyview.View
	codec    *eventcodec.Codec
	clock    time.Time
	position uint64
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	db, _ := readmodeltest.TempDB(t)
	codec := readmodeltest.Codec(t)
	view, err := servicekeyview.New(db, codec)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, db: db, view: view, codec: codec, clock: time.Date(2025, 5, 1, 8, 0, 0, 0, time.UTC)}
	f.apply(nil) // creates the tables
	return f
}

func (f *fixture) apply(records []eventlog.RecordedEvent) {
	f.t.Helper()
	tx, err := f.db.Begin()
	if err != nil {
		f.t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	ctx, s := context.Background(), projections.Schema{Build: "test"}
	if records == nil {
		err = f.view.Setup(ctx, tx, s)
	} else {
		err = f.view.Apply(ctx, tx, s, records)
	}
	if err != nil {
		f.t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		f.t.Fatal(err)
	}
}

// record encodes the slot's events from revision first on.
func (f *fixture) record(s *servicekey.Slot, first int) []eventlog.RecordedEvent {
	f.t.Helper()
	var records []eventlog.RecordedEvent
	for i, e := range s.Changes()[first:] {
		f.clock = f.clock.Add(time.Minute)
		f.position++
		stream := servicekey.Stream(s.Name())
		data, err := f.codec.Encode(stream, eventlog.EventID{}, e, eventlog.Metadata{OccurredAt: f.clock})
		if err != nil {
			f.t.Fatal(err)
		}
		records = append(records, eventlog.RecordedEvent{Stream: stream, Revision: uint64(first + i), Type: data.Type,
			Data: data.Data, Metadata: data.Metadata, Position: eventlog.Position{Commit: f.position, Prepare: f.position}})
	}
	return records
}

func pair(id string) servicekey.Pair {
	return servicekey.Pair{KeyID: id, Type: "secp256k1", PublicKey: "pub-" + id, PrivateKey: "priv-" + id}
}

func TestGetFollowsIssueAndReset(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	slot, err := servicekey.Issue(servicekey.PrimarySlot, pair("k1"))
	if err != nil {
		t.Fatal(err)
	}
	issued := f.record(slot, 0)
	f.apply(issued)

	got, err := f.view.Get(ctx, servicekey.PrimarySlot)
	if err != nil {
		t.Fatal(err)
	}
	want := servicekeyview.Key{Slot: "primary", KeyID: "k1", Type: "secp256k1", PublicKey: "pub-k1",
		PrivateKey: "sealed:priv-k1", Stream: servicekey.Stream("primary"), Version: 0,
		UpdatedAt: time.Date(2025, 5, 1, 8, 1, 0, 0, time.UTC)}
	if got != want {
		t.Fatalf("Get = %+v,\nwant %+v", got, want)
	}

	if err := slot.Reset("k1", pair("k2")); err != nil {
		t.Fatal(err)
	}
	f.apply(f.record(slot, 1))
	f.apply(issued) // an old event again must not bring the old key back
	got, err = f.view.Get(ctx, servicekey.PrimarySlot)
	if err != nil {
		t.Fatal(err)
	}
	if got.KeyID != "k2" || got.PublicKey != "pub-k2" || got.PrivateKey != "sealed:priv-k2" || got.Version != 1 {
		t.Fatalf("after Reset: %+v", got)
	}

	if _, err := f.view.Get(ctx, "nope"); !errors.Is(err, servicekeyview.ErrNotFound) {
		t.Fatalf("Get of an empty slot = %v, want ErrNotFound", err)
	}
}

func TestListOrdersBySlot(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, name := range []string{"primary", "backup"} {
		slot, err := servicekey.Issue(name, pair(name+"-1"))
		if err != nil {
			t.Fatal(err)
		}
		f.apply(f.record(slot, 0))
	}
	keys, err := f.view.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys[0].Slot != "backup" || keys[1].Slot != "primary" || keys[1].KeyID != "primary-1" {
		t.Fatalf("List = %+v", keys)
	}
}
