package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/adapters/eventstore/kurrentdb/kurrentdbtest"
	"github.com/hookd/hookd/adapters/eventstore/sqlitestore"
	"github.com/hookd/hookd/domain/eventlog"
)

// filledDataDir is the data directory of a real serve, stopped cleanly: the bootstrap's service keys
// and license, a webhook called "kept", then 400 published events. olderLog is a copy of its log
// taken before the events were published.
type filledDataDir struct {
	dir, olderLog string
}

func fillDataDir(t *testing.T) filledDataDir {
	t.Helper()
	dir := t.TempDir()
	h := startHookdIn(t, dir, nil)
	apiCreate(h, h.license, apiScope("t1", "c1"), apiMinimal("kept"))
	h.stop()
	olderLog := filepath.Join(t.TempDir(), logFile)
	copyFile(t, filepath.Join(dir, logFile), olderLog)

	h = startHookdIn(t, dir, nil)
	pad := strings.Repeat("p", 1000)
	for b := range 2 {
		batch := make([]map[string]any, 200)
		for i := range batch {
			// No webhook listens to E_FILL: nothing is delivered anywhere.
			batch[i] = map[string]any{"eventName": "E_FILL", "payload": map[string]any{"n": b*200 + i, "pad": pad}}
		}
		apiPublish(h, h.license, apiScope("t1", "c1"), batch, nil)
	}
	h.stop()
	// A clean stop folds the write-ahead log into the file: the damage below reaches the log itself.
	for _, f := range []string{logFile + "-wal", readModelsFile + "-wal"} {
		if _, err := os.Stat(filepath.Join(dir, f)); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s is left after a clean stop (%v): the cases below assume it is not", f, err)
		}
	}
	return filledDataDir{dir: dir, olderLog: olderLog}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// copyDataDir copies the files of dir into a new directory.
func copyDataDir(t *testing.T, dir string) string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	into := t.TempDir()
	for _, e := range entries {
		copyFile(t, filepath.Join(dir, e.Name()), filepath.Join(into, e.Name()))
	}
	return into
}

// startMustFail runs serve's start on dir and returns its error; a start that succeeds fails the test.
func startMustFail(t *testing.T, dir string, env map[string]string) error {
	t.Helper()
	// The deadline only catches a start that hangs, as it did on a damaged log.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	inst, err := start(ctx, testConfig(t, dir, env), slog.New(slog.DiscardHandler))
	if err == nil {
		cancel()
		_ = inst.wait()
		t.Fatal("serve started on data it should not trust")
	}
	if ctx.Err() != nil {
		t.Fatalf("start gave up only at its deadline: %v", err)
	}
	return err
}

func wantMentions(t *testing.T, err error, mentions ...string) {
	t.Helper()
	for _, m := range mentions {
		if !strings.Contains(err.Error(), m) {
			t.Errorf("the error does not mention %q:\n%v", m, err)
		}
	}
}

// rebuildIn runs `hookd projections rebuild` in-process on dir and returns what it printed.
func rebuildIn(t *testing.T, dir string, env map[string]string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	getenv := func(k string) string {
		if v, ok := env[k]; ok {
			return v
		}
		if k == "HOOKD_DATA_DIR" {
			return dir
		}
		return ""
	}
	if err := run(t.Context(), []string{"projections", "rebuild"}, getenv, &stdout, &stderr); err != nil {
		t.Fatalf("projections rebuild: %v\n%s", err, stderr.String())
	}
	return stdout.String()
}

// wantServes starts serve on dir and checks that it serves wantKept (whether the webhook "kept" is
// there) and that a webhook created now shows in a fetch.
func wantServes(t *testing.T, dir string, wantKept bool) {
	t.Helper()
	h := startHookdIn(t, dir, nil)
	scope := apiScope("t1", "c1")
	created := apiCreate(h, h.license, scope, apiMinimal("new"))
	var names []string
	found := false
	for _, w := range apiAllWebhooks(h, scope) {
		names = append(names, w.Name)
		found = found || w.ID == created.ID
	}
	if !found || (wantKept != strings.Contains(strings.Join(names, ","), "kept")) {
		t.Fatalf("fetch lists %v; want the new webhook %s, and kept: %t", names, created.ID, wantKept)
	}
	h.stop()
}

// logHead opens the embedded log in dir and returns its last position.
func logHead(t *testing.T, dir string) eventlog.Position {
	t.Helper()
	s, err := sqlitestore.Open(t.Context(), filepath.Join(dir, logFile), sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	head, err := s.LastPosition(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return head
}

// TestStartRefusesDamagedOrForeignData runs serve's start on copies of a real data directory, each
// damaged in one way: a damaged log, and read models ahead of the log, stop the start with an error
// that names the problem, the file and the way out; the way out works; a start without read models
// builds them again and serves.
func TestStartRefusesDamagedOrForeignData(t *testing.T) {
	t.Parallel()
	filled := fillDataDir(t)
	damaged := []struct {
		name   string
		damage func(t *testing.T, dir string)
		// mentions are what the error must name, besides the log's path.
		mentions []string
	}{
		{"truncated log", func(t *testing.T, dir string) {
			if err := os.Truncate(filepath.Join(dir, logFile), 4096); err != nil {
				t.Fatal(err)
			}
		}, []string{"malformed", "damaged", "restore it from a backup"}},
		{"zeroed header", func(t *testing.T, dir string) {
			overwrite(t, filepath.Join(dir, logFile), 0, 100, 0)
		}, []string{"not a database", "damaged"}},
		{"overwritten pages", func(t *testing.T, dir string) {
			path := filepath.Join(dir, logFile)
			info, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			overwrite(t, path, info.Size()/2, 16<<10, 0x5a)
		}, []string{"damaged", "restore it from a backup"}},
	}
	for _, c := range damaged {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := copyDataDir(t, filled.dir)
			c.damage(t, dir)
			err := startMustFail(t, dir, nil)
			wantMentions(t, err, append(c.mentions, filepath.Join(dir, logFile))...)
		})
	}

	t.Run("missing log", func(t *testing.T) {
		t.Parallel()
		dir := copyDataDir(t, filled.dir)
		if err := os.Remove(filepath.Join(dir, logFile)); err != nil {
			t.Fatal(err)
		}
		err := startMustFail(t, dir, nil)
		wantMentions(t, err, "read models exist for an empty log", filepath.Join(dir, logFile),
			filepath.Join(dir, readModelsFile), "restore the log from a backup", "hookd projections rebuild")
		// Refused before the log is even created: no new service keys, no new license.
		if _, err := os.Stat(filepath.Join(dir, logFile)); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("the refused start left a log behind (%v)", err)
		}
		// The way out: rebuild the read models from the (empty) log, then serve.
		rebuildIn(t, dir, nil)
		wantServes(t, dir, false)
	})

	t.Run("empty log", func(t *testing.T) {
		t.Parallel()
		dir := copyDataDir(t, filled.dir)
		if err := os.Remove(filepath.Join(dir, logFile)); err != nil {
			t.Fatal(err)
		}
		emptyLog, err := sqlitestore.Open(t.Context(), filepath.Join(dir, logFile), sqlitestore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := emptyLog.Close(); err != nil {
			t.Fatal(err)
		}
		err = startMustFail(t, dir, nil)
		wantMentions(t, err, "read models exist for an empty log", filepath.Join(dir, logFile), "hookd projections rebuild")
		if head := logHead(t, dir); head != eventlog.Start {
			t.Fatalf("the refused start wrote to the log, up to %s", head)
		}
	})

	t.Run("older log", func(t *testing.T) {
		t.Parallel()
		dir := copyDataDir(t, filled.dir)
		copyFile(t, filled.olderLog, filepath.Join(dir, logFile))
		err := startMustFail(t, dir, nil)
		wantMentions(t, err, "read models are ahead of the log", filepath.Join(dir, logFile),
			"hookd projections rebuild")
		// The rebuild also brings the dispatcher back to the end of the log, which it cannot rebuild.
		if out := rebuildIn(t, dir, nil); !strings.Contains(out, "rewound dispatch") {
			t.Errorf("the rebuild did not rewind the dispatcher:\n%s", out)
		}
		wantServes(t, dir, true)
	})

	t.Run("missing read models", func(t *testing.T) {
		t.Parallel()
		dir := copyDataDir(t, filled.dir)
		if err := os.Remove(filepath.Join(dir, readModelsFile)); err != nil {
			t.Fatal(err)
		}
		wantServes(t, dir, true)
	})
}

// overwrite writes n bytes of value into the file at path from offset.
func overwrite(t *testing.T, path string, offset, n int64, value byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(bytes.Repeat([]byte{value}, int(n)), offset); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestStartOnKurrentDBRefusesReadModelsAheadOfTheLog: the check does not depend on the store. A data
// directory whose read models followed one KurrentDB is refused on another, empty one.
func TestStartOnKurrentDBRefusesReadModelsAheadOfTheLog(t *testing.T) {
	t.Parallel()
	first, err := kurrentdbtest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(first.Close)
	dir := t.TempDir()
	h := startHookdIn(t, dir, map[string]string{"HOOKD_EVENTSTORE": "kurrentdb", "HOOKD_KURRENTDB_URL": first.URL()})
	apiCreate(h, h.license, apiScope("t1", "c1"), apiMinimal("kept"))
	h.stop()

	empty, err := kurrentdbtest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(empty.Close)
	env := map[string]string{"HOOKD_EVENTSTORE": "kurrentdb", "HOOKD_KURRENTDB_URL": empty.URL()}
	err = startMustFail(t, dir, env)
	wantMentions(t, err, "read models exist for an empty log", "KurrentDB", "hookd projections rebuild")
	if empty.Events() != 0 {
		t.Fatalf("the refused start wrote %d events to the log", empty.Events())
	}
	rebuildIn(t, dir, env)
	h = startHookdIn(t, dir, env)
	if all := apiAllWebhooks(h, apiScope("t1", "c1")); len(all) != 0 {
		t.Fatalf("after the rebuild on the empty log, fetch lists %d webhooks, want none", len(all))
	}
}

// TestSecondServeOnADataDirectoryIsRefused: while a serve holds its data directory, another serve on
// it stops with an error naming the directory and the holder; the commands that work beside serve
// still do; once the first stops, a serve starts again.
func TestSecondServeOnADataDirectoryIsRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	first := startHookdIn(t, dir, nil)
	_, err := start(t.Context(), testConfig(t, dir, nil), slog.New(slog.DiscardHandler))
	if err == nil {
		t.Fatal("a second serve started on a data directory a running serve holds")
	}
	wantMentions(t, err, "data directory "+dir+" is in use", fmt.Sprintf("pid %d", os.Getpid()))
	if _, err := first.runCLI("license", "list"); err != nil {
		t.Fatalf("license list beside serve: %v", err)
	}
	first.stop()
	startHookdIn(t, dir, nil).stop()
}
