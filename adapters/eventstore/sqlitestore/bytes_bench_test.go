package sqlitestore_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/hookd/hookd/adapters/eventstore/sqlitestore"
	"github.com/hookd/hookd/domain/delivery"
	"github.com/hookd/hookd/domain/eventlog"
	"github.com/hookd/hookd/internal/benchcpu"
)

// BenchmarkLogBytesPerDelivery measures the bytes the log alone writes to disk per delivery
// (write_bytes of /proc/self/io, so WAL frames and checkpoints both), for deliveries appended as
// hookd appends them: a published event of about 1 KiB on a stream named by a UUIDv7, then its
// delivery's stream, named as hookd names it (delivery.OrderedID, led by the publication's time),
// scheduled, attempted, succeeded, each append waiting for the one before. The delivery is
// scheduled as hookd schedules it (body_format=1: no body, built again from the published event
// when sent), or with the body in its record (body_format=0, as every delivery was before body
// formats), and with the log's events stored compressed (as hookd stores them by default) or as
// they came. After 20,000 deliveries to warm the file, it
// runs 15 s of them from 64 closed-loop appenders, or at HOOKD_BENCH_RATE deliveries a second
// (open loop). Run it with
//
//	HOOKD_BENCH_RATE=1000 go test -run '^$' -bench LogBytesPerDelivery -benchtime 1x ./adapters/eventstore/sqlitestore/
func BenchmarkLogBytesPerDelivery(b *testing.B) {
	for _, format := range []int{delivery.BodyBuiltV1, delivery.BodyRecorded} {
		for _, compress := range []bool{true, false} {
			b.Run(fmt.Sprintf("body_format=%d/compress=%v", format, compress), func(b *testing.B) {
				benchLogBytesPerDelivery(b, format, compress)
			})
		}
	}
}

func benchLogBytesPerDelivery(b *testing.B, format int, compress bool) {
	rate := 0
	if v := os.Getenv("HOOKD_BENCH_RATE"); v != "" {
		var err error
		if rate, err = strconv.Atoi(v); err != nil || rate < 1 {
			b.Fatalf("HOOKD_BENCH_RATE=%q: want a positive number", v)
		}
	}
	for range b.N {
		s := open(b, filepath.Join(b.TempDir(), "log.db"), sqlitestore.Options{CompressData: compress})
		body := `{"user":"ada","email":"ada@example.com","note":"` + string(incompressible(300)) + `","pad":"` +
			strings.Repeat("x", 700) + `"}`
		webhookID := uuid.NewString()
		deliver := func() {
			ctx := context.Background()
			eventID := uuid.Must(uuid.NewV7()).String()
			id := delivery.OrderedID(eventID, webhookID, time.Now())
			evs := events(4)
			evs[0].Data = []byte(body)
			scheduled := `"body":` + strconv.Quote(body)
			if format == delivery.BodyBuiltV1 {
				scheduled = `"body":"","bodyFormat":1`
			}
			evs[1].Data = []byte(`{"deliveryId":"` + id + `",` + scheduled + `,"settings":{"url":"https://example.com/hook"}}`)
			evs[2].Data = []byte(`{"deliveryId":"` + id + `","attempt":1,"status":200,"durationMs":12}`)
			evs[3].Data = []byte(`{"deliveryId":"` + id + `"}`)
			for _, a := range []struct {
				stream   string
				expected eventlog.ExpectedRevision
				events   []eventlog.EventData
			}{
				{"event-" + eventID, eventlog.NoStream(), evs[:1]},
				{"delivery-" + id, eventlog.NoStream(), evs[1:2]},
				{"delivery-" + id, eventlog.Exactly(0), evs[2:3]},
				{"delivery-" + id, eventlog.Exactly(1), evs[3:]},
			} {
				if _, err := s.Append(ctx, a.stream, a.expected, a.events); err != nil {
					b.Error(err)
					return
				}
			}
		}
		var wg sync.WaitGroup
		for a := range 64 {
			wg.Go(func() {
				for i := a; i < 20_000; i += 64 {
					deliver()
				}
			})
		}
		wg.Wait()

		var delivered atomic.Int64
		before := benchcpu.IO(b, "write_bytes")
		start := time.Now()
		deadline := start.Add(15 * time.Second)
		b.ResetTimer()
		if rate == 0 {
			for range 64 {
				wg.Go(func() {
					for time.Now().Before(deadline) {
						deliver()
						delivered.Add(1)
					}
				})
			}
		} else {
			tick := time.NewTicker(time.Second / time.Duration(rate))
			for time.Now().Before(deadline) {
				<-tick.C
				wg.Go(func() { deliver(); delivered.Add(1) })
			}
			tick.Stop()
		}
		wg.Wait()
		b.StopTimer()
		n, took := delivered.Load(), time.Since(start)
		b.ReportMetric(float64(benchcpu.IO(b, "write_bytes")-before)/float64(n), "B/delivery")
		b.ReportMetric(float64(n)/took.Seconds(), "deliveries/s")
	}
}
