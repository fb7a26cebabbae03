package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hookd/hookd/domain/delivery"
	"github.com/hookd/hookd/domain/platform"
)

// outageReceiver answers 503 while it is down and 200 once up, and counts each delivery's requests
// and the ones that arrived (200).
type outageReceiver struct {
	mu       sync.Mutex
	down     bool
	requests map[string]int
	arrived  map[string]bool
	first    time.Time
	srv      *httptest.Server
}

func newOutageReceiver(t *testing.T) *outageReceiver {
	r := &outageReceiver{down: true, requests: map[string]int{}, arrived: map[string]bool{}}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		_, _ = io.Copy(io.Discard, req.Body)
		id := req.Header.Get("Webhook-Id")
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.first.IsZero() {
			r.first = time.Now()
		}
		r.requests[id]++
		if r.down {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		r.arrived[id] = true
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *outageReceiver) snapshot() (first time.Time, requests, arrived int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, n := range r.requests {
		requests += n
	}
	return r.first, requests, len(r.arrived)
}

// apiHealthJSON is the health object of GET .../webhook/{id}.
type apiHealthJSON struct {
	SuccessRate         *float64 `json:"successRate"`
	RecentAttempts      int      `json:"recentAttempts"`
	RecentFailures      int      `json:"recentFailures"`
	ConsecutiveFailures int      `json:"consecutiveFailures"`
	LastSuccessAt       *string  `json:"lastSuccessAt"`
	LastFailureAt       *string  `json:"lastFailureAt"`
	FailingSince        *string  `json:"failingSince"`
	Circuit             struct {
		State string `json:"state"`
	} `json:"circuit"`
	DisabledReason string `json:"disabledReason"`
}

func apiHealth(h *testHookd, scope, id string) (disabled bool, health apiHealthJSON) {
	h.t.Helper()
	var w struct {
		Disabled bool           `json:"disabled"`
		Health   *apiHealthJSON `json:"health"`
	}
	h.mustJSON(h.system(http.MethodGet, scope+"/webhook/"+id, nil), http.StatusOK, &w)
	if w.Health == nil {
		h.t.Fatal("GET webhook has no health")
	}
	return w.Disabled, *w.Health
}

// waitFor polls cond until it holds, failing the test after within (a bound that only catches a
// hang: the conditions follow what hookd did, not how fast).
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", within, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// An endpoint down (503) for longer than the retry schedule, then up: the circuit opens, the due
// deliveries wait (DeliveryDeferred, shown as waitingFor in the delivery log) without spending
// their retries, probes fail while it is down, and once it is up every one of 20 deliveries with
// the 1Kosmos model's 2 retries arrives.
func TestBreakerOutageThenRecovery(t *testing.T) {
	t.Parallel()
	rcv := newOutageReceiver(t)
	h := startHookd(t, map[string]string{"HOOKD_ALLOW_PRIVATE_TARGETS": "true",
		"HOOKD_BREAKER_COOLDOWN": "1s", "HOOKD_BREAKER_MAX_COOLDOWN": "2s", "HOOKD_BREAKER_MIN_ATTEMPTS": "5"})
	scope := apiScope("t1", "c1")
	hook := apiCreate(h, h.license, scope, map[string]any{
		"eventNames": []string{"E"}, "name": "flaky", "api": map[string]any{"url": rcv.srv.URL},
		"successCodes": []int{200}, "retryCodes": []int{0, 503}, "retryCount": 2,
	})
	events := make([]map[string]any, 20)
	for i := range events {
		events[i] = map[string]any{"eventName": "E", "payload": map[string]any{"n": i}}
	}
	var batch struct{ IDs []string }
	apiPublish(h, h.license, scope, events, &batch)
	published := batch.IDs

	// Down until the circuit has opened and a probe has failed, and for longer than the whole
	// retry schedule (about 1 s then 5 s) since the first request.
	waitFor(t, 60*time.Second, "the circuit did not open and reopen", func() bool {
		return countOf(apiHistoryTypes(h, scope, hook.ID), "WebhookCircuitOpened") >= 2
	})
	var page struct {
		Data []struct {
			Status     string `json:"status"`
			WaitingFor string `json:"waitingFor"`
		} `json:"data"`
	}
	h.mustJSON(h.system(http.MethodPost, scope+"/webhook/"+hook.ID+"/deliveries/fetch", map[string]any{"pSize": 100}), http.StatusOK, &page)
	waiting := 0
	for _, d := range page.Data {
		if d.Status == "failed" {
			t.Fatalf("a delivery was parked during the outage: %+v", page.Data)
		}
		if d.WaitingFor == delivery.DeferReasonCircuitOpen {
			waiting++
		}
	}
	if waiting == 0 {
		t.Errorf("no delivery shows that it waits for the circuit: %+v", page.Data)
	}
	if _, health := apiHealth(h, scope, hook.ID); health.Circuit.State == "closed" || health.ConsecutiveFailures < 5 ||
		health.FailingSince == nil || health.LastSuccessAt != nil {
		t.Errorf("health during the outage: %+v", health)
	}
	first, _, _ := rcv.snapshot()
	waitFor(t, 60*time.Second, "the outage did not outlast the retry schedule", func() bool {
		return time.Since(first) > 8*time.Second
	})
	_, duringOutage, _ := rcv.snapshot()
	rcv.mu.Lock()
	rcv.down = false
	rcv.mu.Unlock()

	waitFor(t, 60*time.Second, "not every delivery arrived", func() bool {
		_, _, arrived := rcv.snapshot()
		return arrived == len(published)
	})
	for _, eventID := range published {
		d := waitDelivery(t, h, deliveryIDOf(t, h, eventID, hook.ID))
		if d.Status() != delivery.StatusSucceeded {
			t.Errorf("delivery of %s: %v", eventID, d.Status())
		}
	}
	// Without the breaker, 20 deliveries make 60 requests in the first 6 seconds and are parked.
	if duringOutage >= 3*len(published) {
		t.Errorf("%d requests during the outage: the circuit did not hold deliveries back", duringOutage)
	}
	waitFor(t, 30*time.Second, "the health does not show the recovery", func() bool {
		_, health := apiHealth(h, scope, hook.ID)
		return health.Circuit.State == "closed" && health.ConsecutiveFailures == 0 && health.LastSuccessAt != nil &&
			health.FailingSince == nil
	})
	if types := apiHistoryTypes(h, scope, hook.ID); !slices.Contains(types, "WebhookCircuitClosed") {
		t.Errorf("history %v has no WebhookCircuitClosed", types)
	}
}

func countOf(list []string, s string) int {
	n := 0
	for _, x := range list {
		if x == s {
			n++
		}
	}
	return n
}

// A 410 Gone disables the webhook at once, reason gone, the system as actor; WEBHOOK_URL gets
// WEBHOOK_DISABLED; enabling it again through the API resets its health.
func TestGoneDisablesTheWebhookAndAnnouncesIt(t *testing.T) {
	t.Parallel()
	gone := newReceiver(t, http.StatusGone)
	platformRcv := newReceiver(t, http.StatusOK)
	h := startHookd(t, map[string]string{"HOOKD_ALLOW_PRIVATE_TARGETS": "true", "WEBHOOK_URL": platformRcv.srv.URL})
	scope := apiScope("t1", "c1")
	hook := apiCreate(h, h.license, scope, map[string]any{
		"eventNames": []string{"E"}, "name": "gone", "api": map[string]any{"url": gone.srv.URL},
		"successCodes": []int{200}, "retryCodes": []int{0, 503}, "retryCount": 2,
	})
	apiPublish(h, h.license, scope, map[string]any{"eventName": "E", "payload": map[string]any{"n": 1}}, nil)
	gone.wait(1, 30*time.Second)

	announced := platformRcv.wait(1, 30*time.Second)[0]
	var body struct {
		Event   string `json:"event"`
		Payload struct {
			WebhookID   string `json:"webhook_id"`
			TenantID    string `json:"tenant_id"`
			CommunityID string `json:"community_id"`
			Reason      string `json:"reason"`
			DisabledAt  string `json:"disabled_at"`
		} `json:"payload"`
	}
	if err := json.Unmarshal(announced.body, &body); err != nil {
		t.Fatal(err)
	}
	if body.Event != platform.WebhookDisabled || body.Payload.WebhookID != hook.ID || body.Payload.Reason != "gone" ||
		body.Payload.TenantID != "t1" || body.Payload.CommunityID != "c1" || body.Payload.DisabledAt == "" {
		t.Errorf("WEBHOOK_URL got %s", announced.body)
	}
	disabled, health := apiHealth(h, scope, hook.ID)
	if !disabled || health.DisabledReason != "gone" || health.RecentAttempts != 1 || health.RecentFailures != 1 {
		t.Errorf("after a 410: disabled %v, health %+v", disabled, health)
	}
	wantDisabledBySystem(t, h, scope, hook.ID, "gone")

	// Enabled again by sending back the webhook as GET showed it, health included (read-only, ignored).
	var asFetched map[string]any
	h.mustJSON(h.system(http.MethodGet, scope+"/webhook/"+hook.ID, nil), http.StatusOK, &asFetched)
	asFetched["disabled"] = false
	h.mustJSON(h.system(http.MethodPatch, scope+"/webhook/"+hook.ID, asFetched), http.StatusOK, nil)
	disabled, health = apiHealth(h, scope, hook.ID)
	if disabled || health.RecentAttempts != 0 || health.DisabledReason != "" || health.FailingSince != nil || health.Circuit.State != "closed" {
		t.Errorf("enabled again: disabled %v, health %+v; want it reset", disabled, health)
	}
	time.Sleep(200 * time.Millisecond)
	if n := platformRcv.count(); n != 1 {
		t.Errorf("WEBHOOK_URL got %d requests, want one WEBHOOK_DISABLED", n)
	}
}

// An endpoint that fails without a success for HOOKD_DISABLE_AFTER (2 s here) is disabled on its
// next failure, reason failing, the system as actor; WEBHOOK_URL gets WEBHOOK_DISABLED saying since
// when it failed, and the times hookd recorded show it waited the whole period.
func TestFailingEndpointIsDisabledAndAnnounced(t *testing.T) {
	t.Parallel()
	down := newReceiver(t, http.StatusServiceUnavailable)
	platformRcv := newReceiver(t, http.StatusOK)
	// The breaker off, so that each retry is an attempt: about 1 s, then 5 s after the first.
	h := startHookd(t, map[string]string{"HOOKD_ALLOW_PRIVATE_TARGETS": "true", "WEBHOOK_URL": platformRcv.srv.URL,
		"HOOKD_DISABLE_AFTER": "2s", "HOOKD_BREAKER_MIN_ATTEMPTS": "0"})
	scope := apiScope("t1", "c1")
	hook := apiCreate(h, h.license, scope, map[string]any{
		"eventNames": []string{"E"}, "name": "dead", "api": map[string]any{"url": down.srv.URL},
		"successCodes": []int{200}, "retryCodes": []int{503}, "retryCount": 2,
	})
	apiPublish(h, h.license, scope, map[string]any{"eventName": "E", "payload": map[string]any{"n": 1}}, nil)

	announced := platformRcv.wait(1, 60*time.Second)[0]
	var body struct {
		Event   string `json:"event"`
		Payload struct {
			WebhookID    string    `json:"webhook_id"`
			Reason       string    `json:"reason"`
			DisabledAt   time.Time `json:"disabled_at"`
			FailingSince time.Time `json:"failing_since"`
		} `json:"payload"`
	}
	if err := json.Unmarshal(announced.body, &body); err != nil {
		t.Fatal(err)
	}
	p := body.Payload
	if body.Event != platform.WebhookDisabled || p.WebhookID != hook.ID || p.Reason != "failing" || p.FailingSince.IsZero() {
		t.Fatalf("WEBHOOK_URL got %s", announced.body)
	}
	if failedFor := p.DisabledAt.Sub(p.FailingSince); failedFor < 2*time.Second {
		t.Errorf("disabled after failing for %v, want at least HOOKD_DISABLE_AFTER (2s): %s", failedFor, announced.body)
	}
	disabled, health := apiHealth(h, scope, hook.ID)
	if !disabled || health.DisabledReason != "failing" || health.LastSuccessAt != nil || health.RecentFailures < 2 {
		t.Errorf("after failing for HOOKD_DISABLE_AFTER: disabled %v, health %+v", disabled, health)
	}
	wantDisabledBySystem(t, h, scope, hook.ID, "failing")
}

// wantDisabledBySystem checks that the webhook's history ends with its disabling by hookd itself,
// for reason.
func wantDisabledBySystem(t *testing.T, h *testHookd, scope, id, reason string) {
	t.Helper()
	var hist struct {
		Data []struct {
			Type   string `json:"type"`
			Actor  string `json:"actor"`
			Reason string `json:"reason"`
		} `json:"data"`
	}
	h.mustJSON(h.system(http.MethodGet, scope+"/webhook/"+id+"/history", nil), http.StatusOK, &hist)
	if last := hist.Data[len(hist.Data)-1]; last.Type != "WebhookDisabled" || last.Actor != "hookd-system" || last.Reason != reason {
		t.Errorf("history ends with %+v, want WebhookDisabled by hookd-system, reason %s", last, reason)
	}
}
