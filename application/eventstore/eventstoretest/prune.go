package eventstoretest

import (
	"slices"

	"github.com/hookd/hookd/application/eventstore"
	"github.com/hookd/hookd/domain/eventlog"
)

// deleteStreamsAt tests that DeleteStreams at pace removes a stream at its last revision, keeps one
// that moved on since the caller saw it, counts a missing one as removed, and leaves every other
// stream and the log's order alone: the pace changes how fast, never what.
func deleteStreamsAt(pace eventstore.Pace) func(*fixture) {
	return func(f *fixture) { testDeleteStreams(f, pace) }
}

func testDeleteStreams(f *fixture, pace eventstore.Pace) {
	pruner, ok := f.store.(eventstore.Pruner)
	if !ok {
		f.t.Fatalf("%T does not implement eventstore.Pruner", f.store)
	}
	expired, moved, other := f.stream("expired"), f.stream("moved"), f.stream("other")
	f.append(expired, eventlog.NoStream(), f.events(3))
	f.append(moved, eventlog.NoStream(), f.events(2))
	f.append(moved, eventlog.Exactly(1), f.events(1)) // at revision 2 now, the caller saw 1
	otherEvents := f.events(2)
	f.append(other, eventlog.NoStream(), otherEvents)
	// The last event of the log stays last: a store may keep the stream that holds it.
	f.append(f.stream("last"), eventlog.NoStream(), f.events(1))

	kept, err := pruner.DeleteStreams(f.ctx, []eventstore.StreamAt{
		{Stream: expired, Revision: 2},
		{Stream: moved, Revision: 1},
		{Stream: f.stream("missing"), Revision: 0},
	}, pace)
	if err != nil {
		f.t.Fatalf("DeleteStreams: %v", err)
	}
	if want := []eventstore.StreamAt{{Stream: moved, Revision: 1}}; !slices.Equal(kept, want) {
		f.t.Errorf("kept %v, want %v", kept, want)
	}
	if got := f.readStream(expired, 0, 0); len(got) != 0 {
		f.t.Errorf("the deleted stream still reads %d events", len(got))
	}
	if got := f.readStream(moved, 0, 0); len(got) != 3 {
		f.t.Errorf("the stream that moved on reads %d events, want its 3", len(got))
	}
	if err := checkEvents(f.readStream(other, 0, 0), appended(other, 0, otherEvents)); err != nil {
		f.t.Errorf("a stream not named: %v", err)
	}
	// Deleting again what is gone is harmless, and appends go on after the last position.
	if kept, err := pruner.DeleteStreams(f.ctx, []eventstore.StreamAt{{Stream: expired, Revision: 2}}, pace); err != nil || len(kept) != 0 {
		f.t.Errorf("DeleteStreams again: kept %v, %v", kept, err)
	}
	before := f.lastPosition()
	res := f.append(f.stream("after"), eventlog.NoStream(), f.events(1))
	if !before.Before(res.Position) {
		f.t.Errorf("an append after the delete is at %s, not after the log's last position %s", res.Position, before)
	}
}
