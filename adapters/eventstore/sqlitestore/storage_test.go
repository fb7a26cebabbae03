package sqlitestore_test

import (
	"errors"
	"path/filepath"
	"sync"
	"testing"

	"github.com/hookd/hookd/adapters/eventstore/sqlitestore"
	"github.com/hookd/hookd/application/eventstore"
	"github.com/hookd/hookd/domain/eventlog"
)

// TestFullDiskWritesNothing fills the file (a page cap, which SQLite reports as it reports a full
// disk) while a batch of concurrent appends is written: every append fails with
// eventstore.ErrStorageFull, none of their events is in the log, the log reads back whole, and once
// the cap is lifted the same appends succeed, their positions following the old head without a gap.
func TestFullDiskWritesNothing(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := open(t, filepath.Join(t.TempDir(), "log.db"), sqlitestore.Options{})
	if _, err := s.Append(ctx, "before-1", eventlog.NoStream(), events(3)); err != nil {
		t.Fatal(err)
	}
	head, err := s.LastPosition(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.LimitPages(ctx, 1); err != nil { // clamps to the file's size: no room to grow
		t.Fatal(err)
	}

	// Several appenders, each with events large enough to need new pages.
	const appenders = 8
	batches := make([][]eventlog.EventData, appenders)
	for i := range batches {
		batches[i] = events(4)
		for j := range batches[i] {
			batches[i][j].Data = incompressible(8 << 10)
		}
	}
	errs := make([]error, appenders)
	var wg sync.WaitGroup
	for i := range appenders {
		wg.Go(func() { _, errs[i] = s.Append(ctx, streamName(i), eventlog.NoStream(), batches[i]) })
	}
	wg.Wait()
	for i, err := range errs {
		if !errors.Is(err, eventstore.ErrStorageFull) || !errors.Is(err, eventlog.ErrUnavailable) {
			t.Fatalf("append %d on a full file: %v, want eventstore.ErrStorageFull", i, err)
		}
	}
	after, err := s.LastPosition(ctx)
	if err != nil || after != head {
		t.Fatalf("head after the failed appends %v (%v), want %v", after, err, head)
	}
	all, err := s.ReadAll(ctx, eventlog.Start, 0)
	if err != nil || len(all) != 3 {
		t.Fatalf("the log reads %d events (%v), want the 3 appended before", len(all), err)
	}
	for i := range appenders {
		if evs, err := s.ReadStream(ctx, streamName(i), 0, 0); err != nil || len(evs) != 0 {
			t.Fatalf("stream %s holds %d events (%v) after a failed append", streamName(i), len(evs), err)
		}
	}

	if _, err := s.LimitPages(ctx, 0); err != nil {
		t.Fatal(err)
	}
	for i := range appenders {
		if _, err := s.Append(ctx, streamName(i), eventlog.NoStream(), batches[i]); err != nil {
			t.Fatalf("append %d once the cap is lifted: %v", i, err)
		}
	}
	all, err = s.ReadAll(ctx, eventlog.Start, 0)
	if err != nil || len(all) != 3+appenders*4 {
		t.Fatalf("the log reads %d events (%v), want %d", len(all), err, 3+appenders*4)
	}
	for i, ev := range all {
		if ev.Position.Commit != all[0].Position.Commit+uint64(i) {
			t.Fatalf("event %d at position %v: the log has a gap", i, ev.Position)
		}
	}
}

func streamName(i int) string { return "full-" + string(rune('a'+i)) }
