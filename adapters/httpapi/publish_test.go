package httpapi

import (
	"bytes"
	"encoding/json"
	"testing"
)

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
