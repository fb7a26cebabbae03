package sqlitestore

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/hookd/hookd/domain/eventlog"
)

// onWriterTx runs f inside a transaction of s's writer and returns its error.
func onWriterTx(t *testing.T, s *Store, f func(ctx context.Context, conn *sql.Conn) error) {
	t.Helper()
	ctx := t.Context()
	if err := s.onWriter(ctx, false, func(conn *sql.Conn, _ time.Duration, _ func() bool) (bool, error) {
		return true, f(ctx, conn)
	}); err != nil {
		t.Fatal(err)
	}
}

// lastFree returns what the writer reads as free in the events table's last page, and the page size.
func lastFree(t *testing.T, s *Store) (free, usable int) {
	t.Helper()
	onWriterTx(t, s, func(ctx context.Context, _ *sql.Conn) (err error) {
		free, usable, err = s.writer.lastPageFree(ctx)
		return err
	})
	return free, usable
}

func event(data, metadata int) eventlog.EventData {
	return eventlog.EventData{ID: eventlog.EventID(uuid.New()), Type: "TestEvent",
		Data: bytes.Repeat([]byte("d"), data), Metadata: bytes.Repeat([]byte("m"), metadata)}
}

// TestCellSizeIsWhatARowTakes: the free bytes the writer reads in the events table's last page go
// down by cellSize for each row appended, or, for a row that does not fit, a new page holds the row
// alone: rows small and large (larger than a page: the rest in overflow pages), first and later
// revisions of a stream; in pages of PageSize and in a file made before with 4 KiB pages, and
// compressed.
func TestCellSizeIsWhatARowTakes(t *testing.T) {
	t.Parallel()
	for name, open := range pageSizes {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cellSizeIsWhatARowTakes(t, open(t))
		})
	}
}

// pageSizes opens a log file as the writer meets them: PageSize in a new file (also compressing), 4 KiB in
// one made before.
var pageSizes = map[string]func(*testing.T) *Store{"new": openTemp, "made before": openOld,
	"new, compressing": func(t *testing.T) *Store {
		t.Helper()
		s, err := Open(t.Context(), filepath.Join(t.TempDir(), "log.db"), Options{CompressData: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}}

func cellSizeIsWhatARowTakes(t *testing.T, s *Store) {
	ctx := t.Context()
	sizes := []struct{ data, metadata int }{
		{0, 0}, {1, 0}, {13, 100}, {500, 150}, {1200, 157}, {3000, 0}, {4000, 0}, {4050, 20}, {5000, 100},
		{9000, 0}, {300, 73}, {120_000, 0}, {100, 73}, {2000, 2000},
	}
	revisions := map[string]eventlog.ExpectedRevision{}
	for i, size := range sizes {
		stream := fmt.Sprint("s-", i%3)
		expected, ok := revisions[stream]
		if !ok {
			expected = eventlog.NoStream()
		}
		before, usable := lastFree(t, s)
		ev := event(size.data, size.metadata)
		res, err := s.Append(ctx, stream, expected, []eventlog.EventData{ev})
		revisions[stream] = eventlog.Exactly(res.Revision)
		if err != nil {
			t.Fatal(err)
		}
		var streamID int64
		onWriterTx(t, s, func(ctx context.Context, conn *sql.Conn) error {
			return conn.QueryRowContext(ctx, "SELECT id FROM streams WHERE name = ?", stream).Scan(&streamID)
		})
		cell := cellSize(usable, int64(res.Position.Commit), streamID, int64(res.Revision), ev.Type,
			store([]eventlog.EventData{ev}, s.opts.CompressData)[0])
		want := before - cell
		if cell > before {
			want = usable - leafHeader - cell
		}
		if after, _ := lastFree(t, s); after != want {
			t.Errorf("row %d (data %d B, metadata %d B, revision %d): %d bytes free after, want %d (before %d, cell %d)",
				i, size.data, size.metadata, res.Revision, after, want, before, cell)
		}
	}
}

// TestFillOrder: each time the largest unit that fits in what the page has free, else the largest,
// which begins a new page; a stream's units in their order.
func TestFillOrder(t *testing.T) {
	t.Parallel()
	const usable = 4096
	unit := func(stream string, rows ...int) fillUnit { return fillUnit{stream: stream, rows: rows} }
	for _, c := range []struct {
		name  string
		free  int
		units []fillUnit
		want  []int
	}{
		{"what fits goes first", 1500, []fillUnit{unit("a", 3000), unit("b", 1000)}, []int{1, 0}},
		{"the largest that fits", 1500, []fillUnit{unit("a", 600), unit("b", 1400), unit("c", 1000)}, []int{1, 2, 0}},
		{"a unit fits whole or not at all", 1000, []fillUnit{unit("a", 600, 600), unit("b", 900)}, []int{1, 0}},
		{"a stream keeps its order", 1500, []fillUnit{unit("a", 3000), unit("a", 1000)}, []int{0, 1}},
		{"none fits: the largest begins a page, then what fits in it", 100,
			[]fillUnit{unit("a", 500), unit("b", 2000), unit("c", 1000), unit("d", 1200)}, []int{1, 3, 0, 2}},
		{"ties keep the batch's order", 4000, []fillUnit{unit("a", 700), unit("b", 700), unit("c", 700)}, []int{0, 1, 2}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := fill(c.units, c.free, usable); !slices.Equal(got, c.want) {
				t.Errorf("fill = %v, want %v", got, c.want)
			}
		})
	}
}

// TestFillOrderWritesEveryUnitOnce: over random batches, every unit is written once, and each
// stream's in the batch's order.
func TestFillOrderWritesEveryUnitOnce(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		units := make([]fillUnit, 1+r.IntN(80))
		for i := range units {
			rows := make([]int, 1+r.IntN(3))
			for j := range rows {
				rows[j] = 10 + r.IntN(2000)
			}
			units[i] = fillUnit{stream: fmt.Sprint(r.IntN(20)), rows: rows}
		}
		order := fill(units, r.IntN(4088), 4096)
		if sorted := slices.Sorted(slices.Values(order)); len(order) != len(units) || !slices.Equal(sorted, indexes(len(units))) {
			t.Fatalf("order %v is no permutation of %d units", order, len(units))
		}
		last := map[string]int{}
		for _, i := range order {
			if j, ok := last[units[i].stream]; ok && j > i {
				t.Fatalf("stream %s: unit %d written after unit %d", units[i].stream, j, i)
			}
			last[units[i].stream] = i
		}
	}
}

func indexes(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}

// TestABatchFillsTheLastPageFirst: of the appends one batch commits, one that fits in what the
// events table's last page has free is written before one queued earlier that does not fit, and
// the page is left with what is free after both.
func TestABatchFillsTheLastPageFirst(t *testing.T) {
	t.Parallel()
	s := openTemp(t)
	ctx := t.Context()
	if _, err := s.Append(ctx, "first", eventlog.NoStream(), []eventlog.EventData{event(1000, 0)}); err != nil {
		t.Fatal(err)
	}
	free, usable := lastFree(t, s)
	big, small := event(free+100, 0), event(free/2, 0)
	results := inOneBatch(t, s, []fillAppend{{"s-0", eventlog.NoStream(), []eventlog.EventData{big}},
		{"s-1", eventlog.NoStream(), []eventlog.EventData{small}}})
	positions := map[uint64]bool{}
	for _, res := range results {
		positions[res.Position.Commit] = true
	}
	var bigAt, smallAt uint64
	onWriterTx(t, s, func(ctx context.Context, conn *sql.Conn) error {
		return conn.QueryRowContext(ctx, `SELECT (SELECT position FROM events WHERE id = ?), (SELECT position FROM events WHERE id = ?)`,
			big.ID[:], small.ID[:]).Scan(&bigAt, &smallAt)
	})
	if !positions[bigAt] || !positions[smallAt] {
		t.Fatalf("appends answered with positions %v, rows at %d and %d", positions, bigAt, smallAt)
	}
	if smallAt > bigAt {
		t.Errorf("the append that fits is at %d, after the one queued before it that does not (%d)", smallAt, bigAt)
	}
	// The small row went into the last page, the big one began a new page.
	want := usable - leafHeader - cellSize(usable, int64(bigAt), 3, 0, big.Type, storedEvent{data: big.Data, metadata: big.Metadata})
	if after, _ := lastFree(t, s); after != want {
		t.Errorf("%d bytes free in the last page, want %d", after, want)
	}
}

type fillAppend struct {
	stream   string
	expected eventlog.ExpectedRevision
	events   []eventlog.EventData
}

// inOneBatch makes appends, queued in their order, one batch of s's writer (a job's step holds the
// writer until all are queued), and returns their results in that order.
func inOneBatch(t *testing.T, s *Store, appends []fillAppend) []eventlog.AppendResult {
	t.Helper()
	ctx := t.Context()
	// Hang guards only: each wait below ends as soon as the writer does what it should.
	const guard = time.Minute
	jobDone, started, queued := make(chan error, 1), make(chan struct{}), make(chan struct{})
	go func() {
		jobDone <- s.onWriter(ctx, false, func(*sql.Conn, time.Duration, func() bool) (bool, error) {
			close(started)
			select {
			case <-queued:
				return true, nil
			case <-time.After(guard):
				return true, fmt.Errorf("appends not queued after %v", guard)
			}
		})
	}()
	select {
	case <-started:
	case err := <-jobDone:
		t.Fatalf("job ended before its step: %v", err)
	}
	results := make([]eventlog.AppendResult, len(appends))
	var wg sync.WaitGroup
	for i, a := range appends {
		wg.Go(func() {
			res, err := s.Append(ctx, a.stream, a.expected, a.events)
			if err != nil {
				t.Errorf("append %d to %s: %v", i, a.stream, err)
			}
			results[i] = res
		})
		for deadline := time.Now().Add(guard); len(s.writer.queue) < i+1; time.Sleep(100 * time.Microsecond) {
			if time.Now().After(deadline) {
				t.Fatalf("append %d not queued after %v", i, guard)
			}
		}
	}
	close(queued)
	if err := <-jobDone; err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	return results
}

// TestTheWriterFollowsTheLastPage: after batches of appends of all sizes, to new streams and to
// streams already written, what the writer knows of the events table's last page without reading it
// is what reading it gives; in pages of PageSize and in a file made before with 4 KiB pages.
func TestTheWriterFollowsTheLastPage(t *testing.T) {
	t.Parallel()
	for name, open := range pageSizes {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			theWriterFollowsTheLastPage(t, open(t))
		})
	}
}

func theWriterFollowsTheLastPage(t *testing.T, s *Store) {
	r := rand.New(rand.NewPCG(3, 4))
	revisions := map[string]eventlog.ExpectedRevision{}
	for round := range 30 {
		appends := make([]fillAppend, 2+r.IntN(30))
		seen := map[string]bool{}
		for i := range appends {
			stream := fmt.Sprint("s-", r.IntN(40))
			for seen[stream] {
				stream += "x"
			}
			seen[stream] = true
			expected, ok := revisions[stream]
			if !ok {
				expected = eventlog.NoStream()
			}
			evs := make([]eventlog.EventData, 1+r.IntN(3))
			for j := range evs {
				evs[j] = event(r.IntN(2500), r.IntN(200))
			}
			if r.IntN(20) == 0 {
				evs[0] = event(5000+r.IntN(10_000), 0)
			}
			appends[i] = fillAppend{stream, expected, evs}
		}
		for i, res := range inOneBatch(t, s, appends) {
			revisions[appends[i].stream] = eventlog.Exactly(res.Revision)
		}
		var followed lastPage
		onWriterTx(t, s, func(ctx context.Context, _ *sql.Conn) error {
			followed = s.writer.lastPage
			return nil
		})
		if free, _ := lastFree(t, s); !followed.known || followed.free != free {
			t.Fatalf("round %d: the writer follows %+v, the page has %d bytes free", round, followed, free)
		}
	}
}

// BenchmarkFillOrder is the writer's cost of ordering a batch as hookd's delivery load makes them
// at 64 publishers: 72 appends, a third each published events (1.4 KB), scheduled deliveries
// (0.65 KB) and attempts with their outcome (two rows, 0.6 KB).
//
//	go test -run '^$' -bench FillOrder ./adapters/eventstore/sqlitestore/
func BenchmarkFillOrder(b *testing.B) {
	batch := make([]*appendRequest, 72)
	for i := range batch {
		req := &appendRequest{stream: fmt.Sprint("s-", i), expected: eventlog.NoStream()}
		switch i % 3 {
		case 0:
			req.events = []eventlog.EventData{event(1210, 157)}
		case 1:
			req.events = []eventlog.EventData{event(520, 129)}
		default:
			req.expected = eventlog.Exactly(0)
			req.events = []eventlog.EventData{event(200, 73), event(103, 73)}
		}
		req.stored = store(req.events, false)
		batch[i] = req
	}
	for b.Loop() {
		fillOrder(batch, 1000, 4096)
	}
}
