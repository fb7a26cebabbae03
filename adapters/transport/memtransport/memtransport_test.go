package memtransport_test

import (
	"github.com/hookd/hookd/adapters/transport"

	"sync"

	"context"
	"errors"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/tests"

	"testing"
	"time"

	"github.com/hookd/hookd/adapters/transport/memtransport"
	"github.com/hookd/hookd/adapters/transport/transporttest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	// One process: every node is the same PubSub, as every part of an embedded hookd is.
	ps := memtransport.New(memtransport.Config{})
	t.Cleanup(func() { _ = ps.Close() })
	transporttest.Run(t, transporttest.Features{DueOrder: true, Lateness: 10 * time.Millisecond}, transporttest.Backend{
		NewNode: func(*testing.T, time.Duration) transporttest.Node {
			return transporttest.Node{Publisher: ps, Subscriber: ps, Backlog: ps.Backlog}
		},
	})
}

// TestWatermillPubSub runs Watermill's own suite against the transport. Its constructor stands for
// another user of the same process's transport, as Watermill's suite expects of a pub/sub whose
// messages outlive a subscriber.
func TestWatermillPubSub(t *testing.T) {
	t.Parallel()
	// One message in flight at a time: the suite expects the next message only after an ack.
	ps := memtransport.New(memtransport.Config{MaxInFlight: 1})
	t.Cleanup(func() { _ = ps.Close() })
	features := tests.Features{Persistent: true, ForceShort: true}
	tests.TestPubSub(t, features, func(*testing.T) (message.Publisher, message.Subscriber) {
		return newUser(ps), newUser(ps)
	}, nil)
}

// user is one user of a shared PubSub: closing it ends only its own subscriptions, and returns once
// their channels are closed.
type user struct {
	ps     *memtransport.PubSub
	ctx    context.Context
	cancel context.CancelFunc
	subs   *sync.WaitGroup
}

func newUser(ps *memtransport.PubSub) user {
	ctx, cancel := context.WithCancel(context.Background())
	return user{ps: ps, ctx: ctx, cancel: cancel, subs: &sync.WaitGroup{}}
}

func (u user) Publish(topic string, msgs ...*message.Message) error {
	if u.ctx.Err() != nil {
		return errors.New("closed")
	}
	return u.ps.Publish(topic, msgs...)
}

func (u user) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	ctx, cancel := context.WithCancel(ctx)
	context.AfterFunc(u.ctx, cancel)
	in, err := u.ps.Subscribe(ctx, topic)
	if err != nil {
		cancel()
		return nil, err
	}
	out := make(chan *message.Message)
	u.subs.Go(func() {
		defer close(out)
		for msg := range in {
			select {
			case out <- msg:
			case <-ctx.Done():
				return // unacked, the message goes back to the topic
			}
		}
	})
	return out, nil
}

func (u user) Close() error {
	u.cancel()
	u.subs.Wait()
	return nil
}

func TestFullTopicRefusesNewKeysOnly(t *testing.T) {
	t.Parallel()
	ps := memtransport.New(memtransport.Config{MaxPending: 2})
	t.Cleanup(func() { _ = ps.Close() })
	sched := transport.NewScheduler(ps, "t")
	later := time.Now().Add(time.Hour)
	for _, id := range []string{"a", "b"} {
		if err := sched.Schedule(t.Context(), id, later); err != nil {
			t.Fatalf("Schedule(%s) = %v", id, err)
		}
	}
	if err := sched.Schedule(t.Context(), "c", later); !errors.Is(err, memtransport.ErrFull) {
		t.Fatalf("Schedule(c) on a full topic = %v, want ErrFull", err)
	}
	// A key the topic holds can always be scheduled again: a retry never fails for want of room.
	if err := sched.Schedule(t.Context(), "a", time.Now()); err != nil {
		t.Fatalf("Schedule(a) again = %v", err)
	}
	if waiting, inFlight := ps.Len("t"); waiting != 2 || inFlight != 0 {
		t.Fatalf("Len = %d waiting, %d in flight; want 2, 0", waiting, inFlight)
	}
}

func TestPublishedWhileInFlightWaitsForTheAck(t *testing.T) {
	t.Parallel()
	ps := memtransport.New(memtransport.Config{})
	t.Cleanup(func() { _ = ps.Close() })
	sched := transport.NewScheduler(ps, "t")
	msgs, err := ps.Subscribe(t.Context(), "t")
	if err != nil {
		t.Fatal(err)
	}
	if err := sched.Schedule(t.Context(), "k", time.Time{}); err != nil {
		t.Fatal(err)
	}
	first := <-msgs
	// A replay asked for during the attempt: kept, but not handed out while the attempt runs.
	if err := sched.Schedule(t.Context(), "k", time.Time{}); err != nil {
		t.Fatal(err)
	}
	select {
	case msg := <-msgs:
		t.Fatalf("%s handed out while in flight", msg.UUID)
	case <-time.After(200 * time.Millisecond):
	}
	first.Ack()
	select {
	case msg := <-msgs:
		if msg.UUID != "k" {
			t.Fatalf("got %s, want k", msg.UUID)
		}
		msg.Ack()
	case <-time.After(10 * time.Second):
		t.Fatal("the message published during the flight was lost")
	}
}
