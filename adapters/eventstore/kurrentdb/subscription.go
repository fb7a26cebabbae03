package kurrentdb

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/hookd/hookd/application/eventstore"
	"github.com/hookd/hookd/domain/eventlog"
)

// subscriptionBuffer is how many events a subscription receives ahead of Next, so that catching up
// is not one round trip through Next per event.
const subscriptionBuffer = 1024

// Resubscription backoff after a drop: doubling from the first to the last.
const (
	firstBackoff = 50 * time.Millisecond
	maxBackoff   = 2 * time.Second
)

var (
	// errSubscriptionClosed is what Next returns after Close.
	errSubscriptionClosed = errors.New("kurrentdb: subscription closed")
	// errStoreClosed ends subscriptions when their store closes.
	errStoreClosed = fmt.Errorf("%w: %w", eventlog.ErrSubscriptionDropped, ErrClosed)
)

// SubscribeAll implements eventstore.Store.SubscribeAll with a catch-up subscription to $all from
// after (exclusive), filtered on the server by hookd's stream prefixes. The first subscription is
// made before SubscribeAll returns, so an unreachable node is reported at once, as an error matching
// eventlog.ErrUnavailable. When the node drops the subscription later, or restarts, it
// resubscribes from the last event it received, with backoff, for as long as the failure may pass;
// Next sees neither a gap nor a repeat. Next is meant for one goroutine; Close may be called from
// any.
func (s *Store) SubscribeAll(ctx context.Context, after eventlog.Position) (eventstore.Subscription, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sub := &subscription{store: s, parent: ctx, events: make(chan eventlog.RecordedEvent, subscriptionBuffer), ended: make(chan struct{})}
	sub.ctx, sub.cancel = context.WithCancel(ctx)
	stop := context.AfterFunc(s.ctx, sub.cancel)
	first, err := sub.open(after)
	if err != nil {
		stop()
		sub.cancel()
		if errors.Is(err, ErrClosed) {
			return nil, err
		}
		return nil, mapError(ctx, "subscribe to $all", err, nil)
	}
	go func() {
		defer stop()
		sub.run(after, first)
	}()
	return sub, nil
}

type subscription struct {
	store  *Store
	parent context.Context // SubscribeAll's
	// ctx ends with parent, with Close and with the store.
	ctx    context.Context
	cancel context.CancelFunc

	events chan eventlog.RecordedEvent
	// ended is closed when the subscription stops receiving, after err is set.
	ended chan struct{}
	err   error

	closed    atomic.Bool
	closeOnce sync.Once
}

// live is one subscription on the node and the client it holds.
type live struct {
	es     *esdb.Subscription
	c      *client
	cancel context.CancelFunc
}

func (l *live) close(s *Store) {
	_ = l.es.Close()
	l.cancel()
	s.release(l.c)
}

// open subscribes after pos. Only the wait for the node's confirmation is bounded by
// Options.Timeout; the subscription itself lives until sub.ctx ends. As in withClient, the call runs
// in a goroutine of its own, so a client stuck in discovery cannot hold the subscriber.
func (sub *subscription) open(pos eventlog.Position) (*live, error) {
	s := sub.store
	var from esdb.AllPosition = esdb.Start{}
	if pos != eventlog.Start {
		from = esdb.Position{Commit: pos.Commit, Prepare: pos.Prepare}
	}
	opts := esdb.SubscribeToAllOptions{From: from, Filter: &esdb.SubscriptionFilter{Type: esdb.StreamFilterType, Prefixes: s.prefixes}}
	type result struct {
		es  *esdb.Subscription
		err error
	}
	waitCtx, stopWaiting := context.WithTimeout(sub.ctx, s.opts.Timeout)
	defer stopWaiting()
	l, err := s.acquire(waitCtx)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(sub.ctx)
	done := make(chan result, 1)
	go func() {
		es, err := l.c.esdb.SubscribeToAll(ctx, opts)
		s.settle(l, sub.ctx, err)
		done <- result{es, err}
	}()
	var (
		r   result
		got bool // whether r is the call's own answer
	)
	select {
	case r, got = <-done:
	case <-waitCtx.Done():
	case <-l.failed:
	}
	if !got {
		select {
		case r, got = <-done: // finished meanwhile: its own answer is better
		default:
			r.err = fmt.Errorf("no confirmation: %w", errConnectionFailed)
			if sub.ctx.Err() == nil {
				s.replace(l.c)
			}
		}
	}
	if r.err == nil {
		return &live{es: r.es, c: l.c, cancel: cancel}, nil
	}
	if got {
		cancel()
		s.release(l.c)
		return nil, r.err
	}
	// Whenever the call ends, nobody will use what it made.
	go func() {
		if late := <-done; late.es != nil {
			_ = late.es.Close()
		}
		cancel()
		s.release(l.c)
	}()
	return nil, r.err
}

// run follows the node's subscription, and resubscribes after drops, until the subscription ends.
func (sub *subscription) run(after eventlog.Position, l *live) {
	defer close(sub.ended)
	last, backoff := after, firstBackoff
	for {
		if l != nil {
			err := sub.follow(l, &last)
			l.close(sub.store)
			l = nil
			if sub.stopped(err) {
				return
			}
			sub.store.log.Warn("kurrentdb: subscription dropped; resubscribing", "after", last.String(), "err", err)
		}
		select {
		case <-time.After(backoff):
		case <-sub.ctx.Done():
			sub.stopped(nil)
			return
		}
		var err error
		if l, err = sub.open(last); err != nil {
			if sub.stopped(err) {
				return
			}
			backoff = min(2*backoff, maxBackoff)
			continue
		}
		backoff = firstBackoff
	}
}

// stopped decides whether the subscription ends after err (nil: it was asked to stop) and if so
// records why.
func (sub *subscription) stopped(err error) bool {
	switch {
	case sub.closed.Load():
		sub.err = errSubscriptionClosed
	case sub.store.ctx.Err() != nil || errors.Is(err, ErrClosed):
		sub.err = errStoreClosed
	case sub.parent.Err() != nil:
		sub.err = sub.parent.Err()
	default:
		mapped := mapError(sub.ctx, "subscription to $all", err, nil)
		if !permanent(mapped) {
			return false
		}
		sub.err = fmt.Errorf("%w: %w", eventlog.ErrSubscriptionDropped, mapped)
	}
	return true
}

// follow hands the node's events to Next until the node's subscription ends, and returns why.
// Events at or before last are skipped, so a resubscription never repeats one.
func (sub *subscription) follow(l *live, last *eventlog.Position) error {
	s := sub.store
	for {
		ev := l.es.Recv()
		if ev.SubscriptionDropped != nil {
			return ev.SubscriptionDropped.Error
		}
		// Checkpoints, caught-up and fell-behind notices carry no events.
		if ev.EventAppeared == nil || ev.EventAppeared.Event == nil {
			continue
		}
		rec := ev.EventAppeared.Event
		pos := position(rec)
		if !last.Before(pos) || !s.ours(rec.StreamID) {
			continue
		}
		select {
		case sub.events <- s.recorded(rec):
			*last = pos
		case <-sub.ctx.Done():
			return sub.ctx.Err()
		}
	}
}

// Next implements eventstore.Subscription.Next.
func (sub *subscription) Next(ctx context.Context, max int) ([]eventlog.RecordedEvent, error) {
	if max <= 0 {
		return nil, fmt.Errorf("kurrentdb: Next: max must be positive, got %d", max)
	}
	if sub.closed.Load() {
		return nil, errSubscriptionClosed
	}
	select {
	case <-sub.ended:
		return nil, sub.err
	default:
	}
	var first eventlog.RecordedEvent
	select {
	case first = <-sub.events:
	case <-sub.ended:
		return nil, sub.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	out := make([]eventlog.RecordedEvent, 1, min(max, 1+len(sub.events)))
	out[0] = first
	for len(out) < max {
		select {
		case ev := <-sub.events:
			out = append(out, ev)
		default:
			return out, nil
		}
	}
	return out, nil
}

// Close implements eventstore.Subscription.Close. It returns once the subscription has let go of
// the node.
func (sub *subscription) Close() error {
	sub.closeOnce.Do(func() {
		sub.closed.Store(true)
		sub.cancel()
		<-sub.ended
	})
	return nil
}
