package sqlitestore

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/hookd/hookd/domain/eventlog"
)

// TestPagesStayBounded: a subscription reading a long stretch of the log back from the file keeps at
// most pagesKept pages of it in memory, the newest, whatever it has read.
func TestPagesStayBounded(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "log.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	const total = (pagesKept + 3) * pageSize
	for b := range total / 256 {
		evs := make([]eventlog.EventData, 256)
		for i := range evs {
			var id eventlog.EventID
			copy(id[:], fmt.Sprintf("%016x", b*256+i))
			evs[i] = eventlog.EventData{ID: id, Type: "TestEvent", Data: []byte(`{}`)}
		}
		if _, err := s.Append(ctx, fmt.Sprint("s-", b), eventlog.NoStream(), evs); err != nil {
			t.Fatal(err)
		}
	}
	var p pages
	after, read := eventlog.Start, 0
	for read < total {
		page, err := p.read(ctx, s, after)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			t.Fatalf("no page after %v, %d of %d events read", after, read, total)
		}
		read += len(page)
		after = page[len(page)-1].Position
		if len(p.byKey) > pagesKept || len(p.order) > pagesKept {
			t.Fatalf("after %d events read, %d pages kept (order %d), want at most %d", read, len(p.byKey), len(p.order), pagesKept)
		}
	}
	if len(p.byKey) != pagesKept {
		t.Errorf("%d pages kept after reading %d pages, want the newest %d", len(p.byKey), total/pageSize, pagesKept)
	}
	if newest := p.cached(eventlog.Position{Commit: after.Commit - 1, Prepare: after.Prepare - 1}); len(newest) != 1 {
		t.Errorf("the last page read is not kept: %d events after the one before the last", len(newest))
	}
}
