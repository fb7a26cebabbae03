package sqlitestore_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/hookd/hookd/adapters/eventstore/sqlitestore"
	"github.com/hookd/hookd/application/eventstore"
	"github.com/hookd/hookd/domain/eventlog"
)

// BenchmarkDeleteExpiredDeliveries fills a log with HOOKD_BENCH_DELETE_DELIVERIES deliveries (default
// 100,000) as hookd writes them (a published event of 1 KiB, its delivery: scheduled with the body,
// attempted, succeeded; stored compressed, hookd's default), then deletes them all as retention does (DeleteStreams, 64 streams a
// call, the delivery streams, then the events) while an appender appends one event every
// millisecond, at each pace (a sweeper keeping up, one behind). It reports the deletion's time,
// deliveries deleted per second, and the appends' longest and 99th percentile latency during it
// (as "stall-ms" and "p99-ms"). Run it with
//
//	HOOKD_BENCH_DELETE_DELIVERIES=1000000 go test -run '^$' -bench DeleteExpired -benchtime 1x -timeout 2h ./adapters/eventstore/sqlitestore/
func BenchmarkDeleteExpiredDeliveries(b *testing.B) {
	n := 100_000
	if v := os.Getenv("HOOKD_BENCH_DELETE_DELIVERIES"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			b.Fatalf("HOOKD_BENCH_DELETE_DELIVERIES=%q: want a positive number", v)
		}
	}
	b.Run("pace=keeping-up", func(b *testing.B) { benchmarkDeleteExpired(b, n, eventstore.KeepingUp) })
	b.Run("pace=behind", func(b *testing.B) { benchmarkDeleteExpired(b, n, eventstore.Behind) })
}

func benchmarkDeleteExpired(b *testing.B, n int, pace eventstore.Pace) {
	for range b.N {
		path := filepath.Join(b.TempDir(), "log.db")
		s := open(b, path, sqlitestore.Options{CompressData: true})
		ctx := context.Background()
		deliveries, published := fillDeliveries(b, s, n)
		info, _ := os.Stat(path)
		b.Logf("%d deliveries in %.0f MB", n, float64(info.Size())/1e6)

		// The appends' latency without deletes first, on the same file: the machine's own share.
		idle := appendLatencies(b, s, func() { time.Sleep(2 * time.Second) })
		b.ResetTimer()
		var took time.Duration
		latencies := appendLatencies(b, s, func() {
			start := time.Now()
			for _, streams := range [][]eventstore.StreamAt{deliveries, published} {
				for len(streams) > 0 {
					k := min(len(streams), deletesPerCall)
					if kept, err := s.DeleteStreams(ctx, streams[:k], pace); err != nil || len(kept) > 0 {
						b.Fatalf("DeleteStreams: kept %d, %v", len(kept), err)
					}
					streams = streams[k:]
				}
			}
			took = time.Since(start)
		})
		b.StopTimer()
		b.ReportMetric(took.Seconds(), "s-to-delete")
		b.ReportMetric(float64(n)/took.Seconds(), "deliveries/s")
		b.ReportMetric(ms(latencies[len(latencies)-1]), "stall-ms")
		b.ReportMetric(ms(latencies[len(latencies)*99/100]), "p99-ms")
		b.ReportMetric(ms(idle[len(idle)-1]), "idle-max-ms")
		b.ReportMetric(ms(idle[len(idle)*99/100]), "idle-p99-ms")
		b.Logf("deleted %d deliveries in %s; %d appends meanwhile", n, took.Round(time.Millisecond), len(latencies))
	}
}

// deletesPerCall is how many streams the benchmark passes to one DeleteStreams call: retention's
// default batch.
const deletesPerCall = 64

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// appendLatencies appends one event every millisecond while during runs, and returns the appends'
// latencies, sorted.
func appendLatencies(b *testing.B, s *sqlitestore.Store, during func()) []time.Duration {
	stop := make(chan struct{})
	var (
		wg        sync.WaitGroup
		latencies []time.Duration
	)
	wg.Go(func() {
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			start := time.Now()
			if _, err := s.Append(context.Background(), "webhook-"+uuid.NewString(), eventlog.NoStream(), events(1)); err != nil {
				b.Error(err)
				return
			}
			latencies = append(latencies, time.Since(start))
		}
	})
	during()
	close(stop)
	wg.Wait()
	if len(latencies) == 0 {
		b.Fatal("no append was made")
	}
	slices.Sort(latencies)
	return latencies
}

// fillDeliveries appends n deliveries in batches from 16 appenders and returns the streams to
// delete: the deliveries' and the published events'.
func fillDeliveries(b *testing.B, s *sqlitestore.Store, n int) (deliveries, published []eventstore.StreamAt) {
	b.Helper()
	payload := `{"user":"ada","email":"ada@example.com","seq":%d,"note":"` + string(incompressible(300)) + `"}`
	deliveries = make([]eventstore.StreamAt, n)
	published = make([]eventstore.StreamAt, n)
	var wg sync.WaitGroup
	const appenders = 16
	for a := range appenders {
		wg.Go(func() {
			ctx := context.Background()
			for i := a; i < n; i += appenders {
				id := uuid.NewString()
				body := fmt.Sprintf(payload, i)
				evs := events(4)
				evs[0].Data = []byte(body)
				evs[1].Data = []byte(`{"deliveryId":"` + id + `","body":` + strconv.Quote(body) + `,"settings":{"url":"https://example.com/hook"}}`)
				evs[2].Data = []byte(`{"deliveryId":"` + id + `","attempt":1,"status":200,"durationMs":12}`)
				evs[3].Data = []byte(`{"deliveryId":"` + id + `"}`)
				if _, err := s.Append(ctx, "event-"+id, eventlog.NoStream(), evs[:1]); err != nil {
					b.Error(err)
					return
				}
				if _, err := s.Append(ctx, "delivery-"+id, eventlog.NoStream(), evs[1:2]); err != nil {
					b.Error(err)
					return
				}
				if _, err := s.Append(ctx, "delivery-"+id, eventlog.Exactly(0), evs[2:]); err != nil {
					b.Error(err)
					return
				}
				deliveries[i] = eventstore.StreamAt{Stream: "delivery-" + id, Revision: 2}
				published[i] = eventstore.StreamAt{Stream: "event-" + id, Revision: 0}
			}
		})
	}
	wg.Wait()
	return deliveries, published
}
