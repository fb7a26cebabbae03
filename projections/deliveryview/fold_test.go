package deliveryview_test

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/hookd/hookd/domain/eventlog"
	"github.com/hookd/hookd/projections"
)

// rowWrites applies records to v in one transaction and returns how many rows it inserted, updated
// or deleted (SQLite's total_changes() on the transaction's connection).
func rowWrites(t *testing.T, v *view, records []eventlog.RecordedEvent) int64 {
	t.Helper()
	var writes int64
	v.inTx(func(tx *sql.Tx) error {
		var before, after int64
		if err := tx.QueryRow(`SELECT total_changes()`).Scan(&before); err != nil {
			return err
		}
		if err := v.Apply(context.Background(), tx, projections.Schema{Build: "test"}, records); err != nil {
			return err
		}
		if err := tx.QueryRow(`SELECT total_changes()`).Scan(&after); err != nil {
			return err
		}
		writes = after - before
		return nil
	})
	return writes
}

// TestABatchWritesADeliveryItSchedulesOnce: a batch that schedules, attempts and settles a delivery
// writes its row once, the attempts and outcome folded in, and the rows are those that one event a
// batch writes.
func TestABatchWritesADeliveryItSchedulesOnce(t *testing.T) {
	t.Parallel()
	const n = 20
	l := newLog(t)
	for i := range n {
		d := schedule(t, spec{event: fmt.Sprintf("event-%d", i), at: t0.Add(time.Duration(i) * time.Second), retryCount: 2})
		l.record(d)
		if i%5 == 0 { // a retry first, then success
			attempt(t, d, 503, t0.Add(time.Minute), "busy")
			l.record(d)
		}
		attempt(t, d, 200, t0.Add(2*time.Minute), "ok")
		l.record(d)
	}
	folded, single := newView(t), newView(t)
	if got := rowWrites(t, folded, l.all); got != n {
		t.Errorf("one batch of %d deliveries' whole lives wrote %d rows, want %d", n, got, n)
	}
	for _, r := range l.all {
		single.apply(r)
	}
	if got, want := dumpRows(t, folded.db), dumpRows(t, single.db); got != want {
		t.Errorf("folded rows:\n%s\nwant, one event a batch:\n%s", got, want)
	}
}

// TestAFoldedBatchAppliedAgainChangesNothing: a batch whose deliveries have rows already (its events,
// or the first of them, were applied before) leaves them as one event a batch makes them.
func TestAFoldedBatchAppliedAgainChangesNothing(t *testing.T) {
	t.Parallel()
	l := newLog(t)
	var firsts []eventlog.RecordedEvent
	for i := range 6 {
		d := schedule(t, spec{event: fmt.Sprintf("event-%d", i), at: t0.Add(time.Duration(i) * time.Second), retryCount: 2})
		firsts = append(firsts, l.record(d)...)
		attempt(t, d, 503, t0.Add(time.Minute), "busy")
		firsts = append(firsts, l.record(d)...)
		attempt(t, d, 200, t0.Add(2*time.Minute), "ok")
		l.record(d)
	}
	again, single := newView(t), newView(t)
	again.apply(firsts...)
	again.apply(l.all...)
	for _, r := range l.all {
		single.apply(r)
	}
	if got, want := dumpRows(t, again.db), dumpRows(t, single.db); got != want {
		t.Errorf("rows after a batch applied again:\n%s\nwant, one event a batch:\n%s", got, want)
	}
}
