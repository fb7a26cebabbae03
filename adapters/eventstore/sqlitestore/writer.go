package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"time"

	"modernc.org/sqlite"

	"github.com/hookd/hookd/domain/eventlog"
)

// appendRequest is one Append call waiting for the writer.
type appendRequest struct {
	ctx      context.Context
	stream   string
	expected eventlog.ExpectedRevision
	events   []eventlog.EventData
	// stored is events as their rows hold them (see store).
	stored []storedEvent
	// done receives exactly one outcome; its buffer of one lets the writer answer a caller that
	// has stopped waiting.
	done chan appendOutcome
}

type appendOutcome struct {
	result eventlog.AppendResult
	err    error
}

// writer owns the single write connection. It takes appends from a queue and commits as many as are
// waiting in one transaction, so a batch costs one fsync however many callers it serves.
type writer struct {
	conn  *sql.Conn
	stmts writerStatements
	queue chan *appendRequest
	// jobs takes work other than appends (retention's deletes). The writer holds one at a time,
	// job, and runs it in small steps while no append is queued (see writeJob).
	jobs chan *writeJob
	job  *writeJob
	// restUntil is when a gentle job's next step may start.
	restUntil time.Time
	// checkpointed is how many pages the connection had written (its WAL frames) when a job's
	// checkpoint was last run or asked for (see checkpoint).
	checkpointed int
	// checkpointer copies the WAL back beside the writer during jobs (checkpointer.go).
	checkpointer *checkpointer
	// copying is not nil while the checkpointer copies the WAL back for a job that is not gentle:
	// the job takes no step until it receives (see checkpoint).
	copying <-chan struct{}
	// maxBatch caps the appends one transaction commits.
	maxBatch int
	// revisions is what the writer knows of the streams it appended to last; dataVersion is the
	// file's PRAGMA data_version when it last looked, which changes when another process commits.
	revisions   *revisions
	dataVersion int64
	logger      *slog.Logger
	// lastPage is what the writer knows of the events table's last page (fill.go).
	lastPage lastPage
	// committed is called with the events of each batch that wrote some, once it is committed, and
	// the position the log ended at before them.
	committed func(after uint64, events []eventlog.RecordedEvent)
	// closing tells the writer to stop; stopped is closed once it has.
	closing <-chan struct{}
	stopped chan struct{}
}

// run serves the queue until closing is closed, then fails whatever is still queued. ctx carries
// values only: a batch that has begun is always finished.
func (w *writer) run(ctx context.Context) {
	defer close(w.stopped)
	for {
		var req *appendRequest
		switch {
		case w.job == nil:
			select {
			case <-w.closing:
				w.fail()
				return
			case req = <-w.queue:
			case w.job = <-w.jobs:
				continue
			}
		default:
			select {
			case <-w.closing:
				w.fail()
				return
			case req = <-w.queue:
			default:
				rest := w.rest()
				if rest <= 0 && !w.awaitsCopy() {
					// No append is waiting: a step of the job, which the appends arriving during
					// it join (see writeJob).
					w.commit(ctx, nil)
					continue
				}
				// A gentle job rests, or the job waits for the checkpointer's copy; an append may
				// come meanwhile.
				if req = w.await(rest); req == nil {
					continue
				}
			}
		}
		// Under load the queue is never empty, so Close must win over it explicitly.
		select {
		case <-w.closing:
			w.fail(req)
			return
		default:
		}
		batch := w.collect(req)
		if w.job == nil {
			select {
			case w.job = <-w.jobs:
			default:
			}
		}
		if len(batch) > 0 {
			w.commit(ctx, batch)
		}
	}
}

// writeJob is work for the write connection (retention's deletes), done in steps. Each step runs
// inside a transaction the writer opened, should stop once it has worked for budget or as soon
// as yield reports true (after some work, so that it progresses), and reports whether the job is
// finished. A step's work counts once its transaction commits: if that fails, the job ends with
// the error. done receives the job's result (buffered, so that a caller that stopped waiting does
// not hold the writer).
//
// While no append is queued, a step starts alone and stops, once it has worked minStep, at the
// first append that arrives, which then joins the step's transaction: so an append waits for at
// most minStep and the statement in progress, and for one commit with at most maxStep of the
// job's work, never for a commit of the job's own before its own. A batch of appends that finds
// no step in progress carries one after its appends, as long as they took (at least stepBudget),
// so that the job gets about half of a writer that never idles however slow the machine is, and
// deleting keeps up with appending: capped at a fixed time, such steps fell behind the inflow on
// a slow machine (under -race, TestRetentionKeepsTheDataDirectoryAtAPlateau grew without a
// plateau). On a quiet machine a batch's appends take well under a millisecond, so the carried
// step is stepBudget.
//
// A gentle job (its caller keeps up with what expires) leaves the writer to the appends as much as
// it can without stopping: its steps start only while no append is queued and stop at the first
// that arrives (after one stream at least), they rest restFactor times as long as their
// transaction took, and no batch of appends carries one. An append then waits for one stream's
// statements and a commit a little larger than its own (docs/benchmarks.md, Retention); the
// deletes go far slower, which the caller trades for it only while it keeps up.
type writeJob struct {
	step func(ctx context.Context, conn *sql.Conn, budget time.Duration, yield func() bool) (finished bool, err error)
	done chan error
	// gentle: rest between steps, and keep carried steps short.
	gentle bool
}

// The bounds of a job's steps. Measured with BenchmarkDeleteExpiredDeliveries (docs/benchmarks.md,
// "Retention"): the appends' waits during deletes are commits made larger by the job's pages and
// checkpoints of the pages the job dirties, so steps are small and the WAL is copied back in small
// pieces during deletes (see checkpoint).
const (
	// minStep is how long a step alone works before it yields to an append, so that under a
	// steady stream of appends a step still does some work for its commit; maxStep is the most
	// a step alone works.
	minStep = time.Millisecond
	maxStep = 2 * time.Millisecond
	// stepBudget is the least a step carried by an append batch gets.
	stepBudget = time.Millisecond
	// restFactor is how many times as long as its last step's transaction a gentle job rests.
	restFactor = 3
	// checkpointFrames: while it holds a job that is not gentle, the writer asks the checkpointer
	// to copy the WAL back beside it (PRAGMA wal_checkpoint(PASSIVE)) whenever its commits wrote
	// this many pages since it last did, so that SQLite's automatic checkpoint (10,000 pages, tens
	// to hundreds of milliseconds inside some append's commit) does not come due during deletes,
	// and the job takes no step until the copy is done: the appends go on alone meanwhile, each
	// waiting for its own commit beside the copy. Until 2026-12-06 the writer copied inline,
	// between its commits while no append waited, and an append that arrived meanwhile waited for
	// the copy (4 ms at the median, about 70 a second behind): that was most of the appends'
	// slowest waits. With the copy beside and the steps paused, behind's p99 during deletes was
	// lower in 8 pairs of 9 (level in the ninth), the deletes no slower (docs/benchmarks.md,
	// "Appends while deleting behind, the WAL copied beside the writer with the steps paused").
	// With the steps going on beside the copy, as a gentle job's do, the copy's writes delayed the
	// step-laden commits' fsyncs and the p99 rose (gentleCheckpointFrames). The copies stay small:
	// inline, 250 pages rather than 1,000 cut the p99 behind by a fifth ("Smaller checkpoints
	// during deletes"), and beside the writer with the steps paused 1,000 gave no lower p99
	// (higher in 2 pairs of 3).
	checkpointFrames = 250
	// gentleCheckpointFrames: while it holds a gentle job, the writer asks the checkpointer
	// likewise whenever its commits wrote this many pages, and the job's steps go on beside the
	// copy. A gentle job leaves the writer and the disk mostly idle, and the copy's writes fit in
	// between the commits: the appends' p99 during deletes was about half of the inline
	// checkpoint's, their longest waits no longer (shorter in 4 pairs of 6), the deletes no slower.
	// Beside the writer the copy need not be small: with 250 pages the p99 was about a third
	// higher than with 1,000. Behind, with the steps going on beside it, the p99 rose by a sixth
	// to four fifths (docs/benchmarks.md, "A checkpointer beside the writer while keeping up"): the
	// steps pause instead (checkpointFrames).
	gentleCheckpointFrames = 1000
)

// end answers the job the writer holds with err and lets it go.
func (w *writer) end(err error) {
	w.job.done <- err
	w.job = nil
}

// stepWithin runs a step of the job the writer holds inside the open transaction, under a
// savepoint, so that its failure undoes its own statements only.
func (w *writer) stepWithin(ctx context.Context, budget time.Duration, yield func() bool) (finished bool, err error) {
	if _, err := w.conn.ExecContext(ctx, "SAVEPOINT job"); err != nil {
		return false, fmt.Errorf("sqlitestore: savepoint: %w", err)
	}
	finished, jobErr := w.job.step(ctx, w.conn, budget, yield)
	if jobErr != nil {
		if _, err := w.conn.ExecContext(ctx, "ROLLBACK TO job"); err != nil {
			return false, err
		}
	}
	if _, err := w.conn.ExecContext(ctx, "RELEASE job"); err != nil {
		return false, err
	}
	return finished, jobErr
}

// queued reports whether an append is waiting for the writer.
func (w *writer) queued() bool { return len(w.queue) > 0 }

// rest returns how long the job held has yet to rest before its next step: only a gentle job rests.
func (w *writer) rest() time.Duration {
	if w.job == nil || !w.job.gentle {
		return 0
	}
	return time.Until(w.restUntil)
}

// await waits for an append, and returns it: up to d when d is positive, and until the
// checkpointer's copy ends while the writer waits for one. It returns nil when none came or the
// writer is closing (which the caller's next look at closing sees).
func (w *writer) await(d time.Duration) *appendRequest {
	var rested <-chan time.Time
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		rested = t.C
	}
	select {
	case req := <-w.queue:
		return req
	case <-w.copying:
		w.copying = nil
	case <-w.closing:
	case <-rested:
	}
	return nil
}

// fail answers the job held, taken and every request still queued with ErrClosed.
func (w *writer) fail(taken ...*appendRequest) {
	if w.job != nil {
		w.end(ErrClosed)
	}
	for _, req := range taken {
		req.done <- appendOutcome{err: ErrClosed}
	}
	for {
		select {
		case req := <-w.queue:
			req.done <- appendOutcome{err: ErrClosed}
		default:
			return
		}
	}
}

// collect starts a batch with first and adds whatever else is queued, up to maxBatch. Callers that
// gave up while queued are answered and left out.
func (w *writer) collect(first *appendRequest) []*appendRequest {
	batch := take(make([]*appendRequest, 0, min(w.maxBatch, len(w.queue)+1)), first)
	yielded := false
	for len(batch) < w.maxBatch {
		select {
		case req := <-w.queue:
			batch = take(batch, req)
		default:
			if yielded {
				if len(batch) >= 2 {
					return w.linger(batch)
				}
				return batch
			}
			// Callers answered by the last batch are usually runnable and about to append again;
			// letting them run first makes this batch larger at the cost of a few microseconds.
			runtime.Gosched()
			yielded = true
		}
	}
	return batch
}

// take adds req to batch, unless its caller gave up while it was queued: that caller is answered.
func take(batch []*appendRequest, req *appendRequest) []*appendRequest {
	if err := req.ctx.Err(); err != nil {
		req.done <- appendOutcome{err: err}
		return batch
	}
	return append(batch, req)
}

// Lingering: a commit writes whole pages (the end of the events table, the index pages its
// appends touch, the file's header, a pointer-map page), so a small commit writes several times
// the bytes of its events, and at a steady rate below what the disk can commit every commit is
// small. When appends were already queued, which says that others are arriving, the writer waits
// for more while they keep coming: at most lingerGap between two, lingerMax in all. A lone append
// is never held.
const (
	lingerGap = 250 * time.Microsecond
	lingerMax = time.Millisecond
)

// linger adds to batch the appends that arrive within lingerGap of each other, for at most
// lingerMax, up to maxBatch.
func (w *writer) linger(batch []*appendRequest) []*appendRequest {
	deadline := time.Now().Add(lingerMax)
	gap := time.NewTimer(lingerGap)
	defer gap.Stop()
	for len(batch) < w.maxBatch {
		select {
		case req := <-w.queue:
			batch = take(batch, req)
			left := time.Until(deadline)
			if left <= 0 {
				return batch
			}
			gap.Reset(min(lingerGap, left))
		case <-gap.C:
			return batch
		case <-w.closing:
			return batch
		}
	}
	return batch
}

// commit writes batch in one transaction and answers every request in it. A conflict answers only
// its own caller. Any other failure (a lock held by another process past the busy timeout, a full
// disk) rolls the whole batch back and answers every caller with it; their events carry ids, so
// retrying is safe. An empty batch is a step of the job held, which takes the appends that arrive
// during it.
func (w *writer) commit(ctx context.Context, batch []*appendRequest) {
	var step jobStep
	batch, outcomes, written, err := w.write(ctx, batch, &step)
	if step.ran {
		// After the batch is answered.
		defer w.checkpoint()
	}
	if w.job != nil {
		switch {
		case err != nil:
			w.end(classify(err))
		case step.err != nil:
			w.end(step.err)
		case step.finished:
			w.end(nil)
		}
	}
	if err != nil {
		w.logger.Error("sqlitestore: append batch failed", "appends", len(batch), "error", err)
		err = classify(err)
		for _, req := range batch {
			req.done <- appendOutcome{err: err}
		}
		return
	}
	if len(written) > 0 {
		w.committed(written[0].Position.Commit-1, written)
	}
	for i, req := range batch {
		req.done <- outcomes[i]
	}
}

// checkpoint has the checkpointer copy the WAL back into the file beside the writer (PASSIVE: as
// far as readers allow) while the writer holds a job and its commits wrote enough pages since the
// last time (gentleCheckpointFrames, checkpointFrames), so that SQLite's automatic checkpoint of
// ten times as many does not come due inside an append's commit. For a job that is not gentle the
// job then takes no step until the copy is done (copying): the appends go on alone meanwhile,
// each waiting for its own commit beside the copy, not for the copy. When the writer cannot tell
// how many pages it wrote, it asks anyway.
func (w *writer) checkpoint() {
	if w.job == nil {
		return
	}
	var frames int
	err := w.conn.Raw(func(dc any) error {
		status, ok := dc.(sqlite.DBStatus)
		if !ok {
			return fmt.Errorf("sqlitestore: driver connection %T has no DBStatus", dc)
		}
		var err error
		frames, _, err = status.Status(sqlite.DBStatusCacheWrite, false)
		return err
	})
	every := checkpointFrames
	if w.job.gentle {
		every = gentleCheckpointFrames
	}
	if err == nil && frames-w.checkpointed < every {
		return
	}
	w.checkpointed = frames
	if w.job.gentle {
		w.checkpointer.request()
		return
	}
	w.copying = w.checkpointer.copy()
}

// awaitsCopy reports whether the job held waits for the checkpointer's copy (see checkpoint).
func (w *writer) awaitsCopy() bool {
	if w.copying == nil {
		return false
	}
	select {
	case <-w.copying:
		w.copying = nil
		return false
	default:
		return true
	}
}

// jobStep is the outcome of a job's step run in a transaction.
type jobStep struct {
	ran, finished bool
	err           error
}

// write runs batch in one transaction and returns the events it added, in log order. Their positions
// follow each other without a gap: each is one more than the largest, under the write lock.
//
// An empty batch starts with a step of the job held, up to maxStep and until an append arrives
// after minStep; the appends queued by then are the batch, returned. Otherwise a step runs after
// the appends, as long as they took. A step's outcome goes to step, and its error
// leaves the appends alone.
func (w *writer) write(ctx context.Context, batch []*appendRequest, step *jobStep) (_ []*appendRequest, outcomes []appendOutcome, written []eventlog.RecordedEvent, err error) {
	if _, err := w.stmts.begin.ExecContext(ctx); err != nil {
		return batch, nil, nil, fmt.Errorf("sqlitestore: begin: %w", err)
	}
	defer func() {
		if err != nil {
			// After a failed COMMIT the transaction may or may not still be open; a ROLLBACK
			// that finds none is harmless.
			_, _ = w.stmts.rollback.ExecContext(ctx)
			w.revisions.discard()
			w.lastPage.known = false
			return
		}
		w.revisions.settle()
	}()
	if err := w.checkDataVersion(ctx); err != nil {
		return batch, nil, nil, err
	}
	var stepStarted time.Time
	if len(batch) == 0 && w.job != nil {
		step.ran = true
		start := time.Now()
		stepStarted = start
		gentle := w.job.gentle
		step.finished, step.err = w.stepWithin(ctx, maxStep, func() bool { return w.queued() && (gentle || time.Since(start) >= minStep) })
		select {
		case req := <-w.queue:
			batch = w.collect(req)
		default:
		}
	}
	if len(batch) > 1 {
		if err := w.knowLastPage(ctx); err != nil {
			return batch, nil, nil, err
		}
		batch = fillOrder(batch, w.lastPage.free, w.lastPage.usable)
	}
	began := time.Now()
	created := began.UnixNano()
	outcomes = make([]appendOutcome, len(batch))
	for i, req := range batch {
		var result eventlog.AppendResult
		result, written, err = w.appendOne(ctx, req, created, written)
		if err != nil {
			if errors.Is(err, eventlog.ErrWrongExpectedVersion) {
				outcomes[i].err = err
				continue
			}
			return batch, nil, nil, fmt.Errorf("sqlitestore: append to %s: %w", req.stream, err)
		}
		outcomes[i].result = result
	}
	if !step.ran && w.job != nil && !w.job.gentle && !w.awaitsCopy() {
		step.ran = true
		step.finished, step.err = w.stepWithin(ctx, max(stepBudget, time.Since(began)), nil)
	}
	if _, err := w.stmts.commit.ExecContext(ctx); err != nil {
		return batch, nil, nil, fmt.Errorf("sqlitestore: commit: %w", err)
	}
	if !stepStarted.IsZero() {
		// A gentle job's rest counts from here (see writeJob).
		now := time.Now()
		w.restUntil = now.Add(restFactor * now.Sub(stepStarted))
	}
	return batch, outcomes, written, nil
}

// appendOne checks req's expectation against the stream as this transaction sees it, which includes
// the appends earlier in the batch and every commit by another process, and writes its events. It
// returns written with the events it wrote added: none for a conflict or an idempotent repeat.
func (w *writer) appendOne(ctx context.Context, req *appendRequest, created int64, written []eventlog.RecordedEvent) (eventlog.AppendResult, []eventlog.RecordedEvent, error) {
	expected := req.expected.Version()
	last := expected + int64(len(req.events))
	streamID, ok, err := w.advance(ctx, req.stream, expected, last)
	if err != nil {
		return eventlog.AppendResult{}, written, err
	}
	if !ok {
		result, err := w.repeated(ctx, req)
		return result, written, err
	}
	var position int64
	for i, ev := range req.events {
		revision := expected + 1 + int64(i)
		st := req.stored[i]
		res, err := w.stmts.insertEvent.ExecContext(ctx,
			streamID, revision, created, ev.ID[:], ev.Type, st.data, st.packed, st.metadata)
		if err != nil {
			return eventlog.AppendResult{}, written, err
		}
		if position, err = res.LastInsertId(); err != nil {
			return eventlog.AppendResult{}, written, err
		}
		if w.lastPage.known {
			w.lastPage.add(cellSize(w.lastPage.usable, position, streamID, revision, ev.Type, st))
		}
		written = append(written, recorded(req.stream, revision, position, created, ev))
	}
	return eventlog.AppendResult{Revision: uint64(last), Position: positionOf(position)}, written, nil
}

// recorded is ev as a read of the file would return it. Its bytes are copied: the appender's slices
// are the appender's.
func recorded(stream string, revision, position, created int64, ev eventlog.EventData) eventlog.RecordedEvent {
	r := eventlog.RecordedEvent{
		Stream: stream, Revision: uint64(revision), Position: positionOf(position), ID: ev.ID, Type: ev.Type,
		Created: time.Unix(0, created).UTC(),
	}
	// The file gives back no bytes as nil, whether they went in empty or nil.
	buf := make([]byte, 0, len(ev.Data)+len(ev.Metadata))
	if len(ev.Data) > 0 {
		buf = append(buf, ev.Data...)
		r.Data = buf[:len(buf):len(buf)]
	}
	if len(ev.Metadata) > 0 {
		r.Metadata = append(buf[len(buf):], ev.Metadata...)
	}
	return r
}

// checkDataVersion empties the writer's revisions when another process committed to the file
// since the writer last looked: it may have appended to any stream. It runs inside the batch's
// transaction, which holds the write lock, so nothing can commit between it and the batch.
func (w *writer) checkDataVersion(ctx context.Context) error {
	var version int64
	if err := w.stmts.dataVersion.QueryRowContext(ctx).Scan(&version); err != nil {
		return fmt.Errorf("sqlitestore: data_version: %w", err)
	}
	if version != w.dataVersion {
		w.revisions.reset()
		w.lastPage.known = false
		w.dataVersion = version
	}
	return nil
}

// advance checks that stream is at revision expected (-1: no stream), records that the batch moves
// it to last and returns its row id; ok is false when the stream is not at expected. A stream the
// writer knows costs no statement; a new one costs its insert, another one read.
func (w *writer) advance(ctx context.Context, stream string, expected, last int64) (streamID int64, ok bool, err error) {
	if at, known := w.revisions.lookup(stream); known {
		if at.revision != expected {
			return 0, false, nil
		}
		w.revisions.advance(stream, streamAt{id: at.id, revision: last})
		return at.id, true, nil
	}
	if expected < 0 {
		res, err := w.stmts.createStream.ExecContext(ctx, stream)
		if err != nil {
			return 0, false, err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return 0, false, err
		}
		if streamID, err = res.LastInsertId(); err != nil {
			return 0, false, err
		}
	} else {
		current := int64(-1)
		err := w.stmts.selectStream.QueryRowContext(ctx, stream).Scan(&streamID, &current)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && current != expected) {
			return 0, false, nil
		}
		if err != nil {
			return 0, false, err
		}
	}
	w.revisions.advance(stream, streamAt{id: streamID, revision: last})
	return streamID, true, nil
}

// repeated decides an append whose expectation does not match, the way KurrentDB does, without an
// index on event ids: if the events right after the expected revision carry the same ids, in order,
// the append already happened and its first result is returned; otherwise it is a conflict.
func (w *writer) repeated(ctx context.Context, req *appendRequest) (eventlog.AppendResult, error) {
	streamID, current := int64(0), int64(-1)
	err := w.stmts.selectStream.QueryRowContext(ctx, req.stream).Scan(&streamID, &current)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return eventlog.AppendResult{}, err
	}
	conflict := &eventlog.WrongExpectedVersionError{Stream: req.stream, Expected: req.expected, Actual: current}
	first := req.expected.Version() + 1
	last := first + int64(len(req.events)) - 1
	if current < last {
		return eventlog.AppendResult{}, conflict
	}
	rows, err := w.stmts.selectIDs.QueryContext(ctx, streamID, first, last)
	if err != nil {
		return eventlog.AppendResult{}, err
	}
	defer rows.Close()
	var position int64
	for i := 0; rows.Next(); i++ {
		var id sql.RawBytes
		if err := rows.Scan(&position, &id); err != nil {
			return eventlog.AppendResult{}, err
		}
		if i >= len(req.events) || string(id) != string(req.events[i].ID[:]) {
			return eventlog.AppendResult{}, conflict
		}
	}
	if err := rows.Err(); err != nil {
		return eventlog.AppendResult{}, err
	}
	return eventlog.AppendResult{Revision: uint64(last), Position: positionOf(position)}, nil
}

// writerStatements are prepared once on the write connection; a batch runs nothing else.
type writerStatements struct {
	begin, commit, rollback *sql.Stmt
	dataVersion             *sql.Stmt
	createStream            *sql.Stmt
	selectStream            *sql.Stmt
	insertEvent             *sql.Stmt
	selectIDs               *sql.Stmt
	// The events table's root page and a page's bytes (fill.go).
	eventsRoot, page *sql.Stmt
	// Retention's deletes (prune.go).
	lastPosition, streamEnd, deleteEvents, deleteStream, autoVacuum, freelist *sql.Stmt
}

func prepareWriter(ctx context.Context, conn *sql.Conn) (writerStatements, error) {
	var s writerStatements
	var errs []error
	prepare := func(query string) *sql.Stmt {
		stmt, err := conn.PrepareContext(ctx, query)
		if err != nil {
			errs = append(errs, fmt.Errorf("sqlitestore: prepare %q: %w", query, err))
		}
		return stmt
	}
	// BEGIN IMMEDIATE takes the write lock up front. A deferred transaction that read first would
	// fail without waiting if another process committed in between.
	s.begin = prepare("BEGIN IMMEDIATE")
	s.commit = prepare("COMMIT")
	s.rollback = prepare("ROLLBACK")
	s.dataVersion = prepare("PRAGMA data_version")
	s.createStream = prepare("INSERT INTO streams (name) VALUES (?) ON CONFLICT (name) DO NOTHING")
	// A stream's revision is its last event's: the end of its range in events_stream_revision.
	s.selectStream = prepare(`SELECT id, coalesce((SELECT max(revision) FROM events WHERE stream_id = streams.id), -1)
		FROM streams WHERE name = ?`)
	s.insertEvent = prepare(`INSERT INTO events (stream_id, revision, created, id, type, data, packed, metadata)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
	s.selectIDs = prepare(`SELECT position, id FROM events
		WHERE stream_id = ? AND revision BETWEEN ? AND ? ORDER BY revision`)
	s.eventsRoot = prepare("SELECT rootpage FROM sqlite_schema WHERE type = 'table' AND name = 'events'")
	s.page = prepare("SELECT data FROM sqlite_dbpage WHERE pgno = ?")
	s.lastPosition = prepare("SELECT coalesce(max(position), 0) FROM events")
	s.streamEnd = prepare(`SELECT s.id, e.revision, e.position FROM streams s
		JOIN events e ON e.stream_id = s.id WHERE s.name = ? ORDER BY e.revision DESC LIMIT 1`)
	s.deleteEvents = prepare("DELETE FROM events WHERE stream_id = ?")
	s.deleteStream = prepare("DELETE FROM streams WHERE id = ?")
	s.autoVacuum = prepare("PRAGMA auto_vacuum")
	s.freelist = prepare("PRAGMA freelist_count")
	if err := errors.Join(errs...); err != nil {
		s.close()
		return writerStatements{}, err
	}
	return s, nil
}

func (s writerStatements) close() error {
	var errs []error
	for _, stmt := range []*sql.Stmt{s.begin, s.commit, s.rollback, s.dataVersion, s.createStream,
		s.selectStream, s.insertEvent, s.selectIDs, s.eventsRoot, s.page, s.lastPosition, s.streamEnd, s.deleteEvents, s.deleteStream,
		s.autoVacuum, s.freelist} {
		if stmt != nil {
			errs = append(errs, stmt.Close())
		}
	}
	return errors.Join(errs...)
}
