// Package deliveryview is the read model of deliveries: the delivery log an operator fetches (every
// delivery of a webhook with its attempts, newest first), what a replay by filter selects, and the
// deliveries still due, which a restart recovers after a crash.
package deliveryview

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/hookd/hookd/domain/delivery"
	"github.com/hookd/hookd/domain/eventlog"
	"github.com/hookd/hookd/projections"
)

// Name is the projection's name, under which its checkpoint is kept.
const Name = "deliveries"

// tableDeliveries holds a row per delivery, its attempts in it, ids and times packed (columns.go).
// (It replaced delivery_rows, which kept no log position, that one delivery_records, which kept them
// as text, and that one delivery_log, which kept no park reason, and before it the tables deliveries
// and delivery_attempts: a database built before may still hold the older ones, unused; Setup drops
// the two before it. A new name makes the Runner build the read model again from the log.)
const tableDeliveries = "delivery_rows_at"

// tablesReplaced are the tables tableDeliveries replaced, which Setup drops so that the new rows
// reuse their pages.
var tablesReplaced = []string{"delivery_rows", "delivery_records"}

// tableWaits holds the deliveries that wait, without an attempt, for their endpoint's circuit: the
// reason and until when, from their latest DeliveryDeferred. A row stands while its until is the
// delivery's next_due_at (any later attempt or replay moves that), and goes when the delivery
// finishes, so that attempts write nothing here.
const tableWaits = "delivery_waits"

// MaxExcerptBytes bounds the response excerpt the view keeps of each attempt; the log keeps up to
// delivery.MaxExcerptBytes. Longer excerpts are cut at a character boundary.
const MaxExcerptBytes = 4 << 10

// View is the deliveries read model: a projections.Projection and the queries on it. It is safe for
// concurrent use.
type View struct {
	db      *sql.DB
	decoder projections.Decoder
	stmts   *projections.Statements
}

// New returns the view over db, the read models' database, decoding events with decoder. The tables
// are created by the projections Runner (or a rebuild), not here.
func New(db *sql.DB, decoder projections.Decoder) (*View, error) {
	if db == nil || decoder == nil {
		return nil, errors.New("deliveryview: a database and a decoder are required")
	}
	return &View{db: db, decoder: decoder, stmts: projections.NewStatements(db)}, nil
}

// Name implements projections.Projection.
func (v *View) Name() string { return Name }

// Tables implements projections.Projection.
func (v *View) Tables() []string { return []string{tableDeliveries, tableWaits} }

// Setup implements projections.Projection.
func (v *View) Setup(ctx context.Context, tx *sql.Tx, s projections.Schema) error {
	d := s.Table(tableDeliveries)
	for _, stmt := range []string{
		// seq is the rowid, in the order deliveries were scheduled: it breaks ties of scheduled_at.
		// Ids are packed (packID: BLOB or TEXT), times are Unix nanoseconds (packTime), 0 for none.
		// next_due_at is set while the delivery is scheduled and 0 once it succeeded or was parked.
		// version and at_commit, at_prepare are the revision and the log position of the last event
		// applied (packPosition): retention removes a delivery once its webhook's health is carried
		// past that position.
		`CREATE TABLE ` + d + ` (
			seq              INTEGER PRIMARY KEY,
			id               BLOB NOT NULL,
			webhook_id       BLOB NOT NULL,
			tenant           TEXT NOT NULL,
			community        TEXT NOT NULL,
			event_id         BLOB NOT NULL,
			event_name       TEXT NOT NULL,
			status           TEXT NOT NULL,
			attempts         INTEGER NOT NULL,
			last_status      INTEGER NOT NULL,
			last_error_class TEXT NOT NULL,
			last_attempt_at  INTEGER NOT NULL,
			next_due_at      INTEGER NOT NULL,
			scheduled_at     INTEGER NOT NULL,
			updated_at       INTEGER NOT NULL,
			replay_mode      TEXT NOT NULL,
			park_reason      TEXT NOT NULL,
			version          INTEGER NOT NULL,
			at_commit        INTEGER NOT NULL,
			at_prepare       INTEGER NOT NULL,
			attempt_log      TEXT NOT NULL
		)`,
		`CREATE UNIQUE INDEX ` + s.Index("deliveries_id") + ` ON ` + d + ` (id)`,
		`CREATE INDEX ` + s.Index("deliveries_scope") + ` ON ` + d + ` (tenant, community, webhook_id, scheduled_at)`,
		`CREATE INDEX ` + s.Index("deliveries_due") + ` ON ` + d + ` (next_due_at) WHERE status = 'scheduled'`,
		// A community's deliveries across its webhooks, newest first (Fetch without a webhook): without
		// it, every page sorts all of the community's rows. Its entries land at its end, as time goes.
		`CREATE INDEX ` + s.Index("deliveries_recent") + ` ON ` + d + ` (tenant, community, scheduled_at)`,
		`CREATE TABLE ` + s.Table(tableWaits) + ` (
			id     BLOB PRIMARY KEY,
			reason TEXT NOT NULL,
			until  INTEGER NOT NULL
		) WITHOUT ROWID`,
		// Retention removes a published event once no delivery of it is left. Event ids are
		// UUIDv7 unless the publisher gave an idempotency key, so this index grows at its end.
		`CREATE INDEX ` + s.Index("deliveries_event") + ` ON ` + d + ` (event_id)`,
	} {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("deliveryview: setup: %w", err)
		}
	}
	for _, t := range tablesReplaced {
		if _, err := tx.ExecContext(ctx, `DROP TABLE IF EXISTS `+t); err != nil {
			return fmt.Errorf("deliveryview: setup: %w", err)
		}
	}
	return nil
}

// Reads implements projections.Selective.
func (v *View) Reads(eventType string) bool {
	switch eventType {
	case delivery.EventScheduled, delivery.EventAttempted, delivery.EventSucceeded, delivery.EventFailed,
		delivery.EventReplayRequested, delivery.EventDeferred:
		return true
	}
	return false
}

// Apply implements projections.Projection. Events of other types are skipped, and so are events
// already applied: each row keeps the revision of the last event of its delivery's stream, and an
// event at or below it changes nothing.
//
// A delivery scheduled in the batch is inserted once, at the end of the batch, with its attempts and
// outcome in the batch folded in (freshRows): one row write rather than an insert and an update,
// fewer pages dirtied per delivery when a batch holds a delivery's whole life (issue 12).
func (v *View) Apply(ctx context.Context, tx *sql.Tx, s projections.Schema, events []eventlog.RecordedEvent) error {
	d := s.Table(tableDeliveries)
	stmts := projections.NewTxStatements(tx)
	defer stmts.Close()
	b := batch{v: v, stmts: stmts, table: d, pending: &waitRows{tx: tx, stmts: stmts, table: s.Table(tableWaits)},
		fresh: &freshRows{byID: make(map[string]*freshRow)}}
	if err := b.apply(ctx, events); err != nil {
		return err
	}
	return b.flush(ctx)
}

// batch is the state of one Apply.
type batch struct {
	v       *View
	stmts   *projections.TxStatements
	table   string
	pending *waitRows
	// fresh holds the deliveries scheduled in the batch and not inserted yet; nil when events are
	// written as they come.
	fresh *freshRows
}

// apply applies events in order.
func (b *batch) apply(ctx context.Context, events []eventlog.RecordedEvent) error {
	v, stmts, d := b.v, b.stmts, b.table
	for i := 0; i < len(events); i++ {
		r := events[i]
		if !v.Reads(r.Type) {
			continue
		}
		var err error
		switch r.Type {
		case delivery.EventScheduled:
			var e scheduledRow
			if e, err = decodeScheduled(r); err != nil {
				break
			}
			if b.fresh != nil {
				b.fresh.add(e, r)
				break
			}
			at := packTime(e.ScheduledAt)
			commit, prepare := packPosition(r.Position)
			_, err = stmts.Exec(ctx, `INSERT INTO `+d+`
				(id, webhook_id, tenant, community, event_id, event_name, status, attempts, last_status,
				 last_error_class, last_attempt_at, next_due_at, scheduled_at, updated_at, replay_mode, park_reason, version,
				 at_commit, at_prepare, attempt_log)
				VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 0, 0, '', 0, ?8, ?8, ?8, '', '', ?9, ?10, ?11, '[]') ON CONFLICT DO NOTHING`,
				packID(e.DeliveryID), packID(e.WebhookID), e.TenantID, e.CommunityID, packID(e.EventID), e.Name,
				delivery.StatusScheduled.String(), at, r.Revision, commit, prepare)
		case delivery.EventAttempted:
			var e delivery.Attempted
			if e, err = v.decodeAttempted(r); err != nil {
				break
			}
			at := packTime(e.At)
			entry := attemptEntry(e, at)
			f := b.fresh.row(e.DeliveryID)
			// The attempt joins the row's log in the same update that records it as the last.
			const recordAttempt = `attempt_log = json_insert(attempt_log, '$[#]', json(?)), attempts = ?, last_status = ?,
				last_error_class = ?, last_attempt_at = ?`
			// Without RetryAt, a Succeeded or Failed follows in the same append: when it comes next
			// in the batch, one update records both.
			if next, ok := outcomeOf(events, i); ok {
				o, err := v.decodeOutcome(next)
				if err == nil {
					i++
					if f != nil {
						f.events = append(f.events, r, next)
						if f.attempted(e, entry, at, 0, r) {
							f.outcome(o, next)
						}
					} else {
						err = updateTo(ctx, stmts, d, r.Revision, next, e.DeliveryID,
							recordAttempt+`, status = ?, park_reason = ?, next_due_at = 0, updated_at = ?`,
							entry, e.Attempt, e.Status, e.ErrorClass, at, o.status.String(), o.reason, packTime(o.at))
					}
				}
				if err == nil {
					err = b.pending.clear(ctx, e.DeliveryID)
				}
				if err != nil {
					return fmt.Errorf("deliveryview: %s@%d: %w", next.Stream, next.Revision, err)
				}
				continue
			}
			// Until the outcome is applied, the next attempt is due at once, as the aggregate says.
			due := e.RetryAt
			if due.IsZero() {
				due = e.At
			}
			if f != nil {
				f.events = append(f.events, r)
				f.attempted(e, entry, at, packTime(due), r)
				break
			}
			err = update(ctx, stmts, d, r, e.DeliveryID, recordAttempt+`, next_due_at = ?, updated_at = ?`,
				entry, e.Attempt, e.Status, e.ErrorClass, at, packTime(due), at)
		case delivery.EventSucceeded, delivery.EventFailed:
			var o outcomeRow
			if o, err = v.decodeOutcome(r); err != nil {
				break
			}
			if f := b.fresh.row(o.deliveryID); f != nil {
				f.events = append(f.events, r)
				f.outcome(o, r)
			} else {
				err = update(ctx, stmts, d, r, o.deliveryID, `status = ?, park_reason = ?, next_due_at = 0, updated_at = ?`,
					o.status.String(), o.reason, packTime(o.at))
			}
			if err == nil {
				err = b.pending.clear(ctx, o.deliveryID)
			}
		default:
			// A rare event finds its delivery's row where the view keeps it: the deliveries
			// scheduled so far are inserted first, in order.
			if b.fresh.row(strings.TrimPrefix(r.Stream, delivery.StreamPrefix)) != nil {
				err = b.flush(ctx)
			}
			if err == nil {
				err = v.applyRare(ctx, stmts, d, b.pending, r)
			}
		}
		if err != nil {
			return fmt.Errorf("deliveryview: %s@%d: %w", r.Stream, r.Revision, err)
		}
	}
	return nil
}

// flush inserts the fresh rows, in the order their deliveries were scheduled (seq breaks ties of
// scheduled_at). A row that exists already (the batch's events were applied before) is left as it
// is, and the events folded into the fresh one are applied to it one by one, as they would have been
// without folding.
func (b *batch) flush(ctx context.Context) error {
	if b.fresh == nil || len(b.fresh.order) == 0 {
		return nil
	}
	rows := b.fresh.order
	b.fresh.order, b.fresh.byID = nil, make(map[string]*freshRow)
	for _, f := range rows {
		commit, prepare := packPosition(f.position)
		res, err := b.stmts.Exec(ctx, `INSERT INTO `+b.table+`
			(id, webhook_id, tenant, community, event_id, event_name, status, attempts, last_status,
			 last_error_class, last_attempt_at, next_due_at, scheduled_at, updated_at, replay_mode, park_reason, version,
			 at_commit, at_prepare, attempt_log)
			VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, '', ?15, ?16, ?17, ?18, json(?19)) ON CONFLICT DO NOTHING`,
			packID(f.scheduled.DeliveryID), packID(f.scheduled.WebhookID), f.scheduled.TenantID, f.scheduled.CommunityID,
			packID(f.scheduled.EventID), f.scheduled.Name, f.status, f.attempts, f.lastStatus, f.lastErrorClass,
			f.lastAttemptAt, f.nextDueAt, packTime(f.scheduled.ScheduledAt), f.updatedAt,
			f.parkReason, f.version, commit, prepare, "["+strings.Join(f.log, ",")+"]")
		if err != nil {
			return fmt.Errorf("deliveryview: inserting delivery %s: %w", f.scheduled.DeliveryID, err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			continue
		}
		plain := batch{v: b.v, stmts: b.stmts, table: b.table, pending: b.pending}
		if err := plain.apply(ctx, f.events); err != nil {
			return err
		}
	}
	return nil
}

// freshRows are the deliveries a batch scheduled and has not inserted yet, by id and in order.
type freshRows struct {
	byID  map[string]*freshRow
	order []*freshRow
}

func (r *freshRows) add(e scheduledRow, scheduled eventlog.RecordedEvent) {
	if _, ok := r.byID[e.DeliveryID]; ok {
		return // scheduled twice in one batch: the first is the row, as ON CONFLICT DO NOTHING keeps it
	}
	at := packTime(e.ScheduledAt)
	f := &freshRow{scheduled: e, status: delivery.StatusScheduled.String(), nextDueAt: at, updatedAt: at,
		version: scheduled.Revision, position: scheduled.Position}
	r.byID[e.DeliveryID] = f
	r.order = append(r.order, f)
}

// row returns the fresh row of the delivery id; nil when there is none, or r is nil.
func (r *freshRows) row(id string) *freshRow {
	if r == nil {
		return nil
	}
	return r.byID[id]
}

// freshRow is a row of delivery_rows as the batch's events made it, before it is inserted: the
// columns the updates of Apply set, each set as they set it.
type freshRow struct {
	scheduled                           scheduledRow
	status, lastErrorClass, parkReason  string
	lastAttemptAt, nextDueAt, updatedAt int64
	attempts, lastStatus                int
	version                             uint64
	position                            eventlog.Position
	// log is the attempt_log's entries.
	log []string
	// events are those folded in after the scheduling, for a row that turns out to exist.
	events []eventlog.RecordedEvent
}

// attempted folds in the attempt e recorded as r, its log entry and time at, the next attempt due
// at due; as the update does, it changes nothing when the row holds r's revision already (applied
// false). An outcome the batch pairs with it then folds in only when it applied.
func (f *freshRow) attempted(e delivery.Attempted, entry string, at, due int64, r eventlog.RecordedEvent) (applied bool) {
	if r.Revision <= f.version {
		return false
	}
	f.log = append(f.log, entry)
	f.attempts, f.lastStatus, f.lastErrorClass, f.lastAttemptAt = e.Attempt, e.Status, e.ErrorClass, at
	f.nextDueAt, f.updatedAt, f.version, f.position = due, at, r.Revision, r.Position
	return true
}

// outcome folds in a Succeeded or Failed recorded as r, unless the row holds it already.
func (f *freshRow) outcome(o outcomeRow, r eventlog.RecordedEvent) {
	if r.Revision <= f.version {
		return
	}
	f.status, f.parkReason, f.nextDueAt, f.updatedAt = o.status.String(), o.reason, 0, packTime(o.at)
	f.version, f.position = r.Revision, r.Position
}

// applyRare applies the events that few deliveries have, a DeliveryDeferred or a
// DeliveryReplayRequested, decoded by the codec.
func (v *View) applyRare(ctx context.Context, stmts *projections.TxStatements, d string, pending *waitRows, r eventlog.RecordedEvent) error {
	e, err := v.decoder.DecodeSealed(r)
	if err != nil {
		return err
	}
	switch e := e.(type) {
	case delivery.Deferred:
		until := packTime(e.Until)
		err = update(ctx, stmts, d, r, e.DeliveryID, `next_due_at = ?, updated_at = ?`, until, packTime(e.At))
		if err == nil {
			_, err = stmts.Exec(ctx, `INSERT INTO `+pending.table+` (id, reason, until) VALUES (?1, ?2, ?3)
				ON CONFLICT (id) DO UPDATE SET reason = ?2, until = ?3`, packID(e.DeliveryID), e.Reason, until)
			pending.known, pending.any = true, true
		}
		return err
	case delivery.ReplayRequested:
		return update(ctx, stmts, d, r, e.DeliveryID,
			`status = ?, park_reason = '', next_due_at = ?, replay_mode = ?, updated_at = ?`,
			delivery.StatusScheduled.String(), packTime(e.At), e.Mode.String(), packTime(e.At))
	}
	return fmt.Errorf("unexpected event %s of type %T", r.Type, e)
}

// waitRows clears the wait rows of deliveries that finish. Few deliveries ever wait, and every one
// finishes: the batch asks once whether the table holds any row, and deletes only when it may,
// rather than run a delete that finds nothing for each delivery (docs/benchmarks.md, issue 13).
type waitRows struct {
	tx    *sql.Tx
	stmts *projections.TxStatements
	table string
	// known says any was read, or set by a wait row the batch wrote; any says the table may hold
	// a row.
	known, any bool
}

// clear deletes the wait row of the delivery id, if there may be one.
func (w *waitRows) clear(ctx context.Context, id string) error {
	if !w.known {
		if err := w.tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM `+w.table+`)`).Scan(&w.any); err != nil {
			return err
		}
		w.known = true
	}
	if !w.any {
		return nil
	}
	_, err := w.stmts.Exec(ctx, `DELETE FROM `+w.table+` WHERE id = ?`, packID(id))
	return err
}

// update sets columns (a SET list with placeholders, args in order) of the delivery id, and its
// version and position to r's, unless the row already holds r's revision or a later one.
func update(ctx context.Context, stmts *projections.TxStatements, table string, r eventlog.RecordedEvent, id, set string, args ...any) error {
	return updateTo(ctx, stmts, table, r.Revision, r, id, set, args...)
}

// updateTo applies the events from revision from to the event to in one update, unless the row
// already holds from or a later one.
func updateTo(ctx context.Context, stmts *projections.TxStatements, table string, from uint64, to eventlog.RecordedEvent, id, set string, args ...any) error {
	commit, prepare := packPosition(to.Position)
	args = append(args, to.Revision, commit, prepare, packID(id), from)
	_, err := stmts.Exec(ctx, `UPDATE `+table+` SET `+set+`, version = ?, at_commit = ?, at_prepare = ? WHERE id = ? AND version < ?`, args...)
	return err
}

// outcomeOf returns the event after events[i], an attempt, when it is the attempt's outcome: a
// Succeeded or Failed of the same delivery at the next revision.
func outcomeOf(events []eventlog.RecordedEvent, i int) (eventlog.RecordedEvent, bool) {
	if i+1 >= len(events) {
		return eventlog.RecordedEvent{}, false
	}
	next := events[i+1]
	ok := (next.Type == delivery.EventSucceeded || next.Type == delivery.EventFailed) &&
		next.Stream == events[i].Stream && next.Revision == events[i].Revision+1
	return next, ok
}

// loggedAttempt is an attempt as the row's attempt_log keeps it: a JSON array rather than an object,
// whose keys every entry of every row would repeat (issue 12): [n, status, ms, at] when the attempt
// has neither an error class nor an excerpt, [n, status, ms, at, error, excerpt] when it has either.
type loggedAttempt struct {
	Number          int
	Status          int
	DurationMs      int64
	At              int64 // packed (packTime)
	ErrorClass      string
	ResponseExcerpt string
}

// attemptEntry is the attempt_log entry of e, as text (SQLite's json() takes a blob for JSONB), at
// being e.At packed: its loggedAttempt's array as json.Marshal writes it, written by hand because
// encoding/json's reflection cost more than the entry's share of the update
// (TestAttemptEntryIsMarshalsOutput).
func attemptEntry(e delivery.Attempted, at int64) string {
	ex := excerpt(e.ResponseExcerpt)
	b := make([]byte, 0, 48+len(e.ErrorClass)+len(ex))
	b = strconv.AppendInt(append(b, '['), int64(e.Attempt), 10)
	b = strconv.AppendInt(append(b, ','), int64(e.Status), 10)
	b = strconv.AppendInt(append(b, ','), e.DurationMs, 10)
	b = strconv.AppendInt(append(b, ','), at, 10)
	if e.ErrorClass != "" || ex != "" {
		b = appendJSONString(append(b, ','), e.ErrorClass)
		b = appendJSONString(append(b, ','), ex)
	}
	return string(append(b, ']'))
}

// appendJSONString appends s as encoding/json writes a string: printable ASCII that it does not
// escape as it is, anything else through encoding/json.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			quoted, _ := json.Marshal(s) // a string always encodes
			return append(b, quoted...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// excerpt keeps at most MaxExcerptBytes of s, cut at a character boundary.
func excerpt(s string) string {
	if len(s) <= MaxExcerptBytes {
		return s
	}
	cut := MaxExcerptBytes
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strings.Clone(s[:cut])
}
