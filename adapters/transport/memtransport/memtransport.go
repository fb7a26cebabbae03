// Package memtransport is the embedded profile's delivery transport: a Watermill Publisher and
// Subscriber in the process's memory, with due times, following the rules of package transport.
//
// Each topic keeps its waiting messages in a heap ordered by due time (ties in publishing order), so a
// waiting message costs a heap entry, not a timer or a goroutine; each subscription sleeps until the
// first is due. Memory is bounded: a topic holds at most MaxPending keys, waiting or in flight, and
// publishing a new key beyond that fails with ErrFull (publishing a key it holds always succeeds).
//
// A topic whose messages are also kept elsewhere, as hookd's deliveries are in its log, can instead
// be a Window on that backlog: full, it keeps the messages due first and leaves the others
// to the backlog, from which it takes them back, in due order, as it drains. Nothing survives the
// process: hookd's log is the truth, and a start takes back from it what it says is due.
package memtransport

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/hookd/hookd/adapters/transport"
)

// Backfill's pace: the entries a listing of the backlog asks for at once, and the wait before a
// listing that failed is tried again.
const (
	backfillPage  = 1000
	backfillRetry = time.Second
)

// Defaults of Config.
const (
	DefaultMaxPending  = 1 << 20
	DefaultMaxInFlight = 64
)

// Errors of Publish and Subscribe.
var (
	ErrClosed = errors.New("memtransport: closed")
	ErrFull   = errors.New("memtransport: the topic holds its maximum of messages")
)

// Config tunes a PubSub; every field is optional.
type Config struct {
	// MaxPending bounds the keys a topic holds, waiting or in flight (DefaultMaxPending).
	MaxPending int
	// MaxInFlight bounds the unacked messages one subscription holds (DefaultMaxInFlight).
	MaxInFlight int
	// NackDelay is how long a nacked message waits before it is handed out again (0: at once).
	NackDelay time.Duration
}

// PubSub is the in-memory transport. Subscriptions of one topic share its messages, each message to
// one of them. A message published again while in flight is held until the one in flight is acked or
// nacked, so one key is never in flight twice. Closing a subscription (Close, or the end of the
// Subscribe context) hands its unacked messages out again at once; an ack that comes after that is
// ignored.
type PubSub struct {
	cfg Config

	mu     sync.RWMutex
	topics map[string]*topic
	closed bool
	cancel map[*subscription]context.CancelFunc // of the subscriptions running
	subs   sync.WaitGroup
	// closing is closed by Close, which ends Backfill.
	closing chan struct{}
}

var (
	_ message.Publisher  = (*PubSub)(nil)
	_ message.Subscriber = (*PubSub)(nil)
)

// New returns an empty PubSub.
func New(cfg Config) *PubSub {
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = DefaultMaxPending
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = DefaultMaxInFlight
	}
	return &PubSub{cfg: cfg, topics: make(map[string]*topic), cancel: make(map[*subscription]context.CancelFunc),
		closing: make(chan struct{})}
}

// Publish holds each message until it is due, replacing a waiting message of the same UUID. It is safe
// for concurrent use. Of several messages, those before a failing one are published.
func (p *PubSub) Publish(name string, msgs ...*message.Message) error {
	t, err := p.topic(name)
	if err != nil {
		return err
	}
	for _, msg := range msgs {
		due, err := transport.DueAt(msg)
		if err != nil {
			return err
		}
		if err := t.put(newEntry(msg.UUID, msg.Payload, msg.Metadata, due)); err != nil {
			return err
		}
	}
	return nil
}

// Subscribe returns the messages of topic name as they fall due, at most MaxInFlight unacked at a
// time. The channel is closed when ctx ends or the PubSub is closed. Each message's context derives
// from ctx and ends once the message is acked or nacked.
func (p *PubSub) Subscribe(ctx context.Context, name string) (<-chan *message.Message, error) {
	t, err := p.topic(name)
	if err != nil {
		return nil, err
	}
	subCtx, cancel := context.WithCancel(ctx)
	s := &subscription{
		t: t, msgCtx: ctx, closing: subCtx.Done(), nackDelay: p.cfg.NackDelay,
		out: make(chan *message.Message), slots: make(chan struct{}, p.cfg.MaxInFlight), wake: make(chan struct{}, 1),
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		cancel()
		return nil, ErrClosed
	}
	p.cancel[s] = cancel
	p.subs.Add(1)
	p.mu.Unlock()
	t.addSub(s)
	go func() {
		defer p.subs.Done()
		s.run()
		cancel()
		p.mu.Lock()
		delete(p.cancel, s)
		p.mu.Unlock()
	}()
	return s.out, nil
}

// Close ends every subscription and drops what the topics hold; Publish and Subscribe fail after it.
// It returns once every subscription has stopped.
func (p *PubSub) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	close(p.closing)
	for _, cancel := range p.cancel {
		cancel()
	}
	p.mu.Unlock()
	p.subs.Wait()
	return nil
}

// Len returns how many messages topic name holds waiting and in flight.
func (p *PubSub) Len(name string) (waiting, inFlight int) {
	t, err := p.topic(name)
	if err != nil {
		return 0, 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.waiting.Len(), len(t.byKey) - t.waiting.Len()
}

// Backlog returns how many messages of topic name are due and wait to be handed out: those whose due
// time has come while every subscription's in-flight slots are taken (or none subscribes). Messages
// in flight and messages due later do not count. The context is not used; it keeps the signature of
// the other transports', whose answer may need I/O.
func (p *PubSub) Backlog(_ context.Context, name string) (int, error) {
	t, err := p.topic(name)
	if err != nil {
		return 0, err
	}
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	// The heap puts every entry after its parent in due order, so the due entries are a subtree at
	// the root: walking it costs what it counts, not the whole heap.
	n, stack := 0, []int{0}
	for len(stack) > 0 {
		i := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if i >= t.waiting.Len() || t.waiting.entries[i].due.After(now) {
			continue
		}
		n++
		stack = append(stack, 2*i+1, 2*i+2)
	}
	return n, nil
}

func (p *PubSub) topic(name string) (*topic, error) {
	p.mu.RLock()
	t, ok := p.topics[name]
	closed := p.closed
	p.mu.RUnlock()
	if closed {
		return nil, ErrClosed
	}
	if ok {
		return t, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, ErrClosed
	}
	if t, ok = p.topics[name]; !ok {
		t = &topic{byKey: make(map[string]*entry), subs: make(map[*subscription]struct{}), room: make(chan struct{}, 1),
			late: entryHeap{lastFirst: true}, maxPending: p.cfg.MaxPending}
		p.topics[name] = t
	}
	return t, nil
}

// Backlog is where a windowed topic's messages are kept besides it: for hookd, the deliveries its
// log says are due. A message the topic leaves to the backlog must be in it, due no later than it
// was published for.
type Backlog interface {
	// Due returns up to limit entries, the one due first first, after the entry after (nil: from
	// the first). A listing from the first must show every message published before it began.
	Due(ctx context.Context, after *Due, limit int) ([]Due, error)
}

// Due is a key of a Backlog and when it is due; Cursor is the backlog's own position of it.
type Due struct {
	Key    string
	At     time.Time
	Cursor any
}

// Window makes topic name a window on backlog, for good: a publish of a new key to the full topic
// no longer fails, but leaves the message due last, the new one or a waiting one, to the backlog;
// so does any message that would wait behind one left there. Run the Window's Backfill to take them
// back.
func (p *PubSub) Window(name string, backlog Backlog) (*Window, error) {
	t, err := p.topic(name)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.windowed {
		return nil, fmt.Errorf("memtransport: topic %s is a window already", name)
	}
	t.windowed = true
	return &Window{t: t, backlog: backlog, closing: p.closing}, nil
}

// Window is a topic that leaves to its backlog what it has no room for.
type Window struct {
	t       *topic
	backlog Backlog
	closing <-chan struct{}
}

// Backfill takes messages back from the backlog until ctx ends or the PubSub is closed, and
// returns nil then. It starts by taking, in due order, what the topic has room for: the recovery at
// start. Then, whenever something was left to the backlog and the topic has drained to half its
// room (or has room and nothing waiting), it takes back, in due order, the keys the topic does not
// hold, until the topic is full again with the messages due first. Each taken back is the message
// transport.NewMessage makes: payload the key, and the backlog's due time.
//
// A listing of the backlog that fails is reported to onError (optional) and tried again a second
// later; meanwhile the topic keeps what it holds.
func (w *Window) Backfill(ctx context.Context, onError func(error)) error {
	retry := time.NewTimer(0)
	defer retry.Stop()
	for {
		select {
		case <-retry.C:
		case <-w.t.room:
		case <-ctx.Done():
			return nil
		case <-w.closing:
			return nil
		}
		err := w.t.backfill(ctx, w.backlog)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			if onError != nil {
				onError(err)
			}
			retry.Reset(backfillRetry)
		}
	}
}

// backfill is one pass of Backfill: it takes back from the backlog, in due order, what the topic
// has room for, or what is due before a message it holds waiting.
func (t *topic) backfill(ctx context.Context, backlog Backlog) error {
	t.mu.Lock()
	wasSpilled, floor := t.spilled, t.floor
	// From here on, a message left to the backlog is one this pass may not list: it spills again.
	t.spilled = false
	t.mu.Unlock()
	var after *Due
	for {
		page, err := backlog.Due(ctx, after, backfillPage)
		if err != nil {
			if wasSpilled {
				t.mu.Lock()
				t.spill(floor)
				t.mu.Unlock()
			}
			return err
		}
		for _, d := range page {
			if !t.offer(d) {
				return nil
			}
		}
		if len(page) < backfillPage {
			return nil
		}
		after = &page[len(page)-1]
	}
}

// offer takes d back from the backlog unless the topic holds its key; it reports false when d is
// left there, the topic holding what is due before it.
func (t *topic) offer(d Due) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.byKey[d.Key]; ok {
		return true
	}
	t.seq++
	// What transport.NewMessage would make: payload the key, no metadata but the due time.
	e := &entry{key: d.Key, held: held{keyPayload: true, due: d.At}, seq: t.seq}
	if !t.admit(e) {
		return false
	}
	t.signal()
	return true
}

// topic holds one topic's messages: waiting ones in a heap by due time (and in one by lateness, to
// find the one due last), and every one by key.
type topic struct {
	mu      sync.Mutex
	waiting entryHeap
	late    entryHeap
	byKey   map[string]*entry
	seq     uint64
	subs    map[*subscription]struct{}
	// maxPending is Config.MaxPending.
	maxPending int

	// windowed says that the topic is a Window on a backlog.
	windowed bool
	// spilled says that a message was left to the backlog since the last backfill began; floor is
	// the earliest due time of those.
	spilled bool
	floor   time.Time
	// room wakes Backfill: something was left to the backlog and the topic has room again.
	room chan struct{}
}

// entry is a key's message, waiting (index >= 0) or in flight (index -1).
type entry struct {
	key string
	held
	seq   uint64
	index int
	// lateIndex is the entry's place in the topic's late heap while it waits.
	lateIndex int
	// again is a message published for the key while it was in flight, to wait once that one is done.
	again *held
}

// held is what an entry keeps of its message. A full window holds 100,000 entries by hookd's
// default, so it keeps only what it cannot rebuild: a payload that is the key's bytes (hookd's are)
// is not copied (keyPayload), and the metadata leaves out the due time, rebuilt from due. That takes
// an entry from about 580 bytes to about 170, besides the key.
type held struct {
	keyPayload bool
	payload    []byte
	// metadata is the message's metadata but its due time; nil when it had no other.
	metadata message.Metadata
	due      time.Time
}

// newEntry returns the entry of a message published for key, with its own copy of the metadata
// (the caller may reuse the message's map).
func newEntry(key string, payload []byte, metadata message.Metadata, due time.Time) *entry {
	e := &entry{key: key, held: held{due: due}}
	if len(payload) > 0 && string(payload) == key {
		e.keyPayload = true
	} else {
		e.payload = payload
	}
	for k, v := range metadata {
		if k == transport.DueAtKey {
			continue
		}
		if e.metadata == nil {
			e.metadata = make(message.Metadata, len(metadata))
		}
		e.metadata[k] = v
	}
	return e
}

// message returns e's message as it was published, with its due time.
func (e *entry) message() *message.Message {
	payload := e.payload
	if e.keyPayload {
		payload = []byte(e.key)
	}
	msg := message.NewMessage(e.key, payload)
	msg.Metadata = make(message.Metadata, len(e.metadata)+1)
	maps.Copy(msg.Metadata, e.metadata)
	if !e.due.IsZero() {
		transport.SetDueAt(msg, e.due)
	}
	return msg
}

// put holds n, a new message for its key.
func (t *topic) put(n *entry) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.seq++
	e, ok := t.byKey[n.key]
	switch {
	case !ok:
		if len(t.byKey) >= t.maxPending && !t.windowed {
			return ErrFull
		}
		n.seq = t.seq
		e = n
		if !t.admit(e) {
			return nil
		}
	case e.index < 0:
		e.again = &n.held
		return nil
	default:
		t.unwait(e)
		delete(t.byKey, e.key)
		e.held, e.seq = n.held, t.seq
		if !t.admit(e) {
			return nil
		}
	}
	t.signal()
	return nil
}

// admit has e, which the topic does not hold, wait, unless it is left to the backlog: because it is
// due no earlier than a message left there, or because the topic is full and e is due no earlier
// than every message waiting; otherwise the message due last makes room for it. It reports whether
// e waits. Without a backlog (not a Window) it only checks the room. The caller holds t.mu.
func (t *topic) admit(e *entry) bool {
	if t.windowed {
		if t.spilled && !e.due.Before(t.floor) {
			t.spill(e.due)
			return false
		}
		if len(t.byKey) >= t.maxPending {
			if t.late.Len() == 0 || !e.due.Before(t.late.entries[0].due) {
				t.spill(e.due)
				return false
			}
			last := t.late.entries[0]
			t.unwait(last)
			delete(t.byKey, last.key)
			t.spill(last.due)
		}
	}
	t.byKey[e.key] = e
	heap.Push(&t.waiting, e)
	heap.Push(&t.late, e)
	return true
}

// spill records that a message due at due was left to the backlog, and wakes Backfill if the topic
// has room. The caller holds t.mu.
func (t *topic) spill(due time.Time) {
	if !t.spilled || due.Before(t.floor) {
		t.floor = due
	}
	t.spilled = true
	t.roomFor()
}

// roomFor wakes Backfill when something was left to the backlog and the topic has drained to half
// its room, or has room and nothing waiting. The caller holds t.mu.
func (t *topic) roomFor() {
	drained := len(t.byKey) <= t.maxPending/2 || (t.waiting.Len() == 0 && len(t.byKey) < t.maxPending)
	if !t.spilled || !drained {
		return
	}
	select {
	case t.room <- struct{}{}:
	default:
	}
}

// unwait takes e, which waits, out of both heaps. The caller holds t.mu.
func (t *topic) unwait(e *entry) {
	heap.Remove(&t.waiting, e.index)
	heap.Remove(&t.late, e.lateIndex)
}

// next takes the first waiting message if it is due; otherwise it says how long until it is (0: none
// waits).
func (t *topic) next(now time.Time) (*entry, time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.waiting.Len() == 0 {
		return nil, 0
	}
	first := t.waiting.entries[0]
	if wait := first.due.Sub(now); wait > 0 {
		return nil, wait
	}
	t.unwait(first)
	return first, 0
}

// done ends e's flight: acked, it goes (unless published again meanwhile); not acked, it waits again,
// due at redueAt, or is left to the backlog as a new publish would be.
func (t *topic) done(e *entry, acked bool, redueAt time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.seq++
	delete(t.byKey, e.key)
	switch {
	case e.again != nil:
		e.held, e.again = *e.again, nil
	case acked:
		t.roomFor()
		return
	default:
		e.due = redueAt
	}
	e.seq = t.seq
	if t.admit(e) {
		t.signal()
	}
	t.roomFor()
}

func (t *topic) addSub(s *subscription) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.subs[s] = struct{}{}
}

func (t *topic) removeSub(s *subscription) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.subs, s)
}

// signal wakes every subscription to look at the heap again; the caller holds t.mu.
func (t *topic) signal() {
	for s := range t.subs {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// subscription hands one Subscribe call its messages.
type subscription struct {
	t         *topic
	msgCtx    context.Context
	closing   <-chan struct{}
	nackDelay time.Duration
	out       chan *message.Message
	slots     chan struct{} // one token per message in flight
	wake      chan struct{}
	watchers  sync.WaitGroup
}

func (s *subscription) run() {
	defer func() {
		s.t.removeSub(s)
		s.watchers.Wait()
		close(s.out)
	}()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		select {
		case s.slots <- struct{}{}:
		case <-s.closing:
			return
		}
		e := s.await(timer)
		if e == nil {
			return
		}
		msg := e.message()
		ctx, cancel := context.WithCancel(s.msgCtx)
		msg.SetContext(ctx)
		select {
		case s.out <- msg:
		case <-s.closing:
			cancel()
			s.t.done(e, false, time.Now())
			return
		}
		s.watchers.Add(1)
		go s.watch(e, msg, cancel)
	}
}

// await returns the next due message, or nil once the subscription closes.
func (s *subscription) await(timer *time.Timer) *entry {
	for {
		e, wait := s.t.next(time.Now())
		if e != nil {
			return e
		}
		var tick <-chan time.Time
		if wait > 0 {
			timer.Reset(wait)
			tick = timer.C
		}
		select {
		case <-s.wake:
		case <-tick:
		case <-s.closing:
			return nil
		}
	}
}

// watch waits for msg's ack or nack, or for the subscription to close; then it cancels the message's
// context and frees its slot.
func (s *subscription) watch(e *entry, msg *message.Message, cancel context.CancelFunc) {
	defer s.watchers.Done()
	defer cancel()
	select {
	case <-msg.Acked():
		s.t.done(e, true, time.Time{})
	case <-msg.Nacked():
		s.t.done(e, false, time.Now().Add(s.nackDelay))
	case <-s.closing:
		s.t.done(e, false, time.Now())
	}
	<-s.slots
}

// entryHeap orders waiting entries by due time, then by when they were published: the first
// first, or with lastFirst the last first (to find what a full window leaves to its backlog). Each
// entry keeps its place in the heap, in index or, with lastFirst, in lateIndex.
type entryHeap struct {
	entries   []*entry
	lastFirst bool
}

// place is the field that holds e's place in h.
func (h *entryHeap) place(e *entry) *int {
	if h.lastFirst {
		return &e.lateIndex
	}
	return &e.index
}

func (h *entryHeap) Len() int { return len(h.entries) }
func (h *entryHeap) Less(i, j int) bool {
	a, b := h.entries[i], h.entries[j]
	if h.lastFirst {
		a, b = b, a
	}
	if a.due.Equal(b.due) {
		return a.seq < b.seq
	}
	return a.due.Before(b.due)
}
func (h *entryHeap) Swap(i, j int) {
	h.entries[i], h.entries[j] = h.entries[j], h.entries[i]
	*h.place(h.entries[i]), *h.place(h.entries[j]) = i, j
}
func (h *entryHeap) Push(x any) {
	e := x.(*entry)
	*h.place(e) = len(h.entries)
	h.entries = append(h.entries, e)
}
func (h *entryHeap) Pop() any {
	old := h.entries
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h.place(e) = -1
	h.entries = old[:len(old)-1]
	return e
}
