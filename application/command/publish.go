package command

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/hookd/hookd/application/eventcodec"
	"github.com/hookd/hookd/domain/eventlog"
	"github.com/hookd/hookd/domain/publication"
	"github.com/hookd/hookd/domain/webhook"
)

// MaxBatch bounds the events of one PublishBatch.
const MaxBatch = 500

// batchConcurrency bounds the appends of one batch in flight at once: enough for the store to
// commit them in groups, few enough that one batch cannot crowd out other requests.
const batchConcurrency = 32

// publishedIDSpace is the UUIDv5 namespace of the ids of events published with an idempotency key.
// It is not eventIDSpace: these are ids the publisher sees, not ids of records in the log.
var publishedIDSpace = uuid.MustParse("b7c4e2a1-3f58-4d6b-8e0a-9c1f5d7e2b43")

// Events holds the commands that publish events to a tenant's community.
type Events struct {
	streams streams
}

// NewEvents returns the publish commands.
func NewEvents(log EventLog, codec *eventcodec.Codec, clock func() time.Time) (*Events, error) {
	s, err := newStreams(log, codec, clock)
	if err != nil {
		return nil, err
	}
	return &Events{streams: s}, nil
}

// PublishEvent is one event to publish.
type PublishEvent struct {
	TenantID    string
	CommunityID string
	Name        string
	// Payload is a JSON object of at most publication.MaxPayloadBytes, as the publisher sent it.
	Payload json.RawMessage
	// IdempotencyKey is optional. With one, the event id is derived from the tenant, the community
	// and the key, so publishing again with the same key publishes nothing and answers the same id.
	IdempotencyKey string
}

// Publish appends the event as publication.Published, alone in its stream, and returns its id once
// it is durable. The publisher recorded is caller.Actor.
//
// With an idempotency key the id is the same for the same tenant, community and key; when that
// event exists already, Publish appends nothing and returns its id with Changed false. The first
// write wins: a repeat whose name or payload differs still answers the first event's id and does
// not change it. Without a key the id is a random UUID.
//
// It returns publication.ErrPayloadTooLarge for a payload over publication.MaxPayloadBytes and a
// *webhook.ValidationError naming every other broken rule.
func (h *Events) Publish(ctx context.Context, e PublishEvent, caller Caller) (string, Result, error) {
	p, err := h.validate(e, caller)
	if err != nil {
		return "", Result{}, err
	}
	return h.append(ctx, p, caller)
}

// PublishBatch publishes up to MaxBatch events and returns their ids in order. Every event is
// validated before any is appended: if one is invalid nothing is published, and the error names it
// by index (events[3].payload ...); a payload too large still matches publication.ErrPayloadTooLarge.
//
// Each event is its own stream, appended concurrently; the Result's Position is the furthest one
// written. The batch is not atomic across events: when an append fails, others may have been
// published. Retrying the batch with idempotency keys publishes each event once.
func (h *Events) PublishBatch(ctx context.Context, events []PublishEvent, caller Caller) ([]string, Result, error) {
	if len(events) == 0 || len(events) > MaxBatch {
		return nil, Result{}, &webhook.ValidationError{Problems: []webhook.Problem{
			{Field: "events", Message: fmt.Sprintf("must have 1 to %d entries", MaxBatch)},
		}}
	}
	valid := make([]publication.Published, len(events))
	for i, e := range events {
		p, err := h.validate(e, caller)
		if err != nil {
			return nil, Result{}, indexed(i, err)
		}
		valid[i] = p
	}

	ids := make([]string, len(valid))
	results := make([]Result, len(valid))
	errs := make([]error, len(valid))
	sem := make(chan struct{}, batchConcurrency)
	var wg sync.WaitGroup
	for i, p := range valid {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			ids[i], results[i], errs[i] = h.append(ctx, p, caller)
		})
	}
	wg.Wait()
	var res Result
	for i, r := range results {
		if errs[i] != nil {
			return nil, Result{}, fmt.Errorf("events[%d]: %w", i, errs[i])
		}
		if r.Changed {
			res.Changed = true
			if res.Position.Before(r.Position) {
				res.Position = r.Position
			}
		}
	}
	return ids, res, nil
}

// validate gives the event its id and checks it. Ids are UUIDv7, ordered by time, so that the log's
// index of stream names, and any index a reader keeps by event id, grows at its end rather than at
// random places; an idempotency key gives a UUIDv5 instead, the same for every repeat.
func (h *Events) validate(e PublishEvent, caller Caller) (publication.Published, error) {
	id := uuid.Must(uuid.NewV7()).String()
	if e.IdempotencyKey != "" {
		name := e.TenantID + "\x00" + e.CommunityID + "\x00" + e.IdempotencyKey
		id = uuid.NewSHA1(publishedIDSpace, []byte(name)).String()
	}
	return publication.Publish(publication.Published{
		EventID: id, TenantID: e.TenantID, CommunityID: e.CommunityID, Name: e.Name,
		Payload: e.Payload, IdempotencyKey: e.IdempotencyKey, Publisher: caller.Actor,
	})
}

// append writes a validated event to its own new stream. The stream exists already only when the
// same idempotency key was used before: then the first event stands.
//
// The log record's id comes from the caller's request (streams.save), not from the event id: a
// retry of this very append is a no-op the store recognizes, while another request with the same
// key conflicts, which is how a repeat is told from a first publication.
func (h *Events) append(ctx context.Context, p publication.Published, caller Caller) (string, Result, error) {
	res, err := h.streams.save(ctx, publication.Stream(p.EventID), -1, []eventcodec.Event{p}, caller)
	if errors.Is(err, eventlog.ErrWrongExpectedVersion) {
		return p.EventID, Result{}, nil
	}
	if err != nil {
		return "", Result{}, err
	}
	return p.EventID, res, nil
}

// indexed names the batch entry an error is about: each problem's field gets the prefix
// events[i]., and a payload too large still matches publication.ErrPayloadTooLarge.
func indexed(i int, err error) error {
	prefix := fmt.Sprintf("events[%d].", i)
	var v *webhook.ValidationError
	if errors.As(err, &v) {
		problems := make([]webhook.Problem, len(v.Problems))
		for j, p := range v.Problems {
			problems[j] = webhook.Problem{Field: prefix + p.Field, Message: p.Message}
		}
		return &webhook.ValidationError{Problems: problems}
	}
	if errors.Is(err, publication.ErrPayloadTooLarge) {
		return fmt.Errorf("%spayload: %w", prefix, err)
	}
	return fmt.Errorf("events[%d]: %w", i, err)
}
