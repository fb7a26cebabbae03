// Package readmodeldb opens the SQLite database that holds hookd's read models, apart from the log.
package readmodeldb

import (
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	// The pure-Go SQLite driver: hookd builds and runs without cgo.
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// maxConns bounds the pool of Open: reads run concurrently in WAL mode.
const maxConns = 8

// PageSize is the page size, in bytes, of a database Open creates. SQLite's default is 4096; a
// commit writes every page it dirtied whole to the WAL (and a checkpoint again to the file), and
// the deliveries read model's batches dirty many pages for a few rows each (its unique index on
// delivery ids takes each new id at a random leaf), so smaller pages write fewer bytes per delivery
// (docs/benchmarks.md, "The deliveries read model's CPU and bytes"; 1 KiB pages were declined,
// docs/decisions.md). A database made before keeps its own: SQLite fixes the size when it writes
// the first page, and in WAL mode never changes it (a rebuild writes new tables into the same
// file; docs/operations.md says how to take the new size).
const PageSize = 2048

// Page caches per connection, in KiB. They live outside the Go heap; a page not in the cache is
// read back from the file, most often from the OS's page cache. Each costs up to about twice its
// size in RSS: the pure-Go SQLite's allocator
// (modernc.org/memory) rounds every allocation up to a power of two, and a cached page is a page
// (PageSize, or 4 KiB in a file made before) and a header, so it takes a slot twice the page's size.
const (
	// queryCacheKiB is each query connection's: a query reads a few pages (a B-tree's depth and the
	// rows found), the OS's page cache serves the rest, and every commit of the runners empties the
	// other connections' caches (SQLite keeps a connection's cache only while no other connection
	// writes), so a cache of many pages is mostly refilled and dropped again. The allocator keeps
	// what they dropped for reuse: at SQLite's default (2 MB) and up to maxConns connections, they
	// held tens of MB more at the end of a 60 s end-to-end benchmark than at 256 KiB, for no CPU
	// per delivery that those runs could tell apart (issue 13).
	queryCacheKiB = 256
	// writerCacheKiB is the runners' connection's: it keeps the pages their statements touch again
	// and again (the indexes' upper levels, the newest rows). At 64 MiB it filled as fast as the
	// read models grew, about 60 MB of RSS in a 30 s end-to-end benchmark (issue 13), whose read
	// models are 7 to 10 MB at its end (21 MB after 60 s).
	writerCacheKiB = 4 << 10
	// rebuildCacheKiB is for a rebuild, which fills fresh tables with every event of the log: a
	// 64 MiB cache makes it about a fifth faster, for a process that does nothing else and exits.
	rebuildCacheKiB = 64 << 10
)

// Open opens (creating if needed) the read models' database at path, as a pool of connections for
// queries.
//
// The settings are chosen for read models, which can always be rebuilt from the log:
//   - WAL, so queries never wait for a projection's write, nor a write for a query;
//   - synchronous=NORMAL: a power cut may undo the last transactions, but each one holds a batch's
//     rows and its checkpoint together, so the projection simply applies those events again;
//   - pages of PageSize bytes, when the file is new;
//   - _txlock=immediate: a read-write transaction takes the write lock when it begins, so two
//     writers (the runners, a rebuild in another process) wait for each other under busy_timeout
//     instead of failing when one upgrades a read to a write; read-only transactions stay deferred.
func Open(path string) (*sql.DB, error) {
	return open(path, maxConns, queryCacheKiB)
}

// OpenRebuild opens the database at path as Open does, with connections whose page caches are
// sized for rebuilding read models rather than for queries: for `hookd projections rebuild`.
func OpenRebuild(path string) (*sql.DB, error) {
	return open(path, maxConns, rebuildCacheKiB)
}

// OpenWriter opens the database at path as one connection, with Open's settings, for the Runners
// of one process to share. SQLite lets one transaction write at a time anyway, and a connection
// keeps its page cache only while no other connection writes: Runners that each took a connection
// from a pool would find their caches emptied by each other's commits and read every page they
// touch back from the file. Transactions on it must not wait for another transaction on it.
func OpenWriter(path string) (*sql.DB, error) {
	return open(path, 1, writerCacheKiB)
}

func open(path string, conns, cacheKiB int) (*sql.DB, error) {
	if path == "" || strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("readmodeldb: %q is not a plain file path", path)
	}
	q := url.Values{}
	// The driver runs the _pragma list sorted by name and journal_mode through its own key after
	// the list: switching a new file to WAL writes its first page, which fixes its page size, so
	// page_size must come first.
	q.Add("_pragma", "page_size("+strconv.Itoa(PageSize)+")")
	q.Add("_journal_mode", "WAL")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "busy_timeout(10000)")
	// A negative cache_size is in KiB.
	q.Add("_pragma", "cache_size("+strconv.Itoa(-cacheKiB)+")")
	// Checkpoints after 10,000 pages of WAL rather than 1,000: pages that many batches change are
	// copied back once per checkpoint, so fewer checkpoints write less (see sqlitestore's dsn).
	q.Add("_pragma", "wal_autocheckpoint(10000)")
	q.Add("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("readmodeldb: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	// Reading the schema reads the file's header and first page: a damaged file is found here rather
	// than by the first projection or query.
	var tables int
	if err := db.QueryRow(`SELECT count(*) FROM sqlite_master`).Scan(&tables); err != nil {
		if damaged(err) {
			err = fmt.Errorf("%w; read models are rebuilt from the log: remove the file (with its -wal and -shm) and start again", err)
		}
		return nil, errors.Join(fmt.Errorf("readmodeldb: open %s: %w", path, err), db.Close())
	}
	return db, nil
}

// damaged says err is SQLite's for a file that is not a database or whose pages are malformed.
func damaged(err error) bool {
	e, ok := errors.AsType[*sqlite.Error](err)
	if !ok {
		return false
	}
	code := e.Code() & 0xff
	return code == sqlite3.SQLITE_CORRUPT || code == sqlite3.SQLITE_NOTADB
}
