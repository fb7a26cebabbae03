// Package webhooksig builds the bytes hookd sends to a webhook and signs them: the delivery body, Cosmo's
// X-Cosmo-Signature-256 and the Standard Webhooks v1 and v1a signatures. Everything here is a pure function
// without I/O: the dispatcher builds the body once and stores it, and the deliverer signs it again on
// every retry and replay (DESIGN.md section 5, "Wire format of a delivery").
package webhooksig

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"
)

// MaxDepth is how deeply a payload may nest arrays and objects. The parser recurses once per level, so the
// bound keeps a hostile payload from exhausting the stack; real event payloads stay far below it.
const MaxDepth = 512

// ErrTooDeep is wrapped by the error Body returns when the payload nests deeper than MaxDepth.
var ErrTooDeep = errors.New("webhooksig: payload nested deeper than MaxDepth")

// ErrEventName is returned by Body when the event name is not valid UTF-8, which no JSON string can carry.
var ErrEventName = errors.New("webhooksig: event name is not valid UTF-8")

// SyntaxError reports a payload that JSON.parse would reject, or that is not valid UTF-8.
type SyntaxError struct {
	// Offset is the byte offset in the payload where the problem was found.
	Offset int
	// Reason says what was wrong, for logs and API answers.
	Reason string
}

// Error implements error.
func (e *SyntaxError) Error() string {
	return fmt.Sprintf("webhooksig: invalid JSON payload at offset %d: %s", e.Offset, e.Reason)
}

// Body returns the delivery body {"version":1,"event":<eventName>,"payload":<payload>} in the exact bytes
// JavaScript's JSON.stringify(JSON.parse(body)) produces: no insignificant whitespace, no HTML escaping,
// ECMAScript number formatting, array-index keys first in ascending order and then the others in the order
// they first appear (a duplicated key keeps its last value, as JSON.parse does). Cosmo receivers verify
// X-Cosmo-Signature-256 over such re-serialised JSON, so any other spelling would fail their check.
//
// payload must be one complete JSON value (an empty payload is an error, not null); it is rejected when it
// is not JSON, not valid UTF-8, or nests deeper than MaxDepth. Body succeeds on every payload publish
// accepts (publication.CheckPayload, whose depth bound is far below MaxDepth), and JSON.parse reads the
// result back as the value published: FuzzPublishedPayloadBody holds the two to it. It can still fail on
// an event recorded before those rules, which the dispatcher then parks. Numbers that overflow a double become null
// (JSON.parse reads them as Infinity, which JSON.stringify writes as null); integers beyond 2^53 lose
// precision exactly as a double does.
func Body(eventName string, payload json.RawMessage) ([]byte, error) {
	if !utf8.ValidString(eventName) {
		return nil, ErrEventName
	}
	// The canonical form is rarely longer than the input (escapes of control characters and lone
	// surrogates are the exceptions), so one allocation usually suffices.
	out := make([]byte, 0, len(payload)+len(eventName)+40)
	out = append(out, `{"version":1,"event":`...)
	out = appendString(out, eventName)
	out = append(out, `,"payload":`...)
	var stack [32]member // members of the objects being parsed; enough for typical payloads without growing
	c := canonicalizer{in: payload, out: out, members: stack[:0]}
	c.skipSpace()
	if err := c.value(0); err != nil {
		return nil, err
	}
	c.skipSpace()
	if c.pos != len(c.in) {
		return nil, c.fail("data after the JSON value")
	}
	return append(c.out, '}'), nil
}

// canonicalizer parses JSON and writes its canonical form in one pass. Objects are written member by
// member as they are parsed and rewritten only when array-index keys or duplicate keys make JavaScript's
// order differ from the input's, so the common payload costs no more than a copy.
type canonicalizer struct {
	in      []byte
	pos     int
	out     []byte
	members []member // a stack shared by the objects being parsed, each using the tail it pushed
	scratch []byte   // reused when an object is rewritten
}

// member locates one object member's canonical key (with quotes) and value inside out.
type member struct {
	keyStart, keyEnd, valStart, valEnd int
	index                              int64 // the array index the key names, or -1
}

func (c *canonicalizer) fail(reason string) error {
	return &SyntaxError{Offset: c.pos, Reason: reason}
}

func (c *canonicalizer) skipSpace() {
	// JSON.parse accepts exactly these four; a BOM or U+00A0 is an error there and here.
	for c.pos < len(c.in) {
		switch c.in[c.pos] {
		case ' ', '\t', '\n', '\r':
			c.pos++
		default:
			return
		}
	}
}

func (c *canonicalizer) value(depth int) error {
	if c.pos >= len(c.in) {
		return c.fail("unexpected end of input")
	}
	switch b := c.in[c.pos]; {
	case b == '{':
		return c.object(depth + 1)
	case b == '[':
		return c.array(depth + 1)
	case b == '"':
		return c.string()
	case b == '-' || ('0' <= b && b <= '9'):
		return c.number()
	case b == 't':
		return c.literal("true")
	case b == 'f':
		return c.literal("false")
	case b == 'n':
		return c.literal("null")
	default:
		return c.fail(fmt.Sprintf("unexpected character %q", b))
	}
}

func (c *canonicalizer) literal(word string) error {
	if len(c.in)-c.pos < len(word) || string(c.in[c.pos:c.pos+len(word)]) != word {
		return c.fail("invalid literal")
	}
	c.pos += len(word)
	c.out = append(c.out, word...)
	return nil
}

func (c *canonicalizer) array(depth int) error {
	if depth > MaxDepth {
		return fmt.Errorf("%w (offset %d)", ErrTooDeep, c.pos)
	}
	c.pos++ // '['
	c.out = append(c.out, '[')
	c.skipSpace()
	if c.pos < len(c.in) && c.in[c.pos] == ']' {
		c.pos++
		c.out = append(c.out, ']')
		return nil
	}
	for {
		c.skipSpace()
		if err := c.value(depth); err != nil {
			return err
		}
		c.skipSpace()
		if c.pos >= len(c.in) {
			return c.fail("unterminated array")
		}
		switch c.in[c.pos] {
		case ',':
			c.pos++
			c.out = append(c.out, ',')
		case ']':
			c.pos++
			c.out = append(c.out, ']')
			return nil
		default:
			return c.fail("expected ',' or ']' in array")
		}
	}
}

// linearDedupLimit is how many members an object may have before duplicate keys are looked up in a map
// rather than by scanning: small objects, the usual case, then cost no allocation, and a payload with tens
// of thousands of keys still costs linear time.
const linearDedupLimit = 16

func (c *canonicalizer) object(depth int) error {
	if depth > MaxDepth {
		return fmt.Errorf("%w (offset %d)", ErrTooDeep, c.pos)
	}
	c.pos++ // '{'
	start := len(c.out)
	c.out = append(c.out, '{')
	c.skipSpace()
	if c.pos < len(c.in) && c.in[c.pos] == '}' {
		c.pos++
		c.out = append(c.out, '}')
		return nil
	}
	base := len(c.members)
	defer func() { c.members = c.members[:base] }()
	var seen map[string]int // canonical key -> index in c.members, once the object is large
	reorder := false        // true when JavaScript's order or the set of members differs from what was written
	lastIndex := int64(-1)
	for {
		c.skipSpace()
		if c.pos >= len(c.in) || c.in[c.pos] != '"' {
			return c.fail("expected a string key")
		}
		m := member{keyStart: len(c.out)}
		if err := c.string(); err != nil {
			return err
		}
		m.keyEnd = len(c.out)
		m.index = arrayIndex(c.out[m.keyStart:m.keyEnd])
		c.skipSpace()
		if c.pos >= len(c.in) || c.in[c.pos] != ':' {
			return c.fail("expected ':' after key")
		}
		c.pos++
		c.out = append(c.out, ':')
		c.skipSpace()
		m.valStart = len(c.out)
		if err := c.value(depth); err != nil {
			return err
		}
		m.valEnd = len(c.out)

		// Canonical key bytes are equal exactly when the keys are equal, so they serve for duplicates.
		key := c.out[m.keyStart:m.keyEnd]
		dup := -1
		if seen == nil {
			for i := base; i < len(c.members); i++ {
				p := c.members[i]
				if string(c.out[p.keyStart:p.keyEnd]) == string(key) {
					dup = i
					break
				}
			}
			if dup < 0 && len(c.members)-base >= linearDedupLimit {
				seen = make(map[string]int, 2*linearDedupLimit)
				for i := base; i < len(c.members); i++ {
					p := c.members[i]
					seen[string(c.out[p.keyStart:p.keyEnd])] = i
				}
			}
		} else if i, ok := seen[string(key)]; ok {
			dup = i
		}
		switch {
		case dup >= 0:
			// JSON.parse keeps the first position and the last value.
			c.members[dup].valStart, c.members[dup].valEnd = m.valStart, m.valEnd
			reorder = true
		default:
			if seen != nil {
				seen[string(key)] = len(c.members)
			}
			if m.index >= 0 {
				// Index keys go first and ascending: the written order is right only while they
				// lead the object in ascending order.
				if len(c.members) > base && (c.members[len(c.members)-1].index < 0 || m.index < lastIndex) {
					reorder = true
				}
				lastIndex = m.index
			}
			c.members = append(c.members, m)
		}

		c.skipSpace()
		if c.pos >= len(c.in) {
			return c.fail("unterminated object")
		}
		switch c.in[c.pos] {
		case ',':
			c.pos++
			c.out = append(c.out, ',')
		case '}':
			c.pos++
			if reorder {
				c.rewrite(start, c.members[base:])
			} else {
				c.out = append(c.out, '}')
			}
			return nil
		default:
			return c.fail("expected ',' or '}' in object")
		}
	}
}

// rewrite replaces the object written from start with its members in JavaScript's order: array indices
// ascending, then the rest in the order they first appeared, each with its last value.
func (c *canonicalizer) rewrite(start int, ms []member) {
	c.scratch = append(c.scratch[:0], c.out[start:]...)
	old := c.scratch
	// A stable sort keeps insertion order among the non-index keys, which all compare equal.
	slices.SortStableFunc(ms, func(a, b member) int {
		switch {
		case a.index >= 0 && b.index >= 0:
			return cmpInt(a.index, b.index)
		case a.index >= 0:
			return -1
		case b.index >= 0:
			return 1
		default:
			return 0
		}
	})
	c.out = append(c.out[:start], '{')
	for i, m := range ms {
		if i > 0 {
			c.out = append(c.out, ',')
		}
		c.out = append(c.out, old[m.keyStart-start:m.keyEnd-start]...)
		c.out = append(c.out, ':')
		c.out = append(c.out, old[m.valStart-start:m.valEnd-start]...)
	}
	c.out = append(c.out, '}')
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// maxArrayIndex is the largest array index, 2^32-2. ECMAScript orders only array indices numerically;
// "4294967295" and larger integer-like keys keep their insertion order, as V8 does.
const maxArrayIndex = 1<<32 - 2

// arrayIndex returns the array index a canonical quoted key names, or -1: "0" and digit strings without a
// leading zero up to maxArrayIndex.
func arrayIndex(quoted []byte) int64 {
	k := quoted[1 : len(quoted)-1]
	if len(k) == 0 || len(k) > 10 || (k[0] == '0' && len(k) > 1) {
		return -1
	}
	var n int64
	for _, b := range k {
		if b < '0' || b > '9' {
			return -1
		}
		n = n*10 + int64(b-'0')
	}
	if n > maxArrayIndex {
		return -1
	}
	return n
}

// string parses a JSON string at c.pos and writes it as JSON.stringify quotes it.
func (c *canonicalizer) string() error {
	c.pos++ // opening quote
	c.out = append(c.out, '"')
	for {
		// Copy the run of bytes that need no attention in one go.
		runStart := c.pos
		for c.pos < len(c.in) {
			b := c.in[c.pos]
			if b < 0x20 || b == '"' || b == '\\' || b >= utf8.RuneSelf {
				break
			}
			c.pos++
		}
		c.out = append(c.out, c.in[runStart:c.pos]...)
		if c.pos >= len(c.in) {
			return c.fail("unterminated string")
		}
		switch b := c.in[c.pos]; {
		case b == '"':
			c.pos++
			c.out = append(c.out, '"')
			return nil
		case b < 0x20:
			return c.fail("control character in string")
		case b >= utf8.RuneSelf:
			r, size := utf8.DecodeRune(c.in[c.pos:])
			if r == utf8.RuneError && size == 1 {
				return c.fail("invalid UTF-8")
			}
			c.out = append(c.out, c.in[c.pos:c.pos+size]...)
			c.pos += size
		default: // backslash
			if err := c.escape(); err != nil {
				return err
			}
		}
	}
}

// escape decodes one escape sequence at c.pos and writes its canonical form.
func (c *canonicalizer) escape() error {
	if c.pos+1 >= len(c.in) {
		return c.fail("unterminated escape")
	}
	e := c.in[c.pos+1]
	c.pos += 2
	switch e {
	case '"', '\\':
		c.out = append(c.out, '\\', e)
	case '/':
		c.out = append(c.out, '/')
	case 'b':
		c.out = append(c.out, '\\', 'b')
	case 'f':
		c.out = append(c.out, '\\', 'f')
	case 'n':
		c.out = append(c.out, '\\', 'n')
	case 'r':
		c.out = append(c.out, '\\', 'r')
	case 't':
		c.out = append(c.out, '\\', 't')
	case 'u':
		u, ok := hex4(c.in[c.pos:])
		if !ok {
			return c.fail("invalid \\u escape")
		}
		c.pos += 4
		switch {
		case 0xD800 <= u && u < 0xDC00:
			// A high surrogate pairs only with a low surrogate escape that follows at once (raw
			// UTF-8 can never encode one); the pair is one character, written raw.
			if len(c.in)-c.pos >= 6 && c.in[c.pos] == '\\' && c.in[c.pos+1] == 'u' {
				if lo, ok := hex4(c.in[c.pos+2:]); ok && 0xDC00 <= lo && lo < 0xE000 {
					c.pos += 6
					c.out = utf8.AppendRune(c.out, 0x10000+(rune(u)-0xD800)<<10+(rune(lo)-0xDC00))
					return nil
				}
			}
			c.out = appendEscape(c.out, u)
		case 0xDC00 <= u && u < 0xE000:
			// Well-formed JSON.stringify (ES2019) escapes a lone surrogate rather than emitting
			// invalid UTF-16.
			c.out = appendEscape(c.out, u)
		default:
			c.out = appendRune(c.out, rune(u))
		}
	default:
		c.pos--
		return c.fail("invalid escape")
	}
	return nil
}

func hex4(b []byte) (uint16, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var v uint16
	for _, h := range b[:4] {
		switch {
		case '0' <= h && h <= '9':
			h -= '0'
		case 'a' <= h && h <= 'f':
			h -= 'a' - 10
		case 'A' <= h && h <= 'F':
			h -= 'A' - 10
		default:
			return 0, false
		}
		v = v<<4 | uint16(h)
	}
	return v, true
}

const lowerHex = "0123456789abcdef"

// appendEscape writes \uXXXX in lowercase hex, as JSON.stringify does.
func appendEscape(out []byte, u uint16) []byte {
	return append(out, '\\', 'u', lowerHex[u>>12], lowerHex[u>>8&0xF], lowerHex[u>>4&0xF], lowerHex[u&0xF])
}

// appendRune writes one character as JSON.stringify does: '"' and '\\' and the control characters below
// U+0020 escaped (short forms where JSON has them), everything else raw, U+2028 and U+2029 included.
func appendRune(out []byte, r rune) []byte {
	switch r {
	case '"', '\\':
		return append(out, '\\', byte(r))
	case '\b':
		return append(out, '\\', 'b')
	case '\f':
		return append(out, '\\', 'f')
	case '\n':
		return append(out, '\\', 'n')
	case '\r':
		return append(out, '\\', 'r')
	case '\t':
		return append(out, '\\', 't')
	}
	if r < 0x20 {
		return appendEscape(out, uint16(r))
	}
	return utf8.AppendRune(out, r)
}

// appendString quotes a valid UTF-8 Go string as JSON.stringify does.
func appendString(out []byte, s string) []byte {
	out = append(out, '"')
	for _, r := range s {
		out = appendRune(out, r)
	}
	return append(out, '"')
}

// number parses a JSON number and writes it as ECMAScript's Number::toString writes the double it rounds to.
func (c *canonicalizer) number() error {
	start := c.pos
	neg := c.in[c.pos] == '-'
	if neg {
		c.pos++
	}
	digits := c.pos
	switch {
	case c.pos < len(c.in) && c.in[c.pos] == '0':
		c.pos++
	case c.pos < len(c.in) && '1' <= c.in[c.pos] && c.in[c.pos] <= '9':
		c.skipDigits()
	default:
		return c.fail("invalid number")
	}
	intEnd := c.pos
	if c.pos < len(c.in) && c.in[c.pos] == '.' {
		c.pos++
		if !c.skipDigits() {
			return c.fail("invalid number: no digits after '.'")
		}
	}
	if c.pos < len(c.in) && (c.in[c.pos] == 'e' || c.in[c.pos] == 'E') {
		c.pos++
		if c.pos < len(c.in) && (c.in[c.pos] == '+' || c.in[c.pos] == '-') {
			c.pos++
		}
		if !c.skipDigits() {
			return c.fail("invalid number: no digits in exponent")
		}
	}
	lit := c.in[start:c.pos]
	// Fast path: an integer of at most 15 digits is exact in a double and Number::toString writes it as
	// is; only "-0" differs, since toString writes negative zero as "0".
	if intEnd == c.pos && intEnd-digits <= 15 {
		if neg && intEnd-digits == 1 && c.in[digits] == '0' {
			lit = lit[1:]
		}
		c.out = append(c.out, lit...)
		return nil
	}
	f, err := strconv.ParseFloat(string(lit), 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return c.fail("invalid number")
	}
	// On overflow ParseFloat returns ±Inf, as JSON.parse does; on underflow ±0.
	c.out = appendNumber(c.out, f)
	return nil
}

func (c *canonicalizer) skipDigits() bool {
	start := c.pos
	for c.pos < len(c.in) && '0' <= c.in[c.pos] && c.in[c.pos] <= '9' {
		c.pos++
	}
	return c.pos > start
}

// appendNumber writes f as JSON.stringify does (ECMAScript Number::toString, radix 10, with non-finite
// values written as null). strconv's shortest round-trip digits are the digits the specification asks for
// (the fewest that round-trip, the closest when several do); only their layout differs.
func appendNumber(out []byte, f float64) []byte {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return append(out, "null"...)
	}
	if f == 0 {
		return append(out, '0') // also -0
	}
	var buf [32]byte
	e := strconv.AppendFloat(buf[:0], f, 'e', -1, 64) // [-]d[.ddd]e±xx
	if e[0] == '-' {
		out = append(out, '-')
		e = e[1:]
	}
	mant, exp := e, 0
	for i, b := range e {
		if b == 'e' {
			mant = e[:i]
			// AppendFloat writes the exponent as a sign and at least two digits.
			for _, d := range e[i+2:] {
				exp = exp*10 + int(d-'0')
			}
			if e[i+1] == '-' {
				exp = -exp
			}
			break
		}
	}
	// Collect the significant digits s (k of them); the value is 0.s × 10^n with n = exp+1.
	var digitBuf [20]byte
	s := digitBuf[:0]
	for _, b := range mant {
		if b != '.' {
			s = append(s, b)
		}
	}
	k, n := len(s), exp+1
	switch {
	case k <= n && n <= 21:
		out = append(out, s...)
		for range n - k {
			out = append(out, '0')
		}
	case 0 < n && n <= 21:
		out = append(out, s[:n]...)
		out = append(out, '.')
		out = append(out, s[n:]...)
	case -6 < n && n <= 0:
		out = append(out, '0', '.')
		for range -n {
			out = append(out, '0')
		}
		out = append(out, s...)
	default:
		out = append(out, s[0])
		if k > 1 {
			out = append(out, '.')
			out = append(out, s[1:]...)
		}
		out = append(out, 'e')
		if n-1 >= 0 {
			out = append(out, '+')
		}
		out = strconv.AppendInt(out, int64(n-1), 10)
	}
	return out
}
