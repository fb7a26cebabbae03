package projections_test

import (
	"testing"

	"github.com/hookd/hookd/domain/eventlog"
	"github.com/hookd/hookd/projections"
)

func TestChangesMarksTheLastEventRead(t *testing.T) {
	t.Parallel()
	at := func(commit uint64) eventlog.Position { return eventlog.Position{Commit: commit, Prepare: commit} }
	batch := func(types ...string) []eventlog.RecordedEvent {
		var events []eventlog.RecordedEvent
		for i, typ := range types {
			events = append(events, eventlog.RecordedEvent{Type: typ, Position: at(uint64(10 + i))})
		}
		return events
	}
	reads := func(typ string) bool { return typ == "Changed" }

	var c projections.Changes
	if !c.Unchanged(eventlog.Start) {
		t.Fatal("nothing marked yet: every answer is current")
	}
	c.Mark(batch("Other", "Changed", "Other", "Other"), reads) // the event at 11
	for pos, want := range map[uint64]bool{10: false, 11: true, 13: true} {
		if got := c.Unchanged(at(pos)); got != want {
			t.Errorf("after a change at 11, Unchanged(%d) = %v, want %v", pos, got, want)
		}
	}
	c.Mark(batch("Other", "Other"), reads)
	if !c.Unchanged(at(11)) {
		t.Error("a batch without changes moved the mark")
	}
	// A batch applied again (after a restart of its Runner) never moves the mark back.
	c.Mark(batch("Changed"), reads) // the event at 10
	if !c.Unchanged(at(11)) {
		t.Error("an earlier change moved the mark back")
	}
}
