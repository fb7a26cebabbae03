package projections

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/hookd/hookd/domain/eventlog"
)

// sqlNow is SQLite's clock in RFC 3339 form: updated_at needs no clock of ours.
const sqlNow = `strftime('%Y-%m-%dT%H:%M:%fZ', 'now')`

// ensureCheckpoints creates the checkpoint table. It runs on its own, outside any transaction, so that
// the transactions that follow can all start with a write.
func ensureCheckpoints(ctx context.Context, db *sql.DB) error {
	if _, err := db.ExecContext(ctx, createCheckpoints); err != nil {
		return fmt.Errorf("projections: creating the checkpoint table: %w", err)
	}
	return nil
}

// lockCheckpoint takes the database's write lock and reads the checkpoint called name. The UPDATE is
// what takes the lock (see the package comment); found is false when there is no such checkpoint.
func lockCheckpoint(ctx context.Context, tx *sql.Tx, name string) (cp checkpoint, found bool, err error) {
	var position string
	err = tx.QueryRowContext(ctx,
		`UPDATE projection_checkpoints SET updated_at = `+sqlNow+` WHERE name = ? RETURNING position, build`,
		name).Scan(&position, &cp.build)
	if errors.Is(err, sql.ErrNoRows) {
		return checkpoint{}, false, nil
	}
	if err != nil {
		return checkpoint{}, false, fmt.Errorf("projections: reading checkpoint %s: %w", name, err)
	}
	if cp.position, err = eventlog.ParsePosition(position); err != nil {
		return checkpoint{}, false, fmt.Errorf("projections: checkpoint %s: %w", name, err)
	}
	return cp, true, nil
}

// saveCheckpoint writes the checkpoint called name.
func saveCheckpoint(ctx context.Context, tx *sql.Tx, name string, cp checkpoint) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO projection_checkpoints (name, position, build, updated_at)
		VALUES (?, ?, ?, `+sqlNow+`)
		ON CONFLICT (name) DO UPDATE SET position = excluded.position, build = excluded.build,
			updated_at = excluded.updated_at`,
		name, cp.position.String(), cp.build)
	if err != nil {
		return fmt.Errorf("projections: writing checkpoint %s: %w", name, err)
	}
	return nil
}

// existingTables returns those of tables that exist in the database.
func existingTables(ctx context.Context, tx *sql.Tx, tables []string) ([]string, error) {
	if len(tables) == 0 {
		return nil, nil
	}
	args := make([]any, len(tables))
	for i, t := range tables {
		args[i] = t
	}
	rows, err := tx.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table' AND name IN (?`+
		strings.Repeat(", ?", len(tables)-1)+`)`, args...)
	if err != nil {
		return nil, fmt.Errorf("projections: listing tables: %w", err)
	}
	defer rows.Close()
	var found []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, fmt.Errorf("projections: listing tables: %w", err)
		}
		found = append(found, name)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("projections: listing tables: %w", err)
	}
	return found, nil
}

// dropTables drops those of tables that exist; dropping a table drops its indexes.
func dropTables(ctx context.Context, tx *sql.Tx, tables []string) error {
	for _, t := range tables {
		if _, err := tx.ExecContext(ctx, `DROP TABLE IF EXISTS `+quote(t)); err != nil {
			return fmt.Errorf("projections: dropping %s: %w", t, err)
		}
	}
	return nil
}

// quote makes a table name an SQL identifier. Table names come from projections, never from input,
// but quoting keeps an odd name from changing the statement.
func quote(name string) string { return `"` + strings.ReplaceAll(name, `"`, `""`) + `"` }

// lockCheckpointsQuery is lockCheckpoints' statement for n names.
func lockCheckpointsQuery(n int) string {
	return `UPDATE projection_checkpoints SET updated_at = ` + sqlNow +
		` WHERE name IN (?` + strings.Repeat(", ?", n-1) + `) RETURNING name, position, build`
}

// lockCheckpoints takes the database's write lock and reads the checkpoints called names, as
// lockCheckpoint does for one: one statement for a Group's batch, however many read models it feeds.
// stmt is lockCheckpointsQuery(len(names)), prepared. A name without a checkpoint is missing from the
// map.
func lockCheckpoints(ctx context.Context, tx *sql.Tx, stmt *sql.Stmt, names []string) (map[string]checkpoint, error) {
	args := make([]any, len(names))
	for i, n := range names {
		args[i] = n
	}
	rows, err := tx.StmtContext(ctx, stmt).QueryContext(ctx, args...)
	if err != nil {
		return nil, fmt.Errorf("projections: reading checkpoints: %w", err)
	}
	defer rows.Close()
	found := make(map[string]checkpoint, len(names))
	for rows.Next() {
		var name, position string
		var cp checkpoint
		if err := rows.Scan(&name, &position, &cp.build); err != nil {
			return nil, fmt.Errorf("projections: reading checkpoints: %w", err)
		}
		if cp.position, err = eventlog.ParsePosition(position); err != nil {
			return nil, fmt.Errorf("projections: checkpoint %s: %w", name, err)
		}
		found[name] = cp
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("projections: reading checkpoints: %w", err)
	}
	return found, nil
}

// saveCheckpointsQuery is saveCheckpoints' statement for n checkpoints.
func saveCheckpointsQuery(n int) string {
	values := `(?, ?, ?, ` + sqlNow + `)`
	return `INSERT INTO projection_checkpoints (name, position, build, updated_at)
		VALUES ` + values + strings.Repeat(", "+values, n-1) + `
		ON CONFLICT (name) DO UPDATE SET position = excluded.position, build = excluded.build,
			updated_at = excluded.updated_at`
}

// saveCheckpoints writes the checkpoints of cps, by name, in one statement: stmt when it is
// saveCheckpointsQuery(len(cps)) prepared, else one prepared here.
func saveCheckpoints(ctx context.Context, tx *sql.Tx, stmt *sql.Stmt, cps map[string]checkpoint) error {
	if len(cps) == 0 {
		return nil
	}
	args := make([]any, 0, 3*len(cps))
	for name, cp := range cps {
		args = append(args, name, cp.position.String(), cp.build)
	}
	var err error
	if stmt != nil {
		_, err = tx.StmtContext(ctx, stmt).ExecContext(ctx, args...)
	} else {
		_, err = tx.ExecContext(ctx, saveCheckpointsQuery(len(cps)), args...)
	}
	if err != nil {
		return fmt.Errorf("projections: writing checkpoints: %w", err)
	}
	return nil
}
