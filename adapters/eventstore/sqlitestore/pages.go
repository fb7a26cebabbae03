package sqlitestore

import (
	"cmp"
	"context"
	"slices"
	"sync"

	"github.com/hookd/hookd/domain/eventlog"
)

// pagesKept bounds the pages a Store keeps for its subscriptions: 4,096 events, as many as the tail
// keeps at least. At 16 pages, a subscription that fell behind the tail under a long closed-loop
// benchmark (the dispatcher, 60 s at 64 publishers) kept some 12 MB of events read back from the
// file, 24 MB of peak RSS with the collector's headroom (issue 13).
const pagesKept = 4

// pageBytesKept bounds one kept page's bytes: a page of events near the 256 KiB limit each would
// otherwise keep up to a quarter of a gigabyte per page for as long as it stays among the newest. A
// larger page is handed to the subscription that read it and not kept: the others read it again.
const pageBytesKept = 4 << 20

// pages keeps the last pages the Store's subscriptions read from the file, by the position they were
// read after. Subscriptions catching up together (every read model at start-up) ask for the same
// pages: one reads each from the file, the others share what it read. A shared page may miss events
// committed since it was read; a subscription that gets one reads on from its end and so sees them
// next. Subscriptions at the head of the log take this Store's commits from its tail instead.
type pages struct {
	mu    sync.Mutex
	byKey map[uint64][]eventlog.RecordedEvent
	order []uint64
}

// cached returns the events after position after that a kept page holds: the rest of a page read
// after an earlier position, when after falls inside it. Subscriptions a batch apart then share
// pages too.
func (p *pages) cached(after eventlog.Position) []eventlog.RecordedEvent {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, key := range p.order {
		page := p.byKey[key]
		if key > after.Commit || page[len(page)-1].Position.Commit <= after.Commit {
			continue
		}
		i, _ := slices.BinarySearchFunc(page, after.Commit+1, func(e eventlog.RecordedEvent, pos uint64) int {
			return cmp.Compare(e.Position.Commit, pos)
		})
		return page[i:]
	}
	return nil
}

// read returns the page after position after: shared when another subscription read it, from the
// file otherwise. The events' byte slices are shared: readers never change them.
func (p *pages) read(ctx context.Context, s *Store, after eventlog.Position) ([]eventlog.RecordedEvent, error) {
	if page := p.cached(after); len(page) > 0 {
		return page, nil
	}
	page, err := s.ReadAll(ctx, after, pageSize)
	if err != nil || len(page) == 0 {
		return page, err
	}
	if pageBytes(page) > pageBytesKept {
		return page, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.byKey == nil {
		p.byKey = make(map[uint64][]eventlog.RecordedEvent, pagesKept)
	}
	if _, ok := p.byKey[after.Commit]; !ok {
		if len(p.order) == pagesKept {
			delete(p.byKey, p.order[0])
			p.order = p.order[1:]
		}
		p.order = append(p.order, after.Commit)
	}
	p.byKey[after.Commit] = page
	return page, nil
}

// pageBytes is what a page's events hold in memory, counted as the tail counts them.
func pageBytes(page []eventlog.RecordedEvent) int {
	n := 0
	for _, e := range page {
		n += size(e)
	}
	return n
}
