package licenseview_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/hookd/hookd/application/eventcodec"
	"github.com/hookd/hookd/domain/eventlog"
	"github.com/hookd/hookd/domain/license"
	"github.com/hookd/hookd/internal/readmodeltest"
	"github.com/hookd/hookd/projections"
	"github.com/hookd/hookd/projections/licenseview"
)

// fixture applies license events to a fresh view as the Runner would.
type fixture struct {
	t        testing.TB
	db       *sql.DB
	view     *licenseview.View
	codec    *eventcodec.Codec
	clock    time.Time
	position uint64
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	db, _ := readmodeltest.TempDB(t)
	codec := readmodeltest.Codec(t)
	view, err := licenseview.New(db, codec)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, db: db, view: view, codec: codec, clock: time.Date(2025, 5, 1, 8, 0, 0, 0, time.UTC)}
	f.inTx(func(tx *sql.Tx) error { return view.Setup(context.Background(), tx, projections.Schema{Build: "test"}) })
	return f
}

func (f *fixture) inTx(do func(*sql.Tx) error) {
	f.t.Helper()
	tx, err := f.db.Begin()
	if err != nil {
		f.t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	if err := do(tx); err != nil {
		f.t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		f.t.Fatal(err)
	}
}

// record encodes the license's new events from revision first on.
func (f *fixture) record(l *license.License, first int) []eventlog.RecordedEvent {
	f.t.Helper()
	var records []eventlog.RecordedEvent
	for i, e := range l.Changes()[first:] {
		f.clock = f.clock.Add(time.Minute)
		f.position++
		stream := license.Stream(l.ID())
		data, err := f.codec.Encode(stream, eventlog.EventID{}, e, eventlog.Metadata{OccurredAt: f.clock})
		if err != nil {
			f.t.Fatal(err)
		}
		records = append(records, eventlog.RecordedEvent{Stream: stream, Revision: uint64(first + i), Type: data.Type,
			Data: data.Data, Metadata: data.Metadata, Position: eventlog.Position{Commit: f.position, Prepare: f.position}})
	}
	return records
}

func (f *fixture) apply(records ...eventlog.RecordedEvent) {
	f.t.Helper()
	f.inTx(func(tx *sql.Tx) error {
		return f.view.Apply(context.Background(), tx, projections.Schema{Build: "test"}, records)
	})
}

func hash(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

func issue(t *testing.T, id, key string, level license.Level, scope license.Scope) *license.License {
	t.Helper()
	l, err := license.Issue(id, hash(key), key[:4], level, scope)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestByKeyHashAndList(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	system := issue(t, "l1", "sys-key-1", license.LevelSystem, license.Scope{})
	scoped := issue(t, "l2", "svc-key-2", license.LevelService, license.Scope{TenantID: "t1", CommunityID: "c1"})
	f.apply(append(f.record(system, 0), f.record(scoped, 0)...)...)

	got, err := f.view.ByKeyHash(ctx, hash("svc-key-2"))
	if err != nil {
		t.Fatal(err)
	}
	want := licenseview.License{ID: "l2", KeyHash: hash("svc-key-2"), KeyHint: "svc-", Level: license.LevelService,
		Scope: license.Scope{TenantID: "t1", CommunityID: "c1"}, IssuedAt: time.Date(2025, 5, 1, 8, 2, 0, 0, time.UTC)}
	if got != want {
		t.Fatalf("ByKeyHash = %+v,\nwant %+v", got, want)
	}
	if _, err := f.view.ByKeyHash(ctx, hash("unknown")); !errors.Is(err, license.ErrNotFound) {
		t.Fatalf("ByKeyHash of an unknown key = %v, want license.ErrNotFound", err)
	}

	if err := system.Revoke(); err != nil {
		t.Fatal(err)
	}
	f.apply(f.record(system, 1)...)
	revoked, err := f.view.ByKeyHash(ctx, hash("sys-key-1"))
	if err != nil || !revoked.Revoked || revoked.Version != 1 {
		t.Fatalf("after Revoke: %+v, %v", revoked, err)
	}

	list, err := f.view.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != "l1" || !list[0].Revoked || list[1] != want {
		t.Fatalf("List = %+v", list)
	}
}

func TestASecondLicenseWithTheSameKeyIsLeftOut(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	first := issue(t, "l1", "same-key", license.LevelService, license.Scope{})
	second := issue(t, "l2", "same-key", license.LevelSystem, license.Scope{})
	f.apply(append(f.record(first, 0), f.record(second, 0)...)...)
	got, err := f.view.ByKeyHash(context.Background(), hash("same-key"))
	if err != nil || got.ID != "l1" || got.Level != license.LevelService {
		t.Fatalf("ByKeyHash = %+v, %v; want the first license", got, err)
	}
}

func TestApplyingAgainAndOtherEventsChangeNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	l := issue(t, "l1", "key-1234", license.LevelSystem, license.Scope{})
	if err := l.Revoke(); err != nil {
		t.Fatal(err)
	}
	records := f.record(l, 0)
	f.apply(records...)
	before, err := f.view.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f.apply(records[0]) // the Issued event again must not bring the license back to life
	f.apply(eventlog.RecordedEvent{Stream: "webhook-x", Type: "WebhookDeleted", Data: []byte(`{"webhookId":"x"}`)})
	after, err := f.view.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != 1 || after[0] != before[0] || !after[0].Revoked {
		t.Fatalf("List changed from %+v to %+v", before, after)
	}
}
