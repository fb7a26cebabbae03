package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/hookd/hookd/domain/eventlog"
)

// readStatements are prepared on the read pool; database/sql prepares each again on every pooled
// connection that runs it, once.
type readStatements struct {
	stream, backwards, all, last *sql.Stmt
}

const eventColumns = "e.position, e.revision, e.created, e.id, e.type, e.data, e.packed, e.metadata"

func prepareReads(ctx context.Context, db *sql.DB) (readStatements, error) {
	var s readStatements
	var errs []error
	prepare := func(query string) *sql.Stmt {
		stmt, err := db.PrepareContext(ctx, query)
		if err != nil {
			errs = append(errs, fmt.Errorf("sqlitestore: prepare %q: %w", query, err))
		}
		return stmt
	}
	// A negative LIMIT is no limit.
	s.stream = prepare(`SELECT ` + eventColumns + `, s.name FROM streams s JOIN events e ON e.stream_id = s.id
		WHERE s.name = ? AND e.revision >= ? ORDER BY e.revision LIMIT ?`)
	s.backwards = prepare(`SELECT ` + eventColumns + `, s.name FROM streams s JOIN events e ON e.stream_id = s.id
		WHERE s.name = ? AND e.revision <= ? ORDER BY e.revision DESC LIMIT ?`)
	s.all = prepare(`SELECT ` + eventColumns + `, s.name FROM events e JOIN streams s ON s.id = e.stream_id
		WHERE e.position > ? ORDER BY e.position LIMIT ?`)
	s.last = prepare(`SELECT coalesce(max(position), 0) FROM events`)
	if err := errors.Join(errs...); err != nil {
		s.close()
		return readStatements{}, err
	}
	return s, nil
}

func (s readStatements) close() error {
	var errs []error
	for _, stmt := range []*sql.Stmt{s.stream, s.backwards, s.all, s.last} {
		if stmt != nil {
			errs = append(errs, stmt.Close())
		}
	}
	return errors.Join(errs...)
}

// ReadStream implements eventstore.Store.ReadStream.
func (s *Store) ReadStream(ctx context.Context, stream string, from uint64, limit int) ([]eventlog.RecordedEvent, error) {
	return s.query(ctx, s.reads.stream, stream, clamp(from), sqlLimit(limit))
}

// ReadStreamBackwards implements eventstore.Store.ReadStreamBackwards.
func (s *Store) ReadStreamBackwards(ctx context.Context, stream string, from uint64, limit int) ([]eventlog.RecordedEvent, error) {
	return s.query(ctx, s.reads.backwards, stream, clamp(from), sqlLimit(limit))
}

// ReadAll implements eventstore.Store.ReadAll. A limit <= 0 reads to the end of the log.
func (s *Store) ReadAll(ctx context.Context, after eventlog.Position, limit int) ([]eventlog.RecordedEvent, error) {
	return s.query(ctx, s.reads.all, rowIDOf(after), sqlLimit(limit))
}

// LastPosition implements eventstore.Store.LastPosition.
func (s *Store) LastPosition(ctx context.Context) (eventlog.Position, error) {
	if s.closed() {
		return eventlog.Position{}, ErrClosed
	}
	var last int64
	if err := s.reads.last.QueryRowContext(ctx).Scan(&last); err != nil {
		return eventlog.Position{}, fmt.Errorf("sqlitestore: last position: %w", s.classify(err))
	}
	return positionOf(last), nil
}

func (s *Store) query(ctx context.Context, stmt *sql.Stmt, args ...any) ([]eventlog.RecordedEvent, error) {
	if s.closed() {
		return nil, ErrClosed
	}
	rows, err := stmt.QueryContext(ctx, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: read: %w", s.classify(err))
	}
	defer rows.Close()
	var events []eventlog.RecordedEvent
	for rows.Next() {
		ev, err := scanEvent(rows)
		if err != nil {
			return nil, err
		}
		events = append(events, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlitestore: read: %w", s.classify(err))
	}
	return events, nil
}

// scanEvent maps one row of eventColumns plus the stream name to the domain type; it is the only
// place that knows how an event is stored.
func scanEvent(rows *sql.Rows) (eventlog.RecordedEvent, error) {
	var (
		ev                 eventlog.RecordedEvent
		position, revision int64
		created            int64
		id, data, metadata sql.RawBytes
		packed             int64
	)
	if err := rows.Scan(&position, &revision, &created, &id, &ev.Type, &data, &packed, &metadata, &ev.Stream); err != nil {
		return ev, fmt.Errorf("sqlitestore: read: %w", err)
	}
	var err error
	if ev.Data, ev.Metadata, err = unpackEvent(data, metadata, packed); err != nil {
		return ev, fmt.Errorf("sqlitestore: event at position %d: %w", position, err)
	}
	if len(id) != len(ev.ID) {
		return ev, fmt.Errorf("sqlitestore: event at position %d has a %d-byte id", position, len(id))
	}
	copy(ev.ID[:], id)
	ev.Position = positionOf(position)
	ev.Revision = uint64(revision)
	ev.Created = time.Unix(0, created).UTC()
	return ev, nil
}

func sqlLimit(limit int) int {
	if limit <= 0 {
		return -1
	}
	return limit
}
