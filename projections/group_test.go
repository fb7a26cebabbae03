package projections_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookd/hookd/domain/eventlog"
	"github.com/hookd/hookd/internal/readmodeltest"
	"github.com/hookd/hookd/projections"
)

// counter is a projection called name, with a table of the same name, that writes down every event
// it is given and fails the test on one applied twice. It remembers the transactions it was given,
// and its hook, when set, may fail a batch after its rows are written.
type counter struct {
	t    testing.TB
	name string
	hook func(events []eventlog.RecordedEvent) error

	mu  sync.Mutex
	txs []*sql.Tx
}

func (p *counter) Name() string     { return p.name }
func (p *counter) Tables() []string { return []string{p.name} }

func (p *counter) Setup(ctx context.Context, tx *sql.Tx, s projections.Schema) error {
	_, err := tx.ExecContext(ctx, `CREATE TABLE `+s.Table(p.name)+` (position INTEGER PRIMARY KEY)`)
	return err
}

func (p *counter) Apply(ctx context.Context, tx *sql.Tx, s projections.Schema, events []eventlog.RecordedEvent) error {
	p.mu.Lock()
	p.txs = append(p.txs, tx)
	p.mu.Unlock()
	for _, e := range events {
		res, err := tx.ExecContext(ctx, `INSERT INTO `+s.Table(p.name)+` (position) VALUES (?) ON CONFLICT DO NOTHING`, e.Position.Commit)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			p.t.Errorf("%s: event at %s applied twice", p.name, e.Position)
			return fmt.Errorf("event at %s applied twice", e.Position)
		}
	}
	if p.hook != nil {
		return p.hook(events)
	}
	return nil
}

func (p *counter) transactions() []*sql.Tx {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.txs)
}

// assertCounted checks that the live table of p holds exactly the positions 1 to n.
func assertCounted(t testing.TB, db *sql.DB, p *counter, n uint64) {
	t.Helper()
	var count, lo, hi uint64
	if err := db.QueryRow(`SELECT count(*), coalesce(min(position), 0), coalesce(max(position), 0) FROM `+p.name).Scan(&count, &lo, &hi); err != nil {
		t.Fatal(err)
	}
	if count != n || (n > 0 && (lo != 1 || hi != n)) {
		t.Fatalf("%s holds %d events from %d to %d, want 1 to %d", p.name, count, lo, hi, n)
	}
}

// runningGroup is a Group whose Run goes on in the background until stop.
type runningGroup struct {
	*projections.Group
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	err    error
}

func startGroup(t testing.TB, cfg projections.GroupConfig) *runningGroup {
	t.Helper()
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff, cfg.MaxBackoff = time.Millisecond, 20*time.Millisecond
	}
	g, err := projections.NewGroup(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	run := &runningGroup{Group: g, cancel: cancel, done: make(chan error, 1)}
	go func() { run.done <- g.Run(ctx) }()
	t.Cleanup(func() { _ = run.stop() })
	return run
}

func (g *runningGroup) stop() error {
	g.once.Do(func() {
		g.cancel()
		g.err = <-g.done
	})
	return g.err
}

// waitFor waits for one Runner; a hang guard, not a speed check.
func waitForRunner(t testing.TB, r *projections.Runner, pos eventlog.Position) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := r.WaitFor(ctx, pos); err != nil {
		t.Fatalf("%s: waiting for %s (at %s): %v", r.Projection().Name(), pos, r.Position(), err)
	}
}

func TestNewGroupRefusesAProcessorAmongOthersAndTwoOfOneName(t *testing.T) {
	t.Parallel()
	db, _ := readmodeltest.TempDB(t)
	log := newMemLog()
	for name, ps := range map[string][]projections.Projection{
		"a Processor among others": {&effects{tally: tally{t: t}}, &counter{t: t, name: "a"}},
		"two of one name":          {&counter{t: t, name: "a"}, &counter{t: t, name: "a"}},
		"none":                     nil,
	} {
		if _, err := projections.NewGroup(projections.GroupConfig{DB: db, Subscribe: log.Subscribe, Projections: ps}); err == nil {
			t.Errorf("NewGroup accepted %s", name)
		}
	}
	if _, err := projections.NewGroup(projections.GroupConfig{DB: db, Subscribe: log.Subscribe,
		Projections: []projections.Projection{&effects{tally: tally{t: t}}}}); err != nil {
		t.Errorf("NewGroup refused a Processor alone: %v", err)
	}
}

// TestGroupWritesABatchToEveryReadModelInOneTransaction: one subscription feeds every read model, each
// batch reaches them all in the same transaction, and each keeps a checkpoint of its own.
func TestGroupWritesABatchToEveryReadModelInOneTransaction(t *testing.T) {
	t.Parallel()
	log := newMemLog()
	log.append(things(1000)...)
	db, _ := readmodeltest.TempDB(t)
	a, b := &counter{t: t, name: "a"}, &counter{t: t, name: "b"}
	g := startGroup(t, projections.GroupConfig{DB: db, Subscribe: log.Subscribe, Projections: []projections.Projection{a, b}, BatchSize: 100})
	waitForAll(t, g.Group, log.head())
	last := log.append(things(10)...)
	waitForAll(t, g.Group, last)

	for _, p := range []*counter{a, b} {
		assertCounted(t, db, p, last.Commit)
		if got := storedCheckpoint(t, db, p.name); got != last {
			t.Fatalf("checkpoint of %s at %s, want %s", p.name, got, last)
		}
	}
	if subs := log.subscribedAfter(); len(subs) != 1 {
		t.Fatalf("subscribed %d times (after %v), want once for both read models", len(subs), subs)
	}
	if !slices.Equal(a.transactions(), b.transactions()) || len(a.transactions()) < 11 {
		t.Fatalf("a was given %d transactions and b %d, not the same ones", len(a.transactions()), len(b.transactions()))
	}
}

func waitForAll(t testing.TB, g *projections.Group, pos eventlog.Position) {
	t.Helper()
	for _, r := range g.Runners() {
		waitForRunner(t, r, pos)
	}
}

// TestGroupStoresAnIdleReadModelsCheckpointWithTheOthers: a Selective read model that reads nothing
// of a batch the others write has its checkpoint stored in their transaction, so that a restart
// does not read the log again from where it last wrote.
func TestGroupStoresAnIdleReadModelsCheckpointWithTheOthers(t *testing.T) {
	t.Parallel()
	log := newMemLog()
	log.append(things(100)...)
	db, _ := readmodeltest.TempDB(t)
	idle := &picky{tally{t: t}}
	busy := &counter{t: t, name: "busy"}
	g := startGroup(t, projections.GroupConfig{DB: db, Subscribe: log.Subscribe, Projections: []projections.Projection{idle, busy}})
	waitForAll(t, g.Group, log.head())
	if got := storedCheckpoint(t, db, "tally"); got != log.head() || idle.calls.Load() != 0 {
		t.Fatalf("the idle read model: stored at %s after %d Apply calls; want %s and none", got, idle.calls.Load(), log.head())
	}
}

// TestGroupCatchesUpAReadModelThatIsBehind: a read model added to a Group whose others are far
// ahead (or one whose checkpoint is behind theirs) catches up from its own checkpoint without the
// others applying anything twice, and all go on together.
func TestGroupCatchesUpAReadModelThatIsBehind(t *testing.T) {
	t.Parallel()
	log := newMemLog()
	log.append(things(500)...)
	db, _ := readmodeltest.TempDB(t)
	a := &counter{t: t, name: "a"}
	first := startGroup(t, projections.GroupConfig{DB: db, Subscribe: log.Subscribe, Projections: []projections.Projection{a}})
	waitForAll(t, first.Group, log.head())
	if err := first.stop(); err != nil {
		t.Fatal(err)
	}
	log.append(things(300)...)
	b := &counter{t: t, name: "b"}
	second := startGroup(t, projections.GroupConfig{DB: db, Subscribe: log.Subscribe, Projections: []projections.Projection{a, b}, BatchSize: 64})
	last := log.append(things(7)...)
	waitForAll(t, second.Group, last)
	assertCounted(t, db, a, last.Commit)
	assertCounted(t, db, b, last.Commit)
}

// TestGroupGoesOnWithoutAFailingReadModel: a read model whose batches fail holds the others back in
// nothing, writes nothing of the batches that failed (its checkpoint and its rows agree), shows why
// in Err, and catches up once it is mended.
func TestGroupGoesOnWithoutAFailingReadModel(t *testing.T) {
	t.Parallel()
	log := newMemLog()
	log.append(things(200)...)
	poison := log.append(eventlog.RecordedEvent{Stream: "poison", Type: "ThingHappened", Data: []byte(`{}`)})
	log.append(things(200)...)
	db, _ := readmodeltest.TempDB(t)
	var broken atomic.Bool
	broken.Store(true)
	sick := &counter{t: t, name: "sick", hook: func(events []eventlog.RecordedEvent) error {
		if broken.Load() && slices.ContainsFunc(events, func(e eventlog.RecordedEvent) bool { return e.Position == poison }) {
			return errors.New("poison event")
		}
		return nil
	}}
	healthy := &counter{t: t, name: "healthy"}
	g := startGroup(t, projections.GroupConfig{DB: db, Subscribe: log.Subscribe,
		Projections: []projections.Projection{sick, healthy}, BatchSize: 50})
	sickRunner, healthyRunner := g.Runners()[0], g.Runners()[1]

	head := log.head()
	waitForRunner(t, healthyRunner, head)
	assertCounted(t, db, healthy, head.Commit)
	if err := healthyRunner.Err(); err != nil {
		t.Fatalf("the healthy read model reports %v", err)
	}
	deadline := time.Now().Add(time.Minute)
	for sickRunner.Err() == nil || !strings.Contains(sickRunner.Err().Error(), "poison event") {
		if time.Now().After(deadline) {
			t.Fatalf("the failing read model's Err is %v, want the poison event", sickRunner.Err())
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Its rows stop where its checkpoint does: nothing of a failed batch committed with the others'.
	stored := storedCheckpoint(t, db, "sick")
	if !stored.Before(poison) {
		t.Fatalf("the failing read model is stored at %s, past the poison event at %s", stored, poison)
	}
	assertCounted(t, db, sick, stored.Commit)
	// The healthy one goes on with live events meanwhile.
	live := log.append(things(20)...)
	waitForRunner(t, healthyRunner, live)

	broken.Store(false)
	last := log.append(things(5)...)
	waitForAll(t, g.Group, last)
	assertCounted(t, db, sick, last.Commit)
	assertCounted(t, db, healthy, last.Commit)
	if err := sickRunner.Err(); err != nil {
		t.Fatalf("Err is %v after the read model caught up", err)
	}
	// Once caught up, it is fed by the Group again: a later batch reaches both in one transaction.
	final := log.append(things(3)...)
	waitForAll(t, g.Group, final)
	if a, b := sick.transactions(), healthy.transactions(); a[len(a)-1] != b[len(b)-1] {
		t.Fatal("after catching up, the read models are not written in one transaction again")
	}
}

// TestGroupFollowsAReadModelRebuiltByAnotherProcess: while a Group runs, another process rebuilds one
// of its read models; the Group follows on from the rebuilt checkpoint for that one, the other goes
// on untouched, and neither misses or repeats an event.
func TestGroupFollowsAReadModelRebuiltByAnotherProcess(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	log := newMemLog()
	log.append(things(1500)...)
	liveDB, path := readmodeltest.TempDB(t)
	a, b := &counter{t: t, name: "a"}, &counter{t: t, name: "b"}
	g := startGroup(t, projections.GroupConfig{DB: liveDB, Subscribe: log.Subscribe, Projections: []projections.Projection{a, b}, BatchSize: 50})
	otherDB := readmodeltest.OpenDB(t, path)
	for round := range 2 {
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			for range 400 {
				select {
				case <-stop:
					return
				case <-time.After(300 * time.Microsecond):
					log.append(things(3)...)
				}
			}
		})
		// The rebuilt table holds what the rebuild applied: were the Group to write to it from its
		// old checkpoint, events would be applied twice (the counter fails the test) or skipped.
		// A Group writing back to back can keep the rebuild from the write lock past busy_timeout on a
		// loaded machine, as a runner could: the command then fails and is run again, as here.
		var err error
		for range 3 {
			_, err = projections.Rebuild(ctx, rebuildConfig(otherDB, log, &counter{t: t, name: "a"}, 100))
			if err == nil || !strings.Contains(err.Error(), "SQLITE_BUSY") {
				break
			}
		}
		if err != nil {
			close(stop)
			wg.Wait()
			t.Fatalf("rebuild %d: %v", round, err)
		}
		close(stop)
		wg.Wait()
		last := log.append(things(5)...)
		waitForAll(t, g.Group, last)
	}
	head := log.head()
	waitForAll(t, g.Group, head)
	assertCounted(t, liveDB, a, head.Commit)
	assertCounted(t, liveDB, b, head.Commit)
	for _, name := range []string{"a", "b"} {
		if got := storedCheckpoint(t, liveDB, name); got != head {
			t.Fatalf("checkpoint of %s at %s, want %s", name, got, head)
		}
	}
	for _, r := range g.Runners() {
		if err := r.Err(); err != nil {
			t.Fatalf("%s reports %v", r.Projection().Name(), err)
		}
	}
	assertNoLeftovers(t, liveDB)
}
