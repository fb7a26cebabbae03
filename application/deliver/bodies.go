package deliver

import (
	"container/list"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"golang.org/x/sync/singleflight"

	"github.com/hookd/hookd/domain/eventlog"
	"github.com/hookd/hookd/domain/publication"
)

// Bodies gives the request body of a delivery in body format delivery.BodyBuiltV1, which is built
// from its published event rather than recorded with it.
type Bodies interface {
	// Body returns the body of the deliveries of event eventID named eventName: ErrEventGone when
	// the log no longer holds the event, an error matching ErrUnbuildable when its payload cannot be
	// made into a body (both the same on every try); any other error may pass. The caller must not
	// change the bytes, which other deliveries of the event may be sending.
	Body(ctx context.Context, eventID, eventName string) ([]byte, error)
}

// The errors of Bodies that park a delivery.
var (
	// ErrEventGone: the published event is no longer in the log (delivery.ReasonEventExpired).
	ErrEventGone = errors.New("deliver: the published event is not in the log")
	// ErrUnbuildable: the event's record or payload cannot be made into a body
	// (delivery.ReasonBodyUnbuildable).
	ErrUnbuildable = errors.New("deliver: the body cannot be built")
)

// DefaultBodyCacheBytes is how many bytes of bodies EventBodies keeps by default: at about 1.5 KB a
// body, the last 1,400 events or so, which covers the deliveries due now and, keeping up, their
// first retries. Behind a backlog the dispatcher builds bodies well ahead of their attempts, and a
// larger cache held more of them live without keeping them until then (docs/benchmarks.md, "Batch
// publishing's memory").
const DefaultBodyCacheBytes = 2 << 20

// EventLog reads a stream of the log; a stream that does not exist reads as empty.
type EventLog interface {
	ReadStream(ctx context.Context, stream string, from uint64, limit int) ([]eventlog.RecordedEvent, error)
}

// EventBodiesConfig is what EventBodies needs. Every field is required unless its comment says
// otherwise.
type EventBodiesConfig struct {
	Log EventLog
	// Decode decodes a record of the log (an EventPublished into a publication.Published).
	Decode func(r eventlog.RecordedEvent) (interface{ EventName() string }, error)
	// Build builds the body of format delivery.BodyBuiltV1 from the event's name and payload:
	// webhooksig.Body, and no other function, ever (a new builder is a new format).
	Build func(eventName string, payload json.RawMessage) ([]byte, error)
	// MaxBytes bounds the bytes of the bodies kept (optional: DefaultBodyCacheBytes). A body over
	// an eighth of it is not kept, so that one large event cannot empty the cache.
	MaxBytes int
}

// EventBodies is Bodies from the log: it reads the published event and builds its body, and keeps
// the bodies it built or was given (Keep) in a cache bounded in bytes, least recently used out
// first. The dispatcher gives it each body it builds, so a delivery attempted by the node that
// scheduled it reads nothing; a miss (another node scheduled it, the body was pushed out, or the
// process restarted) reads the event's stream once however many of its deliveries ask at once.
// It is safe for concurrent use.
type EventBodies struct {
	cfg EventBodiesConfig

	mu    sync.Mutex
	cache *bodyCache
	// reads has one read of an event's body in flight at a time, which concurrent asks share; its
	// error goes to them only, never kept.
	reads singleflight.Group
}

// bodyKey names a body: the event and the name its deliveries send it under, which is the event's.
type bodyKey struct{ eventID, eventName string }

// NewEventBodies returns an EventBodies, or reports every missing field.
func NewEventBodies(cfg EventBodiesConfig) (*EventBodies, error) {
	var errs []error
	if cfg.Log == nil {
		errs = append(errs, errors.New("deliver: bodies: Log is required"))
	}
	if cfg.Decode == nil {
		errs = append(errs, errors.New("deliver: bodies: Decode is required"))
	}
	if cfg.Build == nil {
		errs = append(errs, errors.New("deliver: bodies: Build is required"))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultBodyCacheBytes
	}
	return &EventBodies{cfg: cfg, cache: newBodyCache(cfg.MaxBytes)}, nil
}

// Keep keeps the body built for the deliveries of event eventID named eventName, as Body would build
// it. The bytes must not change afterwards.
func (b *EventBodies) Keep(eventID, eventName string, body []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.cache.put(bodyKey{eventID, eventName}, body)
}

// Body implements Bodies. A caller that joins another's read and whose ctx ends first returns
// ctx's error; the read goes on for the others.
func (b *EventBodies) Body(ctx context.Context, eventID, eventName string) ([]byte, error) {
	k := bodyKey{eventID, eventName}
	b.mu.Lock()
	body, ok := b.cache.get(k)
	b.mu.Unlock()
	if ok {
		return body, nil
	}
	read := b.reads.DoChan(eventID+"\x00"+eventName, func() (any, error) {
		body, err := b.read(ctx, eventID, eventName)
		if err == nil {
			b.mu.Lock()
			b.cache.put(k, body)
			b.mu.Unlock()
		}
		return body, err
	})
	select {
	case r := <-read:
		body, _ := r.Val.([]byte)
		return body, r.Err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// read reads the published event and builds its body.
func (b *EventBodies) read(ctx context.Context, eventID, eventName string) ([]byte, error) {
	records, err := b.cfg.Log.ReadStream(ctx, publication.Stream(eventID), 0, 1)
	if err != nil {
		return nil, fmt.Errorf("deliver: reading event %s: %w", eventID, err)
	}
	if len(records) == 0 {
		return nil, ErrEventGone
	}
	// A record that does not decode, or decodes to something else, is the same on every try.
	e, err := b.cfg.Decode(records[0])
	p, ok := e.(publication.Published)
	if err == nil && !ok {
		err = fmt.Errorf("%s@0 decodes to %T", records[0].Stream, e)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: event %s: %w", ErrUnbuildable, eventID, err)
	}
	body, err := b.cfg.Build(eventName, p.Payload)
	if err != nil {
		return nil, fmt.Errorf("%w: event %s: %w", ErrUnbuildable, eventID, err)
	}
	return body, nil
}

// bodyCache holds bodies up to a number of bytes, least recently used out first. Its user locks it.
type bodyCache struct {
	max, used int
	order     *list.List // of *cached, most recently used first
	entries   map[bodyKey]*list.Element
}

type cached struct {
	key  bodyKey
	body []byte
}

func newBodyCache(maxBytes int) *bodyCache {
	return &bodyCache{max: maxBytes, order: list.New(), entries: make(map[bodyKey]*list.Element)}
}

// size is what an entry counts for: its bytes and its key's.
func (c *cached) size() int { return len(c.body) + len(c.key.eventID) + len(c.key.eventName) }

func (c *bodyCache) get(k bodyKey) ([]byte, bool) {
	e, ok := c.entries[k]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(e)
	return e.Value.(*cached).body, true
}

// put keeps the body under k, unless it is over an eighth of the bound, and drops the least
// recently used bodies until the bound holds.
func (c *bodyCache) put(k bodyKey, body []byte) {
	entry := &cached{key: k, body: body}
	if entry.size() > c.max/8 {
		return
	}
	if e, ok := c.entries[k]; ok {
		c.used -= e.Value.(*cached).size()
		e.Value = entry
		c.order.MoveToFront(e)
	} else {
		c.entries[k] = c.order.PushFront(entry)
	}
	c.used += entry.size()
	for c.used > c.max {
		last := c.order.Back()
		old := last.Value.(*cached)
		c.order.Remove(last)
		delete(c.entries, old.key)
		c.used -= old.size()
	}
}
