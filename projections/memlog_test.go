package projections_test

import (
	"context"
	"sync"

	"github.com/hookd/hookd/domain/eventlog"
	"github.com/hookd/hookd/projections"
)

// memLog is an in-memory log for the tests: the embedded store's behaviour as the projections ports see
// it (positions numbered from 1, catch-up then live subscriptions), with hooks to drop subscriptions
// and to cap reads, which a real store does not offer. store_test.go runs the Runner and Rebuild on
// the embedded store itself.
type memLog struct {
	mu     sync.Mutex
	events []eventlog.RecordedEvent
	// changed is closed, and replaced, on every append.
	changed chan struct{}
	// subscriptions records the position each subscription started after.
	subscriptions []eventlog.Position
	// fail, when set, is asked before each Next of every subscription; an error it returns ends that
	// subscription with the error.
	fail func(after eventlog.Position) error
	// maxRead caps what one ReadAll returns, as stores may.
	maxRead int
}

func newMemLog() *memLog { return &memLog{changed: make(chan struct{})} }

// append adds records of one stream at the end of the log and returns the last one's position.
func (l *memLog) append(records ...eventlog.RecordedEvent) eventlog.Position {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range records {
		n := uint64(len(l.events) + 1)
		r.Position = eventlog.Position{Commit: n, Prepare: n}
		l.events = append(l.events, r)
	}
	close(l.changed)
	l.changed = make(chan struct{})
	return l.events[len(l.events)-1].Position
}

func (l *memLog) head() eventlog.Position {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.events) == 0 {
		return eventlog.Start
	}
	return l.events[len(l.events)-1].Position
}

// after returns up to limit events after pos, and the channel closed on the next append.
func (l *memLog) after(pos eventlog.Position, limit int) ([]eventlog.RecordedEvent, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	from := int(pos.Commit) // positions are numbered from 1: the event after pos is at index pos.Commit
	if from > len(l.events) {
		from = len(l.events)
	}
	to := len(l.events)
	if limit > 0 && to-from > limit {
		to = from + limit
	}
	return append([]eventlog.RecordedEvent(nil), l.events[from:to]...), l.changed
}

func (l *memLog) ReadAll(_ context.Context, after eventlog.Position, limit int) ([]eventlog.RecordedEvent, error) {
	if l.maxRead > 0 && (limit <= 0 || limit > l.maxRead) {
		limit = l.maxRead
	}
	events, _ := l.after(after, limit)
	return events, nil
}

func (l *memLog) LastPosition(context.Context) (eventlog.Position, error) { return l.head(), nil }

func (l *memLog) Subscribe(ctx context.Context, after eventlog.Position) (projections.Subscription, error) {
	l.mu.Lock()
	l.subscriptions = append(l.subscriptions, after)
	l.mu.Unlock()
	return &memSubscription{log: l, pos: after}, nil
}

func (l *memLog) subscribedAfter() []eventlog.Position {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]eventlog.Position(nil), l.subscriptions...)
}

type memSubscription struct {
	log *memLog
	pos eventlog.Position
}

func (s *memSubscription) Next(ctx context.Context, max int) ([]eventlog.RecordedEvent, error) {
	s.log.mu.Lock()
	fail := s.log.fail
	s.log.mu.Unlock()
	if fail != nil {
		if err := fail(s.pos); err != nil {
			return nil, err
		}
	}
	for {
		events, changed := s.log.after(s.pos, max)
		if len(events) > 0 {
			s.pos = events[len(events)-1].Position
			return events, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (s *memSubscription) Close() error { return nil }
