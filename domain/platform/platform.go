// Package platform is the catalogue of Cosmo's platform events, which hookd accepts from system
// licenses (POST /platform/events) and delivers to the one endpoint WEBHOOK_URL names, signed with
// WEBHOOK_SECRET, and the retry policy Cosmo delivers them with. docs/platform-events.md describes
// the events' payloads and the wire format.
package platform

import (
	"encoding/json"
	"slices"
	"time"

	"github.com/hookd/hookd/domain/delivery"
	"github.com/hookd/hookd/domain/webhook"
)

// The platform events, named as Cosmo names them in the body's "event" field (its PlatformEventName
// enum). Names are case-sensitive: receivers compare them as they are.
const (
	// UserRegisterSuccess: a user registered. Payload: user_id, user_email; user_first_name and
	// user_last_name when known.
	UserRegisterSuccess = "USER_REGISTER_SUCCESS"
	// UserDeleteSuccess: a user was deleted. Payload as UserRegisterSuccess.
	UserDeleteSuccess = "USER_DELETE_SUCCESS"
	// ApolloMigrateInit: a graph migration from Apollo started. Payload: actor_id, optional.
	ApolloMigrateInit = "APOLLO_MIGRATE_INIT"
	// ApolloMigrateSuccess: a graph migration from Apollo succeeded. Payload: federated_graph (id,
	// name, namespace) and actor_id, optional.
	ApolloMigrateSuccess = "APOLLO_MIGRATE_SUCCESS"
)

// WebhookDisabled is hookd's own platform event: hookd disabled a webhook whose endpoint is dead
// (webhook.Disabled with a reason). Payload: webhook_id, tenant_id, community_id, reason ("failing"
// or "gone"), disabled_at, and failing_since for "failing". It is published by hookd alone, never
// through the API, so it is not among Names.
const WebhookDisabled = "WEBHOOK_DISABLED"

// WebhookDisabledPayload is the payload of WEBHOOK_DISABLED for d, recorded at at.
func WebhookDisabledPayload(d webhook.Disabled, at time.Time) json.RawMessage {
	p := struct {
		WebhookID    string     `json:"webhook_id"`
		TenantID     string     `json:"tenant_id"`
		CommunityID  string     `json:"community_id"`
		Reason       string     `json:"reason"`
		DisabledAt   time.Time  `json:"disabled_at"`
		FailingSince *time.Time `json:"failing_since,omitempty"`
	}{WebhookID: d.WebhookID, TenantID: d.TenantID, CommunityID: d.CommunityID, Reason: d.Reason, DisabledAt: at.UTC()}
	if !d.FailingSince.IsZero() {
		since := d.FailingSince.UTC()
		p.FailingSince = &since
	}
	out, _ := json.Marshal(p) // strings and times always encode
	return out
}

// Known reports whether name is one of the platform events a system license may publish (Names).
func Known(name string) bool { return slices.Contains(Names(), name) }

// Cosmo's retry policy for platform events.
const (
	// Retries is how many times an event is sent again after its first attempt failed with a
	// retryable outcome: seven attempts at most.
	Retries = 6
	// Timeout bounds one attempt, the response's headers and body included.
	Timeout = 10 * time.Second
)

// RetryPolicy returns Cosmo's policy for judging an attempt, in the form the delivery aggregate
// takes: a 2xx succeeds; no response (a connection error or a timeout, status 0), 429 and any 5xx
// are retried up to Retries times; anything else, 3xx included, fails at once. TTL is Timeout in
// seconds. Each call returns new lists, so a caller cannot change another's.
func RetryPolicy() delivery.Policy {
	success := make([]int, 0, 100)
	for code := 200; code <= 299; code++ {
		success = append(success, code)
	}
	retry := make([]int, 0, 102)
	retry = append(retry, 0, 429)
	for code := 500; code <= 599; code++ {
		retry = append(retry, code)
	}
	return delivery.Policy{
		SuccessCodes: success,
		RetryCodes:   retry,
		RetryCount:   Retries,
		TTL:          int(Timeout / time.Second),
	}
}

// RetryBackoff returns Cosmo's spacing of the retries: 1 s before the first, doubling up to 32 s
// before the sixth, each varied by up to a fifth either way (delivery.DefaultJitter), so that events
// that failed together, when WEBHOOK_URL was down, are not all sent again in the same instant. The
// caller sets Random; left nil, every delay is exact. Each call returns a new list of delays.
func RetryBackoff() delivery.Backoff {
	delays := make([]time.Duration, Retries)
	for i := range delays {
		delays[i] = time.Second << i
	}
	return delivery.Backoff{Delays: delays, Jitter: delivery.DefaultJitter}
}

// Scope is the tenant and community that platform events and their deliveries are recorded under.
// No integrator's scope can take it: the API refuses it as a tenant or community id.
const Scope = "_platform"

// WebhookID stands for WEBHOOK_URL where a delivery names its webhook: platform events have one
// target, set by configuration rather than by a webhook.
const WebhookID = "platform"

// Target is the snapshot a platform delivery is sent with: a POST to url, without auth (the
// signature authenticates hookd), judged by RetryPolicy.
func Target(url string) delivery.Snapshot {
	return delivery.Snapshot{
		API:    webhook.Endpoint{Type: webhook.EndpointType, URL: url, AuthType: webhook.AuthNone},
		Policy: RetryPolicy(),
	}
}

// Names lists the platform events, in the catalogue's order.
func Names() []string {
	return []string{UserRegisterSuccess, UserDeleteSuccess, ApolloMigrateInit, ApolloMigrateSuccess}
}
