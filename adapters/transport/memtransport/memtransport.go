// Package memtransport is the embedded profile's delivery transport: a Watermill Publisher and
// Subscriber in the process's memory, with due times, following the rules of package transport.
//
// Each topic keeps its waiting messages in a heap ordered by due time (ties in publishing order), so a
// waiting message costs a heap entry, not a timer or a goroutine; each subscription sleeps until the
// first is due. Memory is bounded: a topic holds at most MaxPending keys, waiting or in flight, and
// publishing a new key beyond that fails with ErrFull (publishing a key it holds always succeeds).
// Nothing survives the process: hookd's log is the truth, and a start schedules again what it says is
// due.
package memtransport

import (
	"container/heap"
	"context"
	"errors"
	"maps"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/hookd/hookd/adapters/transport"
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
	return &PubSub{cfg: cfg, topics: make(map[string]*topic), cancel: make(map[*subscription]context.CancelFunc)}
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
		if err := t.put(msg.UUID, msg.Payload, maps.Clone(msg.Metadata), due, p.cfg.MaxPending); err != nil {
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
	return len(t.waiting), len(t.byKey) - len(t.waiting)
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
		if i >= len(t.waiting) || t.waiting[i].due.After(now) {
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
		t = &topic{byKey: make(map[string]*entry), subs: make(map[*subscription]struct{})}
		p.topics[name] = t
	}
	return t, nil
}

// topic holds one topic's messages: waiting ones in a heap by due time, and every one by key.
type topic struct {
	mu      sync.Mutex
	waiting dueHeap
	byKey   map[string]*entry
	seq     uint64
	subs    map[*subscription]struct{}
}

// entry is a key's message, waiting (index >= 0) or in flight (index -1).
type entry struct {
	key      string
	payload  []byte
	metadata message.Metadata
	due      time.Time
	seq      uint64
	index    int
	// again is a message published for the key while it was in flight, to wait once that one is done.
	again *entry
}

func (t *topic) put(key string, payload []byte, metadata message.Metadata, due time.Time, maxPending int) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.seq++
	e, ok := t.byKey[key]
	switch {
	case !ok:
		if len(t.byKey) >= maxPending {
			return ErrFull
		}
		e = &entry{key: key, payload: payload, metadata: metadata, due: due, seq: t.seq}
		t.byKey[key] = e
		heap.Push(&t.waiting, e)
	case e.index < 0:
		e.again = &entry{key: key, payload: payload, metadata: metadata, due: due}
		return nil
	default:
		e.payload, e.metadata, e.due, e.seq = payload, metadata, due, t.seq
		heap.Fix(&t.waiting, e.index)
	}
	t.signal()
	return nil
}

// next takes the first waiting message if it is due; otherwise it says how long until it is (0: none
// waits).
func (t *topic) next(now time.Time) (*entry, time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.waiting) == 0 {
		return nil, 0
	}
	first := t.waiting[0]
	if wait := first.due.Sub(now); wait > 0 {
		return nil, wait
	}
	heap.Pop(&t.waiting)
	return first, 0
}

// done ends e's flight: acked, it goes (unless published again meanwhile); not acked, it waits again,
// due at redueAt.
func (t *topic) done(e *entry, acked bool, redueAt time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.seq++
	switch {
	case e.again != nil:
		e.payload, e.metadata, e.due = e.again.payload, e.again.metadata, e.again.due
		e.again = nil
	case acked:
		delete(t.byKey, e.key)
		return
	default:
		e.due = redueAt
	}
	e.seq = t.seq
	heap.Push(&t.waiting, e)
	t.signal()
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
		msg := message.NewMessage(e.key, e.payload)
		msg.Metadata = maps.Clone(e.metadata)
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

// dueHeap orders entries by due time, then by when they were published.
type dueHeap []*entry

func (h dueHeap) Len() int { return len(h) }
func (h dueHeap) Less(i, j int) bool {
	if h[i].due.Equal(h[j].due) {
		return h[i].seq < h[j].seq
	}
	return h[i].due.Before(h[j].due)
}
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
	e.index = -1
	*h = old[:len(old)-1]
	return e
}
