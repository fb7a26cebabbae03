package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hookd/hookd/application/deliver"
	"github.com/hookd/hookd/domain/webhook"
)

// healthConfig is the circuit breaker's rule (HOOKD_BREAKER_*) and HOOKD_DISABLE_AFTER.
type healthConfig struct {
	Breaker webhook.Breaker
	// DisableAfter is how long an endpoint may fail without a success before its webhook is
	// disabled; 0 never.
	DisableAfter time.Duration
}

// maxDisableAfter bounds HOOKD_DISABLE_AFTER: a year.
const maxDisableAfter = 365 * 24 * time.Hour

// healthFromEnv reads HOOKD_BREAKER_WINDOW, HOOKD_BREAKER_MIN_ATTEMPTS, HOOKD_BREAKER_FAILURE_RATE,
// HOOKD_BREAKER_COOLDOWN, HOOKD_BREAKER_MAX_COOLDOWN and HOOKD_DISABLE_AFTER; README.md has their
// defaults and ranges.
func healthFromEnv(getenv func(string) string) (healthConfig, error) {
	var errs []error
	duration := func(name string, fallback, lo, hi time.Duration) time.Duration {
		text := getenv(name)
		if text == "" {
			return fallback
		}
		d, err := parseDays(text)
		if err != nil || d < lo || d > hi {
			errs = append(errs, fmt.Errorf("%s: %q must be a duration (such as 30s, 10m, 5d) from %s to %s", name, text, lo, hi))
		}
		return d
	}
	b := deliver.DefaultBreaker()
	b.Window = duration("HOOKD_BREAKER_WINDOW", b.Window, time.Second, 24*time.Hour)
	b.CoolDown = duration("HOOKD_BREAKER_COOLDOWN", b.CoolDown, 100*time.Millisecond, 24*time.Hour)
	b.MaxCoolDown = duration("HOOKD_BREAKER_MAX_COOLDOWN", max(b.MaxCoolDown, b.CoolDown), b.CoolDown, 7*24*time.Hour)
	if text := getenv("HOOKD_BREAKER_MIN_ATTEMPTS"); text != "" {
		n, err := strconv.Atoi(text)
		if err != nil || n < 0 || n > webhook.MaxRecent {
			errs = append(errs, fmt.Errorf("HOOKD_BREAKER_MIN_ATTEMPTS: %q must be a number from 0 (no circuit breaker) to %d", text, webhook.MaxRecent))
		}
		b.MinAttempts = n
	}
	if text := getenv("HOOKD_BREAKER_FAILURE_RATE"); text != "" {
		pct, err := strconv.ParseFloat(strings.TrimSuffix(text, "%"), 64)
		if err != nil || !(pct > 0 && pct <= 100) {
			errs = append(errs, fmt.Errorf("HOOKD_BREAKER_FAILURE_RATE: %q must be a percentage above 0, at most 100", text))
		}
		b.FailureRate = pct / 100
	}
	h := healthConfig{Breaker: b, DisableAfter: deliver.DefaultDisableAfter}
	if text := getenv("HOOKD_DISABLE_AFTER"); text != "" {
		d, err := parseDays(text)
		if err != nil || d < 0 || d > maxDisableAfter {
			errs = append(errs, fmt.Errorf("HOOKD_DISABLE_AFTER: %q must be 0 (never) or a duration (such as 5d, 36h) up to 365d", text))
		}
		h.DisableAfter = d
	}
	return h, errors.Join(errs...)
}

// parseDays reads whole days ("5d"), a Go duration ("36h", "90m") or "0": HOOKD_DISABLE_AFTER,
// HOOKD_DELIVERY_RETENTION and replay's --since.
func parseDays(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		// A negative count parses, for the caller to refuse in its own words.
		if err != nil || n < -100_000 || n > 100_000 {
			return 0, fmt.Errorf("%q: not a number of days", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	if s == "0" {
		return 0, nil
	}
	return time.ParseDuration(s)
}
