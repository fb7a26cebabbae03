package readmodeldb_test

import (
	"bytes"
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
