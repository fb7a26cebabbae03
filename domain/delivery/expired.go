package delivery

import (
	"strconv"
	"strings"
	"time"
)

// ExpiredError says that deliveries asked for by id were removed by retention: they were finished
// longer ago than the retention period. Retention says the period; zero when not known.
//
// With Event set, it says instead that the deliveries are kept but the published events their
// bodies are built from (BodyBuiltV1) are not: sending them again cannot be done.
type ExpiredError struct {
	IDs       []string
	Retention time.Duration
	Event     bool
}

func (e *ExpiredError) Error() string {
	if e.Event {
		return e.eventError()
	}
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

func (e *ExpiredError) eventError() string {
	if len(e.IDs) == 1 {
		return "delivery " + e.IDs[0] + " cannot be replayed: its body is built from its published event, " +
			"which has expired (it is no longer in the log)"
	}
	return "deliveries " + strings.Join(e.IDs, ", ") + " cannot be replayed: their bodies are built from their " +
		"published events, which have expired (they are no longer in the log)"
}
