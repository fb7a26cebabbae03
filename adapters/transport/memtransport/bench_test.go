package memtransport_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/hookd/hookd/adapters/transport"
	"github.com/hookd/hookd/adapters/transport/memtransport"
)

// BenchmarkScheduleDeliverAck is one delivery's cost in the transport: scheduled through the
// Scheduler, handed out, acked on a goroutine of its own as Watermill's router does, with at most
// 1,000 scheduled and not yet acked (a steady load, not a backlog). For profiling; it asserts nothing.
func BenchmarkScheduleDeliverAck(b *testing.B) {
	outstanding := make(chan struct{}, 1000)
	ps := memtransport.New(memtransport.Config{})
	defer ps.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	msgs, err := ps.Subscribe(ctx, "bench")
	if err != nil {
		b.Fatal(err)
	}
	sched := transport.NewScheduler(ps, "bench")
	ids := make([]string, b.N)
	for i := range ids {
		ids[i] = "delivery-" + strconv.Itoa(i)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range b.N {
			msg := <-msgs
			go func() {
				msg.Ack()
				<-outstanding
			}()
		}
	}()
	b.ReportAllocs()
	b.ResetTimer()
	now := time.Now()
	for _, id := range ids {
		outstanding <- struct{}{}
		if err := sched.Schedule(ctx, id, now); err != nil {
			b.Fatal(err)
		}
	}
	<-done
}
