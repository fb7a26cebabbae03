package projections_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/hookd/hookd/domain/eventlog"
	"github.com/hookd/hookd/projections"
)

// memCheckpoint is a CheckpointStore in memory; refuse, when set, fails every Save.
type memCheckpoint struct {
	mu     sync.Mutex
	pos    eventlog.Position
	refuse error
}

func (c *memCheckpoint) Load(context.Context) (eventlog.Position, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pos, nil
}

func (c *memCheckpoint) Save(_ context.Context, pos eventlog.Position) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.refuse != nil {
		return c.refuse
	}
	c.pos = pos
	return nil
}

func (c *memCheckpoint) get() eventlog.Position {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pos
}

// counting processes ThingHappened events and counts them; fail, when set, fails the next batch.
type counting struct {
	mu   sync.Mutex
	seen int
	fail error
}

func (p *counting) Reads(eventType string) bool { return eventType == "ThingHappened" }

func (p *counting) Process(_ context.Context, events []eventlog.RecordedEvent) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.fail; err != nil {
		p.fail = nil
		return err
	}
	for _, e := range events {
		if e.Type == "ThingHappened" {
			p.seen++
		}
	}
	return nil
}

func (p *counting) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.seen
}

// TestFollowerResumesFromItsCheckpoint: a Follower processes from the stored checkpoint (not from
// the start), saves as it goes, retries a failed batch, and stops with the error of a refused save.
func TestFollowerResumesFromItsCheckpoint(t *testing.T) {
	t.Parallel()
	log := newMemLog()
	log.append(things(10)...)
	cp := &memCheckpoint{pos: eventlog.Position{Commit: 4, Prepare: 4}}
	proc := &counting{fail: errors.New("first batch fails")}
	f, err := projections.NewFollower(projections.FollowerConfig{Subscribe: log.Subscribe, Processor: proc, Checkpoint: cp,
		MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	waitUntil(t, func() bool { return cp.get() == log.head() })
	if got := proc.count(); got != 6 {
		t.Fatalf("processed %d events, want the 6 after the checkpoint", got)
	}
	if got := f.Position(); got != log.head() {
		t.Fatalf("Position = %v, want the head %v it processed up to", got, log.head())
	}
	cp.mu.Lock()
	cp.refuse = errors.New("claimed by another node")
	cp.mu.Unlock()
	log.append(things(1)...)
	select {
	case err := <-done:
		if err == nil || !errors.Is(err, cp.refuse) {
			t.Fatalf("Run = %v, want the refused save", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run went on after a refused save")
	}
	cancel()
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 30 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
