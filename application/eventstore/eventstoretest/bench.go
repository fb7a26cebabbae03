package eventstoretest

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookd/hookd/application/eventstore"
	"github.com/hookd/hookd/domain/eventlog"
)

// benchPayload is the body of every benchmark event: about 1 KiB, the size of a typical webhook
// event.
var benchPayload = []byte(`{"data":"` + strings.Repeat("x", 1000) + `"}`)

// benchEvent is event n of appender g, with an id of its own.
func benchEvent(g, n int) eventlog.EventData {
	var id eventlog.EventID
	binary.BigEndian.PutUint64(id[:8], uint64(g)+1)
	binary.BigEndian.PutUint64(id[8:], uint64(n))
	return eventlog.EventData{ID: id, Type: "BenchEvent", Data: benchPayload}
}

// BenchAppend measures appends of one event each by appenders concurrent appenders, every one on a
// stream of its own (named streamPrefix and its number) with an exact expected revision, and reports
// appends/s and the 99th percentile latency. Every adapter runs it, so their figures compare.
func BenchAppend(b *testing.B, s eventstore.Store, appenders int, streamPrefix string) {
	ctx := b.Context()
	var (
		next      atomic.Int64
		wg        sync.WaitGroup
		latencies = make([][]time.Duration, appenders)
	)
	b.ReportAllocs()
	b.ResetTimer()
	for g := range appenders {
		wg.Go(func() {
			stream, expected := fmt.Sprint(streamPrefix, g), eventlog.NoStream()
			for n := 0; next.Add(1) <= int64(b.N); n++ {
				began := time.Now()
				res, err := s.Append(ctx, stream, expected, []eventlog.EventData{benchEvent(g, n)})
				latencies[g] = append(latencies[g], time.Since(began))
				if err != nil {
					b.Error(err)
					return
				}
				expected = eventlog.Exactly(res.Revision)
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	all := slices.Concat(latencies...)
	if len(all) == 0 {
		return
	}
	slices.Sort(all)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
}

// BenchCatchUp fills s with total events (in appends of 500, on streams named streamPrefix and a
// number) and measures how fast a subscription from the start delivers them, in events/s.
func BenchCatchUp(b *testing.B, s eventstore.Store, total int, streamPrefix string) {
	const perAppend = 500
	ctx := b.Context()
	for i := range total / perAppend {
		evs := make([]eventlog.EventData, perAppend)
		for j := range evs {
			evs[j] = benchEvent(i, j)
		}
		if _, err := s.Append(ctx, fmt.Sprint(streamPrefix, i), eventlog.NoStream(), evs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
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
	b.ReportMetric(float64(total*b.N)/b.Elapsed().Seconds(), "events/s")
}
