package main

// Component tests of secret rotation (POST .../webhook/{id}/secret/rotate), against the real server.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// apiRotate rotates the secret of the webhook id with licenseKey; the answer must be 200.
func apiRotate(h *testHookd, licenseKey, scope, id string, body any) apiWebhookJSON {
	h.t.Helper()
	var w apiWebhookJSON
	h.mustJSON(h.as(licenseKey, http.MethodPost, scope+"/webhook/"+id+"/secret/rotate", body), http.StatusOK, &w)
	return w
}

// apiRotations returns the previousSecretExpiresAt of each rotation in the webhook's history, and
// fails the test if the history shows any of secrets.
func apiRotations(h *testHookd, scope, id string, secrets ...string) []time.Time {
	h.t.Helper()
	r := h.system(http.MethodGet, scope+"/webhook/"+id+"/history", nil)
	for _, s := range secrets {
		if strings.Contains(string(r.Body), s) {
			h.t.Errorf("the history shows the secret %q: %s", s, r.Body)
		}
	}
	var hist struct {
		Data []map[string]any `json:"data"`
	}
	h.mustJSON(r, http.StatusOK, &hist)
	var out []time.Time
	for _, e := range hist.Data {
		if e["type"] != "WebhookSecretRotated" {
			continue
		}
		if _, ok := e["settings"]; ok {
			h.t.Errorf("a rotation in the history carries settings: %v", e)
		}
		at, err := time.Parse(time.RFC3339Nano, e["previousSecretExpiresAt"].(string))
		if err != nil {
			h.t.Fatalf("rotation entry %v: %v", e, err)
		}
		out = append(out, at)
	}
	return out
}

func apiSecretOf(h *testHookd, scope, id string) string {
	h.t.Helper()
	var got apiWebhookJSON
	h.mustJSON(h.system(http.MethodGet, scope+"/webhook/"+id, nil), http.StatusOK, &got)
	if got.Secret == nil {
		h.t.Fatalf("a system license sees no secret on %s", id)
	}
	return *got.Secret
}

func TestRotateSecretAnswersTheNewSecret(t *testing.T) {
	t.Parallel()
	h := startHookd(t, nil)
	scope := apiScope("t1", "c1")
	const first = "the-first-secret-of-the-hook"
	body := apiMinimal("hook")
	body["secret"] = first
	w := apiCreate(h, h.license, scope, body)

	// An empty body: a generated secret, the previous one valid for a day.
	began := time.Now()
	rotated := apiRotate(h, h.license, scope, w.ID, nil)
	if rotated.Secret == nil {
		t.Fatal("the rotation's answer has no secret")
	}
	generated := *rotated.Secret
	key, ok := strings.CutPrefix(generated, "whsec_")
	if raw, err := base64.StdEncoding.DecodeString(key); !ok || err != nil || len(raw) != 32 {
		t.Errorf("generated secret %q: want whsec_ and base64 of 32 bytes", generated)
	}
	if rotated.ID != w.ID || rotated.Name != "hook" || rotated.Version != w.Version+1 {
		t.Errorf("rotation answered %+v, want the webhook at version %d", rotated, w.Version+1)
	}
	if got := apiSecretOf(h, scope, w.ID); got != generated {
		t.Errorf("a get right after the rotation shows secret %q, want %q", got, generated)
	}
	expiries := apiRotations(h, scope, w.ID, first, generated)
	if len(expiries) != 1 || expiries[0].Before(began.Add(24*time.Hour).Add(-time.Second)) || expiries[0].After(time.Now().Add(24*time.Hour)) {
		t.Errorf("the history's rotations expire at %v, want one a day after the rotation", expiries)
	}

	// A given secret and grace period; an empty object is an empty body.
	const given = "a-secret-the-integrator-chose"
	began = time.Now()
	again := apiRotate(h, h.license, scope, w.ID, map[string]any{"secret": given, "gracePeriodSeconds": 60})
	if again.Secret == nil || *again.Secret != given {
		t.Errorf("rotation to a given secret answered %v, want %q", again.Secret, given)
	}
	expiries = apiRotations(h, scope, w.ID, first, generated, given)
	if len(expiries) != 2 || expiries[1].Before(began.Add(59*time.Second)) || expiries[1].After(time.Now().Add(time.Minute)) {
		t.Errorf("the history's rotations expire at %v, want the second a minute after it", expiries)
	}
	for _, b := range []any{map[string]any{}, map[string]any{"gracePeriodSeconds": 0}, map[string]any{"gracePeriodSeconds": 604800}} {
		if r := apiRotate(h, h.license, scope, w.ID, b); r.Secret == nil || !strings.HasPrefix(*r.Secret, "whsec_") {
			t.Errorf("rotation with %v answered secret %v", b, r.Secret)
		}
	}
	if types := apiHistoryTypes(h, scope, w.ID); len(types) != 6 || types[0] != "WebhookCreated" ||
		slices.ContainsFunc(types[1:], func(s string) bool { return s != "WebhookSecretRotated" }) {
		t.Errorf("history %v, want a creation and five rotations", types)
	}
}

func TestRotateSecretErrorsAnswerInShapeAndWriteNothing(t *testing.T) {
	t.Parallel()
	h := startHookd(t, nil)
	scope := apiScope("t1", "c1")
	w := apiCreate(h, h.license, scope, apiMinimal("hook"))
	secret := *w.Secret
	path := scope + "/webhook/" + w.ID + "/secret/rotate"
	gone := apiCreate(h, h.license, scope, apiMinimal("gone"))
	if r := h.system(http.MethodDelete, scope+"/webhook/"+gone.ID, nil); r.Status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.Status, r.Body)
	}
	before := apiLogPosition(h)

	bad := func(name string, body any, mentions ...string) apiErrorCase {
		return apiErrorCase{name: name, body: body, status: http.StatusBadRequest, mentions: mentions}
	}
	for _, c := range []apiErrorCase{
		bad("secret empty", map[string]any{"secret": ""}, "secret"),
		bad("secret too short", map[string]any{"secret": "short"}, "secret"),
		bad("secret with a newline", map[string]any{"secret": "abcdefgh\nijk"}, "secret"),
		bad("secret whsec_ of 8 bytes", map[string]any{"secret": "whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 8))}, "secret"),
		bad("the current secret", map[string]any{"secret": secret}, "secret must differ"),
		bad("secret a number", map[string]any{"secret": 12345678}, "secret"),
		bad("grace negative", map[string]any{"gracePeriodSeconds": -1}, "gracePeriodSeconds", "604800"),
		bad("grace over a week", map[string]any{"gracePeriodSeconds": 604801}, "gracePeriodSeconds", "604800"),
		bad("grace beyond any duration", map[string]any{"gracePeriodSeconds": int64(1) << 62}, "gracePeriodSeconds"),
		bad("grace a fraction", map[string]any{"gracePeriodSeconds": 1.5}, "gracePeriodSeconds"),
		bad("grace a string", map[string]any{"gracePeriodSeconds": "60"}, "gracePeriodSeconds"),
		bad("both wrong", map[string]any{"secret": "x", "gracePeriodSeconds": -5}, "secret", "gracePeriodSeconds"),
		bad("unknown field", map[string]any{"grace": 60}, "unknown field grace"),
		bad("malformed JSON", `{"secret":`, "JSON"),
		bad("an array", `[]`),
		{name: "body over 1 MiB", declared: apiOverLimit, status: http.StatusRequestEntityTooLarge},
		{name: "text/plain", body: map[string]any{"gracePeriodSeconds": 60}, contentType: "text/plain", status: http.StatusUnsupportedMediaType},
	} {
		apiWantErrorNamed(t, c, apiSendCase(h, http.MethodPost, path, c))
	}

	// 404 as every endpoint of a webhook: deleted, unknown, not a UUID, or of another scope.
	for _, p := range []string{
		scope + "/webhook/" + gone.ID + "/secret/rotate",
		scope + "/webhook/" + uuid.NewString() + "/secret/rotate",
		scope + "/webhook/not-a-uuid/secret/rotate",
		apiScope("t1", "c2") + "/webhook/" + w.ID + "/secret/rotate",
		apiScope("t2", "c1") + "/webhook/" + w.ID + "/secret/rotate",
	} {
		apiWantError(t, h.system(http.MethodPost, p, nil), http.StatusNotFound, "webhook not found")
	}
	apiWantError(t, h.do(http.MethodPost, path, nil, nil), http.StatusUnauthorized)

	if got := apiSecretOf(h, scope, w.ID); got != secret {
		t.Errorf("the secret changed to %q", got)
	}
	if types := apiHistoryTypes(h, scope, w.ID); !slices.Equal(types, []string{"WebhookCreated"}) {
		t.Errorf("history %v, want [WebhookCreated]", types)
	}
	apiWantNothingAppended(t, h, before)
}

// A service license may rotate the secret of a webhook of its scope. The answer shows it the new
// secret, never the previous one; afterwards it sees neither, as it sees no secret anywhere.
func TestRotateSecretByAServiceLicense(t *testing.T) {
	t.Parallel()
	h := startHookd(t, nil)
	scope := apiScope("t1", "c1")
	service := apiIssueLicense(h, "--level", "service", "--tenant", "t1")
	const password, previous = "canary-rotate-password-1a2b", "canary-rotate-previous-3c4d"
	w := apiCreate(h, h.license, scope, apiCanaryBody("hook", password, previous))

	r := h.as(service, http.MethodPost, scope+"/webhook/"+w.ID+"/secret/rotate", map[string]any{"gracePeriodSeconds": 3600})
	var rotated apiWebhookJSON
	h.mustJSON(r, http.StatusOK, &rotated)
	if rotated.Secret == nil || !strings.HasPrefix(*rotated.Secret, "whsec_") {
		t.Fatalf("the service license's rotation answered secret %v, want the new one", rotated.Secret)
	}
	fresh := *rotated.Secret
	if bytes.Contains(r.Body, []byte(previous)) || bytes.Contains(r.Body, []byte(password)) || rotated.API.Credential != nil {
		t.Errorf("the rotation shows the previous secret or the credential to a service license: %s", r.Body)
	}
	if got := apiSecretOf(h, scope, w.ID); got != fresh {
		t.Errorf("a system license sees secret %q, want the rotated %q", got, fresh)
	}

	for _, c := range []struct {
		what   string
		method string
		path   string
		body   any
	}{
		{"get", http.MethodGet, scope + "/webhook/" + w.ID, nil},
		{"fetch", http.MethodPost, scope + "/webhooks/fetch", nil},
		{"match", http.MethodPost, scope + "/webhooks/match", map[string]any{"eventName": "E_LOGIN", "payload": map[string]any{}}},
		{"patch", http.MethodPatch, scope + "/webhook/" + w.ID, map[string]any{"name": "renamed"}},
		{"history", http.MethodGet, scope + "/webhook/" + w.ID + "/history", nil},
	} {
		r := h.as(service, c.method, c.path, c.body)
		if r.Status != http.StatusOK {
			t.Fatalf("%s: %d %s", c.what, r.Status, r.Body)
		}
		for _, s := range []string{fresh, previous, password} {
			if bytes.Contains(r.Body, []byte(s)) {
				t.Errorf("%s shows %q to a service license: %s", c.what, s, r.Body)
			}
		}
		var one map[string]any
		if json.Unmarshal(r.Body, &one) == nil && c.what == "get" {
			if _, ok := one["secret"]; ok {
				t.Errorf("get: secret present for a service license")
			}
		}
	}

	// A license of another tenant may not.
	other := apiIssueLicense(h, "--level", "service", "--tenant", "t2")
	apiWantError(t, h.as(other, http.MethodPost, scope+"/webhook/"+w.ID+"/secret/rotate", nil), http.StatusForbidden)
	if got := apiSecretOf(h, scope, w.ID); got != fresh {
		t.Errorf("after the refused rotation the secret is %q, want %q", got, fresh)
	}
}
