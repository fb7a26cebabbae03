package deliverer

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"
)

// collector records what a Queue hands out, and frees each slot only when told.
type collector struct {
	mu   sync.Mutex
	sent []string
	got  chan string
}

func newCollector() *collector { return &collector{got: make(chan string, 100)} }

func (c *collector) send(id string) error {
	c.mu.Lock()
	c.sent = append(c.sent, id)
	c.mu.Unlock()
	c.got <- id
	return nil
}

func (c *collector) next(t *testing.T) string {
	t.Helper()
	select {
	case id := <-c.got:
		return id
	case <-time.After(5 * time.Second):
		t.Fatal("the queue handed nothing out")
		return ""
	}
}

func (c *collector) none(t *testing.T, within time.Duration) {
	t.Helper()
	select {
	case id := <-c.got:
		t.Fatalf("the queue handed out %s, want nothing", id)
	case <-time.After(within):
	}
}

func runQueue(t *testing.T, q *Queue) *collector {
	t.Helper()
	c := newCollector()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- q.Run(ctx, c.send) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
	})
	return c
}

func TestQueueHandsOutInDueOrderWhenDue(t *testing.T) {
	t.Parallel()
	q := NewQueue(10, time.Now)
	now := time.Now()
	_ = q.Schedule(context.Background(), "later", now.Add(150*time.Millisecond))
	_ = q.Schedule(context.Background(), "first", now.Add(-time.Second))
	_ = q.Schedule(context.Background(), "second", now)
	c := runQueue(t, q)
	if got := []string{c.next(t), c.next(t)}; !slices.Equal(got, []string{"first", "second"}) {
		t.Fatalf("handed out %v, want first, second", got)
	}
	c.none(t, 50*time.Millisecond) // "later" is not due yet
	if got := c.next(t); got != "later" || time.Now().Before(now.Add(150*time.Millisecond)) {
		t.Fatalf("handed out %s before it was due", got)
	}
}

func TestQueueKeepsTheLimitInFlight(t *testing.T) {
	t.Parallel()
	q := NewQueue(2, time.Now)
	for _, id := range []string{"a", "b", "c"} {
		_ = q.Schedule(context.Background(), id, time.Now())
	}
	c := runQueue(t, q)
	first, second := c.next(t), c.next(t)
	c.none(t, 50*time.Millisecond)
	if pending, inFlight := q.Len(); pending != 1 || inFlight != 2 {
		t.Fatalf("Len = %d pending, %d in flight; want 1, 2", pending, inFlight)
	}
	q.Done(first)
	if got := c.next(t); got != "c" {
		t.Fatalf("after Done(%s) the queue handed out %s, want c", first, got)
	}
	q.Done(second)
	q.Done("c")
}

func TestQueueMergesADeliveryGivenTwice(t *testing.T) {
	t.Parallel()
	q := NewQueue(10, time.Now)
	_ = q.Schedule(context.Background(), "a", time.Now().Add(time.Hour))
	_ = q.Schedule(context.Background(), "a", time.Now()) // the earlier time wins
	_ = q.Schedule(context.Background(), "a", time.Now().Add(time.Hour))
	c := runQueue(t, q)
	if got := c.next(t); got != "a" {
		t.Fatalf("handed out %s", got)
	}
	c.none(t, 50*time.Millisecond)
	// Given while in flight, it comes again once the attempt is done, not before.
	_ = q.Schedule(context.Background(), "a", time.Now())
	c.none(t, 50*time.Millisecond)
	q.Done("a")
	if got := c.next(t); got != "a" {
		t.Fatalf("after Done, handed out %s, want a again", got)
	}
}
