package webhook_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/hookd/hookd/domain/webhook"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func TestHealthRecordsFailuresSinceTheLastSuccess(t *testing.T) {
	t.Parallel()
	var h webhook.Health
	h = h.Record(t0, true).Record(t0.Add(time.Second), false).Record(t0.Add(2*time.Second), false)
	if h.ConsecutiveFailures != 2 || !h.FailingSince.Equal(t0.Add(time.Second)) || !h.LastSuccessAt.Equal(t0) ||
		!h.LastFailureAt.Equal(t0.Add(2*time.Second)) {
		t.Fatalf("after a success and two failures: %+v", h)
	}
	if got := h.FailingFor(t0.Add(time.Hour)); got != time.Hour-time.Second {
		t.Errorf("FailingFor = %v", got)
	}
	if rate, ok := h.SuccessRate(); !ok || rate != 1.0/3 {
		t.Errorf("SuccessRate = %v, %v", rate, ok)
	}
	h = h.Record(t0.Add(3*time.Second), true)
	if h.ConsecutiveFailures != 0 || !h.FailingSince.IsZero() || h.FailingFor(t0.Add(time.Hour)) != 0 {
		t.Errorf("a success did not end the failing streak: %+v", h)
	}
}

func TestHealthKeepsMaxRecentAndRoundTripsJSON(t *testing.T) {
	t.Parallel()
	var h webhook.Health
	for i := range webhook.MaxRecent + 10 {
		h = h.Record(t0.Add(time.Duration(i)*time.Millisecond), i%2 == 0)
	}
	if len(h.Recent) != webhook.MaxRecent || !h.Recent[0].At.Equal(t0.Add(10*time.Millisecond)) {
		t.Fatalf("kept %d, first at %v", len(h.Recent), h.Recent[0].At)
	}
	data, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	var back webhook.Health
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	for i := range h.Recent {
		if !back.Recent[i].At.Equal(h.Recent[i].At) || back.Recent[i].OK != h.Recent[i].OK {
			t.Fatalf("recent[%d] = %+v, want %+v", i, back.Recent[i], h.Recent[i])
		}
	}
}

func TestBreakerTripsOnTheFailureRateOverTheWindowWithAMinimum(t *testing.T) {
	t.Parallel()
	b := webhook.Breaker{Window: time.Minute, MinAttempts: 4, FailureRate: 0.5, CoolDown: 10 * time.Second, MaxCoolDown: 35 * time.Second}
	if err := b.Validate(); err != nil {
		t.Fatal(err)
	}
	var h webhook.Health
	h = h.Record(t0, false).Record(t0, false).Record(t0, false)
	if b.Trips(h, t0) {
		t.Error("tripped below the minimum of attempts")
	}
	h = h.Record(t0, true)
	if !b.Trips(h, t0) {
		t.Error("3 failures of 4 did not trip")
	}
	if b.Trips(h, t0.Add(time.Minute)) {
		t.Error("attempts outside the window tripped it")
	}
	if b.Trips(h.Record(t0, true).Record(t0, true).Record(t0, true), t0) {
		t.Error("3 failures of 7 tripped a 50% breaker")
	}
	b.MinAttempts = 0
	if b.Validate() != nil || b.Trips(h, t0) {
		t.Error("a breaker with no minimum (off) tripped")
	}
}

func TestCircuitCoolDownDoublesUpToTheCapAndEnablingCloses(t *testing.T) {
	t.Parallel()
	b := webhook.Breaker{Window: time.Minute, MinAttempts: 1, FailureRate: 1, CoolDown: 10 * time.Second, MaxCoolDown: 35 * time.Second}
	w := newWebhook(t)
	now := t0
	for _, want := range []time.Duration{10 * time.Second, 20 * time.Second, 35 * time.Second, 35 * time.Second} {
		if err := w.OpenCircuit(b, now, 1, 1); err != nil {
			t.Fatal(err)
		}
		c := w.Circuit()
		if c.CoolDown != want || !c.Until.Equal(now.Add(want)) || c.State(now) != webhook.StateOpen {
			t.Fatalf("circuit %+v, want a cool-down of %v", c, want)
		}
		if err := w.OpenCircuit(b, now.Add(time.Second), 1, 1); !errors.Is(err, webhook.ErrCircuitOpen) {
			t.Fatalf("opening an open circuit: %v", err)
		}
		now = c.Until
		if c.State(now) != webhook.StateHalfOpen {
			t.Fatalf("state at the cool-down's end: %v", c.State(now))
		}
	}
	if err := w.CloseCircuit(now); err != nil || w.Circuit().State(now) != webhook.StateClosed {
		t.Fatalf("close: %v, %+v", err, w.Circuit())
	}
	if err := w.OpenCircuit(b, now, 1, 1); err != nil || w.Circuit().CoolDown != 10*time.Second {
		t.Fatalf("after closing, the cool-down starts again: %v %+v", err, w.Circuit())
	}
	if err := w.DisableFor(webhook.DisabledFailing, t0); err != nil {
		t.Fatal(err)
	}
	if err := w.Enable(); err != nil || w.Circuit().Open {
		t.Fatalf("enabling kept the circuit: %v %+v", err, w.Circuit())
	}
}

func TestDisableForRecordsTheReason(t *testing.T) {
	t.Parallel()
	w := newWebhook(t)
	if err := w.DisableFor("tired", t0); err == nil {
		t.Fatal("an unknown reason was taken")
	}
	if err := w.DisableFor(webhook.DisabledGone, time.Time{}); err != nil {
		t.Fatal(err)
	}
	changes := w.Changes()
	d, ok := changes[len(changes)-1].(webhook.Disabled)
	if !ok || d.Reason != webhook.DisabledGone || d.TenantID != w.TenantID() || !w.Disabled() {
		t.Fatalf("recorded %+v", changes[len(changes)-1])
	}
	n := len(w.Changes())
	if err := w.DisableFor(webhook.DisabledFailing, t0); err != nil || len(w.Changes()) != n {
		t.Fatalf("disabling a disabled webhook recorded something: %v", err)
	}
}

func newWebhook(t *testing.T) *webhook.Webhook {
	t.Helper()
	w, err := webhook.Create(webhook.Creation{ID: "w1", TenantID: "t1", CommunityID: "c1", Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
		Settings: webhook.Settings{Name: "n", EventNames: []string{"E"}, API: webhook.Endpoint{URL: "https://example.com/h"}, SuccessCodes: []int{200}}})
	if err != nil {
		t.Fatal(err)
	}
	return w
}
