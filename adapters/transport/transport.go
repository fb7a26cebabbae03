// Package transport carries delivery ids to the delivering nodes, each at the time it is due. A
// transport is a Watermill Publisher and Subscriber pair with two rules on top of Watermill's:
//
//   - A message's UUID is its key (hookd uses the delivery id). A transport holds at most one
//     message per key and topic waiting: publishing a key again before its message is handed out
//     replaces it, due time, payload and metadata, so a delivery never has two timers. The latest
//     publish wins, earlier or later than the one it replaces; a message handed out too early costs
//     nothing, since the delivery use case judges from the log and schedules again.
//   - A message is handed out no earlier than the due time in its metadata (SetDueAt); without one
//     it is due at once.
//
// A subscriber hands out at most its in-flight limit of unacked messages at a time. Ack removes a
// message; Nack hands it out again (after the transport's nack delay); a message whose subscriber goes
// away unacked is handed out again (see each transport for when). Delivery is at least once: a
// message can be handed out twice, for example when it is published again while in flight.
// memtransport is the embedded profile's transport; natstransport is the cluster profile's.
package transport

import (
	"context"
	"fmt"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
)

// DueAtKey is the metadata key of a message's due time, in RFC 3339 with nanoseconds.
const DueAtKey = "hookd_due_at"

// SetDueAt sets when msg is due.
func SetDueAt(msg *message.Message, at time.Time) {
	msg.Metadata.Set(DueAtKey, at.UTC().Format(time.RFC3339Nano))
}

// DueAt returns when msg is due: the zero time when it has no due time, meaning at once.
func DueAt(msg *message.Message) (time.Time, error) {
	s := msg.Metadata.Get(DueAtKey)
	if s == "" {
		return time.Time{}, nil
	}
	at, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("transport: message %s: due time %q: %w", msg.UUID, s, err)
	}
	return at, nil
}

// Scheduler hands deliveries to a transport: Schedule publishes a message keyed by the delivery id,
// with the id as payload, due at dueAt. It is the adapter behind the application's scheduling port.
type Scheduler struct {
	pub   message.Publisher
	topic string
}

// NewScheduler returns a Scheduler publishing on topic.
func NewScheduler(pub message.Publisher, topic string) *Scheduler {
	return &Scheduler{pub: pub, topic: topic}
}

// Schedule has the delivery handed out at dueAt, replacing any earlier schedule of it that is still
// waiting. It returns once the transport holds the message (for NATS, once the stream has stored it),
// or with an error, in which case the delivery may or may not be scheduled.
func (s *Scheduler) Schedule(ctx context.Context, deliveryID string, dueAt time.Time) error {
	msg := NewMessage(deliveryID, dueAt)
	msg.SetContext(ctx)
	return s.pub.Publish(s.topic, msg)
}

// NewMessage returns the message that hands a delivery out at dueAt: keyed by the delivery id, with
// the id as payload.
func NewMessage(deliveryID string, dueAt time.Time) *message.Message {
	msg := message.NewMessage(deliveryID, []byte(deliveryID))
	SetDueAt(msg, dueAt)
	return msg
}
