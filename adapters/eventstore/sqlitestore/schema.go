package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"strconv"
	"time"
)

// schemaVersion is kept in PRAGMA user_version so that Open refuses a file laid out differently.
const schemaVersion = 4

// The log lives in two tables. events is keyed by the global position, so an append adds rows at
// the end of one B-tree and ReadAll is a range scan over it; its only secondary index holds two
// integers, which is what keeps appends fast (a text index on stream names per event costs about
// two thirds of the throughput). Stream names are stored once, in streams. A stream's revision is
// its last event's, the end of its range in that index: the writer keeps the revisions of the
// streams it appended to last in memory (revisions.go), so an append to a stream it knows touches
// no streams row, and one it does not know reads the revision with one index lookup.
//
// Positions are SQLite row ids: one more than the largest, assigned under the write lock. Retention
// deletes old streams (DeleteStreams) but never the event with the largest position, so positions
// only grow, and a reader never sees a later position commit before an earlier one.
const schema = `
CREATE TABLE IF NOT EXISTS streams (
	id       INTEGER PRIMARY KEY,
	name     TEXT    NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS events (
	position  INTEGER PRIMARY KEY,
	stream_id INTEGER NOT NULL,
	revision  INTEGER NOT NULL,
	created   INTEGER NOT NULL,
	id        BLOB    NOT NULL,
	type      TEXT    NOT NULL,
	data      BLOB,
	metadata  BLOB,
	packed    INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX IF NOT EXISTS events_stream_revision ON events (stream_id, revision);
`

// PageSize is the page size, in bytes, of a log file Open creates; SQLite's default is 4096. Each
// commit writes every page it dirtied whole to the WAL (and a checkpoint once more to the file):
// the events table's last page and its parent, and a page or more of each index and of streams
// for a few rows each, so smaller pages write fewer bytes per delivery (issue 12; docs/benchmarks.md,
// "2 KiB pages for the log"). A published event's row (about 1.4 KB) still fits in one page, but
// leaves room that few rows fit: the file is about a tenth larger per event (docs/decisions.md). A
// file made before keeps its 4 KiB pages: SQLite fixes the size with the first page, and in WAL
// mode never changes it (fill.go reads the size from the file).
const PageSize = 2048

// dsn builds the driver's connection string. Every connection waits up to the busy timeout for
// locks held by other processes. Only the writer's connections (the writer's, and the
// checkpointer's beside it during gentle deletes) set the journal mode, which is stored in the
// file, and synchronous=FULL, which makes a commit durable before it returns and a checkpoint
// sync the file; readers are read-only.
//
// Outside retention's deletes, checkpoints stay SQLite's automatic ones, which the writer runs after
// a commit that fills the WAL past 10,000 pages (40 MiB; SQLite's default is 1,000). They cost the
// odd slow batch, but a checkpointer running beside a writer that never pauses never catches up,
// and the WAL would then grow without bound: the smaller checkpoints run during deletes (see
// checkpointFrames and checkpointer.go) leave the automatic one in place to bound it. The larger
// WAL lets a checkpoint copy a page that many commits changed (the end of the log, index pages)
// once instead of once per 1,000 pages: under delivery load it cuts the bytes written to disk per
// delivery by about a fifth.
func dsn(path string, o Options, writer bool) string {
	busy := (o.BusyTimeout + time.Millisecond - 1) / time.Millisecond
	q := url.Values{}
	q.Add("_pragma", "busy_timeout("+strconv.FormatInt(int64(busy), 10)+")")
	if writer {
		// The driver runs the _pragma list sorted by name, and _journal_mode after it: switching a
		// new file to WAL writes its first page, which fixes its page size, so page_size must come
		// before. On an existing file it changes nothing.
		q.Add("_pragma", "page_size("+strconv.Itoa(PageSize)+")")
		q.Add("_journal_mode", "WAL")
		q.Add("_pragma", "synchronous(FULL)")
		q.Add("_pragma", "wal_autocheckpoint(10000)")
	} else {
		q.Add("_pragma", "query_only(1)")
		// Readers read the log once through (subscriptions catching up) or one stream at a time
		// (aggregates); the operating system's cache serves what a re-read needs. SQLite's default of
		// 2 MB each costs about 4 MB of RSS per reader once filled (the pure-Go allocator rounds a
		// page up to an 8 KiB slot), 11 MB more over a 60 s benchmark than this (issue 13).
		q.Add("_pragma", "cache_size(-256)")
	}
	return path + "?" + q.Encode()
}

// prepareNew makes a new, empty file use auto_vacuum=INCREMENTAL, so that retention can give the
// pages of deleted streams back (incremental_vacuum). SQLite takes the setting from a VACUUM, which
// costs nothing while the file holds no table; on a file with data it would rewrite the whole file,
// so files created before this setting keep auto_vacuum=NONE (see DeleteStreams). It runs outside
// a transaction, which VACUUM needs; two processes creating the file at once both run it, harmlessly.
func prepareNew(ctx context.Context, conn *sql.Conn) error {
	var tables int
	if err := conn.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master").Scan(&tables); err != nil {
		return fmt.Errorf("sqlitestore: read schema: %w", err)
	}
	if tables > 0 {
		return nil
	}
	for _, stmt := range []string{"PRAGMA auto_vacuum = INCREMENTAL", "VACUUM"} {
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("sqlitestore: %s: %w", stmt, err)
		}
	}
	return nil
}

// migrate creates the schema in a new file and checks the version of an existing one. It runs in an
// immediate transaction so that two processes opening a new file at once do not both create it.
func migrate(ctx context.Context, conn *sql.Conn) (err error) {
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return fmt.Errorf("sqlitestore: begin migration: %w", err)
	}
	defer func() {
		if err != nil {
			_, _ = conn.ExecContext(ctx, "ROLLBACK")
		}
	}()
	var version int
	if err := conn.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return fmt.Errorf("sqlitestore: read schema version: %w", err)
	}
	switch version {
	case schemaVersion:
	case 1, 2, 3:
		// Version 2 added packed (see pack.go); rows written before read as stored. Version 3
		// dropped streams.revision, which every append to an existing stream rewrote: the
		// revision is the stream's last event's. Dropping it rewrites the streams table once.
		// Version 4 changes no table: its rows' packed values may name S2 and compressed
		// metadata, which builds of version 3 do not read, so they refuse the file at Open
		// rather than failing at the first such row.
		var steps []string
		if version == 1 {
			steps = append(steps, "ALTER TABLE events ADD COLUMN packed INTEGER NOT NULL DEFAULT 0")
		}
		if version < 3 {
			steps = append(steps, "ALTER TABLE streams DROP COLUMN revision")
		}
		steps = append(steps, "PRAGMA user_version = "+strconv.Itoa(schemaVersion))
		for _, step := range steps {
			if _, err := conn.ExecContext(ctx, step); err != nil {
				return fmt.Errorf("sqlitestore: migrate from version %d: %s: %w", version, step, err)
			}
		}
	case 0:
		if _, err := conn.ExecContext(ctx, schema); err != nil {
			return fmt.Errorf("sqlitestore: create schema: %w", err)
		}
		if _, err := conn.ExecContext(ctx, "PRAGMA user_version = "+strconv.Itoa(schemaVersion)); err != nil {
			return fmt.Errorf("sqlitestore: set schema version: %w", err)
		}
	default:
		return fmt.Errorf("sqlitestore: file has schema version %d, this build reads version %d", version, schemaVersion)
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		return fmt.Errorf("sqlitestore: commit migration: %w", err)
	}
	return nil
}
