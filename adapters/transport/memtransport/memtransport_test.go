package memtransport_test

import (
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
			return transporttest.Node{Publisher: ps, Subscriber: ps}
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
