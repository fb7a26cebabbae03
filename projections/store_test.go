package projections_test

import (
	"context"
	"crypto/rand"
	"hash/fnv"
	"path/filepath"
	"sync"
	"testing"

	"github.com/hookd/hookd/adapters/eventstore/sqlitestore"
	"github.com/hookd/hookd/domain/eventlog"
	"github.com/hookd/hookd/internal/readmodeltest"
	"github.com/hookd/hookd/projections"
)

// The tests above run on memLog; these run the Runner and Rebuild on the embedded store, wired as the
// composition root wires them.

func openStore(t testing.TB) *sqlitestore.Store {
	t.Helper()
	store, err := sqlitestore.Open(context.Background(), filepath.Join(t.TempDir(), "log.db"), sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	return store
}

func subscribeTo(store *sqlitestore.Store) projections.SubscribeFunc {
	return func(ctx context.Context, after eventlog.Position) (projections.Subscription, error) {
		return store.SubscribeAll(ctx, after)
	}
}

// appendCommand appends the records of one command, expecting its stream where the command found it.
// It may run on any goroutine: a failure is reported with Errorf.
func appendCommand(t testing.TB, store *sqlitestore.Store, records []eventlog.RecordedEvent) eventlog.Position {
	t.Helper()
	data := make([]eventlog.EventData, len(records))
	for i, r := range records {
		data[i] = eventlog.EventData{Type: r.Type, Data: r.Data, Metadata: r.Metadata}
		_, _ = rand.Read(data[i].ID[:])
	}
	res, err := store.Append(context.Background(), records[0].Stream, eventlog.After(int64(records[0].Revision)-1), data)
	if err != nil {
		t.Errorf("appending to %s: %v", records[0].Stream, err)
	}
	return res.Position
}

// appendToStore runs commands until at least n events were appended, and returns the last position.
func (w *workload) appendToStore(store *sqlitestore.Store, n int) eventlog.Position {
	var last eventlog.Position
	for appended := 0; appended < n; {
		if records := w.next(); len(records) > 0 {
			last = appendCommand(w.t, store, records)
			appended += len(records)
		}
	}
	return last
}

func TestRunnerAndRebuildOnTheEmbeddedStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := openStore(t)
	w := newWorkload(t, 3)
	w.appendToStore(store, 600)

	liveDB, path := readmodeltest.TempDB(t)
	liveView := newView(t, liveDB)
	live := startRunner(t, projections.RunnerConfig{DB: liveDB, Subscribe: subscribeTo(store), Projection: liveView})
	// Read your writes: the position an append returns is what a query waits for.
	live.waitFor(t, w.appendToStore(store, 1))

	otherDB := readmodeltest.OpenDB(t, path)
	cfg := projections.RebuildConfig{DB: otherDB, ReadAll: store.ReadAll, LastPosition: store.LastPosition,
		Projection: newView(t, otherDB), BatchSize: 100}
	cfg.Progress = func(projections.Progress) { w.appendToStore(store, 5) }
	if _, err := projections.Rebuild(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	last := w.appendToStore(store, 20)
	live.waitFor(t, last)
	if got := storedCheckpoint(t, liveDB, liveView.Name()); got != last {
		t.Fatalf("checkpoint %s, want %s", got, last)
	}

	referenceDB, _ := readmodeltest.TempDB(t)
	if _, err := projections.Rebuild(ctx, projections.RebuildConfig{DB: referenceDB, ReadAll: store.ReadAll,
		LastPosition: store.LastPosition, Projection: newView(t, referenceDB)}); err != nil {
		t.Fatal(err)
	}
	assertSameView(t, "live after a rebuild in place", snapshot(t, liveView, w), snapshot(t, newView(t, referenceDB), w))
}

// seedStore appends at least n events of the workload, from 32 appenders so that the store's group
// commit makes seeding quick. Each stream's commands stay with one appender, in order.
func seedStore(b *testing.B, store *sqlitestore.Store, w *workload, n int) {
	const appenders = 32
	var queues [appenders][][]eventlog.RecordedEvent
	for generated := 0; generated < n; {
		records := w.next()
		if len(records) == 0 {
			continue
		}
		h := fnv.New32a()
		_, _ = h.Write([]byte(records[0].Stream))
		queues[h.Sum32()%appenders] = append(queues[h.Sum32()%appenders], records)
		generated += len(records)
	}
	var wg sync.WaitGroup
	for _, queue := range queues {
		wg.Go(func() {
			for _, records := range queue {
				appendCommand(b, store, records)
			}
		})
	}
	wg.Wait()
}
