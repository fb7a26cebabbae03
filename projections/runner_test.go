package projections_test

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookd/hookd/domain/eventlog"
	"github.com/hookd/hookd/internal/readmodeltest"
	"github.com/hookd/hookd/projections"
	"github.com/hookd/hookd/projections/webhookview"
)

func TestNewRunnerRefusesMissingParts(t *testing.T) {
	t.Parallel()
	if _, err := projections.NewRunner(projections.RunnerConfig{}); err == nil {
		t.Fatal("NewRunner accepted an empty config")
	}
	db, _ := readmodeltest.TempDB(t)
	_, err := projections.NewRunner(projections.RunnerConfig{DB: db, Subscribe: newMemLog().Subscribe,
		Projection: &tally{t: t}, MinBackoff: time.Second, MaxBackoff: time.Millisecond})
	if err == nil {
		t.Fatal("NewRunner accepted MaxBackoff < MinBackoff")
	}
}

func TestRunnerAppliesAndCheckpoints(t *testing.T) {
	t.Parallel()
	log := newMemLog()
	log.append(things(1234)...)
	db, _ := readmodeltest.TempDB(t)
	p := &tally{t: t}
	r := startRunner(t, projections.RunnerConfig{DB: db, Subscribe: log.Subscribe, Projection: p, BatchSize: 100})

	r.waitFor(t, log.head())
	assertTallied(t, db, 1234)
	if got := storedCheckpoint(t, db, "tally"); got != log.head() {
		t.Fatalf("checkpoint %s, want %s", got, log.head())
	}
	if got := r.Position(); got != log.head() {
		t.Fatalf("Position %s, want %s", got, log.head())
	}
	if calls := p.calls.Load(); calls != 13 {
		t.Fatalf("%d batches for 1234 events in batches of 100, want 13", calls)
	}

	// Live events after the catch-up.
	last := log.append(things(10)...)
	r.waitFor(t, last)
	assertTallied(t, db, 1244)
	if err := r.stop(); err != nil {
		t.Fatalf("Run returned %v after its context ended, want nil", err)
	}
}

func TestRunnerResumesAfterCrashWithoutRepeatingOrSkipping(t *testing.T) {
	t.Parallel()
	log := newMemLog()
	log.append(things(1000)...)
	db, path := readmodeltest.TempDB(t)

	// The third batch is written, then the process "dies" before the commit.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	crashing := &tally{t: t, hook: func(_ context.Context, call int64, _ []eventlog.RecordedEvent) error {
		if call == 3 {
			cancel()
			return errors.New("crash")
		}
		return nil
	}}
	r, err := projections.NewRunner(projections.RunnerConfig{DB: db, Subscribe: log.Subscribe, Projection: crashing, BatchSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	assertTallied(t, db, 200)
	if got, want := storedCheckpoint(t, db, "tally"), (eventlog.Position{Commit: 200, Prepare: 200}); got != want {
		t.Fatalf("checkpoint after the crash %s, want %s", got, want)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	// A new process: a new pool on the same file, a new Runner.
	db = readmodeltest.OpenDB(t, path)
	restarted := startRunner(t, projections.RunnerConfig{DB: db, Subscribe: log.Subscribe, Projection: &tally{t: t}, BatchSize: 100})
	restarted.waitFor(t, log.head())
	assertTallied(t, db, 1000)
	if got := storedCheckpoint(t, db, "tally"); got != log.head() {
		t.Fatalf("checkpoint %s, want %s", got, log.head())
	}
	if subs := log.subscribedAfter(); subs[len(subs)-1].Commit != 200 {
		t.Fatalf("the restarted runner subscribed after %s, want after 200", subs[len(subs)-1])
	}
}

func TestRunnerRetriesAFailedBatch(t *testing.T) {
	t.Parallel()
	log := newMemLog()
	log.append(things(500)...)
	db, _ := readmodeltest.TempDB(t)
	p := &tally{t: t, hook: func(_ context.Context, call int64, _ []eventlog.RecordedEvent) error {
		if call == 2 {
			return errors.New("disk full, once")
		}
		return nil
	}}
	r := startRunner(t, projections.RunnerConfig{DB: db, Subscribe: log.Subscribe, Projection: p, BatchSize: 100})
	r.waitFor(t, log.head())
	assertTallied(t, db, 500)
	want := []eventlog.Position{{}, {Commit: 100, Prepare: 100}}
	if got := log.subscribedAfter(); !slices.Equal(got, want) {
		t.Fatalf("subscribed after %v, want %v", got, want)
	}
}

func TestRunnerResubscribesAfterADroppedSubscription(t *testing.T) {
	t.Parallel()
	log := newMemLog()
	log.append(things(600)...)
	dropped := false
	log.fail = func(after eventlog.Position) error {
		if after.Commit == 300 && !dropped {
			dropped = true
			return eventlog.ErrSubscriptionDropped
		}
		return nil
	}
	db, _ := readmodeltest.TempDB(t)
	r := startRunner(t, projections.RunnerConfig{DB: db, Subscribe: log.Subscribe, Projection: &tally{t: t}, BatchSize: 100})
	r.waitFor(t, log.head())
	assertTallied(t, db, 600)
	want := []eventlog.Position{{}, {Commit: 300, Prepare: 300}}
	if got := log.subscribedAfter(); !slices.Equal(got, want) {
		t.Fatalf("subscribed after %v, want %v", got, want)
	}
}

func TestRunnerSkipsEventsItWasGivenBefore(t *testing.T) {
	t.Parallel()
	// A store that hands the last batch again after a resubscription must not make the tally fail.
	log := newMemLog()
	log.append(things(300)...)
	dropped := false
	log.fail = func(after eventlog.Position) error {
		if after.Commit == 200 && !dropped {
			dropped = true
			return eventlog.ErrSubscriptionDropped
		}
		return nil
	}
	db, _ := readmodeltest.TempDB(t)
	r := startRunner(t, projections.RunnerConfig{DB: db, Subscribe: func(ctx context.Context, after eventlog.Position) (projections.Subscription, error) {
		if after.Commit >= 100 {
			after.Commit, after.Prepare = after.Commit-100, after.Prepare-100
		}
		return log.Subscribe(ctx, after)
	}, Projection: &tally{t: t}, BatchSize: 100})
	r.waitFor(t, log.head())
	assertTallied(t, db, 300)
}

func TestRunnerAdvancesPastEventsTheProjectionIgnores(t *testing.T) {
	t.Parallel()
	log := newMemLog()
	log.append(things(42)...)
	db, _ := readmodeltest.TempDB(t)
	view, err := webhookview.New(db, readmodeltest.Codec(t))
	if err != nil {
		t.Fatal(err)
	}
	r := startRunner(t, projections.RunnerConfig{DB: db, Subscribe: log.Subscribe, Projection: view})
	r.waitFor(t, log.head())
	if got := r.Position(); got != log.head() {
		t.Fatalf("Position %s, want %s", got, log.head())
	}
	// The view is Selective and reads none of these: the batch passed without a transaction, so the
	// stored checkpoint is still where setup left it.
	if got := storedCheckpoint(t, db, webhookview.Name); got != eventlog.Start {
		t.Fatalf("stored checkpoint %s, want the start: nothing was written", got)
	}
	page, err := view.Fetch(context.Background(), webhookview.FetchQuery{TenantID: "t1", CommunityID: "c1", PageSize: 10})
	if err != nil || page.Total != 0 || len(page.Items) != 0 {
		t.Fatalf("Fetch = %+v, %v; want an empty page", page, err)
	}
}

func TestWaitFor(t *testing.T) {
	t.Parallel()
	log := newMemLog()
	db, _ := readmodeltest.TempDB(t)
	cfg := projections.RunnerConfig{DB: db, Subscribe: log.Subscribe, Projection: &tally{t: t}}

	// Before Run has set up the read model, even the start of the log is not reached.
	idle, err := projections.NewRunner(cfg)
	if err != nil {
		t.Fatal(err)
	}
	short, cancelShort := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancelShort()
	if err := idle.WaitFor(short, eventlog.Start); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitFor(Start) before Run = %v, want DeadlineExceeded", err)
	}

	r := startRunner(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.WaitFor(ctx, eventlog.Start); err != nil {
		t.Fatalf("WaitFor(Start) = %v", err)
	}
	if n := len(tallied(t, db)); n != 0 { // the table exists once WaitFor(Start) returned
		t.Fatalf("tally holds %d events", n)
	}

	target := eventlog.Position{Commit: 5, Prepare: 5}
	waited := make(chan error, 1)
	go func() { waited <- r.WaitFor(ctx, target) }()
	log.append(things(4)...)
	select {
	case err := <-waited:
		t.Fatalf("WaitFor(5) returned %v with 4 events in the log", err)
	case <-time.After(50 * time.Millisecond):
	}
	log.append(things(1)...)
	if err := <-waited; err != nil {
		t.Fatalf("WaitFor(5) = %v", err)
	}
	assertTallied(t, db, 5) // WaitFor returned: the read model has it

	short, cancelShort = context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancelShort()
	if err := r.WaitFor(short, eventlog.Position{Commit: 99, Prepare: 99}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitFor past the log's end = %v, want DeadlineExceeded", err)
	}
}

func TestRunnerRecreatesMissingTables(t *testing.T) {
	t.Parallel()
	log := newMemLog()
	log.append(things(50)...)
	db, _ := readmodeltest.TempDB(t)
	r := startRunner(t, projections.RunnerConfig{DB: db, Subscribe: log.Subscribe, Projection: &tally{t: t}})
	r.waitFor(t, log.head())
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`DROP TABLE tally`); err != nil {
		t.Fatal(err)
	}
	r = startRunner(t, projections.RunnerConfig{DB: db, Subscribe: log.Subscribe, Projection: &tally{t: t}})
	r.waitFor(t, log.head())
	assertTallied(t, db, 50)
}

// TestRunnerReportsABatchThatKeepsFailing: while a batch fails, Err says why (for readiness checks);
// once batches go through again, Err is nil.
func TestRunnerReportsABatchThatKeepsFailing(t *testing.T) {
	t.Parallel()
	log := newMemLog()
	log.append(things(10)...)
	db, _ := readmodeltest.TempDB(t)
	var broken atomic.Bool
	broken.Store(true)
	p := &tally{t: t, hook: func(context.Context, int64, []eventlog.RecordedEvent) error {
		if broken.Load() {
			return errors.New("poison event")
		}
		return nil
	}}
	r := startRunner(t, projections.RunnerConfig{DB: db, Subscribe: log.Subscribe, Projection: p})
	deadline := time.Now().Add(10 * time.Second)
	for r.Err() == nil {
		if time.Now().After(deadline) {
			t.Fatal("a batch failing over and over never showed in Err")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if !strings.Contains(r.Err().Error(), "poison event") {
		t.Fatalf("Err is %v, want the batch's failure", r.Err())
	}
	broken.Store(false)
	r.waitFor(t, log.head())
	if err := r.Err(); err != nil {
		t.Fatalf("Err is %v after the read model caught up", err)
	}
}

// effects is a tally that is also a Processor: it records the positions it processed, and fails
// processing once when asked to.
type effects struct {
	tally
	mu        sync.Mutex
	processed []uint64
	failOnce  atomic.Bool
}

func (p *effects) Process(_ context.Context, events []eventlog.RecordedEvent) error {
	if p.failOnce.CompareAndSwap(true, false) {
		return errors.New("the receiver is down, once")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range events {
		p.processed = append(p.processed, e.Position.Commit)
	}
	return nil
}

// TestRunnerProcessesBeforeApplying: a Processor's effects run for every event before its batch is
// applied; a batch whose effects fail is not applied nor checkpointed, and comes again.
func TestRunnerProcessesBeforeApplying(t *testing.T) {
	t.Parallel()
	log := newMemLog()
	log.append(things(250)...)
	db, _ := readmodeltest.TempDB(t)
	p := &effects{tally: tally{t: t}}
	p.tally.hook = func(_ context.Context, _ int64, events []eventlog.RecordedEvent) error {
		p.mu.Lock()
		defer p.mu.Unlock()
		if last := events[len(events)-1].Position.Commit; len(p.processed) == 0 || p.processed[len(p.processed)-1] < last {
			t.Errorf("batch up to %d applied before it was processed", last)
		}
		return nil
	}
	p.failOnce.Store(true)
	r := startRunner(t, projections.RunnerConfig{DB: db, Subscribe: log.Subscribe, Projection: p, BatchSize: 100})
	r.waitFor(t, log.head())
	assertTallied(t, db, 250)
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.processed) != 250 || p.processed[0] != 1 || p.processed[249] != 250 {
		t.Errorf("processed %d events (%v...), want 1 to 250 once each after the failed first try", len(p.processed), p.processed[:min(3, len(p.processed))])
	}
}

// sideEffects is a Processor that keeps nothing but its checkpoint: effects' Process, noTables'
// tables (none).
type sideEffects struct {
	noTables
	effects
}

func (*sideEffects) Name() string { return "side-effects" }

// TestRunnerKeepsAProcessorsCheckpoint: a Processor without tables still has its checkpoint kept, so
// a Runner started again processes only what came after it. A Projection without tables is refused.
func TestRunnerKeepsAProcessorsCheckpoint(t *testing.T) {
	t.Parallel()
	log := newMemLog()
	log.append(things(30)...)
	db, _ := readmodeltest.TempDB(t)
	first := &sideEffects{}
	r := startRunner(t, projections.RunnerConfig{DB: db, Subscribe: log.Subscribe, Projection: first, BatchSize: 7})
	r.waitFor(t, log.head())
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if got := storedCheckpoint(t, db, "side-effects"); got != log.head() {
		t.Fatalf("checkpoint %s, want %s", got, log.head())
	}
	log.append(things(5)...)
	again := &sideEffects{}
	r = startRunner(t, projections.RunnerConfig{DB: db, Subscribe: log.Subscribe, Projection: again})
	r.waitFor(t, log.head())
	again.mu.Lock()
	defer again.mu.Unlock()
	if len(again.processed) != 5 || again.processed[0] != 31 {
		t.Errorf("after a restart the Processor processed %v, want the 5 events after its checkpoint, from 31", again.processed)
	}

	_, err := projections.NewRunner(projections.RunnerConfig{DB: db, Subscribe: log.Subscribe, Projection: noTables{}})
	if err == nil || !strings.Contains(err.Error(), "lists no tables") {
		t.Errorf("NewRunner with a Projection without tables = %v, want a refusal", err)
	}
}

// noTables is a Projection, not a Processor, that lists no tables.
type noTables struct{}

func (noTables) Name() string                                             { return "no-tables" }
func (noTables) Tables() []string                                         { return nil }
func (noTables) Setup(context.Context, *sql.Tx, projections.Schema) error { return nil }
func (noTables) Apply(context.Context, *sql.Tx, projections.Schema, []eventlog.RecordedEvent) error {
	return nil
}

func TestRebuildRefusesAProcessor(t *testing.T) {
	t.Parallel()
	db, _ := readmodeltest.TempDB(t)
	log := newMemLog()
	_, err := projections.Rebuild(context.Background(), projections.RebuildConfig{
		DB: db, ReadAll: log.ReadAll, LastPosition: log.LastPosition, Projection: &effects{tally: tally{t: t}},
	})
	if err == nil || !strings.Contains(err.Error(), "Processor") {
		t.Fatalf("Rebuild of a Processor = %v, want a refusal", err)
	}
}

// picky is a tally that reads only WantedHappened events.
type picky struct{ tally }

func (p *picky) Reads(eventType string) bool { return eventType == "WantedHappened" }

// TestRunnerStoresSkippedProgressWithTheNextBatchItReads: batches a Selective projection reads
// nothing of pass in memory; the next batch it reads stores the checkpoint past them all.
func TestRunnerStoresSkippedProgressWithTheNextBatchItReads(t *testing.T) {
	t.Parallel()
	log := newMemLog()
	log.append(things(100)...)
	db, _ := readmodeltest.TempDB(t)
	p := &picky{tally{t: t}}
	r := startRunner(t, projections.RunnerConfig{DB: db, Subscribe: log.Subscribe, Projection: p})
	r.waitFor(t, log.head())
	if got := storedCheckpoint(t, db, "tally"); got != eventlog.Start || p.calls.Load() != 0 {
		t.Fatalf("after unread events: stored %s, %d Apply calls; want the start and none", got, p.calls.Load())
	}
	last := log.append(eventlog.RecordedEvent{Stream: "wanted-1", Type: "WantedHappened", Data: []byte(`{}`)})
	r.waitFor(t, last)
	if got := storedCheckpoint(t, db, "tally"); got != last {
		t.Fatalf("after a read event: stored %s, want %s", got, last)
	}
}
