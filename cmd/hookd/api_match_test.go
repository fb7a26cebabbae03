package main

// Component tests of the dry run that matches an event to the webhooks (POST .../webhooks/match),
// against the real server.

import (
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// apiMatch asks which webhooks of scope an event would go to, with licenseKey; the answer must be 200.
// It returns the answer's webhooks as JSON objects, and checks that data is a list.
func apiMatch(h *testHookd, licenseKey, scope string, body any) []map[string]any {
	h.t.Helper()
	var out struct {
		Data []map[string]any `json:"data"`
	}
	r := h.as(licenseKey, http.MethodPost, scope+"/webhooks/match", body)
	h.mustJSON(r, http.StatusOK, &out)
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(r.Body, &keys); err != nil || len(keys) != 1 || !strings.HasPrefix(string(keys["data"]), "[") {
		h.t.Fatalf("match answered %s, want {\"data\":[...]}", r.Body)
	}
	return out.Data
}

func apiMatchNames(items []map[string]any) []string {
	out := make([]string, len(items))
	for i, w := range items {
		out[i], _ = w["name"].(string)
	}
	return out
}

// apiWantNothingAppended checks that the log did not move since it was at before: it creates two
// webhooks in a scope of their own, and the log must move as far up to the first as from the first to
// the second. A create answers once the read models show it, so the first position covers whatever
// ran before it.
func apiWantNothingAppended(t *testing.T, h *testHookd, before float64) {
	t.Helper()
	apiCreate(h, h.license, apiScope("t-marker", "c-marker"), apiMinimal("marker 1"))
	mid := apiLogPosition(h)
	apiCreate(h, h.license, apiScope("t-marker", "c-marker"), apiMinimal("marker 2"))
	if after := apiLogPosition(h); mid-before != after-mid {
		t.Errorf("the log moved %v across the requests under test and one create, but %v for one create alone", mid-before, after-mid)
	}
}

// apiListening is a create body for a webhook named name that subscribes to events, with a query in
// 1Kosmos's form and its criteria ("" for none).
func apiListening(name string, events []string, query []map[string]any, criteria string) map[string]any {
	b := apiMinimal(name)
	b["eventNames"] = events
	if query != nil {
		b["query"] = query
	}
	if criteria != "" {
		b["criteria"] = criteria
	}
	return b
}

func TestMatchFindsTheWebhooksAnEventWouldGoTo(t *testing.T) {
	t.Parallel()
	h := startHookd(t, nil)
	scope := apiScope("t1", "c1")
	nested := []map[string]any{{"order.customer.country": "FR"}, {"order.total": 100}}
	apiCreate(h, h.license, scope, apiListening("any", []string{"E_ORDER"}, nested, "ANY"))
	apiCreate(h, h.license, scope, apiListening("all", []string{"E_ORDER"}, nested, "ALL"))
	apiCreate(h, h.license, scope, apiListening("no query", []string{"E_ORDER", "E_OTHER"}, nil, ""))
	apiCreate(h, h.license, scope, apiListening("paid", []string{"E_ORDER"}, []map[string]any{{"order.paid": true}}, ""))
	apiCreate(h, h.license, scope, apiListening("other event", []string{"E_OTHER"}, nil, ""))
	disabled := apiListening("disabled", []string{"E_ORDER"}, nil, "")
	disabled["disabled"] = true
	apiCreate(h, h.license, scope, disabled)
	toggled := apiCreate(h, h.license, scope, apiListening("toggled", []string{"E_ORDER"}, nil, ""))
	deleted := apiCreate(h, h.license, scope, apiListening("deleted", []string{"E_ORDER"}, nil, ""))
	apiCreate(h, h.license, apiScope("t1", "c2"), apiListening("other community", []string{"E_ORDER"}, nil, ""))
	apiCreate(h, h.license, apiScope("t2", "c1"), apiListening("other tenant", []string{"E_ORDER"}, nil, ""))
	h.mustJSON(h.system(http.MethodPatch, scope+"/webhook/"+toggled.ID, map[string]any{"disabled": true}), http.StatusOK, nil)
	if r := h.system(http.MethodDelete, scope+"/webhook/"+deleted.ID, nil); r.Status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.Status, r.Body)
	}

	before := apiLogPosition(h)
	order := func(country string, total any, paid bool) map[string]any {
		return map[string]any{"order": map[string]any{"customer": map[string]any{"country": country}, "total": total, "paid": paid}}
	}
	for _, tc := range []struct {
		name    string
		event   string
		payload any
		want    []string
	}{
		{"every entry matches", "E_ORDER", order("FR", 100, true), []string{"any", "all", "no query", "paid"}},
		{"one entry of two", "E_ORDER", order("FR", 50, false), []string{"any", "no query"}},
		{"the other entry, a number written otherwise", "E_ORDER", json.RawMessage(`{"order":{"customer":{"country":"DE"},"total":1.0E2}}`),
			[]string{"any", "no query"}},
		{"no entry", "E_ORDER", order("DE", 5, false), []string{"no query"}},
		{"a number as a string matches no number", "E_ORDER", order("DE", "100", false), []string{"no query"}},
		{"a flat key with dots is not a path", "E_ORDER", map[string]any{"order.customer.country": "FR", "order.total": 100}, []string{"no query"}},
		{"a path through an array", "E_ORDER", map[string]any{"order": []any{map[string]any{"total": 100}}}, []string{"no query"}},
		{"an empty payload", "E_ORDER", map[string]any{}, []string{"no query"}},
		{"another event name", "E_OTHER", order("FR", 100, true), []string{"no query", "other event"}},
		{"names are exact", "e_order", order("FR", 100, true), nil},
		{"an event nobody listens to", "E_NONE", map[string]any{}, nil},
	} {
		got := apiMatchNames(apiMatch(h, h.license, scope, map[string]any{"eventName": tc.event, "payload": tc.payload}))
		if !slices.Equal(got, tc.want) && len(got)+len(tc.want) > 0 {
			t.Errorf("%s: matched %v, want %v", tc.name, got, tc.want)
		}
	}
	if got := apiMatchNames(apiMatch(h, h.license, apiScope("t1", "c2"), map[string]any{"eventName": "E_ORDER", "payload": order("FR", 100, true)})); !slices.Equal(got, []string{"other community"}) {
		t.Errorf("in t1/c2: matched %v, want [other community]", got)
	}
	apiWantNothingAppended(t, h, before)

	// Enabled again, the webhook is matched at once (read your writes).
	h.mustJSON(h.system(http.MethodPatch, scope+"/webhook/"+toggled.ID, map[string]any{"disabled": false}), http.StatusOK, nil)
	got := apiMatchNames(apiMatch(h, h.license, scope, map[string]any{"eventName": "E_ORDER", "payload": map[string]any{}}))
	if !slices.Equal(got, []string{"no query", "toggled"}) {
		t.Errorf("after enabling toggled: matched %v, want [no query toggled]", got)
	}
}

// Each webhook is answered as a get shows it to the same license: a service license sees neither the
// credential nor the secret.
func TestMatchAnswersWebhooksAsGetShowsThem(t *testing.T) {
	t.Parallel()
	h := startHookd(t, nil)
	scope := apiScope("t1", "c1")
	const password, secret = "canary-match-password-7e1c", "canary-match-secret-5d2a"
	w := apiCreate(h, h.license, scope, apiCanaryBody("hook", password, secret))
	service := apiIssueLicense(h, "--level", "service", "--tenant", "t1")
	event := map[string]any{"eventName": "E_LOGIN", "payload": map[string]any{"user": "u1"}}
	for _, key := range []string{h.license, service} {
		items := apiMatch(h, key, scope, event)
		var get map[string]any
		h.mustJSON(h.as(key, http.MethodGet, scope+"/webhook/"+w.ID, nil), http.StatusOK, &get)
		if _, ok := get["health"]; !ok {
			t.Errorf("GET has no health: %v", get)
		}
		delete(get, "health") // only a GET shows it
		if len(items) != 1 || !reflect.DeepEqual(items[0], get) {
			t.Errorf("match answered %v, get answers %v", items, get)
		}
	}
	r := h.as(service, http.MethodPost, scope+"/webhooks/match", event)
	if strings.Contains(string(r.Body), password) || strings.Contains(string(r.Body), secret) || strings.Contains(string(r.Body), `"credential"`) {
		t.Errorf("match shows a secret to a service license: %s", r.Body)
	}
	if r := h.system(http.MethodPost, scope+"/webhooks/match", event); !strings.Contains(string(r.Body), secret) {
		t.Errorf("match does not show the secret to a system license: %s", r.Body)
	}
}

func TestMatchErrorsAnswerInShapeAndAppendNothing(t *testing.T) {
	t.Parallel()
	h := startHookd(t, nil)
	scope := apiScope("t1", "c1")
	path := scope + "/webhooks/match"
	apiCreate(h, h.license, scope, apiMinimal("listening"))
	tenantKey := apiIssueLicense(h, "--level", "service", "--tenant", "t1")
	before := apiLogPosition(h)

	bad := func(name string, body any, mentions ...string) apiErrorCase {
		return apiErrorCase{name: name, body: body, status: http.StatusBadRequest, mentions: mentions}
	}
	huge := map[string]any{"eventName": "E_LOGIN", "payload": map[string]any{"data": strings.Repeat("x", 300<<10)}}
	for _, c := range []apiErrorCase{
		bad("eventName with a space", map[string]any{"eventName": "E LOGIN", "payload": map[string]any{}}, "eventName"),
		bad("eventName too long", map[string]any{"eventName": strings.Repeat("E", 129), "payload": map[string]any{}}, "eventName"),
		bad("eventName missing", map[string]any{"payload": map[string]any{}}, "eventName"),
		bad("eventName a number", map[string]any{"eventName": 5, "payload": map[string]any{}}, "eventName"),
		bad("payload missing", map[string]any{"eventName": "E_LOGIN"}, "payload"),
		bad("payload null", map[string]any{"eventName": "E_LOGIN", "payload": nil}, "payload"),
		bad("payload an array", map[string]any{"eventName": "E_LOGIN", "payload": []int{1}}, "payload"),
		bad("payload a string", map[string]any{"eventName": "E_LOGIN", "payload": "{}"}, "payload"),
		bad("both wrong", map[string]any{"eventName": "", "payload": 1}, "eventName", "payload"),
		bad("unknown field", map[string]any{"eventName": "E_LOGIN", "payload": map[string]any{}, "id": "x"}, "unknown field id"),
		bad("field of another case", map[string]any{"EventName": "E_LOGIN", "payload": map[string]any{}}, "EventName"),
		bad("an array of events", []any{map[string]any{"eventName": "E_LOGIN", "payload": map[string]any{}}}, "body"),
		bad("malformed JSON", `{"eventName":`, "JSON"),
		bad("trailing data", `{"eventName":"E_LOGIN","payload":{}} {}`),
		{name: "payload over 256 KiB", body: huge, status: http.StatusRequestEntityTooLarge, mentions: []string{"payload"}},
		{name: "body over 1 MiB", declared: apiOverLimit, status: http.StatusRequestEntityTooLarge},
		{name: "text/plain", body: map[string]any{"eventName": "E_LOGIN", "payload": map[string]any{}}, contentType: "text/plain",
			status: http.StatusUnsupportedMediaType},
	} {
		apiWantErrorNamed(t, c, apiSendCase(h, http.MethodPost, path, c))
	}

	ok := map[string]any{"eventName": "E_LOGIN", "payload": map[string]any{}}
	apiWantError(t, h.do(http.MethodPost, path, ok, nil), http.StatusUnauthorized)
	apiWantError(t, h.as(tenantKey, http.MethodPost, apiScope("t2", "c1")+"/webhooks/match", ok), http.StatusForbidden)
	apiWantError(t, h.system(http.MethodPost, apiScope("bad!tenant", "c1")+"/webhooks/match", ok), http.StatusBadRequest, "tenantId")
	if got := apiMatchNames(apiMatch(h, tenantKey, scope, ok)); !slices.Equal(got, []string{"listening"}) {
		t.Errorf("the tenant's license matched %v, want [listening]", got)
	}
	apiWantNothingAppended(t, h, before)
}
