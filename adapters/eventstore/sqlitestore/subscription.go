package sqlitestore

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/hookd/hookd/application/eventstore"
	"github.com/hookd/hookd/domain/eventlog"
)

// pageSize is how many events a subscription reads per query. Catching up over a long log costs a
// query per page, so pages are large; what Next does not return yet waits in memory.
const pageSize = 1024

// errDropped ends subscriptions when their store closes.
var errDropped = fmt.Errorf("%w: %w", eventlog.ErrSubscriptionDropped, ErrClosed)

// SubscribeAll implements eventstore.Store.SubscribeAll. The subscription reads pages of the log
// until it has caught up, then takes this Store's commits from memory as they happen and, for
// appends by other processes, reads the file every Options.PollInterval. Next is meant for one
// goroutine; Close may be called from any.
func (s *Store) SubscribeAll(ctx context.Context, after eventlog.Position) (eventstore.Subscription, error) {
	if s.closed() {
		return nil, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return &subscription{store: s, ctx: ctx, after: after, poll: true, closed: make(chan struct{})}, nil
}

type subscription struct {
	store *Store
	// ctx is SubscribeAll's: when it ends, so does the subscription.
	ctx context.Context
	// after is the position of the last event read from the log, delivered or buffered.
	after    eventlog.Position
	buffered []eventlog.RecordedEvent
	// poll says the file must be read for what another process appended, even where the tail says
	// this Store committed nothing newer: at first, and whenever a wait lasted the poll interval.
	poll bool

	closed    chan struct{}
	closeOnce sync.Once
}

func (sub *subscription) Next(ctx context.Context, max int) ([]eventlog.RecordedEvent, error) {
	if max <= 0 {
		return nil, fmt.Errorf("sqlitestore: Next: max must be positive, got %d", max)
	}
	var poll *time.Timer
	defer func() {
		if poll != nil {
			poll.Stop()
		}
	}()
	for {
		if err := sub.ended(ctx); err != nil {
			return nil, err
		}
		if len(sub.buffered) > 0 {
			n := min(max, len(sub.buffered))
			out := sub.buffered[:n:n]
			sub.buffered = sub.buffered[n:]
			return out, nil
		}
		// Taken before reading, so that a commit between the read and the wait still wakes us.
		wake := sub.store.changed()
		page, covered := sub.store.tail.read(sub.after.Commit)
		if !covered || (len(page) == 0 && sub.poll) {
			sub.poll = false
			var err error
			if page, err = sub.store.pages.read(ctx, sub.store, sub.after); err != nil {
				if endErr := sub.ended(ctx); endErr != nil {
					return nil, endErr
				}
				return nil, err
			}
		}
		if len(page) > 0 {
			sub.buffered = page // shared with other subscriptions: Next hands out sub-slices only
			sub.after = page[len(page)-1].Position
			continue
		}
		if poll == nil {
			poll = time.NewTimer(sub.store.opts.PollInterval)
		} else {
			poll.Reset(sub.store.opts.PollInterval)
		}
		select {
		case <-wake:
		case <-poll.C:
			sub.poll = true
		case <-ctx.Done():
		case <-sub.ctx.Done():
		case <-sub.closed:
		case <-sub.store.done:
		}
	}
}

// ended returns why the subscription cannot go on, or nil.
func (sub *subscription) ended(ctx context.Context) error {
	select {
	case <-sub.closed:
		return ErrClosed
	case <-sub.store.done:
		return errDropped
	default:
	}
	if err := sub.ctx.Err(); err != nil {
		return err
	}
	return ctx.Err()
}

func (sub *subscription) Close() error {
	sub.closeOnce.Do(func() { close(sub.closed) })
	return nil
}

var _ eventstore.Subscription = (*subscription)(nil)
