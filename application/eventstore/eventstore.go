// Package eventstore declares the port every event store adapter implements: the embedded store that
// hookd runs on by default and KurrentDB. The conformance suite in eventstoretest holds each adapter to
// the same behaviour.
package eventstore

import (
	"context"

	"github.com/hookd/hookd/domain/eventlog"
)

// Store is hookd's append-only log. All methods are safe for concurrent use.
type Store interface {
	// Append writes events at the end of stream, all or none, if the stream is in the expected state.
	// Otherwise it returns an error matching eventlog.ErrWrongExpectedVersion and writes nothing.
	// Appending again events whose ids were already appended at the same expected revision is a
	// no-op that returns the first append's result. When Append returns without error the events are
	// durable.
	Append(ctx context.Context, stream string, expected eventlog.ExpectedRevision, events []eventlog.EventData) (eventlog.AppendResult, error)

	// ReadStream returns the stream's events from revision from (inclusive) onwards, oldest first, at
	// most limit of them (limit <= 0: all). A stream that does not exist reads as empty.
	ReadStream(ctx context.Context, stream string, from uint64, limit int) ([]eventlog.RecordedEvent, error)

	// ReadStreamBackwards returns the stream's events from revision from (inclusive, eventlog.End for
	// the last) backwards, newest first, at most limit of them (limit <= 0: all).
	ReadStreamBackwards(ctx context.Context, stream string, from uint64, limit int) ([]eventlog.RecordedEvent, error)

	// ReadAll returns up to limit events of the whole log that come after position after, in log
	// order.
	ReadAll(ctx context.Context, after eventlog.Position, limit int) ([]eventlog.RecordedEvent, error)

	// LastPosition returns the position of the last event in the log, or eventlog.Start when it is
	// empty.
	LastPosition(ctx context.Context) (eventlog.Position, error)

	// SubscribeAll follows the whole log from after position after: first the events already in the
	// log, then each new one as it is appended. Cancelling ctx ends the subscription.
	SubscribeAll(ctx context.Context, after eventlog.Position) (Subscription, error)

	// Close releases the store. Subscriptions still open end with an error.
	Close() error
}

// Subscription is a live view of the log, delivered in log order without gaps or repeats.
type Subscription interface {
	// Next blocks until at least one event is available and returns up to max of them. It returns
	// ctx's error when ctx ends, and an error matching eventlog.ErrSubscriptionDropped when the store
	// ends the subscription; the subscriber then resubscribes from its last checkpoint.
	Next(ctx context.Context, max int) ([]eventlog.RecordedEvent, error)
	// Close ends the subscription. It is safe to call more than once.
	Close() error
}

// StreamAt names a stream and the revision of its last event, as the caller last saw it.
type StreamAt struct {
	Stream   string
	Revision uint64
}

// Pruner removes whole streams from the log, for retention: the log otherwise only grows. It is a
// port of its own because only retention needs it. Implementations are safe for concurrent use.
type Pruner interface {
	// DeleteStreams removes each stream whose last event is still at the revision given, with all
	// its events: they no longer read from ReadStream at once, and no longer from ReadAll once the
	// store reclaims their space (the embedded store: at once; KurrentDB: at its next scavenge). The
	// positions of the other events do not change. It returns the streams it left in place because
	// they moved on since (a later event was appended) or because the store cannot remove them yet
	// (the embedded store keeps the stream holding the log's last event, so that positions never
	// go back); asking again later may remove those. A stream that is not there counts as removed.
	// The removal of each stream is all or nothing, and durable when DeleteStreams returns. pace
	// says how hard the deletes may press on the appends meanwhile.
	DeleteStreams(ctx context.Context, streams []StreamAt, pace Pace) (kept []StreamAt, err error)
}

// Pace says whether the caller of DeleteStreams is keeping up with what expires, so that a store
// whose deletes slow its appends down (the embedded store: one writer for both) can trade the
// deletes' speed for the appends' latency while that costs nothing but a little delay.
type Pace int

const (
	// KeepingUp: what is deleted expired a moment ago; the deletes may go slowly, out of the
	// appends' way.
	KeepingUp Pace = iota
	// Behind: expired streams pile up faster than they go; the deletes take a fair share of the
	// store, so that the space the log takes has a ceiling.
	Behind
)
