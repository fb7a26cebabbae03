package projections

import (
	"slices"
	"sync/atomic"

	"github.com/hookd/hookd/domain/eventlog"
)

// Changes lets callers keep answers they read from a projection for as long as the projection has
// applied none of the events that change them. Apply calls Mark with each batch before it writes a
// row; a caller reads the Runner's Position as at, then queries, and may keep the answer while
// Unchanged(at) holds. Marking before the rows are written is what makes this safe: an answer read
// while a batch is being applied may miss that batch, and the mark, already past at, says so.
type Changes struct {
	// last is the position (Commit) of the last marked event, committed or not.
	last atomic.Uint64
}

// Mark records the last event of events that reads says changes answers.
func (c *Changes) Mark(events []eventlog.RecordedEvent, reads func(eventType string) bool) {
	for _, r := range slices.Backward(events) {
		if !reads(r.Type) {
			continue
		}
		for {
			old := c.last.Load()
			if old >= r.Position.Commit || c.last.CompareAndSwap(old, r.Position.Commit) {
				return
			}
		}
	}
}

// Unchanged reports whether no event after position at has been marked: an answer read when the
// Runner had committed at least at (after WaitFor(at), or after reading its Position as at) is
// still the answer.
func (c *Changes) Unchanged(at eventlog.Position) bool { return c.last.Load() <= at.Commit }
