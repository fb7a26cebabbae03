// Package servicekeyview is the read model of the service's key pairs, one per slot: what
// authentication decrypts callers' headers with, what signs deliveries, and what /publickeys,
// /.well-known and /servicekeys publish.
package servicekeyview

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/hookd/hookd/domain/eventlog"
	"github.com/hookd/hookd/domain/servicekey"
	"github.com/hookd/hookd/projections"
)

// Name is the projection's name, under which its checkpoint is kept.
const Name = "servicekeys"

const tableKeys = "service_keys"

// ErrNotFound says no key pair was issued in the slot asked for.
var ErrNotFound = errors.New("servicekeyview: no key in this slot")

// Key is a slot's present key pair as the view keeps it.
//
// KeyID changes with every reset and Version with every event of the slot, so a cache of the opened
// private key stays valid for as long as a fresh Get returns the same KeyID.
type Key struct {
	Slot  string
	KeyID string
	Type  string
	// PublicKey is the public half as the log keeps it: for secp256k1 base64 of the 64-byte X‖Y
	// point, for ed25519 base64 of the 32-byte key.
	PublicKey string
	// PrivateKey is sealed, as the log holds it; open it with the codec's OpenSecret and Stream.
	PrivateKey string
	// Stream is the slot's stream in the log: the associated data the private key is sealed with.
	Stream string
	// Version is the revision of the last event applied.
	Version uint64
	// UpdatedAt is when the present pair was issued.
	UpdatedAt time.Time
}

// View is the service keys read model: a projections.Projection and the queries on it. It is safe
// for concurrent use.
type View struct {
	db      *sql.DB
	decoder projections.Decoder
	stmts   *projections.Statements
}

// New returns the view over db, the read models' database, decoding events with decoder. The tables
// are created by the projections Runner (or a rebuild), not here.
func New(db *sql.DB, decoder projections.Decoder) (*View, error) {
	if db == nil || decoder == nil {
		return nil, errors.New("servicekeyview: a database and a decoder are required")
	}
	return &View{db: db, decoder: decoder, stmts: projections.NewStatements(db)}, nil
}

// Name implements projections.Projection.
func (v *View) Name() string { return Name }

// Tables implements projections.Projection.
func (v *View) Tables() []string { return []string{tableKeys} }

// Setup implements projections.Projection.
func (v *View) Setup(ctx context.Context, tx *sql.Tx, s projections.Schema) error {
	_, err := tx.ExecContext(ctx, `CREATE TABLE `+s.Table(tableKeys)+` (
		slot        TEXT PRIMARY KEY,
		key_id      TEXT NOT NULL,
		type        TEXT NOT NULL,
		public_key  TEXT NOT NULL,
		private_key TEXT NOT NULL,
		stream      TEXT NOT NULL,
		version     INTEGER NOT NULL,
		updated_at  TEXT NOT NULL
	) WITHOUT ROWID`)
	if err != nil {
		return fmt.Errorf("servicekeyview: setup: %w", err)
	}
	return nil
}

// Reads implements projections.Selective.
func (v *View) Reads(eventType string) bool {
	return eventType == servicekey.EventIssued || eventType == servicekey.EventReset
}

// Apply implements projections.Projection. Events of other types are skipped, and so are events
// already applied.
func (v *View) Apply(ctx context.Context, tx *sql.Tx, s projections.Schema, events []eventlog.RecordedEvent) error {
	table := s.Table(tableKeys)
	for _, r := range events {
		if !v.Reads(r.Type) {
			continue
		}
		e, err := v.decoder.DecodeSealed(r)
		if err != nil {
			return fmt.Errorf("servicekeyview: %w", err)
		}
		md, err := v.decoder.DecodeMetadata(r)
		if err != nil {
			return fmt.Errorf("servicekeyview: %w", err)
		}
		var (
			slot string
			pair servicekey.Pair
		)
		switch e := e.(type) {
		case servicekey.Issued:
			slot, pair = e.Slot, e.Pair
		case servicekey.Reset:
			slot, pair = e.Slot, e.Pair
		default:
			return fmt.Errorf("servicekeyview: unexpected event %s of type %T", r.Type, e)
		}
		// Issued and Reset both carry the whole pair, so either one sets the row; the version guard
		// skips an event that is not newer than the row.
		_, err = tx.ExecContext(ctx, `INSERT INTO `+table+`
			(slot, key_id, type, public_key, private_key, stream, version, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (slot) DO UPDATE SET key_id = excluded.key_id, type = excluded.type,
				public_key = excluded.public_key, private_key = excluded.private_key, stream = excluded.stream,
				version = excluded.version, updated_at = excluded.updated_at
			WHERE excluded.version > version`,
			slot, pair.KeyID, pair.Type, pair.PublicKey, pair.PrivateKey, r.Stream, r.Revision,
			md.OccurredAt.UTC().Format(time.RFC3339Nano))
		if err != nil {
			return fmt.Errorf("servicekeyview: %s@%d: %w", r.Stream, r.Revision, err)
		}
	}
	return nil
}

const selectKey = `SELECT slot, key_id, type, public_key, private_key, stream, version, updated_at FROM ` + tableKeys

// Get returns the key pair of slot (servicekey.PrimarySlot for the one callers use), or ErrNotFound.
// It is one primary-key lookup.
func (v *View) Get(ctx context.Context, slot string) (Key, error) {
	stmt, err := v.stmts.Get(ctx, selectKey+` WHERE slot = ?`)
	if err != nil {
		return Key{}, fmt.Errorf("servicekeyview: %w", err)
	}
	k, err := scan(stmt.QueryRowContext(ctx, slot))
	if errors.Is(err, sql.ErrNoRows) {
		return Key{}, ErrNotFound
	}
	if err != nil {
		return Key{}, fmt.Errorf("servicekeyview: %w", err)
	}
	return k, nil
}

// List returns the key pair of every slot, by slot name.
func (v *View) List(ctx context.Context) ([]Key, error) {
	all, err := projections.QueryAll(ctx, v.db, selectKey+` ORDER BY slot`, scan)
	if err != nil {
		return nil, fmt.Errorf("servicekeyview: %w", err)
	}
	return all, nil
}

func scan(row projections.Row) (Key, error) {
	var (
		k         Key
		updatedAt string
	)
	if err := row.Scan(&k.Slot, &k.KeyID, &k.Type, &k.PublicKey, &k.PrivateKey, &k.Stream, &k.Version, &updatedAt); err != nil {
		return Key{}, err
	}
	var err error
	if k.UpdatedAt, err = time.Parse(time.RFC3339Nano, updatedAt); err != nil {
		return Key{}, err
	}
	return k, nil
}
