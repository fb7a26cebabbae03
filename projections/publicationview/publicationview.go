// Package publicationview is the read model of published events and how far their dispatch went:
// when each was published, how many deliveries it made and when the last was scheduled. Its
// Runner is the dispatcher's (see application/dispatch), so its checkpoint is the dispatcher's too.
package publicationview

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hookd/hookd/domain/delivery"
	"github.com/hookd/hookd/domain/eventlog"
	"github.com/hookd/hookd/domain/publication"
	"github.com/hookd/hookd/projections"
)

// Name is the projection's name, under which its checkpoint (the dispatcher's) is kept.
const Name = "dispatch"

const table = "publications"

// Publication is a published event and the deliveries scheduled for it.
type Publication struct {
	EventID     string
	PublishedAt time.Time
	// Deliveries counts the deliveries scheduled for the event.
	Deliveries int
	// LastScheduledAt is when the last of them was scheduled; zero while there is none.
	LastScheduledAt time.Time
}

// View is the publications read model: a projections.Projection and its query.
type View struct {
	db      *sql.DB
	decoder projections.Decoder
}

// New returns the view over db, the read models' database.
func New(db *sql.DB, decoder projections.Decoder) (*View, error) {
	if db == nil || decoder == nil {
		return nil, errors.New("publicationview: a database and a decoder are required")
	}
	return &View{db: db, decoder: decoder}, nil
}

// Name implements projections.Projection.
func (v *View) Name() string { return Name }

// Tables implements projections.Projection.
func (v *View) Tables() []string { return []string{table} }

// Setup implements projections.Projection.
func (v *View) Setup(ctx context.Context, tx *sql.Tx, s projections.Schema) error {
	_, err := tx.ExecContext(ctx, `CREATE TABLE `+s.Table(table)+` (
		event_id          TEXT PRIMARY KEY,
		published_at      TEXT NOT NULL,
		deliveries        INTEGER NOT NULL,
		last_scheduled_at TEXT NOT NULL
	) WITHOUT ROWID`)
	if err != nil {
		return fmt.Errorf("publicationview: setup: %w", err)
	}
	return nil
}

// Reads implements projections.Selective.
func (v *View) Reads(eventType string) bool {
	return eventType == publication.EventPublished || eventType == delivery.EventScheduled
}

// Apply implements projections.Projection. A DeliveryScheduled is counted for the event its
// metadata correlates with (the dispatcher schedules with the event's id as correlation id), so its
// body need not be decoded.
func (v *View) Apply(ctx context.Context, tx *sql.Tx, s projections.Schema, events []eventlog.RecordedEvent) error {
	stmts := projections.NewTxStatements(tx)
	defer stmts.Close()
	for _, r := range events {
		if !v.Reads(r.Type) {
			continue
		}
		md, err := v.decoder.DecodeMetadata(r)
		if err != nil {
			return fmt.Errorf("publicationview: %s@%d: %w", r.Stream, r.Revision, err)
		}
		at := projections.FormatTime(md.OccurredAt)
		if r.Type == publication.EventPublished {
			_, err = stmts.Exec(ctx, `INSERT INTO `+s.Table(table)+` (event_id, published_at, deliveries, last_scheduled_at)
				VALUES (?, ?, 0, '') ON CONFLICT DO NOTHING`, strings.TrimPrefix(r.Stream, publication.StreamPrefix), at)
		} else {
			_, err = stmts.Exec(ctx, `UPDATE `+s.Table(table)+` SET deliveries = deliveries + 1, last_scheduled_at = ?
				WHERE event_id = ?`, at, md.CorrelationID)
		}
		if err != nil {
			return fmt.Errorf("publicationview: %s@%d: %w", r.Stream, r.Revision, err)
		}
	}
	return nil
}

// Get returns the publication of the event id, or an error wrapping sql.ErrNoRows when the view
// does not hold it (yet).
func (v *View) Get(ctx context.Context, eventID string) (Publication, error) {
	var (
		p                   Publication
		published, schedule string
	)
	err := v.db.QueryRowContext(ctx, `SELECT event_id, published_at, deliveries, last_scheduled_at FROM `+table+
		` WHERE event_id = ?`, eventID).Scan(&p.EventID, &published, &p.Deliveries, &schedule)
	if err != nil {
		return Publication{}, fmt.Errorf("publicationview: %s: %w", eventID, err)
	}
	if p.PublishedAt, err = projections.ParseTime(published); err != nil {
		return Publication{}, err
	}
	if p.LastScheduledAt, err = projections.ParseTime(schedule); err != nil {
		return Publication{}, err
	}
	return p, nil
}
