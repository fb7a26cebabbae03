package main

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestLicenseIssuedByAnotherProcessIsValidAtOnce: a license issued by `hookd license issue`, which
// appends to the log from another handle on it, authenticates as soon as the command returns; an
// unknown key is still 401, after a bounded wait, however many ask at once.
func TestLicenseIssuedByAnotherProcessIsValidAtOnce(t *testing.T) {
	t.Parallel()
	h := startHookd(t, nil)
	fetch := apiScope("t1", "c1") + "/webhooks/fetch"
	for i := range 5 {
		out, err := h.runCLI("license", "issue", "--level", "service", "--tenant", "t1")
		if err != nil {
			t.Fatalf("license issue: %v", err)
		}
		words := strings.Fields(out)
		key := words[len(words)-1]
		if r := h.as(key, http.MethodPost, fetch, map[string]any{}); r.Status != http.StatusOK {
			t.Fatalf("license %d, used as soon as it was issued: %d %s", i, r.Status, r.Body)
		}
	}

	const unknown = "lic_00000000000000000000000000000000"
	began := time.Now()
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			r := h.as(unknown, http.MethodPost, fetch, map[string]any{})
			apiWantError(t, r, http.StatusUnauthorized, "unknown license key")
		})
	}
	wg.Wait()
	// Only a hang fails this: the wait is bounded by readcache.UnknownKeyWait.
	if took := time.Since(began); took > 20*time.Second {
		t.Errorf("16 requests with an unknown key took %s", took)
	}
}
