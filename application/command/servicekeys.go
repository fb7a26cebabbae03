package command

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/hookd/hookd/application/eventcodec"
	"github.com/hookd/hookd/domain/eventlog"
	"github.com/hookd/hookd/domain/servicekey"
)

// KeyGenerator makes a new key pair for one slot.
type KeyGenerator func() (servicekey.Pair, error)

// ServiceKeys holds the commands on the service's key pairs.
type ServiceKeys struct {
	streams    streams
	generators map[string]KeyGenerator
	// slots are the generators' slots in name order, the order ResetKey looks in.
	slots []string
}

// NewServiceKeys returns the service key commands for the slots generators names: each makes a new
// pair of its slot's type. A slot without a generator is neither created nor reset.
func NewServiceKeys(log EventLog, codec *eventcodec.Codec, clock func() time.Time, generators map[string]KeyGenerator) (*ServiceKeys, error) {
	s, err := newStreams(log, codec, clock)
	if err != nil {
		return nil, err
	}
	if len(generators) == 0 {
		return nil, errors.New("command: a key generator is required")
	}
	for slot, g := range generators {
		if slot == "" || g == nil {
			return nil, fmt.Errorf("command: slot %q needs a name and a key generator", slot)
		}
	}
	return &ServiceKeys{streams: s, generators: maps.Clone(generators), slots: slices.Sorted(maps.Keys(generators))}, nil
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

func (h *ServiceKeys) generate(slot string) (servicekey.Pair, error) {
	g, ok := h.generators[slot]
	if !ok {
		return servicekey.Pair{}, fmt.Errorf("command: no key generator for slot %q", slot)
	}
	return g()
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
	pair, err := h.generate(slot)
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

// ResetKey replaces the pair whose id is keyID, in whichever slot holds it, with a new pair of that
// slot, and returns the slot's name and the new pair. The slots are read from the log, not from a
// read model, so a key another node has just issued is found too. It returns
// servicekey.ErrUnknownKey when no slot's present pair has that id.
func (h *ServiceKeys) ResetKey(ctx context.Context, keyID string, caller Caller) (string, servicekey.Pair, Result, error) {
	for _, slot := range h.slots {
		s, err := h.load(ctx, slot)
		if errors.Is(err, servicekey.ErrUnknownKey) {
			continue // not issued yet
		}
		if err != nil {
			return "", servicekey.Pair{}, Result{}, err
		}
		if s.Pair().KeyID != keyID {
			continue
		}
		pair, err := h.generate(slot)
		if err != nil {
			return "", servicekey.Pair{}, Result{}, err
		}
		if err := s.Reset(keyID, pair); err != nil {
			return "", servicekey.Pair{}, Result{}, err
		}
		res, err := h.streams.save(ctx, servicekey.Stream(slot), s.Version(), asEvents(s.Changes()), caller)
		if err != nil {
			return "", servicekey.Pair{}, Result{}, err
		}
		return slot, pair, res, nil
	}
	return "", servicekey.Pair{}, Result{}, servicekey.ErrUnknownKey
}
