package projections

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hookd/hookd/domain/eventlog"
)

// RebuildConfig is what Rebuild needs. DB, ReadAll, LastPosition and Projection are required.
type RebuildConfig struct {
	// DB is the read models' database.
	DB *sql.DB
	// ReadAll reads the log in batches.
	ReadAll ReadAllFunc
	// LastPosition tells where the log ends: for progress, and to bound the final catch-up.
	LastPosition LastPositionFunc
	// Projection is the read model to rebuild.
	Projection Projection
	// BatchSize is the most events read and applied in one transaction; 5,000 when zero. Large
	// batches make a rebuild fast; each one holds the write lock, which a live Runner waits for under
	// busy_timeout, while it is applied.
	BatchSize int
	// Progress, when set, is called after every batch.
	Progress func(Progress)
	// Logger receives the rebuild's logs; nil discards them.
	Logger *slog.Logger
}

// DefaultRebuildBatchSize is RebuildConfig.BatchSize when zero.
const DefaultRebuildBatchSize = 5000

// maxCatchUpPasses bounds the passes over the log before the swap; see Rebuild.
const maxCatchUpPasses = 4

// Progress is how far a rebuild got.
type Progress struct {
	// Events is the number of events applied so far.
	Events uint64
	// Done and Total are the Commit parts of the position reached and of the log's last position.
	// The embedded store numbers its events from 1, so for it they count events; for other stores
	// (KurrentDB's positions are byte offsets) only their ratio means something. Total is the head
	// as last read; the log may grow while the rebuild runs.
	Done, Total uint64
	// Elapsed is the time since the rebuild started.
	Elapsed time.Duration
}

func (c *RebuildConfig) setDefaults() {
	if c.BatchSize == 0 {
		c.BatchSize = DefaultRebuildBatchSize
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

func (c RebuildConfig) validate() error {
	var errs []error
	if c.DB == nil {
		errs = append(errs, errors.New("projections: rebuild: DB is required"))
	}
	if c.ReadAll == nil {
		errs = append(errs, errors.New("projections: rebuild: ReadAll is required"))
	}
	if c.LastPosition == nil {
		errs = append(errs, errors.New("projections: rebuild: LastPosition is required"))
	}
	errs = append(errs, validateProjection(c.Projection))
	if _, ok := c.Projection.(Processor); ok {
		errs = append(errs, fmt.Errorf("projections: rebuild: %s is a Processor, whose effects a rebuild would repeat", c.Projection.Name()))
	}
	if c.BatchSize < 0 {
		errs = append(errs, errors.New("projections: rebuild: BatchSize must not be negative"))
	}
	return errors.Join(errs...)
}

// ErrRebuildSuperseded is what Rebuild returns when another rebuild of the same projection started
// while it ran and took over the fresh tables.
var ErrRebuildSuperseded = errors.New("projections: another rebuild of this projection started")

// Rebuild builds the projection again from the start of the log, into fresh tables, and replaces the
// live tables with them in one transaction once they have caught up with the log. It returns the
// position the rebuilt tables reached, which is also their checkpoint.
//
// The live tables keep serving until the swap, also to other processes: a Runner in a running
// `hookd serve` finds at its next batch that the checkpoint moved, and follows on from the rebuilt
// one. Fresh tables left over from an aborted rebuild are dropped first. Only one rebuild of a
// projection runs at a time: one that starts while another runs makes the first fail with
// ErrRebuildSuperseded.
//
// The swap holds the database's write lock while it applies the last events, drops the old tables and
// renames the new ones: for a large read model, a second or two. Writers in other processes wait for
// it under their busy_timeout, which must be longer.
func Rebuild(ctx context.Context, cfg RebuildConfig) (eventlog.Position, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return eventlog.Start, err
	}
	b := &rebuild{cfg: cfg, started: time.Now(), name: cfg.Projection.Name() + "@rebuild"}
	b.schema = Schema{Suffix: rebuildSuffix, Build: newBuild()}
	b.cp = checkpoint{position: eventlog.Start, build: b.schema.Build}

	if err := b.prepare(ctx); err != nil {
		return eventlog.Start, err
	}
	cfg.Logger.Info("rebuilding projection", "projection", cfg.Projection.Name(), "build", b.schema.Build)
	// Catch up outside the swap transaction, in passes that each go to the head the log had when the
	// pass began. A pass takes about as long as it takes to apply what was appended during the one
	// before, so passes shrink and the swap, which holds the write lock, has little left to apply. The
	// number of passes is bounded so that a log that never rests cannot put the swap off for ever.
	for range maxCatchUpPasses {
		head, err := cfg.LastPosition(ctx)
		if err != nil {
			return eventlog.Start, fmt.Errorf("projections: rebuild: reading the log's last position: %w", err)
		}
		if !b.cp.position.Before(head) {
			break
		}
		if err := b.pass(ctx, head); err != nil {
			return eventlog.Start, err
		}
	}
	if err := b.swap(ctx); err != nil {
		return eventlog.Start, err
	}
	cfg.Logger.Info("projection rebuilt", "projection", cfg.Projection.Name(), "position", b.cp.position.String(),
		"events", b.events, "elapsed", time.Since(b.started))
	return b.cp.position, nil
}

// rebuild is the state of one Rebuild call.
type rebuild struct {
	cfg     RebuildConfig
	name    string // of the checkpoint that marks the fresh tables as this rebuild's
	schema  Schema
	cp      checkpoint // of the fresh tables
	events  uint64
	started time.Time
}

// prepare claims the rebuild's checkpoint, drops fresh tables left over from an aborted rebuild and
// creates them anew.
func (b *rebuild) prepare(ctx context.Context) error {
	if err := ensureCheckpoints(ctx, b.cfg.DB); err != nil {
		return err
	}
	tx, err := b.cfg.DB.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("projections: rebuild: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	// Writing the checkpoint first takes the write lock, and takes the fresh tables from any rebuild
	// still running: its next batch finds another build in the checkpoint and stops.
	if err := saveCheckpoint(ctx, tx, b.name, b.cp); err != nil {
		return err
	}
	if err := dropTables(ctx, tx, b.tables()); err != nil {
		return err
	}
	if err := b.cfg.Projection.Setup(ctx, tx, b.schema); err != nil {
		return fmt.Errorf("projections: rebuild: setting up %s: %w", b.cfg.Projection.Name(), err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("projections: rebuild: %w", err)
	}
	return nil
}

// tables returns the names of the fresh tables.
func (b *rebuild) tables() []string {
	live := b.cfg.Projection.Tables()
	fresh := make([]string, len(live))
	for i, t := range live {
		fresh[i] = b.schema.Table(t)
	}
	return fresh
}

// readResult is one read of the log.
type readResult struct {
	events []eventlog.RecordedEvent
	err    error
}

// pass applies the log from the rebuild's position up to head, a batch per transaction. A goroutine
// reads the next batch while one is applied: with a store across the network, reading takes about as
// long as applying.
func (b *rebuild) pass(ctx context.Context, head eventlog.Position) error {
	ctx, cancel := context.WithCancel(ctx)
	batches := make(chan readResult, 1)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	from := b.cp.position
	wg.Go(func() {
		defer close(batches)
		for after := from; after.Before(head); {
			events, err := b.cfg.ReadAll(ctx, after, b.cfg.BatchSize)
			if err != nil {
				err = fmt.Errorf("projections: rebuild: reading the log after %s: %w", after, err)
			}
			select {
			case batches <- readResult{events, err}:
			case <-ctx.Done():
				return
			}
			if err != nil || len(events) == 0 {
				return
			}
			after = events[len(events)-1].Position
		}
	})
	for read := range batches {
		if read.err != nil {
			return read.err
		}
		if len(read.events) == 0 {
			return nil
		}
		if err := b.batch(ctx, read.events); err != nil {
			return err
		}
		b.report(head)
	}
	return nil
}

// batch applies one batch in a transaction of its own.
func (b *rebuild) batch(ctx context.Context, events []eventlog.RecordedEvent) error {
	tx, err := b.cfg.DB.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("projections: rebuild: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	if err := b.claim(ctx, tx); err != nil {
		return err
	}
	if err := b.apply(ctx, tx, events); err != nil {
		return err
	}
	if err := saveCheckpoint(ctx, tx, b.name, b.cp); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("projections: rebuild: %w", err)
	}
	return nil
}

// claim takes the write lock and checks that the fresh tables are still this rebuild's.
func (b *rebuild) claim(ctx context.Context, tx *sql.Tx) error {
	stored, found, err := lockCheckpoint(ctx, tx, b.name)
	if err != nil {
		return err
	}
	if !found || stored.build != b.cp.build {
		return ErrRebuildSuperseded
	}
	return nil
}

// apply applies events to the fresh tables and moves the rebuild's position past them.
func (b *rebuild) apply(ctx context.Context, tx *sql.Tx, events []eventlog.RecordedEvent) error {
	if err := b.cfg.Projection.Apply(ctx, tx, b.schema, events); err != nil {
		return fmt.Errorf("projections: rebuild: %s: applying events up to %s: %w",
			b.cfg.Projection.Name(), events[len(events)-1].Position, err)
	}
	b.cp.position = events[len(events)-1].Position
	b.events += uint64(len(events))
	return nil
}

// report tells Progress how far the rebuild got, with head as the log's last known position.
func (b *rebuild) report(head eventlog.Position) {
	if b.cfg.Progress == nil {
		return
	}
	b.cfg.Progress(Progress{
		Events:  b.events,
		Done:    b.cp.position.Commit,
		Total:   max(head.Commit, b.cp.position.Commit),
		Elapsed: time.Since(b.started),
	})
}

// swap applies, under the write lock, what the log gained since the last batch, up to the head it
// has when the lock is taken, then replaces the live tables with the fresh ones and writes their
// checkpoint. Events appended after that head are left to the live Runner, which follows on from the
// new checkpoint.
func (b *rebuild) swap(ctx context.Context) error {
	p := b.cfg.Projection
	tx, err := b.cfg.DB.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("projections: rebuild: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	if err := b.claim(ctx, tx); err != nil {
		return err
	}
	head, err := b.cfg.LastPosition(ctx)
	if err != nil {
		return fmt.Errorf("projections: rebuild: reading the log's last position: %w", err)
	}
	for b.cp.position.Before(head) {
		events, err := b.cfg.ReadAll(ctx, b.cp.position, b.cfg.BatchSize)
		if err != nil {
			return fmt.Errorf("projections: rebuild: reading the log after %s: %w", b.cp.position, err)
		}
		for i, e := range events {
			if head.Before(e.Position) {
				events = events[:i]
				break
			}
		}
		if len(events) == 0 {
			break
		}
		if err := b.apply(ctx, tx, events); err != nil {
			return err
		}
	}

	if err := dropTables(ctx, tx, p.Tables()); err != nil {
		return err
	}
	for _, live := range p.Tables() {
		if _, err := tx.ExecContext(ctx, `ALTER TABLE `+quote(b.schema.Table(live))+` RENAME TO `+quote(live)); err != nil {
			return fmt.Errorf("projections: rebuild: renaming %s: %w", b.schema.Table(live), err)
		}
	}
	if err := saveCheckpoint(ctx, tx, p.Name(), b.cp); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM projection_checkpoints WHERE name = ?`, b.name); err != nil {
		return fmt.Errorf("projections: rebuild: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("projections: rebuild: swapping in the rebuilt tables: %w", err)
	}
	b.report(head)
	return nil
}
