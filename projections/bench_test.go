package projections_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/hookd/hookd/internal/readmodeltest"
	"github.com/hookd/hookd/projections"
)

// BenchmarkRebuild rebuilds the webhook view from a log of 100,000 webhook events (the workload's
// mix: about a third creates, the rest updates, disables, enables and deletes) into a fresh database
// file, and reports events/s. The figure is 1,000,000 events in under 60 s, 16,667 events/s.
// memory-log reads the log from memory, so it measures the projection's side alone; embedded-store
// reads it from the embedded store, as `hookd projections rebuild` does.
//
//	go test -run '^$' -bench BenchmarkRebuild -benchtime 3x ./projections/
func BenchmarkRebuild(b *testing.B) {
	const events = 100_000
	b.Run("memory-log", func(b *testing.B) {
		log := newMemLog()
		newWorkload(b, 42).appendN(log, events)
		benchmarkRebuild(b, log.ReadAll, log.LastPosition)
	})
	b.Run("embedded-store", func(b *testing.B) {
		store := openStore(b)
		seedStore(b, store, newWorkload(b, 42), events)
		benchmarkRebuild(b, store.ReadAll, store.LastPosition)
	})
}

func benchmarkRebuild(b *testing.B, readAll projections.ReadAllFunc, lastPosition projections.LastPositionFunc) {
	head, err := lastPosition(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	var (
		applied uint64
		elapsed time.Duration
	)
	for b.Loop() {
		b.StopTimer()
		db := readmodeltest.OpenDB(b, filepath.Join(b.TempDir(), "readmodels.db"))
		cfg := projections.RebuildConfig{DB: db, ReadAll: readAll, LastPosition: lastPosition, Projection: newView(b, db)}
		var events uint64
		cfg.Progress = func(p projections.Progress) { events = p.Events }
		b.StartTimer()
		started := time.Now()
		if _, err := projections.Rebuild(context.Background(), cfg); err != nil {
			b.Fatal(err)
		}
		elapsed += time.Since(started)
		applied += events
	}
	b.ReportMetric(float64(applied)/elapsed.Seconds(), "events/s")
	b.Logf("log head %s", head)
}
