package reconcile_test

import (
	"context"
	"fmt"
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
	srv, err := natsserver.Start(ctx, natsserver.Config{StoreDir: t.TempDir(), Port: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
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
