package deliveryview_test

import (
	"context"
	"database/sql"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/hookd/hookd/application/eventcodec"
	"github.com/hookd/hookd/domain/delivery"
	"github.com/hookd/hookd/domain/eventlog"
	"github.com/hookd/hookd/domain/webhook"
	"github.com/hookd/hookd/internal/readmodeltest"
	"github.com/hookd/hookd/projections"
	"github.com/hookd/hookd/projections/deliveryview"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// log records delivery events as the log would: each delivery's stream numbered from 0, every event
// at the next position.
type log struct {
	t        testing.TB
	codec    *eventcodec.Codec
	position uint64
	recorded map[*delivery.Delivery]int
	all      []eventlog.RecordedEvent
}

func newLog(t testing.TB) *log {
	return &log{t: t, codec: readmodeltest.Codec(t), recorded: map[*delivery.Delivery]int{}}
}

// record encodes the delivery's changes not recorded yet.
func (l *log) record(d *delivery.Delivery) []eventlog.RecordedEvent {
	l.t.Helper()
	var records []eventlog.RecordedEvent
	first := l.recorded[d]
	for i, e := range d.Changes()[first:] {
		l.position++
		stream := delivery.Stream(d.ID())
		data, err := l.codec.Encode(stream, eventlog.EventID{}, e, eventlog.Metadata{OccurredAt: t0})
		if err != nil {
			l.t.Fatal(err)
		}
		records = append(records, eventlog.RecordedEvent{Stream: stream, Revision: uint64(first + i), Type: data.Type,
			Data: data.Data, Metadata: data.Metadata, Position: eventlog.Position{Commit: l.position, Prepare: l.position}})
	}
	l.recorded[d] = len(d.Changes())
	l.all = append(l.all, records...)
	return records
}

// view is a fresh view on a database of its own.
type view struct {
	t  testing.TB
	db *sql.DB
	*deliveryview.View
}

func newView(t testing.TB) *view {
	t.Helper()
	db, _ := readmodeltest.TempDB(t)
	v, err := deliveryview.New(db, readmodeltest.Codec(t))
	if err != nil {
		t.Fatal(err)
	}
	w := &view{t: t, db: db, View: v}
	w.inTx(func(tx *sql.Tx) error { return v.Setup(context.Background(), tx, projections.Schema{Build: "test"}) })
	return w
}

func (v *view) inTx(do func(*sql.Tx) error) {
	v.t.Helper()
	tx, err := v.db.Begin()
	if err != nil {
		v.t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	if err := do(tx); err != nil {
		v.t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		v.t.Fatal(err)
	}
}

func (v *view) apply(records ...eventlog.RecordedEvent) {
	v.t.Helper()
	v.inTx(func(tx *sql.Tx) error {
		return v.Apply(context.Background(), tx, projections.Schema{Build: "test"}, records)
	})
}

func (v *view) get(tenant, community, id string) deliveryview.Delivery {
	v.t.Helper()
	d, err := v.Get(context.Background(), tenant, community, id)
	if err != nil {
		v.t.Fatalf("Get %s: %v", id, err)
	}
	return d
}

// due returns a page of Due, with only the fields callers read, so pages compare with DeepEqual.
func (v *view) due(after *deliveryview.DueDelivery, limit int) (page, raw []deliveryview.DueDelivery) {
	v.t.Helper()
	raw, err := v.Due(context.Background(), after, limit)
	if err != nil {
		v.t.Fatal(err)
	}
	for _, d := range raw {
		page = append(page, deliveryview.DueDelivery{DeliveryID: d.DeliveryID, NextDueAt: d.NextDueAt})
	}
	return page, raw
}

func (v *view) fetch(q deliveryview.FetchQuery) deliveryview.Page {
	v.t.Helper()
	if q.PageSize == 0 {
		q.PageSize = 100
	}
	page, err := v.Fetch(context.Background(), q)
	if err != nil {
		v.t.Fatal(err)
	}
	return page
}

type spec struct {
	event, webhook, tenant, community, name string
	at                                      time.Time
	retryCount                              int
}

func schedule(t testing.TB, s spec) *delivery.Delivery {
	t.Helper()
	if s.tenant == "" {
		s.tenant = "t1"
	}
	if s.community == "" {
		s.community = "c1"
	}
	if s.name == "" {
		s.name = "user.created"
	}
	if s.webhook == "" {
		s.webhook = "w1"
	}
	settings := webhook.Settings{
		API: webhook.Endpoint{Type: "http", URL: "https://example.com/hook", AuthType: webhook.AuthBearer,
			Credential: webhook.Credential{Token: "CANARY_TOKEN"}},
		SuccessCodes: []int{200},
		RetryCodes:   []int{0, 503},
		RetryCount:   s.retryCount,
	}
	d, err := delivery.Schedule(delivery.Scheduling{
		EventID: s.event, WebhookID: s.webhook, TenantID: s.tenant, CommunityID: s.community, EventName: s.name,
		Body: `{"version":1}`, Settings: delivery.SnapshotOf(settings), At: s.at,
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// attempt records attempt number n with status (0: a timeout) at at, with the default backoff
// (1 s, then 5 s, no jitter).
func attempt(t testing.TB, d *delivery.Delivery, status int, at time.Time, body string) {
	t.Helper()
	n, _, err := d.NextAttempt(at)
	if err != nil {
		t.Fatal(err)
	}
	a := delivery.Attempt{Number: n, Status: status, Duration: 42 * time.Millisecond, ResponseExcerpt: body, At: at}
	if status == 0 {
		a.ErrorClass = "timeout"
	}
	if err := d.RecordAttempt(a, d.PolicyFor(d.Snapshot().Policy), delivery.Backoff{}); err != nil {
		t.Fatal(err)
	}
}

func numbers(attempts []deliveryview.Attempt) []int {
	out := []int{}
	for _, a := range attempts {
		out = append(out, a.Number)
	}
	return out
}

func ids(page deliveryview.Page) []string {
	out := []string{}
	for _, d := range page.Items {
		out = append(out, d.ID)
	}
	return out
}

func TestRetriedThenSucceeded(t *testing.T) {
	t.Parallel()
	l, v := newLog(t), newView(t)
	d := schedule(t, spec{event: "e1", at: t0, retryCount: 2})
	v.apply(l.record(d)...)

	got := v.get("t1", "c1", d.ID())
	want := deliveryview.Delivery{ID: d.ID(), WebhookID: "w1", TenantID: "t1", CommunityID: "c1", EventID: "e1",
		EventName: "user.created", Status: delivery.StatusScheduled, NextDueAt: t0, ScheduledAt: t0, UpdatedAt: t0,
		AttemptLog: []deliveryview.Attempt{}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("scheduled: %+v\nwant %+v", got, want)
	}
	if due, _ := v.due(nil, 10); !reflect.DeepEqual(due, []deliveryview.DueDelivery{{DeliveryID: d.ID(), NextDueAt: t0}}) {
		t.Fatalf("Due = %+v", due)
	}

	at1 := t0.Add(time.Second)
	attempt(t, d, 503, at1, "busy")
	v.apply(l.record(d)...)
	got = v.get("t1", "c1", d.ID())
	if got.Status != delivery.StatusScheduled || got.Attempts != 1 || !got.NextDueAt.Equal(at1.Add(time.Second)) ||
		got.LastAttempt != (deliveryview.LastAttempt{Status: 503, At: at1}) || got.Version != 1 {
		t.Fatalf("after a retry: %+v", got)
	}
	if due, _ := v.due(nil, 10); len(due) != 1 || !due[0].NextDueAt.Equal(at1.Add(time.Second)) {
		t.Fatalf("Due after a retry = %+v, want the retry's due time", due)
	}

	at2 := at1.Add(time.Second)
	attempt(t, d, 0, at2, "")
	v.apply(l.record(d)...)
	got = v.get("t1", "c1", d.ID())
	if got.Attempts != 2 || !got.NextDueAt.Equal(at2.Add(5*time.Second)) || got.LastAttempt.ErrorClass != "timeout" {
		t.Fatalf("after a second retry: %+v", got)
	}

	at3 := at2.Add(5 * time.Second)
	attempt(t, d, 200, at3, "ok")
	v.apply(l.record(d)...)
	got = v.get("t1", "c1", d.ID())
	if got.Status != delivery.StatusSucceeded || got.Attempts != 3 || !got.NextDueAt.IsZero() ||
		!got.UpdatedAt.Equal(at3) || got.Version != 4 {
		t.Fatalf("after success: %+v", got)
	}
	wantLog := []deliveryview.Attempt{
		{Number: 1, Status: 503, DurationMs: 42, ResponseExcerpt: "busy", At: at1},
		{Number: 2, ErrorClass: "timeout", DurationMs: 42, At: at2},
		{Number: 3, Status: 200, DurationMs: 42, ResponseExcerpt: "ok", At: at3},
	}
	if !reflect.DeepEqual(got.AttemptLog, wantLog) {
		t.Fatalf("attempts = %+v\nwant %+v", got.AttemptLog, wantLog)
	}
	if due, _ := v.due(nil, 10); len(due) != 0 {
		t.Fatalf("Due after success = %+v, want none", due)
	}
}

func TestParkedThenReplayed(t *testing.T) {
	t.Parallel()
	l, v := newLog(t), newView(t)
	d := schedule(t, spec{event: "e1", at: t0})
	attempt(t, d, 400, t0, "bad request")
	v.apply(l.record(d)...)
	got := v.get("t1", "c1", d.ID())
	if got.Status != delivery.StatusFailed || got.Attempts != 1 || !got.NextDueAt.IsZero() || got.ParkReason != delivery.ReasonRejected {
		t.Fatalf("parked: %+v", got)
	}
	if due, _ := v.due(nil, 10); len(due) != 0 {
		t.Fatalf("Due of a parked delivery = %+v, want none", due)
	}

	replayAt := t0.Add(time.Hour)
	if err := d.RequestReplay(delivery.ReplayCurrent, "ops", replayAt); err != nil {
		t.Fatal(err)
	}
	v.apply(l.record(d)...)
	got = v.get("t1", "c1", d.ID())
	if got.Status != delivery.StatusScheduled || got.ReplayMode != delivery.ReplayCurrent || !got.NextDueAt.Equal(replayAt) ||
		got.ParkReason != "" {
		t.Fatalf("replayed: %+v", got)
	}
	if due, _ := v.due(nil, 10); !reflect.DeepEqual(due, []deliveryview.DueDelivery{{DeliveryID: d.ID(), NextDueAt: replayAt}}) {
		t.Fatalf("Due after a replay = %+v", due)
	}

	attempt(t, d, 200, replayAt.Add(time.Second), "")
	v.apply(l.record(d)...)
	got = v.get("t1", "c1", d.ID())
	if got.Status != delivery.StatusSucceeded || got.Attempts != 2 || !reflect.DeepEqual(numbers(got.AttemptLog), []int{1, 2}) {
		t.Fatalf("after the replay's attempt: %+v", got)
	}

	// Parked without an attempt, by a DeliveryFailed alone.
	abandoned := schedule(t, spec{event: "e2", at: t0})
	v.apply(l.record(abandoned)...)
	if err := abandoned.Abandon(delivery.ReasonWebhookDisabled, t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	v.apply(l.record(abandoned)...)
	if got := v.get("t1", "c1", abandoned.ID()); got.Status != delivery.StatusFailed || got.ParkReason != delivery.ReasonWebhookDisabled {
		t.Fatalf("abandoned: %+v", got)
	}
}

func TestExcerptIsBounded(t *testing.T) {
	t.Parallel()
	l, v := newLog(t), newView(t)
	d := schedule(t, spec{event: "e1", at: t0})
	attempt(t, d, 200, t0, strings.Repeat("é", deliveryview.MaxExcerptBytes))
	v.apply(l.record(d)...)
	got := v.get("t1", "c1", d.ID()).AttemptLog[0].ResponseExcerpt
	if len(got) > deliveryview.MaxExcerptBytes || len(got) < deliveryview.MaxExcerptBytes-1 || !utf8.ValidString(got) {
		t.Fatalf("excerpt of %d bytes (valid UTF-8: %t), want at most %d", len(got), utf8.ValidString(got), deliveryview.MaxExcerptBytes)
	}
}

// population schedules deliveries across scopes, one minute apart, and finishes some of them.
func population(t testing.TB, l *log) map[string]*delivery.Delivery {
	specs := map[string]spec{
		"a": {event: "e1", name: "user.created"},
		"b": {event: "e2", name: "user.deleted", retryCount: 1},
		"c": {event: "e3", name: "user.created"},
		"d": {event: "e4", name: "user.created", webhook: "w2"},
		"e": {event: "e5", name: "user.created", community: "c2"},
		"f": {event: "e6", name: "user.created", tenant: "t2"},
		"g": {event: "e7", name: "user.created", retryCount: 1},
	}
	out := map[string]*delivery.Delivery{}
	for i, key := range []string{"a", "b", "c", "d", "e", "f", "g"} {
		s := specs[key]
		s.at = t0.Add(time.Duration(i) * time.Minute)
		out[key] = schedule(t, s)
		l.record(out[key])
	}
	attempt(t, out["a"], 200, t0.Add(time.Hour), "")
	attempt(t, out["b"], 400, t0.Add(time.Hour), "")
	attempt(t, out["g"], 503, t0.Add(time.Hour), "") // stays scheduled, due a second later
	for _, key := range []string{"a", "b", "g"} {
		l.record(out[key])
	}
	return out
}

func TestFetch(t *testing.T) {
	t.Parallel()
	l, v := newLog(t), newView(t)
	ds := population(t, l)
	v.apply(l.all...)
	id := func(keys ...string) []string {
		out := []string{}
		for _, k := range keys {
			out = append(out, ds[k].ID())
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		q     deliveryview.FetchQuery
		want  []string
		total int
	}{
		{"the webhook, newest first", deliveryview.FetchQuery{WebhookID: "w1"}, id("g", "c", "b", "a"), 4},
		{"the community, every webhook", deliveryview.FetchQuery{}, id("g", "d", "c", "b", "a"), 5},
		{"succeeded", deliveryview.FetchQuery{WebhookID: "w1", Status: delivery.StatusSucceeded}, id("a"), 1},
		{"failed", deliveryview.FetchQuery{WebhookID: "w1", Status: delivery.StatusFailed}, id("b"), 1},
		{"scheduled", deliveryview.FetchQuery{WebhookID: "w1", Status: delivery.StatusScheduled}, id("g", "c"), 2},
		{"event name", deliveryview.FetchQuery{WebhookID: "w1", EventName: "user.deleted"}, id("b"), 1},
		{"from", deliveryview.FetchQuery{WebhookID: "w1", From: t0.Add(2 * time.Minute)}, id("g", "c"), 2},
		{"to, exclusive", deliveryview.FetchQuery{WebhookID: "w1", To: t0.Add(2 * time.Minute)}, id("b", "a"), 2},
		{"range", deliveryview.FetchQuery{WebhookID: "w1", From: t0.Add(time.Minute), To: t0.Add(3 * time.Minute)}, id("c", "b"), 2},
		{"page 1 of 2", deliveryview.FetchQuery{WebhookID: "w1", PageSize: 3}, id("g", "c", "b"), 4},
		{"page 2 of 2", deliveryview.FetchQuery{WebhookID: "w1", PageSize: 3, PageIndex: 1}, id("a"), 4},
		{"past the last page", deliveryview.FetchQuery{WebhookID: "w1", PageSize: 3, PageIndex: 2}, id(), 4},
		{"other community", deliveryview.FetchQuery{CommunityID: "c2"}, id("e"), 1},
		{"other tenant", deliveryview.FetchQuery{TenantID: "t2"}, id("f"), 1},
		{"other tenant's webhook", deliveryview.FetchQuery{TenantID: "t2", WebhookID: "w2"}, id(), 0},
		{"unknown webhook", deliveryview.FetchQuery{WebhookID: "w9"}, id(), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.q.TenantID == "" {
				tc.q.TenantID = "t1"
			}
			if tc.q.CommunityID == "" {
				tc.q.CommunityID = "c1"
			}
			page := v.fetch(tc.q)
			if !reflect.DeepEqual(ids(page), tc.want) || page.Total != tc.total {
				t.Fatalf("Fetch = %v (total %d), want %v (total %d)", ids(page), page.Total, tc.want, tc.total)
			}
		})
	}

	page := v.fetch(deliveryview.FetchQuery{TenantID: "t1", CommunityID: "c1", WebhookID: "w1", Status: delivery.StatusSucceeded})
	if len(page.Items) != 1 || !reflect.DeepEqual(numbers(page.Items[0].AttemptLog), []int{1}) {
		t.Fatalf("Fetch does not carry the attempts: %+v", page.Items)
	}
	for _, q := range []deliveryview.FetchQuery{
		{CommunityID: "c1", PageSize: 1},
		{TenantID: "t1", CommunityID: "c1"},
		{TenantID: "t1", CommunityID: "c1", PageSize: 1, PageIndex: -1},
	} {
		if _, err := v.Fetch(context.Background(), q); err == nil {
			t.Errorf("Fetch(%+v) succeeded, want an error", q)
		}
	}
}

func TestGetIsScoped(t *testing.T) {
	t.Parallel()
	l, v := newLog(t), newView(t)
	ds := population(t, l)
	v.apply(l.all...)
	if got := v.get("t2", "c1", ds["f"].ID()); got.TenantID != "t2" {
		t.Fatalf("Get = %+v", got)
	}
	for _, tc := range []struct{ tenant, community, id string }{
		{"t1", "c1", ds["f"].ID()},
		{"t2", "c2", ds["f"].ID()},
		{"t1", "c1", ds["e"].ID()},
		{"t1", "c1", "missing"},
	} {
		if _, err := v.Get(context.Background(), tc.tenant, tc.community, tc.id); !errors.Is(err, delivery.ErrNotFound) {
			t.Errorf("Get(%q, %q, %q) = %v, want delivery.ErrNotFound", tc.tenant, tc.community, tc.id, err)
		}
	}
}

func TestDueInDueOrder(t *testing.T) {
	t.Parallel()
	l, v := newLog(t), newView(t)
	ds := population(t, l)
	v.apply(l.all...)
	want := []deliveryview.DueDelivery{
		{DeliveryID: ds["c"].ID(), NextDueAt: t0.Add(2 * time.Minute)},
		{DeliveryID: ds["d"].ID(), NextDueAt: t0.Add(3 * time.Minute)},
		{DeliveryID: ds["e"].ID(), NextDueAt: t0.Add(4 * time.Minute)},
		{DeliveryID: ds["f"].ID(), NextDueAt: t0.Add(5 * time.Minute)},
		{DeliveryID: ds["g"].ID(), NextDueAt: t0.Add(time.Hour + time.Second)},
	}
	if got, _ := v.due(nil, 10); !reflect.DeepEqual(got, want) {
		t.Fatalf("Due = %+v\nwant %+v", got, want)
	}
	// Page by page, each starting after the last of the one before.
	var all []deliveryview.DueDelivery
	var after *deliveryview.DueDelivery
	for {
		page, raw := v.due(after, 2)
		if len(page) == 0 {
			break
		}
		all = append(all, page...)
		after = &raw[len(raw)-1]
	}
	if !reflect.DeepEqual(all, want) {
		t.Fatalf("Due in pages of 2 = %+v\nwant %+v", all, want)
	}
	if _, err := v.Due(context.Background(), nil, 0); err == nil {
		t.Fatal("Due(0) succeeded, want an error")
	}
}

// TestRebuildGivesTheSameRows builds the view from the same log twice, once in one batch and once
// event by event with every batch applied twice and other aggregates' events in between, as a
// runner that restarts after a crash might; both must answer alike.
func TestRebuildGivesTheSameRows(t *testing.T) {
	t.Parallel()
	l := newLog(t)
	ds := population(t, l)
	if err := ds["b"].RequestReplay(delivery.ReplayOriginal, "ops", t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	attempt(t, ds["b"], 503, t0.Add(2*time.Hour), "")
	l.record(ds["b"])

	once, twice := newView(t), newView(t)
	once.apply(l.all...)
	foreign := eventlog.RecordedEvent{Stream: "webhook-x", Type: "WebhookDeleted", Data: []byte(`{"webhookId":"x"}`)}
	for _, r := range l.all {
		twice.apply(r, foreign)
		twice.apply(r)
	}
	twice.apply(l.all...)

	for _, q := range []deliveryview.FetchQuery{
		{TenantID: "t1", CommunityID: "c1", PageSize: 100},
		{TenantID: "t1", CommunityID: "c2", PageSize: 100},
		{TenantID: "t2", CommunityID: "c1", PageSize: 100},
	} {
		a, b := once.fetch(q), twice.fetch(q)
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("Fetch(%+v) differs:\n%+v\n%+v", q, a, b)
		}
		if a.Total == 0 {
			t.Fatalf("Fetch(%+v) found nothing", q)
		}
	}
	a, _ := once.due(nil, 100)
	if b, _ := twice.due(nil, 100); !reflect.DeepEqual(a, b) {
		t.Fatalf("Due differs:\n%+v\n%+v", a, b)
	}
	replayed := twice.get("t1", "c1", ds["b"].ID())
	if replayed.Status != delivery.StatusScheduled || replayed.ReplayMode != delivery.ReplayOriginal ||
		!reflect.DeepEqual(numbers(replayed.AttemptLog), []int{1, 2}) {
		t.Fatalf("replayed delivery: %+v", replayed)
	}
}

func TestNewRefusesNil(t *testing.T) {
	t.Parallel()
	if _, err := deliveryview.New(nil, readmodeltest.Codec(t)); err == nil {
		t.Fatal("New without a database succeeded")
	}
}

// TestRebuildsSwapIn rebuilds the view twice with projections.Rebuild, in small batches, over live
// tables: the index names of one build must not clash with the next, and the rebuilt tables answer as
// the view built in one batch does.
func TestRebuildsSwapIn(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := newLog(t)
	population(t, l)
	want := newView(t)
	want.apply(l.all...)

	rebuilt := newView(t)
	readAll := func(_ context.Context, after eventlog.Position, limit int) ([]eventlog.RecordedEvent, error) {
		var out []eventlog.RecordedEvent
		for _, r := range l.all {
			if after.Before(r.Position) && len(out) < limit {
				out = append(out, r)
			}
		}
		return out, nil
	}
	last := func(context.Context) (eventlog.Position, error) { return l.all[len(l.all)-1].Position, nil }
	for range 2 {
		_, err := projections.Rebuild(ctx, projections.RebuildConfig{DB: rebuilt.db, ReadAll: readAll, LastPosition: last,
			Projection: rebuilt.View, BatchSize: 3})
		if err != nil {
			t.Fatal(err)
		}
		q := deliveryview.FetchQuery{TenantID: "t1", CommunityID: "c1", PageSize: 100}
		if a, b := want.fetch(q), rebuilt.fetch(q); !reflect.DeepEqual(a, b) || a.Total == 0 {
			t.Fatalf("rebuilt Fetch differs:\n%+v\n%+v", a, b)
		}
		a, _ := want.due(nil, 100)
		if b, _ := rebuilt.due(nil, 100); !reflect.DeepEqual(a, b) {
			t.Fatalf("rebuilt Due differs:\n%+v\n%+v", a, b)
		}
	}
}

func TestFindIsUnscoped(t *testing.T) {
	t.Parallel()
	l, v := newLog(t), newView(t)
	ds := population(t, l)
	v.apply(l.all...)
	got, err := v.Find(context.Background(), ds["f"].ID())
	if err != nil || got.ID != ds["f"].ID() || got.TenantID != "t2" {
		t.Fatalf("Find = %+v, %v; want delivery f of tenant t2", got, err)
	}
	if _, err := v.Find(context.Background(), "missing"); !errors.Is(err, delivery.ErrNotFound) {
		t.Errorf("Find(missing) = %v, want delivery.ErrNotFound", err)
	}
}

// A delivery deferred for its endpoint's circuit is due at the deferral's end and shows that it
// waits, until an attempt is made; once it finishes its wait is gone.
func TestDeferredShowsItsWait(t *testing.T) {
	t.Parallel()
	l, v := newLog(t), newView(t)
	d := schedule(t, spec{event: "e1", at: t0, retryCount: 2})
	until := t0.Add(time.Minute)
	if err := d.Defer(until, delivery.DeferReasonCircuitOpen, t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	v.apply(l.record(d)...)
	got := v.get("t1", "c1", d.ID())
	if got.Status != delivery.StatusScheduled || !got.NextDueAt.Equal(until) || got.WaitingFor != delivery.DeferReasonCircuitOpen {
		t.Fatalf("deferred: %+v", got)
	}
	if due, _ := v.due(nil, 10); !reflect.DeepEqual(due, []deliveryview.DueDelivery{{DeliveryID: d.ID(), NextDueAt: until}}) {
		t.Errorf("Due = %+v, want the delivery at the deferral's end", due)
	}
	attempt(t, d, 503, until, "still down")
	v.apply(l.record(d)...)
	if got := v.get("t1", "c1", d.ID()); got.WaitingFor != "" || got.Attempts != 1 {
		t.Errorf("after an attempt: %+v, want no wait", got)
	}
	attempt(t, d, 200, until.Add(time.Second), "ok")
	v.apply(l.record(d)...)
	var left int
	if err := v.db.QueryRow(`SELECT count(*) FROM delivery_waits`).Scan(&left); err != nil || left != 0 {
		t.Errorf("%d waits left after the delivery finished (%v)", left, err)
	}
}

// TestAWaitWrittenAndFinishedInOneBatchGoes: the view skips the delete of a wait row when the table
// holds none; a wait written earlier in the same batch still goes when its delivery finishes, and
// one of another delivery stays.
func TestAWaitWrittenAndFinishedInOneBatchGoes(t *testing.T) {
	t.Parallel()
	l, v := newLog(t), newView(t)
	until := t0.Add(time.Minute)
	finished := schedule(t, spec{event: "e1", at: t0, retryCount: 2})
	waiting := schedule(t, spec{event: "e2", at: t0, retryCount: 2})
	for _, d := range []*delivery.Delivery{finished, waiting} {
		if err := d.Defer(until, delivery.DeferReasonCircuitOpen, t0.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	attempt(t, finished, 200, until, "ok")
	v.apply(append(l.record(finished), l.record(waiting)...)...)
	if got := v.get("t1", "c1", finished.ID()); got.WaitingFor != "" || got.Status != delivery.StatusSucceeded {
		t.Errorf("the finished delivery: %+v, want succeeded without a wait", got)
	}
	if got := v.get("t1", "c1", waiting.ID()); got.WaitingFor != delivery.DeferReasonCircuitOpen {
		t.Errorf("the waiting delivery: %+v, want its wait", got)
	}
	var left int
	if err := v.db.QueryRow(`SELECT count(*) FROM delivery_waits`).Scan(&left); err != nil || left != 1 {
		t.Errorf("%d waits left, want the waiting delivery's alone (%v)", left, err)
	}
}

// TestExpiringSaysWhenEachLastChanged: retention finds a finished delivery unchanged since before
// the cutoff, with the revision it holds, where its last event is in the log and when it last changed (how late its removal is); one
// still scheduled, or changed since the cutoff, is not found.
func TestExpiringSaysWhenEachLastChanged(t *testing.T) {
	t.Parallel()
	l, v := newLog(t), newView(t)
	done := schedule(t, spec{event: "e1", at: t0})
	finished := t0.Add(3 * time.Second)
	attempt(t, done, 200, finished, "ok")
	recorded := l.record(done)
	v.apply(recorded...)
	waiting := schedule(t, spec{event: "e2", at: t0})
	v.apply(l.record(waiting)...)
	recent := schedule(t, spec{event: "e3", at: t0})
	attempt(t, recent, 200, t0.Add(time.Hour), "ok")
	v.apply(l.record(recent)...)

	found, _, _, err := v.Expiring(context.Background(), t0.Add(time.Minute), 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []deliveryview.Expiring{{ID: done.ID(), TenantID: "t1", CommunityID: "c1", WebhookID: "w1", EventID: "e1",
		Version: 2, Position: recorded[len(recorded)-1].Position, UpdatedAt: finished}}
	if !reflect.DeepEqual(found, want) {
		t.Errorf("Expiring = %+v\nwant %+v", found, want)
	}
}
