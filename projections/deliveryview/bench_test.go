package deliveryview_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/hookd/hookd/adapters/readmodeldb"
	"github.com/hookd/hookd/domain/delivery"
	"github.com/hookd/hookd/domain/eventlog"
	"github.com/hookd/hookd/domain/webhook"
	"github.com/hookd/hookd/internal/benchcpu"
	"github.com/hookd/hookd/projections"
	"github.com/hookd/hookd/projections/deliveryview"
)

// BenchmarkApply applies a fixed stream of delivery events to a fresh deliveries read model through
// the read models' writer connection (readmodeldb.OpenWriter, as serve's projections use it), one
// op per delivery, and reports the CPU (cpu-ns/op, from getrusage: the machine's cores are shared,
// so wall time per op says less) and the bytes it wrote per delivery, up to the database's close
// (WAL, checkpoints and the database file): disk-B/op is what reached the page cache as new dirty
// pages (write_bytes of /proc/self/io, what hookd-bench's disk per delivery counts), wchar-B/op all
// that write calls passed, rewrites of a page still dirty included.
//
// The stream is serve's at `-c 64`, as the deliveries read model is handed it: batches of about 75
// events, each with 25 deliveries scheduled (a 1.5 KB body each) and the attempts and outcomes of
// the 25 scheduled in the batch before; every 20th delivery's first attempt gets a 503 and a retry,
// which succeeds two batches later. Its deliveries are named as events published before ordered ids
// name them (ids=uuidv5, delivery.ID), or as hookd names them now (ids=ordered, delivery.OrderedID):
// the unique index on ids takes the first at random leaves, the second in order. Run it at the size
// of a 30 s end-to-end run:
//
//	go test -run '^$' -bench BenchmarkApply -benchtime 20000x -count 3 ./projections/deliveryview/
func BenchmarkApply(b *testing.B) {
	for _, ids := range []struct {
		name    string
		ordered bool
	}{{"uuidv5", false}, {"ordered", true}} {
		b.Run("ids="+ids.name, func(b *testing.B) {
			benchmarkApply(b, deliveryStream(b, b.N, 25, 1, ids.ordered, nil, func(int) string { return "" }))
		})
	}
}

// BenchmarkApplyBatches is BenchmarkApply's measure of bytes per delivery, ids ordered, for batches
// of 25 and 125 deliveries (what a CommitInterval gathers at a few hundred deliveries a second), with
// each delivery's first attempt and outcome in the batch after its scheduling (lag=1, as in
// BenchmarkApply) or in the same batch (lag=0, a delivery answered within the interval):
//
//	go test -run '^$' -bench BenchmarkApplyBatches -benchtime 20000x -count 3 ./projections/deliveryview/
func BenchmarkApplyBatches(b *testing.B) {
	for _, per := range []int{25, 125} {
		for _, lag := range []int{1, 0} {
			b.Run(fmt.Sprintf("per=%d/lag=%d", per, lag), func(b *testing.B) {
				benchmarkApply(b, deliveryStream(b, b.N, per, lag, true, nil, func(int) string { return "" }))
			})
		}
	}
}

// benchmarkApply applies batches, b.N deliveries' events, one transaction each.
func benchmarkApply(b *testing.B, batches [][]eventlog.RecordedEvent) {
	db, err := readmodeldb.OpenWriter(filepath.Join(b.TempDir(), "readmodels.db"))
	if err != nil {
		b.Fatal(err)
	}
	v, err := deliveryview.New(db, newLog(b).codec)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	schema := projections.Schema{Build: "bench"}
	setup, err := db.Begin()
	if err != nil {
		b.Fatal(err)
	}
	if err := v.Setup(ctx, setup, schema); err != nil {
		b.Fatal(err)
	}
	if err := setup.Commit(); err != nil {
		b.Fatal(err)
	}

	disk, wrote := benchcpu.IO(b, "write_bytes"), benchcpu.IO(b, "wchar")
	b.ResetTimer()
	stop := benchcpu.Start(b)
	for _, batch := range batches {
		tx, err := db.Begin()
		if err != nil {
			b.Fatal(err)
		}
		if err := v.Apply(ctx, tx, schema, batch); err != nil {
			b.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	// Closing checkpoints the WAL into the database file: those writes are the deliveries' too.
	if err := db.Close(); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	stop()
	b.ReportMetric(float64(benchcpu.IO(b, "write_bytes")-disk)/float64(b.N), "disk-B/op")
	b.ReportMetric(float64(benchcpu.IO(b, "wchar")-wrote)/float64(b.N), "wchar-B/op")
}

// BenchmarkBytes counts the bytes the deliveries read model writes per delivery, without timing
// anything: the figures depend on the rows alone, so one run says what a change saves. It applies
// BenchmarkApply's stream (batches of 25 deliveries, each answered in the batch after; every 20th
// retried), with ids as hookd names them (UUIDs for events, webhooks and deliveries), to one webhook
// (as hookd-bench sends them) or to 64 in turn (as BenchmarkApply), with the WAL's automatic
// checkpoints off, and reports
//
//   - wal-B/op: the WAL's size at the end, every frame the commits appended (a page each, rewrites
//     of a page by later commits included), per delivery;
//   - file-B/op: the database file after a checkpoint, page_count * page_size, per delivery;
//   - <btree>-B/op: each table's and index's pages (dbstat), per delivery.
//
// Run it at the size of a 30 s end-to-end run:
//
//	go test -run '^$' -bench BenchmarkBytes -benchtime 20000x ./projections/deliveryview/
func BenchmarkBytes(b *testing.B) {
	for _, webhooks := range []int{1, 64} {
		b.Run(fmt.Sprintf("webhooks=%d", webhooks), func(b *testing.B) { benchmarkBytes(b, webhooks) })
	}
}

// benchmarkBytes is BenchmarkBytes with deliveries to webhooks webhooks, in turn.
func benchmarkBytes(b *testing.B, webhooks int) {
	dir := b.TempDir()
	path := filepath.Join(dir, "readmodels.db")
	db, err := readmodeldb.OpenWriter(path)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, `PRAGMA wal_autocheckpoint = 0`); err != nil {
		b.Fatal(err)
	}
	v, err := deliveryview.New(db, newLog(b).codec)
	if err != nil {
		b.Fatal(err)
	}
	schema := projections.Schema{Build: "bytes"}
	inTx := func(do func(*sql.Tx) error) {
		tx, err := db.Begin()
		if err != nil {
			b.Fatal(err)
		}
		if err := do(tx); err != nil {
			b.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	inTx(func(tx *sql.Tx) error { return v.Setup(ctx, tx, schema) })
	if _, err := db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		b.Fatal(err)
	}
	batches := deliveryStream(b, b.N, 25, 1, true, func(i int) (string, string) {
		// Event ids are UUIDv7, led by the publication's millisecond (in the stream, i's).
		event := uuid.NewSHA1(uuid.NameSpaceOID, []byte(fmt.Sprint("event", i)))
		ms := uint64(t0.Add(time.Duration(i) * time.Millisecond).UnixMilli())
		for k := range 6 {
			event[k] = byte(ms >> (40 - 8*k))
		}
		event[6] = event[6]&0x0f | 0x70
		return event.String(), uuid.NewSHA1(uuid.NameSpaceOID, []byte(fmt.Sprint("webhook", i%webhooks))).String()
	}, func(int) string { return "" })
	b.ResetTimer()
	for _, batch := range batches {
		inTx(func(tx *sql.Tx) error { return v.Apply(ctx, tx, schema, batch) })
	}
	b.StopTimer()
	wal, err := os.Stat(path + "-wal")
	if err != nil {
		b.Fatal(err)
	}
	var pages, size int64
	err = db.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(new(int), new(int), new(int))
	if err == nil {
		err = db.QueryRowContext(ctx, `SELECT page_count * page_size, page_size FROM pragma_page_count, pragma_page_size`).Scan(&pages, &size)
	}
	if err != nil {
		b.Fatal(err)
	}
	perDelivery := func(n int64) float64 { return float64(n) / float64(b.N) }
	b.ReportMetric(perDelivery(wal.Size()), "wal-B/op")
	b.ReportMetric(perDelivery(pages), "file-B/op")
	rows, err := db.QueryContext(ctx, `SELECT name, sum(pgsize) FROM dbstat GROUP BY name`)
	if err != nil {
		b.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			name  string
			bytes int64
		)
		if err := rows.Scan(&name, &bytes); err != nil {
			b.Fatal(err)
		}
		if bytes > size { // the tables and indexes that hold more than a page, named without the build
			b.ReportMetric(perDelivery(bytes), strings.TrimSuffix(name, "_bytes")+"-B/op")
		}
	}
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkFetch measures the delivery log's queries on 20,000 deliveries of one community (64
// webhooks), every fourth one's first answer a 4 KiB excerpt (an error page, say), the rest short:
// a page of 25 of one webhook's deliveries with their attempts (the API's delivery log), first,
// middle and last, a community's first page and its 400th (across its webhooks), and one delivery by id. Rows with long attempt logs are what smaller pages would move to overflow pages.
//
//	go test -run '^$' -bench BenchmarkFetch -benchtime 2s ./projections/deliveryview/
func BenchmarkFetch(b *testing.B) {
	const deliveries = 20_000
	long := strings.Repeat(`<p class="error">Service Unavailable</p>`, 4096/40+1)[:4096]
	batches := deliveryStream(b, deliveries, 25, 1, false, nil, func(i int) string {
		if i%4 == 0 {
			return long
		}
		return `{"ok":true}`
	})
	v := newView(b)
	for _, batch := range batches {
		v.apply(batch...)
	}
	var ids []string
	for _, d := range v.fetch(deliveryview.FetchQuery{TenantID: "tenant", CommunityID: "community", WebhookID: "webhook-3", PageSize: 100}).Items {
		ids = append(ids, d.ID)
	}
	ctx := context.Background()
	for _, bc := range []struct {
		name    string
		webhook string
		index   int
	}{
		{"webhook/first-page", "webhook-7", 0},
		{"webhook/middle-page", "webhook-7", 6},
		{"webhook/last-page", "webhook-7", 12},
		{"community/first-page", "", 0},
		{"community/page-400", "", 400},
	} {
		b.Run(bc.name, func(b *testing.B) {
			q := deliveryview.FetchQuery{TenantID: "tenant", CommunityID: "community", WebhookID: bc.webhook, PageIndex: bc.index, PageSize: 25}
			stop := benchcpu.Start(b)
			for b.Loop() {
				page, err := v.Fetch(ctx, q)
				if err != nil || len(page.Items) == 0 {
					b.Fatalf("page: %d items, %v", len(page.Items), err)
				}
			}
			stop()
		})
	}
	b.Run("get", func(b *testing.B) {
		i, stop := 0, benchcpu.Start(b)
		for b.Loop() {
			if _, err := v.Get(ctx, "tenant", "community", ids[i%len(ids)]); err != nil {
				b.Fatal(err)
			}
			i++
		}
		stop()
	})
}

// deliveryStream returns the records of n deliveries in batches as BenchmarkApply describes, groups
// of per deliveries at a time, each group's first attempts lag batches after its scheduling (1 in
// BenchmarkApply), named by delivery.OrderedID when ordered, the event and webhook of delivery i
// named by names(i) (by default event-i and webhook-(i%64)), its first attempt answered with
// excerpt(i).
func deliveryStream(tb testing.TB, n, per, lag int, ordered bool, names func(i int) (event, webhook string), excerpt func(i int) string) [][]eventlog.RecordedEvent {
	tb.Helper()
	l := newLog(tb)
	body := `{"version":1,"event":"user.created","payload":{"data":"` + strings.Repeat("x", 1450) + `"}}`
	settings := delivery.SnapshotOf(webhook.Settings{
		API:          webhook.Endpoint{Type: "http", URL: "http://127.0.0.1:9000/hook", AuthType: webhook.AuthBearer, Credential: webhook.Credential{Token: "token"}},
		SuccessCodes: []int{200},
		RetryCodes:   []int{0, 503},
		RetryCount:   3,
	})
	ds := make([]*delivery.Delivery, n)
	var batches [][]eventlog.RecordedEvent
	for start := 0; start < n+(lag+1)*per; start += per {
		var batch []eventlog.RecordedEvent
		at := t0.Add(time.Duration(start) * time.Millisecond)
		for i := start; i < min(start+per, n); i++ {
			eventID, webhookID := fmt.Sprintf("event-%d", i), fmt.Sprintf("webhook-%d", i%64)
			if names != nil {
				eventID, webhookID = names(i)
			}
			s := delivery.Scheduling{
				EventID: eventID, WebhookID: webhookID, TenantID: "tenant",
				CommunityID: "community", EventName: "user.created", Body: body, Settings: settings, At: at,
			}
			if ordered { // an ordered id is led by the publication's time
				s.PublishedAt, s.OrderedID = at, true
			}
			d, err := delivery.Schedule(s)
			if err != nil {
				tb.Fatal(err)
			}
			ds[i] = d
			batch = append(batch, l.record(d)...)
		}
		// The first attempts of the batch lag before; the retries of the one before that.
		first := start - lag*per
		for i := max(first, 0); i < min(first+per, n); i++ {
			status := 200
			if i%20 == 0 {
				status = 503
			}
			attempt(tb, ds[i], status, at, excerpt(i))
			batch = append(batch, l.record(ds[i])...)
		}
		for i := max(first-per, 0); i < min(first, n); i++ {
			if i%20 == 0 {
				attempt(tb, ds[i], 200, at.Add(time.Second), "")
				batch = append(batch, l.record(ds[i])...)
			}
		}
		if len(batch) > 0 {
			batches = append(batches, batch)
		}
	}
	return batches
}
