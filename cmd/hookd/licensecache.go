package main

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/hookd/hookd/domain/license"
	"github.com/hookd/hookd/projections/licenseview"
)

// licenseCacheSize bounds the licenses authentication keeps: one per key in use.
const licenseCacheSize = 10_000

// unknownKeyWait bounds how long authentication waits, for a key the licenses read model does not
// know, for that read model to reach the log's head. Another process (hookd license issue) appends
// to the log directly, and serve's subscription sees such appends at its next poll, 200 ms apart: a
// license is valid as soon as the command returns, and a key that is truly unknown is answered 401
// within this bound.
const unknownKeyWait = 2 * time.Second

// knownLicenses answers authentication's lookups, one per request, from the licenses read model. A
// license is kept while the read model has applied no license event since it was read, so a
// revocation takes effect as soon as it is applied, as without the cache. Unknown keys are not
// kept: anyone can make them up. An unknown key is looked up again once the read model has caught
// up with the log as it was when the lookup failed, so that a license just issued by another
// process is found.
type knownLicenses struct {
	view    *licenseview.View
	kept    keptAnswers[licenseview.License]
	catchUp *sharedWait
}

func newKnownLicenses(n *node) knownLicenses {
	return knownLicenses{
		view: n.licenseView,
		kept: newKeptAnswers[licenseview.License](licenseCacheSize, n.licenseRunner, n.licenseView.Unchanged),
		catchUp: newSharedWait(func() error {
			// Not the caller's context: the wait is shared, and must not end with the first caller.
			ctx, cancel := context.WithTimeout(context.Background(), unknownKeyWait)
			defer cancel()
			head, err := n.store.LastPosition(ctx)
			if err != nil {
				return err
			}
			return n.licenseRunner.WaitFor(ctx, head)
		}),
	}
}

func (k knownLicenses) ByKeyHash(ctx context.Context, hash string) (licenseview.License, error) {
	read := func() (licenseview.License, error) { return k.view.ByKeyHash(ctx, hash) }
	l, err := k.kept.get(hash, read)
	if !errors.Is(err, license.ErrNotFound) {
		return l, err
	}
	// Unknown to the read model, perhaps only so far. A wait that fails (the log unreachable, the
	// bound passed) leaves the key unknown: the caller hears 401 either way.
	if k.catchUp.wait(ctx) != nil {
		return l, err
	}
	return k.kept.get(hash, read)
}

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
