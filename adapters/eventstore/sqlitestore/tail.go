package sqlitestore

import (
	"cmp"
	"slices"
	"sync"

	"github.com/hookd/hookd/domain/eventlog"
)

// A tail keeps at least the newest tailKept events that fit in tailBytes, and at most twice that. A
// subscription that keeps up lags far less: on the end-to-end benchmark (64 publishers, issue 13),
// 99.5% of the subscriptions' reads were within 1,024 events of the end and none lagged by more than
// 8,800, so a subscription rarely reads the file. Each event kept costs its bytes and about 150 more
// (the record and its strings), and the Go heap grows to twice what is live before a collection:
// 16,384 events and 16 MiB, as before, held some 40 MB and cost 80 MB of peak RSS. The bytes bound
// it when events are large (payloads go up to 256 KiB).
const (
	tailKept  = 4096
	tailBytes = 4 << 20
)

// tail keeps the events this Store's writer committed last, in log order, so that subscriptions
// following the head of the log take them from memory instead of each reading them back from the
// file. It only ever holds a contiguous run of the log: the writer tells it where each batch starts
// (the log's end before the batch, read under the write lock), and a batch that does not start
// where the run ends, because another process appended in between, starts a new run.
type tail struct {
	mu sync.Mutex
	// after is the position just before the run's first event; events holds the run. Elements are
	// never changed once added, so readers keep sub-slices without the lock.
	after  uint64
	events []eventlog.RecordedEvent
	// bytes counts the data and metadata of events.
	bytes int
}

// add records a batch the writer committed: events, whose first position follows after.
func (t *tail) add(after uint64, events []eventlog.RecordedEvent) {
	if len(events) == 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if after != t.last() {
		t.after, t.events, t.bytes = after, nil, 0
	}
	t.events = append(t.events, events...)
	for _, e := range events {
		t.bytes += size(e)
	}
	if len(t.events) > 2*tailKept || t.bytes > 2*tailBytes {
		t.trim()
	}
}

// trim keeps the newest events within tailKept and tailBytes, in a fresh array: readers may still
// hold sub-slices of the old one. Positions in a run follow each other, so the run's new start is
// its end less what is kept. t.mu must be held.
func (t *tail) trim() {
	n, bytes := 0, 0
	for i := len(t.events) - 1; i >= 0 && n < tailKept && bytes+size(t.events[i]) <= tailBytes; i-- {
		bytes += size(t.events[i])
		n++
	}
	last := t.last()
	t.events = append(make([]eventlog.RecordedEvent, 0, 2*n), t.events[len(t.events)-n:]...)
	t.after, t.bytes = last-uint64(n), bytes
}

func size(e eventlog.RecordedEvent) int { return len(e.Data) + len(e.Metadata) }

// last is the position of the run's last event, or after while it holds none (before the first
// batch, or after a trim that kept none). t.mu must be held.
func (t *tail) last() uint64 {
	if len(t.events) == 0 {
		return t.after
	}
	return t.events[len(t.events)-1].Position.Commit
}

// read returns the run's events after position after. covered reports whether the run answers for
// that position: false when after lies before the run or beyond its end, where the file must be
// read; true with no events when after is the run's end, where nothing newer was committed by this
// Store.
func (t *tail) read(after uint64) (events []eventlog.RecordedEvent, covered bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.events) == 0 || after < t.after || after > t.last() {
		return nil, false
	}
	i, _ := slices.BinarySearchFunc(t.events, after+1, func(e eventlog.RecordedEvent, pos uint64) int {
		return cmp.Compare(e.Position.Commit, pos)
	})
	rest := t.events[i:]
	return rest[:len(rest):len(rest)], true
}
