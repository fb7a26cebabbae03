package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/hookd/hookd/application/eventstore"
)

var _ eventstore.Pruner = (*Store)(nil)

// vacuumStep bounds the pages one incremental_vacuum call gives back (128 KiB), so that a large
// delete does not turn into long stalls for the appends: moving a page rewrites it, its parent and
// its pointer-map entry. A step gives back at most one page per stream it went through: a
// delivery's streams free about a page, and a step cut short by an append (one stream) would
// otherwise move 32 pages for it, which made deletes half as fast (docs/benchmarks.md).
const vacuumStep = 32

// DeleteStreams implements eventstore.Pruner. It runs on the writer in small steps paced to leave
// the writer and the disk to the appends (see writeJob): a step starts while no append is queued
// and stops at the first that arrives, which joins its transaction, so that an append waits for
// one stream's statements and a shared commit, not for a commit of the deletes' own. The stream
// that holds the log's last event is kept: positions are row ids, one more than the largest, and
// removing the largest would let the next append reuse a position a subscriber has already seen.
//
// The space the events took is reused by later appends. In a file created with
// auto_vacuum=INCREMENTAL (every file this version creates), free pages beyond a reserve of
// Options.FreePagesKept pages are also given back to the file system, at most a page per stream a
// step went through and vacuumStep pages a step; a file created before keeps them free for reuse,
// so it stops growing but does not shrink (see docs/operations.md).
//
// At eventstore.KeepingUp the steps rest between them, and one carried by a batch of appends is
// short, so that the appends' latency stays near what it is without deletes; at eventstore.Behind
// they take about half of the writer (see writeJob).
//
// If a step's transaction fails, DeleteStreams returns the error; the steps committed before it
// stay done, and deleting a stream already gone is a no-op, so calling it again is safe.
func (s *Store) DeleteStreams(ctx context.Context, streams []eventstore.StreamAt, pace eventstore.Pace) ([]eventstore.StreamAt, error) {
	if s.closed() {
		return nil, ErrClosed
	}
	var kept []eventstore.StreamAt
	left := streams
	err := s.onWriter(ctx, pace == eventstore.KeepingUp, func(conn *sql.Conn, budget time.Duration, yield func() bool) (bool, error) {
		// The step runs on the writer's goroutine, which owns its revisions.
		k, done, err := deleteStreams(ctx, s.writer.stmts, left, budget, yield, s.writer.revisions.forget)
		if err != nil {
			return false, err
		}
		if err := vacuum(ctx, conn, s.writer.stmts, int64(s.opts.FreePagesKept), min(int64(done), vacuumStep)); err != nil {
			return false, err
		}
		// Were the transaction to fail, the job ends with its error: what the step decided
		// counts only once it committed, and no later step runs.
		kept = append(kept, k...)
		left = left[done:]
		return len(left) == 0, nil
	})
	if err != nil {
		return kept, s.classify(err)
	}
	return kept, nil
}

// onWriter runs step on the write connection until it reports that it is finished (see writeJob),
// gently or not.
func (s *Store) onWriter(ctx context.Context, gentle bool, step func(conn *sql.Conn, budget time.Duration, yield func() bool) (finished bool, err error)) error {
	job := &writeJob{
		step: func(_ context.Context, conn *sql.Conn, budget time.Duration, yield func() bool) (bool, error) {
			return step(conn, budget, yield)
		},
		done:   make(chan error, 1),
		gentle: gentle,
	}
	select {
	case s.writer.jobs <- job:
	case <-s.writer.stopped:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	return <-job.done
}

// deleteStreams runs inside a transaction the writer opened and goes through batch until budget
// has passed or yield (if not nil) reports that an append is waiting, at least one stream; done
// is how many streams it decided. A delivery's stream holds
// a handful of events, a few hundred microseconds of statements. forget is called with each stream it
// deletes, so that the writer does not take an append to it as one to the stream it knew (were the
// transaction rolled back, the writer would only have forgotten a stream it can read again).
func deleteStreams(ctx context.Context, stmts writerStatements, batch []eventstore.StreamAt, budget time.Duration, yield func() bool, forget func(stream string)) (kept []eventstore.StreamAt, done int, err error) {
	start := time.Now()
	var lastPosition int64
	if err := stmts.lastPosition.QueryRowContext(ctx).Scan(&lastPosition); err != nil {
		return nil, 0, fmt.Errorf("sqlitestore: delete streams: %w", err)
	}
	for _, at := range batch {
		if done > 0 && (time.Since(start) >= budget || (yield != nil && yield())) {
			return kept, done, nil
		}
		done++
		var id, revision, position int64
		err := stmts.streamEnd.QueryRowContext(ctx, at.Stream).Scan(&id, &revision, &position)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			continue
		case err != nil:
			return nil, 0, fmt.Errorf("sqlitestore: delete %s: %w", at.Stream, err)
		case revision != clamp(at.Revision) || position == lastPosition:
			kept = append(kept, at)
			continue
		}
		forget(at.Stream)
		if _, err := stmts.deleteEvents.ExecContext(ctx, id); err != nil {
			return nil, 0, fmt.Errorf("sqlitestore: delete %s: %w", at.Stream, err)
		}
		if _, err := stmts.deleteStream.ExecContext(ctx, id); err != nil {
			return nil, 0, fmt.Errorf("sqlitestore: delete %s: %w", at.Stream, err)
		}
	}
	return kept, done, nil
}

// vacuum gives free pages beyond reserve back to the file system, at most pages of them, when the
// file was created with auto_vacuum=INCREMENTAL; otherwise it does nothing.
func vacuum(ctx context.Context, conn *sql.Conn, stmts writerStatements, reserve, pages int64) error {
	var mode, free int64
	if err := stmts.autoVacuum.QueryRowContext(ctx).Scan(&mode); err != nil {
		return fmt.Errorf("sqlitestore: auto_vacuum: %w", err)
	}
	if mode != autoVacuumIncremental {
		return nil
	}
	if err := stmts.freelist.QueryRowContext(ctx).Scan(&free); err != nil {
		return fmt.Errorf("sqlitestore: freelist_count: %w", err)
	}
	if free <= reserve {
		return nil
	}
	rows, err := conn.QueryContext(ctx, "PRAGMA incremental_vacuum("+strconv.FormatInt(min(free-reserve, pages), 10)+")")
	if err != nil {
		return fmt.Errorf("sqlitestore: incremental_vacuum: %w", err)
	}
	for rows.Next() {
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlitestore: incremental_vacuum: %w", err)
	}
	return rows.Close()
}

// autoVacuumIncremental is PRAGMA auto_vacuum's value for INCREMENTAL.
const autoVacuumIncremental = 2
