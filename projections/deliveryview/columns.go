package deliveryview

import (
	"fmt"
	"math"
	"time"

	"github.com/google/uuid"

	"github.com/hookd/hookd/domain/eventlog"
)

// A row of delivery_rows keeps its ids and times in their short forms, since every delivery writes
// a row and index entries of them (issue 12, docs/decisions.md "The deliveries read model's compact
// columns"): an id that is a UUID in canonical form (hookd's delivery, webhook and event ids) as its
// 16 bytes, a BLOB, any other id as its text; a time as Unix nanoseconds, an INTEGER, in the order
// of the times. Queries pack their arguments the same way, and scan unpacks: what the view returns
// is what it was given.

// packID is id as a row keeps it: a UUID's 16 bytes when id is the UUID's canonical lowercase text,
// which unpackID gives back; id itself otherwise. A BLOB never equals a TEXT in SQLite, so an id
// kept as text never matches a UUID's bytes.
func packID(id string) any {
	if len(id) != 36 {
		return id
	}
	u, err := uuid.Parse(id)
	if err != nil || u.String() != id {
		return id
	}
	return u[:]
}

// unpackID reads an id packID wrote, scanned into an any.
func unpackID(v any) (string, error) {
	switch v := v.(type) {
	case string:
		return v, nil
	case []byte:
		u, err := uuid.FromBytes(v)
		if err != nil {
			return "", fmt.Errorf("id of %d bytes: %w", len(v), err)
		}
		return u.String(), nil
	}
	return "", fmt.Errorf("id of type %T", v)
}

// idColumn scans an id column into its text.
type idColumn struct{ s *string }

// Scan implements sql.Scanner.
func (d idColumn) Scan(v any) (err error) {
	*d.s, err = unpackID(v)
	return err
}

// The times a row can keep: Unix nanoseconds fit an int64 from 1678 to 2262. The view's times come
// from hookd's clock; a query's bounds outside are moved to these ends, which keeps its answer.
var (
	minTime = time.Unix(0, math.MinInt64+1)
	maxTime = time.Unix(0, math.MaxInt64)
)

// packTime is t as a row keeps it: Unix nanoseconds, 0 for the zero time (none; the Unix epoch
// itself would read as none, and no delivery happens then).
func packTime(t time.Time) int64 {
	switch {
	case t.IsZero():
		return 0
	case t.Before(minTime):
		return minTime.UnixNano()
	case t.After(maxTime):
		return maxTime.UnixNano()
	}
	return t.UnixNano()
}

// unpackTime reads a time packTime wrote, in UTC.
func unpackTime(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// packPosition is a log position as a row keeps it: its commit and prepare parts as INTEGERs, which
// SQLite holds as int64, so the uint64 parts go bit for bit (one past MaxInt64 reads negative, and
// unpackPosition gives it back; rows are never ordered by it in SQL).
func packPosition(p eventlog.Position) (commit, prepare int64) {
	return int64(p.Commit), int64(p.Prepare)
}

// unpackPosition reads a position packPosition wrote.
func unpackPosition(commit, prepare int64) eventlog.Position {
	return eventlog.Position{Commit: uint64(commit), Prepare: uint64(prepare)}
}
