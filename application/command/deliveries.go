package command

import (
	"context"
	"errors"
	"time"

	"github.com/hookd/hookd/application/eventcodec"
	"github.com/hookd/hookd/domain/delivery"
	"github.com/hookd/hookd/domain/eventlog"
)

// Deliveries holds the commands of the delivery pipeline: scheduling a delivery, and loading and
// saving one around an attempt.
type Deliveries struct {
	streams streams
}

// NewDeliveries returns the delivery commands.
func NewDeliveries(log EventLog, codec *eventcodec.Codec, clock func() time.Time) (*Deliveries, error) {
	s, err := newStreams(log, codec, clock)
	if err != nil {
		return nil, err
	}
	return &Deliveries{streams: s}, nil
}

// Schedule appends a new delivery's DeliveryScheduled and returns the delivery, saved. Its stream
// is new: a delivery's id derives from its event and webhook, so when the stream exists the delivery
// was scheduled before (by an earlier run over the same published event) and Schedule appends
// nothing, with Changed false and no delivery.
func (h *Deliveries) Schedule(ctx context.Context, s delivery.Scheduling, caller Caller) (*delivery.Delivery, Result, error) {
	d, err := delivery.Schedule(s)
	if err != nil {
		return nil, Result{}, err
	}
	res, err := h.streams.save(ctx, delivery.Stream(d.ID()), d.Version(), asEvents(d.Changes()), caller)
	if errors.Is(err, eventlog.ErrWrongExpectedVersion) {
		return nil, Result{}, nil
	}
	if err != nil {
		return nil, Result{}, err
	}
	d.Saved()
	return d, res, nil
}

// Load reads a delivery from its stream, with the target's credentials opened. It returns
// delivery.ErrNotFound when there is no such delivery, and an error matching
// eventcodec.ErrUnopenable when a credential does not open (LoadSealed reads it still).
func (h *Deliveries) Load(ctx context.Context, id string) (*delivery.Delivery, error) {
	stream := delivery.Stream(id)
	events, version, err := h.streams.load(ctx, stream)
	if err != nil {
		return nil, err
	}
	return rehydrate(stream, events, version)
}

// LoadSealed reads a delivery from its stream with the target's credentials left sealed: enough to
// park it, not to send it.
func (h *Deliveries) LoadSealed(ctx context.Context, id string) (*delivery.Delivery, error) {
	stream := delivery.Stream(id)
	events, version, err := h.streams.loadSealed(ctx, stream)
	if err != nil {
		return nil, err
	}
	return rehydrate(stream, events, version)
}

func rehydrate(stream string, events []eventcodec.Event, version int64) (*delivery.Delivery, error) {
	history, err := ofType[delivery.Event](stream, events)
	if err != nil {
		return nil, err
	}
	return delivery.Rehydrate(history, version)
}

// Save appends what was recorded on d since it was loaded, expecting its stream where it was
// loaded, and marks d saved: eventlog.ErrWrongExpectedVersion says another writer recorded first.
func (h *Deliveries) Save(ctx context.Context, d *delivery.Delivery, caller Caller) (Result, error) {
	res, err := h.streams.save(ctx, delivery.Stream(d.ID()), d.Version(), asEvents(d.Changes()), caller)
	if err == nil {
		d.Saved()
	}
	return res, err
}
