package readcache

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestSharedWaitRunsAfterEachCaller: a caller never gets the result of a run that started before it
// called, and callers that arrive together share one run.
func TestSharedWaitRunsAfterEachCaller(t *testing.T) {
	t.Parallel()
	var runs atomic.Int64
	started := make(chan int64, 10)
	release := make(chan struct{})
	s := newSharedWait(func() error {
		n := runs.Add(1)
		started <- n
		<-release
		return nil
	})
	ctx := context.Background()
	first := make(chan error, 1)
	go func() { first <- s.wait(ctx) }()
	if n := <-started; n != 1 {
		t.Fatalf("run %d started, want 1", n)
	}
	// Run 1 is under way: these callers arrived after it started, so it cannot serve them; they
	// share run 2.
	const late = 20
	var wg sync.WaitGroup
	for range late {
		wg.Go(func() {
			if err := s.wait(ctx); err != nil {
				t.Error(err)
			}
		})
	}
	// Once the late callers have gathered, end run 1: its caller returns, the late ones do not.
	for gathered := 0; gathered < late; time.Sleep(time.Millisecond) {
		s.mu.Lock()
		if s.next != nil {
			gathered = s.next.callers
		}
		s.mu.Unlock()
	}
	release <- struct{}{}
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if n := <-started; n != 2 {
		t.Fatalf("run %d started, want 2", n)
	}
	close(release)
	wg.Wait()
	if runs.Load() != 2 {
		t.Errorf("%d runs for one caller and %d that came together, want 2", runs.Load(), late)
	}
	// A caller whose context ends stops waiting.
	ctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.wait(ctx); err == nil {
		t.Error("wait with an ended context returned nil")
	}
}
