package projections

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/hookd/hookd/domain/eventlog"
)

// RunnerConfig is what a Runner of its own needs. DB, Subscribe and Projection are required.
type RunnerConfig struct {
	// DB is the read models' database. The Runner creates the checkpoint table and the projection's
	// tables in it when they are missing.
	DB *sql.DB
	// Subscribe follows the log.
	Subscribe SubscribeFunc
	// Projection is the read model the Runner keeps up to date.
	Projection Projection
	// BatchSize is the most events applied in one transaction; 500 when zero.
	BatchSize int
	// CommitInterval is GroupConfig's.
	CommitInterval time.Duration
	// MinBackoff and MaxBackoff bound the wait before resubscribing after an error: it starts at
	// MinBackoff, doubles with each failure in a row up to MaxBackoff, and starts over once a batch
	// goes through. 100 ms and 10 s when zero.
	MinBackoff, MaxBackoff time.Duration
	// Logger receives the Runner's logs; nil discards them.
	Logger *slog.Logger
}

// Defaults of RunnerConfig and GroupConfig.
const (
	DefaultBatchSize  = 500
	DefaultMinBackoff = 100 * time.Millisecond
	DefaultMaxBackoff = 10 * time.Second
)

// pacing fills in the defaults of the settings a Group and a Follower share.
func pacing(batchSize *int, minBackoff, maxBackoff *time.Duration, logger **slog.Logger) {
	if *batchSize == 0 {
		*batchSize = DefaultBatchSize
	}
	if *minBackoff == 0 {
		*minBackoff = DefaultMinBackoff
	}
	if *maxBackoff == 0 {
		*maxBackoff = DefaultMaxBackoff
	}
	if *logger == nil {
		*logger = slog.New(slog.DiscardHandler)
	}
}

func validateProjection(p Projection) error {
	switch {
	case p == nil:
		return errors.New("projections: a Projection is required")
	case p.Name() == "":
		return errors.New("projections: the projection has no name")
	case len(p.Tables()) == 0 && !isProcessor(p):
		// Only a Processor may keep nothing but its checkpoint: its effects are what it is for.
		return fmt.Errorf("projections: projection %s lists no tables", p.Name())
	}
	return nil
}

func isProcessor(p Projection) bool {
	_, ok := p.(Processor)
	return ok
}

// NewRunner returns a Runner for cfg, with defaults filled in: a Group of one projection.
func NewRunner(cfg RunnerConfig) (*Runner, error) {
	g, err := NewGroup(GroupConfig{
		DB: cfg.DB, Subscribe: cfg.Subscribe, BatchSize: cfg.BatchSize, CommitInterval: cfg.CommitInterval,
		MinBackoff: cfg.MinBackoff, MaxBackoff: cfg.MaxBackoff, Logger: cfg.Logger,
		Projections: []Projection{cfg.Projection},
	})
	if err != nil {
		return nil, err
	}
	return g.Runners()[0], nil
}

// Runner keeps one projection up to date with the log, as a member of a Group. Position, Err and
// WaitFor may be called from any goroutine at any time.
type Runner struct {
	group *Group
	p     Projection
	log   *slog.Logger

	// stored is the checkpoint as this Runner last read or wrote it in the database; committed runs
	// ahead of it past batches a Selective projection reads nothing of. Only the goroutine that feeds
	// the Runner uses it: the Group's while the Runner is attached, its catch-up's while it is not.
	stored checkpoint
	// attached says the Group's subscription feeds the Runner; when false, a catch-up of its own
	// does, until it reaches the Group. Guarded by group.mu.
	attached bool

	mu        sync.Mutex
	committed checkpoint
	// loaded says committed was read from the database: the read model's tables exist.
	loaded bool
	// advanced is closed, and replaced, whenever committed or loaded changes: WaitFor sleeps on it.
	advanced chan struct{}
	// failing is why the last attempt to follow the log stopped, until a batch goes through again.
	failing error
	// stopped is why Run returned with an error; WaitFor returns it rather than wait for ever.
	stopped error
}

// Projection returns the read model the Runner keeps up to date.
func (r *Runner) Projection() Projection { return r.p }

// Position returns the position up to which the read model is committed; eventlog.Start until Run has
// read the checkpoint.
func (r *Runner) Position() eventlog.Position {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.committed.position
}

// Err returns why the Runner is not following the log, or nil while it is: a batch that keeps
// failing (an event that cannot be decoded, say) leaves the read model behind, which a readiness
// check must show rather than let every command wait for it.
func (r *Runner) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failing
}

func (r *Runner) setFailing(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failing = err
}

// WaitFor returns nil once Run has set up the read model and committed it at or after pos, ctx's
// error when ctx ends first, or the error Run stopped with. It is how a query reads its own writes: wait for the position the
// command's append returned, then query. WaitFor(ctx, eventlog.Start) waits for the read model's
// tables to exist; waiting for the log's last position at start-up tells when the read model has
// caught up.
//
// With a CommitInterval, a WaitFor that waits closes the batch the Group is gathering as soon as that
// batch holds pos: waiting costs no more than it would without one.
func (r *Runner) WaitFor(ctx context.Context, pos eventlog.Position) error {
	return r.waitFor(ctx, pos, nil)
}

// WaitForTypes is WaitFor for a caller that reads only the events of the types reads reads: it also
// returns once the Group is gathering a batch (GroupConfig.CommitInterval) that holds the log up to
// pos and none of the events of those types up to pos is left uncommitted, without closing the
// batch. The dispatcher waits so on the webhooks read model for the webhooks' changes, and lets the
// health it folds from attempts commit with the batch.
func (r *Runner) WaitForTypes(ctx context.Context, pos eventlog.Position, reads func(eventType string) bool) error {
	return r.waitFor(ctx, pos, reads)
}

func (r *Runner) waitFor(ctx context.Context, pos eventlog.Position, reads func(string) bool) error {
	var w *waiter
	defer func() {
		if w != nil {
			r.group.forget(w)
		}
	}()
	for {
		r.mu.Lock()
		reached, advanced, stopped := r.loaded && !r.committed.position.Before(pos), r.advanced, r.stopped
		r.mu.Unlock()
		if reached {
			return nil
		}
		if stopped != nil {
			return stopped
		}
		if w == nil {
			// Recorded only once the wait is needed, then looked at again: the batch may have
			// committed meanwhile.
			w = r.group.await(r, pos, reads)
			continue
		}
		select {
		case <-advanced:
		case <-w.ready:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Run runs the Runner's Group (see Group.Run): for a Runner of NewRunner, the Runner alone.
func (r *Runner) Run(ctx context.Context) error { return r.group.Run(ctx) }

// publish records cp, read from or written to the database, as committed and wakes every WaitFor.
func (r *Runner) publish(cp checkpoint) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.loaded && cp == r.committed {
		return
	}
	r.committed, r.loaded = cp, true
	r.failing = nil // the read model moved on: whatever failed before no longer holds it back
	close(r.advanced)
	r.advanced = make(chan struct{})
}

// stop records err as why Run returned and wakes every WaitFor.
func (r *Runner) stop(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failing = err
	r.stopped = fmt.Errorf("projections: %s stopped: %w", r.p.Name(), err)
	close(r.advanced)
	r.advanced = make(chan struct{})
}

func (r *Runner) current() checkpoint {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.committed
}

// unapplied returns the events of a batch that come after the Runner's committed position: a store
// may hand an event again after a resubscription, and a Runner ahead of its Group has applied some.
func (r *Runner) unapplied(events []eventlog.RecordedEvent) []eventlog.RecordedEvent {
	committed := r.current().position
	for len(events) > 0 && !committed.Before(events[0].Position) {
		events = events[1:]
	}
	return events
}

// reads says whether the projection reads any of events: a Selective projection passes a batch it
// reads nothing of in memory, with no transaction.
func (r *Runner) reads(events []eventlog.RecordedEvent) bool {
	sel, ok := r.p.(Selective)
	return !ok || slices.ContainsFunc(events, func(e eventlog.RecordedEvent) bool { return sel.Reads(e.Type) })
}

// errCheckpointMoved says the stored checkpoint is not the one this Runner last committed: another
// process swapped in rebuilt tables. The Runner starts over from the stored checkpoint.
var errCheckpointMoved = errors.New("projections: checkpoint moved by another writer")

// setup makes sure the checkpoint and the projection's live tables exist, creating them empty at
// position Start when they do not, and takes the stored checkpoint as committed.
//
// When the checkpoint or one of the projection's tables is missing (at first start, or when a newer
// projection lists a table the database lacks), setup drops what is left of the projection's tables,
// creates them empty, and the projection follows the log from its start.
func (r *Runner) setup(ctx context.Context) error {
	db := r.group.cfg.DB
	if err := ensureCheckpoints(ctx, db); err != nil {
		return err
	}
	p := r.p
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("projections: %s: %w", p.Name(), err)
	}
	defer func() { _ = tx.Rollback() }()

	cp, found, err := lockCheckpoint(ctx, tx, p.Name())
	if err != nil {
		return err
	}
	existing, err := existingTables(ctx, tx, p.Tables())
	if err != nil {
		return err
	}
	if !found || len(existing) != len(p.Tables()) {
		if found {
			r.log.Warn("projection tables are missing; building them again from the start of the log", "tables", p.Tables())
		}
		if err := dropTables(ctx, tx, existing); err != nil {
			return err
		}
		cp = checkpoint{position: eventlog.Start, build: newBuild()}
		if err := p.Setup(ctx, tx, Schema{Build: cp.build}); err != nil {
			return fmt.Errorf("projections: setting up %s: %w", p.Name(), err)
		}
		if err := saveCheckpoint(ctx, tx, p.Name(), cp); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("projections: setting up %s: %w", p.Name(), err)
	}
	r.stored = cp
	r.publish(cp)
	return nil
}

// applyAlone applies a batch to this Runner alone, as its catch-up does: in memory when a Selective
// projection reads nothing of it; otherwise a Processor's effects first, then the batch and its
// checkpoint in one transaction, written as the Group writes its batches. When the stored checkpoint
// is no longer the one this Runner committed, the tables are no longer the ones this Runner was
// writing, and it gives up the batch with errCheckpointMoved.
func (r *Runner) applyAlone(ctx context.Context, events []eventlog.RecordedEvent) error {
	events = r.unapplied(events)
	if len(events) == 0 {
		return nil
	}
	alone := part{r: r, events: events, writes: r.reads(events)}
	if !alone.writes {
		// Nothing to write: the stored checkpoint stays behind until a batch with something to
		// write, and a restart before it reads these events again, to skip them again.
		r.publish(alone.next())
		return nil
	}
	if err := r.process(ctx, events); err != nil {
		return err
	}
	moved, failed, err := r.group.write(ctx, []part{alone})
	switch {
	case err != nil:
		return fmt.Errorf("projections: %s: %w", r.p.Name(), err)
	case len(moved) > 0:
		return errCheckpointMoved
	case failed != nil:
		return failed.err
	}
	return nil
}

// process runs a Processor's effects for events. They go first, outside the transaction, so that the
// read models' write lock is not held while they take their time; until the checkpoint commits, a
// crash repeats them.
func (r *Runner) process(ctx context.Context, events []eventlog.RecordedEvent) error {
	proc, ok := r.p.(Processor)
	if !ok {
		return nil
	}
	if err := proc.Process(ctx, events); err != nil {
		return fmt.Errorf("projections: %s: processing events up to %s: %w", r.p.Name(), events[len(events)-1].Position, err)
	}
	return nil
}

// applyIn applies events to the live tables of build within tx.
func (r *Runner) applyIn(ctx context.Context, tx *sql.Tx, build string, events []eventlog.RecordedEvent) error {
	if err := r.p.Apply(ctx, tx, Schema{Build: build}, events); err != nil {
		return fmt.Errorf("projections: %s: applying events up to %s: %w", r.p.Name(), events[len(events)-1].Position, err)
	}
	return nil
}
