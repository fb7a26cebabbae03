package main

import (
	"bufio"
	"bytes"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/domain/delivery"
)

// scrape reads /metrics into a map from each series, as the exposition writes it (labels sorted by
// name), to its value.
func scrape(h *testHookd) map[string]float64 {
	h.t.Helper()
	r := h.do(http.MethodGet, "/metrics", nil, nil)
	if r.Status != http.StatusOK {
		h.t.Fatalf("/metrics: %d %s", r.Status, r.Body)
	}
	out := map[string]float64{}
	lines := bufio.NewScanner(bytes.NewReader(r.Body))
	lines.Buffer(nil, 1<<20)
	for lines.Scan() {
		line := lines.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		cut := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[cut+1:], 64)
		if err != nil {
			h.t.Fatalf("/metrics line %q: %v", line, err)
		}
		out[line[:cut]] = v
	}
	return out
}

// series returns the series of m whose name is name, by their labels ("" for none).
func series(m map[string]float64, name string) map[string]float64 {
	out := map[string]float64{}
	for k, v := range m {
		if k == name {
			out[""] = v
		} else if labels, ok := strings.CutPrefix(k, name+"{"); ok {
			out[strings.TrimSuffix(labels, "}")] = v
		}
	}
	return out
}

// TestMetricsAfterAKnownLoad runs a known load through a real server and reads /metrics: 5 events
// to a receiver answering 200, 2 to one answering 500 with one retry each (both parked, exhausted),
// 1 to one answering 400 (parked, rejected), 1 to a closed port (refused, parked, rejected), and 1
// whose payload cannot be made into a body (parked as it is scheduled). The counts are exact, the
// timings bounded by the counts, and once delivery is idle the lags, the backlog and the attempts
// in flight are 0. The delivery log shows each parked delivery's reason.
func TestMetricsAfterAKnownLoad(t *testing.T) {
	t.Parallel()
	ok, failing, rejecting := newReceiver(t, http.StatusOK), newReceiver(t, http.StatusInternalServerError), newReceiver(t, http.StatusBadRequest)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()

	h := startHookd(t, map[string]string{"HOOKD_ALLOW_PRIVATE_TARGETS": "true", "HOOKD_METRICS_LICENSES": "1"})
	scope := apiScope("t1", "c1")
	hook := func(event, url string, policy map[string]any) string {
		body := map[string]any{"eventNames": []string{event}, "name": event, "api": map[string]any{"url": url}, "successCodes": []int{200}}
		for k, v := range policy {
			body[k] = v
		}
		return apiCreate(h, h.license, scope, body).ID
	}
	okHook := hook("OK", ok.srv.URL, nil)
	failingHook := hook("FAILING", failing.srv.URL, map[string]any{"retryCodes": []int{500}, "retryCount": 1})
	rejectingHook := hook("REJECTED", rejecting.srv.URL, map[string]any{"retryCodes": []int{503}, "retryCount": 0})
	closedHook := hook("CLOSED", closed, map[string]any{"retryCodes": []int{503}, "retryCount": 0})
	poisonHook := hook("POISON", ok.srv.URL, nil)
	requests := 5 // the system license's, counted below
	publish := func(event string, n int) {
		for i := range n {
			apiPublish(h, h.license, scope, map[string]any{"eventName": event, "payload": map[string]any{"i": i}}, nil)
			requests++
		}
	}
	publish("OK", 5)
	publish("FAILING", 2)
	publish("REJECTED", 1)
	publish("CLOSED", 1)
	poison := appendPublished(t, h, "t1", "c1", "POISON", []byte(`{"a":`+strings.Repeat("[", 600)+strings.Repeat("]", 600)+`}`))

	// Idle: every attempt made and recorded, the read models and the dispatcher at the log's head.
	var m map[string]float64
	deadline := time.Now().Add(60 * time.Second)
	for {
		m = scrape(h)
		idle := m[`hookd_delivery_attempts_total{error_class="none",outcome="5xx"}`] == 4 &&
			m[`hookd_deliveries_parked_total{reason="exhausted"}`] == 2 && m[`hookd_deliveries_parked_total{reason="rejected"}`] == 2 &&
			m[`hookd_delivery_accept_to_deliver_seconds_count`] == 5 && m["hookd_dispatch_lag"] == 0
		for _, lag := range series(m, "hookd_projection_lag") {
			idle = idle && lag == 0
		}
		if idle {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivery not idle after 60 s: %v", m)
		}
		time.Sleep(50 * time.Millisecond)
	}

	for name, want := range map[string]map[string]float64{
		"hookd_delivery_attempts_total": {
			`error_class="none",outcome="2xx"`: 5, `error_class="none",outcome="5xx"`: 4,
			`error_class="none",outcome="4xx"`: 1, `error_class="refused",outcome="no_response"`: 1,
		},
		"hookd_delivery_attempt_duration_seconds_count": {"": 11},
		"hookd_deliveries_parked_total": {
			`reason="exhausted"`: 2, `reason="rejected"`: 2, `reason="body_unbuildable"`: 1,
			`reason="webhook_deleted"`: 0, `reason="webhook_disabled"`: 0, `reason="secret_unopenable"`: 0,
			`reason="event_expired"`: 0,
		},
		"hookd_delivery_accept_to_deliver_seconds_count": {"": 5},
		"hookd_delivery_attempts_in_flight":              {"": 0},
		"hookd_delivery_due_backlog":                     {"": 0},
		"hookd_dispatch_lag":                             {"": 0},
		"hookd_projection_lag": {
			`projection="webhooks"`: 0, `projection="licenses"`: 0, `projection="servicekeys"`: 0, `projection="deliveries"`: 0,
		},
	} {
		got := series(m, name)
		if len(got) != len(want) {
			t.Errorf("%s: %v, want %v", name, got, want)
			continue
		}
		for labels, v := range want {
			if g, ok := got[labels]; !ok || g != v {
				t.Errorf("%s{%s} = %v (present %v), want %v", name, labels, g, ok, v)
			}
		}
	}
	// Each attempt's time is within the test's; the latency of each delivery is at least its attempt's.
	if sum := m["hookd_delivery_attempt_duration_seconds_sum"]; !(sum > 0 && sum < 11*20) {
		t.Errorf("attempt durations sum to %v s", sum)
	}
	if sum := m["hookd_delivery_accept_to_deliver_seconds_sum"]; !(sum > 0 && sum < 5*60) {
		t.Errorf("accept-to-deliver latencies sum to %v s", sum)
	}
	// Appends: 5 webhooks, 9 events, 10 deliveries scheduled and 11 attempts recorded at least (the
	// poison's event was appended by another process), and no failure.
	if n := m[`hookd_log_append_duration_seconds_count{result="ok"}`]; n < 35 {
		t.Errorf("%v appends timed, want at least 35", n)
	}
	if n := m[`hookd_log_append_duration_seconds_count{result="error"}`]; n != 0 {
		t.Errorf("%v appends failed", n)
	}

	// The delivery log says why each parked delivery was parked.
	for _, c := range []struct {
		hook   string
		count  int
		reason string
	}{{failingHook, 2, delivery.ReasonExhausted}, {rejectingHook, 1, delivery.ReasonRejected},
		{closedHook, 1, delivery.ReasonRejected}, {poisonHook, 1, delivery.ReasonBodyUnbuildable}, {okHook, 5, ""}} {
		p := apiDeliveries(h, scope, c.hook, map[string]any{})
		requests++
		if len(p.Data) != c.count {
			t.Errorf("webhook %s: %d deliveries, want %d", c.hook, len(p.Data), c.count)
		}
		for _, d := range p.Data {
			got := ""
			if d.ParkReason != nil {
				got = *d.ParkReason
			}
			if got != c.reason || (c.reason != "") != (d.Status == "failed") {
				t.Errorf("delivery %s: status %s, parkReason %v, want %q", d.ID, d.Status, d.ParkReason, c.reason)
			}
		}
	}
	if p := apiDeliveries(h, scope, poisonHook, map[string]any{}); len(p.Data) != 1 || p.Data[0].ID != deliveryIDOf(t, h, poison, poisonHook) {
		t.Errorf("poison's delivery log: %+v", p.Data)
	}
	requests++

	// Per-license requests: the system license has the one series HOOKD_METRICS_LICENSES allows;
	// another license's requests count as "other".
	apiIssueLicense(h, "--level", "system")
	byLicense := series(scrape(h), "hookd_api_requests_by_license_total")
	if len(byLicense) != 2 || byLicense[`code="2xx",license="other"`] != 1 {
		t.Fatalf("requests by license: %v, want the system license's and one other", byLicense)
	}
	for labels, v := range byLicense {
		if labels != `code="2xx",license="other"` && (v != float64(requests) || !strings.HasPrefix(labels, `code="2xx",license="`)) {
			t.Errorf("requests by license {%s} = %v, want %d of the system license", labels, v, requests)
		}
	}
}
