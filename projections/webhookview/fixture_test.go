package webhookview_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/hookd/hookd/application/eventcodec"
	"github.com/hookd/hookd/domain/eventlog"
	"github.com/hookd/hookd/domain/webhook"
	"github.com/hookd/hookd/internal/readmodeltest"
	"github.com/hookd/hookd/projections"
	"github.com/hookd/hookd/projections/webhookview"
)

// fixture drives the view as the Runner would: commands go through the aggregate and the codec, and
// their records are applied in batches with flush.
type fixture struct {
	t     testing.TB
	db    *sql.DB
	view  *webhookview.View
	codec *eventcodec.Codec

	clock    time.Time
	position uint64
	hooks    map[string]*tracked
	pending  []eventlog.RecordedEvent
	applied  []eventlog.RecordedEvent
}

type tracked struct {
	w       *webhook.Webhook
	written int // of w.Changes()
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	db, _ := readmodeltest.TempDB(t)
	codec := readmodeltest.Codec(t)
	view, err := webhookview.New(db, codec)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, db: db, view: view, codec: codec, hooks: make(map[string]*tracked),
		clock: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
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

func settings(tags ...string) webhook.Settings {
	return webhook.Settings{
		Name:         "hook",
		EventNames:   []string{"order.created"},
		Tags:         tags,
		SuccessCodes: []int{200},
		API: webhook.Endpoint{
			URL:        "https://example.com/hook",
			AuthType:   webhook.AuthBasic,
			Credential: webhook.Credential{Username: "user", Password: "pa55word"},
		},
	}
}

// create records a new webhook and returns its id.
func (f *fixture) create(tenant, community string, tags ...string) string {
	f.t.Helper()
	return f.createWith(webhook.Creation{TenantID: tenant, CommunityID: community, Settings: settings(tags...)})
}

// createWith records a new webhook made of c, with an id, a creator and a secret when c has none, and
// returns its id.
func (f *fixture) createWith(c webhook.Creation) string {
	f.t.Helper()
	if c.ID == "" {
		c.ID = newID()
	}
	if c.CreatedBy == "" {
		c.CreatedBy = "alice"
	}
	if c.Secret == "" {
		c.Secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	}
	w, err := webhook.Create(c)
	if err != nil {
		f.t.Fatal(err)
	}
	h := &tracked{w: w}
	f.hooks[w.ID()] = h
	f.record(h)
	return w.ID()
}

// do runs a command on the webhook id.
func (f *fixture) do(id string, command func(*webhook.Webhook) error) {
	f.t.Helper()
	h := f.hooks[id]
	if err := command(h.w); err != nil {
		f.t.Fatal(err)
	}
	f.record(h)
}

func (f *fixture) retag(id string, tags ...string) {
	f.do(id, func(w *webhook.Webhook) error {
		s := w.Settings()
		s.Tags = tags
		return w.Update(s)
	})
}

// record encodes the webhook's new changes and queues them for the next flush.
func (f *fixture) record(h *tracked) {
	f.t.Helper()
	for i, e := range h.w.Changes()[h.written:] {
		f.clock = f.clock.Add(time.Second)
		f.position++
		stream := webhook.Stream(h.w.ID())
		data, err := f.codec.Encode(stream, eventlog.EventID{}, e, eventlog.Metadata{Actor: "test", OccurredAt: f.clock})
		if err != nil {
			f.t.Fatal(err)
		}
		f.pending = append(f.pending, eventlog.RecordedEvent{
			Stream: stream, Revision: uint64(h.written + i), Type: data.Type, Data: data.Data, Metadata: data.Metadata,
			Position: eventlog.Position{Commit: f.position, Prepare: f.position}, Created: f.clock,
		})
	}
	h.written = len(h.w.Changes())
}

// flush applies the queued records in one transaction and returns them.
func (f *fixture) flush() []eventlog.RecordedEvent {
	f.t.Helper()
	applied := f.pending
	f.pending = nil
	f.apply(applied)
	f.applied = append(f.applied, applied...)
	return applied
}

// flushAgain returns every record applied so far, in order, for a rebuild.
func (f *fixture) flushAgain() []eventlog.RecordedEvent {
	return append([]eventlog.RecordedEvent(nil), f.applied...)
}

func (f *fixture) apply(events []eventlog.RecordedEvent) {
	f.t.Helper()
	f.inTx(func(tx *sql.Tx) error {
		return f.view.Apply(context.Background(), tx, projections.Schema{Build: "test"}, events)
	})
}

func (f *fixture) fetch(q webhookview.FetchQuery) webhookview.Page {
	f.t.Helper()
	f.flush()
	page, err := f.view.Fetch(context.Background(), q)
	if err != nil {
		f.t.Fatal(err)
	}
	return page
}

func ids(items []webhookview.Webhook) []string {
	out := make([]string, len(items))
	for i, w := range items {
		out[i] = w.ID
	}
	return out
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
