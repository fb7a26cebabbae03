package publication_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/hookd/hookd/domain/publication"
	"github.com/hookd/hookd/domain/webhook"
)

func valid() publication.Published {
	return publication.Published{
		EventID: "9ce6d871-15fb-4957-ba8d-88e80d102204", TenantID: "tenant-1", CommunityID: "community.a",
		Name: "FEDERATED_GRAPH_SCHEMA_UPDATED", Payload: json.RawMessage(`{"federated_graph":{"id":"g1"}}`),
		IdempotencyKey: "order-42", Publisher: "license:l1",
	}
}

func TestPublish(t *testing.T) {
	t.Parallel()
	got, err := publication.Publish(valid())
	if err != nil {
		t.Fatal(err)
	}
	want := valid()
	want.DeliveryIDs = publication.OrderedDeliveryIDs
	if !reflect.DeepEqual(got, want) || !got.OrderedIDs() {
		t.Errorf("Publish = %#v, want the input with ordered delivery ids", got)
	}
	if got.EventName() != "EventPublished" || publication.Stream("x") != "event-x" {
		t.Errorf("name %q, stream %q", got.EventName(), publication.Stream("x"))
	}
}

// TestDeliveryIDsInTheLog: a new event says in the log that its deliveries have ordered ids; an event
// recorded before, without the field, says they have UUIDv5 ones.
func TestDeliveryIDsInTheLog(t *testing.T) {
	t.Parallel()
	p, err := publication.Publish(valid())
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `"deliveryIds":"ordered"`) {
		t.Errorf("a new event in the log: %s, want deliveryIds ordered", data)
	}
	const before = `{"eventId":"e1","tenantId":"t1","communityId":"c1","name":"E","payload":{},"publisher":"p"}`
	var old publication.Published
	if err := json.Unmarshal([]byte(before), &old); err != nil {
		t.Fatal(err)
	}
	if old.OrderedIDs() {
		t.Errorf("an event recorded without deliveryIds has ordered delivery ids")
	}
	if data, err := json.Marshal(old); err != nil || string(data) != before {
		t.Errorf("an event recorded before encodes as %s, %v; want it as it was", data, err)
	}
}

func TestPublishNormalizesThePayload(t *testing.T) {
	t.Parallel()
	p := valid()
	p.Payload = json.RawMessage(" {\n \"a\" : [1, 2],\t\"html\": \"<b>&</b>\", \"ls\": \"\u2028\" }\n")
	got, err := publication.Publish(p)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"a":[1,2],"html":"\u003cb\u003e\u0026\u003c/b\u003e","ls":"\u2028"}`
	if string(got.Payload) != want {
		t.Errorf("payload %s, want %s", got.Payload, want)
	}
	// The normalized event reads back from JSON byte for byte, as the log will hold it.
	data, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	var back publication.Published
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, got) {
		t.Errorf("through JSON\n%#v\nwant\n%#v", back, got)
	}
}

func TestPublishValidates(t *testing.T) {
	t.Parallel()
	tests := []struct {
		field  string
		change func(*publication.Published)
	}{
		{"id", func(p *publication.Published) { p.EventID = "" }},
		{"id", func(p *publication.Published) { p.EventID = strings.Repeat("i", 129) }},
		{"tenantId", func(p *publication.Published) { p.TenantID = "" }},
		{"communityId", func(p *publication.Published) { p.CommunityID = "a/b" }},
		{"eventName", func(p *publication.Published) { p.Name = "" }},
		{"eventName", func(p *publication.Published) { p.Name = strings.Repeat("n", 129) }},
		{"eventName", func(p *publication.Published) { p.Name = "user created" }},
		{"idempotencyKey", func(p *publication.Published) { p.IdempotencyKey = strings.Repeat("k", 257) }},
		{"idempotencyKey", func(p *publication.Published) { p.IdempotencyKey = "a\x00b" }},
		{"publisher", func(p *publication.Published) { p.Publisher = strings.Repeat("p", 257) }},
		{"payload", func(p *publication.Published) { p.Payload = nil }},
		{"payload", func(p *publication.Published) { p.Payload = json.RawMessage(`[]`) }},
		{"payload", func(p *publication.Published) { p.Payload = json.RawMessage(`"x"`) }},
		{"payload", func(p *publication.Published) { p.Payload = json.RawMessage(`null`) }},
		{"payload", func(p *publication.Published) { p.Payload = json.RawMessage(`{"a":1`) }},
		{"payload", func(p *publication.Published) { p.Payload = json.RawMessage(`{} {}`) }},
	}
	for _, tt := range tests {
		p := valid()
		tt.change(&p)
		got, err := publication.Publish(p)
		var v *webhook.ValidationError
		if !errors.As(err, &v) || len(v.Problems) != 1 || v.Problems[0].Field != tt.field {
			t.Errorf("%s: Publish = %v; want one problem with %s", tt.field, err, tt.field)
		}
		if !reflect.DeepEqual(got, publication.Published{}) {
			t.Errorf("%s: Publish returned an event with its error", tt.field)
		}
	}
	// Every problem at once.
	_, err := publication.Publish(publication.Published{})
	var v *webhook.ValidationError
	if !errors.As(err, &v) || len(v.Problems) != 5 {
		t.Errorf("Publish of nothing = %v, want 5 problems", err)
	}
	// The optional fields may be left out.
	p := valid()
	p.IdempotencyKey, p.Publisher = "", ""
	if _, err := publication.Publish(p); err != nil {
		t.Errorf("Publish without key and publisher: %v", err)
	}
}

func TestPublishPayloadSize(t *testing.T) {
	t.Parallel()
	object := func(size int) json.RawMessage {
		const frame = len(`{"a":""}`)
		return json.RawMessage(`{"a":"` + strings.Repeat("x", size-frame) + `"}`)
	}
	p := valid()
	p.Payload = object(publication.MaxPayloadBytes)
	if _, err := publication.Publish(p); err != nil {
		t.Errorf("payload of exactly %d bytes: %v", publication.MaxPayloadBytes, err)
	}
	p.Payload = object(publication.MaxPayloadBytes + 1)
	p.Name = "" // not reported: a payload too large is answered alone
	if _, err := publication.Publish(p); !errors.Is(err, publication.ErrPayloadTooLarge) {
		t.Errorf("payload one byte over = %v, want ErrPayloadTooLarge", err)
	}
}

// ValidateContent judges a name and a payload as Publish does: same problems, same normalized payload,
// and a payload too large answered alone.
func TestValidateContentAgreesWithPublish(t *testing.T) {
	t.Parallel()
	large := json.RawMessage(`{"a":"` + strings.Repeat("x", publication.MaxPayloadBytes) + `"}`)
	for _, tt := range []struct {
		name    string
		payload json.RawMessage
	}{
		{"E_LOGIN", json.RawMessage(" {\"a\" : \"<b>\",\n \"n\": [1, 2.5e3]} ")},
		{"E_LOGIN", json.RawMessage(`{}`)},
		{"", json.RawMessage(`{}`)},
		{"user created", nil},
		{"E_LOGIN", json.RawMessage(`[1]`)},
		{"E_LOGIN", json.RawMessage(`{"a":`)},
		{"", large},
	} {
		p := valid()
		p.Name, p.Payload = tt.name, tt.payload
		published, publishErr := publication.Publish(p)
		got, err := publication.ValidateContent(tt.name, tt.payload)
		if publishErr == nil {
			if err != nil || string(got) != string(published.Payload) {
				t.Errorf("%q %s: ValidateContent = %s, %v; Publish accepts it as %s", tt.name, tt.payload, got, err, published.Payload)
			}
			continue
		}
		if fmt.Sprint(err) != fmt.Sprint(publishErr) || errors.Is(err, publication.ErrPayloadTooLarge) != errors.Is(publishErr, publication.ErrPayloadTooLarge) {
			t.Errorf("%q %.40s: ValidateContent = %v; Publish = %v", tt.name, tt.payload, err, publishErr)
		}
		if got != nil {
			t.Errorf("%q: ValidateContent returned a payload with its error", tt.name)
		}
	}
}

// The payload rules refuse what a delivery could not carry as published, naming the place and the
// rule; what JSON.parse reads as published stays accepted.
func TestPayloadRules(t *testing.T) {
	t.Parallel()
	nested := func(depth int) string { // an object holding arrays, depth levels in all
		return `{"a":` + strings.Repeat("[", depth-1) + strings.Repeat("]", depth-1) + `}`
	}
	tests := []struct {
		payload string
		field   string // "" when accepted
		message string
	}{
		{nested(64), "", ""},
		{nested(65), "payload.a" + strings.Repeat("[0]", 63), "is nested deeper than 64 levels"},
		{nested(600), "payload.a" + strings.Repeat("[0]", 63), "is nested deeper than 64 levels"},
		{`{"a":"` + "\xff" + `"}`, "payload.a", "holds a string that is not valid UTF-8"},
		{`{"a":{"b` + "\xc3" + `":1}}`, "payload.a", "holds a key that is not valid UTF-8"},
		{`{"a":["` + "\xed\xa0\x80" + `"]}`, "payload.a[0]", "holds a string that is not valid UTF-8"},
		{`{"a":"\ud800"}`, "payload.a", `holds a lone UTF-16 surrogate \ud800, which is not a character`},
		{`{"a":"\udc00\ud800x"}`, "payload.a", `holds a lone UTF-16 surrogate \udc00`},
		{`{"a":"\ud83d\ude00"}`, "", ""},
		{`{"odd key":[{"x":1e400}]}`, `payload["odd key"][0].x`, "holds the number 1e400, out of the range of a double"},
		{`{"a":-1.8e308}`, "payload.a", "out of the range of a double"},
		{`{"a":1.7976931348623157e308,"b":1e-400,"c":-0,"d":12345678901234567890}`, "", ""},
		{`{"` + strings.Repeat("k", 40) + `":{"b":"` + "\xff" + `"}}`, `payload["` + strings.Repeat("k", 32) + `"…].b`, "not valid UTF-8"},
		{`{"a":1,"a":2,"1":3}`, "", ""},
		{`{"a":tru}`, "payload", "is not valid JSON: invalid literal at offset 5"},
		{`[1]`, "payload", "must be a JSON object"},
		{`{"a":[` + strings.Repeat("1e20,", publication.MaxPayloadBytes/5-2) + `1]}`, "payload",
			"is over 262144 bytes as delivered"},
	}
	for _, tt := range tests {
		_, err := publication.ValidateContent("E", json.RawMessage(tt.payload))
		if tt.field == "" {
			if err != nil {
				t.Errorf("%.60s: %v, want it accepted", tt.payload, err)
			}
			continue
		}
		var v *webhook.ValidationError
		if !errors.As(err, &v) || len(v.Problems) != 1 || v.Problems[0].Field != tt.field ||
			!strings.Contains(v.Problems[0].Message, tt.message) {
			t.Errorf("%.60s: %v, want %s %s", tt.payload, err, tt.field, tt.message)
		}
	}
}
