package webhooksig_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/hookd/hookd/adapters/webhooksig"
	"github.com/hookd/hookd/internal/testvectors"
)

// cosmoVectors is testdata cosmo-signature.json (internal/testvectors).
type cosmoVectors struct {
	Secret string `json:"secret"`
	Cases  []struct {
		Name      string `json:"name"`
		Event     string `json:"event"`
		Payload   string `json:"payload_json"`
		Body      string `json:"body"`
		Signature string `json:"x_cosmo_signature_256"`
	} `json:"cases"`
}

func TestBodyAndCosmoSignatureVectors(t *testing.T) {
	t.Parallel()
	var v cosmoVectors
	testvectors.Load(t, "cosmo-signature.json", &v)
	if len(v.Cases) == 0 || v.Secret == "" {
		t.Fatal("cosmo-signature.json has no cases or no secret")
	}
	for _, tc := range v.Cases {
		t.Run(tc.Name, func(t *testing.T) {
			t.Parallel()
			body, err := webhooksig.Body(tc.Event, json.RawMessage(tc.Payload))
			if err != nil {
				t.Fatalf("Body: %v", err)
			}
			if string(body) != tc.Body {
				t.Fatalf("Body\n got %s\nwant %s", body, tc.Body)
			}
			if got := webhooksig.CosmoSignature(v.Secret, body); got != tc.Signature {
				t.Fatalf("CosmoSignature = %s, want %s", got, tc.Signature)
			}
		})
	}
}

// The expected payloads below were produced by node 20's JSON.stringify(JSON.parse(payload)).
func TestBodyCanonicalPayload(t *testing.T) {
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
			body, err := webhooksig.Body("E", json.RawMessage(tc.in))
			if err != nil {
				t.Fatalf("Body(%q): %v", tc.in, err)
			}
			want := `{"version":1,"event":"E","payload":` + tc.want + `}`
			if string(body) != want {
				t.Fatalf("Body(%q)\n got %s\nwant %s", tc.in, body, want)
			}
		})
	}
}

func TestBodyLargeObjectDuplicates(t *testing.T) {
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
	body, err := webhooksig.Body("E", json.RawMessage(in.String()))
	if err != nil {
		t.Fatal(err)
	}
	got := string(body[len(`{"version":1,"event":"E","payload":`) : len(body)-1])
	if wantS := `{"7":0,` + want.String()[1:]; got != wantS {
		t.Fatalf("got  %s\nwant %s", got, wantS)
	}
}

func TestBodyEventNameEscaped(t *testing.T) {
	t.Parallel()
	body, err := webhooksig.Body("a\"b\\c\n<>", json.RawMessage(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"version":1,"event":"a\"b\\c\n<>","payload":{}}`; string(body) != want {
		t.Fatalf("got %s, want %s", body, want)
	}
	if _, err := webhooksig.Body("\xff", json.RawMessage(`{}`)); !errors.Is(err, webhooksig.ErrEventName) {
		t.Fatalf("invalid UTF-8 event name: err = %v, want ErrEventName", err)
	}
}

func TestBodyRejects(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, in string }{
		{"empty", ``},
		{"only space", `   `},
		{"trailing data", `{} {}`},
		{"trailing comma object", `{"a":1,}`},
		{"trailing comma array", `[1,]`},
		{"single quotes", `{'a':1}`},
		{"unquoted key", `{a:1}`},
		{"missing colon", `{"a" 1}`},
		{"missing value", `{"a":}`},
		{"unterminated object", `{"a":1`},
		{"unterminated array", `[1`},
		{"unterminated string", `"abc`},
		{"raw newline in string", "\"a\nb\""},
		{"raw tab in string", "\"a\tb\""},
		{"bad escape", `"\x41"`},
		{"short unicode escape", `"\u12"`},
		{"bad hex", `"\u12g4"`},
		{"leading zero", `01`},
		{"leading plus", `+1`},
		{"bare minus", `-`},
		{"dot without digits", `1.`},
		{"leading dot", `.5`},
		{"exponent without digits", `1e`},
		{"exponent sign only", `1e+`},
		{"nan", `NaN`},
		{"infinity", `Infinity`},
		{"truncated literal", `tru`},
		{"wrong literal", `nul1`},
		{"capital literal", `True`},
		{"invalid utf-8", "\"\xff\""},
		{"encoded surrogate", "\"\xed\xa0\x80\""},
		{"overlong", "\"\xc0\xaf\""},
		{"bom before value", "\ufeff{}"},
		{"nbsp whitespace", "\u00a0{}"},
		{"comment", `{} // x`},
		{"too deep", strings.Repeat("[", 513) + strings.Repeat("]", 513)},
		{"too deep objects", strings.Repeat(`{"a":`, 513) + "1" + strings.Repeat("}", 513)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			body, err := webhooksig.Body("E", json.RawMessage(tc.in))
			if err == nil {
				t.Fatalf("Body(%q) = %s, want an error", tc.in, body)
			}
			var se *webhooksig.SyntaxError
			if !errors.As(err, &se) && !errors.Is(err, webhooksig.ErrTooDeep) {
				t.Fatalf("Body(%q) error %v is neither SyntaxError nor ErrTooDeep", tc.in, err)
			}
		})
	}
}

// payloadOf cuts the payload back out of a body Body produced for event "E".
func payloadOf(tb testing.TB, body []byte) []byte {
	tb.Helper()
	prefix := []byte(`{"version":1,"event":"E","payload":`)
	if !bytes.HasPrefix(body, prefix) || !bytes.HasSuffix(body, []byte("}")) {
		tb.Fatalf("body %q lacks the envelope", body)
	}
	return body[len(prefix) : len(body)-1]
}

// FuzzBody checks that Body never panics, accepts exactly the valid JSON encoding/json accepts (within
// MaxDepth and valid UTF-8), emits valid JSON, keeps the data, and is a fixed point. Plain go test runs only
// the seeds; explore with: go test -run '^$' -fuzz FuzzBody -fuzztime 30s ./adapters/webhooksig/
func FuzzBody(f *testing.F) {
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
		body, err := webhooksig.Body("E", json.RawMessage(in))
		if err != nil {
			// Whatever encoding/json accepts as valid UTF-8 within the depth bound must be accepted
			// too; otherwise a publisher's payload would be refused for no reason.
			if json.Valid([]byte(in)) && !errors.Is(err, webhooksig.ErrTooDeep) && utf8.ValidString(in) {
				t.Fatalf("Body(%q) failed on valid JSON: %v", in, err)
			}
			return
		}
		if !json.Valid([]byte(in)) {
			t.Fatalf("Body accepted invalid JSON %q", in)
		}
		if !json.Valid(body) {
			t.Fatalf("Body(%q) = %q, not valid JSON", in, body)
		}
		payload := payloadOf(t, body)
		again, err := webhooksig.Body("E", payload)
		if err != nil {
			t.Fatalf("Body of its own output %q: %v", payload, err)
		}
		if !bytes.Equal(again, body) {
			t.Fatalf("not a fixed point:\n in    %q\n once  %q\n twice %q", in, body, again)
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
