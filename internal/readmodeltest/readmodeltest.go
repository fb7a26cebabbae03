// Package readmodeltest is test support for read models: their database opened as hookd opens it, and
// a codec whose sealing is visible. Nothing outside tests imports it.
package readmodeltest

import (
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookd/hookd/adapters/readmodeldb"
	"github.com/hookd/hookd/application/eventcodec"
)

// OpenDB opens a read models' database at path with hookd's own settings and closes it when the
// test ends. Each call is a pool of its own, as another process would have.
func OpenDB(tb testing.TB, path string) *sql.DB {
	tb.Helper()
	db, err := readmodeldb.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = db.Close() })
	return db
}

// TempDB opens a fresh read models' database in the test's temporary directory.
func TempDB(tb testing.TB) (*sql.DB, string) {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "readmodels.db")
	return OpenDB(tb, path), path
}

// Sealer stands in for the real sealer: it marks sealed values, so a test can see that a read model
// keeps them sealed, and it opens only what it marked.
type Sealer struct{}

// Seal implements eventcodec.Sealer.
func (Sealer) Seal(plaintext, _ string) (string, error) { return "sealed:" + plaintext, nil }

// Open implements eventcodec.Sealer.
func (Sealer) Open(sealed, _ string) (string, error) {
	plain, ok := strings.CutPrefix(sealed, "sealed:")
	if !ok {
		return "", errors.New("readmodeltest: not sealed")
	}
	return plain, nil
}

// Codec returns a codec of every hookd event that seals with Sealer.
func Codec(tb testing.TB) *eventcodec.Codec {
	tb.Helper()
	registry, err := eventcodec.NewRegistry(eventcodec.HookdEvents()...)
	if err != nil {
		tb.Fatal(err)
	}
	codec, err := eventcodec.New(registry, Sealer{})
	if err != nil {
		tb.Fatal(err)
	}
	return codec
}

// Plan returns SQLite's plan of statement with args, a step a line. hookd never runs ANALYZE, so
// SQLite plans by the schema alone: the plan on empty tables is the plan on full ones.
func Plan(tb testing.TB, db *sql.DB, statement string, args ...any) string {
	tb.Helper()
	rows, err := db.Query(`EXPLAIN QUERY PLAN `+statement, args...)
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	var steps []string
	for rows.Next() {
		var id, parent, notUsed int
		var detail string
		if err := rows.Scan(&id, &parent, &notUsed, &detail); err != nil {
			tb.Fatal(err)
		}
		steps = append(steps, detail)
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	return strings.Join(steps, "\n")
}

// InTx runs fn in a transaction on db and commits it, failing the test on any error: how a test
// runs a read model's Setup as the runner does, inside a transaction.
func InTx(tb testing.TB, db *sql.DB, fn func(*sql.Tx) error) {
	tb.Helper()
	tx, err := db.BeginTx(tb.Context(), nil)
	if err != nil {
		tb.Fatal(err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		tb.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		tb.Fatal(err)
	}
}
