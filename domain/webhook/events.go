package webhook

import "time"

// Event is a fact about a webhook, as its stream in the log records it. Each type's name is stable:
// it is written into the log and never derived from the Go type.
//
// The JSON names of the event structs are the log's schema; fields may be added, never renamed.
type Event interface{ EventName() string }

// The names of the webhook events in the log.
const (
	EventCreated       = "WebhookCreated"
	EventUpdated       = "WebhookUpdated"
	EventDisabled      = "WebhookDisabled"
	EventEnabled       = "WebhookEnabled"
	EventDeleted       = "WebhookDeleted"
	EventSecretRotated = "WebhookSecretRotated"
	EventCircuitOpened = "WebhookCircuitOpened"
	EventCircuitClosed = "WebhookCircuitClosed"
)

// StreamPrefix starts the name of every webhook's stream; the part before '-' is the stream category.
const StreamPrefix = "webhook-"

// Stream names the stream that holds a webhook's events.
func Stream(id string) string { return StreamPrefix + id }

// Created records a new webhook with its first settings and its signing secret.
type Created struct {
	WebhookID   string   `json:"webhookId"`
	TenantID    string   `json:"tenantId"`
	CommunityID string   `json:"communityId"`
	Settings    Settings `json:"settings"`
	Disabled    bool     `json:"disabled"`
	CreatedBy   string   `json:"createdBy"`
	Secret      string   `json:"secret"`
}

// Updated records new settings; it carries them whole, so that a reader needs no earlier event.
type Updated struct {
	WebhookID string   `json:"webhookId"`
	Settings  Settings `json:"settings"`
}

// Disabled records that deliveries to the webhook stopped. Reason is empty when a caller disabled it,
// DisabledFailing or DisabledGone when hookd did (the system is the actor); then the webhook's
// tenant and community, and when its failures began, are recorded too, for the platform event
// WEBHOOK_DISABLED that follows.
type Disabled struct {
	WebhookID    string    `json:"webhookId"`
	Reason       string    `json:"reason,omitempty"`
	TenantID     string    `json:"tenantId,omitempty"`
	CommunityID  string    `json:"communityId,omitempty"`
	FailingSince time.Time `json:"failingSince,omitzero"`
}

// Enabled records that deliveries to the webhook resumed.
type Enabled struct {
	WebhookID string `json:"webhookId"`
}

// Deleted records the end of the webhook. No command is accepted after it.
type Deleted struct {
	WebhookID string `json:"webhookId"`
}

// SecretRotated records a new signing secret. The secret it replaces stays valid, and deliveries are
// signed with both, until PreviousExpiresAt; the one that was previous before is no longer valid.
type SecretRotated struct {
	WebhookID string `json:"webhookId"`
	Secret    string `json:"secret"`
	// PreviousSecret is the secret that was current when the rotation happened.
	PreviousSecret    string    `json:"previousSecret"`
	PreviousExpiresAt time.Time `json:"previousExpiresAt"`
}

// EventName implements Event.
func (Created) EventName() string { return EventCreated }

// EventName implements Event.
func (Updated) EventName() string { return EventUpdated }

// EventName implements Event.
func (Disabled) EventName() string { return EventDisabled }

// EventName implements Event.
func (Enabled) EventName() string { return EventEnabled }

// EventName implements Event.
func (Deleted) EventName() string { return EventDeleted }

// EventName implements Event.
func (SecretRotated) EventName() string { return EventSecretRotated }

// SecretFields lists the fields that must be encrypted before the event reaches the log.
func (e *Created) SecretFields() []*string {
	return append(e.Settings.API.Credential.Fields(), &e.Secret)
}

// SecretFields lists the fields that must be encrypted before the event reaches the log.
func (e *Updated) SecretFields() []*string { return e.Settings.API.Credential.Fields() }

// SecretFields lists the fields that must be encrypted before the event reaches the log: the previous
// secret is as secret as the new one, since deliveries are still signed with it.
func (e *SecretRotated) SecretFields() []*string { return []*string{&e.Secret, &e.PreviousSecret} }
