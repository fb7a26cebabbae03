package retention_test

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/hookd/hookd/application/eventstore"
	"github.com/hookd/hookd/application/retention"
	"github.com/hookd/hookd/domain/delivery"
	"github.com/hookd/hookd/domain/eventlog"
	"github.com/hookd/hookd/domain/publication"
	"github.com/hookd/hookd/domain/webhook"
)

// memLog is a log in memory: streams at their last revision, and the log's records in order.
type memLog struct {
	records []eventlog.RecordedEvent
	// appended counts the records ever added: positions never go back after a delete.
	appended uint64
	// pinned are streams the store cannot remove yet (the embedded store's last stream).
	pinned map[string]bool
	// deletes counts DeleteStreams calls; paces has the pace each stream was deleted at.
	deletes int
	paces   map[string]eventstore.Pace
}

func (l *memLog) add(stream, typ string, created time.Time) {
	rev := uint64(0)
	for _, r := range l.records {
		if r.Stream == stream {
			rev = r.Revision + 1
		}
	}
	l.appended++
	l.records = append(l.records, eventlog.RecordedEvent{Stream: stream, Revision: rev, Type: typ, Created: created,
		Position: eventlog.Position{Commit: l.appended, Prepare: l.appended}})
}

func (l *memLog) LastPosition(context.Context) (eventlog.Position, error) {
	return eventlog.Position{Commit: l.appended, Prepare: l.appended}, nil
}

func (l *memLog) last(stream string) (uint64, bool) {
	rev, ok := uint64(0), false
	for _, r := range l.records {
		if r.Stream == stream {
			rev, ok = r.Revision, true
		}
	}
	return rev, ok
}

func (l *memLog) DeleteStreams(_ context.Context, streams []eventstore.StreamAt, pace eventstore.Pace) ([]eventstore.StreamAt, error) {
	l.deletes++
	for _, s := range streams {
		l.paces[s.Stream] = pace
	}
	var kept []eventstore.StreamAt
	for _, s := range streams {
		rev, ok := l.last(s.Stream)
		switch {
		case !ok:
		case rev != s.Revision || l.pinned[s.Stream]:
			kept = append(kept, s)
		default:
			l.records = slices.DeleteFunc(l.records, func(r eventlog.RecordedEvent) bool { return r.Stream == s.Stream })
		}
	}
	return kept, nil
}

func (l *memLog) ReadAll(_ context.Context, after eventlog.Position, limit int) ([]eventlog.RecordedEvent, error) {
	var out []eventlog.RecordedEvent
	for _, r := range l.records {
		if after.Before(r.Position) && len(out) < limit {
			out = append(out, r)
		}
	}
	return out, nil
}

// memDeliveries is the deliveries read model: rows with when each finished.
type memDeliveries struct {
	rows     []row
	expired  map[string]time.Time
	forgotAt time.Time
}

type row struct {
	retention.Delivery
	finished time.Time
}

func (m *memDeliveries) Expiring(_ context.Context, cutoff time.Time, after int64, limit int) ([]retention.Delivery, int64, bool, error) {
	var found []retention.Delivery
	i := int(after)
	for ; i < len(m.rows) && len(found) < limit; i++ {
		if m.rows[i].finished.Before(cutoff) {
			found = append(found, m.rows[i].Delivery)
		}
	}
	return found, int64(i), i >= len(m.rows), nil
}

func (m *memDeliveries) Forget(_ context.Context, gone []retention.Delivery, at time.Time) error {
	for _, g := range gone {
		m.rows = slices.DeleteFunc(m.rows, func(r row) bool { return r.ID == g.ID && r.Version == g.Version })
		m.expired[g.ID] = at
	}
	return nil
}

func (m *memDeliveries) HasDeliveriesOf(_ context.Context, eventID string) (bool, error) {
	return slices.ContainsFunc(m.rows, func(r row) bool { return r.EventID == eventID }), nil
}

func (m *memDeliveries) ForgetExpiredBefore(_ context.Context, cutoff time.Time, _ int) (int, error) {
	m.forgotAt = cutoff
	n := 0
	for id, at := range m.expired {
		if at.Before(cutoff) {
			delete(m.expired, id)
			n++
		}
	}
	return n, nil
}

// memEndpoints is the webhooks read model and the commands that append health pairs: a pair's
// events go to the log, and the model applies them at once unless it is stuck.
type memEndpoints struct {
	log   *memLog
	carry map[string]*retention.Carry
	// health is each webhook's health, which a marker takes as AtMark.
	health map[string]webhook.Health
	// carried are the healths appended by CarryHealth, by webhook.
	carried map[string][]webhook.Health
	gone    map[string]bool
	stuck   bool
	// onMark, when set, is what another node does as a marker is appended.
	onMark func(id string, pair uint64)
	// lagging: the model applies what was appended in rounds, as a read model commits in batches:
	// a round comes when it is asked again about a webhook it was asked about since the last one.
	lagging bool
	pending []func()
	asked   map[string]bool
	rounds  int
}

func (m *memEndpoints) Carrying(_ context.Context, _, _, id string) (retention.Carry, bool, error) {
	if m.lagging {
		if m.asked[id] && len(m.pending) > 0 {
			for _, apply := range m.pending {
				apply()
			}
			m.pending, m.asked = nil, map[string]bool{}
			m.rounds++
		}
		m.asked[id] = true
	}
	if m.gone[id] {
		return retention.Carry{}, false, nil
	}
	if c := m.carry[id]; c != nil {
		return *c, true, nil
	}
	return retention.Carry{}, true, nil
}

func (m *memEndpoints) MarkHealth(_ context.Context, id string, pair uint64) error {
	m.log.add(webhook.HealthStream(id, pair), webhook.EventHealthMarked, time.Time{})
	if m.onMark != nil {
		m.onMark(id, pair)
	}
	h := m.health[id]
	m.apply(func() {
		c := m.carry[id]
		if c == nil {
			c = &retention.Carry{}
			m.carry[id] = c
		}
		if pair > c.Marked { // as the read model does, a marker of a pair before the last changes nothing
			c.Marked, c.AtMark = pair, &h
		}
	})
	return nil
}

// apply has the model apply an append: at once, in its next round, or never when it is stuck.
func (m *memEndpoints) apply(f func()) {
	switch {
	case m.stuck:
	case m.lagging:
		m.pending = append(m.pending, f)
	default:
		f()
	}
}

func (m *memEndpoints) CarryHealth(_ context.Context, id string, pair uint64, h webhook.Health) error {
	at, _ := m.log.LastPosition(context.Background()) // the marker's: the record before the carrier here
	m.log.add(webhook.HealthStream(id, pair), webhook.EventHealthCarried, time.Time{})
	m.carried[id] = append(m.carried[id], h)
	m.apply(func() {
		c := m.carry[id]
		c.Carried, c.From, c.AtMark = pair, at, nil
	})
	return nil
}

// world is a log and a read model with deliveries of events, some old enough to go.
type world struct {
	log        *memLog
	deliveries *memDeliveries
	endpoints  *memEndpoints
	now        time.Time
}

func newWorld() *world {
	log := &memLog{pinned: map[string]bool{}, paces: map[string]eventstore.Pace{}}
	return &world{log: log, deliveries: &memDeliveries{expired: map[string]time.Time{}},
		endpoints: &memEndpoints{log: log, carry: map[string]*retention.Carry{}, health: map[string]webhook.Health{},
			carried: map[string][]webhook.Health{}, gone: map[string]bool{}, asked: map[string]bool{}},
		now: time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)}
}

// publish records a published event at created.
func (w *world) publish(eventID string, created time.Time) {
	w.log.add(publication.Stream(eventID), publication.EventPublished, created)
}

// deliver records a delivery of the event, finished at finished after attempts events.
func (w *world) deliver(id, eventID string, finished time.Time, events int) {
	w.deliverTo("", id, eventID, finished, events)
}

// deliverTo records a delivery of the event to the webhook (of tenant t1, community c1).
func (w *world) deliverTo(webhookID, id, eventID string, finished time.Time, events int) {
	for range events {
		w.log.add(delivery.Stream(id), delivery.EventScheduled, finished)
	}
	rev, _ := w.log.last(delivery.Stream(id))
	at, _ := w.log.LastPosition(context.Background())
	w.deliveries.rows = append(w.deliveries.rows, row{Delivery: retention.Delivery{ID: id, TenantID: "t1", CommunityID: "c1",
		WebhookID: webhookID, EventID: eventID, Version: rev, Position: at, UpdatedAt: finished}, finished: finished})
}

func (w *world) sweeper(t *testing.T, retain time.Duration, settled eventlog.Position) *retention.Sweeper {
	t.Helper()
	s, err := retention.New(retention.Config{Retention: retain, Log: w.log, Deliveries: w.deliveries, Endpoints: w.endpoints,
		Batch: 2, CarryWait: 50 * time.Millisecond,
		Settled: func(context.Context) (eventlog.Position, error) { return settled, nil },
		Clock:   func() time.Time { return w.now }})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (w *world) streams() []string {
	var out []string
	for _, r := range w.log.records {
		if !slices.Contains(out, r.Stream) {
			out = append(out, r.Stream)
		}
	}
	sort.Strings(out)
	return out
}

// TestSweepRemovesExpiredDeliveriesThenTheirEvents: deliveries finished before the cutoff go from
// the log and the read model, in batches, and are remembered as expired; a published event goes
// once none of its deliveries is left; recent deliveries, a delivery that moved on since the read
// model saw it, and other streams stay.
func TestSweepRemovesExpiredDeliveriesThenTheirEvents(t *testing.T) {
	t.Parallel()
	w := newWorld()
	old, recent := w.now.Add(-48*time.Hour), w.now.Add(-time.Hour)
	w.log.add("webhook-w1", "WebhookCreated", old)
	w.publish("e1", old)
	w.publish("e2", old)
	w.deliver("d1", "e1", old, 3)
	w.deliver("d2", "e1", old, 2)
	w.deliver("d3", "e2", old, 2)
	w.deliver("d4", "e2", recent, 2)
	w.deliver("d5", "e1", old, 2)
	w.log.add(delivery.Stream("d5"), delivery.EventReplayRequested, w.now) // a replay the read model has not seen
	w.log.add("webhook-w1", "WebhookUpdated", w.now)

	removed, err := w.sweeper(t, 24*time.Hour, eventlog.Position{Commit: 1 << 62}).Sweep(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{delivery.Stream("d4"), delivery.Stream("d5"), publication.Stream("e1"), publication.Stream("e2"), "webhook-w1"}
	if got := w.streams(); !slices.Equal(got, want) {
		t.Errorf("streams left %v, want %v", got, want)
	}
	if removed != 3 {
		t.Errorf("removed %d streams, want 3 (d1, d2, d3)", removed)
	}
	if w.log.deletes < 2 {
		t.Errorf("%d DeleteStreams calls for 4 deliveries in batches of 2, want at least 2", w.log.deletes)
	}
	for _, id := range []string{"d1", "d2", "d3"} {
		if _, ok := w.deliveries.expired[id]; !ok {
			t.Errorf("%s is not remembered as expired", id)
		}
	}
	if _, ok := w.deliveries.expired["d5"]; ok {
		t.Error("d5, which moved on since, is remembered as expired")
	}
	if !w.deliveries.forgotAt.Equal(w.now.Add(-24 * time.Hour)) {
		t.Errorf("expired ids forgotten before %v, want the cutoff", w.deliveries.forgotAt)
	}

	// Once d5 is finished and old, and d4 old too, both go, and their events with them.
	w.deliveries.rows = nil
	w.deliver("d5", "e1", old, 0)
	w.deliveries.rows[0].Version = 2
	w.deliver("d4", "e2", old, 0)
	w.deliveries.rows[1].Version = 1
	w.now = w.now.Add(48 * time.Hour)
	if _, err := w.sweeper(t, 24*time.Hour, eventlog.Position{Commit: 1 << 62}).Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := w.streams(); !slices.Equal(got, []string{"webhook-w1"}) {
		t.Errorf("streams left %v, want only the webhook's", got)
	}
}

// TestSweepWalksPublishedEventsUpToSettledAndCutoff: an old published event with no delivery kept
// (no webhook listened) goes; one past the settled position (not dispatched yet) or recorded after
// the cutoff stays, and so does one the store cannot remove yet.
func TestSweepWalksPublishedEventsUpToSettledAndCutoff(t *testing.T) {
	t.Parallel()
	w := newWorld()
	old := w.now.Add(-48 * time.Hour)
	w.publish("unheard", old)
	w.publish("pinned", old)
	w.publish("heard", old)
	w.deliver("d1", "heard", w.now, 1)
	w.publish("young", w.now)
	settled := w.log.records[4].Position // up to the young event
	w.publish("late", old)               // past the settled position
	w.log.pinned[publication.Stream("pinned")] = true

	s := w.sweeper(t, 24*time.Hour, settled)
	if _, err := s.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := []string{delivery.Stream("d1"), publication.Stream("heard"), publication.Stream("late"), publication.Stream("pinned"), publication.Stream("young")}
	if got := w.streams(); !slices.Equal(got, want) {
		t.Errorf("streams left %v, want %v", got, want)
	}
}

// TestRunGoesOnAtOnceAfterAPassThatRemoved: under load deliveries expire while a pass runs, so a
// pass that removed something is followed by the next without the pause between passes (an hour
// here); only a pass that found nothing waits.
func TestRunGoesOnAtOnceAfterAPassThatRemoved(t *testing.T) {
	t.Parallel()
	w := newWorld()
	w.publish("e1", w.now.Add(-48*time.Hour))
	w.publish("e2", w.now)
	w.deliver("d1", "e1", w.now.Add(-48*time.Hour), 2)
	w.deliver("d2", "e2", w.now, 2)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // catches a hang only
	defer cancel()
	passes := 0
	s, err := retention.New(retention.Config{Retention: 24 * time.Hour, Log: w.log, Deliveries: w.deliveries,
		Endpoints: w.endpoints, Interval: time.Hour,
		Settled: func(context.Context) (eventlog.Position, error) { return eventlog.Position{Commit: 1 << 62}, nil },
		// Each pass sees the clock two days on: d1 expires in the first, d2 in the second.
		Clock: func() time.Time {
			passes++
			if passes == 3 {
				cancel()
			}
			return w.now.Add(time.Duration(passes-1) * 48 * time.Hour)
		}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if passes != 3 {
		t.Fatalf("%d passes before the context ended, want 3 without a pause (d1, d2, nothing)", passes)
	}
	if got := w.streams(); len(got) != 0 {
		t.Errorf("streams left %v, want none", got)
	}
}

// TestSweepPressesOnlyWhenBehind: deleting what expired within two Intervals (a pass runs at least
// every Interval) keeps the pace that lets appends go first; a delivery or an event found later
// than that means the sweeper is behind, and its batch is deleted at the pace that takes a share
// of the log, events with their deliveries.
func TestSweepPressesOnlyWhenBehind(t *testing.T) {
	t.Parallel()
	w := newWorld()
	const retain = 24 * time.Hour
	cutoff := w.now.Add(-retain) // the default Interval is a second
	justExpired, late := cutoff.Add(-1500*time.Millisecond), cutoff.Add(-2500*time.Millisecond)
	w.publish("e-due", justExpired)
	w.publish("e-late", late)
	w.publish("unheard-due", justExpired)
	w.publish("unheard-late", late)
	w.deliver("due-1", "e-due", justExpired, 2)
	w.deliver("due-2", "e-due", justExpired, 2)
	w.deliver("late-1", "e-late", late, 2)
	w.deliver("late-2", "e-late", justExpired, 2)
	w.log.add("webhook-w1", "WebhookCreated", w.now) // the log's last stream stays last

	if _, err := w.sweeper(t, retain, eventlog.Position{Commit: 1 << 62}).Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := map[string]eventstore.Pace{
		delivery.Stream("due-1"): eventstore.KeepingUp, delivery.Stream("due-2"): eventstore.KeepingUp,
		publication.Stream("e-due"): eventstore.KeepingUp,
		// One late delivery makes its batch (of two) late.
		delivery.Stream("late-1"): eventstore.Behind, delivery.Stream("late-2"): eventstore.Behind,
		publication.Stream("e-late"): eventstore.Behind,
		// The walk finds both unheard events in one page: the late one makes the page late.
		publication.Stream("unheard-due"): eventstore.Behind, publication.Stream("unheard-late"): eventstore.Behind,
	}
	for stream, pace := range want {
		got, ok := w.log.paces[stream]
		if !ok {
			t.Errorf("%s was not deleted", stream)
		} else if got != pace {
			t.Errorf("%s deleted at pace %d, want %d", stream, got, pace)
		}
	}

	// Alone, events that expired just now are walked at the pace that lets appends go first.
	w = newWorld()
	w.publish("unheard-due", justExpired)
	w.log.add("webhook-w1", "WebhookCreated", w.now)
	if _, err := w.sweeper(t, retain, eventlog.Position{Commit: 1 << 62}).Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, ok := w.log.paces[publication.Stream("unheard-due")]; !ok || got != eventstore.KeepingUp {
		t.Errorf("an event that expired just now deleted at pace %d (%v), want KeepingUp", got, ok)
	}
}

// expiredTo returns a world with event e1, published two days ago, and a delivery of it finished
// then to each webhook given ("" for none): d1, d2 and so on. It also returns when that was.
func expiredTo(webhookIDs ...string) (*world, time.Time) {
	w := newWorld()
	old := w.now.Add(-48 * time.Hour)
	w.publish("e1", old)
	for i, id := range webhookIDs {
		w.deliverTo(id, fmt.Sprintf("d%d", i+1), "e1", old, 2)
	}
	return w, old
}

// TestSweepCarriesHealthBeforeRemovingAWebhooksDeliveries: the deliveries of a webhook go only
// once a pair marked after them has carried its health, with the health the read model had at the
// marker; a later pass carries a new pair and removes the one it supersedes. Deliveries to no
// webhook, or to one gone, need no pair.
func TestSweepCarriesHealthBeforeRemovingAWebhooksDeliveries(t *testing.T) {
	t.Parallel()
	w, old := expiredTo("w1", "w1", "gone", "")
	w.endpoints.gone["gone"] = true
	health := webhook.Health{}.Record(old, true)
	w.endpoints.health["w1"] = health
	s := w.sweeper(t, 24*time.Hour, eventlog.Position{Commit: 1 << 62})
	if _, err := s.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, want := w.streams(), []string{webhook.HealthStream("w1", 1)}; !slices.Equal(got, want) {
		t.Fatalf("streams after the first pass %v, want %v", got, want)
	}
	if got := w.endpoints.carried["w1"]; len(got) != 1 || !reflect.DeepEqual(got[0], health) {
		t.Errorf("carried %+v, want the health at the marker %+v", got, health)
	}
	if _, ok := w.endpoints.carried["gone"]; ok {
		t.Error("a pair was carried for a webhook gone")
	}

	w.now = w.now.Add(72 * time.Hour)
	w.publish("e2", old)
	w.deliverTo("w1", "d5", "e2", w.now.Add(-48*time.Hour), 1)
	if _, err := s.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, want := w.streams(), []string{webhook.HealthStream("w1", 2)}; !slices.Equal(got, want) {
		t.Errorf("streams after the second pass %v, want %v: pair 1 superseded", got, want)
	}
}

// TestSweepKeepsDeliveriesWhoseHealthIsNotCarried: when the webhooks read model does not apply a
// pair within CarryWait, that webhook's deliveries stay for a later pass, and the others go.
func TestSweepKeepsDeliveriesWhoseHealthIsNotCarried(t *testing.T) {
	t.Parallel()
	w, _ := expiredTo("w1", "")
	w.endpoints.stuck = true
	if _, err := w.sweeper(t, 24*time.Hour, eventlog.Position{Commit: 1 << 62}).Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := []string{delivery.Stream("d1"), publication.Stream("e1"), webhook.HealthStream("w1", 1)}
	if got := w.streams(); !slices.Equal(got, want) {
		t.Errorf("streams %v, want %v", got, want)
	}
}

// TestSweepOfAWebhookDeletedWhileCarrying: a webhook deleted between its marker and the read
// model's applying it needs no carry: its deliveries go, and so does the marker.
func TestSweepOfAWebhookDeletedWhileCarrying(t *testing.T) {
	t.Parallel()
	w, _ := expiredTo("w1")
	w.endpoints.onMark = func(id string, _ uint64) { w.endpoints.gone[id] = true }
	if _, err := w.sweeper(t, 24*time.Hour, eventlog.Position{Commit: 1 << 62}).Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := w.streams(); len(got) != 0 {
		t.Errorf("streams left %v, want none", got)
	}
}

// TestSweepRemovesAPairAnotherNodeCarriedMeanwhile: a pass that finds a pair marked by another
// node and not carried goes on to the next pair; when the other node carries the first meanwhile,
// that pair is superseded all the same and goes.
func TestSweepRemovesAPairAnotherNodeCarriedMeanwhile(t *testing.T) {
	t.Parallel()
	w, _ := expiredTo("w1")
	w.log.add(webhook.HealthStream("w1", 1), webhook.EventHealthMarked, time.Time{})
	w.endpoints.carry["w1"] = &retention.Carry{Marked: 1, AtMark: &webhook.Health{}}
	w.endpoints.onMark = func(id string, pair uint64) {
		if pair == 2 {
			w.log.add(webhook.HealthStream(id, 1), webhook.EventHealthCarried, time.Time{})
		}
	}
	if _, err := w.sweeper(t, 24*time.Hour, eventlog.Position{Commit: 1 << 62}).Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, want := w.streams(), []string{webhook.HealthStream("w1", 2)}; !slices.Equal(got, want) {
		t.Errorf("streams %v, want %v alone", got, want)
	}
}

// TestSweepCarriesEveryWebhookInOneWait: a pass marks the pairs of all the webhooks whose
// deliveries expire, waits for the read model once, carries them all and waits once more, so that
// the number of webhooks does not multiply the pass's waits.
func TestSweepCarriesEveryWebhookInOneWait(t *testing.T) {
	t.Parallel()
	var ids []string
	for i := range 20 {
		ids = append(ids, fmt.Sprintf("w%02d", i))
	}
	w, _ := expiredTo(ids...)
	w.endpoints.lagging = true
	if _, err := w.sweeper(t, 24*time.Hour, eventlog.Position{Commit: 1 << 62}).Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, id := range ids {
		want = append(want, webhook.HealthStream(id, 1))
	}
	if got := w.streams(); !slices.Equal(got, want) {
		t.Errorf("streams %v, want each webhook's first pair alone", got)
	}
	if w.endpoints.rounds != 2 {
		t.Errorf("the pass waited for %d rounds of the read model, want 2 (markers, carriers)", w.endpoints.rounds)
	}
}

// TestSweepCarriesAgainOnlyForADeliveryAfterTheMarker: a delivery whose last event came before the
// marker of its webhook's carried pair goes without another pair, however many passes ran since;
// the first delivery after the marker to expire has the next pass carry a new pair.
func TestSweepCarriesAgainOnlyForADeliveryAfterTheMarker(t *testing.T) {
	t.Parallel()
	w, _ := expiredTo("w1")
	w.publish("e2", w.now)
	w.deliverTo("w1", "before", "e2", w.now.Add(-time.Hour), 1) // expires in 23 hours
	s := w.sweeper(t, 24*time.Hour, eventlog.Position{Commit: 1 << 62})
	if _, err := s.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	w.deliverTo("w1", "after", "e2", w.now, 1) // after pair 1's marker

	w.now = w.now.Add(23*time.Hour + time.Minute)
	if _, err := s.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := []string{delivery.Stream("after"), publication.Stream("e2"), webhook.HealthStream("w1", 1)}
	if got := w.streams(); !slices.Equal(got, want) {
		t.Fatalf("streams %v, want %v: the delivery before the marker gone without a second pair", got, want)
	}
	if n := len(w.endpoints.carried["w1"]); n != 1 {
		t.Errorf("%d pairs carried, want 1", n)
	}

	w.now = w.now.Add(time.Hour)
	if _, err := s.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, want := w.streams(), []string{webhook.HealthStream("w1", 2)}; !slices.Equal(got, want) {
		t.Errorf("streams %v, want %v: a second pair for the delivery after the first marker", got, want)
	}
}

// TestSweepRemovesAMarkerALaggingPassAppendedToAPairSupersededMeanwhile: a pass that read an old
// carry marks a pair other nodes have carried and removed since, which makes its stream again; that
// pair is superseded, so the pass removes it rather than leave a marker no later pass would reach.
func TestSweepRemovesAMarkerALaggingPassAppendedToAPairSupersededMeanwhile(t *testing.T) {
	t.Parallel()
	w, _ := expiredTo("w1")
	w.endpoints.carry["w1"] = &retention.Carry{Carried: 1, Marked: 1}
	w.endpoints.onMark = func(id string, pair uint64) {
		if pair != 2 {
			return
		}
		// Meanwhile other nodes carried pairs 2 and 3 and removed pair 2's stream: this pass's
		// marker of pair 2 made it again.
		w.log.add(webhook.HealthStream(id, 3), webhook.EventHealthMarked, time.Time{})
		w.log.add(webhook.HealthStream(id, 3), webhook.EventHealthCarried, time.Time{})
		at, _ := w.log.LastPosition(context.Background())
		w.endpoints.carry[id] = &retention.Carry{Carried: 3, Marked: 3, From: at}
	}
	if _, err := w.sweeper(t, 24*time.Hour, eventlog.Position{Commit: 1 << 62}).Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := []string{delivery.Stream("d1"), publication.Stream("e1"), webhook.HealthStream("w1", 3)}
	if got := w.streams(); !slices.Equal(got, want) {
		t.Errorf("streams %v, want %v: the marker of pair 2 removed, the delivery left to the next pass", got, want)
	}
}
