package main

import (
	"maps"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestDeliveryWindowRecoversMoreThanItHolds runs serve with room for 10 due deliveries in memory
// (HOOKD_DELIVERY_WINDOW). 100 events published at once are each delivered once (the window takes
// the overflow back from the log as it drains); `hookd replay` then makes all 100 due again while
// serve is stopped, and the next start recovers every one of them through the window, each sent
// once more.
func TestDeliveryWindowRecoversMoreThanItHolds(t *testing.T) {
	t.Parallel()
	const events = 100
	env := maps.Clone(deliveryEnv)
	env["HOOKD_DELIVERY_WINDOW"] = "10"
	rcv := newReceiver(t, http.StatusOK)
	dir := t.TempDir()
	h := startHookdIn(t, dir, env)
	scope := apiScope("t1", "c1")
	hook := apiMinimal("windowed")
	hook["api"] = map[string]any{"url": rcv.srv.URL + "/in"}
	w := apiCreate(h, h.license, scope, hook)
	batch := make([]map[string]any, events)
	for i := range batch {
		batch[i] = map[string]any{"eventName": "E_LOGIN", "payload": map[string]any{"n": i}}
	}
	apiPublish(h, h.license, scope, batch, nil)
	sentOnce := func(got []received, times int) {
		t.Helper()
		per := map[string]int{}
		for _, r := range got {
			per[r.header.Get("Webhook-Id")]++
		}
		if len(per) != events {
			t.Errorf("%d deliveries sent, want %d", len(per), events)
		}
		for id, n := range per {
			if n != times {
				t.Errorf("delivery %s sent %d times, want %d", id, n, times)
			}
		}
	}
	apiEventually(t, 60*time.Second, "every delivery recorded as succeeded", func() bool {
		return apiDeliveries(h, scope, w.ID, map[string]any{"status": "succeeded", "pSize": 100}).Page.Total == events
	})
	sentOnce(rcv.wait(events, time.Second), 1)
	h.stop()

	out, err := h.runCLI("replay", "--tenant", "t1", "--community", "c1", "--webhook", w.ID, "--status", "succeeded")
	if err != nil || !strings.HasPrefix(out, "replayed 100 deliveries") {
		t.Fatalf("replay: %v %q", err, out)
	}
	h = startHookdIn(t, dir, env)
	apiEventually(t, 60*time.Second, "every replayed delivery recorded as succeeded again", func() bool {
		page := apiDeliveries(h, scope, w.ID, map[string]any{"status": "succeeded", "pSize": 100})
		if page.Page.Total != events {
			return false
		}
		for _, d := range page.Data {
			if len(d.Attempts) != 2 {
				return false
			}
		}
		return true
	})
	sentOnce(rcv.wait(2*events, time.Second), 2)
	if n := rcv.count(); n != 2*events {
		t.Errorf("the receiver got %d requests, want %d", n, 2*events)
	}
}

func TestConfigDeliveryWindow(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		value string
		want  int // 0: refused
	}{{"", defaultDeliveryWindow}, {"10", 10}, {"10000000", 10_000_000}, {"9", 0}, {"10000001", 0}, {"abc", 0}, {"-1", 0}} {
		cfg, err := configFromEnv(func(k string) string {
			if k == "HOOKD_DELIVERY_WINDOW" {
				return c.value
			}
			return ""
		})
		switch {
		case c.want == 0 && (err == nil || !strings.Contains(err.Error(), "HOOKD_DELIVERY_WINDOW")):
			t.Errorf("HOOKD_DELIVERY_WINDOW=%q: %v, want an error naming it", c.value, err)
		case c.want != 0 && (err != nil || cfg.DeliveryWindow != c.want):
			t.Errorf("HOOKD_DELIVERY_WINDOW=%q: %d, %v; want %d", c.value, cfg.DeliveryWindow, err, c.want)
		}
	}
}
