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

// GroupConfig is what a Group needs. DB, Subscribe and Projections are required.
type GroupConfig struct {
	// DB is the read models' database. The Group creates the checkpoint table and the projections'
	// tables in it when they are missing.
	DB *sql.DB
	// Subscribe follows the log.
	Subscribe SubscribeFunc
	// Projections are the read models the Group keeps up to date, each with a Runner and a
	// checkpoint of its own. A Processor must be the only one: see Group.
	Projections []Projection
	// BatchSize is the most events applied in one transaction; 500 when zero.
	BatchSize int
	// CommitInterval, when positive, is how long a batch may keep gathering the events the log hands
	// out after its first, up to BatchSize, before it commits: one transaction then carries the
	// events of several appends, and the read models write fewer pages per event (docs/decisions.md,
	// issue 12). Nobody waits for it: the batch commits at once when a WaitFor waits on a position it
	// holds, and a read model that reads none of the events gathered moves on without waiting for the
	// commit. Zero commits each batch as the subscription hands it out.
	//
	// A Processor's batches are never gathered: its effects would wait. One that keeps nothing but
	// its checkpoint (no Tables) stores it at most once per CommitInterval instead, its batches
	// passing in memory meanwhile as batches nobody writes do: a crash repeats at most that much of
	// its effects, which Process makes harmless, and the dispatcher's checkpoint no longer costs a
	// commit per batch.
	CommitInterval time.Duration
	// MinBackoff and MaxBackoff bound the wait before resubscribing after an error: it starts at
	// MinBackoff, doubles with each failure in a row up to MaxBackoff, and starts over once a batch
	// goes through. 100 ms and 10 s when zero.
	MinBackoff, MaxBackoff time.Duration
	// Logger receives the Group's logs; nil discards them.
	Logger *slog.Logger
}

func (c *GroupConfig) setDefaults() {
	pacing(&c.BatchSize, &c.MinBackoff, &c.MaxBackoff, &c.Logger)
}

func (c GroupConfig) validate() error {
	var errs []error
	if c.DB == nil {
		errs = append(errs, errors.New("projections: runner: DB is required"))
	}
	if c.Subscribe == nil {
		errs = append(errs, errors.New("projections: runner: Subscribe is required"))
	}
	if len(c.Projections) == 0 {
		errs = append(errs, errors.New("projections: runner: a Projection is required"))
	}
	names := make(map[string]bool)
	for _, p := range c.Projections {
		if err := validateProjection(p); err != nil {
			errs = append(errs, err)
			continue
		}
		if names[p.Name()] {
			errs = append(errs, fmt.Errorf("projections: runner: two projections are called %s", p.Name()))
		}
		names[p.Name()] = true
		if isProcessor(p) && len(c.Projections) > 1 {
			errs = append(errs, fmt.Errorf("projections: runner: %s is a Processor, which runs in a group of its own", p.Name()))
		}
	}
	if c.BatchSize < 0 {
		errs = append(errs, errors.New("projections: runner: BatchSize must not be negative"))
	}
	if c.CommitInterval < 0 {
		errs = append(errs, errors.New("projections: runner: CommitInterval must not be negative"))
	}
	if c.MinBackoff < 0 || c.MaxBackoff < c.MinBackoff {
		errs = append(errs, errors.New("projections: runner: backoff must satisfy 0 <= MinBackoff <= MaxBackoff"))
	}
	return errors.Join(errs...)
}

// Group keeps several read models up to date with one subscription to the log: it reads and hands
// out each batch once, and applies it to every read model in one transaction that also writes each
// one's checkpoint. One transaction rather than one per read model is one commit, one write lock and
// one copy of the checkpoint page in the WAL per batch (docs/benchmarks.md, issue 13).
//
// Each read model keeps what a Runner of its own would promise: a checkpoint of its own, so that it
// can be rebuilt alone; its own Position, Err and WaitFor (its Runner); and the skipping of batches
// it reads nothing of (Selective). A read model that falls behind the Group leaves it and catches up
// on its own subscription and transactions, then joins again at the Group's position:
//
//   - when its Apply fails, the Group rolls the transaction back and applies the batch to the others
//     without it: one failing read model never holds the others back, and none of its writes commit
//     with theirs. It retries after a backoff, as a Runner of its own would, and Err says why
//     meanwhile;
//   - when another process swapped rebuilt tables in (its checkpoint moved), it follows on from the
//     rebuilt checkpoint.
//
// A Processor runs in a Group of its own (NewRunner): its effects come before the transaction, and
// sharing one would hold the read models back while they run, or make them wait on its failures.
type Group struct {
	cfg     GroupConfig
	runners []*Runner

	mu sync.Mutex
	// at is the position after which the Group's subscription hands out its next batch: a Runner
	// committed at or past it can be fed by the Group.
	at eventlog.Position
	// rejoined wakes a Group that has no Runner attached once one is again.
	rejoined chan struct{}
	// fatal is why a catch-up stopped the Group (a damaged log).
	fatal error

	// checkpointOnly says the Group feeds a Processor alone that keeps nothing but its checkpoint,
	// and storedAt is when the Group last stored it (see GroupConfig.CommitInterval).
	checkpointOnly bool
	storedAt       time.Time

	// waitMu guards what a batch being gathered holds and who waits on a position (see gather).
	waitMu sync.Mutex
	// gathered is the batch being gathered, and closeBatch ends its gathering; both nil when no batch
	// is gathering.
	gathered   []eventlog.RecordedEvent
	closeBatch context.CancelFunc
	// waiters are the WaitFor calls not yet answered, while CommitInterval is set.
	waiters map[*waiter]struct{}

	// stmts are the checkpoint statements, prepared by query (see prepared).
	stmtsMu sync.Mutex
	stmts   map[string]*sql.Stmt

	// Set by Run for the catch-ups it starts.
	cancel   context.CancelFunc
	catchUps sync.WaitGroup
}

// NewGroup returns a Group for cfg, with defaults filled in.
func NewGroup(cfg GroupConfig) (*Group, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	g := &Group{cfg: cfg, rejoined: make(chan struct{}, 1), stmts: make(map[string]*sql.Stmt),
		waiters: make(map[*waiter]struct{})}
	for _, p := range cfg.Projections {
		g.runners = append(g.runners, &Runner{group: g, p: p, log: cfg.Logger.With("projection", p.Name()),
			advanced: make(chan struct{})})
	}
	g.checkpointOnly = isProcessor(cfg.Projections[0]) && len(cfg.Projections[0].Tables()) == 0
	return g, nil
}

// Runners returns the Runner of each projection, in the order of GroupConfig.Projections.
func (g *Group) Runners() []*Runner { return slices.Clone(g.runners) }

// WaitFor returns nil once every read model of the Group is committed at or after pos (see
// Runner.WaitFor).
func (g *Group) WaitFor(ctx context.Context, pos eventlog.Position) error {
	for _, r := range g.runners {
		if err := r.WaitFor(ctx, pos); err != nil {
			return err
		}
	}
	return nil
}

// errNoneAttached says no Runner is left for the Group's subscription to feed: every one is
// catching up on its own.
var errNoneAttached = errors.New("projections: no read model follows the group")

// Run follows the log and applies it to the projections until ctx ends, then returns nil. It returns
// an error only when it cannot set up a read model at first, or when the log is damaged (an error
// matching eventlog.ErrCorrupt, which no retry mends); every other error (a dropped subscription, a
// failed batch) is logged, and the Group, or the one read model that failed, resubscribes from its
// last committed checkpoint after a backoff. Once Run has returned an error, WaitFor returns it too.
// Run must not be called twice at the same time.
func (g *Group) Run(ctx context.Context) error {
	ctx, g.cancel = context.WithCancel(ctx)
	defer func() {
		g.cancel()
		g.catchUps.Wait()
	}()
	for _, r := range g.runners {
		if err := r.setup(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return g.stop(err)
		}
		r.log.Info("projection running", "position", r.Position().String())
	}
	g.mu.Lock()
	for _, r := range g.runners {
		r.attached = true
	}
	g.mu.Unlock()

	backoff := g.cfg.MinBackoff
	for {
		progressed, err := g.follow(ctx)
		if ctx.Err() != nil {
			return g.ended()
		}
		if errors.Is(err, eventlog.ErrCorrupt) {
			return g.stop(err)
		}
		if errors.Is(err, errNoneAttached) {
			select {
			case <-g.rejoined:
				continue
			case <-ctx.Done():
				return g.ended()
			}
		}
		if progressed {
			backoff = g.cfg.MinBackoff
		}
		g.setFailing(err)
		g.cfg.Logger.Warn("projections stopped; resubscribing from their checkpoints", "error", err, "retry_in", backoff)
		if !g.sleep(ctx, &backoff) {
			return g.ended()
		}
		// Setting up again re-reads the stored checkpoints: the truth after a failed batch. A setup
		// that fails waits too, so that it cannot spin.
		for {
			err := g.setupAttached(ctx)
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return g.ended()
			}
			if errors.Is(err, eventlog.ErrCorrupt) {
				return g.stop(err)
			}
			g.setFailing(err)
			g.cfg.Logger.Warn("projection setup failed", "error", err, "retry_in", backoff)
			if !g.sleep(ctx, &backoff) {
				return g.ended()
			}
		}
	}
}

// ended returns what Run returns once its context ended: the error a catch-up stopped it with, or
// nil when its caller ended it.
func (g *Group) ended() error {
	g.mu.Lock()
	fatal := g.fatal
	g.mu.Unlock()
	if fatal != nil {
		return g.stop(fatal)
	}
	return nil
}

// fail stops Run with err, from a catch-up.
func (g *Group) fail(err error) {
	g.mu.Lock()
	if g.fatal == nil {
		g.fatal = err
	}
	g.mu.Unlock()
	g.cancel()
}

// stop records err as why Run returned, in every Runner, and returns it.
func (g *Group) stop(err error) error {
	for _, r := range g.runners {
		r.stop(err)
	}
	return err
}

// attached returns the Runners the Group's subscription feeds. The caller holds g.mu.
func (g *Group) attached() []*Runner {
	var out []*Runner
	for _, r := range g.runners {
		if r.attached {
			out = append(out, r)
		}
	}
	return out
}

func (g *Group) setFailing(err error) {
	g.mu.Lock()
	attached := g.attached()
	g.mu.Unlock()
	for _, r := range attached {
		r.setFailing(err)
	}
}

// setupAttached sets up the attached Runners again. Only the Group's goroutine detaches a Runner, so
// those it finds attached stay so meanwhile.
func (g *Group) setupAttached(ctx context.Context) error {
	g.mu.Lock()
	attached := g.attached()
	g.mu.Unlock()
	for _, r := range attached {
		if err := r.setup(ctx); err != nil {
			return err
		}
	}
	return nil
}

// sleep waits for backoff, then doubles it up to MaxBackoff; false when ctx ended first.
func (g *Group) sleep(ctx context.Context, backoff *time.Duration) bool {
	select {
	case <-time.After(*backoff):
	case <-ctx.Done():
		return false
	}
	*backoff = min(2**backoff, g.cfg.MaxBackoff)
	return true
}

// follow subscribes from the least position of the attached Runners and applies batches until
// something fails or no Runner is attached. progressed reports whether at least one batch was
// applied.
func (g *Group) follow(ctx context.Context) (progressed bool, err error) {
	g.mu.Lock()
	attached := g.attached()
	if len(attached) == 0 {
		g.mu.Unlock()
		return false, errNoneAttached
	}
	from := attached[0].Position()
	for _, r := range attached[1:] {
		if p := r.Position(); p.Before(from) {
			from = p
		}
	}
	g.at = from
	g.mu.Unlock()

	sub, err := g.cfg.Subscribe(ctx, from)
	if err != nil {
		return false, fmt.Errorf("subscribing: %w", err)
	}
	defer func() { _ = sub.Close() }()
	for {
		events, err := sub.Next(ctx, g.cfg.BatchSize)
		if err != nil {
			return progressed, err
		}
		if len(events) == 0 {
			continue
		}
		// What was gathered before the subscription failed is applied all the same.
		events, gatherErr := g.gather(ctx, sub, events)
		left, err := g.apply(ctx, events)
		if err != nil {
			return progressed, err
		}
		progressed = true
		if gatherErr != nil {
			return progressed, gatherErr
		}
		if !left {
			return progressed, errNoneAttached
		}
	}
}

// gather adds to a batch what the log hands out within CommitInterval of its first events, up to
// BatchSize (see GroupConfig.CommitInterval). It ends early once a WaitFor waits on a position the
// batch holds that its Runner has not reached: the wait lasts no longer than it would without
// gathering. Meanwhile a Runner that reads none of the events gathered moves on in memory, as it would
// with a batch of its own: a read model that waiters follow for a few event types (the webhooks,
// which the dispatcher waits on) is not held back by a batch of others (deliveries).
//
// It returns the events gathered, and an error when the subscription failed (or ctx ended) on the
// way: the events are applied all the same, then the error is the follow's.
func (g *Group) gather(ctx context.Context, sub Subscription, events []eventlog.RecordedEvent) ([]eventlog.RecordedEvent, error) {
	if g.cfg.CommitInterval <= 0 || isProcessor(g.runners[0].p) {
		return events, nil
	}
	gathering, closeBatch := context.WithCancel(ctx)
	defer closeBatch()
	timer := time.AfterFunc(g.cfg.CommitInterval, closeBatch)
	defer timer.Stop()
	defer g.hold(nil, nil)
	owned := false
	for len(events) < g.cfg.BatchSize {
		g.passIdle(events)
		if g.hold(events, closeBatch) {
			break
		}
		// A Next that ends with its context hands out nothing and loses nothing (Subscription).
		more, err := sub.Next(gathering, g.cfg.BatchSize-len(events))
		if err != nil {
			if gathering.Err() != nil && ctx.Err() == nil {
				break
			}
			return events, err
		}
		if !owned {
			// A store may share the slices it hands out: the first append copies into one of ours.
			events, owned = slices.Clip(events), true
		}
		events = append(events, more...)
	}
	return events, nil
}

// passIdle publishes, in memory, the last position of events to each attached Runner that reads none
// of the events it has not applied, as commit does with a batch nobody writes.
func (g *Group) passIdle(events []eventlog.RecordedEvent) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, r := range g.attached() {
		if unapplied := r.unapplied(events); len(unapplied) > 0 && !r.reads(unapplied) {
			r.publish(part{r: r, events: unapplied}.next())
		}
	}
}

// hold records gathered as the batch being gathered, which closeBatch closes (both nil: no batch is
// gathering), and reports whether a waiter needs it committed now. It answers the waiters whose
// types the batch holds none of.
func (g *Group) hold(gathered []eventlog.RecordedEvent, closeBatch context.CancelFunc) (waited bool) {
	g.waitMu.Lock()
	defer g.waitMu.Unlock()
	g.gathered, g.closeBatch = gathered, closeBatch
	for w := range g.waiters {
		if g.needs(w) {
			waited = true
		}
	}
	return waited
}

// waiter is a WaitFor call of r for pos, not yet answered; reads, when set, is a WaitForTypes'.
type waiter struct {
	r     *Runner
	pos   eventlog.Position
	reads func(eventType string) bool
	// ready is closed when the batch being gathered answers the waiter without a commit.
	ready    chan struct{}
	answered bool
}

// needs reports whether the waiter needs the batch being gathered committed: the batch holds pos,
// past where the Runner is, and for a WaitForTypes, one of its types up to pos. A WaitForTypes whose
// types the batch holds none of up to pos is answered. The caller holds g.waitMu.
func (g *Group) needs(w *waiter) bool {
	if w.answered || len(g.gathered) == 0 || g.gathered[len(g.gathered)-1].Position.Before(w.pos) {
		return false
	}
	at := w.r.Position()
	if !at.Before(w.pos) {
		return false
	}
	if w.reads == nil {
		return true
	}
	for _, e := range g.gathered {
		if at.Before(e.Position) && !w.pos.Before(e.Position) && w.reads(e.Type) {
			return true
		}
	}
	w.answered = true
	close(w.ready)
	return false
}

// await records that r waits for pos (for the types reads reads, when set) until forget, and closes
// the batch being gathered when the waiter needs it committed. Without CommitInterval nothing
// gathers, and nothing is recorded: the waiter is never answered but by a commit.
func (g *Group) await(r *Runner, pos eventlog.Position, reads func(string) bool) *waiter {
	w := &waiter{r: r, pos: pos, reads: reads, ready: make(chan struct{})}
	if g.cfg.CommitInterval <= 0 {
		return w
	}
	g.waitMu.Lock()
	defer g.waitMu.Unlock()
	g.waiters[w] = struct{}{}
	if g.closeBatch != nil && g.needs(w) {
		g.closeBatch()
	}
	return w
}

// forget ends what await recorded.
func (g *Group) forget(w *waiter) {
	g.waitMu.Lock()
	defer g.waitMu.Unlock()
	delete(g.waiters, w)
}

// part is what one batch is to one Runner: the events it has not applied yet, and whether it reads
// any of them. A part without events stores the checkpoint its Runner reached in memory.
type part struct {
	r      *Runner
	events []eventlog.RecordedEvent
	writes bool
}

// next returns the checkpoint the part's Runner reaches with it.
func (p part) next() checkpoint {
	if len(p.events) == 0 {
		return p.r.current()
	}
	return checkpoint{position: p.events[len(p.events)-1].Position, build: p.r.current().build}
}

// apply applies a batch to the attached Runners; left says whether any is still attached. An error is
// the Group's (the transaction could not begin or commit): what fails for one Runner alone detaches
// it.
func (g *Group) apply(ctx context.Context, events []eventlog.RecordedEvent) (left bool, err error) {
	// Held for the whole batch, so that a catch-up cannot join between the Runners this batch feeds
	// and the position it moves the Group to.
	g.mu.Lock()
	defer g.mu.Unlock()
	var parts []part
	for _, r := range g.attached() {
		if unapplied := r.unapplied(events); len(unapplied) > 0 {
			parts = append(parts, part{r: r, events: unapplied, writes: r.reads(unapplied)})
		} else if r.stored != r.current() {
			// Passed in memory while the batch gathered (passIdle): its checkpoint is stored with
			// the others', as it would have been without gathering.
			parts = append(parts, part{r: r})
		}
	}
	if err := g.commit(ctx, parts); err != nil {
		return true, err
	}
	g.at = events[len(events)-1].Position
	return len(g.attached()) > 0, nil
}

// commit writes parts, and their checkpoints, in one transaction. A Runner whose Processor or Apply
// fails is detached and the batch is written again without it; one whose checkpoint moved is
// detached too.
func (g *Group) commit(ctx context.Context, parts []part) error {
	// Only a Group of one holds a Processor: its effects go first, outside the transaction.
	for i, p := range parts {
		if !p.writes {
			continue
		}
		if err := p.r.process(ctx, p.events); err != nil {
			g.detach(ctx, p.r, err)
			parts = slices.Delete(parts, i, i+1)
			break
		}
	}
	// A checkpoint alone is stored once per CommitInterval (see GroupConfig).
	deferred := g.checkpointOnly && time.Since(g.storedAt) < g.cfg.CommitInterval
	for {
		if deferred || !slices.ContainsFunc(parts, func(p part) bool { return p.writes }) {
			// Nothing to write: the batch passes in memory, without a transaction. The stored
			// checkpoints stay behind until a batch with something to write.
			for _, p := range parts {
				p.r.publish(p.next())
			}
			return nil
		}
		moved, failed, err := g.write(ctx, parts)
		if err != nil {
			return err
		}
		if g.checkpointOnly {
			g.storedAt = time.Now()
		}
		for _, r := range moved {
			g.detach(ctx, r, nil)
		}
		if failed == nil {
			return nil
		}
		// The transaction was rolled back: the others write the batch again, without the one that
		// failed (and without those that moved, which write nothing now).
		g.detach(ctx, failed.r, failed.err)
		parts = slices.DeleteFunc(parts, func(p part) bool { return p.r == failed.r || slices.Contains(moved, p.r) })
	}
}

// failure is a Runner whose Apply failed, and why.
type failure struct {
	r   *Runner
	err error
}

// write makes one attempt at committing parts. Runners whose checkpoint moved are left out and
// returned. When a part's Apply fails, the transaction is rolled back and failed says which; err is
// for what fails for every Runner alike.
func (g *Group) write(ctx context.Context, parts []part) (moved []*Runner, failed *failure, err error) {
	// Prepared before the transaction: with one connection (OpenWriter), preparing in it would wait
	// for the connection the transaction holds.
	lock, err := g.prepared(ctx, lockCheckpointsQuery(len(parts)))
	if err != nil {
		return nil, nil, err
	}
	save, err := g.prepared(ctx, saveCheckpointsQuery(len(parts)))
	if err != nil {
		return nil, nil, err
	}
	tx, err := g.cfg.DB.BeginTx(ctx, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("projections: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	names := make([]string, len(parts))
	for i, p := range parts {
		names[i] = p.r.p.Name()
	}
	stored, err := lockCheckpoints(ctx, tx, lock, names)
	if err != nil {
		return nil, nil, err
	}
	var live []part
	for _, p := range parts {
		if cp, ok := stored[p.r.p.Name()]; !ok || cp != p.r.stored {
			moved = append(moved, p.r)
		} else {
			live = append(live, p)
		}
	}
	saved := make(map[string]checkpoint, len(live))
	for _, p := range live {
		if p.writes {
			if err := p.r.applyIn(ctx, tx, p.r.current().build, p.events); err != nil {
				return moved, &failure{r: p.r, err: err}, nil
			}
		}
		saved[p.r.p.Name()] = p.next()
	}
	if len(moved) > 0 {
		save = nil // prepared for every part
	}
	if err := saveCheckpoints(ctx, tx, save, saved); err != nil {
		return nil, nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, nil, fmt.Errorf("projections: committing: %w", err)
	}
	for _, p := range live {
		next := saved[p.r.p.Name()]
		p.r.stored = next
		p.r.publish(next)
	}
	return moved, nil, nil
}

// prepared returns query prepared on the database, preparing it on first use: the checkpoint
// statements of a batch are parsed once, not once per batch. There are two for each number of read
// models a batch writes, so the set stays small.
func (g *Group) prepared(ctx context.Context, query string) (*sql.Stmt, error) {
	g.stmtsMu.Lock()
	defer g.stmtsMu.Unlock()
	if stmt, ok := g.stmts[query]; ok {
		return stmt, nil
	}
	stmt, err := g.cfg.DB.PrepareContext(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("projections: preparing the checkpoint statements: %w", err)
	}
	g.stmts[query] = stmt
	return stmt, nil
}

// detach takes r off the Group's subscription and starts its catch-up: after a backoff when it failed
// with failure, at once when its checkpoint moved (failure is nil). The caller holds g.mu.
func (g *Group) detach(ctx context.Context, r *Runner, failure error) {
	r.attached = false
	g.catchUps.Add(1)
	go g.catchUp(ctx, r, failure)
}

// catchUp follows the log for r alone, from its stored checkpoint, until it reaches the Group's
// position and joins it again; it retries with a backoff while it fails, as a Runner of its own
// would.
func (g *Group) catchUp(ctx context.Context, r *Runner, failure error) {
	defer g.catchUps.Done()
	backoff := g.cfg.MinBackoff
	err := failure
	if err == nil {
		err = errCheckpointMoved
	}
	for {
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, eventlog.ErrCorrupt) {
			g.fail(err)
			return
		}
		if errors.Is(err, errCheckpointMoved) {
			r.log.Info("projection tables were swapped by a rebuild; following from the new checkpoint")
		} else {
			r.setFailing(err)
			r.log.Warn("projection stopped; catching up alone from its checkpoint", "error", err,
				"position", r.Position().String(), "retry_in", backoff)
			if !g.sleep(ctx, &backoff) {
				return
			}
		}
		// Setting up again re-reads the stored checkpoint: the truth after a failed or moved batch.
		if err = r.setup(ctx); err != nil {
			continue
		}
		var progressed bool
		if progressed, err = g.catchUpFrom(ctx, r); err == nil {
			return
		}
		if progressed {
			backoff = g.cfg.MinBackoff
		}
	}
}

// catchUpFrom subscribes from r's checkpoint and applies batches to r alone until it can join the
// Group again (nil) or something fails.
func (g *Group) catchUpFrom(ctx context.Context, r *Runner) (progressed bool, err error) {
	if g.rejoin(r) {
		return false, nil
	}
	sub, err := g.cfg.Subscribe(ctx, r.Position())
	if err != nil {
		return false, fmt.Errorf("subscribing: %w", err)
	}
	defer func() { _ = sub.Close() }()
	for {
		events, err := sub.Next(ctx, g.cfg.BatchSize)
		if err != nil {
			return progressed, err
		}
		if err := r.applyAlone(ctx, events); err != nil {
			return progressed, err
		}
		progressed = true
		if g.rejoin(r) {
			return progressed, nil
		}
	}
}

// rejoin attaches r to the Group again when the Group's subscription can feed it: r is at or past
// the Group's position, or no Runner is attached (the Group then follows from r's position).
func (g *Group) rejoin(r *Runner) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	idle := len(g.attached()) == 0
	if !idle && r.Position().Before(g.at) {
		return false
	}
	r.attached = true
	if idle {
		select {
		case g.rejoined <- struct{}{}:
		default:
		}
	}
	r.log.Info("projection caught up; following the log with the others", "position", r.Position().String())
	return true
}
