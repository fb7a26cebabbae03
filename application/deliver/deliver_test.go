package deliver_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hookd/hookd/application/command"
	"github.com/hookd/hookd/application/deliver"
	"github.com/hookd/hookd/application/eventcodec"
	"github.com/hookd/hookd/domain/delivery"
	"github.com/hookd/hookd/domain/eventlog"
	"github.com/hookd/hookd/domain/platform"
	"github.com/hookd/hookd/domain/publication"
	"github.com/hookd/hookd/domain/webhook"
	"github.com/hookd/hookd/internal/testvectors"
)

var now = time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)

// deliveries is an in-memory log of delivery streams.
type deliveries struct {
	mu       sync.Mutex
	streams  map[string][]delivery.Event
	loadErr  error // returned by Load (LoadSealed still reads)
	saveErr  error // returned by Save instead of appending
	conflict bool  // another writer appends before each Save
}

func (s *deliveries) add(t *testing.T, sc delivery.Scheduling) string {
	t.Helper()
	d, err := delivery.Schedule(sc)
	if err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.streams[d.ID()] = slices.Clone(d.Changes())
	return d.ID()
}

func (s *deliveries) load(id string) (*delivery.Delivery, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	history := s.streams[id]
	return delivery.Rehydrate(slices.Clone(history), int64(len(history))-1)
}

func (s *deliveries) Load(_ context.Context, id string) (*delivery.Delivery, error) {
	if s.loadErr != nil {
		return nil, s.loadErr
	}
	return s.load(id)
}

func (s *deliveries) LoadSealed(_ context.Context, id string) (*delivery.Delivery, error) {
	return s.load(id)
}

func (s *deliveries) Save(_ context.Context, d *delivery.Delivery, _ command.Caller) (command.Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.saveErr != nil {
		return command.Result{}, s.saveErr
	}
	if s.conflict {
		s.streams[d.ID()] = append(s.streams[d.ID()], delivery.Attempted{DeliveryID: d.ID(), Attempt: 1, Status: 500, At: now})
	}
	if int64(len(s.streams[d.ID()]))-1 != d.Version() {
		return command.Result{}, eventlog.ErrWrongExpectedVersion
	}
	s.streams[d.ID()] = append(s.streams[d.ID()], d.Changes()...)
	d.Saved()
	return command.Result{Changed: true}, nil
}

// types returns the event types of delivery id's stream after the first n events.
func (s *deliveries) typesAfter(id string, n int) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, e := range s.streams[id][n:] {
		out = append(out, e.EventName())
	}
	return out
}

type targets map[string]deliver.Webhook

func (t targets) Webhook(_ context.Context, _, _, id string, _ time.Time) (deliver.Webhook, error) {
	w, ok := t[id]
	if !ok {
		return deliver.Webhook{}, webhook.ErrNotFound
	}
	return w, nil
}

type signer struct{ err error }

func (s signer) Sign(_ context.Context, msgID string, at time.Time, _ []byte, secrets []string) (map[string]string, error) {
	if s.err != nil {
		return nil, s.err
	}
	return map[string]string{"webhook-id": msgID, "secrets": fmt.Sprint(secrets)}, nil
}

// sender answers every request with outcome, after calling during (when set) with the request.
type sender struct {
	mu        sync.Mutex
	outcome   deliver.Outcome
	during    func(deliver.Request)
	sent      []deliver.Request
	forgotten []string
}

func (s *sender) Send(_ context.Context, r deliver.Request) deliver.Outcome {
	if s.during != nil {
		s.during(r)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent = append(s.sent, r)
	return s.outcome
}

func (s *sender) Forget(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.forgotten = append(s.forgotten, id)
}

type scheduled struct {
	id string
	at time.Time
}

type scheduler struct {
	mu  sync.Mutex
	err error
	got []scheduled
}

func (s *scheduler) Schedule(_ context.Context, id string, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	s.got = append(s.got, scheduled{id, at})
	return nil
}

// fixture is a Deliverer over fakes, with one delivery of event e1 to webhook w1 scheduled.
type fixture struct {
	deliveries *deliveries
	targets    targets
	signer     signer
	sender     *sender
	scheduler  *scheduler
	// events is the log of published events the bodies of format 1 are built from; empty at first.
	events *eventLog
	id     string
	cfg    deliver.Config
}

func newFixture(t *testing.T, policy delivery.Policy) *fixture {
	t.Helper()
	f := &fixture{
		deliveries: &deliveries{streams: map[string][]delivery.Event{}},
		targets: targets{"w1": {
			Secrets: func() ([]string, error) { return []string{"whsec_current"}, nil },
		}},
		sender:    &sender{outcome: deliver.Outcome{Status: 200}},
		scheduler: &scheduler{},
		events:    newEventLog(),
	}
	f.id = f.deliveries.add(t, delivery.Scheduling{
		EventID: "e1", WebhookID: "w1", TenantID: "t1", CommunityID: "c1", EventName: "user.created",
		Body:     `{"version":1}`,
		Settings: delivery.Snapshot{API: webhook.Endpoint{URL: "https://receiver.example/hook"}, Policy: policy},
		At:       now,
	})
	f.cfg = deliver.Config{
		Clock:   func() time.Time { return now },
		Backoff: delivery.Backoff{Delays: []time.Duration{time.Minute}, Random: func() float64 { return 0.5 }},
	}
	return f
}

func (f *fixture) deliverer(t *testing.T) *deliver.Deliverer {
	t.Helper()
	cfg := f.cfg
	cfg.Deliveries, cfg.Targets, cfg.Signer, cfg.Sender, cfg.Scheduler = f.deliveries, f.targets, f.signer, f.sender, f.scheduler
	cfg.Bodies = newBodies(t, f.events, 0)
	u, err := deliver.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

var (
	retryOnce = delivery.Policy{SuccessCodes: []int{200}, RetryCodes: []int{0, 503}, RetryCount: 1}
	errStore  = errors.New("the store is down")
)

func TestAttempt(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, f *fixture)
		// run makes the attempt (by default, one Attempt of f.id) and returns its error.
		run func(t *testing.T, f *fixture, u *deliver.Deliverer) error
		// wantErr is the error Attempt must return (nil: none).
		wantErr error
		// wantEvents are the events appended to the delivery's stream.
		wantEvents []string
		// wantScheduled are the next attempts scheduled.
		wantScheduled []time.Time
		// wantSent is how many requests went out.
		wantSent int
		// check holds further assertions.
		check func(t *testing.T, f *fixture)
	}{{
		name:       "success is recorded and nothing more is scheduled",
		wantEvents: []string{delivery.EventAttempted, delivery.EventSucceeded}, wantSent: 1,
		check: func(t *testing.T, f *fixture) {
			r := f.sender.sent[0]
			if r.URL != "https://receiver.example/hook" || string(r.Body) != `{"version":1}` ||
				r.Headers["webhook-id"] != f.id || r.Headers["secrets"] != "[whsec_current]" || r.WebhookID != "w1" {
				t.Errorf("sent %+v", r)
			}
		},
	}, {
		name:          "a retry code schedules the retry after the backoff",
		setup:         func(_ *testing.T, f *fixture) { f.sender.outcome = deliver.Outcome{Status: 503} },
		wantEvents:    []string{delivery.EventAttempted},
		wantScheduled: []time.Time{now.Add(time.Minute)}, wantSent: 1,
	}, {
		name:  "the last retry parks the delivery",
		setup: func(_ *testing.T, f *fixture) { f.sender.outcome = deliver.Outcome{ErrorClass: "refused"} },
		run: func(t *testing.T, f *fixture, u *deliver.Deliverer) error {
			if err := u.Attempt(t.Context(), f.id); err != nil {
				t.Fatal(err)
			}
			later := *f
			later.cfg.Clock = func() time.Time { return now.Add(time.Minute) }
			return later.deliverer(t).Attempt(t.Context(), f.id)
		},
		wantEvents:    []string{delivery.EventAttempted, delivery.EventAttempted, delivery.EventFailed},
		wantScheduled: []time.Time{now.Add(time.Minute)}, wantSent: 2,
	}, {
		name:       "a deleted webhook parks the delivery",
		setup:      func(_ *testing.T, f *fixture) { delete(f.targets, "w1") },
		wantEvents: []string{delivery.EventFailed},
		check: func(t *testing.T, f *fixture) {
			wantReason(t, f, delivery.ReasonWebhookDeleted)
			if !slices.Equal(f.sender.forgotten, []string{"w1"}) {
				t.Errorf("the sender forgot %v, want the deleted webhook", f.sender.forgotten)
			}
		},
	}, {
		name:       "a disabled webhook parks the delivery",
		setup:      func(_ *testing.T, f *fixture) { f.targets["w1"] = deliver.Webhook{Disabled: true} },
		wantEvents: []string{delivery.EventFailed},
		check:      func(t *testing.T, f *fixture) { wantReason(t, f, delivery.ReasonWebhookDisabled) },
	}, {
		name: "a rate limit defers the delivery without spending an attempt",
		setup: func(_ *testing.T, f *fixture) {
			w := f.targets["w1"]
			w.RateLimit = 1
			f.targets["w1"] = w
		},
		run: func(t *testing.T, f *fixture, u *deliver.Deliverer) error {
			// A second delivery to the same webhook takes the one token of this second first.
			other := f.deliveries.add(t, delivery.Scheduling{
				EventID: "e0", WebhookID: "w1", TenantID: "t1", CommunityID: "c1", EventName: "user.created",
				Body: `{}`, Settings: delivery.Snapshot{API: webhook.Endpoint{URL: "https://receiver.example/hook"}, Policy: retryOnce}, At: now,
			})
			if err := u.Attempt(t.Context(), other); err != nil {
				t.Fatal(err)
			}
			return u.Attempt(t.Context(), f.id)
		},
		wantScheduled: []time.Time{now.Add(time.Second)}, wantSent: 1,
	}, {
		name: "a node's share of a rate limit defers the delivery",
		setup: func(_ *testing.T, f *fixture) {
			w := f.targets["w1"]
			w.RateLimit = 3
			f.targets["w1"] = w
			f.cfg.Share = func(limit int) int { return limit / 3 } // one of three nodes
		},
		run: func(t *testing.T, f *fixture, u *deliver.Deliverer) error {
			// 3 a second for the cluster is 1 for this node: another delivery takes it first.
			other := f.deliveries.add(t, delivery.Scheduling{
				EventID: "e0", WebhookID: "w1", TenantID: "t1", CommunityID: "c1", EventName: "user.created",
				Body: `{}`, Settings: delivery.Snapshot{API: webhook.Endpoint{URL: "https://receiver.example/hook"}, Policy: retryOnce}, At: now,
			})
			if err := u.Attempt(t.Context(), other); err != nil {
				t.Fatal(err)
			}
			return u.Attempt(t.Context(), f.id)
		},
		wantScheduled: []time.Time{now.Add(time.Second)}, wantSent: 1,
	}, {
		name: "a node's share of the endpoint concurrency defers the delivery",
		setup: func(_ *testing.T, f *fixture) {
			f.cfg.EndpointConcurrency = 3
			f.cfg.Share = func(limit int) int { return limit / 3 }
		},
		run: func(t *testing.T, f *fixture, u *deliver.Deliverer) error {
			other := f.deliveries.add(t, delivery.Scheduling{
				EventID: "e0", WebhookID: "w1", TenantID: "t1", CommunityID: "c1", EventName: "user.created",
				Body: `{}`, Settings: delivery.Snapshot{API: webhook.Endpoint{URL: "https://receiver.example/other-path"}, Policy: retryOnce}, At: now,
			})
			var during error
			f.sender.during = func(r deliver.Request) {
				f.sender.during = nil
				during = u.Attempt(t.Context(), f.id)
			}
			if err := u.Attempt(t.Context(), other); err != nil {
				t.Fatal(err)
			}
			return during
		},
		wantSent: 1,
		check: func(t *testing.T, f *fixture) {
			if len(f.scheduler.got) != 1 || f.scheduler.got[0].id != f.id || f.scheduler.got[0].at.Before(now.Add(deliver.BusyEndpointDelay)) {
				t.Errorf("scheduled %v, want %s once, after %s", f.scheduler.got, f.id, deliver.BusyEndpointDelay)
			}
		},
	}, {
		name:  "an endpoint at its concurrency limit defers the delivery",
		setup: func(_ *testing.T, f *fixture) { f.cfg.EndpointConcurrency = 1 },
		run: func(t *testing.T, f *fixture, u *deliver.Deliverer) error {
			// While another delivery's attempt to the same endpoint is in flight, this one is due.
			other := f.deliveries.add(t, delivery.Scheduling{
				EventID: "e0", WebhookID: "w1", TenantID: "t1", CommunityID: "c1", EventName: "user.created",
				Body: `{}`, Settings: delivery.Snapshot{API: webhook.Endpoint{URL: "https://receiver.example/other-path"}, Policy: retryOnce}, At: now,
			})
			var during error
			f.sender.during = func(r deliver.Request) {
				f.sender.during = nil
				during = u.Attempt(t.Context(), f.id)
			}
			if err := u.Attempt(t.Context(), other); err != nil {
				t.Fatal(err)
			}
			return during
		},
		wantSent: 1,
		check: func(t *testing.T, f *fixture) {
			if len(f.scheduler.got) != 1 || f.scheduler.got[0].id != f.id ||
				f.scheduler.got[0].at.Before(now.Add(deliver.BusyEndpointDelay)) || !f.scheduler.got[0].at.Before(now.Add(2*deliver.BusyEndpointDelay)) {
				t.Errorf("scheduled %v, want %s once, within %s..%s", f.scheduler.got, f.id, deliver.BusyEndpointDelay, 2*deliver.BusyEndpointDelay)
			}
		},
	}, {
		name: "a secret that does not open parks the delivery",
		setup: func(_ *testing.T, f *fixture) {
			f.targets["w1"] = deliver.Webhook{Secrets: func() ([]string, error) { return nil, errors.New("sealed under another key") }}
		},
		wantEvents: []string{delivery.EventFailed},
		check:      func(t *testing.T, f *fixture) { wantReason(t, f, delivery.ReasonSecretUnopenable) },
	}, {
		name:       "a secret that cannot sign parks the delivery",
		setup:      func(_ *testing.T, f *fixture) { f.signer.err = fmt.Errorf("%w: too short", deliver.ErrSecretUnusable) },
		wantEvents: []string{delivery.EventFailed},
		check:      func(t *testing.T, f *fixture) { wantReason(t, f, delivery.ReasonSecretUnopenable) },
	}, {
		name: "the delivery's own credential that does not open parks it",
		setup: func(_ *testing.T, f *fixture) {
			f.deliveries.loadErr = fmt.Errorf("%w: old key", eventcodec.ErrUnopenable)
		},
		wantEvents: []string{delivery.EventFailed},
		check:      func(t *testing.T, f *fixture) { wantReason(t, f, delivery.ReasonSecretUnopenable) },
	}, {
		name:  "a store conflict drops this attempt's record",
		setup: func(_ *testing.T, f *fixture) { f.deliveries.conflict = true },
		// The other writer's attempt stands; nothing of this one is appended or scheduled.
		wantEvents: []string{delivery.EventAttempted}, wantSent: 1,
	}, {
		name:          "a store error schedules the delivery again",
		setup:         func(_ *testing.T, f *fixture) { f.deliveries.saveErr = errStore },
		wantScheduled: []time.Time{now.Add(deliver.StoreRetryDelay)}, wantSent: 1,
	}, {
		name:          "a failed load schedules the delivery again",
		setup:         func(_ *testing.T, f *fixture) { f.deliveries.loadErr = errStore },
		wantScheduled: []time.Time{now.Add(deliver.StoreRetryDelay)},
	}, {
		name: "an attempt cut short by a shutdown is not recorded",
		setup: func(_ *testing.T, f *fixture) {
			f.sender.outcome = deliver.Outcome{ErrorClass: "canceled", Canceled: true}
		},
		wantErr: deliver.ErrCanceled, wantSent: 1,
	}, {
		name: "a scheduler error is returned",
		setup: func(_ *testing.T, f *fixture) {
			f.sender.outcome = deliver.Outcome{Status: 503}
			f.scheduler.err = errStore
		},
		wantErr: errStore, wantEvents: []string{delivery.EventAttempted}, wantSent: 1,
	}, {
		name: "a delivery not yet due is scheduled for when it is",
		run: func(t *testing.T, f *fixture, u *deliver.Deliverer) error {
			f.sender.outcome = deliver.Outcome{Status: 503}
			if err := u.Attempt(t.Context(), f.id); err != nil {
				t.Fatal(err)
			}
			return u.Attempt(t.Context(), f.id) // handed out early
		},
		wantEvents:    []string{delivery.EventAttempted},
		wantScheduled: []time.Time{now.Add(time.Minute), now.Add(time.Minute)}, wantSent: 1,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, retryOnce)
			if tc.setup != nil {
				tc.setup(t, f)
			}
			u := f.deliverer(t)
			run := tc.run
			if run == nil {
				run = func(t *testing.T, f *fixture, u *deliver.Deliverer) error { return u.Attempt(t.Context(), f.id) }
			}
			err := run(t, f, u)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Errorf("Attempt returned %v, want %v", err, tc.wantErr)
			}
			if got := f.deliveries.typesAfter(f.id, 1); !slices.Equal(got, tc.wantEvents) {
				t.Errorf("appended %v, want %v", got, tc.wantEvents)
			}
			if tc.check == nil || tc.wantScheduled != nil {
				var got []time.Time
				for _, s := range f.scheduler.got {
					if s.id == f.id {
						got = append(got, s.at)
					}
				}
				if !slices.EqualFunc(got, tc.wantScheduled, time.Time.Equal) {
					t.Errorf("scheduled at %v, want %v", got, tc.wantScheduled)
				}
			}
			if len(f.sender.sent) != tc.wantSent {
				t.Errorf("sent %d requests, want %d", len(f.sender.sent), tc.wantSent)
			}
			if tc.check != nil {
				tc.check(t, f)
			}
		})
	}
}

// wantReason checks that the delivery was parked for reason.
func wantReason(t *testing.T, f *fixture, reason string) {
	t.Helper()
	f.deliveries.mu.Lock()
	defer f.deliveries.mu.Unlock()
	history := f.deliveries.streams[f.id]
	failed, ok := history[len(history)-1].(delivery.Failed)
	if !ok || failed.Reason != reason {
		t.Errorf("last event %#v, want DeliveryFailed for %s", history[len(history)-1], reason)
	}
}

// TestAttemptPlatformDelivery: a platform event goes to WEBHOOK_URL signed with WEBHOOK_SECRET,
// whatever webhooks exist.
func TestAttemptPlatformDelivery(t *testing.T) {
	t.Parallel()
	f := newFixture(t, retryOnce)
	id := f.deliveries.add(t, delivery.Scheduling{
		EventID: "e2", WebhookID: platform.WebhookID, TenantID: platform.Scope, CommunityID: platform.Scope, EventName: "license.created",
		Body: `{}`, Settings: platform.Target("https://platform.example/hook"), At: now,
	})
	f.cfg.PlatformURL, f.cfg.PlatformSecret = "https://platform.example/hook", "whsec_platform"
	if err := f.deliverer(t).Attempt(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	if len(f.sender.sent) != 1 || f.sender.sent[0].URL != "https://platform.example/hook" || f.sender.sent[0].Headers["secrets"] != "[whsec_platform]" {
		t.Errorf("sent %+v, want one request to WEBHOOK_URL signed with WEBHOOK_SECRET", f.sender.sent)
	}
	if got := f.deliveries.typesAfter(id, 1); !slices.Equal(got, []string{delivery.EventAttempted, delivery.EventSucceeded}) {
		t.Errorf("appended %v", got)
	}
}

// cosmoVectors is testdata cosmo-signature.json (internal/testvectors): events, their payloads and
// the bodies Cosmo's receivers expect.
type cosmoVectors struct {
	Cases []struct {
		Name    string `json:"name"`
		Event   string `json:"event"`
		Payload string `json:"payload_json"`
		Body    string `json:"body"`
	} `json:"cases"`
}

// A delivery in body format 1 sends the body built from its published event: for the known
// answers, exactly the bytes Cosmo's receivers expect, on every attempt.
func TestAttemptSendsTheBodyBuiltFromTheEvent(t *testing.T) {
	t.Parallel()
	var v cosmoVectors
	testvectors.Load(t, "cosmo-signature.json", &v)
	if len(v.Cases) == 0 {
		t.Fatal("cosmo-signature.json has no cases")
	}
	for i, tc := range v.Cases {
		t.Run(tc.Name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, retryOnce)
			eventID := fmt.Sprintf("event-%d", i)
			f.events = newEventLog(publication.Published{EventID: eventID, TenantID: "t1", CommunityID: "c1",
				Name: tc.Event, Payload: json.RawMessage(tc.Payload)})
			id := f.deliveries.add(t, delivery.Scheduling{
				EventID: eventID, WebhookID: "w1", TenantID: "t1", CommunityID: "c1", EventName: tc.Event,
				BodyFormat: delivery.BodyBuiltV1,
				Settings:   delivery.Snapshot{API: webhook.Endpoint{URL: "https://receiver.example/hook"}, Policy: retryOnce},
				At:         now,
			})
			f.sender.outcome = deliver.Outcome{Status: 503}
			u := f.deliverer(t)
			if err := u.Attempt(t.Context(), id); err != nil {
				t.Fatal(err)
			}
			later := *f
			later.cfg.Clock = func() time.Time { return now.Add(time.Hour) }
			if err := later.deliverer(t).Attempt(t.Context(), id); err != nil {
				t.Fatal(err)
			}
			if len(f.sender.sent) != 2 {
				t.Fatalf("sent %d requests, want the attempt and its retry", len(f.sender.sent))
			}
			for _, r := range f.sender.sent {
				if string(r.Body) != tc.Body {
					t.Errorf("sent\n%s\nwant\n%s", r.Body, tc.Body)
				}
			}
		})
	}
}

// A delivery whose body cannot be had is parked without a request: event_expired when its published
// event is gone, body_unbuildable when its format is not one this version builds or it was recorded
// without a body. A log that fails parks nothing: the attempt is made again later.
func TestAttemptWithoutABody(t *testing.T) {
	t.Parallel()
	scheduled := func(format int, body string) delivery.Scheduled {
		return delivery.Scheduled{DeliveryID: "d1", EventID: "e1", WebhookID: "w1", TenantID: "t1", CommunityID: "c1",
			Name: "user.created", Body: body, BodyFormat: format, ScheduledAt: now,
			Settings: delivery.Snapshot{API: webhook.Endpoint{URL: "https://receiver.example/hook"}, Policy: retryOnce}}
	}
	for _, tc := range []struct {
		name       string
		scheduled  delivery.Scheduled
		logErr     error
		wantReason string
	}{
		{"event gone", scheduled(delivery.BodyBuiltV1, ""), nil, delivery.ReasonEventExpired},
		{"format 2", scheduled(2, ""), nil, delivery.ReasonBodyUnbuildable},
		{"format 0 without a body", scheduled(delivery.BodyRecorded, ""), nil, delivery.ReasonBodyUnbuildable},
		{"the log fails", scheduled(delivery.BodyBuiltV1, ""), errStore, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, retryOnce)
			f.id = "d1"
			f.deliveries.streams["d1"] = []delivery.Event{tc.scheduled}
			f.events.err = tc.logErr
			if err := f.deliverer(t).Attempt(t.Context(), "d1"); err != nil {
				t.Fatal(err)
			}
			if len(f.sender.sent) != 0 {
				t.Errorf("sent %d requests, want none", len(f.sender.sent))
			}
			if tc.wantReason == "" {
				if got := f.deliveries.typesAfter("d1", 1); len(got) != 0 || len(f.scheduler.got) != 1 ||
					!f.scheduler.got[0].at.Equal(now.Add(deliver.StoreRetryDelay)) {
					t.Errorf("appended %v, scheduled %v; want nothing appended and a try after %v", got, f.scheduler.got, deliver.StoreRetryDelay)
				}
				return
			}
			wantReason(t, f, tc.wantReason)
		})
	}
}
