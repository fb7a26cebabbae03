package kurrentdb

import (
	"context"
	"fmt"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/hookd/hookd/application/eventstore"
	"github.com/hookd/hookd/domain/eventlog"
)

var _ eventstore.Pruner = (*Store)(nil)

// DeleteStreams implements eventstore.Pruner with KurrentDB's soft delete at the expected revision:
// the stream reads as not found at once, and the node's scavenge reclaims its space (schedule
// scavenges: docs/operations.md). Until then $all, and so a rebuild of the read models, still holds
// its events. The client reports a delete's wrong expected revision only as an unknown error, so a
// failed delete reads the stream again to tell a stream that moved on from a failure. The pace
// changes nothing: a soft delete is one small write of the node's, which it serves beside appends.
func (s *Store) DeleteStreams(ctx context.Context, streams []eventstore.StreamAt, _ eventstore.Pace) ([]eventstore.StreamAt, error) {
	var kept []eventstore.StreamAt
	for _, at := range streams {
		last, exists, err := s.lastRevision(ctx, at.Stream)
		if err != nil {
			return kept, err
		}
		if !exists {
			continue
		}
		if last != at.Revision {
			kept = append(kept, at)
			continue
		}
		err = s.withClient(ctx, func(ctx context.Context, c *esdb.Client) error {
			_, err := c.DeleteStream(ctx, s.full(at.Stream), esdb.DeleteStreamOptions{ExpectedRevision: esdb.Revision(at.Revision)})
			return err
		})
		if err == nil {
			continue
		}
		if last, exists, again := s.lastRevision(ctx, at.Stream); again == nil && exists && last != at.Revision {
			kept = append(kept, at)
			continue
		}
		return kept, mapError(ctx, "delete "+at.Stream, err, nil)
	}
	return kept, nil
}

// lastRevision returns the revision of stream's last event, and false when it does not exist.
func (s *Store) lastRevision(ctx context.Context, stream string) (uint64, bool, error) {
	last, err := s.ReadStreamBackwards(ctx, stream, eventlog.End, 1)
	if err != nil {
		return 0, false, fmt.Errorf("kurrentdb: delete %s: %w", stream, err)
	}
	if len(last) == 0 {
		return 0, false, nil
	}
	return last[0].Revision, true, nil
}
