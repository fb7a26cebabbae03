package natscoord

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookd/hookd/domain/eventlog"
)

// DefaultCheckpointBucket is the bucket of CheckpointConfig by default.
const DefaultCheckpointBucket = "hookd_checkpoints"

// ErrFenced is returned by Save when another node loaded the checkpoint since this one did: this node
// is no longer the leader, and what it did since is the next leader's to do again.
var ErrFenced = errors.New("natscoord: checkpoint claimed by another node")

// CheckpointConfig says where checkpoints are kept. Conn and Owner are required.
type CheckpointConfig struct {
	// Conn is the connection to use; the Checkpoint never closes it.
	Conn *nats.Conn
	// Owner names this node in the checkpoint's value, for operators.
	Owner string
	// Bucket is the key-value bucket of the checkpoints (DefaultCheckpointBucket); it has no TTL.
	Bucket string
	// Replicas is how many servers keep the bucket (0: 3 when the server is in a cluster, else 1).
	Replicas int
}

// Checkpoint is one named log position in NATS key-value, which every node sees, so that the next
// leader resumes where the last one stopped. It is fenced: Load claims the key (writes it again,
// taking a new revision), and Save writes only over the revision this node last wrote, so a node
// that lost the lease to one that has loaded since cannot move the checkpoint. It is safe for
// concurrent use.
//
// When NATS loses the bucket, Load finds no checkpoint and returns eventlog.Start: the dispatcher
// goes over the log from its start, which schedules nothing twice (delivery ids are deterministic
// and appends expect a new stream), so it is slower, not wrong. A Save after the loss fails, and
// the caller loads again.
type Checkpoint struct {
	cfg CheckpointConfig
	js  jetstream.JetStream
	key string

	mu    sync.Mutex
	kv    jetstream.KeyValue
	rev   uint64 // the revision this node last wrote; 0 before Load
	claim string // drawn by the last Load
}

// checkpointValue is what the key holds. Claim is drawn afresh by each Load: a Save that timed out
// finds by it whether its write landed.
type checkpointValue struct {
	Position string `json:"position"`
	Owner    string `json:"owner"`
	Claim    string `json:"claim,omitempty"`
}

// saveTry bounds one write of Save, and saveRetry spaces its tries: while the bucket's stream elects
// a leader (4 to 9 s after a NATS server dies), a write gets no answer, and Save keeps trying rather
// than fail, which would end the dispatcher's term of leadership and cost a new one.
const (
	saveTry   = time.Second
	saveRetry = 100 * time.Millisecond
)

// NewCheckpoint returns the checkpoint called name; it does no I/O.
func NewCheckpoint(cfg CheckpointConfig, name string) (*Checkpoint, error) {
	if cfg.Conn == nil {
		return nil, errors.New("natscoord: checkpoint: Conn is required")
	}
	if err := checkToken("checkpoint owner", cfg.Owner); err != nil {
		return nil, err
	}
	if err := checkToken("checkpoint name", name); err != nil {
		return nil, err
	}
	if cfg.Bucket == "" {
		cfg.Bucket = DefaultCheckpointBucket
	}
	js, err := jetstream.New(cfg.Conn)
	if err != nil {
		return nil, fmt.Errorf("natscoord: %w", err)
	}
	return &Checkpoint{cfg: cfg, js: js, key: name}, nil
}

// Load returns the stored position (eventlog.Start when there is none) and claims the checkpoint for
// this node: from then on only this node's Saves succeed. A leader calls it once it is elected,
// before it acts, and again after any failed Save.
func (c *Checkpoint) Load(ctx context.Context) (eventlog.Position, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rev = 0
	c.claim = rand.Text()
	// The bucket is opened (made again, if NATS lost it) on every Load: Loads are rare.
	kv, err := openBucket(ctx, c.js, jetstream.KeyValueConfig{
		Bucket:      c.cfg.Bucket,
		Description: "hookd checkpoints: log positions of the leader's subscriptions",
		History:     1,
		Replicas:    replicasFor(c.cfg.Conn, c.cfg.Replicas),
	})
	if err != nil {
		return eventlog.Position{}, err
	}
	c.kv = kv
	pos := eventlog.Start
	entry, err := c.get(ctx)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		rev, err := kv.Create(ctx, c.key, c.encode(pos))
		if err != nil {
			// Another node created it meanwhile: it is the newer leader.
			return eventlog.Position{}, c.errorf("claiming", err)
		}
		c.rev = rev
		return pos, nil
	case err != nil:
		return eventlog.Position{}, c.errorf("loading", err)
	}
	var v checkpointValue
	if err := json.Unmarshal(entry.Value(), &v); err != nil {
		return eventlog.Position{}, fmt.Errorf("natscoord: checkpoint %s: %w", c.key, err)
	}
	if pos, err = eventlog.ParsePosition(v.Position); err != nil {
		return eventlog.Position{}, fmt.Errorf("natscoord: checkpoint %s: %w", c.key, err)
	}
	rev, err := kv.Update(ctx, c.key, c.encode(pos), entry.Revision())
	if err != nil {
		return eventlog.Position{}, c.errorf("claiming", err)
	}
	c.rev = rev
	return pos, nil
}

// Save stores pos over the revision this node last wrote. It returns ErrFenced when another node
// has loaded the checkpoint since (or the bucket was made again): the caller must stop acting as the
// leader. A write that gets no answer (the bucket's stream has no leader for the moment) is tried
// again until ctx ends; a write that timed out and landed is found by its claim. Any other error
// leaves it unknown whether pos was stored; the caller loads again.
func (c *Checkpoint) Save(ctx context.Context, pos eventlog.Position) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rev == 0 {
		return fmt.Errorf("natscoord: checkpoint %s: Save before Load", c.key)
	}
	value := c.encode(pos)
	for {
		try, cancel := context.WithTimeout(ctx, saveTry)
		rev, err := c.kv.Update(try, c.key, value, c.rev)
		cancel()
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			// An earlier try may have landed without its answer: then the key holds this claim and pos.
			rev, err = c.landed(ctx, pos, err)
		}
		switch {
		case err == nil:
			c.rev = rev
			return nil
		case ctx.Err() != nil || !unanswered(err) || c.bucketGone(ctx):
			c.rev = 0
			return c.errorf("saving", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(saveRetry):
		}
	}
}

// get reads the key, trying again while nobody answers: a bucket made a moment ago, or one whose
// stream elects its leader, answers no one for a while, which is no reason to end a leader's term.
func (c *Checkpoint) get(ctx context.Context) (jetstream.KeyValueEntry, error) {
	for {
		try, cancel := context.WithTimeout(ctx, saveTry)
		entry, err := c.kv.Get(try, c.key)
		cancel()
		if err == nil || ctx.Err() != nil || !unanswered(err) {
			return entry, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(saveRetry):
		}
	}
}

// landed returns the key's revision when it holds this node's claim and pos. When it holds this
// node's claim and another position, the write is still pending (proposed to a stream that cannot
// commit it yet) or lost: errPending, to try again. Another node's claim is mismatch: fenced.
func (c *Checkpoint) landed(ctx context.Context, pos eventlog.Position, mismatch error) (uint64, error) {
	try, cancel := context.WithTimeout(ctx, saveTry)
	defer cancel()
	entry, err := c.kv.Get(try, c.key)
	if err != nil {
		if unanswered(err) {
			return 0, err
		}
		return 0, mismatch
	}
	var v checkpointValue
	switch {
	case json.Unmarshal(entry.Value(), &v) != nil || v.Claim != c.claim:
		return 0, mismatch
	case v.Position != pos.String():
		return 0, errPending
	}
	return entry.Revision(), nil
}

// errPending is a write of Save neither refused nor stored yet.
var errPending = errors.New("natscoord: checkpoint write pending")

// bucketGone reports whether the servers say the bucket does not exist (NATS lost it): a write to
// it gets no answer either, and is not to be tried again. Nobody answering is not gone.
func (c *Checkpoint) bucketGone(ctx context.Context) bool {
	try, cancel := context.WithTimeout(ctx, saveTry)
	defer cancel()
	_, err := c.js.KeyValue(try, c.cfg.Bucket)
	return errors.Is(err, jetstream.ErrBucketNotFound)
}

// unanswered reports whether err says a request got no answer, as while a stream elects its leader.
func unanswered(err error) bool {
	return errors.Is(err, errPending) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrNoStreamResponse)
}

func (c *Checkpoint) encode(pos eventlog.Position) []byte {
	b, _ := json.Marshal(checkpointValue{Position: pos.String(), Owner: c.cfg.Owner, Claim: c.claim}) // strings always marshal
	return b
}

// errorf wraps err, as ErrFenced when the key is not at the revision expected.
func (c *Checkpoint) errorf(doing string, err error) error {
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists) ||
		errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return fmt.Errorf("natscoord: checkpoint %s: %s: %w (%w)", c.key, doing, ErrFenced, err)
	}
	return fmt.Errorf("natscoord: checkpoint %s: %s: %w", c.key, doing, err)
}
