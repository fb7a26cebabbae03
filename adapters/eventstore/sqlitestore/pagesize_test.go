package sqlitestore

import (
	"bytes"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/hookd/hookd/domain/eventlog"
)

// fileSettings returns the page size, journal mode and auto_vacuum of the closed log file at path.
func fileSettings(t *testing.T, path string) (pageSize int, journalMode string, autoVacuum int) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	if err := db.QueryRow("PRAGMA page_size").Scan(&pageSize); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow("PRAGMA journal_mode").Scan(&journalMode); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow("PRAGMA auto_vacuum").Scan(&autoVacuum); err != nil {
		t.Fatal(err)
	}
	return pageSize, journalMode, autoVacuum
}

// makeOldLog creates at path a log file as versions before PageSize made it: SQLite's default
// 4 KiB pages, WAL, auto_vacuum=INCREMENTAL, the current schema, no rows.
func makeOldLog(t *testing.T, path string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	db.SetMaxOpenConns(1)
	for _, stmt := range []string{"PRAGMA auto_vacuum = INCREMENTAL", "VACUUM", schema, fmt.Sprint("PRAGMA user_version = ", schemaVersion)} {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
}

// openOld opens a log file made as before PageSize, with 4 KiB pages.
func openOld(t *testing.T) *Store {
	t.Helper()
	path := filepath.Join(t.TempDir(), "log.db")
	makeOldLog(t, path)
	s, err := Open(t.Context(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// TestANewLogHasPagesOfPageSize: a file Open creates has pages of PageSize bytes, in WAL mode with
// auto_vacuum=INCREMENTAL (2).
func TestANewLogHasPagesOfPageSize(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "log.db")
	s, err := Open(t.Context(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(t.Context(), "s", eventlog.NoStream(), []eventlog.EventData{event(3000, 10)}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if size, mode, vacuum := fileSettings(t, path); size != PageSize || mode != "wal" || vacuum != 2 {
		t.Errorf("a new log has pages of %d bytes, journal mode %s, auto_vacuum %d; want %d, wal, 2", size, mode, vacuum, PageSize)
	}
}

// TestALogMadeBeforeKeepsItsPages: a file made with 4 KiB pages opens, keeps its pages and its
// events across a reopen, and takes new ones, small and larger than a page.
func TestALogMadeBeforeKeepsItsPages(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "log.db")
	makeOldLog(t, path)
	var written []eventlog.EventData
	for round := range 2 {
		s, err := Open(ctx, path, Options{})
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		evs := []eventlog.EventData{event(10, 0), event(1400, 100), event(9000, 0)}
		if _, err := s.Append(ctx, fmt.Sprint("s-", round), eventlog.NoStream(), evs); err != nil {
			t.Fatal(err)
		}
		written = append(written, evs...)
		read, err := s.ReadAll(ctx, eventlog.Start, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(read) != len(written) {
			t.Fatalf("round %d: read %d events, want %d", round, len(read), len(written))
		}
		for i, ev := range read {
			if ev.ID != written[i].ID || !bytes.Equal(ev.Data, written[i].Data) {
				t.Errorf("round %d: event %d reads back as %v with %d bytes of data, want %v with %d", round, i, ev.ID, len(ev.Data), written[i].ID, len(written[i].Data))
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if size, mode, vacuum := fileSettings(t, path); size != 4096 || mode != "wal" || vacuum != 2 {
		t.Errorf("the old log has pages of %d bytes, journal mode %s, auto_vacuum %d; want 4096, wal, 2", size, mode, vacuum)
	}
}
