// Package projections builds hookd's read models from the log. A Runner keeps each read model up to
// date as a checkpointed subscription: every batch of events and the position it reaches are written
// in one transaction, so a restart never applies an event twice or skips one. A Group runs several
// Runners on one subscription, writing a batch to all of them, each with its own checkpoint, in one
// transaction. Rebuild builds a read
// model again from the start of the log into fresh tables while the old ones keep serving, then swaps
// them in.
//
// Read models live in a SQLite database of their own (readmodels.db), separate from the log, opened
// by the caller with modernc.org/sqlite in WAL mode with a busy_timeout: the SQL here is SQLite's
// (RETURNING, json_each, sqlite_master). Every write transaction in this package starts with a write,
// so SQLite takes the write lock at once and waits for it under busy_timeout, as BEGIN IMMEDIATE
// would: a transaction that read first and wrote later could fail with SQLITE_BUSY_SNAPSHOT when
// another writer (a second runner, or a rebuild in another process) committed in between. hookd's
// opener (adapters/readmodeldb) sets _txlock=immediate as well, so that guarantee does not rest on
// the order of statements alone.
package projections

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"

	"github.com/hookd/hookd/domain/eventlog"
)

// Projection is one read model: the tables it owns and how a batch of events changes them.
//
// The same projection writes into its live tables when a Runner feeds it and into fresh tables during
// a rebuild; Schema says which. Implementations must be safe for concurrent use: a Runner and a
// Rebuild may call them at the same time, each with its own transaction.
type Projection interface {
	// Name identifies the projection's checkpoint. It must never change once data was written.
	Name() string
	// Tables lists the live names of the projection's tables: a rebuild drops them and renames its
	// fresh tables to them.
	Tables() []string
	// Setup creates the tables and indexes of s in tx. None of them exist when it is called.
	Setup(ctx context.Context, tx *sql.Tx, s Schema) error
	// Apply applies events, in log order, to the tables of s within tx, and skips the events it does
	// not read. Any error rolls the whole batch back.
	Apply(ctx context.Context, tx *sql.Tx, s Schema, events []eventlog.RecordedEvent) error
}

// A Selective projection names the event types it reads. A Runner passes a batch without any of
// them in memory, with no transaction: read models that follow a few types stay idle while the log
// fills with others (deliveries, say).
type Selective interface {
	Reads(eventType string) bool
}

// A Processor is a Projection whose events also cause effects outside the read models: appends to
// the log, messages to send. A Runner calls Process with each batch before the batch's transaction,
// and Apply after it; a batch whose Process fails is neither applied nor checkpointed, and comes
// again. Effects therefore happen at least once per event, and Process must make repeating them
// harmless (deterministic ids, idempotent appends). A Processor must never be rebuilt: a rebuild
// would repeat every effect since the start of the log.
type Processor interface {
	Projection
	Process(ctx context.Context, events []eventlog.RecordedEvent) error
}

// Schema names the tables and indexes of one build of a projection. The live build has no suffix; a
// rebuild writes into tables with the suffix "_next" until they replace the live ones.
type Schema struct {
	// Suffix follows every table name of this build.
	Suffix string
	// Build is unique to this build. It is part of every index name because SQLite keeps an index's
	// name when its table is renamed: without it, the next rebuild's indexes would clash with those of
	// the tables it is about to replace.
	Build string
}

// Table returns the name of the table that this build uses for the live table name.
func (s Schema) Table(name string) string { return name + s.Suffix }

// Index returns a name for the index called name in this build, unique across builds.
func (s Schema) Index(name string) string { return name + "_" + s.Build }

// rebuildSuffix names the tables a rebuild writes into.
const rebuildSuffix = "_next"

// newBuild returns a fresh build id: random, so that two builds never share index names.
func newBuild() string {
	var b [6]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails.
	return hex.EncodeToString(b[:])
}

// checkpoint is what the checkpoint table holds for one projection: the position its tables reached
// and the build that wrote them. A change of build means another process swapped in rebuilt tables.
type checkpoint struct {
	position eventlog.Position
	build    string
}

// The checkpoint table is shared by every projection in the database. updated_at is for operators.
const createCheckpoints = `CREATE TABLE IF NOT EXISTS projection_checkpoints (
	name       TEXT PRIMARY KEY,
	position   TEXT NOT NULL,
	build      TEXT NOT NULL,
	updated_at TEXT NOT NULL
)`
