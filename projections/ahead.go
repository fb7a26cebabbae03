package projections

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/hookd/hookd/domain/eventlog"
)

// StoredCheckpoint is the position up to which one projection says it applied the log.
type StoredCheckpoint struct {
	Projection string
	Position   eventlog.Position
}

// AheadOfLogError says read models are ahead of the log: their checkpoints are past its last
// position, so the log lacks events they applied. The log was lost, or replaced by an older or a
// different one. Serving such read models would answer with what the log no longer holds, and the
// events appended next would take positions the checkpoints say are applied: they would never show.
type AheadOfLogError struct {
	// Head is the log's last position; eventlog.Start when it is empty.
	Head eventlog.Position
	// Ahead lists every checkpoint past Head.
	Ahead []StoredCheckpoint
}

func (e *AheadOfLogError) Error() string {
	var b strings.Builder
	if e.Head == eventlog.Start {
		b.WriteString("projections: read models exist for an empty log (")
	} else {
		fmt.Fprintf(&b, "projections: read models are ahead of the log, which ends at %s (", e.Head)
	}
	for i, cp := range e.Ahead {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s at %s", cp.Projection, cp.Position)
	}
	b.WriteString(")")
	return b.String()
}

// CheckNotAhead returns an *AheadOfLogError when a checkpoint stored in db is past the log's last
// position, and nil when none is or db holds no checkpoints yet.
//
// It reads the checkpoints before the log's position: a checkpoint is written only after its event
// is in the log, so a process that appends and projects meanwhile cannot make it report one ahead.
func CheckNotAhead(ctx context.Context, db *sql.DB, last LastPositionFunc) error {
	stored, err := storedCheckpoints(ctx, db)
	if err != nil {
		return err
	}
	head, err := last(ctx)
	if err != nil {
		return err
	}
	var ahead []StoredCheckpoint
	for _, cp := range stored {
		if head.Before(cp.Position) {
			ahead = append(ahead, cp)
		}
	}
	if len(ahead) > 0 {
		return &AheadOfLogError{Head: head, Ahead: ahead}
	}
	return nil
}

// storedCheckpoints returns every checkpoint in db; none when the checkpoint table does not exist.
func storedCheckpoints(ctx context.Context, db *sql.DB) ([]StoredCheckpoint, error) {
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("projections: reading checkpoints: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	if tables, err := existingTables(ctx, tx, []string{"projection_checkpoints"}); err != nil || len(tables) == 0 {
		return nil, err
	}
	rows, err := tx.QueryContext(ctx, `SELECT name, position FROM projection_checkpoints ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("projections: reading checkpoints: %w", err)
	}
	defer rows.Close()
	var stored []StoredCheckpoint
	for rows.Next() {
		var name, position string
		if err := rows.Scan(&name, &position); err != nil {
			return nil, fmt.Errorf("projections: reading checkpoints: %w", err)
		}
		pos, err := eventlog.ParsePosition(position)
		if err != nil {
			return nil, fmt.Errorf("projections: checkpoint %s: %w", name, err)
		}
		stored = append(stored, StoredCheckpoint{Projection: name, Position: pos})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("projections: reading checkpoints: %w", err)
	}
	return stored, nil
}

// RewindToLog moves the checkpoint called name back to the log's last position when it is past it,
// and returns where it was; rewound is false when it was not ahead (or does not exist). It is for a
// Processor, whose effects a rebuild cannot make again: once the log is restored from an older copy,
// the events it appends next take positions past that copy's end, which the Processor must not skip.
// The database's write lock is held while the log's position is read, so that a Runner of a
// running process cannot commit a checkpoint past that position meanwhile.
func RewindToLog(ctx context.Context, db *sql.DB, name string, last LastPositionFunc) (from eventlog.Position, rewound bool, err error) {
	if err := ensureCheckpoints(ctx, db); err != nil {
		return eventlog.Position{}, false, err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return eventlog.Position{}, false, fmt.Errorf("projections: rewinding %s: %w", name, err)
	}
	defer func() { _ = tx.Rollback() }()
	cp, found, err := lockCheckpoint(ctx, tx, name)
	if err != nil || !found {
		return eventlog.Position{}, false, err
	}
	head, err := last(ctx)
	if err != nil {
		return eventlog.Position{}, false, err
	}
	if !head.Before(cp.position) {
		return cp.position, false, nil
	}
	if err := saveCheckpoint(ctx, tx, name, checkpoint{position: head, build: cp.build}); err != nil {
		return eventlog.Position{}, false, err
	}
	if err := tx.Commit(); err != nil {
		return eventlog.Position{}, false, fmt.Errorf("projections: rewinding %s: %w", name, err)
	}
	return cp.position, true, nil
}
