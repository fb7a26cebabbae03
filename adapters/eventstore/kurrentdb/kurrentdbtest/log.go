package kurrentdbtest

import (
	"context"
	"sync"
	"time"
)

// positionStep is how far each event moves the log's position: positions are offsets, not counts.
const positionStep = 100

// record is an event as the log keeps it.
type record struct {
	stream   string
	revision uint64
	position uint64 // commit and prepare position alike
	id       [16]byte
	metadata map[string]string // system metadata: type, content-type, created
	custom   []byte
	data     []byte
}

// expectation is an append's expected stream state.
type expectation struct {
	kind     expectKind
	revision uint64
}

type expectKind int

const (
	expectAny expectKind = iota
	expectNoStream
	expectExists
	expectRevision
)

// appendOutcome is the answer to an append: the stream's last revision and the position of the last
// event written (or matched, for an idempotent repeat), or a conflict with the stream's state.
type appendOutcome struct {
	conflict bool
	exists   bool   // whether the stream exists, for a conflict
	revision uint64 // last revision of the stream (conflict) or of the append (success)
	position uint64
}

// memLog is the whole log: $all in order and an index by stream.
type memLog struct {
	mu      sync.Mutex
	all     []*record
	streams map[string][]*record
	// changed is closed and replaced after every append, to wake subscriptions.
	changed chan struct{}
	subs    map[*context.CancelCauseFunc]struct{}
}

func newMemLog() *memLog {
	return &memLog{streams: map[string][]*record{}, changed: make(chan struct{}), subs: map[*context.CancelCauseFunc]struct{}{}}
}

func (l *memLog) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.all)
}

// append writes recs to stream if it is in the expected state. A repeat of events already in the
// stream right after the expected revision is answered as the first append was.
func (l *memLog) append(stream string, exp expectation, recs []*record) appendOutcome {
	l.mu.Lock()
	defer l.mu.Unlock()
	existing := l.streams[stream]
	last := uint64(len(existing)) - 1 // wraps for an empty stream; exists guards every use

	if out, ok := repeated(existing, exp, recs); ok {
		return out
	}
	ok := false
	switch exp.kind {
	case expectAny:
		ok = true
	case expectNoStream:
		ok = len(existing) == 0
	case expectExists:
		ok = len(existing) > 0
	case expectRevision:
		ok = len(existing) > 0 && last == exp.revision
	}
	if !ok {
		return appendOutcome{conflict: true, exists: len(existing) > 0, revision: last}
	}
	if len(recs) == 0 {
		// An empty append changes nothing; KurrentDB answers with the current state.
		var pos uint64
		if len(existing) > 0 {
			pos = existing[len(existing)-1].position
		}
		return appendOutcome{revision: last, position: pos}
	}
	created := time.Now().UnixNano() / 100
	next := uint64(positionStep)
	if n := len(l.all); n > 0 {
		next = l.all[n-1].position + positionStep
	}
	for i, r := range recs {
		r.stream = stream
		r.revision = uint64(len(existing) + i)
		r.position = next + uint64(i)*positionStep
		r.metadata["created"] = formatInt(created)
		l.all = append(l.all, r)
		l.streams[stream] = append(l.streams[stream], r)
	}
	close(l.changed)
	l.changed = make(chan struct{})
	lastRec := recs[len(recs)-1]
	return appendOutcome{revision: lastRec.revision, position: lastRec.position}
}

// repeated reports whether recs are exactly the events already at the revisions after exp.
func repeated(existing []*record, exp expectation, recs []*record) (appendOutcome, bool) {
	var first int
	switch exp.kind {
	case expectNoStream:
		first = 0
	case expectRevision:
		first = int(exp.revision) + 1
	default:
		return appendOutcome{}, false
	}
	if len(recs) == 0 || first < 0 || first+len(recs) > len(existing) {
		return appendOutcome{}, false
	}
	for i, r := range recs {
		if existing[first+i].id != r.id {
			return appendOutcome{}, false
		}
	}
	lastRec := existing[first+len(recs)-1]
	return appendOutcome{revision: lastRec.revision, position: lastRec.position}, true
}

// readStream returns up to count events of stream from revision from (inclusive; fromEnd for the
// last), and false when the stream does not exist.
func (l *memLog) readStream(stream string, from uint64, fromEnd, backwards bool, count uint64) ([]*record, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	recs, ok := l.streams[stream]
	if !ok {
		return nil, false
	}
	var out []*record
	if backwards {
		i := len(recs) - 1
		if !fromEnd && from < uint64(len(recs)) {
			i = int(from)
		}
		for ; i >= 0 && uint64(len(out)) < count; i-- {
			out = append(out, recs[i])
		}
		return out, true
	}
	if fromEnd {
		return nil, true
	}
	for i := from; i < uint64(len(recs)) && uint64(len(out)) < count; i++ {
		out = append(out, recs[i])
	}
	return out, true
}

// readAll returns up to count events of $all that match keep, forwards from position from
// (inclusive) or backwards from it (inclusive; fromEnd for the last event).
func (l *memLog) readAll(from uint64, fromEnd, backwards bool, count uint64, keep func(*record) bool) []*record {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []*record
	if backwards {
		for i := len(l.all) - 1; i >= 0 && uint64(len(out)) < count; i-- {
			if r := l.all[i]; (fromEnd || r.position <= from) && keep(r) {
				out = append(out, r)
			}
		}
		return out
	}
	if fromEnd {
		return nil
	}
	for i := l.firstAtOrAfter(from); i < len(l.all) && uint64(len(out)) < count; i++ {
		if keep(l.all[i]) {
			out = append(out, l.all[i])
		}
	}
	return out
}

// after returns the events after position pos (exclusive), at most max of them scanned, the last
// position scanned, and the channel that the next append closes. Holding the lock for both makes
// sure no append slips between the read and the wait.
func (l *memLog) after(pos uint64, max int) (recs []*record, scanned uint64, changed <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	i := l.firstAtOrAfter(pos + 1)
	end := min(len(l.all), i+max)
	recs = l.all[i:end:end]
	if len(recs) > 0 {
		scanned = recs[len(recs)-1].position
	}
	return recs, scanned, l.changed
}

// end is the position of the last event, or 0 for an empty log.
func (l *memLog) end() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.all) == 0 {
		return 0
	}
	return l.all[len(l.all)-1].position
}

// firstAtOrAfter returns the index of the first event at position pos or later. The caller holds mu.
func (l *memLog) firstAtOrAfter(pos uint64) int {
	lo, hi := 0, len(l.all)
	for lo < hi {
		mid := (lo + hi) / 2
		if l.all[mid].position < pos {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}

// track registers a subscription's cancel function for dropSubscriptions until untrack.
func (l *memLog) track(cancel *context.CancelCauseFunc) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.subs[cancel] = struct{}{}
}

func (l *memLog) untrack(cancel *context.CancelCauseFunc) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.subs, cancel)
}

func (l *memLog) dropSubscriptions() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	for cancel := range l.subs {
		(*cancel)(errStopped)
	}
	n := len(l.subs)
	clear(l.subs)
	return n
}

// remove soft-deletes stream as KurrentDB does: its events no longer read from the stream, which
// reads as not found, while $all keeps them until a scavenge, which this server never runs. It
// returns a conflict when the stream is not at the expected revision. (A real node also continues
// the revisions of a soft-deleted stream written to again; hookd never writes to one.)
func (l *memLog) remove(stream string, exp expectation) appendOutcome {
	l.mu.Lock()
	defer l.mu.Unlock()
	recs, exists := l.streams[stream]
	last := uint64(len(recs)) - 1
	ok := false
	switch exp.kind {
	case expectAny:
		ok = true
	case expectNoStream:
		ok = !exists
	case expectExists:
		ok = exists
	case expectRevision:
		ok = exists && last == exp.revision
	}
	if !ok {
		return appendOutcome{conflict: true, exists: exists, revision: last}
	}
	delete(l.streams, stream)
	var position uint64
	if len(l.all) > 0 {
		position = l.all[len(l.all)-1].position
	}
	return appendOutcome{position: position}
}
