package deliverer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hookd/hookd/application/deliver"
	"github.com/hookd/hookd/domain/delivery"
	"github.com/hookd/hookd/domain/webhook"
	"github.com/hookd/hookd/internal/bounded"
	"github.com/hookd/hookd/projections/webhookview"
)

const (
	// webhookFreshness is how old a webhook read from the read model may be when an attempt uses
	// it: a change (a new URL, a disable, a rotation) reaches attempts within it. Reading the
	// webhook once per attempt would cost a read transaction on every delivery.
	webhookFreshness = time.Second
	webhookCacheSize = 10_000
)

// WebhookReader reads a webhook's present settings and secrets from the read model.
type WebhookReader interface {
	Get(ctx context.Context, tenantID, communityID, id string) (webhookview.Webhook, error)
}

// SecretOpener opens a secret that the read model keeps sealed.
type SecretOpener interface {
	OpenSecret(sealed, stream string) (string, error)
}

// Targets answers the use case's webhooks from the webhooks read model, opening secrets as asked.
//
// It keeps what it read, the answer "not found" included, for webhookFreshness: that is its one
// invalidation rule, so a change to a webhook reaches attempts at most one second after the read
// model applied it. Errors other than not found are not kept. At most webhookCacheSize webhooks are
// kept; the least recently used goes first.
type Targets struct {
	webhooks WebhookReader
	secrets  SecretOpener
	kept     *bounded.Map[readWebhook]
}

// readWebhook is a webhook as the read model answered, and when.
type readWebhook struct {
	w   webhookview.Webhook
	err error
	at  time.Time
}

// NewTargets returns Targets over the read model's webhooks and the opener of their secrets.
func NewTargets(webhooks WebhookReader, secrets SecretOpener) *Targets {
	return &Targets{webhooks: webhooks, secrets: secrets, kept: bounded.New[readWebhook](webhookCacheSize)}
}

// Webhook implements deliver.Targets.
func (t *Targets) Webhook(ctx context.Context, tenantID, communityID, id string, now time.Time) (deliver.Webhook, error) {
	key := tenantID + "\x00" + communityID + "\x00" + id
	r, ok := t.kept.Get(key)
	if !ok || now.Sub(r.at) >= webhookFreshness {
		r = readWebhook{at: now}
		r.w, r.err = t.webhooks.Get(ctx, tenantID, communityID, id)
		if r.err != nil && !errors.Is(r.err, webhook.ErrNotFound) {
			return deliver.Webhook{}, r.err
		}
		t.kept.Put(key, r)
	}
	if r.err != nil {
		return deliver.Webhook{}, r.err
	}
	w := r.w
	return deliver.Webhook{
		Disabled: w.Disabled, RateLimit: w.Settings.RateLimit, Health: w.Health,
		Settings: func() (delivery.Snapshot, error) {
			s, err := w.OpenSettings(t.secrets.OpenSecret)
			if err != nil {
				return delivery.Snapshot{}, err
			}
			return delivery.SnapshotOf(s), nil
		},
		// During a rotation both secrets sign, the new one first, so receivers that still hold the
		// old one keep verifying.
		Secrets: func() ([]string, error) {
			sealed := w.ValidSecrets(now)
			secrets := make([]string, len(sealed))
			for i, s := range sealed {
				var err error
				if secrets[i], err = t.secrets.OpenSecret(s, w.Stream); err != nil {
					return nil, fmt.Errorf("opening the webhook's secret: %w", err)
				}
			}
			return secrets, nil
		},
	}, nil
}
