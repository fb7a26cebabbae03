package deliveryview

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/hookd/hookd/domain/delivery"
	"github.com/hookd/hookd/domain/eventlog"
	"github.com/hookd/hookd/projections"
)

// tableExpired remembers the deliveries retention removed, so that a replay of one answers that it
// expired rather than that it never was. It is no table of the projection: the log no longer holds
// what it records, so a rebuild keeps it as it is. Its rows are removed in turn after another
// retention period (ForgetExpiredBefore), which bounds it.
const tableExpired = "delivery_expired"

// Expiring is a delivery that retention may remove: finished, and unchanged since before a cutoff.
type Expiring struct {
	ID, TenantID, CommunityID, WebhookID, EventID string
	// Version is the revision of the last event of its stream the row holds, Position where that
	// event is in the log.
	Version  uint64
	Position eventlog.Position
	// UpdatedAt is when it last changed.
	UpdatedAt time.Time
}

// PrepareExpiredIDs creates the table of expired ids when it is not there yet.
func (v *View) PrepareExpiredIDs(ctx context.Context) error {
	if _, err := v.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+tableExpired+` (
		id         TEXT PRIMARY KEY,
		tenant     TEXT NOT NULL,
		community  TEXT NOT NULL,
		webhook_id TEXT NOT NULL,
		expired_at TEXT NOT NULL
	) WITHOUT ROWID`); err != nil {
		return fmt.Errorf("deliveryview: prepare expired ids: %w", err)
	}
	return nil
}

// PrepareRetention creates what retention needs in a database whose tables were built before it:
// the table of expired ids, and an index of deliveries by event on the live table, which Setup
// creates in builds since. It is idempotent.
func (v *View) PrepareRetention(ctx context.Context) error {
	if err := v.PrepareExpiredIDs(ctx); err != nil {
		return err
	}
	if err := v.ensureIndex(ctx, "deliveries_event_added", "event_id"); err != nil {
		return fmt.Errorf("deliveryview: prepare retention: %w", err)
	}
	return nil
}

// ensureIndex creates the index name on the live table of deliveries, on columns, unless an index
// on just those columns, in that order, is there already (Setup creates one in builds since), or
// the table is not there yet (Setup will create it, with the index).
func (v *View) ensureIndex(ctx context.Context, name string, columns ...string) error {
	var tables, indexed int
	err := v.db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?`,
		tableDeliveries).Scan(&tables)
	if err != nil || tables == 0 {
		return err
	}
	err = v.db.QueryRowContext(ctx, `SELECT count(*) FROM pragma_index_list('`+tableDeliveries+`') l
		WHERE (SELECT group_concat(name, ',') FROM (SELECT name FROM pragma_index_info(l.name) ORDER BY seqno)) = ?`,
		strings.Join(columns, ",")).Scan(&indexed)
	if err != nil || indexed > 0 {
		return err
	}
	_, err = v.db.ExecContext(ctx, `CREATE INDEX IF NOT EXISTS `+name+` ON `+tableDeliveries+` (`+strings.Join(columns, ", ")+`)`)
	return err
}

// Expiring returns up to limit finished deliveries last changed before cutoff, looking at the rows
// after after in the order they were scheduled; next is where to go on from, and done says the
// scan reached deliveries scheduled at or after cutoff, none of which can have expired. Rows are
// scanned by their row id, oldest first, so a pass costs what it finds plus the few old rows kept
// (still scheduled, or replayed since).
func (v *View) Expiring(ctx context.Context, cutoff time.Time, after int64, limit int) (found []Expiring, next int64, done bool, err error) {
	rows, err := v.db.QueryContext(ctx, `SELECT seq, id, tenant, community, webhook_id, event_id, status, updated_at,
		scheduled_at, version, at_commit, at_prepare FROM `+tableDeliveries+` WHERE seq > ? ORDER BY seq LIMIT ?`, after, limit)
	if err != nil {
		return nil, after, false, fmt.Errorf("deliveryview: expiring: %w", err)
	}
	defer rows.Close()
	end := packTime(cutoff)
	next, scanned := after, 0
	for rows.Next() {
		var (
			e                                     Expiring
			status                                string
			updated, scheduledAt, commit, prepare int64
		)
		if err := rows.Scan(&next, idColumn{&e.ID}, &e.TenantID, &e.CommunityID, idColumn{&e.WebhookID}, idColumn{&e.EventID}, &status, &updated,
			&scheduledAt, &e.Version, &commit, &prepare); err != nil {
			return nil, after, false, fmt.Errorf("deliveryview: expiring: %w", err)
		}
		scanned++
		if scheduledAt >= end {
			return found, next, true, nil
		}
		if status != delivery.StatusScheduled.String() && updated < end {
			e.UpdatedAt, e.Position = unpackTime(updated), unpackPosition(commit, prepare)
			found = append(found, e)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, after, false, fmt.Errorf("deliveryview: expiring: %w", err)
	}
	return found, next, scanned < limit, nil
}

// Forget removes the rows of the deliveries retention removed from the log and remembers their ids
// as expired at at, in one transaction.
func (v *View) Forget(ctx context.Context, gone []Expiring, at time.Time) error {
	if len(gone) == 0 {
		return nil
	}
	tx, err := v.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("deliveryview: forget: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	when := projections.FormatTime(at)
	for _, e := range gone {
		// A row that moved on since it was found (a replay) stays.
		if _, err := tx.ExecContext(ctx, `DELETE FROM `+tableDeliveries+` WHERE id = ? AND version = ?`, packID(e.ID), e.Version); err != nil {
			return fmt.Errorf("deliveryview: forget: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO `+tableExpired+` (id, tenant, community, webhook_id, expired_at)
			VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`, e.ID, e.TenantID, e.CommunityID, e.WebhookID, when); err != nil {
			return fmt.Errorf("deliveryview: forget: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("deliveryview: forget: %w", err)
	}
	return nil
}

// HasDeliveriesOf reports whether any delivery of the published event eventID is still kept.
func (v *View) HasDeliveriesOf(ctx context.Context, eventID string) (bool, error) {
	var n int
	if err := v.db.QueryRowContext(ctx, `SELECT count(*) FROM (SELECT 1 FROM `+tableDeliveries+` WHERE event_id = ? LIMIT 1)`,
		packID(eventID)).Scan(&n); err != nil {
		return false, fmt.Errorf("deliveryview: deliveries of event %s: %w", eventID, err)
	}
	return n > 0, nil
}

// Expired returns which of ids retention removed from the tenant, community and webhook (any
// webhook when webhookID is empty). PrepareRetention must have run on the database.
func (v *View) Expired(ctx context.Context, tenantID, communityID, webhookID string, ids []string) (map[string]bool, error) {
	out := map[string]bool{}
	if len(ids) == 0 {
		return out, nil
	}
	args := []any{tenantID, communityID}
	for _, id := range ids {
		args = append(args, id)
	}
	rows, err := v.db.QueryContext(ctx, `SELECT id, webhook_id FROM `+tableExpired+` WHERE tenant = ? AND community = ?
		AND id IN (?`+strings.Repeat(", ?", len(ids)-1)+`)`, args...)
	if err != nil {
		return nil, fmt.Errorf("deliveryview: expired: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, webhookID2 string
		if err := rows.Scan(&id, &webhookID2); err != nil {
			return nil, fmt.Errorf("deliveryview: expired: %w", err)
		}
		if webhookID == "" || webhookID == webhookID2 {
			out[id] = true
		}
	}
	return out, rows.Err()
}

// ForgetExpiredBefore removes the ids of deliveries expired before cutoff, at most limit of them,
// and returns how many it removed.
func (v *View) ForgetExpiredBefore(ctx context.Context, cutoff time.Time, limit int) (int, error) {
	res, err := v.db.ExecContext(ctx, `DELETE FROM `+tableExpired+` WHERE id IN (SELECT id FROM `+tableExpired+`
		WHERE expired_at < ? LIMIT ?)`, projections.FormatTime(cutoff), limit)
	if err != nil {
		return 0, fmt.Errorf("deliveryview: forget expired: %w", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}
