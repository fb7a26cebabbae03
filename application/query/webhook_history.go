// Package query holds the use cases that answer from the log itself rather than from a read model.
// Queries that a read model answers are served from projections directly.
package query

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hookd/hookd/application/eventcodec"
	"github.com/hookd/hookd/domain/eventlog"
	"github.com/hookd/hookd/domain/webhook"
)

// StreamReader reads one stream of the log, both ways.
type StreamReader interface {
	ReadStream(ctx context.Context, stream string, from uint64, limit int) ([]eventlog.RecordedEvent, error)
	ReadStreamBackwards(ctx context.Context, stream string, from uint64, limit int) ([]eventlog.RecordedEvent, error)
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

// HistoryPage is one page of a webhook's lifecycle.
type HistoryPage struct {
	// Total counts the webhook's lifecycle events, on every page.
	Total   int
	Entries []HistoryEntry
}

// History returns one page of the lifecycle of the webhook, oldest first: size events from the
// index-th page on. It reads only the first event (to check the tenant and community), the last (to
// count and to see a deletion) and the page's own, however long the lifecycle. A webhook not in the
// tenant and community given, or deleted, is webhook.ErrNotFound (a deleted webhook is not found by
// any endpoint).
func (q *WebhookHistory) History(ctx context.Context, tenantID, communityID, id string, index, size int) (HistoryPage, error) {
	if index < 0 || size < 1 {
		return HistoryPage{}, fmt.Errorf("query: page index %d and size %d: need index >= 0 and size >= 1", index, size)
	}
	stream := webhook.Stream(id)
	first, err := q.log.ReadStream(ctx, stream, 0, 1)
	if err != nil {
		return HistoryPage{}, err
	}
	if len(first) == 0 {
		return HistoryPage{}, webhook.ErrNotFound
	}
	if e, err := q.codec.DecodeSealed(first[0]); err != nil {
		return HistoryPage{}, err
	} else if created, ok := e.(webhook.Created); !ok || created.TenantID != tenantID || created.CommunityID != communityID {
		return HistoryPage{}, webhook.ErrNotFound
	}
	last, err := q.log.ReadStreamBackwards(ctx, stream, eventlog.End, 1)
	if err != nil {
		return HistoryPage{}, err
	}
	if len(last) == 0 || last[0].Type == webhook.EventDeleted {
		return HistoryPage{}, webhook.ErrNotFound
	}
	page := HistoryPage{Total: int(last[0].Revision) + 1, Entries: []HistoryEntry{}}
	from := uint64(index) * uint64(size)
	if from >= uint64(page.Total) {
		return page, nil
	}
	records, err := q.log.ReadStream(ctx, stream, from, size)
	if err != nil {
		return HistoryPage{}, err
	}
	for _, r := range records {
		e, err := q.codec.DecodeSealed(r)
		if err != nil {
			return HistoryPage{}, err
		}
		md, err := q.codec.DecodeMetadata(r)
		if err != nil {
			return HistoryPage{}, err
		}
		page.Entries = append(page.Entries, HistoryEntry{
			Revision: r.Revision, Type: r.Type, OccurredAt: md.OccurredAt, Actor: md.Actor, Event: e,
		})
	}
	return page, nil
}
