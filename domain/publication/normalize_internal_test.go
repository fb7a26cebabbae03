package publication

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzNormalize holds normalize to what it is defined as, json.Compact then json.HTMLEscape, for
// every valid JSON value, including those it returns as they are.
func FuzzNormalize(f *testing.F) {
	for _, seed := range []string{`{"a":1}`, `{ "a" : [1, 2] }`, `{"a":"<&>"}`, "{\"a\":\"\u2028\"}", `{"a":"\u003c"}`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if !json.Valid(raw) {
			return
		}
		var compacted, want bytes.Buffer
		if err := json.Compact(&compacted, raw); err != nil {
			t.Fatal(err)
		}
		json.HTMLEscape(&want, compacted.Bytes())
		got, err := normalize(raw)
		if err != nil || !bytes.Equal(got, want.Bytes()) {
			t.Fatalf("normalize(%q) = %q, %v; want %q", raw, got, err, want.Bytes())
		}
	})
}
