package command

import (
	"context"
	"errors"
	"time"

	"github.com/hookd/hookd/application/eventcodec"
	"github.com/hookd/hookd/domain/eventlog"
	"github.com/hookd/hookd/domain/servicekey"
)

// ServiceKeys holds the commands on the service's key pairs.
type ServiceKeys struct {
	streams  streams
	generate func() (servicekey.Pair, error)
}

// NewServiceKeys returns the service key commands; generate makes a new key pair.
func NewServiceKeys(log EventLog, codec *eventcodec.Codec, clock func() time.Time, generate func() (servicekey.Pair, error)) (*ServiceKeys, error) {
	s, err := newStreams(log, codec, clock)
	if err != nil {
		return nil, err
	}
	if generate == nil {
		return nil, errors.New("command: a key generator is required")
	}
	return &ServiceKeys{streams: s, generate: generate}, nil
}

func (h *ServiceKeys) load(ctx context.Context, slot string) (*servicekey.Slot, error) {
	stream := servicekey.Stream(slot)
	events, version, err := h.streams.load(ctx, stream)
	if err != nil {
		return nil, err
	}
	history, err := ofType[servicekey.Event](stream, events)
	if err != nil {
		return nil, err
	}
	return servicekey.Rehydrate(history, version)
}

// Ensure creates the slot's first key pair unless it has one, and returns the present pair. Several
// nodes starting at once on one log agree on one pair: the first append wins and the others read it.
func (h *ServiceKeys) Ensure(ctx context.Context, slot string, caller Caller) (servicekey.Pair, Result, error) {
	s, err := h.load(ctx, slot)
	if err == nil {
		return s.Pair(), Result{}, nil
	}
	if !errors.Is(err, servicekey.ErrUnknownKey) {
		return servicekey.Pair{}, Result{}, err
	}
	pair, err := h.generate()
	if err != nil {
		return servicekey.Pair{}, Result{}, err
	}
	if s, err = servicekey.Issue(slot, pair); err != nil {
		return servicekey.Pair{}, Result{}, err
	}
	res, err := h.streams.save(ctx, servicekey.Stream(slot), s.Version(), asEvents(s.Changes()), caller)
	if errors.Is(err, eventlog.ErrWrongExpectedVersion) {
		if s, err = h.load(ctx, slot); err != nil {
			return servicekey.Pair{}, Result{}, err
		}
		return s.Pair(), Result{}, nil
	}
	return pair, res, err
}

// Reset replaces the pair whose id is keyID in slot with a new one and returns the new pair.
func (h *ServiceKeys) Reset(ctx context.Context, slot, keyID string, caller Caller) (servicekey.Pair, Result, error) {
	s, err := h.load(ctx, slot)
	if err != nil {
		return servicekey.Pair{}, Result{}, err
	}
	pair, err := h.generate()
	if err != nil {
		return servicekey.Pair{}, Result{}, err
	}
	if err := s.Reset(keyID, pair); err != nil {
		return servicekey.Pair{}, Result{}, err
	}
	res, err := h.streams.save(ctx, servicekey.Stream(slot), s.Version(), asEvents(s.Changes()), caller)
	return pair, res, err
}
