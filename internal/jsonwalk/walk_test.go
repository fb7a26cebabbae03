package jsonwalk

import (
	"bytes"
	"encoding/json"
	"maps"
	"testing"
)

// FuzzWalk holds Object and Items to what encoding/json gives for every valid JSON
// value: the same members (the last of duplicate keys winning) with the same bytes, the same items.
func FuzzWalk(f *testing.F) {
	seed(f,
		`{}`, `[]`, ` { "a" : 1 , "b":[1, {"c":"}"}] ,"a":"\"x\\"} `, `[1,"a",{"b":null}, [ ] ,true,-1.5e3]`,
		`{"eventName":"E","payload":{"x":"<&>"},"id":"k"}`, `{"\u0061b":1,"é":2,"\ud800":3}`, `null`, `"s"`,
		`{"a":{"b":{"c":[[{"d":"]"}]]}}}`, "{\"\xff\":1}", `[ "\\", "\"" ]`,
	)
	f.Fuzz(func(t *testing.T, raw []byte) {
		if !json.Valid(raw) {
			return
		}
		var want map[string]json.RawMessage
		wantObject := json.Unmarshal(raw, &want) == nil && bytes.TrimSpace(raw)[0] == '{'
		got, ok := Object(raw)
		if ok != wantObject {
			t.Fatalf("Object(%q): object %v, encoding/json says %v", raw, ok, wantObject)
		}
		if ok && !maps.EqualFunc(got, want, func(g []byte, w json.RawMessage) bool { return bytes.Equal(g, w) }) {
			t.Fatalf("Object(%q) = %q, encoding/json gives %q", raw, got, want)
		}
		var wantItems []json.RawMessage
		wantArray := json.Unmarshal(raw, &wantItems) == nil && bytes.TrimSpace(raw)[0] == '['
		items, ok := Items(raw)
		if ok != wantArray || len(items) != len(wantItems) {
			t.Fatalf("Items(%q) = %q (array %v), encoding/json gives %q (array %v)", raw, items, ok, wantItems, wantArray)
		}
		for i := range items {
			if !bytes.Equal(items[i], wantItems[i]) {
				t.Fatalf("Items(%q)[%d] = %q, encoding/json gives %q", raw, i, items[i], wantItems[i])
			}
		}
	})
}

// FuzzString holds String to json.Unmarshal into a string.
func FuzzString(f *testing.F) {
	seed(f, `"a"`, `"\"x\"\\\/\b\f\n\r\t"`, `"\u00e9"`, "\"é\"", "\"\xff\"", `"\ud800"`, `1`, `null`, `{"a":1}`)
	f.Fuzz(func(t *testing.T, raw []byte) {
		if !json.Valid(raw) {
			return
		}
		var want string
		wantOK := json.Unmarshal(raw, &want) == nil && bytes.TrimSpace(raw)[0] == '"'
		got, ok := String(bytes.TrimSpace(raw))
		if ok != wantOK || got != want {
			t.Fatalf("String(%q) = %q, %v; json.Unmarshal gives %q, %v", raw, got, ok, want, wantOK)
		}
	})
}

// seed adds each of seeds to f's corpus.
func seed(f *testing.F, seeds ...string) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
}
