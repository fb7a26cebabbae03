package main

// Component tests of publishing events through the management API, against the real server.

import (
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"
)

// apiPublish publishes body to scope with licenseKey; the answer must be 202, and v receives it.
func apiPublish(h *testHookd, licenseKey, scope string, body, v any) {
	h.t.Helper()
	h.mustJSON(h.as(licenseKey, http.MethodPost, scope+"/events", body), http.StatusAccepted, v)
}

func TestPublishAnswersTheEventID(t *testing.T) {
	t.Parallel()
	h := startHookd(t, nil)
	scope := apiScope("t1", "c1")

	var one struct{ ID string }
	apiPublish(h, h.license, scope, map[string]any{"eventName": "E_LOGIN", "payload": map[string]any{"user": "u1"}}, &one)
	if _, err := uuid.Parse(one.ID); err != nil {
		t.Errorf("event id %q is no UUID", one.ID)
	}

	// The same idempotency key twice: the same event id.
	body := map[string]any{"eventName": "E_LOGIN", "payload": map[string]any{"user": "u2"}, "id": "login-u2-1"}
	var first, second struct{ ID string }
	apiPublish(h, h.license, scope, body, &first)
	apiPublish(h, h.license, scope, body, &second)
	if first.ID == "" || first.ID != second.ID || first.ID == one.ID {
		t.Errorf("ids %q and %q for the same key (and %q without one), want the same new id twice", first.ID, second.ID, one.ID)
	}
	// The key is the tenant and community's own: another community gets another event.
	var elsewhere struct{ ID string }
	apiPublish(h, h.license, apiScope("t1", "c2"), body, &elsewhere)
	if elsewhere.ID == first.ID {
		t.Errorf("the same key in another community answered the same id %s", first.ID)
	}
}

func TestPublishBatchAnswersEveryID(t *testing.T) {
	t.Parallel()
	h := startHookd(t, nil)
	scope := apiScope("t1", "c1")
	var single struct{ ID string }
	apiPublish(h, h.license, scope, map[string]any{"eventName": "E_A", "payload": map[string]any{}, "id": "k-a"}, &single)

	batch := []map[string]any{
		{"eventName": "E_A", "payload": map[string]any{"n": 1}, "id": "k-a"},
		{"eventName": "E_B", "payload": map[string]any{"n": 2}},
		{"eventName": "E_C", "payload": map[string]any{"n": 3}, "id": "k-c"},
	}
	var out struct{ IDs []string }
	apiPublish(h, h.license, scope, batch, &out)
	if len(out.IDs) != 3 || out.IDs[0] != single.ID || out.IDs[1] == out.IDs[2] {
		t.Fatalf("ids %v, want three, the first %s as published before", out.IDs, single.ID)
	}

	// One bad entry: 400 naming it, and nothing of the batch published.
	bad := []map[string]any{
		{"eventName": "E_D", "payload": map[string]any{}, "id": "k-d"},
		{"eventName": "bad name", "payload": map[string]any{}},
	}
	apiWantError(t, h.system(http.MethodPost, scope+"/events", bad), http.StatusBadRequest, "events[1].eventName")
	var d struct{ IDs []string }
	apiPublish(h, h.license, scope, bad[:1], &d)
	var again struct{ IDs []string }
	apiPublish(h, h.license, scope, bad[:1], &again)
	if len(d.IDs) != 1 || len(again.IDs) != 1 || d.IDs[0] != again.IDs[0] {
		t.Errorf("ids %v then %v for the same key", d.IDs, again.IDs)
	}
	apiWantError(t, h.system(http.MethodPost, scope+"/events", []any{}), http.StatusBadRequest, "events")
}

func TestPublishErrors(t *testing.T) {
	t.Parallel()
	h := startHookd(t, nil)
	scope := apiScope("t1", "c1")
	path := scope + "/events"

	huge := map[string]any{"eventName": "E_BIG", "payload": map[string]any{"data": strings.Repeat("x", 300<<10)}}
	apiWantError(t, h.system(http.MethodPost, path, huge), http.StatusRequestEntityTooLarge, "payload")
	apiWantError(t, h.system(http.MethodPost, path, []any{huge}), http.StatusRequestEntityTooLarge, "events[0].payload")

	for _, c := range []struct {
		body    any
		mention string
	}{
		{map[string]any{"eventName": "bad name!", "payload": map[string]any{}}, "eventName"},
		{map[string]any{"payload": map[string]any{}}, "eventName"},
		{map[string]any{"eventName": "E", "payload": []int{1}}, "payload"},
		{map[string]any{"eventName": "E"}, "payload"},
		{map[string]any{"eventName": "E", "payload": map[string]any{}, "id": "a\nb"}, "id must be"},
		{map[string]any{"eventName": "E", "payload": map[string]any{}, "event": "x"}, "unknown field event"},
		{map[string]any{"eventName": 5, "payload": map[string]any{}}, "eventName"},
	} {
		apiWantError(t, h.system(http.MethodPost, path, c.body), http.StatusBadRequest, c.mention)
	}

	ok := map[string]any{"eventName": "E_LOGIN", "payload": map[string]any{}}
	apiWantError(t, h.do(http.MethodPost, path, ok, nil), http.StatusUnauthorized)

	tenantKey := apiIssueLicense(h, "--level", "service", "--tenant", "t1")
	apiPublish(h, tenantKey, apiScope("t1", "c9"), ok, nil)
	apiWantError(t, h.as(tenantKey, http.MethodPost, apiScope("t2", "c1")+"/events", ok), http.StatusForbidden)
}
