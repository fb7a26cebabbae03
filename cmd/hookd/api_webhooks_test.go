package main

// Component tests of the webhook endpoints of the management API, against the real server the
// harness starts. The helpers at the top (all named api...) are shared by api_auth_test.go and
// api_misc_test.go.

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
)

// ---------------------------------------------------------------------------------------------
// Shared helpers.

// apiScope is the path prefix of a tenant's community.
func apiScope(tenant, community string) string {
	return "/tenant/" + tenant + "/community/" + community
}

// apiWebhookJSON is a webhook as the API answers it. Credential and Secret tell "absent" from
// "empty": a nil Credential means the answer had no api.credential.
type apiWebhookJSON struct {
	ID           string           `json:"_id"`
	TenantID     string           `json:"tenantId"`
	CommunityID  string           `json:"communityId"`
	EventNames   []string         `json:"eventNames"`
	Name         string           `json:"name"`
	Disabled     bool             `json:"disabled"`
	CreatedBy    string           `json:"createdBy"`
	Tags         []string         `json:"tags"`
	Query        []map[string]any `json:"query"`
	Criteria     string           `json:"criteria"`
	API          apiEndpointJSON  `json:"api"`
	SuccessCodes []int            `json:"successCodes"`
	RetryCodes   []int            `json:"retryCodes"`
	RetryCount   int              `json:"retryCount"`
	TTL          int              `json:"ttl"`
	RateLimit    int              `json:"rateLimit"`
	Secret       *string          `json:"secret"`
	Version      uint64           `json:"version"`
}

type apiEndpointJSON struct {
	Type           string             `json:"type"`
	URL            string             `json:"url"`
	AuthType       string             `json:"authType"`
	OAuthGrantType string             `json:"oAuthGrantType"`
	OAuthTokenURL  string             `json:"oAuthTokenUrl"`
	OAuthScopes    []string           `json:"oAuthScopes"`
	Credential     *apiCredentialJSON `json:"credential"`
}

type apiCredentialJSON struct {
	Username string `json:"username"`
	Password string `json:"password"`
	KeyName  string `json:"keyName"`
	KeyValue string `json:"keyValue"`
	Token    string `json:"token"`
	OAuth2   *struct {
		ClientID     string `json:"clientId"`
		ClientSecret string `json:"clientSecret"`
	} `json:"oauth2"`
}

type apiPageJSON struct {
	Page struct {
		Index int `json:"index"`
		Total int `json:"total"`
		Size  int `json:"size"`
	} `json:"page"`
	Data      []apiWebhookJSON `json:"data"`
	PublicKey string           `json:"publicKey"`
}

type apiHistoryJSON struct {
	Data []struct {
		Revision uint64 `json:"revision"`
		Type     string `json:"type"`
		Settings *struct {
			Name string `json:"name"`
		} `json:"settings"`
	} `json:"data"`
}

// apiMinimal is the smallest body a create accepts.
func apiMinimal(name string) map[string]any {
	return map[string]any{
		"eventNames":   []string{"E_LOGIN"},
		"name":         name,
		"api":          map[string]any{"url": "https://hooks.example.com/in"},
		"successCodes": []int{200},
	}
}

// apiCreate creates a webhook with licenseKey and returns the answer, which must be 200.
func apiCreate(h *testHookd, licenseKey, scope string, body any) apiWebhookJSON {
	h.t.Helper()
	var w apiWebhookJSON
	h.mustJSON(h.as(licenseKey, http.MethodPut, scope+"/webhook", body), http.StatusOK, &w)
	return w
}

// apiFetch fetches a page with licenseKey; the answer must be 200.
func apiFetch(h *testHookd, licenseKey, scope string, body any) apiPageJSON {
	h.t.Helper()
	r := h.as(licenseKey, http.MethodPost, scope+"/webhooks/fetch", body)
	var p apiPageJSON
	h.mustJSON(r, http.StatusOK, &p)
	// data is a list even when empty, never null.
	var raw struct{ Data json.RawMessage }
	_ = json.Unmarshal(r.Body, &raw)
	if !bytes.HasPrefix(bytes.TrimSpace(raw.Data), []byte("[")) {
		h.t.Fatalf("fetch: data is %s, want a JSON array", raw.Data)
	}
	return p
}

// apiNames lists the names of a page's webhooks, in order.
func apiNames(p apiPageJSON) []string {
	out := make([]string, len(p.Data))
	for i, w := range p.Data {
		out[i] = w.Name
	}
	return out
}

// apiHistory returns the types of a webhook's history, oldest first; the answer must be 200.
func apiHistory(h *testHookd, scope, id string) apiHistoryJSON {
	h.t.Helper()
	var out apiHistoryJSON
	h.mustJSON(h.system(http.MethodGet, scope+"/webhook/"+id+"/history", nil), http.StatusOK, &out)
	return out
}

func apiHistoryTypes(h *testHookd, scope, id string) []string {
	h.t.Helper()
	hist := apiHistory(h, scope, id)
	out := make([]string, len(hist.Data))
	for i, e := range hist.Data {
		out[i] = e.Type
	}
	return out
}

// apiWantError checks that r is an error of the status given in the one shape every error has,
// and that its message mentions each of mentions.
func apiWantError(t *testing.T, r response, status int, mentions ...string) {
	t.Helper()
	if r.Status != status {
		t.Errorf("status %d, want %d: %s", r.Status, status, r.Body)
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("error Content-Type %q, want application/json", ct)
	}
	var raw map[string]any
	if err := json.Unmarshal(r.Body, &raw); err != nil {
		t.Errorf("error body is not JSON: %s", r.Body)
		return
	}
	if keys := slices.Sorted(maps.Keys(raw)); !slices.Equal(keys, []string{"error", "message", "statusCode"}) {
		t.Errorf("error body has keys %v, want statusCode, error, message: %s", keys, r.Body)
	}
	if code, ok := raw["statusCode"].(float64); !ok || int(code) != status {
		t.Errorf("statusCode %v, want the number %d", raw["statusCode"], status)
	}
	if reason, _ := raw["error"].(string); reason != http.StatusText(status) {
		t.Errorf("error %q, want the reason phrase %q", raw["error"], http.StatusText(status))
	}
	msg, _ := raw["message"].(string)
	if msg == "" {
		t.Errorf("error without a message: %s", r.Body)
	}
	for _, m := range mentions {
		if !strings.Contains(msg, m) {
			t.Errorf("message %q does not mention %q", msg, m)
		}
	}
}

// apiConcurrentClient sends the requests of concurrent tests. It keeps no connection alive: Go's
// transport, when requests race for connections, may dial one that no request then uses, and the
// server's shutdown would wait for it (see TestShutdownDoesNotWaitForConnectionsWithoutRequest).
var apiConcurrentClient = &http.Client{
	Timeout:   30 * time.Second,
	Transport: &http.Transport{DisableKeepAlives: true},
}

// apiTry sends a request without touching t, for goroutines other than the test's.
func apiTry(h *testHookd, method, path string, body any, headers map[string]string) (response, error) {
	data, err := json.Marshal(body)
	if err != nil {
		return response{}, err
	}
	req, err := http.NewRequest(method, h.url+path, bytes.NewReader(data))
	if err != nil {
		return response{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := apiConcurrentClient.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return response{Status: resp.StatusCode, Header: resp.Header, Body: b}, err
}

// apiLogPosition is the furthest log position a read model has applied, as /metrics shows it.
func apiLogPosition(h *testHookd) float64 {
	h.t.Helper()
	r := h.do(http.MethodGet, "/metrics", nil, nil)
	if r.Status != http.StatusOK {
		h.t.Fatalf("/metrics: %d", r.Status)
	}
	pos, found := 0.0, false
	for line := range strings.SplitSeq(string(r.Body), "\n") {
		if !strings.HasPrefix(line, "hookd_projection_position{") {
			continue
		}
		fields := strings.Fields(line)
		v, err := strconv.ParseFloat(fields[len(fields)-1], 64)
		if err != nil {
			h.t.Fatalf("/metrics line %q: %v", line, err)
		}
		pos, found = max(pos, v), true
	}
	if !found {
		h.t.Fatal("/metrics has no hookd_projection_position")
	}
	return pos
}

// apiJSONValue turns v into what decoding its JSON gives, so values can be compared as JSON.
func apiJSONValue(t *testing.T, v any) any {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// apiWantSubset checks that every field of want is in got with the same value (objects compared
// field by field, everything else whole).
func apiWantSubset(t *testing.T, path string, want, got any) {
	t.Helper()
	wm, ok := want.(map[string]any)
	if !ok {
		if !reflect.DeepEqual(want, got) {
			t.Errorf("%s = %v, want %v", path, got, want)
		}
		return
	}
	gm, ok := got.(map[string]any)
	if !ok {
		t.Errorf("%s = %v, want an object", path, got)
		return
	}
	for k, wv := range wm {
		gv, present := gm[k]
		if !present {
			t.Errorf("%s.%s missing from the answer", path, k)
			continue
		}
		apiWantSubset(t, path+"."+k, wv, gv)
	}
}

// ---------------------------------------------------------------------------------------------
// Create, get, fetch.

// apiFullBody uses every field the seed defines, with values other than the defaults.
func apiFullBody() map[string]any {
	return map[string]any{
		"eventNames": []string{"E_LOGIN", "E_IDV_DOCUMENT_VALIDATE"},
		"name":       "full",
		"disabled":   true,
		"createdBy":  "alice@example.com",
		"tags":       []string{"log_stream", "audit"},
		"query":      []map[string]any{{"user.country": "FR"}, {"score": 5}, {"verified": true}},
		"criteria":   "ALL",
		"api": map[string]any{
			"type":        "POST",
			"url":         "https://hooks.example.com/full?x=1",
			"authType":    "basic",
			"oAuthScopes": []string{"read", "write"},
			"credential":  map[string]any{"username": "user-1", "password": "pass-1"},
		},
		"successCodes": []int{200, 201, 202},
		"retryCodes":   []int{0, 503},
		"retryCount":   2,
		"ttl":          5,
	}
}

func TestWebhookCreateEchoesEveryFieldAndGetsIt(t *testing.T) {
	t.Parallel()
	h := startHookd(t, nil)
	scope := apiScope("t1", "c1")
	body := apiFullBody()

	r := h.system(http.MethodPut, scope+"/webhook", body)
	var created map[string]any
	h.mustJSON(r, http.StatusOK, &created)
	id, _ := created["_id"].(string)
	if _, err := uuid.Parse(id); err != nil {
		t.Fatalf("_id %q is not a UUID: %v", id, err)
	}
	apiWantSubset(t, "create", apiJSONValue(t, body), created)
	if created["tenantId"] != "t1" || created["communityId"] != "c1" {
		t.Errorf("tenantId/communityId = %v/%v, want t1/c1", created["tenantId"], created["communityId"])
	}
	secret, _ := created["secret"].(string)
	key, ok := strings.CutPrefix(secret, "whsec_")
	if raw, err := base64.StdEncoding.DecodeString(key); !ok || err != nil || len(raw) != 32 {
		t.Errorf("generated secret %q: want whsec_ and base64 of 32 bytes", secret)
	}

	// GET answers the same webhook, secret and credential included for a system license.
	var got map[string]any
	h.mustJSON(h.system(http.MethodGet, scope+"/webhook/"+id, nil), http.StatusOK, &got)
	apiWantSubset(t, "get", apiJSONValue(t, body), got)
	if got["_id"] != id || got["secret"] != secret {
		t.Errorf("get: _id %v secret %v, want %s %s", got["_id"], got["secret"], id, secret)
	}

	// A second create gets a different id and a different secret.
	again := apiCreate(h, h.license, scope, body)
	if again.ID == id || again.Secret == nil || *again.Secret == secret {
		t.Errorf("second create: id %s secret %v; want both new", again.ID, again.Secret)
	}
	if types := apiHistoryTypes(h, scope, id); !slices.Equal(types, []string{"WebhookCreated"}) {
		t.Errorf("history %v, want [WebhookCreated]", types)
	}
}

func TestWebhookCreateDefaults(t *testing.T) {
	t.Parallel()
	h := startHookd(t, nil)
	scope := apiScope("t1", "c1")
	w := apiCreate(h, h.license, scope, apiMinimal("minimal"))
	if w.Criteria != "ANY" {
		t.Errorf("criteria %q, want ANY", w.Criteria)
	}
	if w.API.Type != "POST" || w.API.AuthType != "none" {
		t.Errorf("api.type %q authType %q, want POST none", w.API.Type, w.API.AuthType)
	}
	if w.Disabled || w.RetryCount != 0 || w.TTL != 0 {
		t.Errorf("disabled %v retryCount %d ttl %d, want false 0 0", w.Disabled, w.RetryCount, w.TTL)
	}
	if w.Tags == nil || len(w.Tags) != 0 || w.Query == nil || len(w.Query) != 0 || w.RetryCodes == nil {
		t.Errorf("tags %v query %v retryCodes %v, want empty lists", w.Tags, w.Query, w.RetryCodes)
	}
	var got apiWebhookJSON
	h.mustJSON(h.system(http.MethodGet, scope+"/webhook/"+w.ID, nil), http.StatusOK, &got)
	if got.Criteria != "ANY" || got.API.Type != "POST" {
		t.Errorf("stored criteria %q api.type %q, want ANY POST", got.Criteria, got.API.Type)
	}
}

func TestWebhookCreateKeepsAGivenSecret(t *testing.T) {
	t.Parallel()
	h := startHookd(t, nil)
	scope := apiScope("t1", "c1")
	standard := "whsec_" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	for _, secret := range []string{standard, "a-raw-secret-of-cosmo"} {
		body := apiMinimal("with secret")
		body["secret"] = secret
		w := apiCreate(h, h.license, scope, body)
		if w.Secret == nil || *w.Secret != secret {
			t.Errorf("create answered secret %v, want %q", w.Secret, secret)
		}
		var got apiWebhookJSON
		h.mustJSON(h.system(http.MethodGet, scope+"/webhook/"+w.ID, nil), http.StatusOK, &got)
		if got.Secret == nil || *got.Secret != secret {
			t.Errorf("stored secret %v, want %q", got.Secret, secret)
		}
	}
}

func TestWebhookFetchPagesInCreationOrder(t *testing.T) {
	t.Parallel()
	h := startHookd(t, nil)
	scope := apiScope("t1", "c1")
	var names []string
	for i := range 7 {
		names = append(names, fmt.Sprintf("w%d", i))
		apiCreate(h, h.license, scope, apiMinimal(names[i]))
	}
	// Webhooks elsewhere are not counted.
	apiCreate(h, h.license, apiScope("t1", "c2"), apiMinimal("other community"))
	apiCreate(h, h.license, apiScope("t2", "c1"), apiMinimal("other tenant"))
	publicKey := h.servicePublicKey()

	p := apiFetch(h, h.license, scope, nil)
	if p.Page.Index != 0 || p.Page.Size != 25 || p.Page.Total != 7 || !slices.Equal(apiNames(p), names) {
		t.Errorf("default page: %+v %v, want index 0 size 25 total 7 %v", p.Page, apiNames(p), names)
	}
	if p.PublicKey == "" || p.PublicKey != publicKey {
		t.Errorf("publicKey %q, want /publickeys' %q", p.PublicKey, publicKey)
	}
	if got := apiNames(apiFetch(h, h.license, scope, map[string]any{})); !slices.Equal(got, names) {
		t.Errorf("fetch {}: %v", got)
	}

	for _, tc := range []struct {
		index, size int
		want        []string
	}{
		{0, 3, names[0:3]},
		{1, 3, names[3:6]},
		{2, 3, names[6:]},
		{3, 3, nil},
		{0, 1, names[:1]},
		{6, 1, names[6:]},
		{0, 100, names},
		{1, 100, nil},
	} {
		p := apiFetch(h, h.license, scope, map[string]any{"pIndex": tc.index, "pSize": tc.size})
		if p.Page.Index != tc.index || p.Page.Size != tc.size || p.Page.Total != 7 {
			t.Errorf("pIndex %d pSize %d: page %+v, want index %d size %d total 7", tc.index, tc.size, p.Page, tc.index, tc.size)
		}
		if got := apiNames(p); !slices.Equal(got, tc.want) && !(len(got) == 0 && len(tc.want) == 0) {
			t.Errorf("pIndex %d pSize %d: %v, want %v", tc.index, tc.size, got, tc.want)
		}
	}
}

func TestWebhookFetchTagFilterNeedsEveryTag(t *testing.T) {
	t.Parallel()
	h := startHookd(t, nil)
	scope := apiScope("t1", "c1")
	for _, w := range []struct {
		name string
		tags []string
	}{
		{"a", []string{"x"}},
		{"b", []string{"y", "x"}},
		{"c", []string{"y"}},
		{"d", []string{"x", "y", "z"}},
		{"e", nil},
	} {
		body := apiMinimal(w.name)
		if w.tags != nil {
			body["tags"] = w.tags
		}
		apiCreate(h, h.license, scope, body)
	}
	apiCreate(h, h.license, apiScope("t1", "c2"), map[string]any{
		"eventNames": []string{"E"}, "name": "elsewhere", "tags": []string{"x"},
		"api": map[string]any{"url": "https://x.example"}, "successCodes": []int{200},
	})
	for _, tc := range []struct {
		tags []string
		want []string
	}{
		{[]string{"x"}, []string{"a", "b", "d"}},
		{[]string{"y"}, []string{"b", "c", "d"}},
		{[]string{"x", "y"}, []string{"b", "d"}},
		{[]string{"y", "x"}, []string{"b", "d"}},
		{[]string{"x", "x"}, []string{"a", "b", "d"}},
		{[]string{"x", "y", "z"}, []string{"d"}},
		{[]string{"z", "a"}, nil},
		{[]string{"nope"}, nil},
		{[]string{}, []string{"a", "b", "c", "d", "e"}},
	} {
		p := apiFetch(h, h.license, scope, map[string]any{"tags": tc.tags})
		if got := apiNames(p); !slices.Equal(got, tc.want) && len(got)+len(tc.want) > 0 {
			t.Errorf("tags %v: %v, want %v", tc.tags, got, tc.want)
		}
		if p.Page.Total != len(tc.want) {
			t.Errorf("tags %v: total %d, want %d", tc.tags, p.Page.Total, len(tc.want))
		}
	}
	// total counts every match, not the page.
	p := apiFetch(h, h.license, scope, map[string]any{"tags": []string{"x"}, "pSize": 2, "pIndex": 1})
	if got := apiNames(p); !slices.Equal(got, []string{"d"}) || p.Page.Total != 3 {
		t.Errorf("tags [x] page 1 of 2: %v total %d, want [d] total 3", got, p.Page.Total)
	}
	p = apiFetch(h, h.license, scope, map[string]any{"tags": []string{"x", "y"}, "pSize": 1, "pIndex": 1})
	if got := apiNames(p); !slices.Equal(got, []string{"d"}) || p.Page.Total != 2 {
		t.Errorf("tags [x y] page 1 of size 1: %v total %d, want [d] total 2", got, p.Page.Total)
	}

	// The filter follows updates and deletes at once, and keeps creation order.
	all := apiFetch(h, h.license, scope, nil).Data
	byName := map[string]string{}
	for _, w := range all {
		byName[w.Name] = w.ID
	}
	h.mustJSON(h.system(http.MethodPatch, scope+"/webhook/"+byName["a"], map[string]any{"tags": []string{"y"}}), http.StatusOK, nil)
	h.mustJSON(h.system(http.MethodPatch, scope+"/webhook/"+byName["e"], map[string]any{"tags": []string{"x", "y"}}), http.StatusOK, nil)
	if r := h.system(http.MethodDelete, scope+"/webhook/"+byName["b"], nil); r.Status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.Status, r.Body)
	}
	for _, tc := range []struct {
		tags []string
		want []string
	}{
		{[]string{"x"}, []string{"d", "e"}},
		{[]string{"y"}, []string{"a", "c", "d", "e"}},
		{[]string{"x", "y"}, []string{"d", "e"}},
	} {
		p := apiFetch(h, h.license, scope, map[string]any{"tags": tc.tags})
		if got := apiNames(p); !slices.Equal(got, tc.want) || p.Page.Total != len(tc.want) {
			t.Errorf("after updates, tags %v: %v total %d, want %v", tc.tags, got, p.Page.Total, tc.want)
		}
	}
}

// ---------------------------------------------------------------------------------------------
// Update, disable, delete.

func TestWebhookPatchChangesOnlyWhatItNames(t *testing.T) {
	t.Parallel()
	h := startHookd(t, nil)
	scope := apiScope("t1", "c1")
	body := apiFullBody()
	w := apiCreate(h, h.license, scope, body)
	path := scope + "/webhook/" + w.ID
	get := func() map[string]any {
		t.Helper()
		var out map[string]any
		h.mustJSON(h.system(http.MethodGet, path, nil), http.StatusOK, &out)
		return out
	}
	patch := func(p any) map[string]any {
		t.Helper()
		var out map[string]any
		h.mustJSON(h.system(http.MethodPatch, path, p), http.StatusOK, &out)
		return out
	}
	want := apiJSONValue(t, body).(map[string]any)

	// A field given changes; every other field keeps its value, in the answer and when read back.
	answer := patch(map[string]any{"name": "renamed"})
	want["name"] = "renamed"
	apiWantSubset(t, "patch name", want, answer)
	apiWantSubset(t, "get after patch name", want, get())

	// An api without a credential keeps the stored credential and authType.
	patch(map[string]any{"api": map[string]any{"url": "https://hooks.example.com/moved"}})
	want["api"].(map[string]any)["url"] = "https://hooks.example.com/moved"
	apiWantSubset(t, "patch api.url", want, get())

	patch(map[string]any{"tags": []string{"new"}, "retryCount": 0, "ttl": 1, "successCodes": []int{204}})
	want["tags"], want["retryCount"], want["ttl"], want["successCodes"] = []any{"new"}, 0.0, 1.0, []any{204.0}
	apiWantSubset(t, "patch several", want, get())

	// A credential given replaces the stored one.
	patch(map[string]any{"api": map[string]any{"credential": map[string]any{"username": "user-2", "password": "pass-2"}}})
	want["api"].(map[string]any)["credential"] = map[string]any{"username": "user-2", "password": "pass-2"}
	apiWantSubset(t, "patch credential", want, get())

	wantTypes := []string{"WebhookCreated", "WebhookUpdated", "WebhookUpdated", "WebhookUpdated", "WebhookUpdated"}
	if types := apiHistoryTypes(h, scope, w.ID); !slices.Equal(types, wantTypes) {
		t.Fatalf("history %v, want %v", types, wantTypes)
	}

	// Updates that change nothing answer 200 and write nothing.
	before := apiLogPosition(h)
	for _, p := range []any{
		map[string]any{},
		map[string]any{"name": "renamed"},
		map[string]any{"disabled": true}, // it was created disabled
		map[string]any{"api": map[string]any{"authType": "basic", "credential": map[string]any{"username": "user-2", "password": "pass-2"}}},
		map[string]any{"query": want["query"], "criteria": "ALL", "eventNames": want["eventNames"]},
	} {
		answer := patch(p)
		apiWantSubset(t, fmt.Sprintf("no-op patch %v", p), want, answer)
	}
	if types := apiHistoryTypes(h, scope, w.ID); !slices.Equal(types, wantTypes) {
		t.Errorf("no-op updates wrote events: history %v, want %v", types, wantTypes)
	}
	if after := apiLogPosition(h); after != before {
		t.Errorf("no-op updates moved the log from %v to %v", before, after)
	}
}

func TestWebhookPatchDisabledToggles(t *testing.T) {
	t.Parallel()
	h := startHookd(t, nil)
	scope := apiScope("t1", "c1")
	w := apiCreate(h, h.license, scope, apiMinimal("toggle"))
	path := scope + "/webhook/" + w.ID
	steps := []struct {
		body     map[string]any
		disabled bool
		event    string // "" when nothing is written
	}{
		{map[string]any{"disabled": true}, true, "WebhookDisabled"},
		{map[string]any{"disabled": true}, true, ""},
		{map[string]any{"disabled": false}, false, "WebhookEnabled"},
		{map[string]any{"disabled": false}, false, ""},
		{map[string]any{"name": "toggle"}, false, ""},
		{map[string]any{"disabled": true, "name": "renamed"}, true, "WebhookUpdated,WebhookDisabled"},
		{map[string]any{"name": "again"}, true, "WebhookUpdated"}, // a patch without disabled keeps it
	}
	want := []string{"WebhookCreated"}
	for i, s := range steps {
		var answer apiWebhookJSON
		h.mustJSON(h.system(http.MethodPatch, path, s.body), http.StatusOK, &answer)
		var got apiWebhookJSON
		h.mustJSON(h.system(http.MethodGet, path, nil), http.StatusOK, &got)
		if answer.Disabled != s.disabled || got.Disabled != s.disabled {
			t.Errorf("step %d %v: answered disabled %v, read %v, want %v", i, s.body, answer.Disabled, got.Disabled, s.disabled)
		}
		if s.event != "" {
			want = append(want, strings.Split(s.event, ",")...)
		}
		if types := apiHistoryTypes(h, scope, w.ID); !slices.Equal(types, want) {
			t.Fatalf("step %d %v: history %v, want %v", i, s.body, types, want)
		}
	}
}

func TestWebhookDeleteThenNotFoundEverywhere(t *testing.T) {
	t.Parallel()
	h := startHookd(t, nil)
	scope := apiScope("t1", "c1")
	keep := apiCreate(h, h.license, scope, apiMinimal("keep"))
	gone := apiCreate(h, h.license, scope, apiMinimal("gone"))
	path := scope + "/webhook/" + gone.ID

	r := h.system(http.MethodDelete, path, nil)
	if r.Status != http.StatusNoContent || len(r.Body) != 0 {
		t.Fatalf("delete: %d %q, want 204 and no body", r.Status, r.Body)
	}
	apiWantError(t, h.system(http.MethodGet, path, nil), http.StatusNotFound)
	apiWantError(t, h.system(http.MethodPatch, path, map[string]any{"name": "zombie"}), http.StatusNotFound)
	apiWantError(t, h.system(http.MethodPatch, path, map[string]any{"disabled": true}), http.StatusNotFound)
	apiWantError(t, h.system(http.MethodDelete, path, nil), http.StatusNotFound)
	apiWantError(t, h.system(http.MethodGet, path+"/history", nil), http.StatusNotFound)
	if p := apiFetch(h, h.license, scope, nil); p.Page.Total != 1 || !slices.Equal(apiNames(p), []string{"keep"}) {
		t.Errorf("fetch after delete: total %d %v, want 1 [keep]", p.Page.Total, apiNames(p))
	}
	if types := apiHistoryTypes(h, scope, keep.ID); !slices.Equal(types, []string{"WebhookCreated"}) {
		t.Errorf("the other webhook's history %v", types)
	}
}

func TestWebhookOfAnotherScopeIsNotFound(t *testing.T) {
	t.Parallel()
	h := startHookd(t, nil)
	home := apiScope("t1", "c1")
	w := apiCreate(h, h.license, home, apiMinimal("home"))
	for _, scope := range []string{apiScope("t1", "c2"), apiScope("t2", "c1"), apiScope("t2", "c2")} {
		path := scope + "/webhook/" + w.ID
		apiWantError(t, h.system(http.MethodGet, path, nil), http.StatusNotFound)
		apiWantError(t, h.system(http.MethodGet, path+"/history", nil), http.StatusNotFound)
		apiWantError(t, h.system(http.MethodPatch, path, map[string]any{"name": "stolen"}), http.StatusNotFound)
		apiWantError(t, h.system(http.MethodPatch, path, map[string]any{"disabled": true}), http.StatusNotFound)
		apiWantError(t, h.system(http.MethodDelete, path, nil), http.StatusNotFound)
		if p := apiFetch(h, h.license, scope, nil); p.Page.Total != 0 {
			t.Errorf("fetch in %s sees %v", scope, apiNames(p))
		}
	}
	for _, id := range []string{uuid.NewString(), "not-a-uuid"} {
		apiWantError(t, h.system(http.MethodGet, home+"/webhook/"+id, nil), http.StatusNotFound)
		apiWantError(t, h.system(http.MethodPatch, home+"/webhook/"+id, map[string]any{"name": "x"}), http.StatusNotFound)
		apiWantError(t, h.system(http.MethodDelete, home+"/webhook/"+id, nil), http.StatusNotFound)
		apiWantError(t, h.system(http.MethodGet, home+"/webhook/"+id+"/history", nil), http.StatusNotFound)
	}
	var got apiWebhookJSON
	h.mustJSON(h.system(http.MethodGet, home+"/webhook/"+w.ID, nil), http.StatusOK, &got)
	if got.Name != "home" || got.Disabled {
		t.Errorf("the webhook changed through another scope: %+v", got)
	}
	if types := apiHistoryTypes(h, home, w.ID); !slices.Equal(types, []string{"WebhookCreated"}) {
		t.Errorf("history %v, want [WebhookCreated]", types)
	}
}

func TestWebhookHistoryOldestFirst(t *testing.T) {
	t.Parallel()
	h := startHookd(t, nil)
	scope := apiScope("t1", "c1")
	w := apiCreate(h, h.license, scope, apiMinimal("v0"))
	path := scope + "/webhook/" + w.ID
	for _, p := range []map[string]any{{"name": "v1"}, {"disabled": true}, {"disabled": false}, {"name": "v2"}} {
		h.mustJSON(h.system(http.MethodPatch, path, p), http.StatusOK, nil)
	}
	hist := apiHistory(h, scope, w.ID)
	want := []struct{ typ, name string }{
		{"WebhookCreated", "v0"}, {"WebhookUpdated", "v1"}, {"WebhookDisabled", ""}, {"WebhookEnabled", ""}, {"WebhookUpdated", "v2"},
	}
	if len(hist.Data) != len(want) {
		t.Fatalf("history has %d entries, want %d", len(hist.Data), len(want))
	}
	for i, e := range hist.Data {
		name := ""
		if e.Settings != nil {
			name = e.Settings.Name
		}
		if e.Type != want[i].typ || name != want[i].name || e.Revision != uint64(i) {
			t.Errorf("entry %d: %s %q revision %d, want %s %q revision %d", i, e.Type, name, e.Revision, want[i].typ, want[i].name, i)
		}
	}
}

// ---------------------------------------------------------------------------------------------
// Read your writes: every answer to a command is followed by queries that show it, without waiting.

func TestWebhookReadYourWrites(t *testing.T) {
	t.Parallel()
	h := startHookd(t, nil)
	scope := apiScope("t1", "c1")
	var live []string
	for i := range 8 {
		w := apiCreate(h, h.license, scope, apiMinimal(fmt.Sprintf("w%d", i)))
		live = append(live, w.ID)
		p := apiFetch(h, h.license, scope, map[string]any{"pSize": 100})
		if p.Page.Total != len(live) || p.Data[len(p.Data)-1].ID != w.ID {
			t.Fatalf("fetch right after create %d: total %d, want %d with it last", i, p.Page.Total, len(live))
		}

		h.mustJSON(h.system(http.MethodPatch, scope+"/webhook/"+w.ID, map[string]any{"name": fmt.Sprintf("renamed%d", i), "disabled": true}), http.StatusOK, nil)
		p = apiFetch(h, h.license, scope, map[string]any{"pSize": 100})
		if last := p.Data[len(p.Data)-1]; last.Name != fmt.Sprintf("renamed%d", i) || !last.Disabled {
			t.Fatalf("fetch right after update %d: %+v", i, last)
		}
		var got apiWebhookJSON
		h.mustJSON(h.system(http.MethodGet, scope+"/webhook/"+w.ID, nil), http.StatusOK, &got)
		if got.Name != fmt.Sprintf("renamed%d", i) || !got.Disabled {
			t.Fatalf("get right after update %d: %+v", i, got)
		}

		if i%2 == 1 { // delete every other one, the oldest still alive
			victim := live[0]
			live = live[1:]
			if r := h.system(http.MethodDelete, scope+"/webhook/"+victim, nil); r.Status != http.StatusNoContent {
				t.Fatalf("delete: %d %s", r.Status, r.Body)
			}
			p = apiFetch(h, h.license, scope, map[string]any{"pSize": 100})
			if p.Page.Total != len(live) || slices.ContainsFunc(p.Data, func(w apiWebhookJSON) bool { return w.ID == victim }) {
				t.Fatalf("fetch right after delete %d: total %d, want %d without %s", i, p.Page.Total, len(live), victim)
			}
			apiWantError(t, h.system(http.MethodGet, scope+"/webhook/"+victim, nil), http.StatusNotFound)
		}
	}
}

// ---------------------------------------------------------------------------------------------
// Errors: every one in the seed's shape, naming the field, and nothing written.

// apiOverLimit is the Content-Length of a body just over the 1 MiB limit.
const apiOverLimit = 1<<20 + 1

func apiWith(mutate func(b map[string]any)) map[string]any {
	b := apiMinimal("bad")
	mutate(b)
	return b
}

func apiWithAPI(fields map[string]any) map[string]any {
	return apiWith(func(b map[string]any) {
		a := map[string]any{"url": "https://hooks.example.com/in"}
		maps.Copy(a, fields)
		b["api"] = a
	})
}

type apiErrorCase struct {
	name        string
	body        any
	contentType string // default application/json
	// declared, when set, is the Content-Length sent, with no body: the server must refuse a body
	// that long before reading it. (Sending the bytes would race the server's close of the connection
	// against the client's write, and the client could see a reset instead of the answer.)
	declared int
	status   int
	mentions []string
}

func apiCreateErrorCases() []apiErrorCase {
	bad := func(name string, body any, mentions ...string) apiErrorCase {
		return apiErrorCase{name: name, body: body, status: http.StatusBadRequest, mentions: mentions}
	}
	oauth := func(drop string) map[string]any {
		a := map[string]any{
			"authType": "oauth2", "oAuthGrantType": "client_credentials", "oAuthTokenUrl": "https://idp.example.com/token",
			"credential": map[string]any{"oauth2": map[string]any{"clientId": "id", "clientSecret": "secret"}},
		}
		if strings.HasPrefix(drop, "oauth2.") {
			delete(a["credential"].(map[string]any)["oauth2"].(map[string]any), strings.TrimPrefix(drop, "oauth2."))
		} else {
			delete(a, drop)
		}
		return apiWithAPI(a)
	}
	return []apiErrorCase{
		bad("unknown field", apiWith(func(b map[string]any) { b["foo"] = 1 }), "foo"),
		bad("unknown field in api", apiWithAPI(map[string]any{"foo": 1}), "foo"),
		bad("unknown field in credential", apiWithAPI(map[string]any{"credential": map[string]any{"pin": "1"}}), "pin"),
		bad("unknown field in oauth2", apiWithAPI(map[string]any{"credential": map[string]any{"oauth2": map[string]any{"audience": "x"}}}), "audience"),
		bad("retryCount a string", apiWith(func(b map[string]any) { b["retryCount"] = "1" }), "retryCount"),
		bad("retryCount a fraction", apiWith(func(b map[string]any) { b["retryCount"] = 1.5 }), "retryCount"),
		bad("successCodes of strings", apiWith(func(b map[string]any) { b["successCodes"] = []string{"200"} }), "successCodes"),
		bad("api a string", apiWith(func(b map[string]any) { b["api"] = "x" }), "api"),
		bad("eventNames a string", apiWith(func(b map[string]any) { b["eventNames"] = "E_LOGIN" }), "eventNames"),
		bad("disabled a string", apiWith(func(b map[string]any) { b["disabled"] = "yes" }), "disabled"),
		bad("tags of numbers", apiWith(func(b map[string]any) { b["tags"] = []int{1} }), "tags"),
		bad("api.url a number", apiWithAPI(map[string]any{"url": 5}), "url"),
		bad("retryCount 3", apiWith(func(b map[string]any) { b["retryCount"] = 3 }), "retryCount"),
		bad("retryCount -1", apiWith(func(b map[string]any) { b["retryCount"] = -1 }), "retryCount"),
		bad("ttl 6", apiWith(func(b map[string]any) { b["ttl"] = 6 }), "ttl"),
		bad("ttl -1", apiWith(func(b map[string]any) { b["ttl"] = -1 }), "ttl"),
		bad("successCodes 99", apiWith(func(b map[string]any) { b["successCodes"] = []int{99} }), "successCodes"),
		bad("successCodes 600", apiWith(func(b map[string]any) { b["successCodes"] = []int{200, 600} }), "successCodes"),
		bad("successCodes empty", apiWith(func(b map[string]any) { b["successCodes"] = []int{} }), "successCodes"),
		bad("retryCodes 600", apiWith(func(b map[string]any) { b["retryCodes"] = []int{600} }), "retryCodes"),
		bad("retryCodes 99", apiWith(func(b map[string]any) { b["retryCodes"] = []int{0, 99} }), "retryCodes"),
		bad("eventNames empty", apiWith(func(b map[string]any) { b["eventNames"] = []string{} }), "eventNames"),
		bad("name missing", apiWith(func(b map[string]any) { delete(b, "name") }), "name"),
		bad("name blank", apiWith(func(b map[string]any) { b["name"] = " " }), "name"),
		bad("eventNames missing", apiWith(func(b map[string]any) { delete(b, "eventNames") }), "eventNames"),
		bad("api missing", apiWith(func(b map[string]any) { delete(b, "api") }), "api"),
		bad("successCodes missing", apiWith(func(b map[string]any) { delete(b, "successCodes") }), "successCodes"),
		bad("criteria unknown", apiWith(func(b map[string]any) { b["criteria"] = "SOME" }), "criteria"),
		bad("api.type GET", apiWithAPI(map[string]any{"type": "GET"}), "api.type"),
		bad("api.authType unknown", apiWithAPI(map[string]any{"authType": "digest"}), "api.authType"),
		bad("basic without credential", apiWithAPI(map[string]any{"authType": "basic"}), "api.credential.username", "api.credential.password"),
		bad("basic without password", apiWithAPI(map[string]any{"authType": "basic", "credential": map[string]any{"username": "u"}}), "api.credential.password"),
		bad("basic without username", apiWithAPI(map[string]any{"authType": "basic", "credential": map[string]any{"password": "p"}}), "api.credential.username"),
		bad("bearer without token", apiWithAPI(map[string]any{"authType": "bearer", "credential": map[string]any{"username": "u"}}), "api.credential.token"),
		bad("api_key without keyName", apiWithAPI(map[string]any{"authType": "api_key", "credential": map[string]any{"keyValue": "v"}}), "api.credential.keyName"),
		bad("api_key without keyValue", apiWithAPI(map[string]any{"authType": "api_key", "credential": map[string]any{"keyName": "X-Key"}}), "api.credential.keyValue"),
		bad("oauth2 without clientId", oauth("oauth2.clientId"), "api.credential.oauth2.clientId"),
		bad("oauth2 without clientSecret", oauth("oauth2.clientSecret"), "api.credential.oauth2.clientSecret"),
		bad("oauth2 without token URL", oauth("oAuthTokenUrl"), "api.oAuthTokenUrl"),
		bad("oauth2 without grant type", oauth("oAuthGrantType"), "api.oAuthGrantType"),
		bad("url ftp", apiWithAPI(map[string]any{"url": "ftp://hooks.example.com/in"}), "api.url"),
		bad("url not a URL", apiWithAPI(map[string]any{"url": "not a url"}), "api.url"),
		bad("url relative", apiWithAPI(map[string]any{"url": "/in"}), "api.url"),
		bad("url without host", apiWithAPI(map[string]any{"url": "https://"}), "api.url"),
		bad("url missing", apiWithAPI(map[string]any{"url": ""}), "api.url"),
		bad("url host an IPv4 part over 255", apiWithAPI(map[string]any{"url": "http://256.0.0.1/"}), "api.url", "256.0.0.1"),
		bad("url host of five IPv4 parts", apiWithAPI(map[string]any{"url": "http://1.2.3.4.5/"}), "api.url"),
		bad("url host a hex number over 32 bits", apiWithAPI(map[string]any{"url": "http://0x100000000/"}), "api.url"),
		bad("url host with an empty label", apiWithAPI(map[string]any{"url": "http://localhost../"}), "api.url"),
		bad("token URL host an invalid IPv4", apiWithAPI(map[string]any{"oAuthTokenUrl": "https://256.0.0.1/token"}), "api.oAuthTokenUrl"),
		bad("createdBy with NUL", apiWith(func(b map[string]any) { b["createdBy"] = "app\u0000" }), "createdBy"),
		bad("createdBy with CR", apiWith(func(b map[string]any) { b["createdBy"] = "app\rX" }), "createdBy"),
		bad("createdBy with LF", apiWith(func(b map[string]any) { b["createdBy"] = "app\nX" }), "createdBy"),
		bad("query entry with 2 keys", apiWith(func(b map[string]any) { b["query"] = []map[string]any{{"a": 1, "b": 2}} }), "query[0]"),
		bad("query entry with no key", apiWith(func(b map[string]any) { b["query"] = []map[string]any{{"a": 1}, {}} }), "query[1]"),
		bad("secret too short", apiWith(func(b map[string]any) { b["secret"] = "short" }), "secret"),
		bad("secret empty", apiWith(func(b map[string]any) { b["secret"] = "" }), "secret"),
		bad("malformed JSON", `{"name":`, "JSON"),
		bad("malformed JSON syntax", `{"name" "x"}`, "JSON"),
		bad("trailing data", `{"name":"x","eventNames":["E"],"api":{"url":"https://x.example"},"successCodes":[200]} {}`),
		bad("trailing garbage", `{"name":"x","eventNames":["E"],"api":{"url":"https://x.example"},"successCodes":[200]}x`),
		bad("an array", `[]`),
		{name: "body over 1 MiB", declared: apiOverLimit, status: http.StatusRequestEntityTooLarge},
		{name: "text/plain", body: apiMinimal("x"), contentType: "text/plain", status: http.StatusUnsupportedMediaType},
		{name: "form", body: "name=x", contentType: "application/x-www-form-urlencoded", status: http.StatusUnsupportedMediaType},
	}
}

func apiPatchErrorCases() []apiErrorCase {
	bad := func(name string, body any, mentions ...string) apiErrorCase {
		return apiErrorCase{name: name, body: body, status: http.StatusBadRequest, mentions: mentions}
	}
	return []apiErrorCase{
		bad("unknown field", map[string]any{"foo": 1}, "foo"),
		bad("unknown field in api", map[string]any{"api": map[string]any{"foo": 1}}, "foo"),
		bad("retryCount a string", map[string]any{"retryCount": "1"}, "retryCount"),
		bad("successCodes of strings", map[string]any{"successCodes": []string{"200"}}, "successCodes"),
		bad("api a string", map[string]any{"api": "x"}, "api"),
		bad("disabled a string", map[string]any{"disabled": "true"}, "disabled"),
		bad("retryCount 3", map[string]any{"retryCount": 3}, "retryCount"),
		bad("ttl 6", map[string]any{"ttl": 6}, "ttl"),
		bad("successCodes 99", map[string]any{"successCodes": []int{99}}, "successCodes"),
		bad("successCodes empty", map[string]any{"successCodes": []int{}}, "successCodes"),
		bad("retryCodes 600", map[string]any{"retryCodes": []int{600}}, "retryCodes"),
		bad("eventNames empty", map[string]any{"eventNames": []string{}}, "eventNames"),
		bad("name empty", map[string]any{"name": ""}, "name"),
		bad("basic without credential", map[string]any{"api": map[string]any{"authType": "basic"}}, "api.credential.username"),
		bad("bearer without token", map[string]any{"api": map[string]any{"authType": "bearer"}}, "api.credential.token"),
		bad("api_key without keyValue", map[string]any{"api": map[string]any{"authType": "api_key", "credential": map[string]any{"keyName": "X"}}}, "api.credential.keyValue"),
		bad("oauth2 without anything", map[string]any{"api": map[string]any{"authType": "oauth2"}}, "api.oAuthTokenUrl", "api.credential.oauth2.clientSecret"),
		bad("bad url", map[string]any{"api": map[string]any{"url": "mailto:x@example.com"}}, "api.url"),
		bad("url host an IPv4 part over 255", map[string]any{"api": map[string]any{"url": "http://256.0.0.1/"}}, "api.url"),
		bad("url host of five IPv4 parts", map[string]any{"api": map[string]any{"url": "http://1.2.3.4.5/"}}, "api.url"),
		bad("url host a hex number over 32 bits", map[string]any{"api": map[string]any{"url": "http://0x100000000/"}}, "api.url"),
		bad("url host with an empty label", map[string]any{"api": map[string]any{"url": "http://localhost../"}}, "api.url"),
		bad("token URL host with an empty label", map[string]any{"api": map[string]any{"oAuthTokenUrl": "https://idp..example/token"}}, "api.oAuthTokenUrl"),
		bad("query entry with 2 keys", map[string]any{"query": []map[string]any{{"a": 1, "b": 2}}}, "query[0]"),
		bad("secret", map[string]any{"secret": "a-new-secret-value"}, "secret"),
		bad("createdBy", map[string]any{"createdBy": "mallory"}, "createdBy"),
		bad("bad value with a good one", map[string]any{"name": "would change", "ttl": 9}, "ttl"),
		bad("malformed JSON", `{"name":`, "JSON"),
		bad("trailing data", `{"name":"x"} {"name":"y"}`),
		{name: "body over 1 MiB", declared: apiOverLimit, status: http.StatusRequestEntityTooLarge},
		{name: "text/plain", body: map[string]any{"name": "x"}, contentType: "text/plain", status: http.StatusUnsupportedMediaType},
	}
}

func apiFetchErrorCases() []apiErrorCase {
	bad := func(name string, body any, mentions ...string) apiErrorCase {
		return apiErrorCase{name: name, body: body, status: http.StatusBadRequest, mentions: mentions}
	}
	return []apiErrorCase{
		bad("pSize 0", map[string]any{"pSize": 0}, "pSize"),
		bad("pSize 101", map[string]any{"pSize": 101}, "pSize"),
		bad("pSize -1", map[string]any{"pSize": -1}, "pSize"),
		bad("pIndex -1", map[string]any{"pIndex": -1}, "pIndex"),
		bad("pSize a string", map[string]any{"pSize": "10"}, "pSize"),
		bad("pIndex a fraction", map[string]any{"pIndex": 0.5}, "pIndex"),
		bad("tags a string", map[string]any{"tags": "x"}, "tags"),
		bad("tags with an empty tag", map[string]any{"tags": []string{"x", ""}}, "tags[1]"),
		bad("unknown field", map[string]any{"page": 1}, "page"),
		bad("malformed JSON", `{"pSize":`, "JSON"),
		bad("trailing data", `{"pSize":1}{}`),
		{name: "body over 1 MiB", declared: apiOverLimit, status: http.StatusRequestEntityTooLarge},
		{name: "text/plain", body: map[string]any{"pSize": 1}, contentType: "text/plain", status: http.StatusUnsupportedMediaType},
	}
}

// apiSendCase sends one error case, with fresh auth headers.
func apiSendCase(h *testHookd, method, path string, c apiErrorCase) response {
	h.t.Helper()
	var body []byte
	switch b := c.body.(type) {
	case string:
		body = []byte(b)
	default:
		var err error
		if body, err = json.Marshal(b); err != nil {
			h.t.Fatal(err)
		}
	}
	headers := h.authHeaders(h.license)
	headers["Content-Type"] = "application/json"
	if c.contentType != "" {
		headers["Content-Type"] = c.contentType
	}
	if c.declared > 0 {
		return apiSendDeclared(h, method, path, c.declared, headers)
	}
	return h.do(method, path, body, headers)
}

// apiSendDeclared sends a request that declares a body of length bytes but sends none of it, on a
// connection of its own, and reads the answer.
func apiSendDeclared(h *testHookd, method, path string, length int, headers map[string]string) response {
	h.t.Helper()
	host := strings.TrimPrefix(h.url, "http://")
	conn, err := net.Dial("tcp", host)
	if err != nil {
		h.t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		h.t.Fatal(err)
	}
	var req strings.Builder
	fmt.Fprintf(&req, "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n", method, path, host, length)
	for k, v := range headers {
		fmt.Fprintf(&req, "%s: %s\r\n", k, v)
	}
	req.WriteString("\r\n")
	if _, err := io.WriteString(conn, req.String()); err != nil {
		h.t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		h.t.Fatalf("%s %s declaring %d bytes: %v", method, path, length, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return response{Status: resp.StatusCode, Header: resp.Header, Body: data}
}

func TestWebhookErrorsAnswerInShapeAndWriteNothing(t *testing.T) {
	t.Parallel()
	h := startHookd(t, nil)
	scope := apiScope("t1", "c1")
	w := apiCreate(h, h.license, scope, apiMinimal("existing"))
	path := scope + "/webhook/" + w.ID
	before := apiLogPosition(h)

	t.Run("create", func(t *testing.T) {
		for _, c := range apiCreateErrorCases() {
			apiWantErrorNamed(t, c, apiSendCase(h, http.MethodPut, scope+"/webhook", c))
		}
	})
	t.Run("update", func(t *testing.T) {
		for _, c := range apiPatchErrorCases() {
			apiWantErrorNamed(t, c, apiSendCase(h, http.MethodPatch, path, c))
		}
	})
	t.Run("fetch", func(t *testing.T) {
		for _, c := range apiFetchErrorCases() {
			apiWantErrorNamed(t, c, apiSendCase(h, http.MethodPost, scope+"/webhooks/fetch", c))
		}
	})

	// A body of exactly 1 MiB is within the limit.
	exact := `{"pSize":1}`
	exact += strings.Repeat(" ", 1<<20-len(exact))
	if r := h.system(http.MethodPost, scope+"/webhooks/fetch", exact); r.Status != http.StatusOK {
		t.Errorf("fetch with a body of exactly 1 MiB: %d %s", r.Status, r.Body)
	}

	// Nothing was written: the webhook and the list are as they were, and the log moved only by the
	// two creates below, each as far as the other.
	var got apiWebhookJSON
	h.mustJSON(h.system(http.MethodGet, path, nil), http.StatusOK, &got)
	if got.Name != "existing" || got.Disabled || got.TTL != 0 || got.RetryCount != 0 {
		t.Errorf("the webhook changed: %+v", got)
	}
	if types := apiHistoryTypes(h, scope, w.ID); !slices.Equal(types, []string{"WebhookCreated"}) {
		t.Errorf("history %v, want [WebhookCreated]", types)
	}
	if p := apiFetch(h, h.license, scope, nil); p.Page.Total != 1 {
		t.Errorf("fetch total %d after failed creates, want 1: %v", p.Page.Total, apiNames(p))
	}
	apiCreate(h, h.license, apiScope("t9", "c9"), apiMinimal("marker 1"))
	mid := apiLogPosition(h)
	apiCreate(h, h.license, apiScope("t9", "c9"), apiMinimal("marker 2"))
	after := apiLogPosition(h)
	if mid-before != after-mid {
		t.Errorf("the log moved %v across the failed requests and one create, but %v for one create alone", mid-before, after-mid)
	}
}

func apiWantErrorNamed(t *testing.T, c apiErrorCase, r response) {
	t.Helper()
	t.Run(c.name, func(t *testing.T) {
		t.Helper()
		apiWantError(t, r, c.status, c.mentions...)
	})
}

// Go's decoder names only the last key of an unknown field; the API names every other field by its
// whole path (api.credential.password, query[0]), so a nested unknown field should be too.
func TestWebhookUnknownNestedFieldNamedByPath(t *testing.T) {
	t.Parallel()
	h := startHookd(t, nil)
	scope := apiScope("t1", "c1")
	for _, c := range []struct {
		body any
		path string
	}{
		{apiWithAPI(map[string]any{"foo": 1}), "api.foo"},
		{apiWithAPI(map[string]any{"credential": map[string]any{"oauth2": map[string]any{"x": 1}}}), "api.credential.oauth2.x"},
	} {
		apiWantError(t, h.system(http.MethodPut, scope+"/webhook", c.body), http.StatusBadRequest, c.path)
	}
}

// ---------------------------------------------------------------------------------------------
// Concurrency.

func TestWebhookConcurrentPatchesConflictNeverLose(t *testing.T) {
	t.Parallel()
	h := startHookd(t, nil)
	scope := apiScope("t1", "c1")
	w := apiCreate(h, h.license, scope, apiMinimal("start"))
	path := scope + "/webhook/" + w.ID

	const n = 24
	headers := make([]map[string]string, n)
	for i := range headers {
		headers[i] = h.authHeaders(h.license)
	}
	results := make([]response, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			results[i], errs[i] = apiTry(h, http.MethodPatch, path, map[string]any{"name": fmt.Sprintf("writer-%d", i)}, headers[i])
		})
	}
	close(start)
	wg.Wait()

	var won []string
	answeredAt := map[string]uint64{} // writer's name -> the version its answer claims
	for i, r := range results {
		if errs[i] != nil {
			t.Fatalf("writer %d: %v", i, errs[i])
		}
		switch r.Status {
		case http.StatusOK:
			var got apiWebhookJSON
			if err := json.Unmarshal(r.Body, &got); err != nil || got.Name != fmt.Sprintf("writer-%d", i) {
				t.Errorf("writer %d: answered %s", i, r.Body)
			}
			won = append(won, got.Name)
			answeredAt[got.Name] = got.Version
		case http.StatusConflict:
			apiWantError(t, r, http.StatusConflict)
		default:
			t.Errorf("writer %d: %d %s, want 200 or 409", i, r.Status, r.Body)
		}
	}
	if len(won) == 0 {
		t.Fatal("no writer succeeded")
	}
	// One WebhookUpdated per 200, each with the name that writer sent: no update lost, none written
	// without the writer being told.
	var recorded []string
	for _, e := range apiHistory(h, scope, w.ID).Data[1:] {
		if e.Type != "WebhookUpdated" || e.Settings == nil {
			t.Fatalf("unexpected history entry %+v", e)
		}
		recorded = append(recorded, e.Settings.Name)
		// Each winner's answer is the state its own update made: a writer that appended over a change
		// it had not seen would answer a version some other writer also answered.
		if v, ok := answeredAt[e.Settings.Name]; ok && v != e.Revision {
			t.Errorf("%s was answered at version %d but recorded at revision %d", e.Settings.Name, v, e.Revision)
		}
	}
	slices.Sort(won)
	if !slices.Equal(slices.Sorted(slices.Values(recorded)), won) {
		t.Errorf("history records %v, but the writers told 200 were %v", recorded, won)
	}
	// The webhook ends as the last recorded update left it.
	var got apiWebhookJSON
	h.mustJSON(h.system(http.MethodGet, path, nil), http.StatusOK, &got)
	if got.Name != recorded[len(recorded)-1] {
		t.Errorf("webhook named %q, want the last update's %q", got.Name, recorded[len(recorded)-1])
	}
	t.Logf("%d of %d concurrent updates won", len(won), n)
}

func TestWebhookConcurrentCreatesAllSucceed(t *testing.T) {
	t.Parallel()
	h := startHookd(t, nil)
	scope := apiScope("t1", "c1")
	const n = 24
	headers := make([]map[string]string, n)
	for i := range headers {
		headers[i] = h.authHeaders(h.license)
	}
	results := make([]response, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			results[i], errs[i] = apiTry(h, http.MethodPut, scope+"/webhook", apiMinimal(fmt.Sprintf("c%02d", i)), headers[i])
		})
	}
	close(start)
	wg.Wait()
	ids := map[string]bool{}
	for i, r := range results {
		if errs[i] != nil || r.Status != http.StatusOK {
			t.Fatalf("create %d: %v %d %s", i, errs[i], r.Status, r.Body)
		}
		var w apiWebhookJSON
		if err := json.Unmarshal(r.Body, &w); err != nil {
			t.Fatal(err)
		}
		ids[w.ID] = true
	}
	if len(ids) != n {
		t.Errorf("%d distinct ids for %d creates", len(ids), n)
	}
	p := apiFetch(h, h.license, scope, map[string]any{"pSize": 100})
	if p.Page.Total != n {
		t.Errorf("fetch total %d, want %d", p.Page.Total, n)
	}
	for _, w := range p.Data {
		if !ids[w.ID] {
			t.Errorf("fetch shows %s, which no create answered", w.ID)
		}
	}
}

// apiEventually polls cond every 20 ms until it holds or the time is up.
func apiEventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
