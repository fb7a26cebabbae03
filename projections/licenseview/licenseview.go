// Package licenseview is the read model of licenses: what authentication looks a license key up in,
// by the hash of the key, and what `hookd license list` shows.
package licenseview

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/hookd/hookd/domain/eventlog"
	"github.com/hookd/hookd/domain/license"
	"github.com/hookd/hookd/projections"
)

// Name is the projection's name, under which its checkpoint is kept.
const Name = "licenses"

const tableLicenses = "licenses"

// License is a license as the view keeps it. The key itself is nowhere: only its hash and hint.
type License struct {
	ID string
	// KeyHash is the hex SHA-256 of the license key.
	KeyHash string
	// KeyHint is a short part of the key that lets an operator recognise it.
	KeyHint  string
	Level    license.Level
	Scope    license.Scope
	Revoked  bool
	IssuedAt time.Time
	// Version is the revision of the last event applied.
	Version uint64
}

// View is the licenses read model: a projections.Projection and the queries on it. It is safe for
// concurrent use.
type View struct {
	db      *sql.DB
	decoder projections.Decoder
	stmts   *projections.Statements
	// changes marks every license event Apply is given, for Unchanged.
	changes projections.Changes
}

// New returns the view over db, the read models' database, decoding events with decoder. The tables
// are created by the projections Runner (or a rebuild), not here.
func New(db *sql.DB, decoder projections.Decoder) (*View, error) {
	if db == nil || decoder == nil {
		return nil, errors.New("licenseview: a database and a decoder are required")
	}
	return &View{db: db, decoder: decoder, stmts: projections.NewStatements(db)}, nil
}

// Name implements projections.Projection.
func (v *View) Name() string { return Name }

// Tables implements projections.Projection.
func (v *View) Tables() []string { return []string{tableLicenses} }

// Setup implements projections.Projection.
func (v *View) Setup(ctx context.Context, tx *sql.Tx, s projections.Schema) error {
	for _, stmt := range []string{
		// seq is the rowid, in the order licenses were issued: the order List returns them in.
		`CREATE TABLE ` + s.Table(tableLicenses) + ` (
			seq       INTEGER PRIMARY KEY,
			id        TEXT NOT NULL,
			key_hash  TEXT NOT NULL,
			key_hint  TEXT NOT NULL,
			level     TEXT NOT NULL,
			tenant    TEXT NOT NULL,
			community TEXT NOT NULL,
			revoked   INTEGER NOT NULL,
			issued_at TEXT NOT NULL,
			version   INTEGER NOT NULL
		)`,
		`CREATE UNIQUE INDEX ` + s.Index("licenses_id") + ` ON ` + s.Table(tableLicenses) + ` (id)`,
		`CREATE UNIQUE INDEX ` + s.Index("licenses_key_hash") + ` ON ` + s.Table(tableLicenses) + ` (key_hash)`,
	} {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("licenseview: setup: %w", err)
		}
	}
	return nil
}

// Reads implements projections.Selective.
func (v *View) Reads(eventType string) bool {
	return eventType == license.EventIssued || eventType == license.EventRevoked
}

// Unchanged reports whether no license event after position at has been applied or is being applied
// (see projections.Changes). It lets authentication keep the licenses it looks up on every request.
func (v *View) Unchanged(at eventlog.Position) bool { return v.changes.Unchanged(at) }

// Apply implements projections.Projection. Events of other types are skipped, and so are events
// already applied. A license issued with the hash of a key that another license already has is left
// out: the key keeps authenticating as the first license.
func (v *View) Apply(ctx context.Context, tx *sql.Tx, s projections.Schema, events []eventlog.RecordedEvent) error {
	v.changes.Mark(events, v.Reads)
	table := s.Table(tableLicenses)
	for _, r := range events {
		if !v.Reads(r.Type) {
			continue
		}
		e, err := v.decoder.DecodeSealed(r)
		if err != nil {
			return fmt.Errorf("licenseview: %w", err)
		}
		switch e := e.(type) {
		case license.Issued:
			md, err := v.decoder.DecodeMetadata(r)
			if err != nil {
				return fmt.Errorf("licenseview: %w", err)
			}
			_, err = tx.ExecContext(ctx, `INSERT INTO `+table+`
				(id, key_hash, key_hint, level, tenant, community, revoked, issued_at, version)
				VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?) ON CONFLICT DO NOTHING`,
				e.LicenseID, e.KeyHash, e.KeyHint, e.Level.String(), e.Scope.TenantID, e.Scope.CommunityID,
				md.OccurredAt.UTC().Format(time.RFC3339Nano), r.Revision)
			if err != nil {
				return fmt.Errorf("licenseview: %s@%d: %w", r.Stream, r.Revision, err)
			}
		case license.Revoked:
			_, err := tx.ExecContext(ctx, `UPDATE `+table+` SET revoked = 1, version = ? WHERE id = ? AND version < ?`,
				r.Revision, e.LicenseID, r.Revision)
			if err != nil {
				return fmt.Errorf("licenseview: %s@%d: %w", r.Stream, r.Revision, err)
			}
		default:
			return fmt.Errorf("licenseview: unexpected event %s of type %T", r.Type, e)
		}
	}
	return nil
}

const selectLicense = `SELECT id, key_hash, key_hint, level, tenant, community, revoked, issued_at, version FROM ` + tableLicenses

// ByKeyHash returns the license whose key has the hash given (hex SHA-256), revoked or not, or
// license.ErrNotFound.
func (v *View) ByKeyHash(ctx context.Context, hash string) (License, error) {
	stmt, err := v.stmts.Get(ctx, selectLicense+` WHERE key_hash = ?`)
	if err != nil {
		return License{}, fmt.Errorf("licenseview: %w", err)
	}
	l, err := scan(stmt.QueryRowContext(ctx, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return License{}, license.ErrNotFound
	}
	if err != nil {
		return License{}, fmt.Errorf("licenseview: %w", err)
	}
	return l, nil
}

// List returns every license, revoked ones included, in the order they were issued.
func (v *View) List(ctx context.Context) ([]License, error) {
	all, err := projections.QueryAll(ctx, v.db, selectLicense+` ORDER BY seq`, scan)
	if err != nil {
		return nil, fmt.Errorf("licenseview: %w", err)
	}
	return all, nil
}

func scan(row projections.Row) (License, error) {
	var (
		l               License
		level, issuedAt string
	)
	err := row.Scan(&l.ID, &l.KeyHash, &l.KeyHint, &level, &l.Scope.TenantID, &l.Scope.CommunityID,
		&l.Revoked, &issuedAt, &l.Version)
	if err != nil {
		return License{}, err
	}
	if l.Level, err = license.ParseLevel(level); err != nil {
		return License{}, err
	}
	if l.IssuedAt, err = time.Parse(time.RFC3339Nano, issuedAt); err != nil {
		return License{}, err
	}
	return l, nil
}
