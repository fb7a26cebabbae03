package command

import (
	"context"
	"errors"
	"time"

	"github.com/hookd/hookd/application/eventcodec"
	"github.com/hookd/hookd/domain/webhook"
)

// Webhooks holds the commands on webhooks.
type Webhooks struct {
	streams   streams
	newID     func() string
	newSecret func() (string, error)
}

// NewWebhooks returns the webhook commands. newID gives each new webhook its id; newSecret makes a
// signing secret for a webhook created without one.
func NewWebhooks(log EventLog, codec *eventcodec.Codec, clock func() time.Time, newID func() string, newSecret func() (string, error)) (*Webhooks, error) {
	s, err := newStreams(log, codec, clock)
	if err != nil {
		return nil, err
	}
	if newID == nil || newSecret == nil {
		return nil, errors.New("command: an id source and a secret source are required")
	}
	return &Webhooks{streams: s, newID: newID, newSecret: newSecret}, nil
}

// load returns the webhook in the tenant and community given, or webhook.ErrNotFound; a deleted
// webhook is not found either, as if it had never been.
func (h *Webhooks) load(ctx context.Context, tenantID, communityID, id string) (*webhook.Webhook, error) {
	stream := webhook.Stream(id)
	events, version, err := h.streams.load(ctx, stream)
	if err != nil {
		return nil, err
	}
	history, err := ofType[webhook.Event](stream, events)
	if err != nil {
		return nil, err
	}
	w, err := webhook.Rehydrate(history, version)
	if err != nil {
		return nil, err
	}
	if w.Deleted() || !w.BelongsTo(tenantID, communityID) {
		return nil, webhook.ErrNotFound
	}
	return w, nil
}

func (h *Webhooks) save(ctx context.Context, w *webhook.Webhook, caller Caller) (Result, error) {
	return h.streams.save(ctx, webhook.Stream(w.ID()), w.Version(), asEvents(w.Changes()), caller)
}
