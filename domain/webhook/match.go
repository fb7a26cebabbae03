package webhook

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Matches reports whether an event goes to a webhook with these settings: eventName must be one of
// EventNames (exactly, case and all), and then the payload must satisfy Query under Criteria — ANY
// needs one entry to match, ALL needs every one, and an empty query matches whatever the criteria.
// Criteria left unset counts as ANY, the default Normalized fills in.
//
// payload is the event's payload as encoding/json decodes it into an any: objects are
// map[string]any, arrays []any, numbers float64 or, when the decoder used UseNumber, json.Number;
// both number forms are understood. A map[string]any can be passed as it is. A payload that is not an
// object matches no entry.
//
// An entry matches when its Key, a dot path, leads to a value of the entry's JSON type that equals its
// Value:
//   - the key is split at every '.', and each segment looks up that key in an object
//     ("federated_graph.id"); an empty segment looks up the empty key. A payload key that contains a
//     dot cannot be addressed.
//   - a segment never indexes an array, even when it is a number: "items.0" does not reach the first
//     item, and a path that meets an array, a string or any other non-object before its last segment
//     matches nothing. "a.1" does reach {"a":{"1":...}}, where "1" is an object key.
//   - a missing key never matches.
//   - a string matches only a string, a number only a number (float64 equality, so 1 matches 1.0 and
//     1E0; a json.Number that does not parse as a finite float64 matches nothing), and a bool only a
//     bool: "1" and 1, or "true" and true, do not match each other.
//   - null, arrays and objects in the payload match no entry, and an entry whose Value is none of
//     string, float64 or bool (Validate refuses those) matches nothing.
//
// Matches reads payload and never changes it, and does not allocate: it is safe to call from many
// goroutines on the same payload.
func (s Settings) Matches(eventName string, payload any) bool {
	if !slices.Contains(s.EventNames, eventName) {
		return false
	}
	if len(s.Query) == 0 {
		return true
	}
	all := s.Criteria == CriteriaAll
	for _, q := range s.Query {
		if q.matches(payload) != all {
			// The first failure decides ALL, and the first success decides ANY.
			return !all
		}
	}
	return all
}

// matches reports whether the value at q's path in payload equals q.Value, under the rules Matches
// documents.
func (q QueryEntry) matches(payload any) bool {
	value, ok := lookup(payload, q.Key)
	if !ok {
		return false
	}
	switch want := q.Value.(type) {
	case string:
		got, ok := value.(string)
		return ok && got == want
	case float64:
		got, ok := number(value)
		return ok && got == want
	case bool:
		got, ok := value.(bool)
		return ok && got == want
	}
	return false
}

// lookup follows the dot path through nested objects; ok is false when a segment is missing or
// meets anything but an object.
func lookup(value any, path string) (any, bool) {
	for {
		object, ok := value.(map[string]any)
		if !ok {
			return nil, false
		}
		segment, rest, more := strings.Cut(path, ".")
		if value, ok = object[segment]; !ok {
			return nil, false
		}
		if !more {
			return value, true
		}
		path = rest
	}
}

// number reads a decoded JSON number, in either of the forms encoding/json produces.
func number(value any) (float64, bool) {
	switch n := value.(type) {
	case float64:
		return n, true
	case json.Number:
		f, err := strconv.ParseFloat(string(n), 64)
		return f, err == nil && !math.IsInf(f, 0)
	}
	return 0, false
}
