package console

import (
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/domain/webhook"
	"github.com/hookd/hookd/projections/webhookview"
)

// The state the console shows comes from the endpoint's health: hookd's reason for disabling a
// webhook, an open or half-open circuit, a failing endpoint.
func TestConsoleStateFromEndpointHealth(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	open := webhook.Circuit{Open: true, OpenedAt: now.Add(-time.Minute), Until: now.Add(time.Minute), CoolDown: 2 * time.Minute}
	half := open
	half.Until = now.Add(-time.Second)
	for _, tc := range []struct {
		name     string
		w        webhookview.Webhook
		want     endpointState
		disabled string
	}{
		{"never tried", webhookview.Webhook{}, endpointState{"enabled", "enabled"}, ""},
		{"last attempt failed", webhookview.Webhook{Health: webhook.Health{ConsecutiveFailures: 1}}, endpointState{"failing", "failing"}, ""},
		{"circuit open", webhookview.Webhook{Health: webhook.Health{Circuit: open}}, endpointState{"failing", "circuit open"}, ""},
		{"cool-down over", webhookview.Webhook{Health: webhook.Health{Circuit: half}}, endpointState{"failing", "circuit half-open"}, ""},
		{"disabled by a caller", webhookview.Webhook{Disabled: true, Health: webhook.Health{ConsecutiveFailures: 3}},
			endpointState{"disabled", "disabled"}, ""},
		{"disabled for failing", webhookview.Webhook{Disabled: true, Health: webhook.Health{DisabledReason: webhook.DisabledFailing}},
			endpointState{"disabled", "disabled (failing)"}, "HOOKD_DISABLE_AFTER"},
		{"disabled for 410", webhookview.Webhook{Disabled: true, Health: webhook.Health{DisabledReason: webhook.DisabledGone}},
			endpointState{"disabled", "disabled (gone)"}, "410 Gone"},
	} {
		if got := stateOf(tc.w, now); got != tc.want {
			t.Errorf("%s: state %+v, want %+v", tc.name, got, tc.want)
		}
		p := endpointPanel(tc.w.Health, now)
		if (tc.disabled == "") != (p.Disabled == "") || !strings.Contains(p.Disabled, tc.disabled) {
			t.Errorf("%s: the panel's disabled reason is %q, want one saying %q", tc.name, p.Disabled, tc.disabled)
		}
	}
	if p := endpointPanel(webhook.Health{Circuit: open}, now); p.Circuit != "open" {
		t.Errorf("an open circuit shows as %q", p.Circuit)
	}
}
