package main

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
)

// TestMetricsSurviveMixedMethodsOnOneConnection sends requests of every method over one kept-alive
// connection, then scrapes /metrics: the labels must be the methods sent, not whatever the reused
// request buffer held later.
func TestMetricsSurviveMixedMethodsOnOneConnection(t *testing.T) {
	t.Parallel()
	h := startHookd(t, nil)
	scope := apiScope("t1", "c1")
	w := apiCreate(h, h.license, scope, apiMinimal("metrics"))
	h.system(http.MethodGet, scope+"/webhook/"+w.ID, nil)
	h.system(http.MethodPatch, scope+"/webhook/"+w.ID, map[string]any{"name": "renamed"})
	h.system(http.MethodPost, scope+"/webhooks/fetch", map[string]any{})
	h.do(http.MethodOptions, "/livez", nil, nil)
	h.system(http.MethodDelete, scope+"/webhook/"+w.ID, nil)

	r := h.do(http.MethodGet, "/metrics", nil, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("/metrics answered %d after mixed traffic: %.300s", r.Status, r.Body)
	}
	for _, method := range []string{"PUT", "GET", "PATCH", "POST", "DELETE"} {
		if !strings.Contains(string(r.Body), `method="`+method+`"`) {
			t.Errorf("/metrics has no series for %s", method)
		}
	}
}

// TestFieldNamesAreExact: encoding/json would take "NAME" for "name"; the API does not.
func TestFieldNamesAreExact(t *testing.T) {
	t.Parallel()
	h := startHookd(t, nil)
	body := apiMinimal("exact")
	body["NAME"] = body["name"]
	delete(body, "name")
	apiWantError(t, h.system(http.MethodPut, apiScope("t1", "c1")+"/webhook", body), http.StatusBadRequest, "NAME")

	nested := apiMinimal("exact")
	nested["api"] = map[string]any{"URL": "https://example.com/hook"}
	apiWantError(t, h.system(http.MethodPut, apiScope("t1", "c1")+"/webhook", nested), http.StatusBadRequest, "api.URL")
}

// TestAHugeBadListGetsASmallAnswer: a list far over its limit is reported once, not item by item.
func TestAHugeBadListGetsASmallAnswer(t *testing.T) {
	t.Parallel()
	h := startHookd(t, nil)
	body := apiMinimal("huge")
	body["tags"] = make([]string, 100_000) // 100,000 empty tags, about 300 KB
	r := h.system(http.MethodPut, apiScope("t1", "c1")+"/webhook", body)
	apiWantError(t, r, http.StatusBadRequest, "tags")
	if len(r.Body) > 4096 {
		t.Fatalf("the answer to one oversized list is %d bytes", len(r.Body))
	}
}

// TestAWebhookIDThatIsNoUUIDIsNotFound answers 404 on every webhook endpoint.
func TestAWebhookIDThatIsNoUUIDIsNotFound(t *testing.T) {
	t.Parallel()
	h := startHookd(t, nil)
	path := apiScope("t1", "c1") + "/webhook/not-a-uuid"
	for _, c := range []struct {
		method, path string
		body         any
	}{
		{http.MethodGet, path, nil}, {http.MethodPatch, path, map[string]any{"name": "x"}},
		{http.MethodDelete, path, nil}, {http.MethodGet, path + "/history", nil},
	} {
		apiWantError(t, h.system(c.method, c.path, c.body), http.StatusNotFound, "not found")
	}
}

// TestChangeAnswersHaveTheShapeOfAGet: a create or update answer is the webhook as a GET right after
// shows it, times included (for a system license, which sees everything), without the health that
// only a GET shows.
func TestChangeAnswersHaveTheShapeOfAGet(t *testing.T) {
	t.Parallel()
	h := startHookd(t, nil)
	scope := apiScope("t1", "c1")
	created := h.system(http.MethodPut, scope+"/webhook", apiMinimal("shape"))
	var w struct {
		ID        string `json:"_id"`
		CreatedAt string `json:"createdAt"`
	}
	h.mustJSON(created, http.StatusOK, &w)
	if w.CreatedAt == "" {
		t.Fatalf("the create answer has no createdAt: %s", created.Body)
	}
	got := h.system(http.MethodGet, scope+"/webhook/"+w.ID, nil)
	got.Body = withoutHealth(t, got.Body)
	if string(got.Body) != string(created.Body) {
		t.Fatalf("create answered\n%s\nGET answers\n%s", created.Body, got.Body)
	}
	updated := h.system(http.MethodPatch, scope+"/webhook/"+w.ID, map[string]any{"name": "reshaped"})
	got = h.system(http.MethodGet, scope+"/webhook/"+w.ID, nil)
	got.Body = withoutHealth(t, got.Body)
	if updated.Status != http.StatusOK || string(got.Body) != string(updated.Body) {
		t.Fatalf("update answered %d\n%s\nGET answers\n%s", updated.Status, updated.Body, got.Body)
	}
}

// TestHistoryPages pages a webhook's lifecycle as fetch pages webhooks, and bounds the page size.
func TestHistoryPages(t *testing.T) {
	t.Parallel()
	h := startHookd(t, nil)
	scope := apiScope("t1", "c1")
	w := apiCreate(h, h.license, scope, apiMinimal("paged"))
	for i := range 6 {
		h.mustJSON(h.system(http.MethodPatch, scope+"/webhook/"+w.ID, map[string]any{"disabled": i%2 == 0}), http.StatusOK, nil)
	}
	var page struct {
		Page struct{ Index, Total, Size int }
		Data []struct{ Revision int }
	}
	h.mustJSON(h.system(http.MethodGet, scope+"/webhook/"+w.ID+"/history?pIndex=1&pSize=3", nil), http.StatusOK, &page)
	if page.Page.Total != 7 || page.Page.Index != 1 || page.Page.Size != 3 || len(page.Data) != 3 || page.Data[0].Revision != 3 {
		t.Fatalf("page 1 of 3: %+v", page)
	}
	h.mustJSON(h.system(http.MethodGet, scope+"/webhook/"+w.ID+"/history?pIndex=9", nil), http.StatusOK, &page)
	if page.Page.Total != 7 || len(page.Data) != 0 {
		t.Fatalf("a page past the end: %+v", page)
	}
	apiWantError(t, h.system(http.MethodGet, scope+"/webhook/"+w.ID+"/history?pSize=101", nil), http.StatusBadRequest, "pSize")
	apiWantError(t, h.system(http.MethodGet, scope+"/webhook/"+w.ID+"/history?pIndex=-1", nil), http.StatusBadRequest, "pIndex")
}

// withoutHealth cuts the health member, which a GET adds last, from a GET's answer.
func withoutHealth(t *testing.T, body []byte) []byte {
	t.Helper()
	i := bytes.LastIndex(body, []byte(`,"health":`))
	if i < 0 {
		t.Fatalf("a GET answer without health: %s", body)
	}
	return append(body[:i:i], '}')
}
