package sqlitestore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/hookd/hookd/domain/eventlog"
)

// Filling the events table's last page. A row that does not fit in the table's last leaf page goes
// to a new page of its own, and SQLite leaves the old page as it is (its "quick balance" for rows
// added at the end of a table). A delivery's rows are a few hundred bytes to over a kilobyte, so in
// arrival order a fifth of every 4 KiB page stayed empty (about 800 bytes a page, 4.8 rows), and
// every page is written twice: into the WAL, then by the checkpoint into the file
// (docs/benchmarks.md, "Filling the log's pages"). The appends of one batch are concurrent (each
// caller is still waiting for its own), so no caller can tell their order in the log, and the
// writer chooses it: next the largest append that fits in what the last page has free, and only
// when none fits one that begins a new page. Appends to one stream keep their order, so that their
// expectations are checked as they were queued.

// lastPage is what the writer knows of the events table's last leaf page: the bytes free in it, and
// the file's page size. The writer reads them from the file (three or four pages, about 100 µs) only
// when it does not know them, and otherwise follows its own appends: a row takes cellSize, or begins
// a new page when it does not fit. What it does not see makes it read again: another process's
// commits, a batch rolled back, and every fillResync batches, so that a page it follows wrongly
// costs bytes for a little while, never more. Retention's deletes (a job's steps) are not followed:
// they remove expired streams, whose rows are old, and never the log's last event, so they leave
// the last page as it was but for a rare row, which makes the writer's count wrong, and costs
// bytes, until its next read; reading after every step would cost 100 µs a commit while retention
// runs.
type lastPage struct {
	free, usable int
	known        bool
	// since is how many batches the writer ordered since it last read the page.
	since int
}

// fillResync is how many batches the writer orders before it reads the last page again.
const fillResync = 100

// add follows a row of cell bytes appended to the events table.
func (p *lastPage) add(cell int) {
	if cell > p.free {
		p.free = p.usable - leafHeader
	}
	p.free -= cell
}

// knowLastPage makes sure the writer knows the last page, reading it if needed.
func (w *writer) knowLastPage(ctx context.Context) error {
	if w.lastPage.known && w.lastPage.since < fillResync {
		w.lastPage.since++
		return nil
	}
	free, usable, err := w.lastPageFree(ctx)
	if err != nil {
		return err
	}
	w.lastPage = lastPage{free: free, usable: usable, known: true}
	return nil
}

// fillOrder orders batch for writing into a last page with free bytes free, in pages of usable
// bytes (see above). It returns batch itself when there is nothing to choose.
func fillOrder(batch []*appendRequest, free, usable int) []*appendRequest {
	if len(batch) < 2 {
		return batch
	}
	units := make([]fillUnit, len(batch))
	for i, req := range batch {
		rows := make([]int, len(req.events))
		revision := req.expected.Version() + 1
		for j, ev := range req.events {
			rows[j] = cellSize(usable, cellEstimate, cellEstimate, revision+int64(j), ev.Type, req.stored[j])
		}
		units[i] = fillUnit{stream: req.stream, rows: rows}
	}
	order := fill(units, free, usable)
	ordered := make([]*appendRequest, len(batch))
	for i, j := range order {
		ordered[i] = batch[j]
	}
	return ordered
}

// fillUnit is an append as fill sees it: its stream and the bytes each of its rows takes in a page.
type fillUnit struct {
	stream string
	rows   []int
}

// fill returns the order in which to write units (their indexes) into a last page with free bytes
// free: each time the largest of the units that can go next and fit whole in what the page has
// free, or, when none fits, the largest that can go next, which begins a new page. A unit can go
// next when every unit before it in units for the same stream has gone. Ties keep units' order.
func fill(units []fillUnit, free, usable int) []int {
	// next[i] is the next unit for units[i]'s stream; heads are the units that can go next.
	next := make([]int, len(units))
	last := make(map[string]int, len(units))
	heads := make([]int, 0, len(units))
	for i, u := range units {
		next[i] = -1
		if j, ok := last[u.stream]; ok {
			next[j] = i
		} else {
			heads = append(heads, i)
		}
		last[u.stream] = i
	}
	total := make([]int, len(units))
	for i, u := range units {
		for _, r := range u.rows {
			total[i] += r
		}
	}
	order := make([]int, 0, len(units))
	for len(heads) > 0 {
		best, bestFits := -1, false
		for h, i := range heads {
			fits := total[i] <= free
			if best >= 0 {
				b := heads[best]
				larger := total[i] > total[b] || (total[i] == total[b] && i < b)
				if fits != bestFits && !fits || fits == bestFits && !larger {
					continue
				}
			}
			best, bestFits = h, fits
		}
		i := heads[best]
		order = append(order, i)
		page := lastPage{free: free, usable: usable}
		for _, r := range units[i].rows {
			page.add(r)
		}
		free = page.free
		if next[i] >= 0 {
			heads[best] = next[i]
		} else {
			heads = append(heads[:best], heads[best+1:]...)
		}
	}
	return order
}

// idBytes is the bytes of an event id.
const idBytes = len(eventlog.EventID{})

// leafHeader is the bytes of a table leaf page's header.
const leafHeader = 8

// cellEstimate stands for a row's position and stream id before they are known: a value whose
// encodings take as many bytes as any the log reaches before its 134 millionth row, so that the
// estimate errs by a byte or two towards not fitting.
const cellEstimate = 1 << 26

// cellSize returns the bytes an events row of type typ storing st takes in a table leaf page of
// usable bytes, its cell pointer included: SQLite's record format
// (https://sqlite.org/fileformat2.html, "Record Format" and "B-tree Pages"). The position is the
// row id, stored in the cell and not in the record.
func cellSize(usable int, position, streamID, revision int64, typ string, st storedEvent) int {
	types := [...]uint64{
		0, // position: the row id
		intSerial(streamID), intSerial(revision),
		6, // created: nanoseconds, eight bytes
		uint64(idBytes)*2 + 12, uint64(len(typ))*2 + 13, uint64(len(st.data))*2 + 12,
		uint64(len(st.metadata))*2 + 12,
		intSerial(st.packed),
	}
	header := 0
	for _, t := range types {
		header += varintLen(t)
	}
	header += varintLen(uint64(header + 1))
	payload := header + intBytes(streamID) + intBytes(revision) + 8 + idBytes + len(typ) + len(st.data) + len(st.metadata) + intBytes(st.packed)
	// A payload larger than a leaf keeps its first bytes in the page and the rest in overflow
	// pages, which the page points to.
	local, overflow := payload, 0
	if maxLocal := usable - 35; payload > maxLocal {
		minLocal := (usable-12)*32/255 - 23
		local, overflow = minLocal+(payload-minLocal)%(usable-4), 4
		if local > maxLocal {
			local = minLocal
		}
	}
	return 2 + varintLen(uint64(payload)) + varintLen(uint64(position)) + local + overflow
}

// intSerial is the serial type SQLite stores an integer under.
func intSerial(v int64) uint64 {
	switch v {
	case 0:
		return 8
	case 1:
		return 9
	}
	switch n := intBytes(v); n {
	case 6:
		return 5
	case 8:
		return 6
	default:
		return uint64(n)
	}
}

// intBytes is the bytes SQLite stores an integer in.
func intBytes(v int64) int {
	if v == 0 || v == 1 {
		return 0
	}
	for _, b := range [...]struct {
		n     int
		below int64
	}{{1, 1 << 7}, {2, 1 << 15}, {3, 1 << 23}, {4, 1 << 31}, {6, 1 << 47}} {
		if -b.below <= v && v < b.below {
			return b.n
		}
	}
	return 8
}

// varintLen is the bytes SQLite's variable-length encoding of v takes.
func varintLen(v uint64) int {
	n := 1
	for ; n < 9 && v >= 0x80; n++ {
		v >>= 7
	}
	return n
}

// lastPageFree returns the bytes free in the events table's last leaf page and the file's usable
// page size, read from its pages (sqlite_dbpage) down the right edge of the table from its root:
// three or four pages, which the transaction's cache holds.
func (w *writer) lastPageFree(ctx context.Context) (free, usable int, err error) {
	var pgno int64
	if err := w.stmts.eventsRoot.QueryRowContext(ctx).Scan(&pgno); err != nil {
		return 0, 0, fmt.Errorf("sqlitestore: events root page: %w", err)
	}
	for range 64 {
		var page []byte
		if err := w.stmts.page.QueryRowContext(ctx, pgno).Scan(&page); err != nil {
			return 0, 0, fmt.Errorf("sqlitestore: page %d: %w", pgno, err)
		}
		free, right, err := leafFree(page, pgno)
		if err != nil || right == 0 {
			return free, len(page), err
		}
		pgno = right
	}
	return 0, 0, errors.New("sqlitestore: the events table is deeper than 64 pages")
}

// leafFree reads page, numbered pgno: for a table leaf, the bytes free in it; for an interior table
// page, its right-most child, right.
func leafFree(page []byte, pgno int64) (free int, right int64, err error) {
	h := 0
	if pgno == 1 {
		h = 100 // the file's header comes first
	}
	if len(page) < h+12 {
		return 0, 0, fmt.Errorf("sqlitestore: page %d: %d bytes", pgno, len(page))
	}
	switch page[h] {
	case 0x05:
		return 0, int64(binary.BigEndian.Uint32(page[h+8:])), nil
	case 0x0d:
	default:
		return 0, 0, fmt.Errorf("sqlitestore: page %d is no table page (type %#x)", pgno, page[h])
	}
	cells := int(binary.BigEndian.Uint16(page[h+3:]))
	content := int(binary.BigEndian.Uint16(page[h+5:]))
	if content == 0 {
		content = 65536
	}
	free = content - (h + leafHeader + 2*cells) + int(page[h+7])
	// Free blocks inside the content area (left by deleted rows), chained by offset.
	for off, n := int(binary.BigEndian.Uint16(page[h+1:])), 0; off != 0; n++ {
		if off+4 > len(page) || n > len(page)/4 {
			return 0, 0, fmt.Errorf("sqlitestore: page %d: free block chain broken", pgno)
		}
		free += int(binary.BigEndian.Uint16(page[off+2:]))
		off = int(binary.BigEndian.Uint16(page[off:]))
	}
	return free, 0, nil
}
