package main

import (
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// apiAllWebhooks fetches every webhook of a scope, page by page, as the system license sees them.
func apiAllWebhooks(h *testHookd, scope string) []apiWebhookJSON {
	h.t.Helper()
	var all []apiWebhookJSON
	for page := 0; ; page++ {
		p := apiFetch(h, h.license, scope, map[string]any{"pIndex": page, "pSize": 100})
		all = append(all, p.Data...)
		if len(all) >= p.Page.Total || len(p.Data) == 0 {
			return all
		}
	}
}

// TestRebuildWhileServing rebuilds every read model with `hookd projections rebuild` while serve
// runs on the same data directory and webhooks keep being created: the rebuilt read model holds what
// the live one held, plus what was created meanwhile, and serve keeps serving from it.
func TestRebuildWhileServing(t *testing.T) {
	t.Parallel()
	h := startHookd(t, nil)
	scope := apiScope("t1", "c1")
	var ids []string
	for i := range 40 {
		w := apiCreate(h, h.license, scope, apiMinimal(fmt.Sprintf("hook-%02d", i)))
		ids = append(ids, w.ID)
	}
	for i, id := range ids[:10] {
		h.mustJSON(h.system(http.MethodPatch, scope+"/webhook/"+id, map[string]any{
			"name": fmt.Sprintf("renamed-%02d", i), "tags": []string{"edited"}, "disabled": i%2 == 0,
		}), http.StatusOK, nil)
	}
	for _, id := range ids[10:15] {
		h.mustJSON(h.system(http.MethodDelete, scope+"/webhook/"+id, nil), http.StatusNoContent, nil)
	}
	before := apiAllWebhooks(h, scope)
	if len(before) != 35 {
		t.Fatalf("%d webhooks before the rebuild, want 35", len(before))
	}

	var wg sync.WaitGroup
	wg.Add(1)
	createdDuring := make([]string, 0, 20)
	go func() {
		defer wg.Done()
		for i := range 20 {
			w := apiCreate(h, h.license, scope, apiMinimal(fmt.Sprintf("during-%02d", i)))
			createdDuring = append(createdDuring, w.ID)
		}
	}()
	out, err := h.runCLI("projections", "rebuild")
	wg.Wait()
	if err != nil {
		t.Fatalf("rebuild: %v\n%s", err, out)
	}
	for _, name := range []string{"webhooks", "licenses", "servicekeys"} {
		if !strings.Contains(out, "rebuilt "+name+":") {
			t.Errorf("rebuild output does not report %s:\n%s", name, out)
		}
	}

	// A create after the rebuild shows that serve applies new events to the rebuilt tables.
	last := apiCreate(h, h.license, scope, apiMinimal("after"))
	after := apiAllWebhooks(h, scope)
	if len(after) != len(before)+len(createdDuring)+1 {
		t.Fatalf("%d webhooks after the rebuild, want %d", len(after), len(before)+len(createdDuring)+1)
	}
	if !reflect.DeepEqual(after[:len(before)], before) {
		t.Fatalf("the rebuilt read model differs from the live one:\nbefore %+v\nafter  %+v", before, after[:len(before)])
	}
	got := map[string]bool{}
	for _, w := range after[len(before):] {
		got[w.ID] = true
	}
	for _, id := range append(createdDuring, last.ID) {
		if !got[id] {
			t.Errorf("webhook %s, created during or after the rebuild, is missing", id)
		}
	}
	// Licenses and keys were rebuilt too: the system license still authenticates (every request
	// above after the rebuild did) and the service key is unchanged.
	if key := h.servicePublicKey(); key == "" {
		t.Fatal("no service key after the rebuild")
	}
}

// TestRebuildShowsEventsPerSecondAndNamesTheReadModels: on a small log, the progress bar and the
// summary give a rate in events/s (the bar's own rolling rate said "0 events/hr"), and a read model
// that does not exist is refused with the list of those that do.
func TestRebuildShowsEventsPerSecondAndNamesTheReadModels(t *testing.T) {
	t.Parallel()
	h := startHookd(t, nil)
	apiCreate(h, h.license, apiScope("t1", "c1"), apiMinimal("w"))
	getenv := func(k string) string { return map[string]string{"HOOKD_DATA_DIR": h.cfg.DataDir}[k] }
	stdout, stderr, err := runIn(getenv, "projections", "rebuild", "--projection", "webhooks")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^rebuilt webhooks: \d+ events in \S+ \(\d+ events/s\), up to position \S+\n$`).MatchString(stdout) {
		t.Errorf("rebuild printed %q", stdout)
	}
	if !regexp.MustCompile(`rebuilding webhooks, \d+ events/s`).MatchString(stderr) || strings.Contains(stderr, "/hr") || strings.Contains(stderr, "/min") {
		t.Errorf("the progress bar shows no events/s:\n%q", stderr)
	}
	_, _, err = runIn(getenv, "projections", "rebuild", "--projection", "hooks")
	if err == nil || !strings.Contains(err.Error(), `no read model is called "hooks"; the read models are webhooks, licenses, servicekeys, deliveries`) {
		t.Errorf("an unknown read model: %v", err)
	}
}
