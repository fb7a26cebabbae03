package platform_test

import (
	"errors"
	"testing"
	"time"

	"github.com/hookd/hookd/domain/delivery"
	"github.com/hookd/hookd/domain/platform"
	"github.com/hookd/hookd/domain/webhook"
)

func TestKnown(t *testing.T) {
	t.Parallel()
	// The names are Cosmo's wire names, spelled out here rather than through the constants, so that
	// a typo in a constant fails.
	for _, name := range []string{"USER_REGISTER_SUCCESS", "USER_DELETE_SUCCESS", "APOLLO_MIGRATE_INIT", "APOLLO_MIGRATE_SUCCESS"} {
		if !platform.Known(name) {
			t.Errorf("Known(%q) = false", name)
		}
	}
	for _, name := range []string{
		"", "user_register_success", "User_Register_Success", " USER_REGISTER_SUCCESS", "USER_REGISTER_SUCCESS ",
		"USER_REGISTER", "USER_DELETE_FAILURE",
		// Organization events go to organization webhooks, not to WEBHOOK_URL.
		"FEDERATED_GRAPH_SCHEMA_UPDATED", "MONOGRAPH_SCHEMA_UPDATED", "PROPOSAL_STATE_UPDATED", "VALIDATE_CONFIG",
		// hookd's own event: only hookd publishes it, so that a license cannot fake a disable.
		"WEBHOOK_DISABLED",
	} {
		if platform.Known(name) {
			t.Errorf("Known(%q) = true", name)
		}
	}
}

func TestRetryPolicyJudgesAsCosmo(t *testing.T) {
	t.Parallel()
	p := platform.RetryPolicy()
	if p.RetryCount != 6 || p.TTL != 10 || platform.Timeout != 10*time.Second {
		t.Fatalf("RetryCount %d, TTL %d s, Timeout %s; want 6 retries and 10 s", p.RetryCount, p.TTL, platform.Timeout)
	}
	for _, tc := range []struct {
		statuses []int
		want     delivery.Verdict
	}{
		{[]int{200, 201, 202, 204, 299}, delivery.Succeed},
		{[]int{0, 429, 500, 502, 503, 504, 599}, delivery.Retry},
		// Everything else fails at once, as in Cosmo's retry condition: informational answers,
		// redirects (hookd never follows them) and every 4xx but 429, 408 included.
		{[]int{100, 199, 300, 301, 302, 304, 400, 401, 403, 404, 408, 409, 410, 422, 428, 430, 499}, delivery.Fail},
	} {
		for _, status := range tc.statuses {
			if got := p.Judge(status); got != tc.want {
				t.Errorf("Judge(%d) = %s, want %s", status, got, tc.want)
			}
		}
	}
}

func TestRetryBackoffDoublesFromOneSecond(t *testing.T) {
	t.Parallel()
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second}
	b := platform.RetryBackoff()
	for retry, w := range want {
		if got := b.Delay(retry + 1); got != w {
			t.Errorf("Delay(%d) = %s, want %s", retry+1, got, w)
		}
	}
	// With jitter the delay stays within a fifth either way.
	for _, r := range []float64{0, 0.999999} {
		b.Random = func() float64 { return r }
		for retry, w := range want {
			got := b.Delay(retry + 1)
			if lo, hi := w*4/5, w*6/5; got < lo || got >= hi {
				t.Errorf("Random %v: Delay(%d) = %s, want within [%s, %s)", r, retry+1, got, lo, hi)
			}
		}
	}
}

func TestRetryValuesAreFresh(t *testing.T) {
	t.Parallel()
	p, b := platform.RetryPolicy(), platform.RetryBackoff()
	p.SuccessCodes[0], p.RetryCodes[0], b.Delays[0] = 999, 999, time.Hour
	if got := platform.RetryPolicy(); got.SuccessCodes[0] != 200 || got.RetryCodes[0] != 0 {
		t.Errorf("changing one policy's lists changed the next: %v %v", got.SuccessCodes[:1], got.RetryCodes[:1])
	}
	if got := platform.RetryBackoff(); got.Delays[0] != time.Second {
		t.Errorf("changing one backoff's delays changed the next: %s", got.Delays[0])
	}
}

// The policy drives the delivery aggregate as Cosmo retries: an endpoint that keeps failing gets
// seven attempts, spaced 1 s to 32 s apart, and the delivery is parked after the last.
func TestRetryPolicyDrivesADelivery(t *testing.T) {
	t.Parallel()
	p, b := platform.RetryPolicy(), platform.RetryBackoff()
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	schedule := func(t *testing.T) *delivery.Delivery {
		t.Helper()
		d, err := delivery.Schedule(delivery.Scheduling{
			EventID: "evt-1", WebhookID: "platform", TenantID: "platform", CommunityID: "platform",
			EventName: platform.UserRegisterSuccess, Body: `{"version":1,"event":"USER_REGISTER_SUCCESS","payload":{}}`,
			Settings: delivery.Snapshot{Policy: p}, At: start,
		})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	attempt := func(t *testing.T, d *delivery.Delivery, now time.Time, status int) time.Duration {
		t.Helper()
		n, wait, err := d.NextAttempt(now)
		if err != nil {
			t.Fatalf("NextAttempt: %v", err)
		}
		if wait != 0 {
			t.Fatalf("attempt %d is due in %s, not now", n, wait)
		}
		a := delivery.Attempt{Number: n, Status: status, At: now, Duration: time.Millisecond}
		if status == 0 {
			a.ErrorClass = "connection refused"
		}
		if err := d.RecordAttempt(a, p, b); err != nil {
			t.Fatalf("RecordAttempt %d: %v", n, err)
		}
		if _, wait, err = d.NextAttempt(now); err != nil {
			return 0
		}
		return wait
	}

	t.Run("kept failing", func(t *testing.T) {
		t.Parallel()
		d := schedule(t)
		now := start
		statuses := []int{0, 503, 429, 500, 0, 502}
		for i, status := range statuses {
			wait := attempt(t, d, now, status)
			if want := time.Second << i; wait != want {
				t.Fatalf("after attempt %d (%d) the next is due in %s, want %s", i+1, status, wait, want)
			}
			now = now.Add(wait)
		}
		attempt(t, d, now, 503)
		if d.Status() != delivery.StatusFailed || d.Attempts() != 1+platform.Retries {
			t.Fatalf("after %d attempts: status %s; want parked after 7", d.Attempts(), d.Status())
		}
		if _, _, err := d.NextAttempt(now); !errors.Is(err, delivery.ErrFinished) {
			t.Fatalf("NextAttempt after the last retry = %v, want ErrFinished", err)
		}
	})
	t.Run("rejected", func(t *testing.T) {
		t.Parallel()
		d := schedule(t)
		attempt(t, d, start, 0)
		attempt(t, d, start.Add(time.Second), 404)
		if d.Status() != delivery.StatusFailed || d.Attempts() != 2 {
			t.Fatalf("a 404 left the delivery %s after %d attempts, want parked at once", d.Status(), d.Attempts())
		}
	})
	t.Run("recovered", func(t *testing.T) {
		t.Parallel()
		d := schedule(t)
		attempt(t, d, start, 503)
		attempt(t, d, start.Add(time.Second), 204)
		if d.Status() != delivery.StatusSucceeded {
			t.Fatalf("a 204 after a 503 left the delivery %s", d.Status())
		}
	})
}

// WEBHOOK_DISABLED's payload is the catalogue's (docs/platform-events.md): failing_since only for
// reason failing, times in UTC.
func TestWebhookDisabledPayload(t *testing.T) {
	t.Parallel()
	since := time.Date(2026, 12, 3, 9, 58, 12, 0, time.UTC)
	at := time.Date(2026, 12, 8, 11, 0, 0, 0, time.FixedZone("CET", 3600))
	for _, c := range []struct {
		d    webhook.Disabled
		want string
	}{
		{webhook.Disabled{WebhookID: "w1", TenantID: "t1", CommunityID: "c1", Reason: webhook.DisabledFailing, FailingSince: since},
			`{"webhook_id":"w1","tenant_id":"t1","community_id":"c1","reason":"failing","disabled_at":"2026-12-08T10:00:00Z","failing_since":"2026-12-03T09:58:12Z"}`},
		{webhook.Disabled{WebhookID: "w1", TenantID: "t1", CommunityID: "c1", Reason: webhook.DisabledGone},
			`{"webhook_id":"w1","tenant_id":"t1","community_id":"c1","reason":"gone","disabled_at":"2026-12-08T10:00:00Z"}`},
	} {
		if got := string(platform.WebhookDisabledPayload(c.d, at)); got != c.want {
			t.Errorf("payload for %s:\n got %s\nwant %s", c.d.Reason, got, c.want)
		}
	}
}
