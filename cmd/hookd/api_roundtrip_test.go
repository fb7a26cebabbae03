package main

// The PATCH round trip: a client that fetches a webhook, edits it and sends the whole document back.

import (
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"testing"
)

// apiDocument fetches a webhook with licenseKey as a raw JSON document, exactly as a client holds it.
func apiDocument(h *testHookd, licenseKey, path string) map[string]any {
	h.t.Helper()
	var doc map[string]any
	h.mustJSON(h.as(licenseKey, http.MethodGet, path, nil), http.StatusOK, &doc)
	return doc
}

// apiCopy is a deep copy of a JSON document.
func apiCopy(t *testing.T, doc map[string]any) map[string]any {
	t.Helper()
	data, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestWebhookPatchTakesTheDocumentAsFetched(t *testing.T) {
	t.Parallel()
	h := startHookd(t, nil)
	scope := apiScope("t1", "c1")
	body := apiMinimal("round trip")
	body["tags"] = []string{"audit"}
	body["query"] = []map[string]any{{"data.kind": "gold"}, {"data.count": 3}}
	body["api"] = map[string]any{"url": "https://hooks.example.com/in", "authType": "bearer", "credential": map[string]any{"token": "s3cret-token"}}
	body["retryCodes"] = []int{0, 503}
	created := apiCreate(h, h.license, scope, body)
	path := scope + "/webhook/" + created.ID

	// A system license sees the credential and the secret, and sends them back as they are.
	doc := apiDocument(h, h.license, path)
	for _, field := range []string{"_id", "tenantId", "communityId", "createdBy", "secret", "version", "createdAt", "updatedAt"} {
		if _, ok := doc[field]; !ok {
			t.Fatalf("the GET answer lacks %s, which this test means to send back: %v", field, doc)
		}
	}
	doc["name"] = "renamed by a system license"
	var got apiWebhookJSON
	h.mustJSON(h.system(http.MethodPatch, path, doc), http.StatusOK, &got)
	if got.Name != "renamed by a system license" || got.Version != uint64(doc["version"].(float64))+1 {
		t.Fatalf("after the system license's PATCH: name %q version %d, want the new name at version %v", got.Name, got.Version, doc["version"].(float64)+1)
	}
	if got.API.Credential == nil || got.API.Credential.Token != "s3cret-token" || got.Secret == nil || *got.Secret != *created.Secret {
		t.Fatalf("the PATCH changed the credential or the secret: %+v", got)
	}

	// A service license is shown neither the credential nor the secret; what it sends back keeps them.
	service := apiIssueLicense(h, "--level", "service", "--tenant", "t1")
	doc = apiDocument(h, service, path)
	if _, ok := doc["secret"]; ok {
		t.Fatalf("a service license was shown the secret: %v", doc)
	}
	if api := doc["api"].(map[string]any); api["credential"] != nil {
		t.Fatalf("a service license was shown the credential: %v", api)
	}
	doc["ttl"] = 4.0
	doc["tags"] = []any{"audit", "edited"}
	h.mustJSON(h.as(service, http.MethodPatch, path, doc), http.StatusOK, &got)
	if got.TTL != 4 || !slices.Equal(got.Tags, []string{"audit", "edited"}) || got.Name != "renamed by a system license" {
		t.Fatalf("after the service license's PATCH: %+v", got)
	}
	h.mustJSON(h.system(http.MethodGet, path, nil), http.StatusOK, &got)
	if got.API.Credential == nil || got.API.Credential.Token != "s3cret-token" || *got.Secret != *created.Secret || len(got.Query) != 2 {
		t.Fatalf("the service license's round trip lost the credential, the secret or the query: %+v", got)
	}

	// A document from a fetch answer goes back as well.
	var page struct{ Data []map[string]any }
	h.mustJSON(h.as(service, http.MethodPost, scope+"/webhooks/fetch", map[string]any{}), http.StatusOK, &page)
	if len(page.Data) != 1 {
		t.Fatalf("fetch: %d webhooks, want 1", len(page.Data))
	}
	fetched := page.Data[0]
	fetched["disabled"] = true
	h.mustJSON(h.as(service, http.MethodPatch, path, fetched), http.StatusOK, &got)
	if !got.Disabled {
		t.Fatal("the PATCH of the fetched document did not disable the webhook")
	}

	// A read-only field with another value is refused, naming the field, and changes nothing.
	systemDoc := apiDocument(h, h.license, path)
	serviceDoc := apiDocument(h, service, path)
	history := apiHistoryTypes(h, scope, created.ID)
	for _, c := range []struct {
		name, field string
		value       any
		system      bool
		status      int
	}{
		{"another _id", "_id", "6f1d3b0e-5a2c-4e4f-9b57-2d1c8a7e9f30", false, http.StatusBadRequest},
		{"an _id that is no UUID", "_id", "webhook-1", true, http.StatusBadRequest},
		{"another tenantId", "tenantId", "t2", true, http.StatusBadRequest},
		{"another communityId", "communityId", "c2", false, http.StatusBadRequest},
		{"another createdBy", "createdBy", "mallory", false, http.StatusBadRequest},
		{"another createdBy, system", "createdBy", "mallory", true, http.StatusBadRequest},
		{"another createdAt", "createdAt", "2020-01-01T00:00:00Z", true, http.StatusBadRequest},
		{"an updatedAt that is no time", "updatedAt", "yesterday", false, http.StatusBadRequest},
		{"another secret, system", "secret", "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", true, http.StatusBadRequest},
		{"a secret from a license never shown it", "secret", *created.Secret, false, http.StatusBadRequest},
		{"an older version", "version", systemDoc["version"].(float64) - 1, true, http.StatusConflict},
		{"a version a string", "version", "3", false, http.StatusBadRequest},
	} {
		t.Run(c.name, func(t *testing.T) {
			doc, license := apiCopy(t, serviceDoc), service
			if c.system {
				doc, license = apiCopy(t, systemDoc), h.license
			}
			doc["name"] = "must not be applied"
			doc[c.field] = c.value
			apiWantError(t, h.as(license, http.MethodPatch, path, doc), c.status, c.field)
		})
	}
	if after := apiHistoryTypes(h, scope, created.ID); !slices.Equal(after, history) {
		t.Errorf("refused PATCHes changed the webhook: history %v, was %v", after, history)
	}
	if now := apiDocument(h, h.license, path); !maps.EqualFunc(now, systemDoc, func(a, b any) bool {
		x, _ := json.Marshal(a)
		y, _ := json.Marshal(b)
		return string(x) == string(y)
	}) {
		t.Errorf("refused PATCHes changed the webhook:\n%v\nwas\n%v", now, systemDoc)
	}

	// The version a client fetched guards its edit: a change made since is a 409, not overwritten.
	stale := apiDocument(h, service, path)
	h.mustJSON(h.system(http.MethodPatch, path, map[string]any{"name": "changed in between"}), http.StatusOK, &got)
	stale["name"] = "from a stale copy"
	apiWantError(t, h.as(service, http.MethodPatch, path, stale), http.StatusConflict, "version")
	h.mustJSON(h.system(http.MethodGet, path, nil), http.StatusOK, &got)
	if got.Name != "changed in between" {
		t.Errorf("a stale copy overwrote a newer change: name %q", got.Name)
	}
}
