package deliverer

import (
	"container/heap"
	"context"
	"sync"
	"time"
)

// Queue holds the deliveries this process is to attempt, each with the time it is due, and hands
// each to the transport when it is due, with at most Limit in flight. It is memory only: the log and
// the deliveries read model are the truth, and a restart fills the queue again from them.
//
// A delivery is in the queue once: given again while pending, it keeps the earlier due time; given
// while in flight, it is queued again once the attempt is done (a replay asked for during the last
// attempt must not be lost).
type Queue struct {
	limit int
	clock func() time.Time

	mu       sync.Mutex
	pending  dueHeap
	byID     map[string]*entry
	inFlight map[string]*time.Time // the time to queue it again at when done, or nil
	wake     chan struct{}
}

type entry struct {
	id    string
	at    time.Time
	index int
}

// NewQueue returns an empty Queue that keeps at most limit deliveries in flight.
func NewQueue(limit int, clock func() time.Time) *Queue {
	return &Queue{
		limit: max(limit, 1), clock: clock,
		byID: make(map[string]*entry), inFlight: make(map[string]*time.Time), wake: make(chan struct{}, 1),
	}
}

// Schedule queues the delivery id, due at at. It implements deliver.Scheduler, and never fails.
func (q *Queue) Schedule(_ context.Context, id string, at time.Time) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if again, ok := q.inFlight[id]; ok {
		if again == nil || at.Before(*again) {
			q.inFlight[id] = &at
		}
		return nil
	}
	if e, ok := q.byID[id]; ok {
		if at.Before(e.at) {
			e.at = at
			heap.Fix(&q.pending, e.index)
			q.signal()
		}
		return nil
	}
	e := &entry{id: id, at: at}
	q.byID[id] = e
	heap.Push(&q.pending, e)
	q.signal()
	return nil
}

// Done says the attempt at id is over, whatever came of it, and frees its slot.
func (q *Queue) Done(id string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	again, ok := q.inFlight[id]
	if !ok {
		return
	}
	delete(q.inFlight, id)
	if again != nil {
		e := &entry{id: id, at: *again}
		q.byID[id] = e
		heap.Push(&q.pending, e)
	}
	q.signal()
}

// Len returns how many deliveries wait and how many are in flight.
func (q *Queue) Len() (pending, inFlight int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.pending), len(q.inFlight)
}

func (q *Queue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// Run hands due deliveries to send until ctx ends, then returns nil; an error from send ends it
// with that error. A delivery handed to send is in flight until Done.
func (q *Queue) Run(ctx context.Context, send func(id string) error) error {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		id, wait := q.next()
		if id != "" {
			if err := send(id); err != nil {
				q.Done(id)
				return err
			}
			continue
		}
		if wait > 0 {
			timer.Reset(wait)
		}
		var tick <-chan time.Time
		if wait > 0 {
			tick = timer.C
		}
		select {
		case <-ctx.Done():
			return nil
		case <-q.wake:
		case <-tick:
		}
	}
}

// next pops the first delivery if it is due and a slot is free; otherwise it returns how long until
// the first is due (0: wait for a signal).
func (q *Queue) next() (id string, wait time.Duration) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.pending) == 0 || len(q.inFlight) >= q.limit {
		return "", 0
	}
	first := q.pending[0]
	if wait := first.at.Sub(q.clock()); wait > 0 {
		return "", wait
	}
	heap.Pop(&q.pending)
	delete(q.byID, first.id)
	q.inFlight[first.id] = nil
	return first.id, 0
}

// dueHeap orders entries by due time.
type dueHeap []*entry

func (h dueHeap) Len() int           { return len(h) }
func (h dueHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h dueHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *dueHeap) Push(x any) {
	e := x.(*entry)
	e.index = len(*h)
	*h = append(*h, e)
}
func (h *dueHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return e
}
