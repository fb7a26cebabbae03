package webhook_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/hookd/hookd/domain/webhook"
)

// credentialStrings returns a pointer to every string field of c, found by reflection, so that a
// field added to Credential is covered here without anyone remembering to add it.
func credentialStrings(c *webhook.Credential) map[string]*string {
	out := map[string]*string{}
	var walk func(path string, v reflect.Value)
	walk = func(path string, v reflect.Value) {
		switch v.Kind() {
		case reflect.String:
			out[path] = v.Addr().Interface().(*string)
		case reflect.Struct:
			for i := range v.NumField() {
				walk(path+"."+v.Type().Field(i).Name, v.Field(i))
			}
		default:
			panic(fmt.Sprintf("credential field %s is a %s: extend the test and SecretFields", path, v.Kind()))
		}
	}
	walk("Credential", reflect.ValueOf(c).Elem())
	return out
}

// fillDistinct sets every field to a value of its own and returns the values by field.
func fillDistinct(fields map[string]*string) map[string]string {
	values := map[string]string{}
	for path, p := range fields {
		*p = "value-of-" + path
		values[path] = *p
	}
	return values
}

// checkSecretFields checks that secretFields points at exactly the fields in want (by path), and that
// writing through each pointer changes that field.
func checkSecretFields(t *testing.T, secretFields []*string, want map[string]*string) {
	t.Helper()
	if len(secretFields) != len(want) {
		t.Errorf("SecretFields() has %d pointers, want %d (%v)", len(secretFields), len(want), slices.Sorted(mapKeys(want)))
	}
	byPtr := map[*string]string{}
	for path, p := range want {
		byPtr[p] = path
	}
	seen := map[string]bool{}
	for _, p := range secretFields {
		path, ok := byPtr[p]
		if !ok {
			t.Errorf("SecretFields() points at %q, which is none of the event's secret fields", *p)
			continue
		}
		if seen[path] {
			t.Errorf("SecretFields() lists %s twice", path)
		}
		seen[path] = true
		before := *want[path]
		*p = "sealed(" + before + ")"
		if *want[path] != "sealed("+before+")" {
			t.Errorf("writing through SecretFields did not change %s", path)
		}
	}
	for path := range want {
		if !seen[path] {
			t.Errorf("SecretFields() misses %s: it would reach the log in plain text", path)
		}
	}
}

func mapKeys(m map[string]*string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func TestCreatedSecretFields(t *testing.T) {
	t.Parallel()
	e := webhook.Created{WebhookID: "w", TenantID: "t", CommunityID: "c", Settings: validSettings(), CreatedBy: "alice"}
	want := credentialStrings(&e.Settings.API.Credential)
	fillDistinct(want)
	e.Secret = "the-secret"
	want["Secret"] = &e.Secret

	checkSecretFields(t, e.SecretFields(), want)

	// Nothing that is not a secret was touched.
	if e.WebhookID != "w" || e.TenantID != "t" || e.CommunityID != "c" || e.CreatedBy != "alice" ||
		e.Settings.Name != "orders" || e.Settings.API.URL != "https://example.com/hook" {
		t.Errorf("writing through SecretFields changed a field that is no secret: %#v", e)
	}
}

func TestUpdatedSecretFields(t *testing.T) {
	t.Parallel()
	e := webhook.Updated{WebhookID: "w", Settings: validSettings()}
	want := credentialStrings(&e.Settings.API.Credential)
	fillDistinct(want)

	checkSecretFields(t, e.SecretFields(), want)

	if e.WebhookID != "w" || e.Settings.Name != "orders" || e.Settings.API.URL != "https://example.com/hook" {
		t.Errorf("writing through SecretFields changed a field that is no secret: %#v", e)
	}
}

func TestSecretRotatedSecretFields(t *testing.T) {
	t.Parallel()
	e := webhook.SecretRotated{WebhookID: "w", Secret: "new", PreviousSecret: "old"}
	checkSecretFields(t, e.SecretFields(), map[string]*string{"Secret": &e.Secret, "PreviousSecret": &e.PreviousSecret})
	if e.WebhookID != "w" {
		t.Errorf("writing through SecretFields changed the webhook id: %#v", e)
	}
}

// The events without secrets do not claim any: the codec must not expect to seal them.
func TestLifecycleEventsHaveNoSecrets(t *testing.T) {
	t.Parallel()
	type secretBearer interface{ SecretFields() []*string }
	for _, e := range []any{&webhook.Disabled{}, &webhook.Enabled{}, &webhook.Deleted{}} {
		if _, ok := e.(secretBearer); ok {
			t.Errorf("%T has SecretFields; it carries no secret", e)
		}
	}
	for _, e := range []any{&webhook.Created{}, &webhook.Updated{}, &webhook.SecretRotated{}} {
		if _, ok := e.(secretBearer); !ok {
			t.Errorf("%T has no SecretFields; its credentials would reach the log in plain text", e)
		}
	}
}

func TestEventNames(t *testing.T) {
	t.Parallel()
	tests := []struct {
		event webhook.Event
		want  string
	}{
		{webhook.Created{}, "WebhookCreated"},
		{webhook.Updated{}, "WebhookUpdated"},
		{webhook.Disabled{}, "WebhookDisabled"},
		{webhook.Enabled{}, "WebhookEnabled"},
		{webhook.Deleted{}, "WebhookDeleted"},
		{webhook.SecretRotated{}, "WebhookSecretRotated"},
	}
	for _, tt := range tests {
		if got := tt.event.EventName(); got != tt.want {
			t.Errorf("%T.EventName() = %q, want %q (names in the log never change)", tt.event, got, tt.want)
		}
	}
	if got := webhook.Stream("abc"); got != "webhook-abc" {
		t.Errorf("Stream(abc) = %q, want webhook-abc", got)
	}
}

// The JSON names of Settings are the log's schema: renaming one breaks every stored event.
func TestSettingsJSONSchema(t *testing.T) {
	t.Parallel()
	s := validSettings()
	oauth2(webhook.GrantClientCredentials, tokenURL, "id", "secret")(&s)
	s.API.OAuthScopes = []string{"read"}
	s.API.Credential.Username, s.API.Credential.Password = "u", "p"
	s.API.Credential.KeyName, s.API.Credential.KeyValue, s.API.Credential.Token = "kn", "kv", "tok"
	s.Criteria = webhook.CriteriaAll
	s.API.Type = webhook.EndpointType
	// Marshalled as given, not normalized: normalizing would drop the credential fields that
	// oauth2 does not use, and this test pins every field's name.
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"name":"orders","eventNames":["user.created"],"tags":["prod"],` +
		`"query":[{"key":"data.kind","value":"gold"}],"criteria":"ALL",` +
		`"api":{"type":"POST","url":"https://example.com/hook","authType":"oauth2",` +
		`"oAuthGrantType":"client_credentials","oAuthTokenUrl":"https://auth.example.com/oauth/token",` +
		`"oAuthScopes":["read"],"credential":{"username":"u","password":"p","keyName":"kn","keyValue":"kv",` +
		`"token":"tok","oauth2":{"clientId":"id","clientSecret":"secret"}}},` +
		`"successCodes":[200],"retryCodes":[500],"retryCount":1,"ttl":3}`
	if string(b) != want {
		t.Errorf("JSON of settings\n got %s\nwant %s", b, want)
	}
	var back webhook.Settings
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, s) {
		t.Errorf("round trip gave %#v", back)
	}
}

// The JSON names of SecretRotated are the log's schema too.
func TestSecretRotatedJSONSchema(t *testing.T) {
	t.Parallel()
	e := webhook.SecretRotated{WebhookID: "w", Secret: "new", PreviousSecret: "old",
		PreviousExpiresAt: time.Date(2026, 3, 2, 12, 0, 0, 500, time.UTC)}
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"webhookId":"w","secret":"new","previousSecret":"old","previousExpiresAt":"2026-03-02T12:00:00.0000005Z"}`
	if string(b) != want {
		t.Errorf("JSON of SecretRotated\n got %s\nwant %s", b, want)
	}
}
