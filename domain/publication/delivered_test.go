package publication_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/hookd/hookd/domain/publication"
)

// The expected payloads below were produced by node 20's JSON.stringify(JSON.parse(payload)).
func TestAppendDeliveredCanonicalPayload(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, in, want string
	}{
		// Numbers: ECMAScript Number::toString of the double the literal rounds to.
		{"zero", `0`, `0`},
		{"negative zero", `-0`, `0`},
		{"negative zero fraction", `-0.0e5`, `0`},
		{"tenth", `0.1`, `0.1`},
		{"trailing zeros", `1.50`, `1.5`},
		{"exponent to integer", `1E3`, `1000`},
		{"1e20 stays digits", `1e20`, `100000000000000000000`},
		{"1e21 turns exponent", `1e21`, `1e+21`},
		{"1e22", `10000000000000000000000`, `1e+22`},
		{"rounded 21 digits", `123456789012345680000`, `123456789012345680000`},
		{"1e-6 stays decimal", `1e-6`, `0.000001`},
		{"1e-7 turns exponent", `1e-7`, `1e-7`},
		{"small decimal", `0.000001234`, `0.000001234`},
		{"small mantissa exponent", `123e-20`, `1.23e-18`},
		{"min subnormal", `5e-324`, `5e-324`},
		{"max double", `1.7976931348623157e308`, `1.7976931348623157e+308`},
		{"large exponent", `1.5e300`, `1.5e+300`},
		{"overflow is null", `1e400`, `null`},
		{"negative overflow is null", `-1e400`, `null`},
		{"underflow is zero", `1e-400`, `0`},
		{"beyond 2^53 rounds", `9007199254740993`, `9007199254740992`},
		{"15 digits exact", `123456789012345`, `123456789012345`},
		{"16 digits", `1234567890123456`, `1234567890123456`},
		{"negative", `-12.5e1`, `-125`},
		{"negative small", `-0.00000001`, `-1e-8`},
		{"exponent plus", `2e+2`, `200`},
		{"fraction with exponent", `0.5e-6`, `5e-7`},

		// Key order: array indices ascending first, then insertion order; duplicates keep their first
		// position and last value.
		{"index keys first", `{"b":1,"10":"ten","2":"two","a":{"1":true,"z":null}}`,
			`{"2":"two","10":"ten","b":1,"a":{"1":true,"z":null}}`},
		{"index bounds", `{"b":1,"4294967295":1,"4294967294":2,"01":3,"0":4,"a":5,"a":6,"b":7}`,
			`{"0":4,"4294967294":2,"b":7,"4294967295":1,"01":3,"a":6}`},
		{"already ordered", `{"0":0,"1":1,"x":2}`, `{"0":0,"1":1,"x":2}`},
		{"duplicate keeps first position", `{"a":1,"b":2,"a":3}`, `{"a":3,"b":2}`},
		{"duplicate nested value replaced", `{"a":{"x":1},"b":2,"a":[1,2]}`, `{"a":[1,2],"b":2}`},
		{"escaped key equals raw key", `{"a":1,"\u0061":2}`, `{"a":2}`},
		{"escaped digit key is index", `{"x":1,"\u0031":2}`, `{"1":2,"x":1}`},
		{"negative and fractional keys", `{"-1":1,"1.5":2,"1":3}`, `{"1":3,"-1":1,"1.5":2}`},
		{"empty key", `{"":1,"0":2}`, `{"0":2,"":1}`},
		{"proto key", `{"__proto__":1,"a":2}`, `{"__proto__":1,"a":2}`},
		{"nested reorder", `[{"b":1,"0":2},{"c":{"9":1,"3":2}}]`, `[{"0":2,"b":1},{"c":{"3":2,"9":1}}]`},

		// Strings: only '"', '\\' and control characters escaped, short forms where JSON has them.
		{"html not escaped", `"<b>&</b>"`, `"<b>&</b>"`},
		{"slash unescaped", `"a\/b"`, `"a/b"`},
		{"short escapes", `"\b\f\n\r\t\"\\"`, `"\b\f\n\r\t\"\\"`},
		{"control escapes lowercase", `"\u0000\u001F\u000b"`, `"\u0000\u001f\u000b"`},
		{"del raw", `"\u007f"`, "\"\x7f\""},
		{"unicode escapes raw", `"Zo\u00e9 \u2713"`, `"Zoé ✓"`},
		{"line separators raw", `"\u2028\u2029"`, "\"\u2028\u2029\""},
		{"surrogate pair", `"\ud83d\ude00"`, `"😀"`},
		{"surrogate pair uppercase", `"\uD83D\uDE00"`, `"😀"`},
		{"lone high", `"\ud800"`, `"\ud800"`},
		{"lone high then char", `"\uD800\u0041"`, `"\ud800A"`},
		{"lone low", `"\udc00x"`, `"\udc00x"`},
		{"reversed pair", `"\ude00\ud83d"`, `"\ude00\ud83d"`},
		{"high high low", `"\ud800\ud83d\ude00"`, `"\ud800😀"`},
		{"raw utf-8", `"日本語 😀"`, `"日本語 😀"`},
		{"bom in string raw", "\"\ufeff\"", "\"\ufeff\""},

		// Structure and whitespace.
		{"whitespace", " {\t\"a\" :\r\n [ 1 , true , false , null ] } ", `{"a":[1,true,false,null]}`},
		{"empty containers", `{"a":{},"b":[],"c":[{}],"d":""}`, `{"a":{},"b":[],"c":[{}],"d":""}`},
		{"scalar payload", `"just a string"`, `"just a string"`},
		{"null payload", `null`, `null`},
		{"deep nesting", strings.Repeat("[", 512) + strings.Repeat("]", 512), strings.Repeat("[", 512) + strings.Repeat("]", 512)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := publication.AppendDelivered(nil, []byte(tc.in))
			if err != nil {
				t.Fatalf("AppendDelivered(%q): %v", tc.in, err)
			}
			if string(got) != tc.want {
				t.Fatalf("AppendDelivered(%q)\n got %s\nwant %s", tc.in, got, tc.want)
			}
		})
	}
}

func TestAppendDeliveredLargeObjectDuplicates(t *testing.T) {
	t.Parallel()
	// More members than the linear duplicate scan handles, so the map path is taken.
	var in, want strings.Builder
	in.WriteString("{")
	want.WriteString("{")
	for i := range 40 {
		if i > 0 {
			in.WriteString(",")
			want.WriteString(",")
		}
		k := fmt.Sprintf("k%02d", i)
		in.WriteString(`"` + k + `":1`)
		want.WriteString(`"` + k + `":2`)
	}
	for i := range 40 {
		in.WriteString(fmt.Sprintf(`,"k%02d":2`, i))
	}
	in.WriteString(`,"7":0}`)
	want.WriteString("}")
	body, err := publication.AppendDelivered(nil, []byte(in.String()))
	if err != nil {
		t.Fatal(err)
	}
	got := string(body)
	if wantS := `{"7":0,` + want.String()[1:]; got != wantS {
		t.Fatalf("got  %s\nwant %s", got, wantS)
	}
}

func TestAppendDeliveredRejects(t *testing.T) {
	t.Parallel()
	const syntax, badUTF8, deep = "is not valid JSON", "that is not valid UTF-8", "is nested deeper than 512 levels"
	cases := []struct{ name, in, reason string }{
		{"empty", ``, syntax},
		{"only space", `   `, syntax},
		{"trailing data", `{} {}`, syntax},
		{"trailing comma object", `{"a":1,}`, syntax},
		{"trailing comma array", `[1,]`, syntax},
		{"single quotes", `{'a':1}`, syntax},
		{"unquoted key", `{a:1}`, syntax},
		{"missing colon", `{"a" 1}`, syntax},
		{"missing value", `{"a":}`, syntax},
		{"unterminated object", `{"a":1`, syntax},
		{"unterminated array", `[1`, syntax},
		{"unterminated string", `"abc`, syntax},
		{"raw newline in string", "\"a\nb\"", syntax},
		{"raw tab in string", "\"a\tb\"", syntax},
		{"bad escape", `"\x41"`, syntax},
		{"short unicode escape", `"\u12"`, syntax},
		{"bad hex", `"\u12g4"`, syntax},
		{"leading zero", `01`, syntax},
		{"leading plus", `+1`, syntax},
		{"bare minus", `-`, syntax},
		{"dot without digits", `1.`, syntax},
		{"leading dot", `.5`, syntax},
		{"exponent without digits", `1e`, syntax},
		{"exponent sign only", `1e+`, syntax},
		{"nan", `NaN`, syntax},
		{"infinity", `Infinity`, syntax},
		{"truncated literal", `tru`, syntax},
		{"wrong literal", `nul1`, syntax},
		{"capital literal", `True`, syntax},
		{"invalid utf-8", "\"\xff\"", badUTF8},
		{"encoded surrogate", "\"\xed\xa0\x80\"", badUTF8},
		{"overlong", "\"\xc0\xaf\"", badUTF8},
		{"bom before value", "\ufeff{}", syntax},
		{"nbsp whitespace", "\u00a0{}", syntax},
		{"comment", `{} // x`, syntax},
		{"too deep", strings.Repeat("[", 513) + strings.Repeat("]", 513), deep},
		{"too deep objects", strings.Repeat(`{"a":`, 513) + "1" + strings.Repeat("}", 513), deep},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := publication.AppendDelivered(nil, []byte(tc.in))
			if err == nil {
				t.Fatalf("AppendDelivered(%q) = %s, want an error", tc.in, got)
			}
			var pe *publication.PayloadError
			if !errors.As(err, &pe) || !strings.Contains(pe.Reason, tc.reason) {
				t.Fatalf("AppendDelivered(%q) error %v, want a PayloadError that %s", tc.in, err, tc.reason)
			}
		})
	}
}

// FuzzAppendDelivered checks that AppendDelivered never panics, accepts exactly the valid JSON
// encoding/json accepts (within MaxDeliveredDepth and valid UTF-8), emits valid JSON, keeps the data, and is
// a fixed point. Plain go test runs only the seeds; explore with:
// go test -run '^$' -fuzz FuzzAppendDelivered -fuzztime 30s ./domain/publication/
func FuzzAppendDelivered(f *testing.F) {
	for _, s := range []string{
		`{"user_id":"1234abcd","user_email":"user@example.com"}`,
		`{"b":1,"10":"ten","2":"two","a":{"1":true,"z":null}}`,
		`{ "a" : 1.50 , "b" : 1E3, "c" : -0.0, "d": 10000000000000000000000 }`,
		`{"a":1,"b":2,"a":3,"0":[1e21,1e-7,5e-324,1e400]}`,
		`["\ud800","\ud83d\ude00","\u0000\u001f\u2028\/"]`,
		`"Zo\u00e9 \u2713"`,
		`[[[[{}]]]]`,
		`123456789012345680000`,
		`{"4294967295":1,"4294967294":2,"01":3}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		payload, err := publication.AppendDelivered(nil, []byte(in))
		if err != nil {
			// Whatever encoding/json accepts as valid UTF-8 within the depth bound must be accepted
			// too; otherwise a publisher's payload would be refused for no reason.
			var pe *publication.PayloadError
			tooDeep := errors.As(err, &pe) && strings.HasPrefix(pe.Reason, "is nested deeper than")
			if json.Valid([]byte(in)) && !tooDeep && utf8.ValidString(in) {
				t.Fatalf("AppendDelivered(%q) failed on valid JSON: %v", in, err)
			}
			return
		}
		if !json.Valid([]byte(in)) {
			t.Fatalf("AppendDelivered accepted invalid JSON %q", in)
		}
		if !json.Valid(payload) {
			t.Fatalf("AppendDelivered(%q) = %q, not valid JSON", in, payload)
		}
		again, err := publication.AppendDelivered(nil, payload)
		if err != nil {
			t.Fatalf("AppendDelivered of its own output %q: %v", payload, err)
		}
		if string(again) != string(payload) {
			t.Fatalf("not a fixed point:\n in    %q\n once  %q\n twice %q", in, payload, again)
		}
		// The same data survives, as far as encoding/json can tell (it also keeps the last duplicate).
		var a, b any
		if json.Unmarshal([]byte(in), &a) == nil {
			if err := json.Unmarshal(payload, &b); err != nil {
				t.Fatalf("encoding/json rejects output %q: %v", payload, err)
			}
			if !reflect.DeepEqual(a, b) {
				t.Fatalf("data changed: %q -> %q", in, payload)
			}
		}
	})
}
