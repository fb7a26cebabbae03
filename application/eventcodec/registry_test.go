package eventcodec_test

import (
	"reflect"
	"slices"
	"testing"

	"github.com/hookd/hookd/application/eventcodec"
	"github.com/hookd/hookd/domain/delivery"
	"github.com/hookd/hookd/domain/license"
	"github.com/hookd/hookd/domain/publication"
	"github.com/hookd/hookd/domain/servicekey"
	"github.com/hookd/hookd/domain/webhook"
)

// The names are written into the log: renaming one makes every stored event of that type unreadable.
// This list is spelt out on purpose; change it only with a migration.
func TestRegisteredNamesAreStable(t *testing.T) {
	t.Parallel()
	reg, err := eventcodec.NewRegistry(eventcodec.HookdEvents()...)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"DeliveryAttempted",
		"DeliveryDeferred",
		"DeliveryFailed",
		"DeliveryReplayRequested",
		"DeliveryScheduled",
		"DeliverySucceeded",
		"EventPublished",
		"LicenseIssued",
		"LicenseRevoked",
		"ServiceKeyIssued",
		"ServiceKeyReset",
		"WebhookCircuitClosed",
		"WebhookCircuitOpened",
		"WebhookCreated",
		"WebhookDeleted",
		"WebhookDisabled",
		"WebhookEnabled",
		"WebhookHealthCarried",
		"WebhookHealthMarked",
		"WebhookSecretRotated",
		"WebhookUpdated",
	}
	if got := reg.Names(); !slices.Equal(got, want) {
		t.Errorf("Names() = %q\nwant      %q", got, want)
	}
}

func TestHookdEventsNamesMatchTheirConstants(t *testing.T) {
	t.Parallel()
	want := map[string]eventcodec.Event{
		webhook.EventCreated:          webhook.Created{},
		webhook.EventUpdated:          webhook.Updated{},
		webhook.EventDisabled:         webhook.Disabled{},
		webhook.EventEnabled:          webhook.Enabled{},
		webhook.EventDeleted:          webhook.Deleted{},
		webhook.EventSecretRotated:    webhook.SecretRotated{},
		webhook.EventCircuitOpened:    webhook.CircuitOpened{},
		webhook.EventCircuitClosed:    webhook.CircuitClosed{},
		webhook.EventHealthMarked:     webhook.HealthMarked{},
		webhook.EventHealthCarried:    webhook.HealthCarried{},
		delivery.EventDeferred:        delivery.Deferred{},
		license.EventIssued:           license.Issued{},
		license.EventRevoked:          license.Revoked{},
		servicekey.EventIssued:        servicekey.Issued{},
		servicekey.EventReset:         servicekey.Reset{},
		publication.EventPublished:    publication.Published{},
		delivery.EventScheduled:       delivery.Scheduled{},
		delivery.EventAttempted:       delivery.Attempted{},
		delivery.EventSucceeded:       delivery.Succeeded{},
		delivery.EventFailed:          delivery.Failed{},
		delivery.EventReplayRequested: delivery.ReplayRequested{},
	}
	events := eventcodec.HookdEvents()
	if len(events) != len(want) {
		t.Errorf("HookdEvents() has %d events, want %d", len(events), len(want))
	}
	for _, e := range events {
		w, ok := want[e.EventName()]
		if !ok {
			t.Errorf("HookdEvents() has %T named %q, which no constant names", e, e.EventName())
			continue
		}
		if reflect.TypeOf(e) != reflect.TypeOf(w) {
			t.Errorf("%q is registered for %T, want %T", e.EventName(), e, w)
		}
	}
}

type dupA struct{}

func (dupA) EventName() string { return "Dup" }

type dupB struct{}

func (dupB) EventName() string { return "Dup" }

type stringEvent string

func (stringEvent) EventName() string { return "StringEvent" }

type structEvent struct{ A int }

func (structEvent) EventName() string { return "StructEvent" }

func TestNewRegistry(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		events  []eventcodec.Event
		wantErr bool
	}{
		{"every hookd event", eventcodec.HookdEvents(), false},
		{"none", nil, false},
		{"one struct", []eventcodec.Event{structEvent{}}, false},
		{"the same event twice", []eventcodec.Event{webhook.Created{}, webhook.Created{}}, true},
		{"two types with one name", []eventcodec.Event{dupA{}, dupB{}}, true},
		{"hookd events and a clash", append(eventcodec.HookdEvents(), foreignCreated{}), true},
		{"a pointer", []eventcodec.Event{&structEvent{}}, true},
		{"a pointer to a hookd event", []eventcodec.Event{&webhook.Deleted{}}, true},
		{"a string type", []eventcodec.Event{stringEvent("x")}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			reg, err := eventcodec.NewRegistry(tt.events...)
			if (err != nil) != tt.wantErr {
				t.Fatalf("NewRegistry error = %v, want error %t", err, tt.wantErr)
			}
			if tt.wantErr {
				if reg != nil {
					t.Error("NewRegistry returned a registry with its error")
				}
				return
			}
			if got := len(reg.Names()); got != len(tt.events) {
				t.Errorf("Names() has %d names, want %d", got, len(tt.events))
			}
		})
	}
}

func TestNamesIsACopy(t *testing.T) {
	t.Parallel()
	reg, err := eventcodec.NewRegistry(eventcodec.HookdEvents()...)
	if err != nil {
		t.Fatal(err)
	}
	names := reg.Names()
	names[0] = "Changed"
	if reg.Names()[0] == "Changed" {
		t.Error("changing the slice Names returned changed the registry")
	}
}
