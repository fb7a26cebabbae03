package deliver_test

import (
	"container/heap"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hookd/hookd/application/command"
	"github.com/hookd/hookd/application/deliver"
	"github.com/hookd/hookd/domain/delivery"
	"github.com/hookd/hookd/domain/webhook"
)

// world simulates what surrounds the use case, with a clock that the test runs forward: the log of
// deliveries, the webhook w1 as its aggregate (which the Endpoints port changes), its health folded
// from the attempts as soon as they are saved (a read model without lag), a transport that hands
// each delivery out at its due time, and an endpoint that is down or up as the test says.
type world struct {
	t    *testing.T
	mu   sync.Mutex
	now  time.Time
	log  *deliveries
	hook *webhook.Webhook
	hlth webhook.Health
	due  dueQueue
	seq  int
	down func(at time.Time) int // the status the endpoint answers at at; 200 when up
	// during, when set, runs in each Send, outside the world's lock.
	during func()
	sent   int
	probe  int // attempts recorded as probes
	// calls counts the Endpoints calls that changed something.
	opened, closed int
	u              *deliver.Deliverer
}

const breakerWebhook = "w1"

var policy2Retries = delivery.Policy{SuccessCodes: []int{200}, RetryCodes: []int{0, 503}, RetryCount: 2}

func newWorld(t *testing.T, b webhook.Breaker, disableAfter time.Duration) *world {
	t.Helper()
	w := &world{t: t, now: now, log: &deliveries{streams: map[string][]delivery.Event{}}}
	hook, err := webhook.Create(webhook.Creation{ID: breakerWebhook, TenantID: "t1", CommunityID: "c1",
		Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
		Settings: webhook.Settings{Name: "n", EventNames: []string{"E"}, API: webhook.Endpoint{URL: "https://receiver.example/hook"},
			SuccessCodes: []int{200}}})
	if err != nil {
		t.Fatal(err)
	}
	w.hook = hook
	w.down = func(time.Time) int { return 200 }
	u, err := deliver.New(deliver.Config{
		Deliveries: (*worldDeliveries)(w), Bodies: newBodies(t, newEventLog(), 0), Targets: (*worldTargets)(w), Signer: signer{}, Sender: (*worldSender)(w),
		Scheduler: (*worldScheduler)(w), Clock: w.clock, Endpoints: (*worldEndpoints)(w),
		Breaker: b, DisableAfter: disableAfter,
		// The standard 1Kosmos-like spacing: about 1 s, then 5 s.
		Backoff: delivery.Backoff{Delays: []time.Duration{time.Second, 5 * time.Second}, Random: func() float64 { return 0.5 }},
	})
	if err != nil {
		t.Fatal(err)
	}
	w.u = u
	return w
}

func (w *world) clock() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.now
}

// publish schedules n deliveries to w1, due now.
func (w *world) publish(n int, p delivery.Policy) []string {
	ids := make([]string, n)
	for i := range ids {
		w.seq++
		ids[i] = w.log.add(w.t, delivery.Scheduling{
			EventID: fmt.Sprintf("e%d", w.seq), WebhookID: breakerWebhook, TenantID: "t1", CommunityID: "c1", EventName: "E",
			Body: `{"version":1}`, Settings: delivery.Snapshot{API: webhook.Endpoint{URL: "https://receiver.example/hook"}, Policy: p},
			At: w.clock(),
		})
		if err := (*worldScheduler)(w).Schedule(context.Background(), ids[i], w.clock()); err != nil {
			w.t.Fatal(err)
		}
	}
	return ids
}

// run hands deliveries out in due order, moving the clock to each one's due time, until none is
// left or the clock passes until.
func (w *world) run(until time.Time) {
	w.t.Helper()
	for steps := 0; ; steps++ {
		if steps > 200_000 {
			w.t.Fatal("the simulation does not end")
		}
		w.mu.Lock()
		if w.due.Len() == 0 || w.due[0].at.After(until) {
			w.mu.Unlock()
			return
		}
		next := heap.Pop(&w.due).(scheduled)
		if next.at.After(w.now) {
			w.now = next.at
		}
		w.mu.Unlock()
		if err := w.u.Attempt(context.Background(), next.id); err != nil {
			w.t.Fatalf("Attempt(%s) at %v: %v", next.id, w.clock(), err)
		}
	}
}

// stream returns delivery id's events.
func (w *world) stream(id string) []delivery.Event {
	w.log.mu.Lock()
	defer w.log.mu.Unlock()
	return append([]delivery.Event(nil), w.log.streams[id]...)
}

// dueQueue orders the deliveries handed to the transport by due time; a delivery scheduled again
// replaces its earlier entry, as the transports do.
type dueQueue []scheduled

func (q dueQueue) Len() int           { return len(q) }
func (q dueQueue) Less(i, j int) bool { return q[i].at.Before(q[j].at) }
func (q dueQueue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *dueQueue) Push(x any)        { *q = append(*q, x.(scheduled)) }
func (q *dueQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}

type worldScheduler world

func (s *worldScheduler) Schedule(_ context.Context, id string, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, e := range s.due {
		if e.id == id {
			heap.Remove(&s.due, i)
			break
		}
	}
	heap.Push(&s.due, scheduled{id, at})
	return nil
}

type worldDeliveries world

func (d *worldDeliveries) Load(ctx context.Context, id string) (*delivery.Delivery, error) {
	return d.log.Load(ctx, id)
}

func (d *worldDeliveries) LoadSealed(ctx context.Context, id string) (*delivery.Delivery, error) {
	return d.log.LoadSealed(ctx, id)
}

// Save appends, and folds the attempts saved into the webhook's health, as the read model would.
func (d *worldDeliveries) Save(ctx context.Context, dl *delivery.Delivery, c command.Caller) (command.Result, error) {
	changes := append([]delivery.Event(nil), dl.Changes()...)
	res, err := d.log.Save(ctx, dl, c)
	if err != nil {
		return res, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, e := range changes {
		if a, ok := e.(delivery.Attempted); ok && a.WebhookID == breakerWebhook {
			d.hlth = d.hlth.Record(a.At, a.Success)
			if a.Probe {
				d.probe++
			}
		}
	}
	return res, nil
}

type worldTargets world

func (t *worldTargets) Webhook(_ context.Context, _, _, id string, _ time.Time) (deliver.Webhook, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if id != breakerWebhook {
		return deliver.Webhook{}, webhook.ErrNotFound
	}
	h := t.hlth
	h.Circuit = t.hook.Circuit()
	return deliver.Webhook{Disabled: t.hook.Disabled(), Health: h,
		Secrets: func() ([]string, error) { return []string{"whsec_current"}, nil }}, nil
}

type worldSender world

func (s *worldSender) Send(context.Context, deliver.Request) deliver.Outcome {
	if s.during != nil {
		s.during()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent++
	return deliver.Outcome{Status: s.down(s.now)}
}

func (*worldSender) Forget(string) {}

type worldEndpoints world

func (e *worldEndpoints) OpenCircuit(_ context.Context, _, _, _ string, b webhook.Breaker, at time.Time, attempts, failures int) (webhook.Circuit, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	err := e.hook.OpenCircuit(b, at, attempts, failures)
	if err == nil && len(e.hook.Changes()) > 0 {
		e.opened++
	}
	return e.hook.Circuit(), err
}

func (e *worldEndpoints) CloseCircuit(_ context.Context, _, _, _ string, at time.Time) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.hook.Circuit().Open {
		e.closed++
	}
	return e.hook.CloseCircuit(at)
}

func (e *worldEndpoints) DisableFor(_ context.Context, _, _, _ string, reason string, since time.Time) (bool, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	was := e.hook.Disabled()
	if err := e.hook.DisableFor(reason, since); err != nil {
		return false, err
	}
	return !was, nil
}

// lastDisabled returns the latest Disabled the webhook recorded.
func (w *world) lastDisabled() (webhook.Disabled, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	changes := w.hook.Changes()
	for i := len(changes) - 1; i >= 0; i-- {
		if d, ok := changes[i].(webhook.Disabled); ok {
			return d, true
		}
	}
	return webhook.Disabled{}, false
}

var testBreaker = webhook.Breaker{Window: time.Minute, MinAttempts: 5, FailureRate: 0.5,
	CoolDown: 10 * time.Second, MaxCoolDown: 2 * time.Minute}

// downUntil is an endpoint that answers 503 before upAt and 200 from then on.
func downUntil(upAt time.Time) func(time.Time) int {
	return func(at time.Time) int {
		if at.Before(upAt) {
			return 503
		}
		return 200
	}
}

// An endpoint down for 10 minutes, far longer than the retry schedule (about 6 s), then up: every one
// of 20 deliveries with 2 retries arrives, none spends its last retry, and while the circuit is open
// nothing but the probes reaches the endpoint.
func TestBreakerOutageThenRecoveryDeliversEverything(t *testing.T) {
	t.Parallel()
	w := newWorld(t, testBreaker, 0)
	upAt := now.Add(10 * time.Minute)
	w.down = downUntil(upAt)
	ids := w.publish(20, policy2Retries)
	w.run(upAt.Add(time.Hour))

	for _, id := range ids {
		events := w.stream(id)
		failedOwn, deferred := 0, 0
		var succeeded bool
		for _, e := range events {
			switch e := e.(type) {
			case delivery.Attempted:
				if !e.Success && !e.Probe {
					failedOwn++
				}
			case delivery.Deferred:
				deferred++
				if e.Reason != delivery.DeferReasonCircuitOpen {
					t.Errorf("delivery %s deferred for %q", id, e.Reason)
				}
			case delivery.Succeeded:
				succeeded = true
			case delivery.Failed:
				t.Fatalf("delivery %s was parked (%s): %v", id, e.Reason, events)
			}
		}
		if !succeeded {
			t.Fatalf("delivery %s did not arrive: %v", id, events)
		}
		if failedOwn >= 1+policy2Retries.RetryCount {
			t.Errorf("delivery %s spent its whole retry budget (%d failed attempts)", id, failedOwn)
		}
		if deferred == 0 {
			t.Errorf("delivery %s never waited for the circuit: %v", id, events)
		}
	}
	// Without the breaker each delivery is sent 3 times during the outage. With it: the first
	// attempts and the retries made before the circuit opened, then one probe per cool-down (10 s,
	// 20 s, 40 s, 80 s, then 120 s until the end: 9 in 10 minutes), then the 20 that arrive.
	if w.opened < 2 || w.closed != 1 {
		t.Errorf("circuit opened %d times and closed %d, want several openings and one close", w.opened, w.closed)
	}
	if w.probe < 2 || w.probe > 12 {
		t.Errorf("%d probes in a 10-minute outage, want one per cool-down", w.probe)
	}
	// With a read model that shows each attempt at once, the circuit opens on the failure that makes
	// the minimum: nothing else reaches the endpoint but the probes and the arrivals.
	if max := testBreaker.MinAttempts + w.probe + len(ids) - 1; w.sent > max {
		t.Errorf("%d requests reached the endpoint, want at most %d: the %d that opened the circuit, the probes, the arrivals",
			w.sent, max, testBreaker.MinAttempts)
	}
	if c := w.hook.Circuit(); c.Open {
		t.Errorf("the circuit is still open: %+v", c)
	}
}

// The cool-downs grow: each failed probe doubles the last, up to the cap.
func TestBreakerCoolDownBacksOffToItsCap(t *testing.T) {
	t.Parallel()
	w := newWorld(t, testBreaker, 0)
	w.down = func(time.Time) int { return 503 }
	ids := w.publish(6, policy2Retries)
	w.run(now.Add(5 * time.Second))
	first := w.hook.Circuit()
	if !first.Open {
		t.Fatal("6 failures did not open the circuit")
	}
	coolDowns := []time.Duration{first.CoolDown}
	for range 7 {
		c := w.hook.Circuit()
		w.run(c.Until.Add(2 * time.Second))
		if next := w.hook.Circuit(); next.Open && !next.OpenedAt.Equal(c.OpenedAt) {
			coolDowns = append(coolDowns, next.CoolDown)
		}
	}
	want := []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second, 2 * time.Minute, 2 * time.Minute}
	if len(coolDowns) < len(want) {
		t.Fatalf("cool-downs %v, want at least %v", coolDowns, want)
	}
	for i, d := range want {
		if coolDowns[i] != d {
			t.Fatalf("cool-downs %v, want %v first", coolDowns, want)
		}
	}
	for _, id := range ids {
		for _, e := range w.stream(id) {
			if f, ok := e.(delivery.Failed); ok {
				t.Fatalf("delivery %s parked (%s) while its endpoint's circuit was open", id, f.Reason)
			}
		}
	}
}

// An endpoint failing without a success for HOOKD_DISABLE_AFTER is disabled by hookd, reason
// failing, and not a moment before; its waiting deliveries are parked as a disabled webhook's are.
func TestAutoDisableAfterFailingForTheConfiguredTime(t *testing.T) {
	t.Parallel()
	const after = 5 * 24 * time.Hour
	w := newWorld(t, webhook.Breaker{Window: time.Minute, MinAttempts: 2, FailureRate: 0.5,
		CoolDown: 10 * time.Second, MaxCoolDown: 10 * time.Minute}, after)
	w.down = func(time.Time) int { return 503 }
	ids := w.publish(3, policy2Retries)
	w.run(now.Add(after - time.Minute))
	if w.hook.Disabled() {
		t.Fatal("disabled before failing for the configured time")
	}
	w.run(now.Add(after + time.Hour))
	d, ok := w.lastDisabled()
	if !w.hook.Disabled() || !ok || d.Reason != webhook.DisabledFailing || !d.FailingSince.Equal(now) {
		t.Fatalf("after 5 days of failures: disabled %v, event %+v", w.hook.Disabled(), d)
	}
	for _, id := range ids {
		events := w.stream(id)
		f, ok := events[len(events)-1].(delivery.Failed)
		if !ok || f.Reason != delivery.ReasonWebhookDisabled {
			t.Errorf("delivery %s ends with %+v, want parked as webhook_disabled", id, events[len(events)-1])
		}
	}
}

// HOOKD_DISABLE_AFTER=0 never disables.
func TestAutoDisableOff(t *testing.T) {
	t.Parallel()
	w := newWorld(t, webhook.Breaker{Window: time.Minute, MinAttempts: 2, FailureRate: 0.5,
		CoolDown: 10 * time.Second, MaxCoolDown: time.Hour}, 0)
	w.down = func(time.Time) int { return 503 }
	w.publish(2, policy2Retries)
	w.run(now.Add(deliver.DefaultDisableAfter + 24*time.Hour))
	if w.hook.Disabled() {
		t.Fatal("disabled with auto-disable off")
	}
}

// A 410 Gone disables the webhook at once, reason gone.
func TestGoneDisablesAtOnce(t *testing.T) {
	t.Parallel()
	w := newWorld(t, testBreaker, 0)
	w.down = func(time.Time) int { return 410 }
	ids := w.publish(3, policy2Retries)
	w.run(now.Add(time.Minute))
	d, ok := w.lastDisabled()
	if !w.hook.Disabled() || !ok || d.Reason != webhook.DisabledGone {
		t.Fatalf("after a 410: disabled %v, event %+v", w.hook.Disabled(), d)
	}
	if w.sent != 1 {
		t.Errorf("%d requests sent, want 1: the 410 disables before the others go", w.sent)
	}
	for _, id := range ids[1:] {
		events := w.stream(id)
		if f, ok := events[len(events)-1].(delivery.Failed); !ok || f.Reason != delivery.ReasonWebhookDisabled {
			t.Errorf("delivery %s ends with %+v, want parked as webhook_disabled", id, events[len(events)-1])
		}
	}
}

// A half-open circuit lets one attempt through: another delivery due while the probe is in flight
// waits, unrecorded, and is sent only once the probe closed the circuit.
func TestHalfOpenLetsOneProbeThrough(t *testing.T) {
	t.Parallel()
	w := newWorld(t, testBreaker, 0)
	upAt := now.Add(30 * time.Second)
	w.down = downUntil(upAt)
	ids := w.publish(6, policy2Retries)
	w.run(now.Add(5 * time.Second))
	c := w.hook.Circuit()
	if c.State(now.Add(5*time.Second)) != webhook.StateOpen {
		t.Fatalf("circuit %+v after 6 failures", c)
	}
	w.mu.Lock()
	w.now = upAt.Add(time.Minute)
	w.mu.Unlock()
	other := ids[len(ids)-1]
	before := len(w.stream(other))
	var probeSent, otherErr error
	inProbe := 0
	w.during = func() {
		inProbe++
		if inProbe == 1 {
			w.during = nil
			otherErr = w.u.Attempt(context.Background(), other)
		}
	}
	probeSent = w.u.Attempt(context.Background(), ids[0])
	if probeSent != nil || otherErr != nil {
		t.Fatalf("attempts: %v, %v", probeSent, otherErr)
	}
	if w.sent != testBreaker.MinAttempts+1 {
		t.Errorf("%d requests in all, want the %d that opened the circuit and the probe alone", w.sent, testBreaker.MinAttempts)
	}
	if got := len(w.stream(other)); got != before {
		t.Errorf("the delivery due during the probe recorded %v", w.stream(other)[before:])
	}
	if w.hook.Circuit().Open {
		t.Error("the successful probe did not close the circuit")
	}
}
