package sqlitestore_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/hookd/hookd/adapters/eventstore/sqlitestore"
	"github.com/hookd/hookd/application/eventstore"
	"github.com/hookd/hookd/application/eventstore/eventstoretest"
	"github.com/hookd/hookd/domain/eventlog"
)

func TestConformance(t *testing.T) {
	eventstoretest.Run(t, func(t *testing.T) eventstore.Store {
		return open(t, filepath.Join(t.TempDir(), "log.db"), sqlitestore.Options{})
	})
}

// open opens a store that is closed when the test ends, if the test has not closed it.
func open(t testing.TB, path string, opts sqlitestore.Options) *sqlitestore.Store {
	t.Helper()
	s, err := sqlitestore.Open(t.Context(), path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

var idCounter struct {
	sync.Mutex
	n uint64
}

func events(n int) []eventlog.EventData {
	idCounter.Lock()
	defer idCounter.Unlock()
	evs := make([]eventlog.EventData, n)
	for i := range evs {
		idCounter.n++
		var id eventlog.EventID
		copy(id[:], fmt.Sprintf("%016x", idCounter.n))
		evs[i] = eventlog.EventData{ID: id, Type: "TestEvent", Data: fmt.Appendf(nil, `{"n":%d}`, idCounter.n)}
	}
	return evs
}

func TestReopenReadsEverythingBack(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "log.db")
	s := open(t, path, sqlitestore.Options{})
	for i := range 30 {
		stream := fmt.Sprint("order-", i%3)
		if _, err := s.Append(ctx, stream, eventlog.After(int64(i/3)*2-1), events(2)); err != nil {
			t.Fatalf("Append: %v", err)
		}
	}
	before, err := s.ReadAll(ctx, eventlog.Start, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s = open(t, path, sqlitestore.Options{})
	after, err := s.ReadAll(ctx, eventlog.Start, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != 60 || len(after) != len(before) {
		t.Fatalf("reopened log holds %d events, want %d", len(after), len(before))
	}
	for i := range after {
		b, a := before[i], after[i]
		if a.Stream != b.Stream || a.Revision != b.Revision || a.Position != b.Position || a.ID != b.ID ||
			string(a.Data) != string(b.Data) || !a.Created.Equal(b.Created) {
			t.Fatalf("event %d changed across reopening: %+v, was %+v", i, a, b)
		}
	}
	// The streams' revisions survive too.
	if _, err := s.Append(ctx, "order-0", eventlog.Exactly(18), events(1)); !errors.Is(err, eventlog.ErrWrongExpectedVersion) {
		t.Errorf("stale append after reopening: %v, want a conflict", err)
	}
	if res, err := s.Append(ctx, "order-0", eventlog.Exactly(19), events(1)); err != nil || res.Revision != 20 {
		t.Errorf("append after reopening: %+v, %v; want revision 20", res, err)
	}
}

// TestTwoStoresOneFile stands for two processes on one file, such as the server and the CLI.
func TestTwoStoresOneFile(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	path := filepath.Join(t.TempDir(), "log.db")
	a := open(t, path, sqlitestore.Options{})
	b := open(t, path, sqlitestore.Options{})

	if _, err := a.Append(ctx, "license-1", eventlog.NoStream(), events(1)); err != nil {
		t.Fatal(err)
	}
	_, err := b.Append(ctx, "license-1", eventlog.NoStream(), events(1))
	if wrong, ok := errors.AsType[*eventlog.WrongExpectedVersionError](err); !ok || wrong.Actual != 0 {
		t.Fatalf("B appended to a stream A created: %v, want a conflict at revision 0", err)
	}
	second := events(1)
	first, err := b.Append(ctx, "license-1", eventlog.Exactly(0), second)
	if err != nil {
		t.Fatal(err)
	}
	// A must not trust anything it remembers about the stream.
	_, err = a.Append(ctx, "license-1", eventlog.Exactly(0), events(1))
	if wrong, ok := errors.AsType[*eventlog.WrongExpectedVersionError](err); !ok || wrong.Actual != 1 {
		t.Fatalf("A appended at a revision B had moved past: %v, want a conflict at revision 1", err)
	}
	if again, err := a.Append(ctx, "license-1", eventlog.Exactly(0), second); err != nil || again != first {
		t.Fatalf("A repeating B's append: %+v, %v; want B's result %+v", again, err, first)
	}

	// Both stores contend for one stream; every success must land at its own revision.
	const perStore, goroutines = 15, 3
	var wg sync.WaitGroup
	errs := make(chan error, 2*goroutines)
	for _, s := range []*sqlitestore.Store{a, b} {
		for range goroutines {
			wg.Go(func() {
				for range perStore {
					if err := appendWithRetry(ctx, s, "license-1"); err != nil {
						errs <- err
						return
					}
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got, err := a.ReadStream(ctx, "license-1", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if want := 2 + 2*goroutines*perStore; len(got) != want {
		t.Fatalf("stream holds %d events, want %d", len(got), want)
	}
	for i, ev := range got {
		if ev.Revision != uint64(i) {
			t.Fatalf("event %d has revision %d", i, ev.Revision)
		}
	}
}

func appendWithRetry(ctx context.Context, s *sqlitestore.Store, stream string) error {
	evs := events(1)
	for {
		last, err := s.ReadStreamBackwards(ctx, stream, eventlog.End, 1)
		if err != nil {
			return err
		}
		_, err = s.Append(ctx, stream, eventlog.Exactly(last[0].Revision), evs)
		if !errors.Is(err, eventlog.ErrWrongExpectedVersion) {
			return err
		}
	}
}

func TestSubscriptionSeesAppendsFromAnotherStore(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "log.db")
	a := open(t, path, sqlitestore.Options{PollInterval: 20 * time.Millisecond})
	b := open(t, path, sqlitestore.Options{})
	sub, err := a.SubscribeAll(ctx, eventlog.Start)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	for i := range 3 {
		res, err := b.Append(ctx, "webhook-1", eventlog.After(int64(i)-1), events(1))
		if err != nil {
			t.Fatal(err)
		}
		waitCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		got, err := sub.Next(waitCtx, 10)
		cancel()
		if err != nil {
			t.Fatalf("A's subscription after B's append %d: %v", i, err)
		}
		if len(got) != 1 || got[0].Position != res.Position {
			t.Fatalf("A's subscription delivered %d events after B's append %d, want the one at %s", len(got), i, res.Position)
		}
	}
}

func TestCloseFailsQueuedAppends(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "log.db")
	s := open(t, path, sqlitestore.Options{})
	const appenders = 16
	var wg sync.WaitGroup
	written := make([]int, appenders)
	errs := make([]error, appenders)
	for i := range appenders {
		wg.Go(func() {
			stream := fmt.Sprint("delivery-", i)
			for {
				_, err := s.Append(ctx, stream, eventlog.After(int64(written[i])-1), events(1))
				if err != nil {
					errs[i] = err
					return
				}
				written[i]++
			}
		})
	}
	time.Sleep(100 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	wg.Wait()
	total := 0
	for i, err := range errs {
		if !errors.Is(err, sqlitestore.ErrClosed) {
			t.Errorf("appender %d ended with %v, want ErrClosed", i, err)
		}
		total += written[i]
	}
	if total == 0 {
		t.Fatal("no append went through before Close")
	}
	if _, err := s.ReadAll(ctx, eventlog.Start, 1); !errors.Is(err, sqlitestore.ErrClosed) {
		t.Errorf("ReadAll after Close: %v, want ErrClosed", err)
	}
	if _, err := s.SubscribeAll(ctx, eventlog.Start); !errors.Is(err, sqlitestore.ErrClosed) {
		t.Errorf("SubscribeAll after Close: %v, want ErrClosed", err)
	}

	// Every append that reported success is in the file, and nothing else.
	s = open(t, path, sqlitestore.Options{})
	all, err := s.ReadAll(ctx, eventlog.Start, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != total {
		t.Fatalf("reopened log holds %d events, appenders saw %d succeed", len(all), total)
	}
}

func TestAppendWithEndedContextWritesNothing(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "log.db"), sqlitestore.Options{})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.Append(ctx, "order-1", eventlog.NoStream(), events(1)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Append: %v, want context.Canceled", err)
	}
	if all, err := s.ReadAll(t.Context(), eventlog.Start, 0); err != nil || len(all) != 0 {
		t.Fatalf("ReadAll: %d events, %v; want none", len(all), err)
	}
}

func TestAppendRejectsBadInput(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "log.db"), sqlitestore.Options{})
	cases := map[string]struct {
		stream string
		events []eventlog.EventData
	}{
		"no stream name": {"", events(1)},
		"no events":      {"order-1", nil},
		"no type":        {"order-1", []eventlog.EventData{{ID: events(1)[0].ID}}},
	}
	for name, c := range cases {
		if _, err := s.Append(t.Context(), c.stream, eventlog.NoStream(), c.events); err == nil {
			t.Errorf("%s: Append succeeded", name)
		}
	}
}

// TestLockedFileIsUnavailable holds the write lock from another connection, as a process stuck
// in a transaction would; appends must give up after the busy timeout with ErrUnavailable.
func TestLockedFileIsUnavailable(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "log.db")
	s := open(t, path, sqlitestore.Options{BusyTimeout: 50 * time.Millisecond})
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, "order-1", eventlog.NoStream(), events(1)); !errors.Is(err, eventlog.ErrUnavailable) {
		t.Fatalf("Append while another connection holds the lock: %v, want ErrUnavailable", err)
	}
	if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, "order-1", eventlog.NoStream(), events(1)); err != nil {
		t.Fatalf("Append once the lock is released: %v", err)
	}
}

func TestOpenRejects(t *testing.T) {
	dir := t.TempDir()
	if _, err := sqlitestore.Open(t.Context(), filepath.Join(dir, "a.db"), sqlitestore.Options{MaxBatch: -1, PollInterval: -1}); err == nil {
		t.Error("Open accepted negative options")
	}
	for _, path := range []string{"", ":memory:", "file:" + filepath.Join(dir, "b.db"), filepath.Join(dir, "c.db?mode=ro")} {
		if _, err := sqlitestore.Open(t.Context(), path, sqlitestore.Options{}); err == nil {
			t.Errorf("Open(%q) succeeded", path)
		}
	}

	// A file from another schema version.
	path := filepath.Join(dir, "other.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(t.Context(), "PRAGMA user_version = 99"); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err := sqlitestore.Open(t.Context(), path, sqlitestore.Options{}); err == nil {
		_ = s.Close()
		t.Error("Open accepted a file with schema version 99")
	}
}

// TestSubscriptionsMatchTheFile has two stores append to one file at once, and checks that
// subscriptions of the first, which take its own commits from memory and the second's from the file,
// see exactly what a read of the file returns: every event once, in order, with the same bytes.
func TestSubscriptionsMatchTheFile(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	path := filepath.Join(t.TempDir(), "log.db")
	a := open(t, path, sqlitestore.Options{PollInterval: 5 * time.Millisecond})
	b := open(t, path, sqlitestore.Options{})
	// Events before the subscriptions start, so that one of them begins behind what a has in memory.
	for i := range 20 {
		if _, err := a.Append(ctx, fmt.Sprint("early-", i), eventlog.NoStream(), events(3)); err != nil {
			t.Fatal(err)
		}
	}
	middle, err := a.ReadAll(ctx, eventlog.Start, 30)
	if err != nil {
		t.Fatal(err)
	}

	const perWriter, writers = 60, 4
	var wg sync.WaitGroup
	errs := make(chan error, 2*writers)
	for w := range writers {
		for name, s := range map[string]*sqlitestore.Store{"a": a, "b": b} {
			wg.Go(func() {
				for i := range perWriter {
					evs := events(1 + i%3)
					// Empty and absent bytes must come back as they went in.
					evs[0].Metadata = []byte{}
					if i%2 == 0 {
						evs[0].Data, evs[0].Metadata = nil, []byte(`{"m":1}`)
					}
					if _, err := s.Append(ctx, fmt.Sprintf("%s-%d-%d", name, w, i), eventlog.NoStream(), evs); err != nil {
						errs <- err
						return
					}
				}
			})
		}
	}

	// 60 early events, then per writer 20 rounds of 1, 2 and 3 events. Positions count from 1.
	const total = 60 + 2*writers*(perWriter/3)*6
	from := map[string]eventlog.Position{"start": eventlog.Start, "middle": middle[len(middle)-1].Position}
	got := map[string][]eventlog.RecordedEvent{}
	var readers sync.WaitGroup
	var mu sync.Mutex
	for name, after := range from {
		sub, err := a.SubscribeAll(ctx, after)
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		readers.Go(func() {
			var mine []eventlog.RecordedEvent
			for len(mine) < total-int(after.Commit) {
				batch, err := sub.Next(ctx, 7)
				if err != nil {
					t.Errorf("subscription from %s after %d events: %v", name, len(mine), err)
					break
				}
				mine = append(mine, batch...)
			}
			mu.Lock()
			got[name] = mine
			mu.Unlock()
		})
	}
	wg.Wait()
	readers.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for name, after := range from {
		want, err := a.ReadAll(ctx, after, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(want) != total-int(after.Commit) {
			t.Fatalf("the file holds %d events after %s, want %d", len(want), after, total-int(after.Commit))
		}
		for i := range want {
			if i >= len(got[name]) || !reflect.DeepEqual(got[name][i], want[i]) {
				t.Errorf("subscription from %s, event %d:\n got %#v\nwant %#v", name, i, got[name][i], want[i])
				break
			}
		}
	}
}
