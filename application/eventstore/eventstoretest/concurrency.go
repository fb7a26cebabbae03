package eventstoretest

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/hookd/hookd/domain/eventlog"
)

// sharedAppend is one successful append to the stream all goroutines contend for.
type sharedAppend struct {
	events []eventlog.EventData
	result eventlog.AppendResult
}

// testConcurrentAppenders runs goroutines that append to streams of their own and, with optimistic
// retries, to one shared stream. Afterwards every stream must hold exactly the successful appends,
// at contiguous revisions, and the log exactly their events.
func testConcurrentAppenders(f *fixture) {
	const goroutines, ownAppends, sharedAppends = 20, 10, 5
	shared := f.stream("shared")
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		errs      []error
		owned     = make([][]eventlog.EventData, goroutines)
		succeeded []sharedAppend
		conflicts atomic.Int64
	)
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		errs = append(errs, err)
	}
	for g := range goroutines {
		wg.Go(func() {
			stream := f.stream(fmt.Sprint("own", g))
			expectedRev := eventlog.NoStream()
			for i := range ownAppends {
				evs := f.events(1 + (g+i)%3)
				res, err := f.store.Append(f.ctx, stream, expectedRev, evs)
				if err != nil {
					fail(fmt.Errorf("%s: %w", stream, err))
					return
				}
				expectedRev = eventlog.Exactly(res.Revision)
				owned[g] = append(owned[g], evs...)
				if i%2 == 1 {
					continue
				}
				done, err := f.appendShared(shared, f.events(1+i%2), i%4 == 0, &conflicts)
				if err != nil {
					fail(err)
					return
				}
				mu.Lock()
				succeeded = append(succeeded, done)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		f.t.Fatal(err)
	}
	if len(succeeded) != goroutines*sharedAppends {
		f.t.Fatalf("%d appends to the shared stream succeeded, want %d", len(succeeded), goroutines*sharedAppends)
	}
	f.t.Logf("%d conflicts retried on the shared stream", conflicts.Load())

	total := 0
	for g, evs := range owned {
		stream := f.stream(fmt.Sprint("own", g))
		if err := checkEvents(f.readStream(stream, 0, 0), appended(stream, 0, evs)); err != nil {
			f.t.Errorf("%s: %v", stream, err)
		}
		total += len(evs)
	}

	// Each successful append says where its events went; together they must tile the stream.
	var want []expected
	sharedEvents := 0
	for _, a := range succeeded {
		sharedEvents += len(a.events)
	}
	want = make([]expected, sharedEvents)
	for _, a := range succeeded {
		first := int(a.result.Revision) + 1 - len(a.events)
		if first < 0 || int(a.result.Revision) >= sharedEvents {
			f.t.Fatalf("an append to the shared stream returned revision %d; the stream should end at %d",
				a.result.Revision, sharedEvents-1)
		}
		for i, ev := range a.events {
			if want[first+i].stream != "" {
				f.t.Fatalf("two successful appends both claim revision %d of the shared stream", first+i)
			}
			want[first+i] = expected{stream: shared, revision: uint64(first + i), event: ev}
		}
	}
	got := f.readStream(shared, 0, 0)
	if err := checkEvents(got, want); err != nil {
		f.t.Fatalf("shared stream: %v", err)
	}
	for _, a := range succeeded {
		if pos := got[a.result.Revision].Position; pos != a.result.Position {
			f.t.Errorf("an append returned position %s, its last event is at %s", a.result.Position, pos)
		}
	}
	total += sharedEvents

	all := f.readOwnAll(f.start)
	if len(all) != total {
		f.t.Fatalf("the log holds %d of the case's events, want %d", len(all), total)
	}
	seen := make(map[eventlog.EventID]bool, total)
	for _, ev := range all {
		if seen[ev.ID] {
			f.t.Fatalf("event %x is in the log twice", ev.ID)
		}
		seen[ev.ID] = true
	}
}

// appendShared appends events at the end of stream, reading its revision and retrying on conflict
// until the append goes through. With repeat it then appends the same events at the same revision
// again, which must be a no-op that returns the same result.
func (f *fixture) appendShared(stream string, events []eventlog.EventData, repeat bool, conflicts *atomic.Int64) (sharedAppend, error) {
	for {
		last, err := f.store.ReadStreamBackwards(f.ctx, stream, eventlog.End, 1)
		if err != nil {
			return sharedAppend{}, fmt.Errorf("%s: %w", stream, err)
		}
		expectedRev := eventlog.NoStream()
		if len(last) == 1 {
			expectedRev = eventlog.Exactly(last[0].Revision)
		}
		res, err := f.store.Append(f.ctx, stream, expectedRev, events)
		if errors.Is(err, eventlog.ErrWrongExpectedVersion) {
			conflicts.Add(1)
			continue
		}
		if err != nil {
			return sharedAppend{}, fmt.Errorf("%s: %w", stream, err)
		}
		if repeat {
			again, err := f.store.Append(f.ctx, stream, expectedRev, events)
			if err != nil {
				return sharedAppend{}, fmt.Errorf("%s: repeating an append: %w", stream, err)
			}
			if again != res {
				return sharedAppend{}, fmt.Errorf("%s: repeated append returned %+v, want %+v", stream, again, res)
			}
		}
		return sharedAppend{events: events, result: res}, nil
	}
}

// testManyStreams writes a thousand streams from a few goroutines and reads each back.
func testManyStreams(f *fixture) {
	const streams, workers = 1000, 8
	batches := make([][]eventlog.EventData, streams)
	for i := range batches {
		batches[i] = f.events(2)
	}
	name := func(i int) string { return f.stream(fmt.Sprint("many", i)) }
	var (
		next atomic.Int64
		wg   sync.WaitGroup
		errs = make([]error, workers)
	)
	work := func(do func(i int) error) {
		next.Store(0)
		for w := range workers {
			wg.Go(func() {
				for i := int(next.Add(1) - 1); i < streams && errs[w] == nil; i = int(next.Add(1) - 1) {
					errs[w] = do(i)
				}
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			f.t.Fatal(err)
		}
	}
	work(func(i int) error {
		res, err := f.store.Append(f.ctx, name(i), eventlog.NoStream(), batches[i])
		if err == nil && res.Revision != 1 {
			err = fmt.Errorf("%s: revision %d, want 1", name(i), res.Revision)
		}
		return err
	})
	work(func(i int) error {
		evs, err := f.store.ReadStream(f.ctx, name(i), 0, 0)
		if err != nil {
			return err
		}
		if err := checkEvents(evs, appended(name(i), 0, batches[i])); err != nil {
			return fmt.Errorf("%s: %w", name(i), err)
		}
		return nil
	})
	all := f.readOwnAll(f.start)
	if len(all) != 2*streams {
		f.t.Fatalf("the log holds %d of the case's events, want %d", len(all), 2*streams)
	}
	if err := checkStreamOrder(all); err != nil {
		f.t.Fatalf("$all: %v", err)
	}
}
