// Package webhook is the webhook aggregate: a subscription of one tenant and community to events,
// with the endpoint that receives them. Every change is an event; the aggregate is their fold.
package webhook

import (
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Webhook is a webhook subscription. Its state changes only through its methods, each of which
// records the events it causes; Changes returns them for the caller to append.
type Webhook struct {
	id          string
	tenantID    string
	communityID string
	settings    Settings
	disabled    bool
	createdBy   string
	secret      string
	deleted     bool
	// previousSecret is the secret a rotation replaced; it stays valid until previousExpiresAt.
	previousSecret    string
	previousExpiresAt time.Time
	// circuit is the endpoint's circuit breaker, which enabling the webhook closes.
	circuit Circuit

	version int64 // of the last event loaded from the log; -1 for a new webhook
	changes []Event
}

// Creation is everything a new webhook starts with.
type Creation struct {
	ID          string
	TenantID    string
	CommunityID string
	Settings    Settings
	Disabled    bool
	CreatedBy   string
	// Secret signs deliveries. The application generates one when the integrator gives none.
	Secret string
}

const maxCreatedByLength = 256

var scopeIDPattern = regexp.MustCompile(`^[A-Za-z0-9_.\-]{1,128}$`)

// ValidScopeID reports whether s can be a tenant or community id: 1 to 128 letters, digits, '_', '.'
// or '-'.
func ValidScopeID(s string) bool { return scopeIDPattern.MatchString(s) }

// Create validates a new webhook and records its creation.
func Create(c Creation) (*Webhook, error) {
	settings := c.Settings.Clone().Normalized()
	var v validation
	v.check(c.ID != "", "_id", "is required")
	v.check(ValidScopeID(c.TenantID), "tenantId", "must be 1 to 128 letters, digits, '_', '.' or '-'")
	v.check(ValidScopeID(c.CommunityID), "communityId", "must be 1 to 128 letters, digits, '_', '.' or '-'")
	v.check(len(c.CreatedBy) <= maxCreatedByLength && printable(c.CreatedBy), "createdBy",
		fmt.Sprintf("must be at most %d characters without control characters", maxCreatedByLength))
	if err := ValidateSecret(c.Secret); err != nil {
		v.add("secret", err.Error())
	}
	if err := settings.Validate(); err != nil {
		v.problems = append(v.problems, err.(*ValidationError).Problems...)
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	w := &Webhook{version: -1}
	w.record(Created{
		WebhookID:   c.ID,
		TenantID:    c.TenantID,
		CommunityID: c.CommunityID,
		Settings:    settings,
		Disabled:    c.Disabled,
		CreatedBy:   c.CreatedBy,
		Secret:      c.Secret,
	})
	return w, nil
}

// Rehydrate rebuilds a webhook from its events as the log holds them; version is the revision of the
// last one. It is not a constructor: it validates nothing, because the events were valid when they
// were recorded.
func Rehydrate(history []Event, version int64) (*Webhook, error) {
	if len(history) == 0 {
		return nil, ErrNotFound
	}
	if _, ok := history[0].(Created); !ok {
		return nil, fmt.Errorf("webhook: history starts with %s, not %s", history[0].EventName(), EventCreated)
	}
	w := &Webhook{}
	for _, e := range history {
		w.apply(e)
	}
	w.version = version
	return w, nil
}

// Update replaces the settings. Settings equal to the present ones record nothing.
func (w *Webhook) Update(s Settings) error {
	if w.deleted {
		return ErrDeleted
	}
	s = s.Clone().Normalized()
	if err := s.Validate(); err != nil {
		return err
	}
	if s.Equal(w.settings) {
		return nil
	}
	w.record(Updated{WebhookID: w.id, Settings: s})
	return nil
}

// Disable stops deliveries. Disabling a disabled webhook records nothing.
func (w *Webhook) Disable() error {
	if w.deleted {
		return ErrDeleted
	}
	if !w.disabled {
		w.record(Disabled{WebhookID: w.id})
	}
	return nil
}

// Enable resumes deliveries. Enabling an enabled webhook records nothing.
func (w *Webhook) Enable() error {
	if w.deleted {
		return ErrDeleted
	}
	if w.disabled {
		w.record(Enabled{WebhookID: w.id})
	}
	return nil
}

// Delete ends the webhook.
func (w *Webhook) Delete() error {
	if w.deleted {
		return ErrDeleted
	}
	w.record(Deleted{WebhookID: w.id})
	return nil
}

// Bounds of the grace period of a secret rotation, during which the replaced secret stays valid.
const (
	// DefaultSecretGracePeriod is the grace period of a rotation that names none: a day, long enough
	// for a receiver to deploy the new secret.
	DefaultSecretGracePeriod = 24 * time.Hour
	// MaxSecretGracePeriod bounds the grace period: a week. A leaked secret must not stay valid
	// longer than that after it was rotated away.
	MaxSecretGracePeriod = 7 * 24 * time.Hour
)

// RotateSecret makes secret the signing secret. The present one stays valid, and deliveries are signed
// with both, until grace after now; a previous secret left from an earlier rotation stops being valid
// at once, so that a webhook never has more than two. The new secret follows the rules of a secret
// given at creation (ValidateSecret) and must differ from the present one; grace is 0 to
// MaxSecretGracePeriod. now is the time of the command, since the domain reads no clock.
func (w *Webhook) RotateSecret(secret string, grace time.Duration, now time.Time) error {
	if w.deleted {
		return ErrDeleted
	}
	var v validation
	if err := ValidateSecret(secret); err != nil {
		v.add("secret", err.Error())
	} else {
		v.check(secret != w.secret, "secret", "must differ from the current secret")
	}
	v.check(grace >= 0 && grace <= MaxSecretGracePeriod, "gracePeriodSeconds",
		fmt.Sprintf("must be from 0 to %d", int64(MaxSecretGracePeriod/time.Second)))
	if err := v.err(); err != nil {
		return err
	}
	w.record(SecretRotated{
		WebhookID: w.id, Secret: secret, PreviousSecret: w.secret,
		// UTC drops the monotonic reading, which the log could not keep.
		PreviousExpiresAt: now.Add(grace).UTC(),
	})
	return nil
}

func (w *Webhook) record(e Event) {
	w.apply(e)
	w.changes = append(w.changes, e)
}

// apply is the fold: the one place where an event changes state, on replay and on a new change alike.
func (w *Webhook) apply(e Event) {
	switch e := e.(type) {
	case Created:
		w.id, w.tenantID, w.communityID = e.WebhookID, e.TenantID, e.CommunityID
		w.settings, w.disabled, w.createdBy, w.secret = e.Settings, e.Disabled, e.CreatedBy, e.Secret
	case Updated:
		w.settings = e.Settings
	case Disabled:
		w.disabled = true
	case Enabled:
		w.disabled, w.circuit = false, Circuit{}
	case CircuitOpened:
		w.circuit = Circuit{Open: true, OpenedAt: e.At, Until: e.Until, CoolDown: e.CoolDown}
	case CircuitClosed:
		w.circuit = Circuit{ClosedAt: e.At}
	case Deleted:
		w.deleted = true
	case SecretRotated:
		w.secret, w.previousSecret, w.previousExpiresAt = e.Secret, e.PreviousSecret, e.PreviousExpiresAt
	}
}

// ID returns the webhook's id.
func (w *Webhook) ID() string { return w.id }

// TenantID returns the tenant the webhook belongs to.
func (w *Webhook) TenantID() string { return w.tenantID }

// CommunityID returns the community the webhook belongs to.
func (w *Webhook) CommunityID() string { return w.communityID }

// Settings returns the present settings.
func (w *Webhook) Settings() Settings { return w.settings.Clone() }

// Disabled reports whether deliveries are stopped.
func (w *Webhook) Disabled() bool { return w.disabled }

// CreatedBy returns who created the webhook.
func (w *Webhook) CreatedBy() string { return w.createdBy }

// Secret returns the current secret: the one deliveries are signed with, and the only one after a
// rotation's grace period.
func (w *Webhook) Secret() string { return w.secret }

// ValidSecrets returns the secrets that sign a delivery made at now; see SecretsValidAt.
func (w *Webhook) ValidSecrets(now time.Time) []string {
	return SecretsValidAt(w.secret, w.previousSecret, w.previousExpiresAt, now)
}

// SecretsValidAt returns the secrets valid at now of a webhook whose current secret is current and
// whose last rotation replaced previous, valid until previousExpiresAt: current first, then previous
// while now is before previousExpiresAt. previous is empty when the secret was never rotated. A
// delivery is signed with each (one Standard Webhooks signature per secret), so a receiver verifies
// whichever of them it holds.
func SecretsValidAt(current, previous string, previousExpiresAt, now time.Time) []string {
	if previous != "" && now.Before(previousExpiresAt) {
		return []string{current, previous}
	}
	return []string{current}
}

// Deleted reports whether the webhook was deleted.
func (w *Webhook) Deleted() bool { return w.deleted }

// BelongsTo reports whether the webhook is in the tenant and community given.
func (w *Webhook) BelongsTo(tenantID, communityID string) bool {
	return w.tenantID == tenantID && w.communityID == communityID
}

// Version returns the revision of the last event loaded from the log, -1 for a new webhook. Changes
// must be appended expecting it.
func (w *Webhook) Version() int64 { return w.version }

// Changes returns the events recorded since the webhook was loaded or created.
func (w *Webhook) Changes() []Event { return w.changes }

// SecretPrefix marks a secret in the Standard Webhooks form: the prefix, then base64 of the key.
const SecretPrefix = "whsec_"

const (
	minSecretKeyBytes = 24
	maxSecretKeyBytes = 64
	minRawSecret      = 8
	maxRawSecret      = 256
)

// ValidateSecret accepts either Standard Webhooks' form, "whsec_" then base64 of a 24 to 64 byte key,
// or a raw secret of 8 to 256 bytes of printable UTF-8 (Cosmo's form: its bytes are the HMAC key).
func ValidateSecret(secret string) error {
	if rest, ok := strings.CutPrefix(secret, SecretPrefix); ok {
		key, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			return errors.New("after whsec_ must be standard base64")
		}
		if len(key) < minSecretKeyBytes || len(key) > maxSecretKeyBytes {
			return fmt.Errorf("after whsec_ must encode %d to %d bytes", minSecretKeyBytes, maxSecretKeyBytes)
		}
		return nil
	}
	if len(secret) < minRawSecret || len(secret) > maxRawSecret {
		return fmt.Errorf("must be whsec_ and base64, or %d to %d bytes", minRawSecret, maxRawSecret)
	}
	if !utf8.ValidString(secret) {
		return errors.New("must be valid UTF-8")
	}
	for _, r := range secret {
		if !unicode.IsPrint(r) {
			return errors.New("must be printable characters only")
		}
	}
	return nil
}
