package eventcodec_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookd/hookd/application/eventcodec"
	"github.com/hookd/hookd/domain/delivery"
	"github.com/hookd/hookd/domain/eventlog"
	"github.com/hookd/hookd/domain/license"
	"github.com/hookd/hookd/domain/publication"
	"github.com/hookd/hookd/domain/servicekey"
	"github.com/hookd/hookd/domain/webhook"
)

// xorSealer is a reversible stand-in for AES-GCM: it hides the plaintext (XOR, then hex) and binds it
// to the associated data with a checksum, so Open fails when the associated data differs. It is
// stateless and so safe for concurrent use.
type xorSealer struct{}

const sealedPrefix = "xs1."

func xor(b []byte) []byte {
	out := make([]byte, len(b))
	for i, c := range b {
		out[i] = c ^ 0x5a
	}
	return out
}

func checksum(plaintext, associatedData string) string {
	sum := sha256.Sum256([]byte(associatedData + "\x00" + plaintext))
	return hex.EncodeToString(sum[:8])
}

func (xorSealer) Seal(plaintext, associatedData string) (string, error) {
	return sealedPrefix + hex.EncodeToString(xor([]byte(plaintext))) + "." + checksum(plaintext, associatedData), nil
}

var errCannotOpen = errors.New("xorSealer: cannot open")

func (xorSealer) Open(sealed, associatedData string) (string, error) {
	body, ok := strings.CutPrefix(sealed, sealedPrefix)
	if !ok {
		return "", fmt.Errorf("%w: %q is not sealed", errCannotOpen, sealed)
	}
	ct, sum, ok := strings.Cut(body, ".")
	if !ok {
		return "", fmt.Errorf("%w: no checksum", errCannotOpen)
	}
	raw, err := hex.DecodeString(ct)
	if err != nil {
		return "", fmt.Errorf("%w: %v", errCannotOpen, err)
	}
	plaintext := string(xor(raw))
	if checksum(plaintext, associatedData) != sum {
		return "", fmt.Errorf("%w: associated data or ciphertext differ", errCannotOpen)
	}
	return plaintext, nil
}

func TestXorSealer(t *testing.T) {
	t.Parallel()
	var s xorSealer
	sealed, err := s.Seal("CANARY", "ad-1")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(sealed, "CANARY") {
		t.Fatalf("sealed %q shows the plaintext", sealed)
	}
	if got, err := s.Open(sealed, "ad-1"); err != nil || got != "CANARY" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if _, err := s.Open(sealed, "ad-2"); !errors.Is(err, errCannotOpen) {
		t.Fatalf("Open with other associated data = %v, want errCannotOpen", err)
	}
	if _, err := s.Open("CANARY", "ad-1"); !errors.Is(err, errCannotOpen) {
		t.Fatalf("Open of plaintext = %v, want errCannotOpen", err)
	}
}

// failingSealer fails every call with err.
type failingSealer struct{ err error }

func (f failingSealer) Seal(string, string) (string, error) { return "", f.err }
func (f failingSealer) Open(string, string) (string, error) { return "", f.err }

func newCodec(t testing.TB, sealer eventcodec.Sealer) *eventcodec.Codec {
	t.Helper()
	reg, err := eventcodec.NewRegistry(eventcodec.HookdEvents()...)
	if err != nil {
		t.Fatalf("NewRegistry(HookdEvents()...): %v", err)
	}
	c, err := eventcodec.New(reg, sealer)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// sample is an event as a test writes it, with the plaintext secrets it carries.
type sample struct {
	name     string
	stream   string
	event    eventcodec.Event
	canaries []string // every secret in the event; none may appear in the encoded record
}

func fullSettings(prefix string) webhook.Settings {
	return webhook.Settings{
		Name:       "orders",
		EventNames: []string{"user.created", "user.deleted"},
		Tags:       []string{"prod", "eu"},
		Query: []webhook.QueryEntry{
			{Key: "data.kind", Value: "gold"}, {Key: "data.amount", Value: 12.5}, {Key: "data.vip", Value: true},
		},
		Criteria: webhook.CriteriaAll,
		API: webhook.Endpoint{
			Type:           webhook.EndpointType,
			URL:            "https://example.com/hook",
			AuthType:       webhook.AuthOAuth2,
			OAuthGrantType: webhook.GrantClientCredentials,
			OAuthTokenURL:  "https://auth.example.com/token",
			OAuthScopes:    []string{"read", "write"},
			Credential: webhook.Credential{
				Username: prefix + "USERNAME",
				Password: prefix + "PASSWORD",
				KeyName:  prefix + "KEYNAME",
				KeyValue: prefix + "KEYVALUE",
				Token:    prefix + "TOKEN",
				OAuth2: webhook.OAuth2Credential{
					ClientID:     prefix + "CLIENTID",
					ClientSecret: prefix + "CLIENTSECRET",
				},
			},
		},
		SuccessCodes: []int{200, 202},
		RetryCodes:   []int{0, 503},
		RetryCount:   2,
		TTL:          5,
	}
}

func credentialCanaries(prefix string) []string {
	var out []string
	for _, f := range []string{"USERNAME", "PASSWORD", "KEYNAME", "KEYVALUE", "TOKEN", "CLIENTID", "CLIENTSECRET"} {
		out = append(out, prefix+f)
	}
	return out
}

// samples returns fresh events, at least one of every registered type.
func samples() []sample {
	const id = "5f0c6d1e-8a1b-4c2d-9e3f-0a1b2c3d4e5f"
	ws := webhook.Stream(id)
	const publishedID = "9ce6d871-15fb-4957-ba8d-88e80d102204"
	deliveryID := delivery.ID(publishedID, id)
	ds := delivery.Stream(deliveryID)
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	noCredentials := fullSettings("")
	noCredentials.API = webhook.Endpoint{Type: webhook.EndpointType, URL: "https://example.com/hook", AuthType: webhook.AuthNone}
	noCredentials.Tags, noCredentials.Query, noCredentials.RetryCodes = []string{}, []webhook.QueryEntry{}, []int{}
	return []sample{
		{
			name: "WebhookCreated", stream: ws,
			event: webhook.Created{
				WebhookID: id, TenantID: "t1", CommunityID: "c1", Settings: fullSettings("CANARY_C_"),
				Disabled: true, CreatedBy: "alice@example.com", Secret: "CANARY_C_SECRET",
			},
			canaries: append(credentialCanaries("CANARY_C_"), "CANARY_C_SECRET"),
		},
		{
			name: "WebhookCreated without credentials", stream: ws,
			event: webhook.Created{
				WebhookID: id, TenantID: "t1", CommunityID: "c1", Settings: noCredentials,
				CreatedBy: "alice@example.com", Secret: "CANARY_RAW_SECRET",
			},
			canaries: []string{"CANARY_RAW_SECRET"},
		},
		{
			name: "WebhookUpdated", stream: ws,
			event:    webhook.Updated{WebhookID: id, Settings: fullSettings("CANARY_U_")},
			canaries: credentialCanaries("CANARY_U_"),
		},
		{name: "WebhookDisabled", stream: ws, event: webhook.Disabled{WebhookID: id}},
		{
			name: "WebhookDisabled by hookd", stream: ws,
			event: webhook.Disabled{WebhookID: id, Reason: webhook.DisabledFailing, TenantID: "t1", CommunityID: "c1",
				FailingSince: at.Add(-120 * time.Hour)},
		},
		{
			name: "WebhookCircuitOpened", stream: ws,
			event: webhook.CircuitOpened{WebhookID: id, At: at, Until: at.Add(20 * time.Second), CoolDown: 20 * time.Second,
				Attempts: 10, Failures: 9},
		},
		{name: "WebhookCircuitClosed", stream: ws, event: webhook.CircuitClosed{WebhookID: id, At: at}},
		{name: "WebhookHealthMarked", stream: webhook.HealthStream(id, 1), event: webhook.HealthMarked{WebhookID: id, Pair: 1}},
		{
			name: "WebhookHealthCarried", stream: webhook.HealthStream(id, 1),
			event: webhook.HealthCarried{WebhookID: id, Pair: 1, Health: webhook.Health{}.Record(at, true).Record(at.Add(time.Second), false)},
		},
		{name: "WebhookEnabled", stream: ws, event: webhook.Enabled{WebhookID: id}},
		{name: "WebhookDeleted", stream: ws, event: webhook.Deleted{WebhookID: id}},
		{
			name: "WebhookSecretRotated", stream: ws,
			event: webhook.SecretRotated{WebhookID: id, Secret: "CANARY_R_NEW_SECRET", PreviousSecret: "CANARY_R_OLD_SECRET",
				PreviousExpiresAt: at.Add(24 * time.Hour)},
			canaries: []string{"CANARY_R_NEW_SECRET", "CANARY_R_OLD_SECRET"},
		},
		{
			name: "LicenseIssued", stream: license.Stream("l1"),
			event: license.Issued{LicenseID: "l1", KeyHash: strings.Repeat("ab", 32), KeyHint: "abcd",
				Level: license.LevelServiceExt, Scope: license.Scope{TenantID: "t1", CommunityID: "c1"}},
		},
		{name: "LicenseRevoked", stream: license.Stream("l1"), event: license.Revoked{LicenseID: "l1"}},
		{
			name: "ServiceKeyIssued", stream: servicekey.Stream(servicekey.PrimarySlot),
			event: servicekey.Issued{Slot: servicekey.PrimarySlot, Pair: servicekey.Pair{
				KeyID: "k1", Type: "secp256k1", PublicKey: "cHVibGlj", PrivateKey: "CANARY_SK_PRIVATE_1"}},
			canaries: []string{"CANARY_SK_PRIVATE_1"},
		},
		{
			name: "ServiceKeyReset", stream: servicekey.Stream(servicekey.PrimarySlot),
			event: servicekey.Reset{Slot: servicekey.PrimarySlot, PreviousKeyID: "k1", Pair: servicekey.Pair{
				KeyID: "k2", Type: "secp256k1", PublicKey: "cHVibGljMg", PrivateKey: "CANARY_SK_PRIVATE_2"}},
			canaries: []string{"CANARY_SK_PRIVATE_2"},
		},
		{
			name: "EventPublished", stream: publication.Stream(publishedID),
			event: publication.Published{EventID: publishedID, TenantID: "t1", CommunityID: "c1",
				Name: "FEDERATED_GRAPH_SCHEMA_UPDATED", Payload: []byte(`{"federated_graph":{"id":"g1"},"n":1.5}`),
				IdempotencyKey: "order-42", Publisher: "license:l1", DeliveryIDs: publication.OrderedDeliveryIDs},
		},
		{
			name: "DeliveryScheduled", stream: ds,
			event: delivery.Scheduled{DeliveryID: deliveryID, EventID: publishedID, WebhookID: id, TenantID: "t1",
				CommunityID: "c1", Name: "user.created",
				// Bytes encoding/json would re-spell inside raw JSON: the body must come back as it was.
				Body:        `{"version":1,"event":"user.created","payload":{"html":"<b>&amp;</b>","n":1e21}}`,
				Settings:    delivery.SnapshotOf(fullSettings("CANARY_D_")),
				ScheduledAt: at},
			canaries: credentialCanaries("CANARY_D_"),
		},
		{
			name: "DeliveryScheduled without credentials", stream: ds,
			event: delivery.Scheduled{DeliveryID: deliveryID, EventID: publishedID, WebhookID: id, TenantID: "t1",
				CommunityID: "c1", Name: "user.created", Body: `{"version":1,"event":"user.created","payload":{}}`,
				Settings: delivery.SnapshotOf(noCredentials), ScheduledAt: at},
		},
		{
			name: "DeliveryScheduled in body format 1", stream: ds,
			event: delivery.Scheduled{DeliveryID: deliveryID, EventID: publishedID, WebhookID: id, TenantID: "t1",
				CommunityID: "c1", Name: "user.created", BodyFormat: delivery.BodyBuiltV1,
				Settings: delivery.SnapshotOf(fullSettings("CANARY_F_")), ScheduledAt: at},
			canaries: credentialCanaries("CANARY_F_"),
		},
		{
			name: "DeliveryAttempted", stream: ds,
			event: delivery.Attempted{DeliveryID: deliveryID, Attempt: 2, Status: 503, DurationMs: 1234,
				ResponseExcerpt: "<html>busy</html>", At: at, RetryAt: at.Add(5 * time.Second)},
		},
		{
			name: "DeliveryAttempted with its endpoint", stream: ds,
			event: delivery.Attempted{DeliveryID: deliveryID, Attempt: 4, Status: 503, DurationMs: 12, At: at,
				RetryAt: at.Add(time.Minute), WebhookID: id, Probe: true},
		},
		{
			name: "DeliveryDeferred", stream: ds,
			event: delivery.Deferred{DeliveryID: deliveryID, Until: at.Add(time.Minute), Reason: delivery.DeferReasonCircuitOpen, At: at},
		},
		{
			name: "DeliveryAttempted without response", stream: ds,
			event: delivery.Attempted{DeliveryID: deliveryID, Attempt: 3, ErrorClass: "timeout", DurationMs: 10000, At: at},
		},
		{
			name: "DeliverySucceeded", stream: ds,
			event: delivery.Succeeded{DeliveryID: deliveryID, Attempt: 1, At: at},
		},
		{
			name: "DeliveryFailed", stream: ds,
			event: delivery.Failed{DeliveryID: deliveryID, Attempt: 3, Reason: delivery.ReasonExhausted, At: at},
		},
		{
			name: "DeliveryReplayRequested", stream: ds,
			event: delivery.ReplayRequested{DeliveryID: deliveryID, Mode: delivery.ReplayOriginal,
				RequestedBy: "license:l1", At: at},
		},
	}
}

var testMetadata = eventlog.Metadata{
	CorrelationID: "corr-1",
	CausationID:   "cause-1",
	Actor:         "license:l1",
	OccurredAt:    time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.UTC),
}

func record(stream string, d eventlog.EventData) eventlog.RecordedEvent {
	return eventlog.RecordedEvent{
		Stream: stream, Revision: 3, Position: eventlog.Position{Commit: 9, Prepare: 9},
		ID: d.ID, Type: d.Type, Data: d.Data, Metadata: d.Metadata, Created: time.Now(),
	}
}

func eventID(b byte) eventlog.EventID {
	var id eventlog.EventID
	for i := range id {
		id[i] = b + byte(i)
	}
	return id
}

func TestSamplesCoverEveryRegisteredEvent(t *testing.T) {
	t.Parallel()
	covered := map[string]bool{}
	for _, s := range samples() {
		covered[s.event.EventName()] = true
	}
	for _, e := range eventcodec.HookdEvents() {
		if !covered[e.EventName()] {
			t.Errorf("no sample of %s: add one so its encoding and its secrets are tested", e.EventName())
		}
	}
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	c := newCodec(t, xorSealer{})
	for i, s := range samples() {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			id := eventID(byte(i))
			d, err := c.Encode(s.stream, id, s.event, testMetadata)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			if d.ID != id || d.Type != s.event.EventName() {
				t.Errorf("EventData id %x type %q, want %x %q", d.ID, d.Type, id, s.event.EventName())
			}
			for _, canary := range s.canaries {
				if bytes.Contains(d.Data, []byte(canary)) {
					t.Errorf("encoded data holds the secret %s in plain text: %s", canary, d.Data)
				}
				if bytes.Contains(d.Metadata, []byte(canary)) {
					t.Errorf("encoded metadata holds the secret %s", canary)
				}
			}
			got, err := c.Decode(record(s.stream, d))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !reflect.DeepEqual(got, s.event) {
				t.Errorf("Decode gave\n%#v\nwant\n%#v", got, s.event)
			}
			md, err := c.DecodeMetadata(record(s.stream, d))
			if err != nil {
				t.Fatalf("DecodeMetadata: %v", err)
			}
			if md.CorrelationID != testMetadata.CorrelationID || md.CausationID != testMetadata.CausationID ||
				md.Actor != testMetadata.Actor || !md.OccurredAt.Equal(testMetadata.OccurredAt) {
				t.Errorf("metadata = %+v, want %+v", md, testMetadata)
			}
		})
	}
}

// secretFields returns the secret fields of a copy of e, and the copy; nil when e has none.
func secretFields(e eventcodec.Event) ([]*string, reflect.Value) {
	v := reflect.New(reflect.TypeOf(e))
	v.Elem().Set(reflect.ValueOf(e))
	s, ok := v.Interface().(interface{ SecretFields() []*string })
	if !ok {
		return nil, v
	}
	return s.SecretFields(), v
}

func TestEverySecretIsSealed(t *testing.T) {
	t.Parallel()
	c := newCodec(t, xorSealer{})
	for _, s := range samples() {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			fields, _ := secretFields(s.event)
			plain := map[string]bool{}
			for _, f := range fields {
				plain[*f] = true
			}
			for _, canary := range s.canaries {
				if !plain[canary] {
					t.Errorf("secret %s is not among the event's SecretFields", canary)
				}
			}
			d, err := c.Encode(s.stream, eventID(1), s.event, testMetadata)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range fields {
				if *f != "" && bytes.Contains(d.Data, []byte(*f)) {
					t.Errorf("secret field value %q is in the data in plain text", *f)
				}
			}
		})
	}
}

func TestDecodeSealedLeavesSecretsSealed(t *testing.T) {
	t.Parallel()
	c := newCodec(t, xorSealer{})
	for _, s := range samples() {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			d, err := c.Encode(s.stream, eventID(2), s.event, testMetadata)
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.DecodeSealed(record(s.stream, d))
			if err != nil {
				t.Fatalf("DecodeSealed: %v", err)
			}
			if reflect.TypeOf(got) != reflect.TypeOf(s.event) {
				t.Fatalf("DecodeSealed gave a %T, want %T", got, s.event)
			}
			want, _ := secretFields(s.event)
			sealed, copied := secretFields(got)
			if len(sealed) != len(want) {
				t.Fatalf("%d secret fields after DecodeSealed, want %d", len(sealed), len(want))
			}
			for i, f := range sealed {
				if *f == *want[i] {
					t.Errorf("secret field %d is in plain text after DecodeSealed: %q", i, *f)
				}
				opened, err := c.OpenSecret(*f, s.stream)
				if err != nil {
					t.Fatalf("OpenSecret of field %d: %v", i, err)
				}
				if opened != *want[i] {
					t.Errorf("OpenSecret of field %d = %q, want %q", i, opened, *want[i])
				}
				if _, err := c.OpenSecret(*f, s.stream+"-other"); err == nil {
					t.Errorf("OpenSecret of field %d with another stream succeeded", i)
				}
				*f = opened
			}
			// With secrets opened, the event is the one encoded: nothing else differs.
			if !reflect.DeepEqual(copied.Elem().Interface(), s.event) {
				t.Errorf("DecodeSealed differs from the original beyond its secrets:\n%#v", copied.Elem().Interface())
			}
		})
	}
}

func TestEncodeDoesNotChangeTheCallersEvent(t *testing.T) {
	t.Parallel()
	c := newCodec(t, xorSealer{})
	originals, events := samples(), samples()
	for i, s := range events {
		if _, err := c.Encode(s.stream, eventID(3), s.event, testMetadata); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if !reflect.DeepEqual(s.event, originals[i].event) {
			t.Errorf("%s: Encode changed the event to %#v", s.name, s.event)
		}
	}

	// The same through a pointer-free event held by the aggregate.
	w, err := webhook.Create(webhook.Creation{ID: "w1", TenantID: "t1", CommunityID: "c1",
		Settings: fullSettings("CANARY_A_"), Secret: "CANARY_A_SECRET"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Encode(webhook.Stream("w1"), eventID(4), w.Changes()[0], testMetadata); err != nil {
		t.Fatal(err)
	}
	if w.Secret() != "CANARY_A_SECRET" || w.Settings().API.Credential.OAuth2.ClientSecret != "CANARY_A_CLIENTSECRET" ||
		w.Changes()[0].(webhook.Created).Secret != "CANARY_A_SECRET" {
		t.Error("encoding an aggregate's change sealed the aggregate's own secrets")
	}
}

func TestDecodeWithAnotherStreamFails(t *testing.T) {
	t.Parallel()
	c := newCodec(t, xorSealer{})
	for _, s := range samples() {
		if len(s.canaries) == 0 {
			continue
		}
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			d, err := c.Encode(s.stream, eventID(5), s.event, testMetadata)
			if err != nil {
				t.Fatal(err)
			}
			moved := record(s.stream+"x", d) // the same bytes, found in another stream
			if got, err := c.Decode(moved); err == nil {
				t.Fatalf("Decode of a record moved to another stream succeeded: %#v", got)
			} else if !errors.Is(err, errCannotOpen) {
				t.Errorf("error %v does not wrap the sealer's error", err)
			}
			if _, err := c.DecodeSealed(moved); err != nil {
				t.Errorf("DecodeSealed does not open secrets and so should not fail: %v", err)
			}
		})
	}
}

func TestDecodeTamperedSecretFails(t *testing.T) {
	t.Parallel()
	c := newCodec(t, xorSealer{})
	s := samples()[0]
	d, err := c.Encode(s.stream, eventID(6), s.event, testMetadata)
	if err != nil {
		t.Fatal(err)
	}
	// Swap the first sealed value for one sealed for another stream: a ciphertext copied from
	// another record must not open here.
	forged, _ := xorSealer{}.Seal("attacker", "webhook-other")
	i := bytes.Index(d.Data, []byte(sealedPrefix))
	j := i + bytes.IndexByte(d.Data[i:], '"')
	tampered := append(append(append([]byte{}, d.Data[:i]...), forged...), d.Data[j:]...)
	d.Data = tampered
	if _, err := c.Decode(record(s.stream, d)); err == nil {
		t.Error("Decode accepted a secret sealed for another stream")
	}
}

func TestUnknownType(t *testing.T) {
	t.Parallel()
	c := newCodec(t, xorSealer{})
	for _, typ := range []string{"WebhookRenamed", "", "webhookcreated", "webhook.Created", "Created"} {
		r := eventlog.RecordedEvent{Stream: "webhook-1", Type: typ, Data: []byte(`{}`)}
		for name, decode := range map[string]func(eventlog.RecordedEvent) (eventcodec.Event, error){
			"Decode": c.Decode, "DecodeSealed": c.DecodeSealed,
		} {
			if got, err := decode(r); !errors.Is(err, eventcodec.ErrUnknownType) || got != nil {
				t.Errorf("%s of type %q = %#v, %v; want ErrUnknownType", name, typ, got, err)
			}
		}
	}
}

// foreignCreated claims a registered name with a type that is not the registered one.
type foreignCreated struct{ WebhookID string }

func (foreignCreated) EventName() string { return webhook.EventCreated }

type notRegistered struct{}

func (notRegistered) EventName() string { return "NotRegistered" }

func TestEncodeRefusesWhatIsNotRegistered(t *testing.T) {
	t.Parallel()
	c := newCodec(t, xorSealer{})
	webhookOnly, err := eventcodec.NewRegistry(webhook.Created{}, webhook.Updated{})
	if err != nil {
		t.Fatal(err)
	}
	narrow, err := eventcodec.New(webhookOnly, xorSealer{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		codec *eventcodec.Codec
		event eventcodec.Event
	}{
		{"unknown name", c, notRegistered{}},
		{"registered name, other type", c, foreignCreated{WebhookID: "w"}},
		{"pointer to a registered type", c, &webhook.Created{WebhookID: "w"}},
		{"type left out of the registry", narrow, license.Revoked{LicenseID: "l"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := tt.codec.Encode("s", eventID(7), tt.event, testMetadata); !errors.Is(err, eventcodec.ErrUnknownType) {
				t.Errorf("Encode(%T) = %v, want ErrUnknownType", tt.event, err)
			}
		})
	}
}

func TestDecodeMalformedData(t *testing.T) {
	t.Parallel()
	c := newCodec(t, xorSealer{})
	for _, data := range []string{``, `{`, `[]`, `{"webhookId":1}`, `{"settings":{"criteria":"SOME"}}`} {
		r := eventlog.RecordedEvent{Stream: "webhook-1", Type: webhook.EventCreated, Data: []byte(data)}
		got, err := c.Decode(r)
		if err == nil {
			t.Errorf("Decode of %q = %#v, want an error", data, got)
			continue
		}
		if errors.Is(err, eventcodec.ErrUnknownType) {
			t.Errorf("Decode of %q: malformed data reads as an unknown type: %v", data, err)
		}
	}
}

func TestSealerErrorsPropagate(t *testing.T) {
	t.Parallel()
	errSealer := errors.New("sealer down")
	good := newCodec(t, xorSealer{})
	bad := newCodec(t, failingSealer{errSealer})
	s := samples()[0]

	if _, err := bad.Encode(s.stream, eventID(8), s.event, testMetadata); !errors.Is(err, errSealer) {
		t.Errorf("Encode with a failing sealer = %v, want it to wrap the sealer's error", err)
	}
	d, err := good.Encode(s.stream, eventID(8), s.event, testMetadata)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bad.Decode(record(s.stream, d)); !errors.Is(err, errSealer) {
		t.Errorf("Decode with a failing sealer = %v, want it to wrap the sealer's error", err)
	}
	if _, err := bad.DecodeSealed(record(s.stream, d)); err != nil {
		t.Errorf("DecodeSealed does not call the sealer: %v", err)
	}
	// Events without secrets never reach the sealer.
	if _, err := bad.Encode("webhook-1", eventID(9), webhook.Deleted{WebhookID: "1"}, testMetadata); err != nil {
		t.Errorf("Encode of an event without secrets called the sealer: %v", err)
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	reg, err := eventcodec.NewRegistry(eventcodec.HookdEvents()...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eventcodec.New(nil, xorSealer{}); err == nil {
		t.Error("New(nil registry) succeeded")
	}
	if _, err := eventcodec.New(reg, nil); err == nil {
		t.Error("New(nil sealer) succeeded")
	}
	if c, err := eventcodec.New(reg, xorSealer{}); err != nil || c == nil {
		t.Errorf("New = %v, %v", c, err)
	}
}

func TestMetadata(t *testing.T) {
	t.Parallel()
	c := newCodec(t, xorSealer{})
	zone := time.FixedZone("UTC+5:30", 5*3600+1800)
	tests := []struct {
		name string
		md   eventlog.Metadata
		json string
	}{
		{"full", testMetadata,
			`{"correlationId":"corr-1","causationId":"cause-1","actor":"license:l1","occurredAt":"2025-03-14T15:09:26.535897932Z"}`},
		{"caused by what it correlates with", eventlog.Metadata{CorrelationID: "r-1", CausationID: "r-1", OccurredAt: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)},
			`{"correlationId":"r-1","occurredAt":"2024-01-02T03:04:05Z"}`},
		{"only the time", eventlog.Metadata{OccurredAt: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)},
			`{"occurredAt":"2024-01-02T03:04:05Z"}`},
		{"another zone", eventlog.Metadata{Actor: "system", OccurredAt: time.Date(2024, 1, 2, 3, 4, 5, 6, zone)},
			`{"actor":"system","occurredAt":"2024-01-02T03:04:05.000000006+05:30"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d, err := c.Encode("webhook-1", eventID(10), webhook.Deleted{WebhookID: "1"}, tt.md)
			if err != nil {
				t.Fatal(err)
			}
			if string(d.Metadata) != tt.json {
				t.Errorf("metadata JSON\n got %s\nwant %s", d.Metadata, tt.json)
			}
			got, err := c.DecodeMetadata(record("webhook-1", d))
			if err != nil {
				t.Fatal(err)
			}
			if got.CorrelationID != tt.md.CorrelationID || got.CausationID != tt.md.CausationID ||
				got.Actor != tt.md.Actor || !got.OccurredAt.Equal(tt.md.OccurredAt) {
				t.Errorf("DecodeMetadata = %+v, want %+v", got, tt.md)
			}
		})
	}
	t.Run("none", func(t *testing.T) {
		t.Parallel()
		got, err := c.DecodeMetadata(eventlog.RecordedEvent{Stream: "s"})
		if err != nil || got != (eventlog.Metadata{}) {
			t.Errorf("DecodeMetadata of no metadata = %+v, %v; want the zero value", got, err)
		}
	})
	t.Run("malformed", func(t *testing.T) {
		t.Parallel()
		if _, err := c.DecodeMetadata(eventlog.RecordedEvent{Stream: "s", Metadata: []byte(`{"occurredAt":1}`)}); err == nil {
			t.Error("DecodeMetadata of malformed metadata succeeded")
		}
	})
}

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	c := newCodec(t, xorSealer{})
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for g := range 20 {
		wg.Go(func() {
			for i, s := range samples() {
				d, err := c.Encode(s.stream, eventID(byte(g*16+i)), s.event, testMetadata)
				if err != nil {
					errs <- err
					return
				}
				got, err := c.Decode(record(s.stream, d))
				if err != nil {
					errs <- err
					return
				}
				if !reflect.DeepEqual(got, s.event) {
					errs <- fmt.Errorf("goroutine %d: %s did not round trip", g, s.name)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestEncodePublishedIsMarshal: the log's bytes of a published event are json.Marshal's, whatever
// its payload and fields hold, for encodePublished leaves the payload out of Marshal's pass.
func TestEncodePublishedIsMarshal(t *testing.T) {
	t.Parallel()
	c := newCodec(t, xorSealer{})
	base := publication.Published{EventID: "e1", TenantID: "t1", CommunityID: "c1", Name: "E_X", Publisher: "license:l1"}
	for _, tt := range []struct {
		name string
		edit func(*publication.Published)
	}{
		{"compact payload", func(p *publication.Published) { p.Payload = []byte(`{"a":[1,{"b":"\u003c"}],"c":null}`) }},
		{"payload with spaces", func(p *publication.Published) { p.Payload = []byte(`{ "a" : 1 }`) }},
		{"payload with html", func(p *publication.Published) { p.Payload = []byte(`{"a":"<b>&"}`) }},
		{"payload with a line separator", func(p *publication.Published) { p.Payload = []byte("{\"a\":\"\u2028\"}") }},
		{"no payload", func(p *publication.Published) { p.Payload = nil }},
		{"a payload mark in the fields", func(p *publication.Published) {
			p.Name, p.Publisher, p.IdempotencyKey = `"payload":0`, `x","payload":0,"`, `\"payload\":0`
			p.Payload = []byte(`{"payload":0}`)
		}},
		{"idempotency key", func(p *publication.Published) { p.IdempotencyKey = "k<1>"; p.Payload = []byte(`{}`) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := base
			tt.edit(&p)
			want, err := json.Marshal(p)
			if err != nil {
				t.Fatal(err)
			}
			d, err := c.Encode(publication.Stream(p.EventID), eventID(1), p, testMetadata)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(d.Data, want) {
				t.Errorf("Encode wrote\n%s\njson.Marshal writes\n%s", d.Data, want)
			}
		})
	}
	// An invalid payload fails as Marshal fails.
	p := base
	p.Payload = []byte(`{"a":`)
	if _, err := c.Encode(publication.Stream(p.EventID), eventID(1), p, testMetadata); err == nil {
		t.Error("Encode of a payload that is not JSON succeeded")
	}
}
