package deliveryview_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/internal/readmodeltest"
	"github.com/hookd/hookd/projections"
	"github.com/hookd/hookd/projections/deliveryview"
)

// Ids and times are kept packed (UUIDs as 16 bytes, times as integers), and every query answers
// with them as they were given: a delivery whose webhook and event ids are UUIDs, and one whose are
// not, or are a UUID in upper case, which is another id than its lower-case form.
func TestPackedColumnsReadAsGiven(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	v, l := newView(t), newLog(t)
	const webhookUUID, eventUUID = "0192f4c1-7a3b-7c2d-8e4f-1234567890ab", "0192f4c1-7a3b-7c2d-8e4f-ba0987654321"
	at := time.Date(2026, 12, 5, 11, 0, 0, 123456789, time.UTC)
	packed := schedule(t, spec{event: eventUUID, webhook: webhookUUID, at: at, retryCount: 1})
	upper := schedule(t, spec{event: strings.ToUpper(eventUUID), webhook: strings.ToUpper(webhookUUID), at: at.Add(time.Nanosecond)})
	text := schedule(t, spec{event: "order-17", webhook: "w1", at: at.Add(2 * time.Nanosecond)})
	v.apply(append(append(l.record(packed), l.record(upper)...), l.record(text)...)...)
	attempt(t, packed, 503, at.Add(time.Minute), "busy")
	v.apply(l.record(packed)...)

	got := v.get("t1", "c1", packed.ID())
	if got.WebhookID != webhookUUID || got.EventID != eventUUID || got.ID != packed.ID() {
		t.Errorf("ids read back as %q, %q, %q", got.ID, got.WebhookID, got.EventID)
	}
	if !got.ScheduledAt.Equal(at) || got.ScheduledAt.Location() != time.UTC || !got.LastAttempt.At.Equal(at.Add(time.Minute)) ||
		!got.AttemptLog[0].At.Equal(at.Add(time.Minute)) || got.NextDueAt.IsZero() {
		t.Errorf("times read back as scheduled %v, last attempt %v (log %v), next due %v", got.ScheduledAt, got.LastAttempt.At,
			got.AttemptLog[0].At, got.NextDueAt)
	}
	for _, c := range []struct {
		webhookID, eventID, deliveryID string
	}{{webhookUUID, eventUUID, packed.ID()}, {strings.ToUpper(webhookUUID), strings.ToUpper(eventUUID), upper.ID()}, {"w1", "order-17", text.ID()}} {
		page := v.fetch(deliveryview.FetchQuery{TenantID: "t1", CommunityID: "c1", WebhookID: c.webhookID})
		if len(page.Items) != 1 || page.Items[0].ID != c.deliveryID || page.Items[0].WebhookID != c.webhookID || page.Items[0].EventID != c.eventID {
			t.Errorf("Fetch of webhook %s: %+v", c.webhookID, page.Items)
		}
		if ok, err := v.HasDeliveriesOf(ctx, c.eventID); err != nil || !ok {
			t.Errorf("HasDeliveriesOf(%s) = %v, %v", c.eventID, ok, err)
		}
	}
	due, _ := v.due(nil, 10)
	if len(due) != 3 || due[0].DeliveryID != upper.ID() || due[2].DeliveryID != packed.ID() {
		t.Errorf("Due = %+v", due)
	}
}

// Setup drops the table of the rows kept as text before: the read model is built again from the
// log into the packed one (a table missing makes the Runner rebuild), and reuses its pages.
func TestSetupDropsTheTableItReplaced(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _ := readmodeltest.TempDB(t)
	if _, err := db.ExecContext(ctx, `CREATE TABLE delivery_records (seq INTEGER PRIMARY KEY, id TEXT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	v, err := deliveryview.New(db, readmodeltest.Codec(t))
	if err != nil {
		t.Fatal(err)
	}
	readmodeltest.InTx(t, db, func(tx *sql.Tx) error { return v.Setup(ctx, tx, projections.Schema{Build: "packed"}) })
	var left int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE name = 'delivery_records'`).Scan(&left); err != nil || left != 0 {
		t.Errorf("delivery_records left: %d, %v", left, err)
	}
}
