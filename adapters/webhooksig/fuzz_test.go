package webhooksig_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"testing"

	"github.com/hookd/hookd/adapters/webhooksig"
	"github.com/hookd/hookd/domain/publication"
	"github.com/hookd/hookd/domain/webhook"
)

// The builder's own bound must leave room for everything publish accepts.
var _ [publication.MaxDeliveredDepth - publication.MaxPayloadDepth]struct{}

// FuzzPublishedPayloadBody checks the promise between publish and delivery: every payload publish's
// rules accept (publication.ValidateContent) is built (from the form Publish stores) into a body that
// JavaScript's JSON.parse reads back as the value published, written in JavaScript's order and
// re-built unchanged; every payload refused is refused with an error, never a panic.
//
// The seed corpus is testdata/fuzz/FuzzPublishedPayloadBody and runs with every `go test`;
// `make test` also fuzzes it for a bounded time.
func FuzzPublishedPayloadBody(f *testing.F) {
	f.Fuzz(func(t *testing.T, payload []byte) {
		// The builder is a pure function of any bytes: it never panics, whatever publish says.
		_, _ = webhooksig.Body("E", payload)

		stored, err := publication.ValidateContent("E", payload)
		if err != nil {
			var v *webhook.ValidationError
			if !errors.As(err, &v) && !errors.Is(err, publication.ErrPayloadTooLarge) {
				t.Fatalf("refused with %T %v, want a validation error or ErrPayloadTooLarge", err, err)
			}
			return
		}
		want, err := parseJS(payload, false)
		if err != nil {
			t.Fatalf("accepted, but not JSON: %v", err)
		}
		body, err := webhooksig.Body("E", stored)
		if err != nil {
			t.Fatalf("accepted, stored as %s, but the body cannot be built: %v", stored, err)
		}
		const prefix = `{"version":1,"event":"E","payload":`
		if !bytes.HasPrefix(body, []byte(prefix)) || body[len(body)-1] != '}' {
			t.Fatalf("body %s is not the envelope", body)
		}
		built := body[len(prefix) : len(body)-1]
		if len(built) > publication.MaxPayloadBytes {
			t.Fatalf("payload of %d bytes as delivered, over the rules' %d", len(built), publication.MaxPayloadBytes)
		}
		// The body is written in JavaScript's order, without duplicates (strict), and reads back as
		// the value published.
		got, err := parseJS(body, true)
		if err != nil {
			t.Fatalf("body %s: %v", body, err)
		}
		envelope := got.(jsObject)
		if len(envelope) != 3 || envelope[2].key != "payload" {
			t.Fatalf("body %s: envelope %v", body, envelope)
		}
		if diff := diffJS(want, envelope[2].value, "payload"); diff != "" {
			t.Fatalf("JSON.parse of the body differs from JSON.parse of the payload at %s\npayload %s\nbody    %s", diff, payload, body)
		}
		// A fixed point: building the delivered payload again changes nothing.
		again, err := webhooksig.Body("E", built)
		if err != nil || !bytes.Equal(again, body) {
			t.Fatalf("rebuilding the body: %s, %v\nwant %s", again, err, body)
		}
	})
}

// jsObject is an object as JSON.parse holds it: its members in property order.
type jsObject []jsMember

type jsMember struct {
	key   string
	value any
}

// parseJS reads one JSON value as JavaScript's JSON.parse does, independently of the builder: numbers
// are doubles (float64, overflow aside: the rules refuse it), a duplicated key keeps its first place
// and its last value, and an object's properties are in ECMAScript's order (array indices ascending,
// then the other keys as first inserted). Strict refuses duplicates and keys out of that order, as
// a body written in JavaScript's form never has them.
func parseJS(data []byte, strict bool) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := readJS(dec, strict)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("data after the value (%v)", err)
	}
	return v, nil
}

func readJS(dec *json.Decoder, strict bool) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		if t == '[' {
			array := []any{}
			for dec.More() {
				v, err := readJS(dec, strict)
				if err != nil {
					return nil, err
				}
				array = append(array, v)
			}
			_, err := dec.Token()
			return array, err
		}
		var object jsObject
		places := make(map[string]int)
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return nil, err
			}
			key := k.(string)
			v, err := readJS(dec, strict)
			if err != nil {
				return nil, err
			}
			if i, ok := places[key]; ok {
				if strict {
					return nil, fmt.Errorf("duplicate key %q", key)
				}
				object[i].value = v
				continue
			}
			places[key] = len(object)
			object = append(object, jsMember{key, v})
		}
		ordered := slices.Clone(object)
		slices.SortStableFunc(ordered, func(a, b jsMember) int {
			ai, aok := arrayIndex(a.key)
			bi, bok := arrayIndex(b.key)
			switch {
			case aok && bok:
				return int(ai) - int(bi)
			case aok:
				return -1
			case bok:
				return 1
			}
			return 0
		})
		if strict && !slices.EqualFunc(ordered, object, func(a, b jsMember) bool { return a.key == b.key }) {
			return nil, fmt.Errorf("keys out of JavaScript's order: %v", keys(object))
		}
		_, err := dec.Token()
		return ordered, err
	case json.Number:
		f, err := strconv.ParseFloat(string(t), 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return nil, err
		}
		return f, nil // ±Inf on overflow, ±0 on underflow, as JSON.parse
	default:
		return t, nil // string, bool or nil
	}
}

// arrayIndex reports whether key is an ECMAScript array index: the canonical decimal form of an
// integer from 0 to 2^32-2.
func arrayIndex(key string) (uint64, bool) {
	n, err := strconv.ParseUint(key, 10, 64)
	return n, err == nil && n <= 1<<32-2 && strconv.FormatUint(n, 10) == key
}

func keys(o jsObject) []string {
	out := make([]string, len(o))
	for i, m := range o {
		out[i] = m.key
	}
	return out
}

// diffJS returns the path of the first place where a and b differ as JavaScript values, or "".
// Numbers compare as doubles with ===: -0 equals 0, which JSON.stringify writes as 0.
func diffJS(a, b any, path string) string {
	switch a := a.(type) {
	case jsObject:
		b, ok := b.(jsObject)
		if !ok || len(a) != len(b) {
			return path
		}
		for i := range a {
			if a[i].key != b[i].key {
				return fmt.Sprintf("%s (key %d: %q, %q)", path, i, a[i].key, b[i].key)
			}
			if d := diffJS(a[i].value, b[i].value, path+"."+strconv.Quote(a[i].key)); d != "" {
				return d
			}
		}
		return ""
	case []any:
		b, ok := b.([]any)
		if !ok || len(a) != len(b) {
			return path
		}
		for i := range a {
			if d := diffJS(a[i], b[i], fmt.Sprintf("%s[%d]", path, i)); d != "" {
				return d
			}
		}
		return ""
	case float64:
		if b, ok := b.(float64); ok && a == b {
			return ""
		}
		return fmt.Sprintf("%s (%v, %v)", path, a, b)
	default:
		if a != b {
			return fmt.Sprintf("%s (%#v, %#v)", path, a, b)
		}
		return ""
	}
}
