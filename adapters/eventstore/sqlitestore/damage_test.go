package sqlitestore_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookd/hookd/adapters/eventstore/sqlitestore"
	"github.com/hookd/hookd/domain/eventlog"
)

// damagedCopy writes a log of 4,000 events, closes it, and returns the path of a copy that damage
// changed.
func damagedCopy(t *testing.T, damage func([]byte) []byte) string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "log.db")
	s := open(t, path, sqlitestore.Options{})
	for i := range 200 {
		if _, err := s.Append(t.Context(), fmt.Sprint("s-", i), eventlog.NoStream(), events(20)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	damaged := filepath.Join(dir, "damaged.db")
	if err := os.WriteFile(damaged, damage(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return damaged
}

// TestDamagedFileIsCorrupt: a file whose header or pages are not what the store wrote gives errors
// matching eventlog.ErrCorrupt, naming the file, whether found at open, by a read or by Check; an
// intact file passes Check.
func TestDamagedFileIsCorrupt(t *testing.T) {
	t.Parallel()
	wantCorrupt := func(t *testing.T, what string, err error, path string) {
		t.Helper()
		if !errors.Is(err, eventlog.ErrCorrupt) || !strings.Contains(err.Error(), path) {
			t.Fatalf("%s: %v, want an error matching ErrCorrupt that names %s", what, err, path)
		}
	}
	t.Run("zeroed header", func(t *testing.T) {
		t.Parallel()
		path := damagedCopy(t, func(b []byte) []byte { clear(b[:100]); return b })
		_, err := sqlitestore.Open(t.Context(), path, sqlitestore.Options{})
		wantCorrupt(t, "Open", err, path)
	})
	t.Run("truncated", func(t *testing.T) {
		t.Parallel()
		path := damagedCopy(t, func(b []byte) []byte { return b[:4096] })
		_, err := sqlitestore.Open(t.Context(), path, sqlitestore.Options{})
		wantCorrupt(t, "Open", err, path)
	})
	t.Run("overwritten pages", func(t *testing.T) {
		t.Parallel()
		path := damagedCopy(t, func(b []byte) []byte {
			for i := len(b) / 2; i < len(b)/2+8192; i++ {
				b[i] = 0x5a
			}
			return b
		})
		s := open(t, path, sqlitestore.Options{})
		wantCorrupt(t, "Check", s.Check(t.Context()), path)
		_, err := s.ReadAll(t.Context(), eventlog.Start, 10_000)
		wantCorrupt(t, "ReadAll", err, path)
	})
	t.Run("intact", func(t *testing.T) {
		t.Parallel()
		path := damagedCopy(t, func(b []byte) []byte { return b })
		if err := open(t, path, sqlitestore.Options{}).Check(t.Context()); err != nil {
			t.Fatalf("Check of an intact log: %v", err)
		}
	})
}
