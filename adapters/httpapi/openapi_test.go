package httpapi

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/gofiber/fiber/v2"

	"github.com/hookd/hookd/adapters/webhooksig"
	"github.com/hookd/hookd/domain/webhook"
)

// loadOpenAPI loads the document /openapi.json serves and checks that it is valid OpenAPI 3.0,
// examples included.
func loadOpenAPI(t *testing.T) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(openAPIDocument)
	if err != nil {
		t.Fatalf("loading openapi.json: %v", err)
	}
	if err := doc.Validate(context.Background(), openapi3.EnableMultiError()); err != nil {
		t.Fatalf("openapi.json is not valid OpenAPI: %v", err)
	}
	return doc
}

func TestOpenAPIDocumentIsValid(t *testing.T) {
	doc := loadOpenAPI(t)
	if doc.OpenAPI != "3.0.3" {
		t.Errorf("openapi = %q, want 3.0.3", doc.OpenAPI)
	}
	if doc.Info.Title != "hookd" || doc.Info.Version != "1" {
		t.Errorf("info = %q %q, want hookd 1", doc.Info.Title, doc.Info.Version)
	}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if op.OperationID == "" || op.Summary == "" {
				t.Errorf("%s %s: needs an operationId and a summary", method, path)
			}
		}
	}
}

var fiberParam = regexp.MustCompile(`:([A-Za-z0-9_]+)`)

// openAPIPath writes a Fiber route path the way OpenAPI does: ":param" becomes "{param}".
func openAPIPath(t *testing.T, fiberPath string) string {
	t.Helper()
	if strings.ContainsAny(fiberPath, "*+?") {
		t.Fatalf("route %q has a wildcard or an optional parameter; teach this test to write it in OpenAPI", fiberPath)
	}
	return fiberParam.ReplaceAllString(fiberPath, "{$1}")
}

// TestOpenAPIDocumentsEveryRoute keeps the document and routes() in step, both ways.
func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	doc := loadOpenAPI(t)

	app := fiber.New()
	(&server{}).routes(app)

	registered := map[string]bool{}
	for _, r := range app.GetRoutes(true) { // true leaves out middleware (Use and Group handlers)
		if r.Method == fiber.MethodHead { // Fiber adds a HEAD route for every GET
			continue
		}
		registered[r.Method+" "+openAPIPath(t, r.Path)] = true
	}
	documented := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented[strings.ToUpper(method)+" "+path] = true
		}
	}
	if len(registered) == 0 {
		t.Fatal("routes() registered no route")
	}

	if missing := difference(registered, documented); len(missing) > 0 {
		t.Errorf("routes registered but not in openapi.json:\n  %s", strings.Join(missing, "\n  "))
	}
	if extra := difference(documented, registered); len(extra) > 0 {
		t.Errorf("operations in openapi.json that routes() does not register:\n  %s", strings.Join(extra, "\n  "))
	}
}

func difference(a, b map[string]bool) []string {
	var out []string
	for k := range a {
		if !b[k] {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// fieldNames lists the JSON names of a struct's fields, sorted.
func fieldNames(v any) []string {
	var out []string
	for name := range jsonFields(reflect.TypeOf(v)) {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

func schemaFields(t *testing.T, doc *openapi3.T, name string) []string {
	t.Helper()
	ref := doc.Components.Schemas[name]
	if ref == nil || ref.Value == nil {
		t.Fatalf("openapi.json has no schema %s", name)
	}
	var out []string
	for field := range ref.Value.Properties {
		out = append(out, field)
	}
	sort.Strings(out)
	return out
}

// TestOpenAPIRequestBodiesMatchDTOs: the request schemas reject unknown fields, as decodeBody does, so
// a field added to a body must be added to its schema too.
func TestOpenAPIRequestBodiesMatchDTOs(t *testing.T) {
	doc := loadOpenAPI(t)
	for _, tc := range []struct {
		schema string
		fields []string
	}{
		{"WebhookCreate", fieldNames(webhookBody{})},
		{"WebhookUpdate", fieldNames(updateBody{})},
		{"WebhookApiCreate", fieldNames(apiBody{})},
		{"WebhookApiPatch", fieldNames(apiBody{})},
		{"Credential", fieldNames(credentialJSON{})},
		{"OAuth2Credential", fieldNames(oauth2JSON{})},
		{"FetchRequest", fieldNames(fetchBody{})},
		{"EcdsaHelperRequest", fieldNames(ecdsaHelperBody{})},
		{"PublishRequest", fieldNames(publishBody{})},
		{"DeliveryFetchRequest", fieldNames(deliveryFetchBody{})},
		{"ReplayRequest", fieldNames(replayBody{})},
		{"MatchRequest", fieldNames(matchBody{})},
		{"RotateSecretRequest", fieldNames(rotateSecretBody{})},
	} {
		if got := schemaFields(t, doc, tc.schema); !slices.Equal(got, tc.fields) {
			t.Errorf("schema %s has fields %v; the request body has %v", tc.schema, got, tc.fields)
		}
		if ap := doc.Components.Schemas[tc.schema].Value.AdditionalProperties; ap.Has == nil || *ap.Has {
			t.Errorf("schema %s must set additionalProperties: false, as decodeBody rejects unknown fields", tc.schema)
		}
	}
}

// TestOpenAPIResponsesMatchDTOs checks that what the handlers write fits the response schemas.
func TestOpenAPIResponsesMatchDTOs(t *testing.T) {
	doc := loadOpenAPI(t)
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	hook := webhookJSON{
		ID: "wh1", TenantID: "t1", CommunityID: "c1", EventNames: []string{"E1"}, Name: "n", CreatedBy: "app",
		Tags: []string{}, Query: []map[string]any{{"a.b": int64(1)}, {"c": "x"}, {"d": true}}, Criteria: "ALL",
		API: apiJSON{Type: "POST", URL: "https://example.com/h", AuthType: "oauth2", OAuthGrantType: "client_credentials",
			OAuthTokenURL: "https://example.com/token", OAuthScopes: []string{"s"},
			Credential: &credentialJSON{OAuth2: &oauth2JSON{ClientID: "id", ClientSecret: "secret"}}},
		SuccessCodes: []int{200}, RetryCodes: []int{0, 503}, RetryCount: 2, TTL: 5, Secret: "whsec_x", Version: 3,
		CreatedAt: &now, UpdatedAt: &now,
	}
	settings := settingsEntry(webhook.Settings{Name: "n", EventNames: []string{"E1"}, SuccessCodes: []int{200},
		API: webhook.Endpoint{URL: "https://example.com/h"}}.Normalized())
	due := now.Add(time.Second)
	failing := webhook.Health{}.Record(now.Add(-time.Minute), true).Record(now, false)
	failing.Circuit = webhook.Circuit{Open: true, OpenedAt: now, Until: due, CoolDown: time.Second}
	failing.DisabledReason = webhook.DisabledFailing
	deliveries := deliveryPageJSON{Page: pageJSON{Index: 0, Total: 2, Size: 25}, Data: []deliveryJSON{
		{ID: "d1", EventID: "e1", EventName: "E1", Status: "scheduled", ScheduledAt: now, UpdatedAt: now, NextDueAt: &due,
			WaitingFor: "circuit_open", ReplayMode: "original", Attempts: []attemptJSON{
				{Number: 1, Status: 0, ErrorClass: "timeout", DurationMs: 5000, At: now},
				{Number: 2, Status: 500, DurationMs: 12, ResponseExcerpt: "oops", At: now},
			}},
		{ID: "d2", EventID: "e2", EventName: "E1", Status: "succeeded", ScheduledAt: now, UpdatedAt: now,
			Attempts: []attemptJSON{{Number: 1, Status: 200, DurationMs: 3, At: now}}},
	}}
	key := serviceKeyJSON{Tag: "primary", KeyID: "k1", KeySecret: "priv", PublicKey: "pub", Type: "secp256k1"}
	signingKey := serviceKeyJSON{Tag: "signing", KeyID: "k2", KeySecret: "seed", PublicKey: "pub", Type: "ed25519"}
	wellKnown := wellKnownJSON{PublicKey: "pub", WebhookSigningKeys: []signingKeyJSON{{
		KeyID: "k2", Type: webhooksig.SigningKeyType, PublicKey: webhooksig.PublicKeyString(make(ed25519.PublicKey, ed25519.PublicKeySize)),
	}}}

	for _, tc := range []struct {
		method, path string
		status       int
		body         any
	}{
		{"put", "/tenant/{tenantId}/community/{communityId}/webhook", 200, hook},
		{"get", "/tenant/{tenantId}/community/{communityId}/webhook/{webhookId}", 200, withHealthJSON(t, hook, webhook.Health{}, now)},
		{"get", "/tenant/{tenantId}/community/{communityId}/webhook/{webhookId}", 200, withHealthJSON(t, hook, failing, now)},
		{"post", "/tenant/{tenantId}/community/{communityId}/webhooks/fetch", 200,
			json.RawMessage(appendFetchAnswer(nil, pageJSON{Index: 0, Total: 1, Size: 25}, [][]byte{mustJSON(t, hook)}, "pub"))},
		{"get", "/tenant/{tenantId}/community/{communityId}/webhook/{webhookId}/history", 200, historyJSON{Page: pageJSON{Index: 0, Total: 2, Size: 100}, Data: []historyEntryJSON{
			{Revision: 0, Type: "WebhookCreated", OccurredAt: "2026-01-02T03:04:05.000Z", Actor: "license:l1", Settings: settings},
			{Revision: 1, Type: "WebhookDisabled", OccurredAt: "2026-01-02T03:04:06.000Z"},
			{Revision: 2, Type: "WebhookSecretRotated", OccurredAt: "2026-01-02T03:04:07.000Z",
				PreviousSecretExpiresAt: "2026-01-03T03:04:07Z"},
			{Revision: 3, Type: "WebhookCircuitOpened", OccurredAt: "2026-01-02T03:04:08.000Z", Actor: "hookd-system",
				CircuitUntil: "2026-01-02T03:04:18Z"},
			{Revision: 4, Type: "WebhookDisabled", OccurredAt: "2026-01-02T03:04:09.000Z", Actor: "hookd-system", Reason: "gone"},
		}}},
		{"post", "/tenant/{tenantId}/community/{communityId}/webhooks/match", 200,
			json.RawMessage(appendMatchAnswer(nil, [][]byte{mustJSON(t, hook), mustJSON(t, hook)}))},
		{"post", "/tenant/{tenantId}/community/{communityId}/webhooks/match", 200, json.RawMessage(appendMatchAnswer(nil, nil))},
		{"post", "/tenant/{tenantId}/community/{communityId}/webhook/{webhookId}/secret/rotate", 200, hook},
		{"post", "/tenant/{tenantId}/community/{communityId}/events", 202, publishedJSON{ID: "0b6f1c1e-8d3a-5f2b-9a4c-1e2d3c4b5a69"}},
		{"post", "/tenant/{tenantId}/community/{communityId}/events", 202, publishedBatchJSON{IDs: []string{"a", "b"}}},
		{"post", "/tenant/{tenantId}/community/{communityId}/webhook/{webhookId}/deliveries/fetch", 200, deliveries},
		{"post", "/tenant/{tenantId}/community/{communityId}/webhook/{webhookId}/deliveries/fetch", 200,
			deliveryPageJSON{Page: pageJSON{Index: 3, Total: 2, Size: 25}, Data: []deliveryJSON{}}},
		{"post", "/tenant/{tenantId}/community/{communityId}/webhook/{webhookId}/replay", 202,
			replayJSON{Replayed: 2, Skipped: 1, NotFound: []string{"d9"}}},
		{"post", "/tenant/{tenantId}/community/{communityId}/webhook/{webhookId}/replay", 202,
			replayJSON{NotFound: []string{}}},
		{"post", "/tenant/{tenantId}/community/{communityId}/webhook/{webhookId}/replay", 404,
			errorBody{StatusCode: 404, Error: http.StatusText(404), Message: "webhook not found"}},
		{"post", "/tenant/{tenantId}/community/{communityId}/webhook/{webhookId}/replay", 410,
			errorBody{StatusCode: 410, Error: http.StatusText(http.StatusGone), Message: "delivery d9 has expired"}},
		{"get", "/servicekeys", 200, []serviceKeyJSON{key, signingKey}},
		{"delete", "/servicekey/{keyId}", 200, []serviceKeyJSON{key}},
		{"delete", "/servicekey/{keyId}", 200, []serviceKeyJSON{signingKey}},
		{"get", "/.well-known", 200, wellKnown},
		{"get", "/tenant/{tenantId}/community/{communityId}/webhook/{webhookId}", 404,
			errorBody{StatusCode: 404, Error: http.StatusText(404), Message: "webhook not found"}},
	} {
		item := doc.Paths.Value(tc.path)
		if item == nil || item.GetOperation(strings.ToUpper(tc.method)) == nil {
			t.Errorf("openapi.json has no %s %s", tc.method, tc.path)
			continue
		}
		r := item.GetOperation(strings.ToUpper(tc.method)).Responses.Status(tc.status)
		if r == nil || r.Value == nil || r.Value.Content.Get(fiber.MIMEApplicationJSON) == nil {
			t.Errorf("%s %s documents no JSON answer %d", tc.method, tc.path, tc.status)
			continue
		}
		raw, err := json.Marshal(tc.body)
		if err != nil {
			t.Fatal(err)
		}
		var value any
		if err := json.Unmarshal(raw, &value); err != nil {
			t.Fatal(err)
		}
		if err := r.Value.Content.Get(fiber.MIMEApplicationJSON).Schema.Value.VisitJSON(value); err != nil {
			t.Errorf("%s %s %d: the handler's body %s does not fit the schema: %v", tc.method, tc.path, tc.status, raw, err)
		}
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// withHealthJSON is a webhook's GET answer: its document with the health member.
func withHealthJSON(t *testing.T, hook webhookJSON, h webhook.Health, now time.Time) json.RawMessage {
	t.Helper()
	doc, err := withHealth(mustJSON(t, hook), h, now)
	if err != nil {
		t.Fatal(err)
	}
	return doc
}
