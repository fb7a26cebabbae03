package memtransport_test

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hookd/hookd/adapters/transport"
	"github.com/hookd/hookd/adapters/transport/memtransport"
)

// fakeLog is the backlog as hookd's log keeps it: every delivery with its due time until it is
// finished. Like the delivery use case, whoever attempts a delivery records it finished before
// acking, and skips one already finished.
type fakeLog struct {
	mu    sync.Mutex
	due   map[string]time.Time
	sent  map[string]int
	order []string
}

func newFakeLog() *fakeLog {
	return &fakeLog{due: map[string]time.Time{}, sent: map[string]int{}}
}

// schedule records key as due at at, as DeliveryScheduled does.
func (l *fakeLog) schedule(key string, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.due[key] = at
}

// attempt sends key once if it is not finished yet, and records it finished.
func (l *fakeLog) attempt(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.due[key]; !ok {
		return // finished: the use case does nothing
	}
	l.sent[key]++
	l.order = append(l.order, key)
	delete(l.due, key)
}

// Due implements memtransport.Backlog: the unfinished keys by due time, then key.
func (l *fakeLog) Due(_ context.Context, after *memtransport.Due, limit int) ([]memtransport.Due, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	all := make([]memtransport.Due, 0, len(l.due))
	for k, at := range l.due {
		all = append(all, memtransport.Due{Key: k, At: at})
	}
	order := func(a, b memtransport.Due) int {
		return cmp.Or(a.At.Compare(b.At), cmp.Compare(a.Key, b.Key))
	}
	slices.SortFunc(all, order)
	if after != nil {
		i, _ := slices.BinarySearchFunc(all, *after, order)
		for i < len(all) && order(all[i], *after) <= 0 {
			i++
		}
		all = all[i:]
	}
	return all[:min(limit, len(all))], nil
}

func (l *fakeLog) check(t *testing.T, keys int) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.sent) != keys {
		t.Errorf("%d keys sent, want %d", len(l.sent), keys)
	}
	for k, n := range l.sent {
		if n != 1 {
			t.Errorf("%s sent %d times", k, n)
		}
	}
}

func (l *fakeLog) finished() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.sent)
}

// window runs a windowed topic "t" over log with room for maxPending, and a consumer that attempts
// each message it gets and checks that the topic never holds more than its room.
func window(t *testing.T, log *fakeLog, maxPending int) (*memtransport.PubSub, *transport.Scheduler) {
	t.Helper()
	ps := memtransport.New(memtransport.Config{MaxPending: maxPending, MaxInFlight: 8})
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	t.Cleanup(func() {
		cancel()
		_ = ps.Close()
		wg.Wait()
	})
	w, err := ps.Window("t", log)
	if err != nil {
		t.Fatal(err)
	}
	wg.Go(func() {
		if err := w.Backfill(ctx, func(err error) { t.Errorf("backfill: %v", err) }); err != nil {
			t.Errorf("Backfill = %v", err)
		}
	})
	msgs, err := ps.Subscribe(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	wg.Go(func() {
		for msg := range msgs {
			if waiting, inFlight := ps.Len("t"); waiting+inFlight > maxPending {
				t.Errorf("the topic holds %d waiting and %d in flight, over its room of %d", waiting, inFlight, maxPending)
			}
			log.attempt(msg.UUID)
			msg.Ack()
		}
	})
	return ps, transport.NewScheduler(ps, "t")
}

func waitFinished(t *testing.T, log *fakeLog, keys int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for log.finished() < keys {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d keys sent", log.finished(), keys)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestBackfillRecoversMoreThanTheWindow: a start with ten times more due deliveries than the topic
// has room for sends each once, the topic never holding more than its room.
func TestBackfillRecoversMoreThanTheWindow(t *testing.T) {
	t.Parallel()
	const room, keys = 100, 1000
	log := newFakeLog()
	now := time.Now()
	for i := range keys {
		// Some overdue, some due within the next 200 ms, in no particular order of keys.
		log.schedule(fmt.Sprintf("d%04d", (i*7919)%keys), now.Add(time.Duration(i%300-100)*time.Millisecond))
	}
	window(t, log, room)
	waitFinished(t, log, keys)
	log.check(t, keys)
}

// TestBackfillTakesTheOverflowAtRunTime: publishes to a full window do not fail; what it has no room
// for waits in the log and is sent, each once.
func TestBackfillTakesTheOverflowAtRunTime(t *testing.T) {
	t.Parallel()
	const room, keys = 50, 1000
	log := newFakeLog()
	_, sched := window(t, log, room)
	now := time.Now()
	for i := range keys {
		key, at := fmt.Sprintf("d%04d", i), now.Add(time.Duration(i%100)*time.Millisecond)
		log.schedule(key, at)
		if err := sched.Schedule(t.Context(), key, at); err != nil {
			t.Fatalf("Schedule(%s) = %v", key, err)
		}
	}
	waitFinished(t, log, keys)
	log.check(t, keys)
}

// TestFullWindowMakesRoomForWhatIsDueFirst: a window full of messages due later leaves the one due
// last to the backlog for a message due now, which is sent first; the one left there is not lost.
func TestFullWindowMakesRoomForWhatIsDueFirst(t *testing.T) {
	t.Parallel()
	const room = 10
	log := newFakeLog()
	ps, sched := window(t, log, room)
	later := time.Now().Add(time.Second)
	for i := range room {
		key, at := fmt.Sprintf("late%02d", i), later.Add(time.Duration(i)*10*time.Millisecond)
		log.schedule(key, at)
		if err := sched.Schedule(t.Context(), key, at); err != nil {
			t.Fatal(err)
		}
	}
	log.schedule("now", time.Now())
	if err := sched.Schedule(t.Context(), "now", time.Now()); err != nil {
		t.Fatalf("Schedule on a full window = %v", err)
	}
	if waiting, inFlight := ps.Len("t"); waiting+inFlight != room {
		t.Errorf("the window holds %d waiting and %d in flight, want %d", waiting, inFlight, room)
	}
	waitFinished(t, log, room+1)
	log.check(t, room+1)
	log.mu.Lock()
	defer log.mu.Unlock()
	if log.order[0] != "now" || log.order[room] != "late09" {
		t.Errorf("sent in the order %v; want now first and late09, left to the backlog, last", log.order)
	}
}
