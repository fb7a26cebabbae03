package deliveryview

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/hookd/hookd/domain/delivery"
	"github.com/hookd/hookd/internal/jsonwalk"
	"github.com/hookd/hookd/projections"
)

// Delivery is a delivery as the view keeps it: where it stands, and every attempt made.
type Delivery struct {
	ID          string
	WebhookID   string
	TenantID    string
	CommunityID string
	EventID     string
	EventName   string
	Status      delivery.Status
	// Attempts counts the attempts over the delivery's whole life, replays included.
	Attempts int
	// LastAttempt is the latest attempt's outcome; zero when none was made.
	LastAttempt LastAttempt
	// NextDueAt is when the next attempt is due while the delivery is scheduled; zero otherwise.
	NextDueAt time.Time
	// WaitingFor says why the delivery waits until NextDueAt without an attempt
	// (delivery.DeferReasonCircuitOpen); empty when its next attempt is simply due then.
	WaitingFor  string
	ScheduledAt time.Time
	// UpdatedAt is when the latest event about the delivery happened.
	UpdatedAt time.Time
	// ReplayMode is the mode of the latest replay; zero when the delivery was never replayed.
	ReplayMode delivery.ReplayMode
	// ParkReason says why a parked delivery (StatusFailed) was parked: one of delivery.ParkReasons;
	// empty while it is scheduled or once it succeeded.
	ParkReason string
	// Version is the revision of the last event applied.
	Version uint64
	// AttemptLog lists the attempts in the order they were made (by number). Get and Fetch fill it.
	AttemptLog []Attempt
}

// LastAttempt is the outcome of a delivery's latest attempt.
type LastAttempt struct {
	// Status is the HTTP status, 0 when no response came.
	Status     int
	ErrorClass string
	At         time.Time
}

// Attempt is one attempt to send a delivery.
type Attempt struct {
	Number int
	// Status is the HTTP status, 0 when no response came (ErrorClass says why).
	Status     int
	ErrorClass string
	DurationMs int64
	// ResponseExcerpt is at most MaxExcerptBytes of the response body.
	ResponseExcerpt string
	At              time.Time
}

// FetchQuery selects deliveries of one tenant and community.
type FetchQuery struct {
	// TenantID and CommunityID are required.
	TenantID, CommunityID string
	// WebhookID, when set, keeps the deliveries to that webhook.
	WebhookID string
	// Status, when set, keeps the deliveries that stand there.
	Status delivery.Status
	// EventName, when set, keeps the deliveries of events of that name.
	EventName string
	// From and To bound when deliveries were first scheduled: From <= scheduledAt < To. A zero time
	// leaves its end open.
	From, To time.Time
	// PageIndex counts pages from 0; PageSize is at least 1.
	PageIndex, PageSize int
}

// Page is one page of a Fetch.
type Page struct {
	// Total counts every delivery that matches the query, on every page.
	Total int
	// Items are the page's deliveries with their attempts, newest scheduled first; never nil.
	Items []Delivery
}

// DueDelivery is a delivery still to be attempted.
type DueDelivery struct {
	DeliveryID string
	NextDueAt  time.Time
	// seq places the delivery in Due's order, for the next page.
	seq int64
}

const selectDelivery = `SELECT id, webhook_id, tenant, community, event_id, event_name, status, attempts,
	last_status, last_error_class, last_attempt_at, next_due_at, scheduled_at, updated_at, replay_mode, park_reason, version,
	attempt_log, coalesce((SELECT w.reason FROM ` + tableWaits + ` w WHERE w.id = d.id AND w.until = d.next_due_at), '')
	FROM ` + tableDeliveries + ` d`

// PrepareQueries creates, in a database whose tables were built before it, the index Fetch uses
// for a community's deliveries across its webhooks. It is idempotent; on a large table it takes as
// long as building the index once.
func (v *View) PrepareQueries(ctx context.Context) error {
	if err := v.ensureIndex(ctx, "deliveries_recent_added", "tenant", "community", "scheduled_at"); err != nil {
		return fmt.Errorf("deliveryview: prepare queries: %w", err)
	}
	return nil
}

// Fetch returns one page of the deliveries q selects, newest scheduled first, with their attempts.
// A page past the last is empty, with the total.
func (v *View) Fetch(ctx context.Context, q FetchQuery) (Page, error) {
	if q.TenantID == "" || q.CommunityID == "" {
		return Page{}, errors.New("deliveryview: fetch: a tenant and a community are required")
	}
	if q.PageIndex < 0 || q.PageSize < 1 {
		return Page{}, fmt.Errorf("deliveryview: fetch: page %d of size %d: the index must be at least 0 and the size at least 1",
			q.PageIndex, q.PageSize)
	}
	count, page, args := fetchSQL(q)

	tx, err := v.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return Page{}, fmt.Errorf("deliveryview: fetch: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	result := Page{Items: []Delivery{}}
	if err := tx.QueryRowContext(ctx, count, args...).Scan(&result.Total); err != nil {
		return Page{}, fmt.Errorf("deliveryview: fetch: %w", err)
	}
	if q.PageIndex >= (result.Total+q.PageSize-1)/q.PageSize {
		return result, nil
	}
	rows, err := tx.QueryContext(ctx, page, append(args, q.PageSize, q.PageIndex*q.PageSize)...)
	if err != nil {
		return Page{}, fmt.Errorf("deliveryview: fetch: %w", err)
	}
	result.Items, err = projections.ScanAll(rows, scan)
	if err != nil {
		return Page{}, fmt.Errorf("deliveryview: fetch: %w", err)
	}
	return result, nil
}

// fetchSQL returns the statements of a Fetch of q: one counts what it selects, the other reads a page
// of it (its last two arguments, the page's size and offset, follow args).
func fetchSQL(q FetchQuery) (count, page string, args []any) {
	where, args := []string{"tenant = ?", "community = ?"}, []any{q.TenantID, q.CommunityID}
	if q.WebhookID != "" {
		where, args = append(where, "webhook_id = ?"), append(args, packID(q.WebhookID))
	}
	if !q.Status.IsZero() {
		where, args = append(where, "status = ?"), append(args, q.Status.String())
	}
	if q.EventName != "" {
		where, args = append(where, "event_name = ?"), append(args, q.EventName)
	}
	if !q.From.IsZero() {
		where, args = append(where, "scheduled_at >= ?"), append(args, packTime(q.From))
	}
	if !q.To.IsZero() {
		where, args = append(where, "scheduled_at < ?"), append(args, packTime(q.To))
	}
	cond := strings.Join(where, " AND ")
	return `SELECT count(*) FROM ` + tableDeliveries + ` WHERE ` + cond,
		selectDelivery + ` WHERE ` + cond + ` ORDER BY scheduled_at DESC, seq DESC LIMIT ? OFFSET ?`, args
}

// Get returns the delivery id of the tenant and community with its attempts, or delivery.ErrNotFound
// when there is none in that scope.
func (v *View) Get(ctx context.Context, tenantID, communityID, deliveryID string) (Delivery, error) {
	tx, err := v.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return Delivery{}, fmt.Errorf("deliveryview: get: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	d, err := scan(tx.QueryRowContext(ctx, selectDelivery+` WHERE id = ? AND tenant = ? AND community = ?`,
		packID(deliveryID), tenantID, communityID))
	if errors.Is(err, sql.ErrNoRows) {
		return Delivery{}, delivery.ErrNotFound
	}
	if err != nil {
		return Delivery{}, fmt.Errorf("deliveryview: get: %w", err)
	}
	return d, nil
}

// Find returns the delivery id of any tenant and community with its attempts, or
// delivery.ErrNotFound: for an operator, who holds the data directory and sees every tenant.
func (v *View) Find(ctx context.Context, deliveryID string) (Delivery, error) {
	d, err := scan(v.db.QueryRowContext(ctx, selectDelivery+` WHERE id = ?`, packID(deliveryID)))
	if errors.Is(err, sql.ErrNoRows) {
		return Delivery{}, delivery.ErrNotFound
	}
	if err != nil {
		return Delivery{}, fmt.Errorf("deliveryview: find: %w", err)
	}
	return d, nil
}

// Due returns up to limit deliveries that are scheduled (neither succeeded nor parked), the one due
// first first, whether their time has come or not, starting after the delivery after (nil: from the
// first). It is what a restart hands back to delivery after a crash, page by page.
func (v *View) Due(ctx context.Context, after *DueDelivery, limit int) ([]DueDelivery, error) {
	if limit < 1 {
		return nil, fmt.Errorf("deliveryview: due: limit %d must be at least 1", limit)
	}
	at, seq := int64(math.MinInt64), int64(0)
	if after != nil {
		at, seq = packTime(after.NextDueAt), after.seq
	}
	stmt, err := v.stmts.Get(ctx, `SELECT id, next_due_at, seq FROM `+tableDeliveries+`
		WHERE status = 'scheduled' AND (next_due_at, seq) > (?, ?) ORDER BY next_due_at, seq LIMIT ?`)
	if err != nil {
		return nil, fmt.Errorf("deliveryview: due: %w", err)
	}
	rows, err := stmt.QueryContext(ctx, at, seq, limit)
	if err != nil {
		return nil, fmt.Errorf("deliveryview: due: %w", err)
	}
	due, err := projections.ScanAll(rows, func(row projections.Row) (DueDelivery, error) {
		var (
			d  DueDelivery
			at int64
		)
		if err := row.Scan(idColumn{&d.DeliveryID}, &at, &d.seq); err != nil {
			return DueDelivery{}, err
		}
		d.NextDueAt = unpackTime(at)
		return d, nil
	})
	if err != nil {
		return nil, fmt.Errorf("deliveryview: due: %w", err)
	}
	return due, nil
}

func scan(row projections.Row) (Delivery, error) {
	var (
		d                                       Delivery
		status, replay                          string
		lastAt, nextDue, scheduledAt, updatedAt int64
		attemptLog                              []byte
	)
	err := row.Scan(idColumn{&d.ID}, idColumn{&d.WebhookID}, &d.TenantID, &d.CommunityID, idColumn{&d.EventID}, &d.EventName, &status, &d.Attempts,
		&d.LastAttempt.Status, &d.LastAttempt.ErrorClass, &lastAt, &nextDue, &scheduledAt, &updatedAt, &replay, &d.ParkReason, &d.Version,
		&attemptLog, &d.WaitingFor)
	if err != nil {
		return Delivery{}, err
	}
	if d.AttemptLog, err = parseAttemptLog(attemptLog); err != nil {
		return Delivery{}, err
	}
	if d.Status, err = delivery.ParseStatus(status); err != nil {
		return Delivery{}, err
	}
	if replay != "" {
		if d.ReplayMode, err = delivery.ParseReplayMode(replay); err != nil {
			return Delivery{}, err
		}
	}
	d.LastAttempt.At, d.NextDueAt, d.ScheduledAt, d.UpdatedAt = unpackTime(lastAt), unpackTime(nextDue), unpackTime(scheduledAt), unpackTime(updatedAt)
	return d, nil
}

// parseAttemptLog reads a row's attempt_log, in the order the attempts were made: a JSON array of
// loggedAttempt arrays, read with jsonwalk once it is known to be valid (encoding/json, each field
// decoded from a json.RawMessage, cost a page of one webhook's deliveries 30 to 60 % more CPU in
// BenchmarkFetch than the objects the log held before).
func parseAttemptLog(raw []byte) ([]Attempt, error) {
	if !jsonwalk.Valid(raw) {
		return nil, errors.New("attempt log: not valid JSON")
	}
	entries, ok := jsonwalk.Items(raw)
	if !ok {
		return nil, errors.New("attempt log: not a JSON array")
	}
	out := make([]Attempt, len(entries))
	for i, entry := range entries {
		a, err := parseAttempt(entry)
		if err != nil {
			return nil, fmt.Errorf("attempt log: entry %d: %w", i, err)
		}
		out[i] = Attempt{Number: a.Number, Status: a.Status, ErrorClass: a.ErrorClass, DurationMs: a.DurationMs,
			ResponseExcerpt: a.ResponseExcerpt, At: unpackTime(a.At)}
	}
	return out, nil
}

// parseAttempt reads one entry of a valid attempt log.
func parseAttempt(entry []byte) (loggedAttempt, error) {
	var a loggedAttempt
	fields, ok := jsonwalk.Items(entry)
	if !ok || (len(fields) != 4 && len(fields) != 6) {
		return a, fmt.Errorf("not an array of 4 or 6 fields: %.40s", entry)
	}
	var numbers [4]int64
	for i := range numbers {
		n, err := strconv.ParseInt(string(fields[i]), 10, 64)
		if err != nil {
			return a, err
		}
		numbers[i] = n
	}
	a.Number, a.Status, a.DurationMs, a.At = int(numbers[0]), int(numbers[1]), numbers[2], numbers[3]
	if len(fields) == 6 {
		if a.ErrorClass, ok = jsonwalk.String(fields[4]); !ok {
			return a, errors.New("error class: not a string")
		}
		if a.ResponseExcerpt, ok = jsonwalk.String(fields[5]); !ok {
			return a, errors.New("excerpt: not a string")
		}
	}
	return a, nil
}
