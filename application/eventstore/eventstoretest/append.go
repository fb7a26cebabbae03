package eventstoretest

import (
	"errors"
	"slices"
	"sync"

	"github.com/hookd/hookd/domain/eventlog"
)

func testAppendNoStream(f *fixture) {
	stream := f.stream("order")
	evs := f.events(1)
	res := f.append(stream, eventlog.NoStream(), evs)
	if res.Revision != 0 {
		f.t.Errorf("revision %d, want 0", res.Revision)
	}
	if !f.start.Before(res.Position) {
		f.t.Errorf("position %s does not follow the log's last position %s before the append", res.Position, f.start)
	}
	got := f.readStream(stream, 0, 0)
	if err := checkEvents(got, appended(stream, 0, evs)); err != nil {
		f.t.Fatal(err)
	}
	if got[0].Position != res.Position {
		f.t.Errorf("recorded position %s, append returned %s", got[0].Position, res.Position)
	}
}

func testAppendExactly(f *fixture) {
	stream := f.stream("order")
	first, second := f.events(2), f.events(3)
	res1 := f.append(stream, eventlog.NoStream(), first)
	res2 := f.append(stream, eventlog.Exactly(res1.Revision), second)
	if res1.Revision != 1 || res2.Revision != 4 {
		f.t.Errorf("revisions %d then %d, want 1 then 4", res1.Revision, res2.Revision)
	}
	got := f.readStream(stream, 0, 0)
	if err := checkEvents(got, appended(stream, 0, slices.Concat(first, second))); err != nil {
		f.t.Fatal(err)
	}
	if err := checkIncreasing(got); err != nil {
		f.t.Error(err)
	}
	if got[1].Position != res1.Position || got[4].Position != res2.Position {
		f.t.Errorf("appends returned positions %s and %s, their last events are at %s and %s",
			res1.Position, res2.Position, got[1].Position, got[4].Position)
	}
}

func testWrongExpectedVersion(f *fixture) {
	existing := f.stream("existing")
	f.append(existing, eventlog.NoStream(), f.events(3)) // revisions 0..2
	missing := f.stream("missing")
	cases := []struct {
		name     string
		stream   string
		expected eventlog.ExpectedRevision
	}{
		{"NoStreamOnExistingStream", existing, eventlog.NoStream()},
		{"ExactlyOnMissingStream", missing, eventlog.Exactly(0)},
		{"StaleRevision", existing, eventlog.Exactly(1)},
		{"FutureRevision", existing, eventlog.Exactly(5)},
	}
	for _, c := range cases {
		before := f.readStream(c.stream, 0, 0)
		_, err := f.store.Append(f.ctx, c.stream, c.expected, f.events(2))
		if !errors.Is(err, eventlog.ErrWrongExpectedVersion) {
			f.t.Errorf("%s: Append returned %v, want an error matching ErrWrongExpectedVersion", c.name, err)
		}
		if err := checkSame(f.readStream(c.stream, 0, 0), before); err != nil {
			f.t.Errorf("%s: a rejected append changed the stream: %v", c.name, err)
		}
	}
	if own := f.readOwnAll(f.start); len(own) != 3 {
		f.t.Errorf("the log holds %d of the case's events, want the 3 appended before the rejected ones", len(own))
	}
}

// testAppendIsAtomic races appenders of several events each for a new stream: exactly one wins,
// and the stream holds its events and nothing else.
func testAppendIsAtomic(f *fixture) {
	const appenders, perAppend = 8, 5
	stream := f.stream("race")
	batches := make([][]eventlog.EventData, appenders)
	errs := make([]error, appenders)
	results := make([]eventlog.AppendResult, appenders)
	var wg sync.WaitGroup
	for i := range batches {
		batches[i] = f.events(perAppend)
		wg.Go(func() {
			results[i], errs[i] = f.store.Append(f.ctx, stream, eventlog.NoStream(), batches[i])
		})
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			f.t.Fatalf("appenders %d and %d both created the stream", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, eventlog.ErrWrongExpectedVersion):
			f.t.Errorf("appender %d: %v, want an error matching ErrWrongExpectedVersion", i, err)
		}
	}
	if winner < 0 {
		f.t.Fatal("no appender created the stream")
	}
	if results[winner].Revision != perAppend-1 {
		f.t.Errorf("winner's revision %d, want %d", results[winner].Revision, perAppend-1)
	}
	if err := checkEvents(f.readStream(stream, 0, 0), appended(stream, 0, batches[winner])); err != nil {
		f.t.Error(err)
	}
	if own := f.readOwnAll(f.start); len(own) != perAppend {
		f.t.Errorf("the log holds %d of the case's events, want %d", len(own), perAppend)
	}
}

func testIdempotentAppend(f *fixture) {
	stream := f.stream("order")
	first := f.events(2)
	res1 := f.append(stream, eventlog.NoStream(), first)
	if again := f.append(stream, eventlog.NoStream(), first); again != res1 {
		f.t.Errorf("repeated first append returned %+v, want the first result %+v", again, res1)
	}
	second := f.events(1)
	res2 := f.append(stream, eventlog.Exactly(1), second)
	if again := f.append(stream, eventlog.Exactly(1), second); again != res2 {
		f.t.Errorf("repeated second append returned %+v, want the first result %+v", again, res2)
	}
	// The first append is still a no-op after the stream moved on.
	if again := f.append(stream, eventlog.NoStream(), first); again != res1 {
		f.t.Errorf("first append repeated after the second returned %+v, want %+v", again, res1)
	}

	conflicts := []struct {
		name     string
		expected eventlog.ExpectedRevision
		events   []eventlog.EventData
	}{
		{"SameIdsOtherRevision", eventlog.Exactly(0), first},
		{"OtherIdsStaleRevision", eventlog.NoStream(), f.events(2)},
		{"SomeIdsStaleRevision", eventlog.NoStream(), []eventlog.EventData{first[0], f.events(1)[0]}},
		{"MoreIdsThanWritten", eventlog.Exactly(1), slices.Concat(second, f.events(1))},
	}
	for _, c := range conflicts {
		_, err := f.store.Append(f.ctx, stream, c.expected, c.events)
		if !errors.Is(err, eventlog.ErrWrongExpectedVersion) {
			f.t.Errorf("%s: Append returned %v, want an error matching ErrWrongExpectedVersion", c.name, err)
		}
	}
	want := appended(stream, 0, slices.Concat(first, second))
	if err := checkEvents(f.readStream(stream, 0, 0), want); err != nil {
		f.t.Error(err)
	}
	if err := checkEvents(f.readOwnAll(f.start), want); err != nil {
		f.t.Errorf("$all: %v", err)
	}
}
