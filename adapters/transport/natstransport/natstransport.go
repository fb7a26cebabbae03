// Package natstransport is the cluster profile's delivery transport: a Watermill Publisher and
// Subscriber on a NATS JetStream work-queue stream, following the rules of package transport, so that
// several hookd nodes share the deliveries and a delivery's timer outlives the node that set it.
//
// A topic is one stream (its name with dots made underscores) with two subjects per key:
//
//	<topic>.sched.<key>  a timer: a message with a Nats-Schedule "@at <due>" header, held by the
//	                     stream (NATS 2.12+ message scheduling), which at the due time the stream's
//	                     leader publishes to <topic>.ready.<key> and removes
//	<topic>.ready.<key>  a message due now, for the one durable work-queue consumer of the topic
//
// The stream keeps at most one message per subject (a schedule rolls up its subject anyway), so
// publishing a key again replaces its waiting timer or ready message: a delivery never has two timers.
// A message due now is published straight to the ready subject, with the headers that purge the
// key's timer, so it replaces a waiting timer too. Timers live in the stream's files, replicated
// like every message: they survive the loss of any node, hookd's or NATS's short of a majority.
//
// The consumer acks explicitly; a message is acked (and the ack confirmed) only when the handler acks
// it. While a handler works, the subscriber tells the server every half ack wait that it is in
// progress, so the ack wait only detects dead nodes: a node that dies leaves its unacked messages to
// the others after AckWait. Messages are never terminated or dropped after some number of deliveries
// (MaxDeliver -1); hookd's retry policy bounds attempts, and the transport must not lose a delivery.
//
// The subscriber is written on nats.go's jetstream package rather than watermill-nats's jetstream
// Subscriber, which hands out one message at a time per subscription (its callback waits for the
// ack), buffers up to 500 prefetched messages whose ack wait runs while they wait, drops rather than
// naks messages on close (leaving them to the ack wait), takes a nack delay from the delivery count
// only, and drains the connection it was given on Close. Messages still cross in watermill-nats's
// format (its marshaler and unmarshaler: the UUID and metadata as headers).
package natstransport

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	wmjetstream "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/jetstream"
	wmnats "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/nats"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookd/hookd/adapters/transport"
	"github.com/hookd/hookd/internal/jsplacement"
)

// Defaults of Config.
const (
	DefaultAckWait      = 30 * time.Second
	DefaultMaxInFlight  = 64
	DefaultCloseTimeout = 10 * time.Second
	// fetchWait bounds one pull request; it is short so that a closing subscription stops pulling
	// soon without cancelling a request the server may still be answering.
	fetchWait = time.Second
	// retryWait spaces pulls that failed (while the stream elects a leader, say).
	retryWait = 100 * time.Millisecond
	// lookupWait bounds the lookup that tells a stream (or consumer) that is gone from one electing
	// its leader, after a publish or a pull found nobody to answer. The servers answer at once that a
	// stream is not found; while it has no leader nobody answers, and unbounded the lookup waited
	// nats.go's API timeout (5 s). Only a stream found gone is forgotten: a forgotten stream is
	// looked up again by the next publish, which then waited those 5 s too.
	lookupWait = time.Second
)

// Headers of NATS message scheduling (nats-server 2.12 and later).
const (
	hdrSchedule       = "Nats-Schedule"
	hdrScheduleTarget = "Nats-Schedule-Target"
	hdrScheduler      = "Nats-Scheduler"
	hdrScheduleNext   = "Nats-Schedule-Next"
	schedulePurge     = "purge"
)

// ErrClosed is returned by Publish and Subscribe after Close.
var ErrClosed = errors.New("natstransport: closed")

// Config says how to use JetStream. Conn is required; the rest is optional.
type Config struct {
	// Conn is the connection to use; the transport never closes it.
	Conn *nats.Conn
	// Replicas is how many servers keep each stream a topic creates (0: 3 when the connected server
	// is in a cluster, else 1). An existing stream is used as it is.
	Replicas int
	// AckWait is how long a message handed to a node that stopped answering waits before the server
	// hands it to another (DefaultAckWait).
	AckWait time.Duration
	// MaxInFlight bounds the unacked messages one subscription holds (DefaultMaxInFlight).
	MaxInFlight int
	// NackDelay is how long a nacked message waits before the server hands it out again (0: at once).
	NackDelay time.Duration
	// CloseTimeout bounds how long a closing subscription waits for its handlers to ack; what they
	// have not acked by then is nacked, to be handed out again at once (DefaultCloseTimeout).
	CloseTimeout time.Duration
	// Logger is optional.
	Logger *slog.Logger
}

// PubSub is the JetStream transport; it is safe for concurrent use.
type PubSub struct {
	cfg Config
	js  jetstream.JetStream

	mu      sync.Mutex
	streams map[string]bool // topics whose stream is known to exist
	closed  bool
	cancel  map[*subscription]context.CancelFunc // of the subscriptions running
	subs    sync.WaitGroup
}

var (
	_ message.Publisher  = (*PubSub)(nil)
	_ message.Subscriber = (*PubSub)(nil)
)

// New returns a PubSub on cfg.Conn.
func New(cfg Config) (*PubSub, error) {
	if cfg.Conn == nil {
		return nil, errors.New("natstransport: Conn is required")
	}
	if cfg.Replicas < 0 {
		return nil, errors.New("natstransport: Replicas must not be negative")
	}
	if cfg.AckWait <= 0 {
		cfg.AckWait = DefaultAckWait
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = DefaultMaxInFlight
	}
	if cfg.CloseTimeout <= 0 {
		cfg.CloseTimeout = DefaultCloseTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	js, err := jetstream.New(cfg.Conn)
	if err != nil {
		return nil, fmt.Errorf("natstransport: %w", err)
	}
	return &PubSub{cfg: cfg, js: js, streams: make(map[string]bool), cancel: make(map[*subscription]context.CancelFunc)}, nil
}

// names are the JetStream names of a topic.
type names struct {
	topic, stream, consumer, ready, sched string
}

func namesOf(topic string) (names, error) {
	if topic == "" || strings.ContainsAny(topic, " \t\r\n*>/\\") || strings.HasPrefix(topic, ".") ||
		strings.HasSuffix(topic, ".") || strings.Contains(topic, "..") {
		return names{}, fmt.Errorf("natstransport: topic %q is not a NATS subject of plain tokens", topic)
	}
	stream := strings.ReplaceAll(topic, ".", "_")
	return names{topic: topic, stream: stream, consumer: stream + "_work", ready: topic + ".ready.", sched: topic + ".sched."}, nil
}

// token makes a key a subject token: as it is when it is plain, else "~" and its base64url, which a
// plain key never starts with.
func token(key string) string {
	plain := key != ""
	for _, c := range key {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			plain = false
			break
		}
	}
	if plain {
		return key
	}
	return "~" + base64.RawURLEncoding.EncodeToString([]byte(key))
}

// Publish stores each message in the topic's stream, due as its metadata says, replacing a waiting
// message of the same UUID; it returns once the stream has stored them. The publish is bounded by the
// message's context (Scheduler sets it) and by nats.go's default timeout.
func (p *PubSub) Publish(topic string, msgs ...*message.Message) error {
	n, err := namesOf(topic)
	if err != nil {
		return err
	}
	for _, msg := range msgs {
		if err := p.publish(n, msg); err != nil {
			return err
		}
	}
	return nil
}

func (p *PubSub) publish(n names, msg *message.Message) error {
	due, err := transport.DueAt(msg)
	if err != nil {
		return err
	}
	ctx := msg.Context()
	if err := p.ensure(ctx, n); err != nil {
		return err
	}
	tok := token(msg.UUID)
	nm, err := (&wmnats.NATSMarshaler{}).Marshal(n.ready+tok, msg)
	if err != nil {
		return fmt.Errorf("natstransport: %w", err)
	}
	if time.Until(due) > 0 {
		nm.Subject = n.sched + tok
		nm.Header.Set(hdrSchedule, "@at "+due.UTC().Format(time.RFC3339Nano))
		nm.Header.Set(hdrScheduleTarget, n.ready+tok)
	} else {
		// Due now: cancel the key's timer, if any, in the same write.
		nm.Header.Set(hdrScheduler, n.sched+tok)
		nm.Header.Set(hdrScheduleNext, schedulePurge)
	}
	_, err = p.js.PublishMsg(ctx, nm)
	if (errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders)) && p.gone(ctx, n, false) {
		// The stream is gone (deleted, or NATS restarted empty): make it again, and publish once more.
		// One electing its leader is left to the caller's next try.
		p.forget(n)
		if err = p.ensure(ctx, n); err == nil {
			_, err = p.js.PublishMsg(ctx, nm)
		}
	}
	if err != nil {
		return fmt.Errorf("natstransport: publishing %s: %w", msg.UUID, err)
	}
	return nil
}

// gone reports whether the servers say the topic's stream (or, with consumer, its consumer or
// stream) does not exist. Nobody answering within lookupWait is a stream electing its leader, not
// gone.
func (p *PubSub) gone(ctx context.Context, n names, consumer bool) bool {
	ctx, cancel := context.WithTimeout(ctx, lookupWait)
	defer cancel()
	var err error
	if consumer {
		_, err = p.js.Consumer(ctx, n.stream, n.consumer)
	} else {
		_, err = p.js.Stream(ctx, n.stream)
	}
	return errors.Is(err, jetstream.ErrStreamNotFound) || errors.Is(err, jetstream.ErrConsumerNotFound)
}

// ensure makes the topic's stream unless it is known to exist.
func (p *PubSub) ensure(ctx context.Context, n names) error {
	p.mu.Lock()
	closed, known := p.closed, p.streams[n.topic]
	p.mu.Unlock()
	if closed {
		return ErrClosed
	}
	if known {
		return nil
	}
	if err := p.makeStream(ctx, n); err != nil {
		return err
	}
	p.mu.Lock()
	p.streams[n.topic] = true
	p.mu.Unlock()
	return nil
}

func (p *PubSub) forget(n names) {
	p.mu.Lock()
	delete(p.streams, n.topic)
	p.mu.Unlock()
}

func (p *PubSub) makeStream(ctx context.Context, n names) error {
	stream, err := p.js.Stream(ctx, n.stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		stream, err = p.createStream(ctx, n)
	}
	if err != nil {
		return fmt.Errorf("natstransport: stream %s: %w", n.stream, err)
	}
	// A server older than 2.12 keeps the stream without message scheduling, and its timers would
	// never fire.
	if !stream.CachedInfo().Config.AllowMsgSchedules {
		return fmt.Errorf("natstransport: stream %s does not allow message schedules (nats-server 2.12 or later is needed)", n.stream)
	}
	return nil
}

func (p *PubSub) createStream(ctx context.Context, n names) (jetstream.Stream, error) {
	replicas := p.cfg.Replicas
	if replicas == 0 {
		replicas = 1
		if p.cfg.Conn.ConnectedClusterName() != "" {
			replicas = 3
		}
	}
	// A cluster still forming refuses the placement for a moment: that is waited out.
	var stream jetstream.Stream
	err := jsplacement.Retry(ctx, func() error {
		var err error
		stream, err = p.js.CreateStream(ctx, jetstream.StreamConfig{
			Name:      n.stream,
			Subjects:  []string{n.ready + "*", n.sched + "*"},
			Retention: jetstream.WorkQueuePolicy,
			Storage:   jetstream.FileStorage,
			Replicas:  replicas,
			// One message per key and subject: publishing a key again replaces what waits.
			MaxMsgsPerSubject: 1,
			Discard:           jetstream.DiscardOld,
			AllowMsgSchedules: true,
			AllowRollup:       true, // message scheduling requires it
		})
		return err
	})
	if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		return p.js.Stream(ctx, n.stream) // another node made it first
	}
	if err != nil {
		return nil, fmt.Errorf("creating it with %d replicas: %w", replicas, err)
	}
	return stream, nil
}

func (p *PubSub) consumer(ctx context.Context, n names) (jetstream.Consumer, error) {
	c, err := p.js.CreateOrUpdateConsumer(ctx, n.stream, jetstream.ConsumerConfig{
		Durable:       n.consumer,
		FilterSubject: n.ready + "*",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       p.cfg.AckWait,
		MaxDeliver:    -1,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return nil, fmt.Errorf("natstransport: consumer %s: %w", n.consumer, err)
	}
	return c, nil
}

// Subscribe returns the topic's messages as they fall due, at most MaxInFlight unacked at a time;
// every subscription of a topic, on any node, shares its one work queue. It fails only on a topic
// that cannot be a subject: the stream and consumer are made (or found) by the subscription, which
// keeps trying while JetStream is unreachable or the stream has no leader. The channel is closed when
// ctx ends or the PubSub is closed, after the subscription's handlers have acked or CloseTimeout has
// passed. Each message's context derives from ctx and ends once the message is acked or nacked.
func (p *PubSub) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	n, err := namesOf(topic)
	if err != nil {
		return nil, err
	}
	subCtx, cancel := context.WithCancel(ctx)
	s := &subscription{
		p: p, n: n, msgCtx: ctx, closing: subCtx.Done(), abandon: make(chan struct{}),
		out: make(chan *message.Message), slots: make(chan struct{}, p.cfg.MaxInFlight),
		log: p.cfg.Logger.With("topic", topic),
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

// Close ends every subscription (see Subscribe) and returns once they have stopped. It leaves the
// connection open.
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

// Backlog returns how many messages of topic are due and were never handed to any node: the pending
// count of the topic's work-queue consumer, the same on every node. Timers not yet fired do not
// count, nor do messages in flight or handed back (nacked, or left by a node that died) and waiting
// to be handed out again. A topic whose stream is not made yet has none; its consumer is made here
// when no subscription has made it yet, as a subscription would.
func (p *PubSub) Backlog(ctx context.Context, topic string) (int, error) {
	n, err := namesOf(topic)
	if err != nil {
		return 0, err
	}
	c, err := p.js.Consumer(ctx, n.stream, n.consumer)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		return 0, nil
	case errors.Is(err, jetstream.ErrConsumerNotFound):
		c, err = p.consumer(ctx, n)
	}
	if err != nil {
		return 0, fmt.Errorf("natstransport: consumer %s: %w", n.consumer, err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("natstransport: consumer %s: %w", n.consumer, err)
	}
	return int(info.NumPending), nil
}

// MaxHeld bounds the keys Held lists: past it, Held returns ErrTooManyHeld rather than hold them all
// in memory at once (about 100 bytes each while they are listed).
const MaxHeld = 200_000

// ErrTooManyHeld is returned by Held when the topic's stream holds more than MaxHeld keys.
var ErrTooManyHeld = errors.New("natstransport: the stream holds too many keys to list")

// Held returns the keys of the topic's messages that the stream holds: due and waiting, handed to a
// node and not acked yet (in flight, or left by a node that died), nacked, or waiting on a timer. A
// work-queue stream keeps a message until it is acked, and the handler acks only once its work is
// done, so a key held is one that some node will be handed (again), and one not held is one that no
// node will be handed unless it is published. A topic whose stream is not made (or was lost) holds
// none. It lists the stream's subjects, a page of up to 100,000 per request.
func (p *PubSub) Held(ctx context.Context, topic string) (map[string]struct{}, error) {
	n, err := namesOf(topic)
	if err != nil {
		return nil, err
	}
	stream, err := p.js.Stream(ctx, n.stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return map[string]struct{}{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("natstransport: stream %s: %w", n.stream, err)
	}
	if subjects := stream.CachedInfo().State.NumSubjects; subjects > MaxHeld {
		return nil, fmt.Errorf("%w (%d, more than %d)", ErrTooManyHeld, subjects, MaxHeld)
	}
	return p.held(ctx, stream, n, n.topic+".>")
}

// Holds reports whether the topic's stream holds a message of key (as Held says), in one request.
func (p *PubSub) Holds(ctx context.Context, topic, key string) (bool, error) {
	n, err := namesOf(topic)
	if err != nil {
		return false, err
	}
	stream, err := p.js.Stream(ctx, n.stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("natstransport: stream %s: %w", n.stream, err)
	}
	held, err := p.held(ctx, stream, n, n.topic+".*."+token(key))
	return len(held) > 0, err
}

// held returns the keys of the stream's subjects that match filter.
func (p *PubSub) held(ctx context.Context, stream jetstream.Stream, n names, filter string) (map[string]struct{}, error) {
	info, err := stream.Info(ctx, jetstream.WithSubjectFilter(filter))
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return map[string]struct{}{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("natstransport: stream %s: %w", n.stream, err)
	}
	keys := make(map[string]struct{}, len(info.State.Subjects))
	for subject := range info.State.Subjects {
		tok, ok := strings.CutPrefix(subject, n.ready)
		if !ok {
			tok, ok = strings.CutPrefix(subject, n.sched)
		}
		if !ok {
			continue
		}
		key, err := keyOf(tok)
		if err != nil {
			p.cfg.Logger.Warn("a subject of the stream names no key", "subject", subject, "err", err)
			continue
		}
		keys[key] = struct{}{}
	}
	return keys, nil
}

// keyOf is the key a subject token stands for (token's inverse).
func keyOf(tok string) (string, error) {
	encoded, ok := strings.CutPrefix(tok, "~")
	if !ok {
		return tok, nil
	}
	key, err := base64.RawURLEncoding.DecodeString(encoded)
	return string(key), err
}

type subscription struct {
	p        *PubSub
	n        names
	cons     jetstream.Consumer
	msgCtx   context.Context
	closing  <-chan struct{}
	abandon  chan struct{} // closed CloseTimeout after closing: handlers still working are nacked
	out      chan *message.Message
	slots    chan struct{} // one token per message in flight
	watchers sync.WaitGroup
	log      *slog.Logger
}

func (s *subscription) run() {
	defer func() {
		timer := time.AfterFunc(s.p.cfg.CloseTimeout, func() { close(s.abandon) })
		s.watchers.Wait()
		timer.Stop()
		close(s.out)
	}()
	for s.cons == nil {
		if err := s.connect(); err != nil {
			s.log.Warn("finding the stream and its consumer failed; trying again", "err", err)
			select {
			case <-time.After(retryWait):
			case <-s.closing:
				return
			}
		}
	}
	for {
		select {
		case s.slots <- struct{}{}:
		case <-s.closing:
			return
		}
		batch := 1
	more:
		for batch < cap(s.slots) {
			select {
			case s.slots <- struct{}{}:
				batch++
			default:
				break more
			}
		}
		got := s.fetch(batch)
		for range batch - got {
			<-s.slots
		}
		select {
		case <-s.closing:
			return
		default:
		}
	}
}

// fetch pulls up to batch messages and hands them out; it returns how many it handed out.
func (s *subscription) fetch(batch int) int {
	msgs, err := s.cons.Fetch(batch, jetstream.FetchMaxWait(fetchWait))
	if err != nil {
		s.pause(err)
		return 0
	}
	got := 0
	for jm := range msgs.Messages() {
		msg, err := s.unmarshal(jm)
		if err != nil {
			// Not a message of this transport's: keep it from coming back.
			s.log.Error("dropping a message that is not a watermill message", "subject", jm.Subject(), "err", err)
			_ = jm.Term()
			continue
		}
		select {
		case <-s.closing:
			_ = jm.Nak()
			continue
		default:
		}
		ctx, cancel := context.WithCancel(s.msgCtx)
		msg.SetContext(ctx)
		select {
		case s.out <- msg:
		case <-s.closing:
			cancel()
			_ = jm.Nak()
			continue
		}
		got++
		s.watchers.Add(1)
		go s.watch(jm, msg, cancel)
	}
	if err := msgs.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
		s.pause(err)
	}
	return got
}

// pause waits a little after a failed pull; when the consumer or its stream is gone, it makes them
// again.
func (s *subscription) pause(err error) {
	s.log.Debug("pulling messages failed", "err", err)
	select {
	case <-time.After(retryWait):
	case <-s.closing:
		return
	}
	if errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrConsumerDeleted) ||
		errors.Is(err, jetstream.ErrStreamNotFound) || errors.Is(err, nats.ErrNoResponders) && s.p.gone(s.msgCtx, s.n, true) {
		s.p.forget(s.n)
		if err := s.connect(); err != nil {
			s.log.Debug("making the stream again failed", "err", err)
		}
	}
}

// connect makes (or finds) the topic's stream and consumer.
func (s *subscription) connect() error {
	ctx, cancel := context.WithTimeout(s.msgCtx, 5*time.Second)
	defer cancel()
	if err := s.p.ensure(ctx, s.n); err != nil {
		return err
	}
	c, err := s.p.consumer(ctx, s.n)
	if err != nil {
		return err
	}
	s.cons = c
	return nil
}

func (s *subscription) unmarshal(jm jetstream.Msg) (*message.Message, error) {
	msg, err := wmjetstream.DefaultUnmarshaler{}.Unmarshal(jm)
	if err != nil {
		return nil, err
	}
	for k := range msg.Metadata {
		if strings.HasPrefix(k, "Nats-") {
			delete(msg.Metadata, k)
		}
	}
	return msg, nil
}

// watch passes msg's ack or nack on to the server, telling it every half ack wait meanwhile that
// the message is in progress; when done, it cancels the message's context and frees its slot.
func (s *subscription) watch(jm jetstream.Msg, msg *message.Message, cancel context.CancelFunc) {
	defer func() {
		cancel()
		<-s.slots
		s.watchers.Done()
	}()
	progress := time.NewTicker(s.p.cfg.AckWait / 2)
	defer progress.Stop()
	for {
		select {
		case <-msg.Acked():
			ctx, cancel := context.WithTimeout(context.Background(), s.p.cfg.AckWait)
			defer cancel()
			if err := jm.DoubleAck(ctx); err != nil {
				// The server hands the message out again after the ack wait; the handler's
				// work is in the log, and the next attempt finds it done.
				s.log.Warn("acking a message failed", "key", msg.UUID, "err", err)
			}
			return
		case <-msg.Nacked():
			var err error
			if d := s.p.cfg.NackDelay; d > 0 {
				err = jm.NakWithDelay(d)
			} else {
				err = jm.Nak()
			}
			if err != nil {
				s.log.Warn("nacking a message failed", "key", msg.UUID, "err", err)
			}
			return
		case <-s.abandon:
			_ = jm.Nak()
			return
		case <-progress.C:
			_ = jm.InProgress()
		}
	}
}
