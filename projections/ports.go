package projections

import (
	"context"

	"github.com/hookd/hookd/domain/eventlog"
)

// The ports below are the only things projections need from the log. They are declared here, not
// taken from application/eventstore, because projections may import the domain alone; any event store
// satisfies them with a one-line closure in the composition root.

// Subscription is a live view of the log, delivered in log order without gaps or repeats.
type Subscription interface {
	// Next blocks until at least one event is available and returns up to max of them. It returns
	// ctx's error when ctx ends, and an error matching eventlog.ErrSubscriptionDropped when the store
	// ends the subscription. A Next that returns because ctx ended hands out nothing and loses
	// nothing: the subscription may be asked again, and goes on where it was.
	Next(ctx context.Context, max int) ([]eventlog.RecordedEvent, error)
	// Close ends the subscription. It is safe to call more than once.
	Close() error
}

// SubscribeFunc follows the whole log from after position after: first the events already in the log,
// then each new one as it is appended. Cancelling ctx ends the subscription.
type SubscribeFunc func(ctx context.Context, after eventlog.Position) (Subscription, error)

// ReadAllFunc returns up to limit events of the whole log that come after position after, in log
// order; none when after is the head.
type ReadAllFunc func(ctx context.Context, after eventlog.Position, limit int) ([]eventlog.RecordedEvent, error)

// LastPositionFunc returns the position of the last event in the log, or eventlog.Start when it is
// empty.
type LastPositionFunc func(ctx context.Context) (eventlog.Position, error)

// Decoder turns the log's records into domain events. Read models use DecodeSealed, which leaves
// secret fields encrypted: a read model must not hold a secret in plain text any more than the log
// does. The codec of application/eventcodec satisfies it.
type Decoder interface {
	DecodeSealed(r eventlog.RecordedEvent) (interface{ EventName() string }, error)
	DecodeMetadata(r eventlog.RecordedEvent) (eventlog.Metadata, error)
}
