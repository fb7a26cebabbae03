package projections_test

import (
	"context"
	"database/sql"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookd/hookd/domain/eventlog"
	"github.com/hookd/hookd/internal/readmodeltest"
	"github.com/hookd/hookd/projections"
)

// forever is a CommitInterval no test outlasts: a batch gathering under it ends only on BatchSize or
// on a waiter, never on the clock.
const forever = time.Hour

// applied returns a hook for a counter that hands each batch it is given to the returned channel.
func applied() (func([]eventlog.RecordedEvent) error, <-chan []eventlog.RecordedEvent) {
	batches := make(chan []eventlog.RecordedEvent, 100)
	return func(events []eventlog.RecordedEvent) error {
		batches <- events
		return nil
	}, batches
}

// nextBatch returns the next batch a counter was given; a hang guard, not a speed check.
func nextBatch(t *testing.T, batches <-chan []eventlog.RecordedEvent) []eventlog.RecordedEvent {
	t.Helper()
	select {
	case events := <-batches:
		return events
	case <-time.After(2 * time.Minute):
		t.Fatal("no batch was applied")
		return nil
	}
}

// TestGroupGathersAppendsIntoOneTransaction: with a CommitInterval, the events of several appends
// that arrive within it are committed together, up to BatchSize.
func TestGroupGathersAppendsIntoOneTransaction(t *testing.T) {
	t.Parallel()
	log := newMemLog()
	db, _ := readmodeltest.TempDB(t)
	a := &counter{t: t, name: "a"}
	g := startGroup(t, projections.GroupConfig{DB: db, Subscribe: log.Subscribe,
		Projections: []projections.Projection{a}, BatchSize: 10, CommitInterval: forever})
	waitForRunner(t, g.Runners()[0], eventlog.Start)
	for _, n := range []int{3, 3, 4} {
		log.append(things(n)...)
	}
	// Waiting on the last position closes nothing early: only the full batch holds it.
	waitForRunner(t, g.Runners()[0], log.head())
	if txs := a.transactions(); len(txs) != 1 {
		t.Fatalf("three appends within the interval took %d transactions, want 1", len(txs))
	}
	assertCounted(t, db, a, 10)
	if got := storedCheckpoint(t, db, "a"); got != log.head() {
		t.Fatalf("checkpoint %s, want %s", got, log.head())
	}
}

// TestGroupCommitsAGatheredBatchOnceTheIntervalEnds: nobody waits, the batch is not full, and the
// interval alone ends it.
func TestGroupCommitsAGatheredBatchOnceTheIntervalEnds(t *testing.T) {
	t.Parallel()
	log := newMemLog()
	db, _ := readmodeltest.TempDB(t)
	hook, batches := applied()
	a := &counter{t: t, name: "a", hook: hook}
	g := startGroup(t, projections.GroupConfig{DB: db, Subscribe: log.Subscribe,
		Projections: []projections.Projection{a}, CommitInterval: time.Millisecond})
	waitForRunner(t, g.Runners()[0], eventlog.Start)
	last := log.append(things(2)...)
	if got := nextBatch(t, batches); len(got) != 2 {
		t.Fatalf("batch of %d events, want 2", len(got))
	}
	waitForRunner(t, g.Runners()[0], last)
	assertCounted(t, db, a, 2)
}

// TestGroupWaiterClosesTheGatheringBatch: a WaitFor on a position the gathering batch holds, or
// will hold, is not kept for the interval, whether it came before the event or after.
func TestGroupWaiterClosesTheGatheringBatch(t *testing.T) {
	t.Parallel()
	log := newMemLog()
	db, _ := readmodeltest.TempDB(t)
	a := &counter{t: t, name: "a"}
	g := startGroup(t, projections.GroupConfig{DB: db, Subscribe: log.Subscribe,
		Projections: []projections.Projection{a}, CommitInterval: forever})
	r := g.Runners()[0]
	waitForRunner(t, r, eventlog.Start)

	// After: the batch holds the position when the wait begins.
	first := log.append(things(1)...)
	waitForRunner(t, r, first)

	// Before: the wait begins, then the event is appended.
	next := eventlog.Position{Commit: first.Commit + 1, Prepare: first.Prepare + 1}
	waited := make(chan struct{})
	go func() {
		defer close(waited)
		waitForRunner(t, r, next)
	}()
	log.append(things(1)...)
	<-waited
	assertCounted(t, db, a, 2)
}

// TestGroupPassesAnIdleReadModelWhileGathering: a read model that reads none of the events gathered
// reaches their position at once, while the batch of another goes on gathering.
func TestGroupPassesAnIdleReadModelWhileGathering(t *testing.T) {
	t.Parallel()
	log := newMemLog()
	db, _ := readmodeltest.TempDB(t)
	a, idle := &counter{t: t, name: "a"}, &picky{tally{t: t}}
	g := startGroup(t, projections.GroupConfig{DB: db, Subscribe: log.Subscribe,
		Projections: []projections.Projection{a, idle}, CommitInterval: forever})
	waitForAll(t, g.Group, eventlog.Start)
	last := log.append(things(3)...)
	waitForRunner(t, g.Runners()[1], last)
	if txs := a.transactions(); len(txs) != 0 {
		t.Fatalf("the gathering batch committed in %d transactions while nobody waited on it", len(txs))
	}
	// The whole Group's WaitFor closes it.
	waitForAll(t, g.Group, last)
	assertCounted(t, db, a, 3)
	// Its checkpoint is stored with the batch, as it would be without gathering.
	if got := storedCheckpoint(t, db, "tally"); got != last {
		t.Fatalf("idle read model's checkpoint %s, want %s", got, last)
	}
}

// TestGroupWithoutCommitIntervalCommitsEachBatchAsHandedOut: with no interval, a batch is applied
// without anyone waiting, one per append when appends come one at a time.
func TestGroupWithoutCommitIntervalCommitsEachBatchAsHandedOut(t *testing.T) {
	t.Parallel()
	log := newMemLog()
	db, _ := readmodeltest.TempDB(t)
	hook, batches := applied()
	a := &counter{t: t, name: "a", hook: hook}
	g := startGroup(t, projections.GroupConfig{DB: db, Subscribe: log.Subscribe, Projections: []projections.Projection{a}})
	waitForRunner(t, g.Runners()[0], eventlog.Start)
	for i := range 3 {
		log.append(things(i + 1)...)
		if got := nextBatch(t, batches); len(got) != i+1 {
			t.Fatalf("append %d: batch of %d events, want %d", i, len(got), i+1)
		}
	}
	waitForRunner(t, g.Runners()[0], log.head())
	if txs := a.transactions(); len(txs) != 3 {
		t.Fatalf("%d transactions, want 3", len(txs))
	}
}

// TestGroupWaitersAndGatheringUnderLoad: many appends and waiters at once, each waiter answered and
// every event applied once (a race check for the waiters' bookkeeping).
func TestGroupWaitersAndGatheringUnderLoad(t *testing.T) {
	t.Parallel()
	log := newMemLog()
	db, _ := readmodeltest.TempDB(t)
	a := &counter{t: t, name: "a"}
	g := startGroup(t, projections.GroupConfig{DB: db, Subscribe: log.Subscribe,
		Projections: []projections.Projection{a}, BatchSize: 50, CommitInterval: forever})
	waitForAll(t, g.Group, eventlog.Start)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a hang guard
	defer cancel()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 25 {
				if err := g.WaitFor(ctx, log.append(things(2)...)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	assertCounted(t, db, a, 400)
}

// TestGroupWaitForTypesIsAnsweredByAGatheringBatch: a WaitForTypes whose types the gathering batch
// holds none of up to its position returns without the batch committing; one whose types it holds
// closes it.
func TestGroupWaitForTypesIsAnsweredByAGatheringBatch(t *testing.T) {
	t.Parallel()
	log := newMemLog()
	db, _ := readmodeltest.TempDB(t)
	a := &counter{t: t, name: "a"}
	g := startGroup(t, projections.GroupConfig{DB: db, Subscribe: log.Subscribe,
		Projections: []projections.Projection{a}, CommitInterval: forever})
	r := g.Runners()[0]
	waitForRunner(t, r, eventlog.Start)
	wanted := func(eventType string) bool { return eventType == "WantedHappened" }
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a hang guard
	defer cancel()

	if err := r.WaitForTypes(ctx, log.append(things(3)...), wanted); err != nil {
		t.Fatal(err)
	}
	if txs := a.transactions(); len(txs) != 0 {
		t.Fatalf("a batch without the types waited for committed in %d transactions", len(txs))
	}
	if r.Position() != eventlog.Start {
		t.Fatalf("read model at %s before any commit", r.Position())
	}

	log.append(eventlog.RecordedEvent{Stream: "wanted", Type: "WantedHappened", Data: []byte(`{}`)})
	last := log.append(things(1)...)
	if err := r.WaitForTypes(ctx, last, wanted); err != nil {
		t.Fatal(err)
	}
	if txs := a.transactions(); len(txs) != 1 {
		t.Fatalf("a batch holding a type waited for took %d transactions, want 1", len(txs))
	}
	if r.Position() != last {
		t.Fatalf("read model at %s, want %s", r.Position(), last)
	}
}

// bare is a Processor that keeps nothing but its checkpoint, as the dispatcher does; it counts the
// events it processed.
type bare struct{ processed atomic.Int64 }

func (*bare) Name() string                                             { return "bare" }
func (*bare) Tables() []string                                         { return nil }
func (*bare) Setup(context.Context, *sql.Tx, projections.Schema) error { return nil }
func (*bare) Apply(context.Context, *sql.Tx, projections.Schema, []eventlog.RecordedEvent) error {
	return nil
}

func (p *bare) Process(_ context.Context, events []eventlog.RecordedEvent) error {
	p.processed.Add(int64(len(events)))
	return nil
}

// TestProcessorCheckpointIsStoredOncePerInterval: a Processor without tables processes each batch as
// it comes, and its checkpoint is stored at most once per CommitInterval (the first batch's here),
// while its position follows every batch; without an interval, every batch stores it.
func TestProcessorCheckpointIsStoredOncePerInterval(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		interval time.Duration
	}{{"interval", forever}, {"none", 0}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			log := newMemLog()
			db, _ := readmodeltest.TempDB(t)
			p := &bare{}
			r := startRunner(t, projections.RunnerConfig{DB: db, Subscribe: log.Subscribe, Projection: p, CommitInterval: tc.interval})
			first := log.append(things(1)...)
			r.waitFor(t, first)
			last := log.append(things(2)...)
			r.waitFor(t, last)
			if got := p.processed.Load(); got != 3 {
				t.Fatalf("processed %d events, want 3", got)
			}
			want := last
			if tc.interval > 0 {
				want = first
			}
			if got := storedCheckpoint(t, db, "bare"); got != want {
				t.Fatalf("stored checkpoint %s, want %s (position %s)", got, want, r.Position())
			}
		})
	}
}
