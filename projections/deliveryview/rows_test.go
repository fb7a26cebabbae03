package deliveryview_test

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/domain/delivery"
	"github.com/hookd/hookd/domain/eventlog"
)

var update = flag.Bool("update", false, "rewrite testdata/rows.golden from the view's rows")

// TestRowsMatchGolden applies deliveries that go every way a delivery can (retried, parked,
// abandoned, replayed, deferred), with ids and response excerpts that JSON escapes, and compares
// every row of the view's tables, column by column, with testdata/rows.golden: the rows the view
// wrote before it decoded and encoded JSON by hand. Batches of one event and the whole log at once
// must both give them.
func TestRowsMatchGolden(t *testing.T) {
	t.Parallel()
	l := newLog(t)
	excerpts := []string{
		`<b>&amp;</b> "quoted" \ back/slash`,
		"héllo ✓ 日本",
		"line\nbreak\ttab\x01\x7f",
		"\u2028separators\u2029",
		"bad\xffutf8\xc3",
		strings.Repeat("é", 3000),
		"",
	}
	var ds []*delivery.Delivery
	for i, ex := range excerpts {
		d := schedule(t, spec{event: fmt.Sprintf(`ev<"&>\é%d`, i), webhook: fmt.Sprintf("wh\u2028%d", i%3),
			name: "user.created", at: t0.Add(time.Duration(i) * time.Second), retryCount: 2})
		ds = append(ds, d)
		l.record(d)
		status := []int{200, 503, 0, 400, 500}[i%5]
		attempt(t, d, status, t0.Add(time.Minute), ex)
		l.record(d)
	}
	// Retried, then succeeded.
	attempt(t, ds[1], 200, t0.Add(time.Hour), "ok")
	l.record(ds[1])
	// Retried, then abandoned.
	if err := ds[2].Abandon(delivery.ReasonWebhookDisabled, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	l.record(ds[2])
	// Parked, replayed, deferred.
	if err := ds[3].RequestReplay(delivery.ReplayOriginal, "ops", t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := ds[3].Defer(t0.Add(3*time.Hour), delivery.DeferReasonCircuitOpen, t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	l.record(ds[3])
	// Deferred, then succeeded.
	if err := ds[6].Defer(t0.Add(3*time.Hour), delivery.DeferReasonCircuitOpen, t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	l.record(ds[6])
	attempt(t, ds[6], 200, t0.Add(3*time.Hour), "finally")
	l.record(ds[6])

	whole, single := newView(t), newView(t)
	whole.apply(l.all...)
	for _, r := range l.all {
		single.apply([]eventlog.RecordedEvent{r}...)
	}
	got := dumpRows(t, whole.db)
	golden := filepath.Join("testdata", "rows.golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("rows of the whole log at once differ from %s:\n%s", golden, got)
	}
	if s := dumpRows(t, single.db); s != string(want) {
		t.Errorf("rows of one event a batch differ from %s:\n%s", golden, s)
	}
}

// dumpRows writes every row of the view's tables, each column quoted with its Go type ([]uint8 for a
// BLOB, written in hex).
func dumpRows(t *testing.T, db *sql.DB) string {
	t.Helper()
	var b strings.Builder
	for _, query := range []string{
		`SELECT * FROM delivery_rows_at ORDER BY seq`,
		`SELECT * FROM delivery_waits ORDER BY id`,
	} {
		rows, err := db.QueryContext(context.Background(), query)
		if err != nil {
			t.Fatal(err)
		}
		cols, err := rows.Columns()
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			values := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range values {
				ptrs[i] = &values[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			for i, v := range values {
				if s, ok := v.([]byte); ok { // a BLOB, in hex
					v = fmt.Sprintf("x'%x'", s)
				}
				fmt.Fprintf(&b, "%s=%T:%q\n", cols[i], v, fmt.Sprint(v))
			}
			b.WriteString("\n")
		}
		if err := rows.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}
