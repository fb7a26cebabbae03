// Package eventstoretest is the conformance suite for eventstore.Store. Every adapter runs it from its
// own tests and counts as ready only when it passes under -race:
//
//	func TestConformance(t *testing.T) {
//		eventstoretest.Run(t, func(t *testing.T) eventstore.Store { return openStore(t) })
//	}
//
// Each case runs on a store of its own, in parallel with the others. Cases name their streams with a
// random suffix and look only at their own events in the $all order, so the suite can also run
// against a shared server that other cases, or earlier runs, have written to; the strictest checks
// on the whole log apply when it holds nothing else.
package eventstoretest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookd/hookd/application/eventstore"
	"github.com/hookd/hookd/domain/eventlog"
)

// caseTimeout bounds each case, so that a store that hangs fails the case instead of the test binary.
// It catches hangs only: ManyStreams alone takes 13 s against the KurrentDB test server on a quiet
// 2-core machine and several times that under load, so the bound is far above any honest run.
const caseTimeout = 3 * time.Minute

// Run runs every case of the suite as a parallel subtest of t. newStore is called once per case and
// returns a store ready for use; Run closes it when the case ends, so newStore need only arrange for
// removing what the store leaves behind (t.TempDir does that).
func Run(t *testing.T, newStore func(t *testing.T) eventstore.Store) {
	cases := []struct {
		name string
		run  func(*fixture)
	}{
		{"AppendNoStream", testAppendNoStream},
		{"AppendExactly", testAppendExactly},
		{"WrongExpectedVersion", testWrongExpectedVersion},
		{"AppendIsAtomic", testAppendIsAtomic},
		{"IdempotentAppend", testIdempotentAppend},
		{"ReadStream", testReadStream},
		{"ReadStreamBackwards", testReadStreamBackwards},
		{"ReadMissingStream", testReadMissingStream},
		{"ReadAll", testReadAll},
		{"LastPosition", testLastPosition},
		{"SubscribeCatchUpThenLive", testSubscribeCatchUpThenLive},
		{"SubscribeFromMiddle", testSubscribeFromMiddle},
		{"NextReturnsAtMostMax", testNextReturnsAtMostMax},
		{"NextHonoursContext", testNextHonoursContext},
		{"SubscribeContextEndsSubscription", testSubscribeContextEndsSubscription},
		{"SubscriptionClose", testSubscriptionClose},
		{"StoreCloseDropsSubscription", testStoreCloseDropsSubscription},
		{"SubscribeWhileAppending", testSubscribeWhileAppending},
		{"ConcurrentAppenders", testConcurrentAppenders},
		{"ManyStreams", testManyStreams},
		{"DeleteStreamsKeepingUp", deleteStreamsAt(eventstore.KeepingUp)},
		{"DeleteStreamsBehind", deleteStreamsAt(eventstore.Behind)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.run(newFixture(t, newStore))
		})
	}
}

// fixture is one case's store and the helpers that keep the case's assertions short.
type fixture struct {
	t     *testing.T
	store eventstore.Store
	ctx   context.Context
	// id suffixes the case's stream names.
	id string
	// start is the last position of the log when the case began.
	start eventlog.Position
	// empty says the log held no events when the case began. Each case gets a store of its own, so
	// then nothing but the case writes to it, and checks on the whole log can be exact.
	empty bool

	closeOnce sync.Once
	closeErr  error
}

func newFixture(t *testing.T, newStore func(t *testing.T) eventstore.Store) *fixture {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), caseTimeout)
	t.Cleanup(cancel)
	f := &fixture{t: t, store: newStore(t), ctx: ctx, id: randomHex(6)}
	t.Cleanup(func() {
		if err := f.close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	start, err := f.store.LastPosition(ctx)
	if err != nil {
		t.Fatalf("LastPosition: %v", err)
	}
	f.start = start
	first, err := f.store.ReadAll(ctx, eventlog.Start, 1)
	if err != nil {
		t.Fatalf("ReadAll(Start, 1): %v", err)
	}
	f.empty = len(first) == 0
	return f
}

func (f *fixture) close() error {
	f.closeOnce.Do(func() { f.closeErr = f.store.Close() })
	return f.closeErr
}

// stream names one of the case's streams; category is what comes before the dash.
func (f *fixture) stream(category string) string { return category + "-" + f.id }

// own reports whether ev belongs to one of the case's streams.
func (f *fixture) own(ev eventlog.RecordedEvent) bool { return strings.HasSuffix(ev.Stream, "-"+f.id) }

// eventCounter makes every event's payload unique, so that comparisons cannot pass by coincidence.
var eventCounter atomic.Int64

// events returns n new events with random ids. Every third has no metadata, to check that a nil
// field round-trips.
func (f *fixture) events(n int) []eventlog.EventData {
	evs := make([]eventlog.EventData, n)
	for i := range evs {
		seq := eventCounter.Add(1)
		evs[i] = eventlog.EventData{
			ID:   newEventID(),
			Type: []string{"TestCreated", "TestUpdated", "TestDeleted"}[seq%3],
			Data: fmt.Appendf(nil, `{"seq":%d,"case":%q}`, seq, f.t.Name()),
		}
		if seq%3 != 0 {
			evs[i].Metadata = fmt.Appendf(nil, `{"correlationId":"c-%d"}`, seq)
		}
	}
	return evs
}

// append appends and fails the case on error.
func (f *fixture) append(stream string, expected eventlog.ExpectedRevision, events []eventlog.EventData) eventlog.AppendResult {
	f.t.Helper()
	res, err := f.store.Append(f.ctx, stream, expected, events)
	if err != nil {
		f.t.Fatalf("Append(%s, %s, %d events): %v", stream, expected, len(events), err)
	}
	return res
}

// readStream reads forwards and fails the case on error.
func (f *fixture) readStream(stream string, from uint64, limit int) []eventlog.RecordedEvent {
	f.t.Helper()
	evs, err := f.store.ReadStream(f.ctx, stream, from, limit)
	if err != nil {
		f.t.Fatalf("ReadStream(%s, %d, %d): %v", stream, from, limit, err)
	}
	return evs
}

// readBackwards reads backwards and fails the case on error.
func (f *fixture) readBackwards(stream string, from uint64, limit int) []eventlog.RecordedEvent {
	f.t.Helper()
	evs, err := f.store.ReadStreamBackwards(f.ctx, stream, from, limit)
	if err != nil {
		f.t.Fatalf("ReadStreamBackwards(%s, %d, %d): %v", stream, from, limit, err)
	}
	return evs
}

// readOwnAll pages through the log after position after, 7 events at a time so that paging is
// exercised, and returns the case's own events. It fails the case unless positions strictly
// increase and each page holds at most its limit.
func (f *fixture) readOwnAll(after eventlog.Position) []eventlog.RecordedEvent {
	f.t.Helper()
	const page = 7
	var own []eventlog.RecordedEvent
	for {
		evs, err := f.store.ReadAll(f.ctx, after, page)
		if err != nil {
			f.t.Fatalf("ReadAll(%s, %d): %v", after, page, err)
		}
		if len(evs) > page {
			f.t.Fatalf("ReadAll(%s, %d) returned %d events", after, page, len(evs))
		}
		if len(evs) == 0 {
			return own
		}
		for _, ev := range evs {
			if !after.Before(ev.Position) {
				f.t.Fatalf("ReadAll: position %s follows %s", ev.Position, after)
			}
			after = ev.Position
			if f.own(ev) {
				own = append(own, ev)
			}
		}
	}
}

// collect reads own events from sub until it has n of them. It fails if positions do not strictly
// increase, if Next breaks its max, or if more than n own events arrive.
func (f *fixture) collect(ctx context.Context, sub eventstore.Subscription, n int) ([]eventlog.RecordedEvent, error) {
	const max = 50
	var (
		got  []eventlog.RecordedEvent
		last eventlog.Position
	)
	for len(got) < n {
		evs, err := sub.Next(ctx, max)
		if err != nil {
			return got, fmt.Errorf("waiting for event %d of %d: %w", len(got)+1, n, err)
		}
		if len(evs) == 0 || len(evs) > max {
			return got, fmt.Errorf("subscription returned %d events for a maximum of %d", len(evs), max)
		}
		for _, ev := range evs {
			if !last.Before(ev.Position) {
				return got, fmt.Errorf("subscription: position %s follows %s", ev.Position, last)
			}
			last = ev.Position
			if f.own(ev) {
				got = append(got, ev)
			}
		}
	}
	if len(got) > n {
		return got, fmt.Errorf("subscription delivered %d events, want %d", len(got), n)
	}
	return got, nil
}

// subscribe subscribes and fails the case on error; the subscription is closed when the case ends.
func (f *fixture) subscribe(ctx context.Context, after eventlog.Position) eventstore.Subscription {
	f.t.Helper()
	sub, err := f.store.SubscribeAll(ctx, after)
	if err != nil {
		f.t.Fatalf("SubscribeAll(%s): %v", after, err)
	}
	f.t.Cleanup(func() { _ = sub.Close() })
	return sub
}

func newEventID() eventlog.EventID {
	var id eventlog.EventID
	_, _ = rand.Read(id[:])
	id[6] = id[6]&0x0f | 0x40 // a version 4 UUID, which KurrentDB expects
	id[8] = id[8]&0x3f | 0x80
	return id
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
