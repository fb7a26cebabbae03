package sqlitestore

// revisionsKept bounds the streams whose revision the writer remembers, per generation (see
// revisions): a delivery's stream takes its appends within seconds to minutes of each other, and
// 4,096 streams cover several seconds of deliveries at full speed for about a megabyte of memory.
const revisionsKept = 4096

// streamAt is a stream's row id and its last event's revision as the file has them.
type streamAt struct {
	id, revision int64
}

// revisions is what the writer knows of the streams it appended to last, so that an append to one
// of them reads nothing: its expectation is checked against memory. Only the writer goroutine uses
// it. It is exact or empty: a batch's changes enter it only once its commit succeeded
// (pending, then settle), it is emptied when a batch fails and whenever another process committed
// to the file (PRAGMA data_version changed), and retention forgets the streams it deletes.
//
// It keeps two generations of at most revisionsKept streams: when the current one is full it
// becomes the old one and the older is dropped, so that memory stays bounded and the streams
// used last stay known (a hit in the old generation moves to the current one).
type revisions struct {
	current, old map[string]streamAt
	// pending holds what the batch being written changed, until it commits.
	pending map[string]streamAt
}

func newRevisions() *revisions {
	return &revisions{current: map[string]streamAt{}, old: map[string]streamAt{}, pending: map[string]streamAt{}}
}

// lookup returns what is known of stream, the batch's own changes first.
func (r *revisions) lookup(stream string) (streamAt, bool) {
	if at, ok := r.pending[stream]; ok {
		return at, true
	}
	if at, ok := r.current[stream]; ok {
		return at, true
	}
	at, ok := r.old[stream]
	if ok {
		delete(r.old, stream)
		r.put(stream, at)
	}
	return at, ok
}

// advance records that the batch being written moved stream to at.
func (r *revisions) advance(stream string, at streamAt) {
	r.pending[stream] = at
}

// settle keeps the batch's changes once its commit succeeded.
func (r *revisions) settle() {
	for stream, at := range r.pending {
		r.put(stream, at)
	}
	clear(r.pending)
}

// discard drops the batch's changes and everything known: after a failed batch the file's state
// is not known for sure (a failed COMMIT may or may not have committed).
func (r *revisions) discard() {
	clear(r.pending)
	r.reset()
}

// reset forgets every stream: another process committed, and may have appended to any of them.
func (r *revisions) reset() {
	clear(r.current)
	clear(r.old)
}

// forget drops stream, which retention is deleting.
func (r *revisions) forget(stream string) {
	delete(r.pending, stream)
	delete(r.current, stream)
	delete(r.old, stream)
}

func (r *revisions) put(stream string, at streamAt) {
	if _, ok := r.current[stream]; !ok && len(r.current) >= revisionsKept {
		r.old, r.current = r.current, r.old
		clear(r.current)
	}
	r.current[stream] = at
}
