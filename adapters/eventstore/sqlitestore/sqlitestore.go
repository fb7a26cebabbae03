// Package sqlitestore is hookd's embedded event store: the whole log in one SQLite file (plus its
// write-ahead log), through the pure-Go driver modernc.org/sqlite, with no server to run.
//
// Appends are durable when Append returns (WAL with synchronous=FULL). Concurrent appends are queued
// to one writer goroutine that commits everything waiting in a single transaction, so under load one
// fsync serves many callers; each caller still gets its own result or its own conflict.
//
// Several processes may open the same file: hookd's CLI appends and reads while the server runs.
// The writer checks appends against the revisions it remembers only while no other process has
// committed (PRAGMA data_version, read under the write lock), and subscriptions poll for events
// that another process appended.
package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/hookd/hookd/application/eventstore"
	"github.com/hookd/hookd/domain/eventlog"
)

// ErrClosed is returned by calls on a Store after Close, by appends that were still queued when it
// closed, and by Next on a Subscription after its Close.
var ErrClosed = fmt.Errorf("sqlitestore: closed: %w", eventlog.ErrUnavailable)

// Store is the embedded event store. It implements eventstore.Store; all methods are safe for
// concurrent use.
type Store struct {
	path    string
	opts    Options
	writeDB *sql.DB
	readDB  *sql.DB
	reads   readStatements
	writer  *writer
	// checkpointDB holds the checkpointer's connection (checkpointer.go).
	checkpointDB *sql.DB
	checkpointer *checkpointer

	// done is closed by Close; the writer and every subscription watch it.
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error

	// wake is closed and replaced after every commit that wrote events, so that waiting
	// subscriptions of this process read at once instead of at their next poll.
	mu   sync.Mutex
	wake chan struct{}

	// tail keeps what this Store committed last, for subscriptions at the head of the log; pages
	// shares what subscriptions behind it read from the file.
	tail  tail
	pages pages
}

var _ eventstore.Store = (*Store)(nil)

// Open opens the log in the file at path, creating the file and its schema if needed. ctx bounds the
// opening only; the store lives until Close.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if path == "" || strings.ContainsRune(path, '?') || strings.HasPrefix(path, "file:") || strings.HasPrefix(path, ":memory:") {
		return nil, fmt.Errorf("sqlitestore: %q is not a plain file path", path)
	}
	opts = opts.withDefaults()
	s := &Store{path: path, opts: opts, done: make(chan struct{}), wake: make(chan struct{})}
	if err := s.open(ctx, path); err != nil {
		return nil, errors.Join(fmt.Errorf("sqlitestore: open %s: %w", path, err), s.closeDBs())
	}
	go s.writer.run(context.WithoutCancel(ctx))
	go s.checkpointer.run(context.WithoutCancel(ctx))
	return s, nil
}

func (s *Store) open(ctx context.Context, path string) error {
	var err error
	// One connection writes, so that batches never wait for each other on SQLite's lock.
	if s.writeDB, err = sql.Open("sqlite", dsn(path, s.opts, true)); err != nil {
		return err
	}
	s.writeDB.SetMaxOpenConns(1)
	conn, err := s.writeDB.Conn(ctx)
	if err != nil {
		return classify(err)
	}
	if err := prepareNew(ctx, conn); err != nil {
		return errors.Join(classify(err), conn.Close())
	}
	if err := migrate(ctx, conn); err != nil {
		return errors.Join(classify(err), conn.Close())
	}
	stmts, err := prepareWriter(ctx, conn)
	if err != nil {
		return errors.Join(err, conn.Close())
	}
	s.writer = &writer{
		conn:      conn,
		stmts:     stmts,
		queue:     make(chan *appendRequest, s.opts.MaxBatch),
		jobs:      make(chan *writeJob),
		maxBatch:  s.opts.MaxBatch,
		revisions: newRevisions(),
		logger:    s.opts.Logger,
		committed: s.committed,
		closing:   s.done,
		stopped:   make(chan struct{}),
	}
	// The checkpointer's connection is opened once the writer has made the file a WAL one.
	if s.checkpointDB, err = sql.Open("sqlite", dsn(path, s.opts, true)); err != nil {
		return err
	}
	s.checkpointDB.SetMaxOpenConns(1)
	if s.checkpointer, err = newCheckpointer(ctx, s.checkpointDB, s.opts.Logger, s.done); err != nil {
		return classify(err)
	}
	s.writer.checkpointer = s.checkpointer

	if s.readDB, err = sql.Open("sqlite", dsn(path, s.opts, false)); err != nil {
		return err
	}
	s.readDB.SetMaxOpenConns(s.opts.MaxReaders)
	s.readDB.SetMaxIdleConns(s.opts.MaxReaders)
	if s.reads, err = prepareReads(ctx, s.readDB); err != nil {
		return classify(err)
	}
	return nil
}

// maxCheckProblems bounds the problems Check names: the first few say enough to tell damage.
const maxCheckProblems = 5

// Check reads the whole file and verifies its structure (SQLite's quick_check: every page, B-tree
// and record is well formed, which catches a torn, truncated or overwritten page but not a changed
// value inside a valid record). It returns an error matching eventlog.ErrCorrupt that names the file
// and the first problems found. Its cost is about that of reading the file once: some 1.2 s for a
// log of a million events (840 MB) on a warm page cache.
func (s *Store) Check(ctx context.Context) error {
	if s.closed() {
		return ErrClosed
	}
	rows, err := s.readDB.QueryContext(ctx, "PRAGMA quick_check("+strconv.Itoa(maxCheckProblems)+")")
	if err != nil {
		return fmt.Errorf("sqlitestore: checking %s: %w", s.path, classify(err))
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return fmt.Errorf("sqlitestore: checking %s: %w", s.path, classify(err))
		}
		if line != "ok" {
			problems = append(problems, line)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlitestore: checking %s: %w", s.path, classify(err))
	}
	if len(problems) > 0 {
		return fmt.Errorf("sqlitestore: %s: %w: %s", s.path, eventlog.ErrCorrupt, strings.Join(problems, "; "))
	}
	return nil
}

// Append implements eventstore.Store.Append. It rejects an empty stream name, an empty list of events
// and an event without a type. If ctx ends while the append is queued, Append returns ctx's error at
// once and the append is dropped; if it ends while the append is being committed, the events may or
// may not be in the log (retrying with the same event ids is safe either way).
func (s *Store) Append(ctx context.Context, stream string, expected eventlog.ExpectedRevision, events []eventlog.EventData) (eventlog.AppendResult, error) {
	if err := validateAppend(stream, events); err != nil {
		return eventlog.AppendResult{}, err
	}
	if err := ctx.Err(); err != nil {
		return eventlog.AppendResult{}, err
	}
	req := &appendRequest{ctx: ctx, stream: stream, expected: expected, events: events,
		stored: store(events, s.opts.CompressData), done: make(chan appendOutcome, 1)}
	select {
	case s.writer.queue <- req:
	case <-s.done:
		return eventlog.AppendResult{}, ErrClosed
	case <-ctx.Done():
		return eventlog.AppendResult{}, ctx.Err()
	}
	select {
	case out := <-req.done:
		return out.result, out.err
	case <-ctx.Done():
		return eventlog.AppendResult{}, ctx.Err()
	case <-s.writer.stopped:
		// The writer answers every request it took before it stops.
		select {
		case out := <-req.done:
			return out.result, out.err
		default:
			return eventlog.AppendResult{}, ErrClosed
		}
	}
}

func validateAppend(stream string, events []eventlog.EventData) error {
	if stream == "" {
		return errors.New("sqlitestore: append: empty stream name")
	}
	if len(events) == 0 {
		return fmt.Errorf("sqlitestore: append to %s: no events", stream)
	}
	for i, ev := range events {
		if ev.Type == "" {
			return fmt.Errorf("sqlitestore: append to %s: event %d has no type", stream, i)
		}
	}
	return nil
}

// Close stops the writer, failing appends still queued with ErrClosed, ends open subscriptions with
// an error matching eventlog.ErrSubscriptionDropped and closes the file. It is safe to call more
// than once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.done)
		<-s.writer.stopped
		<-s.checkpointer.stopped
		s.closeErr = s.closeDBs()
	})
	return s.closeErr
}

// closeDBs releases whatever open managed to set up.
func (s *Store) closeDBs() error {
	var errs []error
	if s.writer != nil {
		errs = append(errs, s.writer.stmts.close(), s.writer.conn.Close())
	}
	if s.writeDB != nil {
		errs = append(errs, s.writeDB.Close())
	}
	if s.checkpointer != nil {
		errs = append(errs, s.checkpointer.close())
	}
	if s.checkpointDB != nil {
		errs = append(errs, s.checkpointDB.Close())
	}
	errs = append(errs, s.reads.close())
	if s.readDB != nil {
		errs = append(errs, s.readDB.Close())
	}
	return errors.Join(errs...)
}

func (s *Store) closed() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// changed returns a channel that is closed after the next commit that writes events.
func (s *Store) changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.wake
}

// committed takes a batch the writer committed, events, which follow position after, and wakes the
// waiting subscriptions.
func (s *Store) committed(after uint64, events []eventlog.RecordedEvent) {
	s.tail.add(after, events)
	s.mu.Lock()
	defer s.mu.Unlock()
	close(s.wake)
	s.wake = make(chan struct{})
}

// classify marks lock timeouts, which pass once the other process lets go, as eventlog.ErrUnavailable,
// a full disk (SQLite reports ENOSPC as SQLITE_FULL) or an I/O error as the storage failures of
// package eventstore, and a damaged file, which no retry mends, as eventlog.ErrCorrupt.
func classify(err error) error {
	if e, ok := errors.AsType[*sqlite.Error](err); ok {
		switch e.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return fmt.Errorf("%w: %w", eventlog.ErrUnavailable, err)
		case sqlite3.SQLITE_FULL:
			return fmt.Errorf("%w: %w", eventstore.ErrStorageFull, err)
		case sqlite3.SQLITE_IOERR:
			return fmt.Errorf("%w: %w", eventstore.ErrStorageIO, err)
		case sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB:
			return fmt.Errorf("%w: %w", eventlog.ErrCorrupt, err)
		}
	}
	return err
}

// LimitPages caps the log's file at pages of SQLite's pages (PRAGMA max_page_count), or lifts the
// cap when pages is 0, and returns the cap now in force: never less than the file's size. An append
// that would grow the file past the cap fails with eventstore.ErrStorageFull and writes nothing, as
// on a full disk; tests fill the disk that way. The cap lasts until changed or the Store closes.
func (s *Store) LimitPages(ctx context.Context, pages int64) (int64, error) {
	if pages <= 0 {
		pages = maxPages
	}
	var limit int64
	err := s.writer.conn.QueryRowContext(ctx, "PRAGMA max_page_count = "+strconv.FormatInt(pages, 10)).Scan(&limit)
	if err != nil {
		return 0, fmt.Errorf("sqlitestore: limit pages: %w", err)
	}
	return limit, nil
}

// maxPages is SQLite's largest page count, the cap LimitPages(0) restores.
const maxPages = 4294967294

// classify is the package's classify, naming the file when it is damaged.
func (s *Store) classify(err error) error {
	err = classify(err)
	if errors.Is(err, eventlog.ErrCorrupt) {
		return fmt.Errorf("%s: %w", s.path, err)
	}
	return err
}

// positionOf turns an events row id into a log position.
func positionOf(rowID int64) eventlog.Position {
	return eventlog.Position{Commit: uint64(rowID), Prepare: uint64(rowID)}
}

// rowIDOf turns a position into the row id to read after. Positions beyond any row id clamp to the
// largest, after which there is nothing.
func rowIDOf(p eventlog.Position) int64 {
	return clamp(p.Commit)
}

// clamp converts a revision or position to SQLite's signed integers.
func clamp(n uint64) int64 {
	if n > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(n)
}
