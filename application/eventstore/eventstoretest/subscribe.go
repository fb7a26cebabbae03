package eventstoretest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/hookd/hookd/application/eventstore"
	"github.com/hookd/hookd/domain/eventlog"
)

// promptly is how soon a blocked Next must return once its reason to return arrives.
const promptly = 5 * time.Second

// appendNext appends events at the end of stream, whatever its revision, and returns what the log
// must now hold for them. It is for cases that are not about expected revisions.
func (f *fixture) appendNext(stream string, events []eventlog.EventData) []expected {
	f.t.Helper()
	last := f.readBackwards(stream, eventlog.End, 1)
	expectedRev, first := eventlog.NoStream(), uint64(0)
	if len(last) == 1 {
		expectedRev, first = eventlog.Exactly(last[0].Revision), last[0].Revision+1
	}
	f.append(stream, expectedRev, events)
	return appended(stream, first, events)
}

// appendLater creates a stream with events after a pause, so that a Next already waiting must wake
// for them. The returned channel yields the append's error.
func (f *fixture) appendLater(category string, events []eventlog.EventData) <-chan error {
	done := make(chan error, 1)
	go func() {
		time.Sleep(50 * time.Millisecond)
		_, err := f.store.Append(f.ctx, f.stream(category), eventlog.NoStream(), events)
		done <- err
	}()
	return done
}

func testSubscribeCatchUpThenLive(f *fixture) {
	var want []expected
	for i := range 5 {
		want = append(want, f.appendNext(f.stream(fmt.Sprint("s", i%2)), f.events(2))...)
	}
	sub := f.subscribe(f.ctx, f.start)
	caughtUp, err := f.collect(f.ctx, sub, 10)
	if err != nil {
		f.t.Fatalf("catching up: %v", err)
	}
	if err := checkEvents(caughtUp, want); err != nil {
		f.t.Fatalf("catching up: %v", err)
	}

	for i := range 5 {
		want = append(want, f.appendNext(f.stream(fmt.Sprint("s", i%3)), f.events(2))...)
	}
	live, err := f.collect(f.ctx, sub, 10)
	if err != nil {
		f.t.Fatalf("live: %v", err)
	}
	if err := checkEvents(live, want[10:]); err != nil {
		f.t.Fatalf("live: %v", err)
	}

	late := f.events(1)
	appendErr := f.appendLater("late", late)
	woken, err := f.collect(f.ctx, sub, 1)
	if err := <-appendErr; err != nil {
		f.t.Fatalf("Append: %v", err)
	}
	if err != nil {
		f.t.Fatalf("waiting for an append: %v", err)
	}
	if err := checkEvents(woken, appended(f.stream("late"), 0, late)); err != nil {
		f.t.Fatalf("waiting for an append: %v", err)
	}
	delivered := slices.Concat(caughtUp, live, woken)
	if err := checkSame(delivered, f.readOwnAll(f.start)); err != nil {
		f.t.Errorf("the subscription and ReadAll disagree: %v", err)
	}
}

func testSubscribeFromMiddle(f *fixture) {
	f.appendTen(f.stream("order"))
	own := f.readOwnAll(f.start)
	sub := f.subscribe(f.ctx, own[3].Position)
	got, err := f.collect(f.ctx, sub, 6)
	if err != nil {
		f.t.Fatal(err)
	}
	if err := checkSame(got, own[4:]); err != nil {
		f.t.Fatalf("subscribing after the fourth event: %v", err)
	}
	f.appendNext(f.stream("order"), f.events(2))
	got, err = f.collect(f.ctx, sub, 2)
	if err != nil {
		f.t.Fatal(err)
	}
	if err := checkSame(got, f.readOwnAll(own[9].Position)); err != nil {
		f.t.Fatalf("live after catching up: %v", err)
	}
}

func testNextReturnsAtMostMax(f *fixture) {
	f.appendTen(f.stream("order"))
	own := f.readOwnAll(f.start)
	sub := f.subscribe(f.ctx, f.start)
	var got []eventlog.RecordedEvent
	for len(got) < len(own) {
		evs, err := sub.Next(f.ctx, 3)
		if err != nil {
			f.t.Fatalf("Next: %v", err)
		}
		if len(evs) == 0 || len(evs) > 3 {
			f.t.Fatalf("Next(3) returned %d events", len(evs))
		}
		for _, ev := range evs {
			if f.own(ev) {
				got = append(got, ev)
			}
		}
	}
	if err := checkSame(got, own); err != nil {
		f.t.Fatal(err)
	}
	f.appendNext(f.stream("order"), f.events(2))
	for range 2 {
		evs, err := sub.Next(f.ctx, 1)
		if err != nil {
			f.t.Fatalf("Next: %v", err)
		}
		if len(evs) != 1 {
			f.t.Fatalf("Next(1) returned %d events", len(evs))
		}
	}
}

// nextOwn calls Next until it returns one of the case's events or an error.
func (f *fixture) nextOwn(ctx context.Context, sub eventstore.Subscription) ([]eventlog.RecordedEvent, error) {
	for {
		evs, err := sub.Next(ctx, 10)
		if err != nil {
			return nil, err
		}
		for _, ev := range evs {
			if f.own(ev) {
				return evs, nil
			}
		}
	}
}

// awaitError calls Next and fails the case unless it returns an error within promptly of the
// call. Events from other writers are skipped; one of the case's fails.
func (f *fixture) awaitError(ctx context.Context, sub eventstore.Subscription, what string) error {
	f.t.Helper()
	began := time.Now()
	evs, err := f.nextOwn(ctx, sub)
	if err == nil {
		f.t.Fatalf("%s: Next returned %d events, want an error", what, len(evs))
	}
	if took := time.Since(began); took > promptly {
		f.t.Errorf("%s: Next took %v to return", what, took)
	}
	return err
}

func testNextHonoursContext(f *fixture) {
	sub := f.subscribe(f.ctx, f.lastPosition())

	ctx, cancel := context.WithTimeout(f.ctx, 100*time.Millisecond)
	defer cancel()
	if err := f.awaitError(ctx, sub, "deadline"); !errors.Is(err, context.DeadlineExceeded) {
		f.t.Errorf("Next returned %v, want the context's deadline error", err)
	}

	ctx, cancel = context.WithCancel(f.ctx)
	go func() {
		time.Sleep(50 * time.Millisecond)
		cancel()
	}()
	if err := f.awaitError(ctx, sub, "cancel"); !errors.Is(err, context.Canceled) {
		f.t.Errorf("Next returned %v, want the context's cancellation", err)
	}

	// Only the call ended, not the subscription.
	late := f.events(1)
	f.append(f.stream("late"), eventlog.NoStream(), late)
	evs, err := f.nextOwn(f.ctx, sub)
	if err != nil {
		f.t.Fatalf("Next after a cancelled Next: %v", err)
	}
	if err := checkEvents(evs, appended(f.stream("late"), 0, late)); err != nil {
		f.t.Fatalf("Next after a cancelled Next: %v", err)
	}
}

func testSubscribeContextEndsSubscription(f *fixture) {
	ctx, cancel := context.WithCancel(f.ctx)
	defer cancel()
	sub := f.subscribe(ctx, f.lastPosition())
	go func() {
		time.Sleep(50 * time.Millisecond)
		cancel()
	}()
	f.awaitError(f.ctx, sub, "subscription context cancelled")
	f.append(f.stream("late"), eventlog.NoStream(), f.events(1))
	f.awaitError(f.ctx, sub, "Next after the subscription ended")
}

func testSubscriptionClose(f *fixture) {
	sub := f.subscribe(f.ctx, f.lastPosition())
	closed := make(chan error, 1)
	go func() {
		time.Sleep(50 * time.Millisecond)
		closed <- sub.Close()
	}()
	f.awaitError(f.ctx, sub, "Close during Next")
	if err := <-closed; err != nil {
		f.t.Errorf("Close: %v", err)
	}
	if err := sub.Close(); err != nil {
		f.t.Errorf("second Close: %v", err)
	}
	f.append(f.stream("late"), eventlog.NoStream(), f.events(1))
	f.awaitError(f.ctx, sub, "Next after Close")
}

func testStoreCloseDropsSubscription(f *fixture) {
	f.append(f.stream("order"), eventlog.NoStream(), f.events(1))
	sub := f.subscribe(f.ctx, f.start)
	if _, err := f.collect(f.ctx, sub, 1); err != nil {
		f.t.Fatal(err)
	}
	go func() {
		time.Sleep(50 * time.Millisecond)
		_ = f.close() // the fixture reports its error
	}()
	if err := f.awaitError(f.ctx, sub, "store closed"); !errors.Is(err, eventlog.ErrSubscriptionDropped) {
		f.t.Errorf("Next returned %v, want an error matching ErrSubscriptionDropped", err)
	}
}

// testSubscribeWhileAppending follows the log with two subscriptions while writers append: one
// subscribed before the writers started, one that catches up while they write. Both must deliver
// exactly what ReadAll reads afterwards.
func testSubscribeWhileAppending(f *fixture) {
	const writers, appends = 4, 40
	total := 0 // appends of 1, 2, 3, 1, ... events
	for i := range appends {
		total += writers * (1 + i%3)
	}
	early := f.subscribe(f.ctx, f.start)

	var (
		wg         sync.WaitGroup
		errs       = make(chan error, writers+2)
		halfway    = make(chan struct{})
		halfwayOne sync.Once
		delivered  [2][]eventlog.RecordedEvent
	)
	for w := range writers {
		wg.Go(func() {
			// A writer that fails early must not leave the late subscriber waiting.
			defer halfwayOne.Do(func() { close(halfway) })
			stream := f.stream(fmt.Sprint("w", w))
			expectedRev := eventlog.NoStream()
			for i := range appends {
				if i == appends/2 {
					halfwayOne.Do(func() { close(halfway) })
				}
				res, err := f.store.Append(f.ctx, stream, expectedRev, f.events(1+i%3))
				if err != nil {
					errs <- fmt.Errorf("writer %d, append %d: %w", w, i, err)
					return
				}
				expectedRev = eventlog.Exactly(res.Revision)
			}
		})
	}
	collect := func(i int, sub eventstore.Subscription) {
		got, err := f.collect(f.ctx, sub, total)
		delivered[i] = got
		if err != nil {
			errs <- fmt.Errorf("subscription %d: %w", i, err)
		}
	}
	var readers sync.WaitGroup
	readers.Go(func() { collect(0, early) })
	<-halfway
	late := f.subscribe(f.ctx, f.start)
	readers.Go(func() { collect(1, late) })
	wg.Wait()
	readers.Wait()
	close(errs)
	for err := range errs {
		f.t.Error(err)
	}
	if f.t.Failed() {
		return
	}

	all := f.readOwnAll(f.start)
	if len(all) != total {
		f.t.Fatalf("the log holds %d of the case's events, want %d", len(all), total)
	}
	for i, got := range delivered {
		if err := checkSame(got, all); err != nil {
			f.t.Errorf("subscription %d and ReadAll disagree: %v", i, err)
		}
	}
	if err := checkStreamOrder(all); err != nil {
		f.t.Fatalf("$all: %v", err)
	}
}

// lastPosition returns the log's last position and fails the case on error.
func (f *fixture) lastPosition() eventlog.Position {
	f.t.Helper()
	pos, err := f.store.LastPosition(f.ctx)
	if err != nil {
		f.t.Fatalf("LastPosition: %v", err)
	}
	return pos
}
