package reconcile_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookd/hookd/adapters/natsserver"
	"github.com/hookd/hookd/adapters/transport"
	"github.com/hookd/hookd/adapters/transport/natstransport"
	"github.com/hookd/hookd/application/reconcile"
)

// TestReconcileAfterStreamLost runs on a real NATS server: the deliveries' timers are in the stream
// when NATS loses it (the stream deleted, as a server restarted empty would have it). One reconcile
// pass, with the real transport as scheduler, hands back every delivery the log says is overdue,
// and each arrives once; a delivery due within the margin (which a live node may hold) is left.
func TestReconcileAfterStreamLost(t *testing.T) {
	t.Parallel()
	const topic = "hookd.deliveries"
	ctx := context.Background()
	nc := connectNATS(t)
	const ackWait = 2 * time.Second
	ps, err := natstransport.New(natstransport.Config{Conn: nc, AckWait: ackWait, CloseTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ps.Close() })
	sched := transport.NewScheduler(ps, topic)

	// The log: 40 deliveries overdue (their messages were published with timers an hour away, as
	// retries are), and one due a moment ago, within the margin.
	start := time.Now()
	log := &fakeLog{}
	const overdue = 40
	for i := range overdue {
		d := reconcile.DueDelivery{DeliveryID: fmt.Sprint("dlv-", i), DueAt: start.Add(-time.Hour + time.Duration(i)*time.Second), Cursor: i}
		log.due = append(log.due, d)
		if err := sched.Schedule(ctx, d.DeliveryID, start.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	log.due = append(log.due, reconcile.DueDelivery{DeliveryID: "recent", DueAt: start.Add(-time.Second), Cursor: overdue})

	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if err := js.DeleteStream(ctx, "hookd_deliveries"); err != nil {
		t.Fatal(err)
	}

	subCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	msgs, err := ps.Subscribe(subCtx, topic)
	if err != nil {
		t.Fatal(err)
	}
	r, err := reconcile.New(reconcile.Config{Deliveries: log, Scheduler: sched, AckWait: ackWait, LongestAttempt: time.Second, PageSize: 16})
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.Pass(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res != (reconcile.Result{Read: overdue, Scheduled: overdue, Complete: true}) {
		t.Fatalf("pass %+v, want all %d overdue scheduled", res, overdue)
	}

	got := map[string]int{}
	receive := func(m *message.Message) {
		got[m.UUID]++
		m.Ack()
	}
	timeout := time.After(30 * time.Second)
	for received := 0; received < overdue; received++ {
		select {
		case m := <-msgs:
			receive(m)
		case <-timeout:
			t.Fatalf("received %d of %d deliveries within 30s", received, overdue)
		}
	}
	// A little longer, for a duplicate or the recent delivery.
	settle := time.After(time.Second)
	for settling := true; settling; {
		select {
		case m := <-msgs:
			receive(m)
		case <-settle:
			settling = false
		}
	}
	for _, d := range log.due[:overdue] {
		if got[d.DeliveryID] != 1 {
			t.Errorf("%s arrived %d times, want once", d.DeliveryID, got[d.DeliveryID])
		}
	}
	if len(got) != overdue {
		t.Errorf("received %d distinct deliveries (recent: %d times), want exactly the %d overdue", len(got), got["recent"], overdue)
	}
}

// recordingScheduler passes schedules on to the transport and records their ids.
type recordingScheduler struct {
	next      reconcile.Scheduler
	scheduled []string
}

func (r *recordingScheduler) Schedule(ctx context.Context, id string, dueAt time.Time) error {
	r.scheduled = append(r.scheduled, id)
	return r.next.Schedule(ctx, id, dueAt)
}

// TestTakeoverOnTheStream runs a takeover on a real NATS server, as a dispatch leader that took over
// from one stopped cleanly finds it: of the deliveries the log says are due, one is in flight on a
// node (handed out, not acked), one waits on a retry's timer, one waits to be handed out, one was
// appended by the last leader and never published, and one was attempted and acked though the read
// model, behind, still shows it due. Only the last two are handed over: the in-flight delivery keeps
// its one message, which its node acks; nothing else is handed out for it.
func TestTakeoverOnTheStream(t *testing.T) {
	t.Parallel()
	const topic = "hookd.deliveries"
	ctx := t.Context()
	nc := connectNATS(t)
	ps, err := natstransport.New(natstransport.Config{Conn: nc, AckWait: time.Minute, MaxInFlight: 2, CloseTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ps.Close() })
	sched := transport.NewScheduler(ps, topic)

	for _, id := range []string{"acked", "in-flight"} {
		if err := sched.Schedule(ctx, id, time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	msgs, err := ps.Subscribe(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	node := map[string]*message.Message{}
	for len(node) < 2 {
		select {
		case m := <-msgs:
			node[m.UUID] = m
		case <-time.After(30 * time.Second):
			t.Fatalf("%d of 2 deliveries handed out", len(node))
		}
	}
	node["acked"].Ack()
	if err := sched.Schedule(ctx, "timer", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := sched.Schedule(ctx, "waiting", time.Time{}); err != nil {
		t.Fatal(err)
	}
	// The ack is confirmed by the subscription in the background: wait until the stream drops it.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		held, err := ps.Holds(ctx, topic, "acked")
		if err != nil {
			t.Fatal(err)
		}
		if !held {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the acked delivery is still held after 30s")
		}
	}

	log := &fakeLog{}
	for i, id := range []string{"in-flight", "acked", "timer", "waiting", "unpublished"} {
		log.due = append(log.due, reconcile.DueDelivery{DeliveryID: id, DueAt: time.Now().Add(-time.Minute), Cursor: i})
	}
	rec := &recordingScheduler{next: sched}
	res, err := reconcile.Takeover(ctx, reconcile.TakeoverConfig{Deliveries: log, Scheduler: rec,
		Held: func(ctx context.Context) (map[string]struct{}, error) { return ps.Held(ctx, topic) }})
	if err != nil {
		t.Fatal(err)
	}
	if want := (reconcile.TakeoverResult{Due: 5, Held: 3, Scheduled: 2}); res != want {
		t.Errorf("takeover %+v, want %+v", res, want)
	}
	if want := []string{"acked", "unpublished"}; !slices.Equal(rec.scheduled, want) {
		t.Errorf("handed over %v, want %v", rec.scheduled, want)
	}
	// The node's in-flight attempt ends: acked, the delivery is held no more; the two handed over
	// and the waiting one arrive, and the in-flight one never comes again.
	node["in-flight"].Ack()
	got := map[string]int{}
	for received := 0; received < 3; received++ {
		select {
		case m := <-msgs:
			got[m.UUID]++
			m.Ack()
		case <-time.After(30 * time.Second):
			t.Fatalf("received %v; want acked, unpublished and waiting", got)
		}
	}
	if want := map[string]int{"acked": 1, "unpublished": 1, "waiting": 1}; !maps.Equal(got, want) {
		t.Errorf("received %v, want %v", got, want)
	}
}

// connectNATS starts a real NATS server with JetStream for the test and connects to it.
func connectNATS(t *testing.T) *nats.Conn {
	t.Helper()
	srv, err := natsserver.Start(t.Context(), natsserver.Config{StoreDir: t.TempDir(), Port: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}
