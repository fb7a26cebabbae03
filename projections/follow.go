package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hookd/hookd/domain/eventlog"
)

// CheckpointStore keeps a processor's checkpoint outside the read models' database: in the cluster
// profile, where the next dispatch leader finds it.
type CheckpointStore interface {
	// Load returns the stored position (eventlog.Start when there is none).
	Load(ctx context.Context) (eventlog.Position, error)
	// Save stores pos.
	Save(ctx context.Context, pos eventlog.Position) error
}

// EffectProcessor is what a Follower feeds: the effects of a batch (a Processor's Process) and the
// event types that have any (Selective's Reads).
type EffectProcessor interface {
	Reads(eventType string) bool
	Process(ctx context.Context, events []eventlog.RecordedEvent) error
}

// FollowerConfig is what a Follower needs; Subscribe, Processor and Checkpoint are required.
type FollowerConfig struct {
	Subscribe  SubscribeFunc
	Processor  EffectProcessor
	Checkpoint CheckpointStore
	// BatchSize, MinBackoff and MaxBackoff are as in RunnerConfig, with its defaults.
	BatchSize              int
	MinBackoff, MaxBackoff time.Duration
	// Logger is optional.
	Logger *slog.Logger
}

// Follower runs a processor over the log with its checkpoint in a CheckpointStore: a Runner without
// tables, for a processor that runs on one node of several at a time. Like a Runner's, its effects
// happen at least once per event, before the checkpoint passes them.
type Follower struct {
	cfg FollowerConfig

	mu      sync.Mutex
	failing error
	// at is the position up to which the processor has gone over the log: saved, or passed over
	// as holding nothing it reads.
	at eventlog.Position
}

// NewFollower returns a Follower for cfg, with defaults filled in.
func NewFollower(cfg FollowerConfig) (*Follower, error) {
	if cfg.Subscribe == nil || cfg.Processor == nil || cfg.Checkpoint == nil {
		return nil, errors.New("projections: follower: Subscribe, Processor and Checkpoint are required")
	}
	pacing(&cfg.BatchSize, &cfg.MinBackoff, &cfg.MaxBackoff, &cfg.Logger)
	return &Follower{cfg: cfg}, nil
}

// Err returns why the Follower is not following the log, or nil while it is (or does not run).
func (f *Follower) Err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.failing
}

// Position returns the position up to which the processor has gone over the log (eventlog.Start
// until Run has loaded the checkpoint), for a lag to be measured against the log's head.
func (f *Follower) Position() eventlog.Position {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.at
}

func (f *Follower) setAt(pos eventlog.Position) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.at = pos
}

func (f *Follower) setFailing(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failing = err
}

// Run loads the checkpoint, then follows the log from it until ctx ends (nil) or the checkpoint
// cannot be loaded or saved (that error): a store that refuses a save may have been claimed by
// another node, which only the caller can judge. A subscription or batch that fails is logged and
// followed again from the last saved position after a backoff, as a Runner does.
func (f *Follower) Run(ctx context.Context) error {
	defer f.setFailing(nil)
	pos, err := f.cfg.Checkpoint.Load(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("projections: loading the checkpoint: %w", err)
	}
	f.setAt(pos)
	f.cfg.Logger.Info("processor following the log", "position", pos.String())
	backoff := f.cfg.MinBackoff
	for {
		next, err := f.follow(ctx, pos)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, errSave) {
			return err
		}
		if next != pos {
			backoff = f.cfg.MinBackoff
		}
		pos = next
		if errors.Is(err, eventlog.ErrCorrupt) {
			return err
		}
		f.setFailing(err)
		f.cfg.Logger.Warn("processor stopped; following again from its checkpoint", "error", err,
			"position", pos.String(), "retry_in", backoff)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return nil
		}
		backoff = min(2*backoff, f.cfg.MaxBackoff)
	}
}

// errSave marks a checkpoint that could not be saved.
var errSave = errors.New("projections: saving the checkpoint")

// follow subscribes after pos and processes batches until something fails; it returns the position
// saved last.
func (f *Follower) follow(ctx context.Context, pos eventlog.Position) (eventlog.Position, error) {
	f.setAt(pos)
	sub, err := f.cfg.Subscribe(ctx, pos)
	if err != nil {
		return pos, fmt.Errorf("subscribing: %w", err)
	}
	defer func() { _ = sub.Close() }()
	// seen runs ahead of pos past batches the processor reads nothing of: they are not saved, and a
	// restart reads them again, to skip them again.
	seen := pos
	for {
		events, err := sub.Next(ctx, f.cfg.BatchSize)
		if err != nil {
			return pos, err
		}
		for len(events) > 0 && !seen.Before(events[0].Position) {
			events = events[1:]
		}
		if len(events) == 0 {
			continue
		}
		last := events[len(events)-1].Position
		reads := false
		for _, e := range events {
			if f.cfg.Processor.Reads(e.Type) {
				reads = true
				break
			}
		}
		if !reads {
			seen = last
			f.setAt(seen)
			continue
		}
		if err := f.cfg.Processor.Process(ctx, events); err != nil {
			return pos, fmt.Errorf("processing events up to %s: %w", last, err)
		}
		if err := f.cfg.Checkpoint.Save(ctx, last); err != nil {
			return pos, fmt.Errorf("%w at %s: %w", errSave, last, err)
		}
		pos, seen = last, last
		f.setAt(last)
		f.setFailing(nil)
	}
}
