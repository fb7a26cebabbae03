package projections

import "time"

// timeLayout is fixed-width UTC, so that the text order of stored times is their time order, which
// range queries and ORDER BY on such columns rely on.
const timeLayout = "2006-01-02T15:04:05.000000000Z"

// FormatTime writes a time as read models store it: fixed-width UTC text; "" for the zero time.
func FormatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(timeLayout)
}

// ParseTime reads a time FormatTime wrote; "" is the zero time.
func ParseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	return time.Parse(timeLayout, s)
}
