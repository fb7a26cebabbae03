package reconcile_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/application/reconcile"
)

var now = time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)

// fakeLog lists due deliveries as the deliveries read model does: in due order, paged by cursor.
type fakeLog struct {
	due   []reconcile.DueDelivery
	err   error
	pages []int // the limit of each call
}

func (f *fakeLog) Due(_ context.Context, after *reconcile.DueDelivery, limit int) ([]reconcile.DueDelivery, error) {
	f.pages = append(f.pages, limit)
	if f.err != nil {
		return nil, f.err
	}
	start := 0
	if after != nil {
		start = after.Cursor.(int) + 1
	}
	end := min(start+limit, len(f.due))
	if start >= end {
		return nil, nil
	}
	return slices.Clone(f.due[start:end]), nil
}

// fakeTransport records schedules; failOn makes Schedule of that id fail.
type fakeTransport struct {
	scheduled []string
	at        map[string]time.Time
	failOn    string
}

func (f *fakeTransport) Schedule(_ context.Context, id string, dueAt time.Time) error {
	if id == f.failOn {
		return errors.New("stream unavailable")
	}
	f.scheduled = append(f.scheduled, id)
	if f.at == nil {
		f.at = map[string]time.Time{}
	}
	f.at[id] = dueAt
	return nil
}

// logOf returns deliveries d0.. due at the given offsets from now, in due order.
func logOf(offsets ...time.Duration) *fakeLog {
	f := &fakeLog{}
	for i, o := range offsets {
		f.due = append(f.due, reconcile.DueDelivery{DeliveryID: fmt.Sprint("d", i), DueAt: now.Add(o), Cursor: i})
	}
	return f
}

func newReconciler(t *testing.T, log *fakeLog, tr *fakeTransport, pageSize, maxPerPass int) *reconcile.Reconciler {
	t.Helper()
	r, err := reconcile.New(reconcile.Config{
		Deliveries: log, Scheduler: tr, AckWait: 30 * time.Second, LongestAttempt: 10 * time.Second,
		PageSize: pageSize, MaxPerPass: maxPerPass, Now: func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestPassSchedulesOverdue: every delivery overdue by more than the margin (80 s here) is scheduled
// again at its due time from the log, page by page; those due more recently, which a live node may
// hold, are not.
func TestPassSchedulesOverdue(t *testing.T) {
	t.Parallel()
	log := logOf(-time.Hour, -10*time.Minute, -5*time.Minute, -2*time.Minute, -81*time.Second, -79*time.Second, -time.Second, time.Hour)
	tr := &fakeTransport{}
	r := newReconciler(t, log, tr, 2, 100)
	res, err := r.Pass(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"d0", "d1", "d2", "d3", "d4"}; !slices.Equal(tr.scheduled, want) {
		t.Fatalf("scheduled %v, want %v", tr.scheduled, want)
	}
	for _, d := range log.due[:5] {
		if !tr.at[d.DeliveryID].Equal(d.DueAt) {
			t.Errorf("%s scheduled at %s, want the log's due time %s", d.DeliveryID, tr.at[d.DeliveryID], d.DueAt)
		}
	}
	if res != (reconcile.Result{Read: 5, Scheduled: 5, Complete: true}) {
		t.Errorf("result %+v", res)
	}
	if !slices.Equal(log.pages, []int{2, 2, 2}) {
		t.Errorf("pages of %v, want three pages of 2 (the third reaching a delivery not overdue)", log.pages)
	}
}

// TestPassBounded: a pass reads at most MaxPerPass deliveries, and the next pass goes on from where
// it stopped; once complete, passes start from the first again.
func TestPassBounded(t *testing.T) {
	t.Parallel()
	log := logOf(-5*time.Hour, -4*time.Hour, -3*time.Hour, -2*time.Hour, -time.Hour)
	tr := &fakeTransport{}
	r := newReconciler(t, log, tr, 2, 3)
	res, err := r.Pass(context.Background())
	if err != nil || res != (reconcile.Result{Read: 3, Scheduled: 3}) {
		t.Fatalf("first pass %+v, %v, want 3 read and scheduled, not complete", res, err)
	}
	if !slices.Equal(log.pages, []int{2, 1}) {
		t.Errorf("first pass read pages of %v, want 2 then 1", log.pages)
	}
	res, err = r.Pass(context.Background())
	if err != nil || res != (reconcile.Result{Read: 2, Scheduled: 2, Complete: true}) {
		t.Fatalf("second pass %+v, %v, want the remaining 2, complete", res, err)
	}
	res, err = r.Pass(context.Background())
	if err != nil || res.Scheduled != 3 {
		t.Fatalf("third pass %+v, %v, want 3 from the first again", res, err)
	}
	if want := strings.Fields("d0 d1 d2 d3 d4 d0 d1 d2"); !slices.Equal(tr.scheduled, want) {
		t.Errorf("scheduled %v, want %v", tr.scheduled, want)
	}
}

// TestPassErrors: an error from the scheduler or the lister is returned, and the next pass starts
// over from where the failed one started.
func TestPassErrors(t *testing.T) {
	t.Parallel()
	log := logOf(-3*time.Hour, -2*time.Hour, -time.Hour)
	tr := &fakeTransport{failOn: "d1"}
	r := newReconciler(t, log, tr, 10, 100)
	res, err := r.Pass(context.Background())
	if err == nil || !strings.Contains(err.Error(), "d1") {
		t.Fatalf("pass with a failing scheduler = %v, want its error naming d1", err)
	}
	if res.Scheduled != 1 || res.Complete {
		t.Errorf("result %+v, want 1 scheduled, not complete", res)
	}
	tr.failOn = ""
	if res, err := r.Pass(context.Background()); err != nil || res.Scheduled != 3 {
		t.Fatalf("pass after the scheduler recovered = %+v, %v, want all 3", res, err)
	}

	log.err = errors.New("read model closed")
	if _, err := r.Pass(context.Background()); !errors.Is(err, log.err) {
		t.Fatalf("pass with a failing lister = %v, want its error", err)
	}
}

func TestNewRefusesShortMargin(t *testing.T) {
	t.Parallel()
	_, err := reconcile.New(reconcile.Config{Deliveries: &fakeLog{}, Scheduler: &fakeTransport{},
		AckWait: 30 * time.Second, LongestAttempt: 10 * time.Second, Margin: 50 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "Margin") {
		t.Fatalf("New with a margin under the ack wait plus two attempts = %v, want an error", err)
	}
	if _, err := reconcile.New(reconcile.Config{}); err == nil {
		t.Fatal("New without ports succeeded")
	}
}

// TestPassLeavesWhatTheTransportHolds: an overdue delivery the transport holds is not handed back
// (a node attempts it, or will be handed it; a pass made before the last pass's hand-back is
// recorded would have it sent twice); the transport is asked once per pass, only when something is
// overdue, and a transport that cannot say has every overdue delivery handed back.
func TestPassLeavesWhatTheTransportHolds(t *testing.T) {
	t.Parallel()
	asked := 0
	held := func(ctx context.Context) (map[string]struct{}, error) {
		asked++
		return heldSet("d1")(ctx)
	}
	log := logOf(-time.Hour, -time.Hour+time.Minute, -time.Hour+2*time.Minute, -time.Second)
	tr := &fakeTransport{}
	r, err := reconcile.New(reconcile.Config{Deliveries: log, Scheduler: tr, AckWait: time.Second, LongestAttempt: time.Second,
		Now: func() time.Time { return now }, PageSize: 2, Held: held})
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.Pass(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if want := (reconcile.Result{Read: 3, Scheduled: 2, Held: 1, Complete: true}); res != want {
		t.Errorf("pass %+v, want %+v", res, want)
	}
	if want := []string{"d0", "d2"}; !slices.Equal(tr.scheduled, want) || asked != 1 {
		t.Errorf("handed back %v asking the transport %d times, want %v asking once", tr.scheduled, asked, want)
	}

	quiet, err := reconcile.New(reconcile.Config{Deliveries: logOf(-time.Second), Scheduler: &fakeTransport{}, AckWait: time.Second,
		LongestAttempt: time.Second, Now: func() time.Time { return now }, Held: held})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := quiet.Pass(t.Context()); err != nil || asked != 1 {
		t.Errorf("a pass with nothing overdue asked the transport (%d times in all), err %v", asked, err)
	}

	failing := &fakeTransport{}
	r, err = reconcile.New(reconcile.Config{Deliveries: logOf(-time.Hour, -time.Hour), Scheduler: failing, AckWait: time.Second,
		LongestAttempt: time.Second, Now: func() time.Time { return now },
		Held: func(context.Context) (map[string]struct{}, error) { return nil, errors.New("too many to list") }})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := r.Pass(t.Context()); err != nil || res.Scheduled != 2 {
		t.Errorf("transport that cannot say: %+v, %v; want both handed back", res, err)
	}
}
