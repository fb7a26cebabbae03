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
