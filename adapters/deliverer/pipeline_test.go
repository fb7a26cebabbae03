package deliverer_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/hookd/hookd/adapters/deliverer"
	"github.com/hookd/hookd/adapters/transport"
	"github.com/hookd/hookd/adapters/transport/memtransport"
	"github.com/hookd/hookd/application/deliver"
)

// attempter answers each delivery id with the results the test gives, one per attempt, and records
// the attempts; past its results it answers nil. block, when set, holds every attempt until closed.
type attempter struct {
	mu       sync.Mutex
	results  map[string][]func() error
	attempts map[string]int
	started  chan string
	block    chan struct{}
	finished chan string
	canceled chan string
	errs     map[string][]error
}

func newAttempter() *attempter {
	return &attempter{results: map[string][]func() error{}, attempts: map[string]int{}, errs: map[string][]error{},
		started: make(chan string, 100), finished: make(chan string, 100), canceled: make(chan string, 100)}
}

func (a *attempter) Attempt(ctx context.Context, id string) error {
	a.mu.Lock()
	a.attempts[id]++
	var result func() error
	if rs := a.results[id]; len(rs) > 0 {
		result, a.results[id] = rs[0], rs[1:]
	}
	a.mu.Unlock()
	a.started <- id
	if a.block != nil {
		select {
		case <-a.block:
		case <-ctx.Done():
			a.canceled <- id
			return deliver.ErrCanceled
		}
	}
	var err error
	if result != nil {
		defer func() {
			a.mu.Lock()
			a.errs[id] = append(a.errs[id], err)
			a.mu.Unlock()
		}()
	}
	defer func() { a.finished <- id }()
	if result != nil {
		err = result()
	}
	return err
}

func (a *attempter) count(id string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.attempts[id]
}

// run starts a Pipeline over a fresh memtransport and returns the scheduler feeding it and a stop
// function that returns Run's error.
func run(t *testing.T, a *attempter, grace time.Duration) (*transport.Scheduler, func() error) {
	t.Helper()
	ps := memtransport.New(memtransport.Config{MaxInFlight: 4, NackDelay: 10 * time.Millisecond})
	t.Cleanup(func() { _ = ps.Close() })
	p := deliverer.NewPipeline(ps, a, grace, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	return transport.NewScheduler(ps, deliverer.Topic), func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			t.Fatal("the pipeline did not stop")
			return nil
		}
	}
}

// waitFor waits until ch has given each of want as many times as it is listed.
func waitFor(t *testing.T, ch chan string, want ...string) {
	t.Helper()
	missing := map[string]int{}
	for _, id := range want {
		missing[id]++
	}
	deadline := time.After(10 * time.Second)
	for left := len(want); left > 0; {
		select {
		case id := <-ch:
			if missing[id] > 0 {
				missing[id]--
				left--
			}
		case <-deadline:
			t.Fatalf("still waiting for %v", missing)
		}
	}
}

// TestPipelineAcksWhatTheUseCaseHandled: a message whose attempt returns nil is acked and not handed
// out again; one whose attempt fails (the scheduler failed) or panics is nacked and handed out
// again, and the panic stops no other delivery.
func TestPipelineAcksWhatTheUseCaseHandled(t *testing.T) {
	t.Parallel()
	a := newAttempter()
	a.results["fails"] = []func() error{func() error { return errors.New("the scheduler failed") }}
	a.results["panics"] = []func() error{func() error { panic("a bug") }}
	scheduler, stop := run(t, a, time.Second)
	now := time.Now()
	for _, id := range []string{"ok", "fails", "panics"} {
		if err := scheduler.Schedule(context.Background(), id, now); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, a.finished, "ok", "fails", "fails", "panics", "panics")
	// Anything handed out again would be by now, many nack delays later.
	time.Sleep(200 * time.Millisecond)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]int{"ok": 1, "fails": 2, "panics": 2} {
		if got := a.count(id); got != want {
			t.Errorf("%s attempted %d times, want %d", id, got, want)
		}
	}
}

// TestPipelineStopLetsAttemptsInFlightFinish: a stop waits for the attempts in flight, within the
// grace period, and cancels the ones still running past it. An attempt that finishes during the
// stop can still schedule its retry.
func TestPipelineStopLetsAttemptsInFlightFinish(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		release  bool
		grace    time.Duration
		canceled bool
	}{
		{name: "within the grace period", release: true, grace: 10 * time.Second},
		{name: "past the grace period", grace: 100 * time.Millisecond, canceled: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := newAttempter()
			a.block = make(chan struct{})
			var canceled bool
			scheduler, stop := run(t, a, tc.grace)
			a.results["slow"] = []func() error{func() error {
				return scheduler.Schedule(context.Background(), "slow", time.Now().Add(time.Hour))
			}}
			if err := scheduler.Schedule(context.Background(), "slow", time.Now()); err != nil {
				t.Fatal(err)
			}
			waitFor(t, a.started, "slow")
			stopped := make(chan error, 1)
			go func() { stopped <- stop() }()
			if tc.release {
				time.Sleep(50 * time.Millisecond) // the stop is under way
				close(a.block)
				waitFor(t, a.finished, "slow")
				a.mu.Lock()
				errs := a.errs["slow"]
				a.mu.Unlock()
				if len(errs) != 1 || errs[0] != nil {
					t.Errorf("scheduling the retry during the stop: %v, want it done", errs)
				}
			} else {
				select {
				case <-a.canceled:
					canceled = true
				case <-time.After(20 * time.Second):
				}
			}
			if err := <-stopped; err != nil {
				t.Fatal(err)
			}
			if canceled != tc.canceled {
				t.Errorf("attempt cut short: %v, want %v", canceled, tc.canceled)
			}
		})
	}
}

// TestHandlerTellsWhichAttemptsTheGracePeriodCutShort: an attempt cut short by a stop (the only way a
// graceful stop may deliver twice) is logged as a warning naming its delivery; one that succeeds is not.
func TestHandlerTellsWhichAttemptsTheGracePeriodCutShort(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&out, nil))
	a := newAttempter()
	a.results["cut"] = []func() error{func() error { return deliver.ErrCanceled }}
	h := deliverer.NewHandler(context.Background(), a, log)
	if err := h.Handle(message.NewMessage("1", []byte("cut"))); !errors.Is(err, deliver.ErrCanceled) {
		t.Fatalf("Handle: %v, want ErrCanceled (the message handed back)", err)
	}
	if err := h.Handle(message.NewMessage("2", []byte("done"))); err != nil {
		t.Fatalf("Handle: %v", err)
	}
	var lines []struct {
		Level      string
		DeliveryID string `json:"delivery_id"`
	}
	for _, l := range bytes.Split(bytes.TrimSpace(out.Bytes()), []byte("\n")) {
		var line struct {
			Level      string
			DeliveryID string `json:"delivery_id"`
		}
		if err := json.Unmarshal(l, &line); err != nil {
			t.Fatalf("%s: %v", l, err)
		}
		lines = append(lines, line)
	}
	if len(lines) != 1 || lines[0].Level != "WARN" || lines[0].DeliveryID != "cut" {
		t.Errorf("logged %+v, want one WARN naming delivery cut", lines)
	}
}
