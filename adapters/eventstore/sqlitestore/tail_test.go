package sqlitestore

import (
	"testing"

	"github.com/hookd/hookd/domain/eventlog"
)

// batch returns n events at the positions after first-1, each with data of the given size.
func batch(first uint64, n, dataSize int) []eventlog.RecordedEvent {
	events := make([]eventlog.RecordedEvent, n)
	for i := range events {
		pos := first + uint64(i)
		events[i] = eventlog.RecordedEvent{Position: eventlog.Position{Commit: pos, Prepare: pos}, Data: make([]byte, dataSize)}
	}
	return events
}

// TestTailStaysBounded: a tail fed more events, or more bytes, than it keeps answers for the newest
// it kept and sends readers of older positions to the file, whatever the size of a batch.
func TestTailStaysBounded(t *testing.T) {
	for name, tc := range map[string]struct{ batches, perBatch, dataSize int }{
		"many small events":         {batches: 40, perBatch: 1000, dataSize: 10},
		"large events":              {batches: 50, perBatch: 10, dataSize: 256 << 10},
		"one batch beyond the keep": {batches: 1, perBatch: 3 * tailKept, dataSize: 10},
		"one event beyond the keep": {batches: 1, perBatch: 1, dataSize: 3 * tailBytes},
	} {
		var tl tail
		next := uint64(1)
		for range tc.batches {
			tl.add(next-1, batch(next, tc.perBatch, tc.dataSize))
			next += uint64(tc.perBatch)
		}
		last := next - 1
		if len(tl.events) > 2*tailKept || tl.bytes > 2*tailBytes {
			t.Errorf("%s: the tail holds %d events, %d bytes", name, len(tl.events), tl.bytes)
		}
		kept := uint64(len(tl.events))
		if tl.after != last-kept {
			t.Errorf("%s: the run starts after %d, want %d (%d kept up to %d)", name, tl.after, last-kept, kept, last)
		}
		if kept > 0 {
			if got, covered := tl.read(last - 1); !covered || len(got) != 1 || got[0].Position.Commit != last {
				t.Errorf("%s: read after %d = %d events (covered %v), want the last one", name, last-1, len(got), covered)
			}
		}
		if last > kept {
			if _, covered := tl.read(last - kept - 1); covered {
				t.Errorf("%s: a position before the run was answered from memory", name)
			}
		}
	}
}
