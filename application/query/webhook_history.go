// Package query holds the use cases that answer from the log itself rather than from a read model.
// Queries that a read model answers are served from projections directly.
package query

import (
	"context"
	"errors"
	"time"

	"github.com/hookd/hookd/application/eventcodec"
	"github.com/hookd/hookd/domain/eventlog"
	"github.com/hookd/hookd/domain/webhook"
)

// StreamReader reads one stream of the log.
type StreamReader interface {
	ReadStream(ctx context.Context, stream string, from uint64, limit int) ([]eventlog.RecordedEvent, error)
}

// HistoryEntry is one lifecycle event of a webhook.
type HistoryEntry struct {
	Revision   uint64
	Type       string
	OccurredAt time.Time
	Actor      string
	// Event is the event with its secrets still sealed: a history shows what changed, never a secret.
	Event eventcodec.Event
}

// WebhookHistory answers with a webhook's lifecycle events, oldest first.
type WebhookHistory struct {
	log   StreamReader
	codec *eventcodec.Codec
}

// NewWebhookHistory returns the history query.
func NewWebhookHistory(log StreamReader, codec *eventcodec.Codec) (*WebhookHistory, error) {
	if log == nil || codec == nil {
		return nil, errors.New("query: a stream reader and a codec are required")
	}
	return &WebhookHistory{log: log, codec: codec}, nil
}

// History returns the lifecycle of the webhook, or webhook.ErrNotFound when it is not in the tenant
// and community given or was deleted (a deleted webhook is not found by any endpoint).
func (q *WebhookHistory) History(ctx context.Context, tenantID, communityID, id string) ([]HistoryEntry, error) {
	records, err := q.log.ReadStream(ctx, webhook.Stream(id), 0, 0)
	if err != nil {
		return nil, err
	}
	entries := make([]HistoryEntry, 0, len(records))
	for i, r := range records {
		e, err := q.codec.DecodeSealed(r)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			created, ok := e.(webhook.Created)
			if !ok || created.TenantID != tenantID || created.CommunityID != communityID {
				return nil, webhook.ErrNotFound
			}
		}
		md, err := q.codec.DecodeMetadata(r)
		if err != nil {
			return nil, err
		}
		entries = append(entries, HistoryEntry{
			Revision: r.Revision, Type: r.Type, OccurredAt: md.OccurredAt, Actor: md.Actor, Event: e,
		})
	}
	if len(entries) == 0 || entries[len(entries)-1].Type == webhook.EventDeleted {
		return nil, webhook.ErrNotFound
	}
	return entries, nil
}
