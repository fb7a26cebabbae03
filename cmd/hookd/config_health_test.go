package main

import (
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/application/deliver"
)

func TestHealthConfigDefaultsAndValues(t *testing.T) {
	t.Parallel()
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	h, err := healthFromEnv(env(nil))
	if err != nil || h.Breaker != deliver.DefaultBreaker() || h.DisableAfter != 5*24*time.Hour {
		t.Fatalf("defaults: %+v, %v", h, err)
	}
	h, err = healthFromEnv(env(map[string]string{
		"HOOKD_BREAKER_WINDOW": "30s", "HOOKD_BREAKER_MIN_ATTEMPTS": "10", "HOOKD_BREAKER_FAILURE_RATE": "80",
		"HOOKD_BREAKER_COOLDOWN": "1m", "HOOKD_BREAKER_MAX_COOLDOWN": "1d", "HOOKD_DISABLE_AFTER": "0",
	}))
	b := h.Breaker
	if err != nil || b.Window != 30*time.Second || b.MinAttempts != 10 || b.FailureRate != 0.8 || b.CoolDown != time.Minute ||
		b.MaxCoolDown != 24*time.Hour || h.DisableAfter != 0 {
		t.Fatalf("set: %+v, %v", h, err)
	}
	if h, err := healthFromEnv(env(map[string]string{"HOOKD_BREAKER_COOLDOWN": "30m"})); err != nil || h.Breaker.MaxCoolDown != 30*time.Minute {
		t.Errorf("a cool-down above the default maximum raises the maximum: %+v, %v", h.Breaker, err)
	}
	if h, err := healthFromEnv(env(map[string]string{"HOOKD_BREAKER_MIN_ATTEMPTS": "0"})); err != nil || h.Breaker.MinAttempts != 0 {
		t.Errorf("0 turns the breaker off: %+v, %v", h.Breaker, err)
	}
	for name, value := range map[string]string{
		"HOOKD_BREAKER_WINDOW": "0s", "HOOKD_BREAKER_MIN_ATTEMPTS": "65", "HOOKD_BREAKER_FAILURE_RATE": "0",
		"HOOKD_BREAKER_COOLDOWN": "soon", "HOOKD_BREAKER_MAX_COOLDOWN": "1s", "HOOKD_DISABLE_AFTER": "-1h",
	} {
		if _, err := healthFromEnv(env(map[string]string{name: value})); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s=%s: %v, want an error naming it", name, value, err)
		}
	}
}
