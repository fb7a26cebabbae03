package main

import (
	"strings"
	"testing"
)

// TestEmbeddedCompressIsOnUnlessSetOff: HOOKD_EMBEDDED_COMPRESS is true by default, false when set
// so, and anything else is refused by name.
func TestEmbeddedCompressIsOnUnlessSetOff(t *testing.T) {
	t.Parallel()
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	if cfg, err := configFromEnv(env(nil)); err != nil || !cfg.CompressLog {
		t.Fatalf("default: compress %v, %v; want on", cfg.CompressLog, err)
	}
	if cfg, err := configFromEnv(env(map[string]string{"HOOKD_EMBEDDED_COMPRESS": "false"})); err != nil || cfg.CompressLog {
		t.Fatalf("false: compress %v, %v; want off", cfg.CompressLog, err)
	}
	if cfg, err := configFromEnv(env(map[string]string{"HOOKD_EMBEDDED_COMPRESS": "true"})); err != nil || !cfg.CompressLog {
		t.Fatalf("true: compress %v, %v; want on", cfg.CompressLog, err)
	}
	if _, err := configFromEnv(env(map[string]string{"HOOKD_EMBEDDED_COMPRESS": "yes"})); err == nil || !strings.Contains(err.Error(), "HOOKD_EMBEDDED_COMPRESS") {
		t.Errorf("yes: %v, want an error naming HOOKD_EMBEDDED_COMPRESS", err)
	}
}
