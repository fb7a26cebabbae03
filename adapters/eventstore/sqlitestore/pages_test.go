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
	s := openTemp(t)
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

// TestLargePagesAreNotKept: a page whose events hold more than pageBytesKept is handed to the
// subscription that read it and not kept, so large events cannot pin pagesKept pages of them.
func TestLargePagesAreNotKept(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := openTemp(t)
	// 64 events of 128 KiB: 8 MiB, twice pageBytesKept, in one page.
	big := make([]byte, 128<<10)
	for i := range big {
		big[i] = 'x'
	}
	data := []byte(`{"x":"` + string(big) + `"}`)
	for b := range 64 {
		var id eventlog.EventID
		copy(id[:], fmt.Sprintf("%016x", b))
		if _, err := s.Append(ctx, fmt.Sprint("big-", b), eventlog.NoStream(), []eventlog.EventData{{ID: id, Type: "TestEvent", Data: data}}); err != nil {
			t.Fatal(err)
		}
	}
	var p pages
	page, err := p.read(ctx, s, eventlog.Start)
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != 64 {
		t.Fatalf("read %d events, want the 64 appended", len(page))
	}
	if len(p.byKey) != 0 || len(p.order) != 0 {
		t.Errorf("a page of %d bytes was kept (%d pages), want none above %d", pageBytes(page), len(p.byKey), pageBytesKept)
	}
}

// openTemp opens a Store on a new file of the test's own, closed when the test ends.
func openTemp(t *testing.T) *Store {
	t.Helper()
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "log.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}
