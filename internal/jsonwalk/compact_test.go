package jsonwalk

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// FuzzIsCompact holds IsCompact to encoding/json: what it accepts is valid JSON that Marshal, as a
// json.RawMessage, writes back byte for byte; and valid JSON that Marshal writes back unchanged is
// accepted (nesting within encoding/json's bound).
func FuzzIsCompact(f *testing.F) {
	seed(f,
		`{}`, `[]`, `0`, `-0.5e+10`, `"a"`, `{"a":[1,true,false,null,{"b":"\u00e9\n\\\""}]}`, `{"a": 1}`,
		`"<"`, `"\u003c"`, "\"\u2028\"", "\"\xe2\x80\"", "\"\xff\"", `01`, `1.`, `[1,]`, `{"a":1,}`, `tru`,
		`"\u12g4"`, "\"\x7f\"", `[`+strings.Repeat(`[`, 20)+strings.Repeat(`]`, 20)+`]`, `1 `, ` 1`,
	)
	f.Fuzz(func(t *testing.T, raw []byte) {
		got := IsCompact(raw)
		marshalled, err := json.Marshal(json.RawMessage(raw))
		same := err == nil && bytes.Equal(marshalled, raw)
		if got != same {
			t.Fatalf("IsCompact(%q) = %v; encoding/json: valid %v, marshals to %q", raw, got, json.Valid(raw), marshalled)
		}
	})
}

// FuzzValid holds Valid to json.Valid, and ValidMembers to Valid and Members: the same answer and,
// when true, the same members.
func FuzzValid(f *testing.F) {
	seed(f,
		` { "a" : [ 1 , true , null , { } , [ ] ] } `, "\t\"<&>\u2028\"\n", `{"a":1,}`, `[1 2]`, `{"a" 1}`, `-`, `1e`,
		`{"a":"\u00zz"}`, " ", "", `{"a":1,"b":[}`, `{"a":"x" `, `"\u0001"`, `[`+strings.Repeat(`[`, 20)+strings.Repeat(`]`, 20)+`]`,
	)
	f.Fuzz(func(t *testing.T, raw []byte) {
		valid := json.Valid(raw)
		if got := Valid(raw); got != valid {
			t.Fatalf("Valid(%q) = %v, json.Valid says %v", raw, got, valid)
		}
		var got, want [][]byte
		collect := func(into *[][]byte) func(key, value []byte) bool {
			return func(key, value []byte) bool { *into = append(*into, key, value); return true }
		}
		ok := ValidMembers(raw, collect(&got))
		if wantOK := valid && Members(raw, collect(&want)); ok != wantOK || ok && !slices.EqualFunc(got, want, bytes.Equal) {
			t.Fatalf("ValidMembers(%q) = %v, %q; Valid and Members give %v, %q", raw, ok, got, wantOK, want)
		}
	})
}

// TestNestingBound: the deepest nesting encoding/json takes is the deepest Valid and IsCompact take.
func TestNestingBound(t *testing.T) {
	t.Parallel()
	for _, depth := range []int{maxDepth - 1, maxDepth, maxDepth + 1} {
		raw := []byte(strings.Repeat(`[`, depth) + strings.Repeat(`]`, depth))
		want := json.Valid(raw)
		if Valid(raw) != want || IsCompact(raw) != want {
			t.Errorf("depth %d: Valid %v, IsCompact %v; json.Valid %v", depth, Valid(raw), IsCompact(raw), want)
		}
	}
}
