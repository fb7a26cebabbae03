package eventstoretest

import (
	"fmt"

	"github.com/hookd/hookd/domain/eventlog"
)

// appendTen writes ten events to stream in appends of 4, 3 and 3, and returns what the stream must
// hold and the appends' results.
func (f *fixture) appendTen(stream string) ([]expected, []eventlog.AppendResult) {
	f.t.Helper()
	var (
		want    []expected
		results []eventlog.AppendResult
	)
	expectedRev := eventlog.NoStream()
	for _, n := range []int{4, 3, 3} {
		evs := f.events(n)
		want = append(want, appended(stream, uint64(len(want)), evs)...)
		res := f.append(stream, expectedRev, evs)
		results = append(results, res)
		expectedRev = eventlog.Exactly(res.Revision)
	}
	return want, results
}

func testReadStream(f *fixture) {
	stream := f.stream("order")
	all, results := f.appendTen(stream)
	f.append(f.stream("other"), eventlog.NoStream(), f.events(2))
	cases := []struct {
		from  uint64
		limit int
		want  []expected
	}{
		{0, 0, all},
		{0, -1, all},
		{0, 1, all[:1]},
		{3, 0, all[3:]},
		{3, 4, all[3:7]},
		{9, 5, all[9:]},
		{10, 0, nil},
		{100, 3, nil},
	}
	for _, c := range cases {
		if err := checkEvents(f.readStream(stream, c.from, c.limit), c.want); err != nil {
			f.t.Errorf("ReadStream(from %d, limit %d): %v", c.from, c.limit, err)
		}
	}
	got := f.readStream(stream, 0, 0)
	if err := checkIncreasing(got); err != nil {
		f.t.Error(err)
	}
	for i, last := range []int{3, 6, 9} {
		if got[last].Position != results[i].Position {
			f.t.Errorf("append %d returned position %s, its last event is at %s", i, results[i].Position, got[last].Position)
		}
	}
}

func testReadStreamBackwards(f *fixture) {
	stream := f.stream("order")
	all, _ := f.appendTen(stream)
	f.append(f.stream("other"), eventlog.NoStream(), f.events(2))
	cases := []struct {
		from  uint64
		limit int
		want  []expected
	}{
		{eventlog.End, 0, reversed(all)},
		{eventlog.End, -1, reversed(all)},
		{eventlog.End, 1, all[9:]},
		{eventlog.End, 3, reversed(all[7:])},
		{5, 0, reversed(all[:6])},
		{5, 2, reversed(all[4:6])},
		{0, 0, all[:1]},
		{100, 2, reversed(all[8:])},
	}
	for _, c := range cases {
		if err := checkEvents(f.readBackwards(stream, c.from, c.limit), c.want); err != nil {
			f.t.Errorf("ReadStreamBackwards(from %d, limit %d): %v", c.from, c.limit, err)
		}
	}
	forwards := f.readStream(stream, 0, 0)
	backwards := f.readBackwards(stream, eventlog.End, 0)
	for i := range backwards {
		if err := checkSame(backwards[i:i+1], forwards[len(forwards)-1-i:len(forwards)-i]); err != nil {
			f.t.Fatalf("backwards read differs from forwards read: %v", err)
		}
	}
}

func testReadMissingStream(f *fixture) {
	existing := f.stream("order")
	f.append(existing, eventlog.NoStream(), f.events(2))
	// Names that share a prefix with an existing stream must not match it.
	for _, stream := range []string{f.stream("missing"), existing + "x", existing[:len(existing)-1]} {
		if evs := f.readStream(stream, 0, 0); len(evs) != 0 {
			f.t.Errorf("ReadStream(%s) returned %d events, want none", stream, len(evs))
		}
		if evs := f.readStream(stream, 5, 10); len(evs) != 0 {
			f.t.Errorf("ReadStream(%s, 5, 10) returned %d events, want none", stream, len(evs))
		}
		if evs := f.readBackwards(stream, eventlog.End, 0); len(evs) != 0 {
			f.t.Errorf("ReadStreamBackwards(%s) returned %d events, want none", stream, len(evs))
		}
	}
}

func testReadAll(f *fixture) {
	const streams, appends = 5, 25
	var (
		want []expected
		revs [streams]int64
	)
	for i := range revs {
		revs[i] = -1
	}
	for i := range appends {
		n := i % streams
		stream := f.stream(fmt.Sprintf("s%d", n))
		evs := f.events(2)
		want = append(want, appended(stream, uint64(revs[n]+1), evs)...)
		res := f.append(stream, eventlog.After(revs[n]), evs)
		revs[n] = int64(res.Revision)
	}
	own := f.readOwnAll(f.start)
	if err := checkEvents(own, want); err != nil {
		f.t.Fatalf("$all: %v", err)
	}
	// The log and the streams agree on every event's position.
	for n := range streams {
		stream := f.stream(fmt.Sprintf("s%d", n))
		var inAll []eventlog.RecordedEvent
		for _, ev := range own {
			if ev.Stream == stream {
				inAll = append(inAll, ev)
			}
		}
		if err := checkSame(f.readStream(stream, 0, 0), inAll); err != nil {
			f.t.Errorf("%s differs from its events in $all: %v", stream, err)
		}
	}

	// The start position is exclusive and the limit holds.
	after := own[9].Position
	page, err := f.store.ReadAll(f.ctx, after, 5)
	if err != nil {
		f.t.Fatalf("ReadAll(%s, 5): %v", after, err)
	}
	if len(page) != 5 {
		f.t.Fatalf("ReadAll(%s, 5) returned %d events, want 5", after, len(page))
	}
	if !after.Before(page[0].Position) {
		f.t.Errorf("ReadAll(%s, 5) starts at %s", after, page[0].Position)
	}
	if err := checkIncreasing(page); err != nil {
		f.t.Error(err)
	}
	next := 10
	for _, ev := range page {
		if f.own(ev) {
			if err := checkSame([]eventlog.RecordedEvent{ev}, own[next:next+1]); err != nil {
				f.t.Errorf("ReadAll(%s, 5): %v", after, err)
			}
			next++
		}
	}
	if f.empty && next != 15 {
		f.t.Errorf("ReadAll(%s, 5) returned %d of the case's events, want 5", after, next-10)
	}
	if f.empty {
		first, err := f.store.ReadAll(f.ctx, eventlog.Start, 3)
		if err != nil {
			f.t.Fatalf("ReadAll(Start, 3): %v", err)
		}
		if err := checkSame(first, own[:3]); err != nil {
			f.t.Errorf("ReadAll(Start, 3): %v", err)
		}
	}

	tail, err := f.store.ReadAll(f.ctx, own[len(own)-1].Position, 10)
	if err != nil {
		f.t.Fatalf("ReadAll after the last event: %v", err)
	}
	for _, ev := range tail {
		if f.own(ev) {
			f.t.Errorf("ReadAll after the last event returned %s@%d", ev.Stream, ev.Revision)
		}
	}
}

func testLastPosition(f *fixture) {
	if f.empty && f.start != eventlog.Start {
		f.t.Errorf("LastPosition of an empty log is %s, want %s", f.start, eventlog.Start)
	}
	var res eventlog.AppendResult
	for _, category := range []string{"a", "b", "a"} {
		stream := f.stream(category)
		last := f.readBackwards(stream, eventlog.End, 1)
		expectedRev := eventlog.NoStream()
		if len(last) == 1 {
			expectedRev = eventlog.Exactly(last[0].Revision)
		}
		res = f.append(stream, expectedRev, f.events(2))
	}
	pos, err := f.store.LastPosition(f.ctx)
	if err != nil {
		f.t.Fatalf("LastPosition: %v", err)
	}
	switch {
	case f.empty && pos != res.Position:
		f.t.Errorf("LastPosition %s, want the last append's %s", pos, res.Position)
	case pos.Before(res.Position):
		f.t.Errorf("LastPosition %s is before the last append's %s", pos, res.Position)
	}
}
