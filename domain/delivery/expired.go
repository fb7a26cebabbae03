package delivery

import (
	"strconv"
	"strings"
	"time"
)

// ExpiredError says that deliveries asked for by id were removed by retention: they were finished
// longer ago than the retention period. Retention says the period; zero when not known.
type ExpiredError struct {
	IDs       []string
	Retention time.Duration
}

func (e *ExpiredError) Error() string {
	var b strings.Builder
	if len(e.IDs) == 1 {
		b.WriteString("delivery " + e.IDs[0] + " has expired")
	} else {
		b.WriteString("deliveries " + strings.Join(e.IDs, ", ") + " have expired")
	}
	b.WriteString(": finished deliveries are removed")
	if e.Retention > 0 {
		b.WriteString(" " + formatRetention(e.Retention))
	}
	b.WriteString(" after their last change (HOOKD_DELIVERY_RETENTION), and cannot be replayed")
	return b.String()
}

// formatRetention writes whole days as days ("30d"), anything else as a Go duration.
func formatRetention(d time.Duration) string {
	const day = 24 * time.Hour
	if d%day == 0 {
		return strconv.FormatInt(int64(d/day), 10) + "d"
	}
	return d.String()
}
