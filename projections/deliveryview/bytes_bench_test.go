package deliveryview_test

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/hookd/hookd/domain/delivery"
	"github.com/hookd/hookd/domain/eventlog"
	"github.com/hookd/hookd/domain/webhook"
)

// BenchmarkViewBytesPerDelivery measures the bytes the deliveries read model writes to disk per
// delivery (write_bytes of /proc/self/io: WAL frames and checkpoints) as the live projection applies
// them: batches of 12 deliveries scheduled, each with the attempt and success of the batch before,
// one transaction a batch. Delivery ids are named as hookd names them (delivery.OrderedID of a
// UUIDv7 event and one webhook), or as events published before ordered ids have them with
// HOOKD_BENCH_DELIVERY_IDS=uuidv5 (delivery.ID). After 20,000 deliveries to warm the file it measures
// 40,000. Run it with
//
//	go test -run '^$' -bench ViewBytesPerDelivery -benchtime 1x ./projections/deliveryview/
func BenchmarkViewBytesPerDelivery(b *testing.B) {
	hashed := os.Getenv("HOOKD_BENCH_DELIVERY_IDS") == "uuidv5"
	const batch, warm, measured = 12, 20_000, 40_000
	body := `{"version":1,"event":"E","payload":{"note":"` + strings.Repeat("x", 1000) + `"}}`
	for range b.N {
		l, v := newLog(b), newView(b)
		webhookID := uuid.NewString()
		hook := webhook.Settings{API: webhook.Endpoint{Type: "http", URL: "https://example.com/hook"}, SuccessCodes: []int{200}}
		var pending []*delivery.Delivery
		step := func() {
			var records []eventlog.RecordedEvent
			for _, d := range pending {
				attempt(b, d, 200, time.Now(), "ok")
				records = append(records, l.record(d)...)
			}
			pending = pending[:0]
			for range batch {
				eventID := uuid.Must(uuid.NewV7()).String()
				published := time.Now()
				d, err := delivery.Schedule(delivery.Scheduling{
					EventID: eventID, WebhookID: webhookID, TenantID: "t1", CommunityID: "c1", EventName: "E",
					Body: body, Settings: delivery.SnapshotOf(hook), At: published, PublishedAt: published, OrderedID: !hashed,
				})
				if err != nil {
					b.Fatal(err)
				}
				records = append(records, l.record(d)...)
				pending = append(pending, d)
			}
			v.apply(records...)
		}
		for range warm / batch {
			step()
		}
		before := writeBytes(b)
		b.ResetTimer()
		for range measured / batch {
			step()
		}
		b.StopTimer()
		b.ReportMetric(float64(writeBytes(b)-before)/float64(measured/batch*batch), "B/delivery")
	}
}

// writeBytes is this process's write_bytes: what it has had written to disk.
func writeBytes(b *testing.B) int64 {
	b.Helper()
	io, err := os.ReadFile("/proc/self/io")
	if err != nil {
		b.Skipf("no /proc/self/io: %v", err)
	}
	for line := range strings.Lines(string(io)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "write_bytes: "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return n
		}
	}
	b.Fatal("no write_bytes in /proc/self/io")
	return 0
}
