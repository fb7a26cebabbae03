package jsonwalk

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// FuzzIsCompact holds IsCompact to encoding/json: what it accepts is valid JSON that Marshal, as a
// json.RawMessage, writes back byte for byte; and valid JSON that Marshal writes back unchanged is
// accepted (nesting within encoding/json's bound).
func FuzzIsCompact(f *testing.F) {
	for _, seed := range []string{
		`{}`, `[]`, `0`, `-0.5e+10`, `"a"`, `{"a":[1,true,false,null,{"b":"\u00e9\n\\\""}]}`, `{"a": 1}`,
		`"<"`, `"\u003c"`, "\"\u2028\"", "\"\xe2\x80\"", "\"\xff\"", `01`, `1.`, `[1,]`, `{"a":1,}`, `tru`,
		`"\u12g4"`, "\"\x7f\"", `[` + strings.Repeat(`[`, 20) + strings.Repeat(`]`, 20) + `]`, `1 `, ` 1`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		got := IsCompact(raw)
		marshalled, err := json.Marshal(json.RawMessage(raw))
		same := err == nil && bytes.Equal(marshalled, raw)
		if got != same {
			t.Fatalf("IsCompact(%q) = %v; encoding/json: valid %v, marshals to %q", raw, got, json.Valid(raw), marshalled)
		}
	})
}
