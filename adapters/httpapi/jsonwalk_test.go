package httpapi

import (
	"bytes"
	"encoding/json"
	"maps"
	"testing"
)

// FuzzJSONWalk holds objectMembers and arrayItems to what encoding/json gives for every valid JSON
// value: the same members (the last of duplicate keys winning) with the same bytes, the same items.
func FuzzJSONWalk(f *testing.F) {
	for _, seed := range []string{
		`{}`, `[]`, ` { "a" : 1 , "b":[1, {"c":"}"}] ,"a":"\"x\\"} `, `[1,"a",{"b":null}, [ ] ,true,-1.5e3]`,
		`{"eventName":"E","payload":{"x":"<&>"},"id":"k"}`, `{"\u0061b":1,"é":2,"\ud800":3}`, `null`, `"s"`,
		`{"a":{"b":{"c":[[{"d":"]"}]]}}}`, "{\"\xff\":1}", `[ "\\", "\"" ]`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if !json.Valid(raw) {
			return
		}
		var want map[string]json.RawMessage
		wantObject := json.Unmarshal(raw, &want) == nil && bytes.TrimSpace(raw)[0] == '{'
		got, ok := objectMembers(raw)
		if ok != wantObject {
			t.Fatalf("objectMembers(%q): object %v, encoding/json says %v", raw, ok, wantObject)
		}
		if ok && !maps.EqualFunc(got, want, func(g []byte, w json.RawMessage) bool { return bytes.Equal(g, w) }) {
			t.Fatalf("objectMembers(%q) = %q, encoding/json gives %q", raw, got, want)
		}
		var wantItems []json.RawMessage
		wantArray := json.Unmarshal(raw, &wantItems) == nil && bytes.TrimSpace(raw)[0] == '['
		items, ok := arrayItems(raw)
		if ok != wantArray || len(items) != len(wantItems) {
			t.Fatalf("arrayItems(%q) = %q (array %v), encoding/json gives %q (array %v)", raw, items, ok, wantItems, wantArray)
		}
		for i := range items {
			if !bytes.Equal(items[i], wantItems[i]) {
				t.Fatalf("arrayItems(%q)[%d] = %q, encoding/json gives %q", raw, i, items[i], wantItems[i])
			}
		}
	})
}

// FuzzPublishBody holds publishBodyOf to decodeJSON, the strict decode of every body: whatever it
// takes apart decodes without error into the same publishBody.
func FuzzPublishBody(f *testing.F) {
	for _, seed := range []string{
		string(benchPublishBody), `{"eventName":"E","payload":{"a":[1,2]},"id":"k"}`, `{"payload":null}`,
		`{"eventName":"E\u00e9\"","payload":1}`, `{"EVENTNAME":"E"}`, `{"eventName":1,"eventName":"E"}`,
		`{"eventName":"E","payload":{},"payload":[]}`, "{\"eventName\":\"\xff\"}", `{"id":null}`, `{}`,
		` { "eventName" : "E" , "payload" : { "x" : "<&>" } } `,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if !json.Valid(raw) {
			return
		}
		got, ok := publishBodyOf(raw)
		if !ok {
			return
		}
		var want publishBody
		if err := decodeJSON(raw, &want); err != nil {
			t.Fatalf("publishBodyOf(%q) = %+v, but the strict decode refuses it: %v", raw, got, err)
		}
		if got.EventName != want.EventName || got.ID != want.ID || !bytes.Equal(got.Payload, want.Payload) ||
			(got.Payload == nil) != (want.Payload == nil) {
			t.Fatalf("publishBodyOf(%q) = %+v, the strict decode gives %+v", raw, got, want)
		}
	})
}
