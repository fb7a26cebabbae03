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

// MaxDeleteBatch bounds the streams one DeleteStreams call removes in one transaction. Longer lists
// are split.
const MaxDeleteBatch = 16

// deleteBudget bounds the time one transaction spends deleting streams: the appends committed with
// it wait while it runs. A delivery's stream holds a handful of events, a few hundred microseconds
// of statements, so a transaction deletes a few streams and leaves the rest of its batch to the
// next one.
const deleteBudget = time.Millisecond

// vacuumStep bounds the pages one incremental_vacuum call gives back (128 KiB), so that a large
// delete does not turn into long stalls for the appends: moving a page rewrites it, its parent and
// its pointer-map entry.
const vacuumStep = 32

// DeleteStreams implements eventstore.Pruner. It runs on the writer, at most MaxDeleteBatch streams
// at a time, each time inside the transaction of the next append batch (or alone when no append
// comes), so that appends wait for its statements but not for a commit of its own. The stream that holds the log's last event is
// kept: positions are row ids, one more than the largest, and removing the largest would let the
// next append reuse a position a subscriber has already seen.
//
// The space the events took is reused by later appends. In a file created with
// auto_vacuum=INCREMENTAL (every file this version creates), free pages beyond a reserve of
// Options.FreePagesKept pages are also given back to the file system; a file created before keeps them free
// for reuse, so it stops growing but does not shrink (see docs/operations.md).
func (s *Store) DeleteStreams(ctx context.Context, streams []eventstore.StreamAt) ([]eventstore.StreamAt, error) {
	if s.closed() {
		return nil, ErrClosed
	}
	var kept []eventstore.StreamAt
	for len(streams) > 0 {
		batch := streams[:min(len(streams), MaxDeleteBatch)]
		var k []eventstore.StreamAt
		var done int
		err := s.onWriter(ctx, func(ctx context.Context, conn *sql.Conn) (err error) {
			// The job runs on the writer's goroutine, which owns its revisions.
			k, done, err = deleteStreams(ctx, conn, batch, s.writer.revisions.forget)
			if err != nil {
				return err
			}
			return vacuum(ctx, conn, int64(s.opts.FreePagesKept))
		})
		if err != nil {
			return kept, s.classify(err)
		}
		kept = append(kept, k...)
		streams = streams[done:]
	}
	return kept, nil
}

// onWriter runs fn on the write connection, between append batches.
func (s *Store) onWriter(ctx context.Context, fn func(context.Context, *sql.Conn) error) error {
	job := &writeJob{run: func(_ context.Context, conn *sql.Conn) error { return fn(ctx, conn) }, done: make(chan error, 1)}
	select {
	case s.writer.jobs <- job:
	case <-s.writer.stopped:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	return <-job.done
}

// deleteStreams runs inside a transaction the writer opened and goes through batch until
// deleteBudget has passed, at least one stream; done is how many streams it decided. forget is called with each stream it
// deletes, so that the writer does not take an append to it as one to the stream it knew (were the
// transaction rolled back, the writer would only have forgotten a stream it can read again).
func deleteStreams(ctx context.Context, conn *sql.Conn, batch []eventstore.StreamAt, forget func(stream string)) (kept []eventstore.StreamAt, done int, err error) {
	start := time.Now()
	var lastPosition int64
	if err := conn.QueryRowContext(ctx, "SELECT coalesce(max(position), 0) FROM events").Scan(&lastPosition); err != nil {
		return nil, 0, fmt.Errorf("sqlitestore: delete streams: %w", err)
	}
	for _, at := range batch {
		if done > 0 && time.Since(start) >= deleteBudget {
			return kept, done, nil
		}
		done++
		var id, revision, position int64
		err := conn.QueryRowContext(ctx, `SELECT s.id, e.revision, e.position FROM streams s
			JOIN events e ON e.stream_id = s.id WHERE s.name = ? ORDER BY e.revision DESC LIMIT 1`, at.Stream).
			Scan(&id, &revision, &position)
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
		if _, err := conn.ExecContext(ctx, "DELETE FROM events WHERE stream_id = ?", id); err != nil {
			return nil, 0, fmt.Errorf("sqlitestore: delete %s: %w", at.Stream, err)
		}
		if _, err := conn.ExecContext(ctx, "DELETE FROM streams WHERE id = ?", id); err != nil {
			return nil, 0, fmt.Errorf("sqlitestore: delete %s: %w", at.Stream, err)
		}
	}
	return kept, done, nil
}

// vacuum gives free pages beyond reserve back to the file system, at most vacuumStep at a time,
// when the file was created with auto_vacuum=INCREMENTAL; otherwise it does nothing.
func vacuum(ctx context.Context, conn *sql.Conn, reserve int64) error {
	var mode, free int64
	if err := conn.QueryRowContext(ctx, "PRAGMA auto_vacuum").Scan(&mode); err != nil {
		return fmt.Errorf("sqlitestore: auto_vacuum: %w", err)
	}
	if mode != autoVacuumIncremental {
		return nil
	}
	if err := conn.QueryRowContext(ctx, "PRAGMA freelist_count").Scan(&free); err != nil {
		return fmt.Errorf("sqlitestore: freelist_count: %w", err)
	}
	if free <= reserve {
		return nil
	}
	rows, err := conn.QueryContext(ctx, "PRAGMA incremental_vacuum("+strconv.FormatInt(min(free-reserve, vacuumStep), 10)+")")
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
