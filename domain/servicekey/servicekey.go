// Package servicekey is the service's own key pairs: the one with which callers and the service agree
// on the keys that encrypt license keys and request ids (1Kosmos's ECDSA authentication), and the one
// that signs deliveries. Each pair lives in a slot; resetting the slot replaces the pair, and callers
// fetch the new public key.
package servicekey

import (
	"errors"
	"fmt"
)

// The names of the service key events in the log.
const (
	EventIssued = "ServiceKeyIssued"
	EventReset  = "ServiceKeyReset"
)

// StreamPrefix starts the name of every key slot's stream.
const StreamPrefix = "servicekey-"

// The slots hookd keeps a key pair in.
const (
	// PrimarySlot is the slot of the key pair that authenticates API callers.
	PrimarySlot = "primary"
	// SigningSlot is the slot of the key pair that signs deliveries (Standard Webhooks v1a), whose
	// public half receivers verify with.
	SigningSlot = "signing"
)

// Stream names the stream that holds a slot's events.
func Stream(slot string) string { return StreamPrefix + slot }

// Pair is a key pair as the log keeps it: both halves in standard base64, in the encoding of its Type
// (secp256k1 as 1Kosmos encodes it). PrivateKey is a secret and is encrypted before it reaches the log.
type Pair struct {
	KeyID      string `json:"keyId"`
	Type       string `json:"type"`
	PublicKey  string `json:"publicKey"`
	PrivateKey string `json:"privateKey"`
}

// Event is a fact about a key slot.
type Event interface{ EventName() string }

// Issued records the slot's first key pair.
type Issued struct {
	Slot string `json:"slot"`
	Pair Pair   `json:"pair"`
}

// Reset records that a new pair replaced the slot's pair.
type Reset struct {
	Slot          string `json:"slot"`
	PreviousKeyID string `json:"previousKeyId"`
	Pair          Pair   `json:"pair"`
}

// EventName implements Event.
func (Issued) EventName() string { return EventIssued }

// EventName implements Event.
func (Reset) EventName() string { return EventReset }

// SecretFields lists the fields encrypted before the event reaches the log.
func (e *Issued) SecretFields() []*string { return []*string{&e.Pair.PrivateKey} }

// SecretFields lists the fields encrypted before the event reaches the log.
func (e *Reset) SecretFields() []*string { return []*string{&e.Pair.PrivateKey} }

// ErrUnknownKey says no slot holds a key with the id given.
var ErrUnknownKey = errors.New("servicekey: unknown key id")

// Slot holds the present key pair of one slot.
type Slot struct {
	name    string
	pair    Pair
	version int64
	changes []Event
}

func (p Pair) validate() error {
	if p.KeyID == "" || p.Type == "" || p.PublicKey == "" || p.PrivateKey == "" {
		return errors.New("servicekey: a pair needs a key id, a type and both keys")
	}
	return nil
}

// Issue records a slot's first pair.
func Issue(slot string, pair Pair) (*Slot, error) {
	if slot == "" {
		return nil, errors.New("servicekey: slot name is required")
	}
	if err := pair.validate(); err != nil {
		return nil, err
	}
	s := &Slot{version: -1}
	s.record(Issued{Slot: slot, Pair: pair})
	return s, nil
}

// Rehydrate rebuilds a slot from its events; version is the revision of the last one. It is not a
// constructor: the events were validated when they were recorded.
func Rehydrate(history []Event, version int64) (*Slot, error) {
	if len(history) == 0 {
		return nil, ErrUnknownKey
	}
	if _, ok := history[0].(Issued); !ok {
		return nil, fmt.Errorf("servicekey: history starts with %s, not %s", history[0].EventName(), EventIssued)
	}
	s := &Slot{}
	for _, e := range history {
		s.apply(e)
	}
	s.version = version
	return s, nil
}

// Reset replaces the pair whose id is keyID with next.
func (s *Slot) Reset(keyID string, next Pair) error {
	if keyID != s.pair.KeyID {
		return ErrUnknownKey
	}
	if err := next.validate(); err != nil {
		return err
	}
	s.record(Reset{Slot: s.name, PreviousKeyID: keyID, Pair: next})
	return nil
}

func (s *Slot) record(e Event) {
	s.apply(e)
	s.changes = append(s.changes, e)
}

func (s *Slot) apply(e Event) {
	switch e := e.(type) {
	case Issued:
		s.name, s.pair = e.Slot, e.Pair
	case Reset:
		s.pair = e.Pair
	}
}

// Name returns the slot's name.
func (s *Slot) Name() string { return s.name }

// Pair returns the present key pair.
func (s *Slot) Pair() Pair { return s.pair }

// Version returns the revision of the last event loaded, -1 for a new slot.
func (s *Slot) Version() int64 { return s.version }

// Changes returns the events recorded since the slot was loaded or issued.
func (s *Slot) Changes() []Event { return s.changes }
