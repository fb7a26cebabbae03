package kurrentdb_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookd/hookd/adapters/eventstore/kurrentdb"
	"github.com/hookd/hookd/domain/eventlog"
)

// BenchmarkAppend measures one-event appends through the adapter and the real client against the
// in-memory test server: an upper bound on the client's overhead (round trip, allocations), not a
// figure for a real node, which also writes to disk and replicates.
func BenchmarkAppend(b *testing.B) {
	for _, appenders := range []int{1, 16} {
		b.Run(fmt.Sprint("appenders=", appenders), func(b *testing.B) {
			srv := startServer(b)
			s := open(b, kurrentdb.Options{URL: srv.URL(), Categories: []string{"bench-"}})
			ctx := context.Background()
			var (
				next      atomic.Int64
				wg        sync.WaitGroup
				mu        sync.Mutex
				latencies = make([]time.Duration, 0, b.N)
			)
			evs := newEvents(b.N)
			b.ReportAllocs()
			b.ResetTimer()
			began := time.Now()
			for g := range appenders {
				wg.Go(func() {
					stream := fmt.Sprint("bench-", g)
					expected := eventlog.NoStream()
					var own []time.Duration
					for i := next.Add(1) - 1; i < int64(b.N); i = next.Add(1) - 1 {
						t0 := time.Now()
						res, err := s.Append(ctx, stream, expected, evs[i:i+1])
						own = append(own, time.Since(t0))
						if err != nil {
							b.Error(err)
							return
						}
						expected = eventlog.Exactly(res.Revision)
					}
					mu.Lock()
					latencies = append(latencies, own...)
					mu.Unlock()
				})
			}
			wg.Wait()
			elapsed := time.Since(began)
			b.StopTimer()
			slices.Sort(latencies)
			if len(latencies) > 0 {
				b.ReportMetric(float64(latencies[len(latencies)*99/100].Microseconds()), "p99-µs")
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "appends/s")
		})
	}
}

// BenchmarkCatchUp measures how fast a subscription delivers 100,000 events already in the log.
func BenchmarkCatchUp(b *testing.B) {
	const total, batch = 100_000, 500
	srv := startServer(b)
	s := open(b, kurrentdb.Options{URL: srv.URL(), Categories: []string{"bench-"}})
	ctx := context.Background()
	for i := range total / batch {
		if _, err := s.Append(ctx, fmt.Sprint("bench-", i), eventlog.NoStream(), newEvents(batch)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	began := time.Now()
	for range b.N {
		sub, err := s.SubscribeAll(ctx, eventlog.Start)
		if err != nil {
			b.Fatal(err)
		}
		for n := 0; n < total; {
			evs, err := sub.Next(ctx, 1000)
			if err != nil {
				b.Fatal(err)
			}
			n += len(evs)
		}
		_ = sub.Close()
	}
	b.ReportMetric(float64(total*b.N)/time.Since(began).Seconds(), "events/s")
}
