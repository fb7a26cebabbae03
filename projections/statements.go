package projections

import (
	"context"
	"database/sql"
	"sync"
)

// Statements prepares each query of a read model once and keeps it, so that a query served a few
// thousand times a second is parsed once rather than each time. It is safe for concurrent use.
//
// A statement survives the swap of a rebuild: the table keeps its name, and SQLite prepares a
// statement again when the schema under it changed.
type Statements struct {
	db      *sql.DB
	mu      sync.RWMutex
	byQuery map[string]*sql.Stmt
}

// NewStatements returns an empty set of statements on db.
func NewStatements(db *sql.DB) *Statements {
	return &Statements{db: db, byQuery: make(map[string]*sql.Stmt)}
}

// Lookup returns query prepared if it already is, without preparing it. A caller that holds a
// connection of the pool (inside a transaction) uses Lookup, since Get may need another connection.
func (s *Statements) Lookup(query string) (*sql.Stmt, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	stmt, ok := s.byQuery[query]
	return stmt, ok
}

// Get returns query prepared. A query that fails to prepare (its table does not exist yet, say) is
// not kept, so a later Get tries again. Get may take a connection from the pool: never call it while
// holding one (see Lookup).
func (s *Statements) Get(ctx context.Context, query string) (*sql.Stmt, error) {
	s.mu.RLock()
	stmt, ok := s.byQuery[query]
	s.mu.RUnlock()
	if ok {
		return stmt, nil
	}
	// Prepared outside the lock: preparing may wait for a connection, and readers inside a
	// transaction must be able to Lookup meanwhile.
	prepared, err := s.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if stmt, ok := s.byQuery[query]; ok {
		_ = prepared.Close() // another Get prepared it first
		return stmt, nil
	}
	s.byQuery[query] = prepared
	return prepared, nil
}

// Row is what a scan function reads: a *sql.Row or a *sql.Rows.
type Row interface{ Scan(dest ...any) error }

// QueryAll runs query and scans every row it returns with scan, in order; an empty result is an
// empty slice, never nil, so that it encodes as [] rather than null.
func QueryAll[T any](ctx context.Context, db *sql.DB, query string, scan func(Row) (T, error), args ...any) ([]T, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return ScanAll(rows, scan)
}

// ScanAll scans every row of rows with scan, closes rows, and returns the values: an empty slice,
// never nil, when there is none.
func ScanAll[T any](rows *sql.Rows, scan func(Row) (T, error)) ([]T, error) {
	defer func() { _ = rows.Close() }()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// TxStatements prepares the statements of one transaction once each, however many events of a
// batch run them: SQLite parses a statement on every Exec otherwise, which costs more than most
// writes. Close releases them before the transaction ends.
type TxStatements struct {
	tx      *sql.Tx
	byQuery map[string]*sql.Stmt
}

// NewTxStatements returns an empty set of statements on tx.
func NewTxStatements(tx *sql.Tx) *TxStatements {
	return &TxStatements{tx: tx, byQuery: make(map[string]*sql.Stmt)}
}

// Exec runs query with args, preparing it on the first call.
func (t *TxStatements) Exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	stmt, ok := t.byQuery[query]
	if !ok {
		var err error
		if stmt, err = t.tx.PrepareContext(ctx, query); err != nil {
			return nil, err
		}
		t.byQuery[query] = stmt
	}
	return stmt.ExecContext(ctx, args...)
}

// Close closes every statement prepared.
func (t *TxStatements) Close() {
	for _, stmt := range t.byQuery {
		_ = stmt.Close()
	}
}
