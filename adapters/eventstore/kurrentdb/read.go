package kurrentdb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"github.com/hookd/hookd/domain/eventlog"
)

// allPage is how many events of $all one read asks for while looking for hookd's events.
const allPage = 512

// Append implements eventstore.Store.Append. It rejects an empty stream name, an empty list of
// events, an event without a type or id (the client would give it a random id, and a retry would
// write it twice) and a stream outside hookd's log, which subscriptions would never see.
func (s *Store) Append(ctx context.Context, stream string, expected eventlog.ExpectedRevision, events []eventlog.EventData) (eventlog.AppendResult, error) {
	if err := s.validateAppend(stream, events); err != nil {
		return eventlog.AppendResult{}, err
	}
	data := make([]esdb.EventData, len(events))
	for i, ev := range events {
		ct := esdb.ContentTypeBinary
		if json.Valid(ev.Data) {
			ct = esdb.ContentTypeJson
		}
		data[i] = esdb.EventData{EventID: uuid.UUID(ev.ID), EventType: ev.Type, ContentType: ct, Data: ev.Data, Metadata: ev.Metadata}
	}
	opts := esdb.AppendToStreamOptions{ExpectedRevision: esdb.NoStream{}, Deadline: &s.opts.Timeout}
	if rev, ok := expected.Revision(); ok {
		opts.ExpectedRevision = esdb.Revision(rev)
	}
	var res *esdb.WriteResult
	err := s.withClient(ctx, func(ctx context.Context, c *esdb.Client) (err error) {
		res, err = c.AppendToStream(ctx, s.full(stream), opts, data...)
		return err
	})
	if err != nil {
		return eventlog.AppendResult{}, mapError(ctx, "append to "+stream, err, &conflict{stream: stream, expected: expected})
	}
	out := eventlog.AppendResult{Revision: res.NextExpectedVersion, Position: eventlog.Position{Commit: res.CommitPosition, Prepare: res.PreparePosition}}
	if out.Position == eventlog.Start {
		// A node may answer an idempotent repeat without a position; the event itself has it.
		evs, err := s.ReadStream(ctx, stream, out.Revision, 1)
		if err != nil {
			return eventlog.AppendResult{}, err
		}
		if len(evs) == 1 {
			out.Position = evs[0].Position
		}
	}
	return out, nil
}

func (s *Store) validateAppend(stream string, events []eventlog.EventData) error {
	switch {
	case stream == "":
		return errors.New("kurrentdb: append: empty stream name")
	case len(events) == 0:
		return fmt.Errorf("kurrentdb: append to %s: no events", stream)
	case !s.ours(s.full(stream)):
		return fmt.Errorf("kurrentdb: append to %s: the stream is outside hookd's log (prefixes %q)", stream, s.prefixes)
	}
	for i, ev := range events {
		if ev.Type == "" {
			return fmt.Errorf("kurrentdb: append to %s: event %d has no type", stream, i)
		}
		if ev.ID == (eventlog.EventID{}) {
			return fmt.Errorf("kurrentdb: append to %s: event %d has no id", stream, i)
		}
	}
	return nil
}

// ReadStream implements eventstore.Store.ReadStream.
func (s *Store) ReadStream(ctx context.Context, stream string, from uint64, limit int) ([]eventlog.RecordedEvent, error) {
	return s.readStream(ctx, stream, esdb.ReadStreamOptions{Direction: esdb.Forwards, From: esdb.Revision(from)}, limit)
}

// ReadStreamBackwards implements eventstore.Store.ReadStreamBackwards.
func (s *Store) ReadStreamBackwards(ctx context.Context, stream string, from uint64, limit int) ([]eventlog.RecordedEvent, error) {
	opts := esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.Revision(from)}
	if from == eventlog.End {
		opts.From = esdb.End{}
	}
	return s.readStream(ctx, stream, opts, limit)
}

func (s *Store) readStream(ctx context.Context, stream string, opts esdb.ReadStreamOptions, limit int) ([]eventlog.RecordedEvent, error) {
	opts.Deadline = &s.opts.Timeout
	var out []eventlog.RecordedEvent
	err := s.withClient(ctx, func(ctx context.Context, c *esdb.Client) error {
		out = out[:0]
		rs, err := c.ReadStream(ctx, s.full(stream), opts, count(limit))
		if err != nil {
			return err
		}
		defer rs.Close()
		return drain(rs, func(ev *esdb.RecordedEvent) bool {
			out = append(out, s.recorded(ev))
			return true
		})
	})
	switch err = mapError(ctx, "read "+stream, err, nil); {
	case errors.Is(err, errStreamNotFound):
		return nil, nil
	case err != nil:
		// out may still be filled by a call the caller no longer waits for.
		return nil, err
	}
	return out, nil
}

// ReadAll implements eventstore.Store.ReadAll. The v4 client cannot ask the node to filter a read
// of $all, so it reads pages of $all and keeps hookd's events; other applications' events cost
// bandwidth, not correctness.
func (s *Store) ReadAll(ctx context.Context, after eventlog.Position, limit int) ([]eventlog.RecordedEvent, error) {
	var (
		out  []eventlog.RecordedEvent
		from esdb.AllPosition = esdb.Start{}
		last                  = after
	)
	if after != eventlog.Start {
		from = esdb.Position{Commit: after.Commit, Prepare: after.Prepare}
	}
	for {
		n, lastOfPage, kept := 0, last, len(out)
		err := s.withClient(ctx, func(ctx context.Context, c *esdb.Client) error {
			// A retried attempt starts the page again.
			n, lastOfPage, out = 0, last, out[:kept]
			rs, err := c.ReadAll(ctx, esdb.ReadAllOptions{Direction: esdb.Forwards, From: from, Deadline: &s.opts.Timeout}, allPage)
			if err != nil {
				return err
			}
			defer rs.Close()
			return drain(rs, func(ev *esdb.RecordedEvent) bool {
				n++
				pos := position(ev)
				// Reads start at their position inclusive; the port's start is exclusive.
				if !lastOfPage.Before(pos) {
					return true
				}
				lastOfPage = pos
				if s.ours(ev.StreamID) {
					out = append(out, s.recorded(ev))
				}
				return limit <= 0 || len(out) < limit
			})
		})
		if err != nil {
			return nil, mapError(ctx, "read $all", err, nil)
		}
		if n < allPage || (limit > 0 && len(out) >= limit) {
			return out, nil
		}
		last = lastOfPage
		from = esdb.Position{Commit: last.Commit, Prepare: last.Prepare}
	}
}

// LastPosition implements eventstore.Store.LastPosition: the position of hookd's last event, read
// backwards from the end of $all.
func (s *Store) LastPosition(ctx context.Context) (eventlog.Position, error) {
	var from esdb.AllPosition = esdb.End{}
	for {
		var (
			n     int
			found *eventlog.Position
			last  eventlog.Position
		)
		err := s.withClient(ctx, func(ctx context.Context, c *esdb.Client) error {
			n, found = 0, nil
			rs, err := c.ReadAll(ctx, esdb.ReadAllOptions{Direction: esdb.Backwards, From: from, Deadline: &s.opts.Timeout}, allPage)
			if err != nil {
				return err
			}
			defer rs.Close()
			return drain(rs, func(ev *esdb.RecordedEvent) bool {
				n++
				last = position(ev)
				if s.ours(ev.StreamID) {
					found = &last
					return false
				}
				return true
			})
		})
		switch {
		case err != nil:
			return eventlog.Start, mapError(ctx, "read $all backwards", err, nil)
		case found != nil:
			return *found, nil
		case n < allPage:
			return eventlog.Start, nil
		}
		// Backwards reads start at their position too; the next page repeats this one's last
		// event, which is not hookd's.
		from = esdb.Position{Commit: last.Commit, Prepare: last.Prepare}
	}
}

// drain receives events until the read ends or keep says stop.
func drain(rs *esdb.ReadStream, keep func(*esdb.RecordedEvent) bool) error {
	for {
		ev, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if ev.Event == nil || !keep(ev.Event) {
			return nil
		}
	}
}

// count turns the port's limit (<= 0: all) into the client's.
func count(limit int) uint64 {
	if limit <= 0 {
		return math.MaxInt64
	}
	return uint64(limit)
}

func position(ev *esdb.RecordedEvent) eventlog.Position {
	return eventlog.Position{Commit: ev.Position.Commit, Prepare: ev.Position.Prepare}
}

// recorded maps a recorded event of hookd's log to the port's type.
func (s *Store) recorded(ev *esdb.RecordedEvent) eventlog.RecordedEvent {
	return eventlog.RecordedEvent{
		Stream:   ev.StreamID[len(s.opts.StreamPrefix):],
		Revision: ev.EventNumber,
		Position: position(ev),
		ID:       eventlog.EventID(ev.EventID),
		Type:     ev.EventType,
		Data:     ev.Data,
		Metadata: ev.UserMetadata,
		Created:  ev.CreatedDate,
	}
}
