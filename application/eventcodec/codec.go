package eventcodec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"

	"github.com/hookd/hookd/domain/eventlog"
	"github.com/hookd/hookd/domain/publication"
	"github.com/hookd/hookd/internal/jsonwalk"
)

// Sealer encrypts secrets bound to the record they belong to (associated data), so a ciphertext moved
// to another record does not open.
type Sealer interface {
	Seal(plaintext, associatedData string) (string, error)
	Open(sealed, associatedData string) (string, error)
}

// secretBearer is implemented by events with fields that must never reach the log in plain text.
type secretBearer interface{ SecretFields() []*string }

// ErrUnknownType says a record's type is not on the registry: it was written by a newer hookd or by
// another application.
var ErrUnknownType = errors.New("eventcodec: unknown event type")

// ErrUnopenable is matched by Decode's error when a secret field does not open: sealed under a key
// this process does not hold, or damaged. The record itself decodes (DecodeSealed reads it).
var ErrUnopenable = errors.New("eventcodec: a secret does not open")

// Codec encodes and decodes events. It is safe for concurrent use.
type Codec struct {
	registry *Registry
	sealer   Sealer
}

// New returns a codec over the registry that seals secrets with sealer.
func New(registry *Registry, sealer Sealer) (*Codec, error) {
	if registry == nil || sealer == nil {
		return nil, errors.New("eventcodec: a registry and a sealer are required")
	}
	return &Codec{registry: registry, sealer: sealer}, nil
}

// Encode turns an event of stream into a record with the given id and metadata. Secret fields are
// sealed with the stream's name as associated data; e itself is not changed.
func (c *Codec) Encode(stream string, id eventlog.EventID, e Event, md eventlog.Metadata) (eventlog.EventData, error) {
	name := e.EventName()
	if t, ok := c.registry.typeOf(name); !ok || t != reflect.TypeOf(e) {
		return eventlog.EventData{}, fmt.Errorf("%w: %s is not registered as %T", ErrUnknownType, name, e)
	}
	// A copy behind a pointer: SecretFields points into the copy, never into the caller's event.
	copied := reflect.New(reflect.TypeOf(e))
	copied.Elem().Set(reflect.ValueOf(e))
	if s, ok := copied.Interface().(secretBearer); ok {
		for _, field := range s.SecretFields() {
			sealed, err := c.sealer.Seal(*field, stream)
			if err != nil {
				return eventlog.EventData{}, fmt.Errorf("eventcodec: sealing %s: %w", name, err)
			}
			*field = sealed
		}
	}
	var data []byte
	var err error
	if p, ok := e.(publication.Published); ok {
		data, err = encodePublished(p)
	} else {
		data, err = json.Marshal(copied.Interface())
	}
	if err != nil {
		return eventlog.EventData{}, fmt.Errorf("eventcodec: encoding %s: %w", name, err)
	}
	if md.CausationID == md.CorrelationID {
		// hookd's commands are caused by the request they correlate with; the copy is left out and
		// DecodeMetadata puts it back.
		md.CausationID = ""
	}
	meta, err := json.Marshal(md)
	if err != nil {
		return eventlog.EventData{}, fmt.Errorf("eventcodec: encoding metadata of %s: %w", name, err)
	}
	return eventlog.EventData{ID: id, Type: name, Data: data, Metadata: meta}, nil
}

// Decode turns a record back into its event, with secrets opened.
func (c *Codec) Decode(r eventlog.RecordedEvent) (Event, error) { return c.decode(r, true) }

// DecodeSealed turns a record back into its event and leaves secret fields sealed: for read models,
// which must not hold secrets in plain text either. OpenSecret opens them when they are needed.
func (c *Codec) DecodeSealed(r eventlog.RecordedEvent) (Event, error) { return c.decode(r, false) }

// OpenSecret opens a secret field that DecodeSealed left sealed; stream is the record's stream.
func (c *Codec) OpenSecret(sealed, stream string) (string, error) {
	return c.sealer.Open(sealed, stream)
}

// DecodeMetadata reads a record's metadata. A record without a causation id was caused by what it
// correlates with (Encode leaves the copy out), so the causation id is the correlation id.
func (c *Codec) DecodeMetadata(r eventlog.RecordedEvent) (eventlog.Metadata, error) {
	var md eventlog.Metadata
	if len(r.Metadata) == 0 {
		return md, nil
	}
	md, ok := decodeMetadata(r.Metadata)
	if !ok {
		md = eventlog.Metadata{}
		if err := json.Unmarshal(r.Metadata, &md); err != nil {
			return md, fmt.Errorf("eventcodec: metadata of %s@%d: %w", r.Stream, r.Revision, err)
		}
	}
	if md.CausationID == "" {
		md.CausationID = md.CorrelationID
	}
	return md, nil
}

func (c *Codec) decode(r eventlog.RecordedEvent, open bool) (Event, error) {
	t, ok := c.registry.typeOf(r.Type)
	if !ok {
		return nil, fmt.Errorf("%w: %q in %s@%d", ErrUnknownType, r.Type, r.Stream, r.Revision)
	}
	if flat, ok := flatDecoders[t]; ok {
		if e, ok := flat.decode(r.Data); ok {
			return e, nil // no secrets to open
		}
	}
	v := reflect.New(t)
	if err := json.Unmarshal(r.Data, v.Interface()); err != nil {
		return nil, fmt.Errorf("eventcodec: decoding %s in %s@%d: %w", r.Type, r.Stream, r.Revision, err)
	}
	if s, ok := v.Interface().(secretBearer); ok && open {
		for _, field := range s.SecretFields() {
			plain, err := c.sealer.Open(*field, r.Stream)
			if err != nil {
				return nil, fmt.Errorf("%w: %s in %s@%d: %w", ErrUnopenable, r.Type, r.Stream, r.Revision, err)
			}
			*field = plain
		}
	}
	return v.Elem().Interface().(Event), nil
}

// payloadKey is how Marshal writes Published.Payload's key; a payload of 0 (zero) stands in for
// the payload, so Marshal writes payloadMark.
const payloadKey = `"payload":`

var zero, payloadMark = json.RawMessage("0"), []byte(payloadKey + "0")

// encodePublished is json.Marshal(p), byte for byte, without Marshal's pass over the payload (it
// validates, compacts and escapes every json.RawMessage) when the payload is compact already, as
// publication.Publish leaves it. The event is marshalled with 0 for its payload, which is then put
// in its place: the only `"payload":0` in the output is the key's, since a string's quotes are
// escaped inside it (\") and no other field is named payload. Every other field is marshalled as
// ever, fields added later included.
func encodePublished(p publication.Published) ([]byte, error) {
	payload := p.Payload
	if !jsonwalk.IsCompact(payload) {
		return json.Marshal(p)
	}
	p.Payload = zero
	marked, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	at := bytes.Index(marked, payloadMark)
	if at < 0 {
		p.Payload = payload
		return json.Marshal(p) // the field was renamed: then this is only slower
	}
	at += len(payloadKey)
	data := make([]byte, 0, len(marked)-1+len(payload))
	data = append(data, marked[:at]...)
	data = append(data, payload...)
	return append(data, marked[at+1:]...), nil
}
