package readcache

import (
	"context"
	"sync"
)

// sharedWait runs fn on behalf of the callers of wait, one run at a time, with every caller that
// arrived while no run had started for it sharing the next run. A run thus starts after each of its
// callers arrived (it sees what they saw), and callers in any number cost at most two runs at once:
// the one under way and the one gathering callers.
type sharedWait struct {
	fn func() error

	mu      sync.Mutex
	next    *waitRound // the run that gathers callers, not started yet; nil when none has any
	running bool
}

// waitRound is one run of fn: done is closed when it ends, with err its result. callers counts
// who joined it, which tells a test that callers share a run.
type waitRound struct {
	done    chan struct{}
	err     error
	callers int
}

func newSharedWait(fn func() error) *sharedWait { return &sharedWait{fn: fn} }

// wait returns the result of a run of fn that starts after wait was called, or ctx's error when ctx
// ends first (the run goes on for the other callers).
func (s *sharedWait) wait(ctx context.Context) error {
	s.mu.Lock()
	if s.next == nil {
		s.next = &waitRound{done: make(chan struct{})}
	}
	r := s.next
	r.callers++
	if !s.running {
		s.running = true
		go s.run()
	}
	s.mu.Unlock()
	select {
	case <-r.done:
		return r.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// run runs the gathered rounds one after the other until none is left.
func (s *sharedWait) run() {
	for {
		s.mu.Lock()
		r := s.next
		s.next = nil
		if r == nil {
			s.running = false
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		r.err = s.fn()
		close(r.done)
	}
}
