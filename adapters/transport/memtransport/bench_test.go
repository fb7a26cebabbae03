package memtransport_test

import (
	"context"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"

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

// BenchmarkWindowBytes reports the heap a full window of hookd's default size (100,000 waiting
// deliveries, scheduled as hookd schedules them) holds per delivery, ids left out: what
// HOOKD_DELIVERY_WINDOW costs in memory. For the record; it asserts nothing.
func BenchmarkWindowBytes(b *testing.B) {
	const n = 100_000
	ids := make([]string, n)
	for i := range ids {
		ids[i] = uuid.NewString()
	}
	ctx, later := context.Background(), time.Now().Add(time.Hour)
	for range b.N {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		ps := memtransport.New(memtransport.Config{})
		sched := transport.NewScheduler(ps, "bench")
		for _, id := range ids {
			if err := sched.Schedule(ctx, id, later); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "B/delivery")
		runtime.KeepAlive(ps)
		ps.Close()
	}
}
