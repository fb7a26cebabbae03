package deliveryview

import (
	"context"
	"fmt"
	"time"

	"github.com/hookd/hookd/projections"
)

// Health counts a community's (or one webhook's) deliveries by where they stand.
type Health struct {
	// Succeeded and Failed (parked) count the deliveries that finished since the time asked for.
	Succeeded, Failed int
	// Retrying counts the deliveries still scheduled after at least one attempt, whenever it was.
	Retrying int
	// Pending counts the deliveries scheduled and not yet attempted.
	Pending int
	// LastAttemptAt is when the latest attempt of any delivery was made; zero when none was.
	LastAttemptAt time.Time
}

// SuccessRate is the share of finished deliveries that succeeded, from 0 to 1, and false when none
// finished.
func (h Health) SuccessRate() (float64, bool) {
	if h.Succeeded+h.Failed == 0 {
		return 0, false
	}
	return float64(h.Succeeded) / float64(h.Succeeded+h.Failed), true
}

// Health counts the deliveries of the tenant and community, and of the webhook unless webhookID is
// empty. It reads the scope's rows through the scope index, so its cost grows with the deliveries
// the scope keeps.
func (v *View) Health(ctx context.Context, tenantID, communityID, webhookID string, since time.Time) (Health, error) {
	where, args := `tenant = ? AND community = ?`, []any{tenantID, communityID}
	if webhookID != "" {
		where, args = where+` AND webhook_id = ?`, append(args, packID(webhookID))
	}
	var h Health
	var last int64
	err := v.db.QueryRowContext(ctx, `SELECT
			coalesce(sum(status = 'succeeded' AND updated_at >= ?), 0),
			coalesce(sum(status = 'failed' AND updated_at >= ?), 0),
			coalesce(sum(status = 'scheduled' AND attempts > 0), 0),
			coalesce(sum(status = 'scheduled' AND attempts = 0), 0),
			coalesce(max(last_attempt_at), 0)
		FROM `+tableDeliveries+` WHERE `+where,
		append([]any{packTime(since), packTime(since)}, args...)...).
		Scan(&h.Succeeded, &h.Failed, &h.Retrying, &h.Pending, &last)
	if err != nil {
		return Health{}, fmt.Errorf("deliveryview: health: %w", err)
	}
	h.LastAttemptAt = unpackTime(last)
	return h, nil
}

// EventNames returns up to limit distinct names of the events delivered in the tenant and
// community, in order.
func (v *View) EventNames(ctx context.Context, tenantID, communityID string, limit int) ([]string, error) {
	rows, err := v.db.QueryContext(ctx, `SELECT DISTINCT event_name FROM `+tableDeliveries+
		` WHERE tenant = ? AND community = ? ORDER BY event_name LIMIT ?`, tenantID, communityID, limit)
	if err != nil {
		return nil, fmt.Errorf("deliveryview: event names: %w", err)
	}
	names, err := projections.ScanAll(rows, func(r projections.Row) (string, error) {
		var s string
		return s, r.Scan(&s)
	})
	if err != nil {
		return nil, fmt.Errorf("deliveryview: event names: %w", err)
	}
	return names, nil
}

// Changed returns up to limit deliveries of the tenant and community (of every tenant when tenantID
// is empty) whose latest event happened at or after since, the oldest change first, with their
// attempts: what a live view shows next.
func (v *View) Changed(ctx context.Context, tenantID, communityID string, since time.Time, limit int) ([]Delivery, error) {
	where, args := `updated_at >= ?`, []any{packTime(since)}
	if tenantID != "" {
		where, args = where+` AND tenant = ?`, append(args, tenantID)
	}
	if communityID != "" {
		where, args = where+` AND community = ?`, append(args, communityID)
	}
	rows, err := v.db.QueryContext(ctx, selectDelivery+` WHERE `+where+` ORDER BY updated_at, seq LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("deliveryview: changed: %w", err)
	}
	out, err := projections.ScanAll(rows, scan)
	if err != nil {
		return nil, fmt.Errorf("deliveryview: changed: %w", err)
	}
	return out, nil
}
