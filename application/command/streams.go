// Package command holds hookd's use cases that change state: one file per command. Each loads an
// aggregate from its stream, calls its methods, and appends the events they record with the version
// it was loaded at, so a concurrent change is a conflict and never a lost update.
package command

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/hookd/hookd/application/eventcodec"
	"github.com/hookd/hookd/domain/eventlog"
)

// EventLog is the part of the event store the commands use.
type EventLog interface {
	Append(ctx context.Context, stream string, expected eventlog.ExpectedRevision, events []eventlog.EventData) (eventlog.AppendResult, error)
	ReadStream(ctx context.Context, stream string, from uint64, limit int) ([]eventlog.RecordedEvent, error)
}

// Caller says who asked for a command, for the events' metadata.
type Caller struct {
	// Actor is the license id (or "cli" and the like) the command is done for.
	Actor string
	// RequestID identifies the request; it is the correlation id, and the idempotency key from which
	// event ids are derived, so the same request appended twice is written once.
	RequestID string
	// TraceParent is the W3C traceparent of the caller's span (optional): the events' metadata keep
	// it, so that what follows from them joins the caller's trace.
	TraceParent string
}

// Result says where a command left the log, so a caller can wait for read models to catch up.
type Result struct {
	// Position is the log position of the last event written; eventlog.Start when nothing changed.
	Position eventlog.Position
	// Changed reports whether the command wrote any event.
	Changed bool
}

// streams loads and saves aggregates as event streams.
type streams struct {
	log   EventLog
	codec *eventcodec.Codec
	clock func() time.Time
}

func newStreams(log EventLog, codec *eventcodec.Codec, clock func() time.Time) (streams, error) {
	if log == nil || codec == nil || clock == nil {
		return streams{}, errors.New("command: an event log, a codec and a clock are required")
	}
	return streams{log: log, codec: codec, clock: clock}, nil
}

// load returns the stream's events, decoded with secrets opened, and the revision of the last one
// (-1 for a stream that does not exist).
func (s streams) load(ctx context.Context, stream string) ([]eventcodec.Event, int64, error) {
	return s.loadWith(ctx, stream, s.codec.Decode)
}

// loadSealed is load with secret fields left sealed.
func (s streams) loadSealed(ctx context.Context, stream string) ([]eventcodec.Event, int64, error) {
	return s.loadWith(ctx, stream, s.codec.DecodeSealed)
}

func (s streams) loadWith(ctx context.Context, stream string, decode func(eventlog.RecordedEvent) (eventcodec.Event, error)) ([]eventcodec.Event, int64, error) {
	records, err := s.log.ReadStream(ctx, stream, 0, 0)
	if err != nil {
		return nil, -1, err
	}
	events := make([]eventcodec.Event, len(records))
	for i, r := range records {
		if events[i], err = decode(r); err != nil {
			return nil, -1, err
		}
	}
	return events, int64(len(records)) - 1, nil
}

// save appends changes to stream, expecting it at version.
func (s streams) save(ctx context.Context, stream string, version int64, changes []eventcodec.Event, caller Caller) (Result, error) {
	if len(changes) == 0 {
		return Result{}, nil
	}
	key := idempotencyKey(caller.Actor, caller.RequestID)
	if caller.RequestID == "" {
		// Without a request id there is nothing to deduplicate on; a random key still makes the ids
		// unique, and the expected version still guards against concurrent writers. It is not recorded
		// as a correlation id: it would correlate nothing, and cost every attempt's records about 100
		// bytes of the log (docs/decisions.md, "Metadata that says something").
		key = idempotencyKey(caller.Actor, uuid.NewString())
	}
	md := eventlog.Metadata{
		CorrelationID: caller.RequestID,
		CausationID:   caller.RequestID,
		Actor:         caller.Actor,
		OccurredAt:    s.clock().UTC(),
		TraceParent:   caller.TraceParent,
	}
	data := make([]eventlog.EventData, len(changes))
	for i, e := range changes {
		var err error
		if data[i], err = s.codec.Encode(stream, eventID(stream, version, key, i), e, md); err != nil {
			return Result{}, err
		}
	}
	res, err := s.log.Append(ctx, stream, eventlog.After(version), data)
	if err != nil {
		return Result{}, fmt.Errorf("appending to %s: %w", stream, err)
	}
	return Result{Position: res.Position, Changed: true}, nil
}

// idempotencyKey is what the ids of a request's events are derived from. The actor is part of it:
// request ids are the callers' own, and two callers (or two nodes, each with its own replay check)
// may happen on the same one.
func idempotencyKey(actor, requestID string) string { return actor + "\x00" + requestID }

// eventIDSpace is the UUIDv5 namespace of hookd's event ids.
var eventIDSpace = uuid.MustParse("6f1d3b0e-5a2c-4e4f-9b57-2d1c8a7e9f30")

// eventID derives an event's id from where it goes and what caused it: the same request appended
// again at the same version gets the same ids, which the store treats as a repeat, while a different
// request gets different ids and so a conflict.
func eventID(stream string, version int64, key string, index int) eventlog.EventID {
	name := stream + "\x00" + strconv.FormatInt(version, 10) + "\x00" + key + "\x00" + strconv.Itoa(index)
	return eventlog.EventID(uuid.NewSHA1(eventIDSpace, []byte(name)))
}

// asEvents turns an aggregate's changes into the codec's event type.
func asEvents[E eventcodec.Event](changes []E) []eventcodec.Event {
	out := make([]eventcodec.Event, len(changes))
	for i, c := range changes {
		out[i] = c
	}
	return out
}

// ofType turns decoded events into an aggregate's event type, refusing any that do not belong.
func ofType[E any](stream string, events []eventcodec.Event) ([]E, error) {
	out := make([]E, len(events))
	for i, e := range events {
		typed, ok := e.(E)
		if !ok {
			return nil, fmt.Errorf("command: %s holds a %s, which does not belong in it", stream, e.EventName())
		}
		out[i] = typed
	}
	return out, nil
}
