package kosmosauth

import (
	"encoding/json"
	"testing"
)

// FuzzPlainRequestID holds plainRequestID to json.Unmarshal: what it reads, json.Unmarshal reads
// too, into the same requestID.
func FuzzPlainRequestID(f *testing.F) {
	for _, seed := range []string{
		`{"ts":1763800000,"appid":"hookd-bench","uuid":"0b7e4b2c-4f6e-4c55-9a4e-2a9f4c1d2e3f"}`,
		`{"ts":1763800000.5,"appid":"","uuid":"01JDQ7Z3K8V2N4R6T8W0Y2A4C6"}`, `{"ts":"1763800000","uuid":"x"}`,
		`{"ts":-1e400,"uuid":"\u00e9"}`, `{"TS":1,"uuid":"x"}`, `{"ts":1,"uuid":"a","uuid":"b"}`, `{"ts":null}`,
		`{"ts":1,"other":2}`, ` { "ts" : 1 , "appid" : "a" } `, `[]`, `{"uuid":{"a":1}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		got, ok := plainRequestID(raw)
		if !ok {
			return
		}
		var want requestID
		if err := json.Unmarshal(raw, &want); err != nil {
			t.Fatalf("plainRequestID(%q) = %+v; json.Unmarshal fails: %v", raw, got, err)
		}
		if got != want {
			t.Fatalf("plainRequestID(%q) = %+v; json.Unmarshal gives %+v", raw, got, want)
		}
	})
}
