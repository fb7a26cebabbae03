package projections

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestFormatTimeWritesTheLayout: FormatTime writes what Time.Format writes with the read models'
// layout, in UTC, for times in any zone and at the edges of the years it writes itself, and ""
// for the zero time.
func TestFormatTimeWritesTheLayout(t *testing.T) {
	t.Parallel()
	zones := []*time.Location{time.UTC, time.FixedZone("east", 5*3600+1800), time.FixedZone("west", -11*3600)}
	times := []time.Time{
		time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 1, time.UTC), time.Date(-1, 12, 31, 23, 59, 59, 0, time.UTC),
		time.Date(2026, 3, 1, 12, 0, 0, 5, time.UTC), time.Unix(0, 0), time.Now(),
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 10_000 {
		times = append(times, time.Unix(r.Int64N(400<<30)-(200<<30), r.Int64N(1e9)).In(zones[r.IntN(len(zones))]))
	}
	for _, at := range times {
		if got, want := FormatTime(at), at.UTC().Format(timeLayout); got != want {
			t.Fatalf("FormatTime(%v) = %q, want %q", at, got, want)
		}
	}
	if got := FormatTime(time.Time{}); got != "" {
		t.Errorf("FormatTime of the zero time = %q, want \"\"", got)
	}
}
