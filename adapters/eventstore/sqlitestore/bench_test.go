package sqlitestore_test

import (
	"encoding/binary"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookd/hookd/adapters/eventstore/sqlitestore"
	"github.com/hookd/hookd/domain/eventlog"
)

// payload is a JSON document of about 1 KiB, the size of a typical hookd event.
var payload = []byte(`{"payload":"` + strings.Repeat("x", 1000) + `"}`)

func benchEvent(appender, n int) eventlog.EventData {
	var id eventlog.EventID
	binary.BigEndian.PutUint64(id[:8], uint64(appender))
	binary.BigEndian.PutUint64(id[8:], uint64(n))
	return eventlog.EventData{ID: id, Type: "BenchEvent", Data: payload}
}

// BenchmarkAppend measures appends of one event each, every appender on a stream of its own with an
// exact expected revision: the load group commit exists for.
func BenchmarkAppend(b *testing.B) {
	for _, appenders := range []int{1, 16, 64} {
		b.Run(fmt.Sprint("appenders=", appenders), func(b *testing.B) { benchmarkAppend(b, appenders) })
	}
}

func benchmarkAppend(b *testing.B, appenders int) {
	ctx := b.Context()
	s := open(b, filepath.Join(b.TempDir(), "log.db"), sqlitestore.Options{})
	for g := range appenders {
		if _, err := s.Append(ctx, fmt.Sprint("bench-", g), eventlog.NoStream(), []eventlog.EventData{benchEvent(g, 0)}); err != nil {
			b.Fatal(err)
		}
	}
	var (
		next      atomic.Int64
		wg        sync.WaitGroup
		latencies = make([][]time.Duration, appenders)
	)
	b.ResetTimer()
	for g := range appenders {
		wg.Go(func() {
			stream, revision := fmt.Sprint("bench-", g), uint64(0)
			for n := 1; next.Add(1) <= int64(b.N); n++ {
				began := time.Now()
				res, err := s.Append(ctx, stream, eventlog.Exactly(revision), []eventlog.EventData{benchEvent(g, n)})
				latencies[g] = append(latencies[g], time.Since(began))
				if err != nil {
					b.Error(err)
					return
				}
				revision = res.Revision
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	all := slices.Concat(latencies...)
	slices.Sort(all)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
	b.ReportMetric(float64(all[len(all)*99/100]), "p99-ns")
}

// BenchmarkSubscribeCatchUp measures how fast a subscription reads a log of 100,000 events of about
// 1 KiB from the start.
func BenchmarkSubscribeCatchUp(b *testing.B) {
	const total, perAppend, streams = 100_000, 500, 100
	ctx := b.Context()
	s := open(b, filepath.Join(b.TempDir(), "log.db"), sqlitestore.Options{})
	for i := range total / perAppend {
		evs := make([]eventlog.EventData, perAppend)
		for j := range evs {
			evs[j] = benchEvent(i, j)
		}
		round := i / streams
		if _, err := s.Append(ctx, fmt.Sprint("bench-", i%streams), eventlog.After(int64(round*perAppend)-1), evs); err != nil {
			b.Fatal(err)
		}
	}
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
