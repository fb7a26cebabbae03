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

// RunnerConfig is what a Runner needs. DB, Subscribe and Projection are required.
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
	// MinBackoff and MaxBackoff bound the wait before resubscribing after an error: it starts at
	// MinBackoff, doubles with each failure in a row up to MaxBackoff, and starts over once a batch
	// goes through. 100 ms and 10 s when zero.
	MinBackoff, MaxBackoff time.Duration
	// Logger receives the Runner's logs; nil discards them.
	Logger *slog.Logger
}

// Defaults of RunnerConfig.
const (
	DefaultBatchSize  = 500
	DefaultMinBackoff = 100 * time.Millisecond
	DefaultMaxBackoff = 10 * time.Second
)

func (c *RunnerConfig) setDefaults() {
	if c.BatchSize == 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.MinBackoff == 0 {
		c.MinBackoff = DefaultMinBackoff
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = DefaultMaxBackoff
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

func (c RunnerConfig) validate() error {
	var errs []error
	if c.DB == nil {
		errs = append(errs, errors.New("projections: runner: DB is required"))
	}
	if c.Subscribe == nil {
		errs = append(errs, errors.New("projections: runner: Subscribe is required"))
	}
	errs = append(errs, validateProjection(c.Projection))
	if c.BatchSize < 0 {
		errs = append(errs, errors.New("projections: runner: BatchSize must not be negative"))
	}
	if c.MinBackoff < 0 || c.MaxBackoff < c.MinBackoff {
		errs = append(errs, errors.New("projections: runner: backoff must satisfy 0 <= MinBackoff <= MaxBackoff"))
	}
	return errors.Join(errs...)
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

// Runner keeps one projection up to date with the log. Run does the work; Position and WaitFor may be
// called from any goroutine at any time.
type Runner struct {
	cfg RunnerConfig

	// stored is the checkpoint as this Runner last read or wrote it in the database; committed runs
	// ahead of it past batches a Selective projection reads nothing of. Only Run's goroutine uses it.
	stored checkpoint

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

// NewRunner returns a Runner for cfg, with defaults filled in.
func NewRunner(cfg RunnerConfig) (*Runner, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Runner{cfg: cfg, advanced: make(chan struct{})}, nil
}

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
func (r *Runner) WaitFor(ctx context.Context, pos eventlog.Position) error {
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
		select {
		case <-advanced:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

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

// stop records err as why Run returned and wakes every WaitFor; it returns err.
func (r *Runner) stop(err error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failing = err
	r.stopped = fmt.Errorf("projections: %s stopped: %w", r.cfg.Projection.Name(), err)
	close(r.advanced)
	r.advanced = make(chan struct{})
	return err
}

func (r *Runner) current() checkpoint {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.committed
}

// errCheckpointMoved says the stored checkpoint is not the one this Runner last committed: another
// process swapped in rebuilt tables. The Runner starts over from the stored checkpoint.
var errCheckpointMoved = errors.New("projections: checkpoint moved by another writer")

// Run follows the log and applies it to the projection until ctx ends, then returns nil. It returns an
// error only when it cannot set up the read model at first, or when the log is damaged (an error
// matching eventlog.ErrCorrupt, which no retry mends); every other error (a dropped subscription, a
// failed batch) is logged, and the Runner resubscribes from its last committed checkpoint after a
// backoff. Once Run has returned an error, WaitFor returns it too. Run must not be called twice at
// the same time.
//
// When the checkpoint or one of the projection's tables is missing (at first start, or when a newer
// projection lists a table the database lacks), Run drops what is left of the projection's tables,
// creates them empty and follows the log from its start.
func (r *Runner) Run(ctx context.Context) error {
	log := r.cfg.Logger.With("projection", r.cfg.Projection.Name())
	if err := r.setup(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return r.stop(err)
	}
	log.Info("projection running", "position", r.Position().String())

	backoff := r.cfg.MinBackoff
	for {
		progressed, err := r.follow(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, eventlog.ErrCorrupt) {
			return r.stop(err)
		}
		if progressed {
			backoff = r.cfg.MinBackoff
		}
		if errors.Is(err, errCheckpointMoved) {
			log.Info("projection tables were swapped by a rebuild; following from the new checkpoint")
		} else {
			r.setFailing(err)
			log.Warn("projection stopped; resubscribing from its checkpoint", "error", err,
				"position", r.Position().String(), "retry_in", backoff)
			if !r.sleep(ctx, &backoff) {
				return nil
			}
		}
		// Setting up again re-reads the stored checkpoint: the truth after a failed or moved batch.
		// A setup that fails waits too, so a moved checkpoint and a failing setup cannot spin.
		for {
			err := r.setup(ctx)
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, eventlog.ErrCorrupt) {
				return r.stop(err)
			}
			r.setFailing(err)
			log.Warn("projection setup failed", "error", err, "retry_in", backoff)
			if !r.sleep(ctx, &backoff) {
				return nil
			}
		}
	}
}

// sleep waits for backoff, then doubles it up to MaxBackoff; false when ctx ended first.
func (r *Runner) sleep(ctx context.Context, backoff *time.Duration) bool {
	select {
	case <-time.After(*backoff):
	case <-ctx.Done():
		return false
	}
	*backoff = min(2**backoff, r.cfg.MaxBackoff)
	return true
}

// setup makes sure the checkpoint and the projection's live tables exist, creating them empty at
// position Start when they do not, and takes the stored checkpoint as committed.
func (r *Runner) setup(ctx context.Context) error {
	if err := ensureCheckpoints(ctx, r.cfg.DB); err != nil {
		return err
	}
	p := r.cfg.Projection
	tx, err := r.cfg.DB.BeginTx(ctx, nil)
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
			r.cfg.Logger.Warn("projection tables are missing; building them again from the start of the log",
				"projection", p.Name(), "tables", p.Tables())
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

// follow subscribes from the committed position and applies batches until something fails. progressed
// reports whether at least one batch was committed.
func (r *Runner) follow(ctx context.Context) (progressed bool, err error) {
	sub, err := r.cfg.Subscribe(ctx, r.Position())
	if err != nil {
		return false, fmt.Errorf("subscribing: %w", err)
	}
	defer func() { _ = sub.Close() }()
	for {
		events, err := sub.Next(ctx, r.cfg.BatchSize)
		if err != nil {
			return progressed, err
		}
		if err := r.apply(ctx, events); err != nil {
			return progressed, err
		}
		progressed = true
	}
}

// apply passes a batch a Selective projection reads nothing of in memory; otherwise it runs a
// Processor's effects, then writes the batch and its checkpoint in one transaction. Before writing it
// checks that the stored checkpoint is still the one this Runner committed; when it is not, the
// tables are no longer the ones this Runner was writing, and it gives up the batch with
// errCheckpointMoved.
func (r *Runner) apply(ctx context.Context, events []eventlog.RecordedEvent) error {
	committed := r.current()
	// A store may hand an event again after a resubscription; the checkpoint says it is applied.
	for len(events) > 0 && !committed.position.Before(events[0].Position) {
		events = events[1:]
	}
	if len(events) == 0 {
		return nil
	}

	p := r.cfg.Projection
	if sel, ok := p.(Selective); ok && !slices.ContainsFunc(events, func(e eventlog.RecordedEvent) bool { return sel.Reads(e.Type) }) {
		// Nothing to write: the batch is passed in memory, without a transaction. The stored
		// checkpoint stays behind until a batch with something to write, and a restart before it
		// reads these events again, to skip them again.
		r.publish(checkpoint{position: events[len(events)-1].Position, build: committed.build})
		return nil
	}
	// Effects go first, outside the transaction, so that the read models' write lock is not held
	// while they take their time; until the checkpoint commits, a crash repeats them.
	if proc, ok := p.(Processor); ok {
		if err := proc.Process(ctx, events); err != nil {
			return fmt.Errorf("projections: %s: processing events up to %s: %w", p.Name(), events[len(events)-1].Position, err)
		}
	}
	tx, err := r.cfg.DB.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("projections: %s: %w", p.Name(), err)
	}
	defer func() { _ = tx.Rollback() }()

	stored, found, err := lockCheckpoint(ctx, tx, p.Name())
	if err != nil {
		return err
	}
	if !found || stored != r.stored {
		return errCheckpointMoved
	}
	if err := p.Apply(ctx, tx, Schema{Build: committed.build}, events); err != nil {
		return fmt.Errorf("projections: %s: applying events up to %s: %w", p.Name(), events[len(events)-1].Position, err)
	}
	next := checkpoint{position: events[len(events)-1].Position, build: committed.build}
	if err := saveCheckpoint(ctx, tx, p.Name(), next); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("projections: %s: committing: %w", p.Name(), err)
	}
	r.stored = next
	r.publish(next)
	return nil
}
