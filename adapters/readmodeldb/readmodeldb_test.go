package readmodeldb_test

import (
	"bytes"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookd/hookd/adapters/readmodeldb"
)

// TestOpenFindsADamagedFile: a file that is not a database is refused at open, naming the file and
// the way out, rather than by the first projection that reads it; a new file opens.
func TestOpenFindsADamagedFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	fresh, err := readmodeldb.Open(filepath.Join(dir, "new.db"))
	if err != nil {
		t.Fatalf("a new file: %v", err)
	}
	if err := fresh.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "readmodels.db")
	if err := os.WriteFile(path, bytes.Repeat([]byte("garbage!"), 1024), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, open := range []func(string) (any, error){
		func(p string) (any, error) { return readmodeldb.Open(p) },
		func(p string) (any, error) { return readmodeldb.OpenWriter(p) },
	} {
		_, err := open(path)
		if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "remove the file") {
			t.Fatalf("opening a damaged file: %v, want an error naming %s and the way out", err, path)
		}
	}
}

// TestPageCachesAreBounded: each opener caps every connection's page cache, which lives outside the
// Go heap and stays filled while the connection is open: 256 KiB for each query connection, 4 MiB
// for the runners' writer (64 MiB filled as fast as the read models grew, issue 13), a large one only for a
// rebuild.
func TestPageCachesAreBounded(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "readmodels.db")
	for name, tc := range map[string]struct {
		open func(string) (*sql.DB, error)
		kib  int
	}{
		"queries": {readmodeldb.Open, 256},
		"writer":  {readmodeldb.OpenWriter, 4 << 10},
		"rebuild": {readmodeldb.OpenRebuild, 64 << 10},
	} {
		db, err := tc.open(path)
		if err != nil {
			t.Fatal(err)
		}
		var size int
		if err := db.QueryRow(`PRAGMA cache_size`).Scan(&size); err != nil {
			t.Fatal(err)
		}
		if size != -tc.kib {
			t.Errorf("%s: cache_size %d, want %d (KiB)", name, size, -tc.kib)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestNewDatabasesTakeThePageSize: a database Open creates has pages of PageSize bytes and is in WAL
// mode, whichever opener creates it; one made before with SQLite's default pages keeps them, and
// its rows, and takes new ones.
func TestNewDatabasesTakeThePageSize(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for name, open := range map[string]func(string) (*sql.DB, error){
		"queries": readmodeldb.Open, "writer": readmodeldb.OpenWriter, "rebuild": readmodeldb.OpenRebuild,
	} {
		db, err := open(filepath.Join(dir, name+".db"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`CREATE TABLE t (v TEXT)`); err != nil {
			t.Fatal(err)
		}
		if size, mode := pragmas(t, db); size != readmodeldb.PageSize || mode != "wal" {
			t.Errorf("%s: a new database has pages of %d bytes in journal mode %s, want %d and wal", name, size, mode, readmodeldb.PageSize)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}

	// A database as hookd made it before, with 4 KiB pages.
	path := filepath.Join(dir, "before.db")
	before, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := before.Exec(`CREATE TABLE t (v TEXT); INSERT INTO t VALUES ('kept')`); err != nil {
		t.Fatal(err)
	}
	if size, _ := pragmas(t, before); size != 4096 {
		t.Fatalf("the old database has pages of %d bytes, want 4096", size)
	}
	if err := before.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := readmodeldb.OpenWriter(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	if _, err := db.Exec(`INSERT INTO t VALUES (?)`, strings.Repeat("new", 2000)); err != nil {
		t.Fatal(err)
	}
	var rows int
	if err := db.QueryRow(`SELECT count(*) FROM t WHERE v = 'kept' OR length(v) = 6000`).Scan(&rows); err != nil || rows != 2 {
		t.Errorf("the old database holds %d of its row and the new one (%v), want 2", rows, err)
	}
	if size, mode := pragmas(t, db); size != 4096 || mode != "wal" {
		t.Errorf("the old database opened has pages of %d bytes in journal mode %s, want 4096 and wal", size, mode)
	}
}

// pragmas returns db's page size and journal mode.
func pragmas(t *testing.T, db *sql.DB) (pageSize int, journalMode string) {
	t.Helper()
	if err := db.QueryRow(`PRAGMA page_size`).Scan(&pageSize); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(`PRAGMA journal_mode`).Scan(&journalMode); err != nil {
		t.Fatal(err)
	}
	return pageSize, journalMode
}
