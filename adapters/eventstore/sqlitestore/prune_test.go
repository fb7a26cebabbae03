package sqlitestore_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hookd/hookd/adapters/eventstore/sqlitestore"
	"github.com/hookd/hookd/application/eventstore"
	"github.com/hookd/hookd/domain/eventlog"
)

// fill appends n streams of 4 events of 1 KiB each, from 16 appenders so that commits are shared,
// and returns them at their last revision.
func fill(t *testing.T, s *sqlitestore.Store, prefix string, n int) []eventstore.StreamAt {
	t.Helper()
	streams := make([]eventstore.StreamAt, n)
	var wg sync.WaitGroup
	for a := range 16 {
		wg.Go(func() {
			for i := a; i < n; i += 16 {
				evs := events(4)
				for j := range evs {
					evs[j].Data = incompressible(1024)
				}
				name := fmt.Sprintf("%s-%d", prefix, i)
				if _, err := s.Append(context.Background(), name, eventlog.NoStream(), evs); err != nil {
					t.Error(err)
					return
				}
				streams[i] = eventstore.StreamAt{Stream: name, Revision: 3}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return streams
}

// incompressible returns n random bytes: the store cannot pack them smaller.
func incompressible(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return b
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return info.Size()
}

// freePages is the file's freelist_count, as another connection reads it.
func freePages(t *testing.T, path string) int {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow("PRAGMA freelist_count").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// checkpoint copies the WAL into the file, so that its size says what the file holds.
func checkpoint(t *testing.T, path string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		t.Fatal(err)
	}
}

// TestDeleteStreamsGivesSpaceBack: a new file uses auto_vacuum=INCREMENTAL, and deleting most of
// its streams shrinks it to what is left plus the free pages kept for reuse.
func TestDeleteStreamsGivesSpaceBack(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "log.db")
	s := open(t, path, sqlitestore.Options{FreePagesKept: 64})
	streams := fill(t, s, "delivery", 600) // some 2.6 MB
	kept := fill(t, s, "webhook", 10)
	checkpoint(t, path)
	full := fileSize(t, path)
	left, err := s.DeleteStreams(t.Context(), streams, eventstore.Behind)
	if err != nil || len(left) != 0 {
		t.Fatalf("DeleteStreams: kept %v, %v", left, err)
	}
	// Each call gives back at most a step of pages, and a step stops early on a busy machine: more
	// calls take the rest, until the file keeps no more free pages than it should (the bound on
	// calls only catches a sweep that never gives them back).
	for calls := 0; freePages(t, path) > 64; calls++ {
		if calls == 10_000 {
			t.Fatalf("%d free pages left after %d calls, want at most 64", freePages(t, path), calls)
		}
		if _, err := s.DeleteStreams(t.Context(), streams[:1], eventstore.Behind); err != nil {
			t.Fatal(err)
		}
	}
	checkpoint(t, path)
	after := fileSize(t, path)
	// What is left is small; the file keeps 64 free pages (256 KiB) for reuse.
	if limit := int64(512 << 10); after > limit || after > full/4 {
		t.Errorf("file of %d bytes before deleting and %d after, want at most %d", full, after, limit)
	}
	for _, k := range kept {
		if got, err := s.ReadStream(t.Context(), k.Stream, 0, 0); err != nil || len(got) != 4 {
			t.Errorf("%s: %d events (%v) after the delete, want 4", k.Stream, len(got), err)
		}
	}
}

// TestDeleteStreamsInAFileWithoutAutoVacuum: a file made before auto_vacuum was set keeps its size
// after deletes, and appends reuse the freed pages instead of growing it.
func TestDeleteStreamsInAFileWithoutAutoVacuum(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "log.db")
	s := open(t, path, sqlitestore.Options{})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("PRAGMA auto_vacuum = NONE; VACUUM"); err != nil {
		t.Fatal(err)
	}
	_ = db.Close()
	s = open(t, path, sqlitestore.Options{})
	streams := fill(t, s, "delivery", 300)
	fill(t, s, "webhook", 1)
	checkpoint(t, path)
	full := fileSize(t, path)
	if _, err := s.DeleteStreams(t.Context(), streams, eventstore.Behind); err != nil {
		t.Fatal(err)
	}
	fill(t, s, "again", 300)
	checkpoint(t, path)
	// The same amount appended again fits in the freed pages, give or take a few.
	if after := fileSize(t, path); after > full+full/20 {
		t.Errorf("file of %d bytes grew to %d when the same amount was appended after deleting", full, after)
	}
}

// TestDeleteStreamsWhileAppending: a delete of many streams runs in steps alongside appends that
// keep the writer busy, at either pace. Every stream asked for goes, every append lands, and the
// streams appended meanwhile are whole.
func TestDeleteStreamsWhileAppending(t *testing.T) {
	t.Parallel()
	for name, pace := range map[string]eventstore.Pace{"keeping up": eventstore.KeepingUp, "behind": eventstore.Behind} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			deleteWhileAppending(t, pace)
		})
	}
}

func deleteWhileAppending(t *testing.T, pace eventstore.Pace) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute) // catches a hang only
	defer cancel()
	s := open(t, filepath.Join(t.TempDir(), "log.db"), sqlitestore.Options{})
	old := fill(t, s, "old", 300)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	appended := make([][]string, 4)
	for a := range appended {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				name := fmt.Sprintf("new-%d-%d", a, i)
				if _, err := s.Append(ctx, name, eventlog.NoStream(), events(2)); err != nil {
					t.Errorf("append while deleting: %v", err)
					return
				}
				if _, err := s.Append(ctx, name, eventlog.Exactly(1), events(1)); err != nil {
					t.Errorf("append while deleting: %v", err)
					return
				}
				appended[a] = append(appended[a], name)
			}
		})
	}
	kept, err := s.DeleteStreams(ctx, old, pace)
	close(stop)
	wg.Wait()
	if err != nil || len(kept) != 0 {
		t.Fatalf("DeleteStreams: kept %d, %v", len(kept), err)
	}
	for _, at := range old {
		if evs, err := s.ReadStream(ctx, at.Stream, 0, 0); err != nil || len(evs) != 0 {
			t.Fatalf("%s reads %d events (%v) after its delete", at.Stream, len(evs), err)
		}
	}
	for _, names := range appended {
		for _, name := range names {
			if evs, err := s.ReadStream(ctx, name, 0, 0); err != nil || len(evs) != 3 {
				t.Fatalf("%s, appended while deleting, reads %d events (%v), want 3", name, len(evs), err)
			}
		}
	}
}

// TestCloseEndsADeleteInProgress: a delete the writer holds when the store closes is answered, not
// left waiting: it finished, or it fails with ErrClosed.
func TestCloseEndsADeleteInProgress(t *testing.T) {
	t.Parallel()
	s := open(t, filepath.Join(t.TempDir(), "log.db"), sqlitestore.Options{})
	streams := fill(t, s, "old", 300)
	result := make(chan error, 1)
	go func() {
		_, err := s.DeleteStreams(context.Background(), streams, eventstore.KeepingUp)
		result <- err
	}()
	time.Sleep(time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-result:
		if err != nil && !errors.Is(err, sqlitestore.ErrClosed) {
			t.Fatalf("DeleteStreams across Close: %v, want nil or ErrClosed", err)
		}
	case <-time.After(time.Minute): // catches a hang only
		t.Fatal("DeleteStreams still waiting a minute after Close")
	}
}
