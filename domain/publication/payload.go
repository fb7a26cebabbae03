package publication

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The payload rules. A payload is what a tenant publishes and what every matching webhook receives,
// inside a body that must read back in JavaScript (JSON.parse) as the very value published, and that
// hookd must be able to build whatever the payload. So a payload is refused, with the place and the
// rule it breaks, when:
//   - it is not one JSON object (RFC 8259's grammar, which is also JSON.parse's);
//   - arrays and objects nest deeper than MaxPayloadDepth (the payload object is the first level);
//   - a string or key is not valid UTF-8, or escapes a lone UTF-16 surrogate ("\ud800" alone), which
//     no UTF-8 text, and so no Go, Rust or database receiver, can hold;
//   - a number is out of a double's range (1e400): JSON.parse reads it as Infinity, which
//     JSON.stringify writes as null, so it could not arrive as published;
//   - it is over MaxPayloadBytes as sent (ErrPayloadTooLarge, checked before anything else), or over
//     MaxPayloadBytes as delivered, written as JSON.stringify writes it (numbers such as 1e20 grow there).
//
// What stays accepted reads in JavaScript as a double does: integers beyond 2^53 round, -0 is 0
// once re-serialised, 1e-400 is 0; a duplicated key keeps its last value at its first place.
//
// One scanner both checks the rules (CheckPayload) and writes the payload as delivered
// (AppendDelivered): the rules are refusals added to the walk that builds the delivered form, so
// they cannot drift from it, and what publish accepts is built by the same code into the bytes
// whose size it checked.
const (
	// MaxPayloadDepth bounds how deeply a payload nests arrays and objects.
	MaxPayloadDepth = 64
	// MaxDeliveredDepth bounds how deeply AppendDelivered lets a payload nest. It is above
	// MaxPayloadDepth for events recorded before the rules; the scanner recurses once per level, so
	// the bound keeps a hostile payload from exhausting the stack.
	MaxDeliveredDepth = 512
	// maxKeyShown bounds how much of a key a path shows.
	maxKeyShown = 32
)

// PayloadError says where a payload breaks a rule and which: Path is "payload" followed by the
// members and indices that lead to the offending value, as JavaScript would write the access
// (payload.a[0]["odd key"]).
type PayloadError struct {
	Path   string
	Reason string
}

func (e *PayloadError) Error() string { return e.Path + " " + e.Reason }

// CheckPayload applies the payload rules above (apart from ErrPayloadTooLarge, checked first by
// Publish) to raw and returns the first broken one as a *PayloadError, or nil. Its recursion is
// bounded by MaxPayloadDepth.
func CheckPayload(raw []byte) error {
	_, err := scan(make([]byte, 0, len(raw)), raw, true)
	return err
}

// AppendDelivered appends payload to dst as a delivery carries it: the bytes JavaScript's
// JSON.stringify(JSON.parse(payload)) produces, with no insignificant whitespace, no HTML escaping,
// ECMAScript number formatting, array-index keys first in ascending order and then the others in the
// order they first appear (a duplicated key keeps its last value, as JSON.parse does).
//
// payload must be one complete JSON value (an empty payload is an error, not null) of valid UTF-8
// nesting at most MaxDeliveredDepth levels; any other error is a *PayloadError. The payload rules
// are not applied, so that events recorded before them are still delivered as JavaScript would
// carry them: a lone surrogate escape stays escaped, a number beyond a double's range becomes null
// (JSON.parse reads it as Infinity, which JSON.stringify writes as null), a scalar stays a scalar.
// Everything CheckPayload accepts, AppendDelivered builds.
func AppendDelivered(dst, payload []byte) ([]byte, error) {
	return scan(dst, payload, false)
}

// AppendJSONString appends s, valid UTF-8, quoted as JSON.stringify quotes a string.
func AppendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for _, r := range s {
		dst = appendRune(dst, r)
	}
	return append(dst, '"')
}

// scan writes raw's delivered form after dst, applying the payload rules when rules is set.
func scan(dst, raw []byte, rules bool) ([]byte, error) {
	var members [32]member // enough for typical payloads without growing
	c := scanner{in: raw, out: dst, rules: rules, maxDepth: MaxDeliveredDepth, members: members[:0]}
	if rules {
		c.maxDepth = MaxPayloadDepth
	}
	start := len(c.out)
	c.space()
	if rules && (c.pos >= len(c.in) || c.in[c.pos] != '{') {
		return nil, &PayloadError{Path: "payload", Reason: "must be a JSON object"}
	}
	if err := c.value(0); err != nil {
		return nil, located(err)
	}
	c.space()
	if c.pos != len(c.in) {
		return nil, c.syntax("data after the JSON value")
	}
	if rules && len(c.out)-start > MaxPayloadBytes {
		return nil, &PayloadError{Path: "payload", Reason: fmt.Sprintf(
			"is over %d bytes as delivered (JSON.stringify's form, where numbers such as 1e20 are written out)", MaxPayloadBytes)}
	}
	return c.out, nil
}

// scanner parses JSON and writes its delivered form in one pass. Objects are written member by
// member as they are parsed and rewritten only when array-index keys or duplicate keys make
// JavaScript's order differ from the input's, so the common payload costs no more than a copy.
type scanner struct {
	in       []byte
	pos      int
	out      []byte
	rules    bool // refuse what breaks the payload rules rather than write what JavaScript would
	maxDepth int
	members  []member // a stack shared by the objects being parsed, each using the tail it pushed
	scratch  []byte   // reused when an object is rewritten
}

// member locates one object member's written key (with quotes) and value inside out.
type member struct {
	keyStart, keyEnd, valStart, valEnd int
	index                              int64 // the array index the key names, or -1
}

// ruleError is a rule broken by the value being walked, on its way up to scan: each enclosing array
// and object adds its step as the error passes, so that the walk keeps no path while it succeeds.
type ruleError struct {
	reason string
	steps  []string // innermost first
}

func (e *ruleError) Error() string { return e.reason }

func (c *scanner) fail(reason string) error { return &ruleError{reason: reason} }

// inElement adds element i's step to a broken rule coming out of it.
func inElement(err error, i int) error {
	if e, ok := err.(*ruleError); ok {
		e.steps = append(e.steps, "["+strconv.Itoa(i)+"]")
	}
	return err
}

// inMember adds the step of the member whose key is written at out[keyStart:keyEnd] to a broken rule
// coming out of its value. Nothing after the key has been cut from out yet.
func (c *scanner) inMember(err error, keyStart, keyEnd int) error {
	if e, ok := err.(*ruleError); ok {
		e.steps = append(e.steps, keyStep(c.out[keyStart:keyEnd]))
	}
	return err
}

// located turns a broken rule into the *PayloadError that names its place; a syntax error is one
// already.
func located(err error) error {
	e, ok := err.(*ruleError)
	if !ok {
		return err
	}
	var b strings.Builder
	b.WriteString("payload")
	for i := len(e.steps) - 1; i >= 0; i-- {
		b.WriteString(e.steps[i])
	}
	return &PayloadError{Path: b.String(), Reason: e.reason}
}

func (c *scanner) syntax(reason string) error {
	return &PayloadError{Path: "payload", Reason: fmt.Sprintf("is not valid JSON: %s at offset %d", reason, c.pos)}
}

// keyStep is a key, in its written form, as a step of a path: .name for an identifier, ["..."]
// quoted otherwise, cut at maxKeyShown bytes.
func keyStep(quoted []byte) string {
	var key string
	_ = json.Unmarshal(quoted, &key) // quoted is JSON the scanner wrote; a lone surrogate shows as U+FFFD
	if isIdentifier(key) && len(key) <= maxKeyShown {
		return "." + key
	}
	cut := ""
	if len(key) > maxKeyShown {
		n := maxKeyShown
		for n > 0 && !utf8.RuneStart(key[n]) {
			n--
		}
		key, cut = key[:n], "…"
	}
	return "[" + strconv.Quote(key) + cut + "]"
}

func isIdentifier(s string) bool {
	for i, r := range s {
		letter := r == '_' || r == '$' || ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z')
		if !letter && (i == 0 || r < '0' || r > '9') {
			return false
		}
	}
	return s != ""
}

func (c *scanner) space() {
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

// value walks the value at c.pos, inside depth arrays and objects.
func (c *scanner) value(depth int) error {
	if c.pos >= len(c.in) {
		return c.syntax("unexpected end")
	}
	switch b := c.in[c.pos]; {
	case b == '{' || b == '[':
		if depth >= c.maxDepth {
			return c.fail(fmt.Sprintf("is nested deeper than %d levels", c.maxDepth))
		}
		if b == '{' {
			return c.object(depth + 1)
		}
		return c.array(depth + 1)
	case b == '"':
		return c.string("string")
	case b == '-' || ('0' <= b && b <= '9'):
		return c.number()
	case b == 't':
		return c.literal("true")
	case b == 'f':
		return c.literal("false")
	case b == 'n':
		return c.literal("null")
	}
	return c.syntax(fmt.Sprintf("unexpected character %q", c.in[c.pos]))
}

func (c *scanner) literal(word string) error {
	if len(c.in)-c.pos < len(word) || string(c.in[c.pos:c.pos+len(word)]) != word {
		return c.syntax("invalid literal")
	}
	c.pos += len(word)
	c.out = append(c.out, word...)
	return nil
}

// open writes the '[' or '{' at c.pos and reports whether end follows at once, writing it too.
func (c *scanner) open(end byte) (empty bool) {
	c.out = append(c.out, c.in[c.pos])
	c.pos++
	c.space()
	if c.pos < len(c.in) && c.in[c.pos] == end {
		c.pos++
		c.out = append(c.out, end)
		return true
	}
	return false
}

func (c *scanner) array(depth int) error {
	if c.open(']') {
		return nil
	}
	for i := 0; ; i++ {
		c.space()
		if err := c.value(depth); err != nil {
			return inElement(err, i)
		}
		if more, err := c.next(']', "array"); !more {
			if err == nil {
				c.out = append(c.out, ']')
			}
			return err
		}
	}
}

// next reads what follows an array element or object member: true after a ',' (written), when another
// follows; false after the closing end, which is left for the caller to write (an object may first
// be rewritten).
func (c *scanner) next(end byte, what string) (bool, error) {
	c.space()
	if c.pos >= len(c.in) {
		return false, c.syntax("unterminated " + what)
	}
	switch c.in[c.pos] {
	case ',':
		c.pos++
		c.out = append(c.out, ',')
		return true, nil
	case end:
		c.pos++
		return false, nil
	}
	return false, c.syntax("expected ',' or '" + string(end) + "'")
}

// linearDedupLimit is how many members an object may have before duplicate keys are looked up in a map
// rather than by scanning: small objects, the usual case, then cost no allocation, and a payload with tens
// of thousands of keys still costs linear time.
const linearDedupLimit = 16

func (c *scanner) object(depth int) error {
	start := len(c.out)
	if c.open('}') {
		return nil
	}
	base := len(c.members)
	var seen map[string]int // written key -> index in c.members, once the object is large
	reorder := false        // true when JavaScript's order or the set of members differs from what was written
	lastIndex := int64(-1)
	for {
		c.space()
		if c.pos >= len(c.in) || c.in[c.pos] != '"' {
			return c.syntax("expected a string key")
		}
		// A key is named by the path of its object: it is the key that is wrong, not its value.
		m := member{keyStart: len(c.out)}
		if err := c.string("key"); err != nil {
			return err
		}
		m.keyEnd = len(c.out)
		m.index = arrayIndex(c.out[m.keyStart:m.keyEnd])
		c.space()
		if c.pos >= len(c.in) || c.in[c.pos] != ':' {
			return c.syntax("expected ':' after a key")
		}
		c.pos++
		c.out = append(c.out, ':')
		c.space()
		m.valStart = len(c.out)
		if err := c.value(depth); err != nil {
			return c.inMember(err, m.keyStart, m.keyEnd)
		}
		m.valEnd = len(c.out)

		// Written key bytes are equal exactly when the keys are equal, so they serve for duplicates.
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

		if more, err := c.next('}', "object"); !more {
			if err != nil {
				return err
			}
			if reorder {
				c.rewrite(start, c.members[base:])
			} else {
				c.out = append(c.out, '}')
			}
			c.members = c.members[:base]
			return nil
		}
	}
}

// rewrite replaces the object written from start with its members in JavaScript's order: array indices
// ascending, then the rest in the order they first appeared, each with its last value.
func (c *scanner) rewrite(start int, ms []member) {
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

// arrayIndex returns the array index a written quoted key names, or -1: "0" and digit strings without a
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

// string parses a JSON string at c.pos, a value or a key as what says, and writes it as
// JSON.stringify quotes it.
func (c *scanner) string(what string) error {
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
			return c.syntax("unterminated string")
		}
		switch b := c.in[c.pos]; {
		case b == '"':
			c.pos++
			c.out = append(c.out, '"')
			return nil
		case b < 0x20:
			return c.syntax("control character in a string")
		case b >= utf8.RuneSelf:
			r, size := utf8.DecodeRune(c.in[c.pos:])
			if r == utf8.RuneError && size == 1 {
				return c.fail("holds a " + what + " that is not valid UTF-8")
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

// escape decodes one escape sequence at c.pos and writes it as JSON.stringify does: the character
// raw, or escaped as JSON requires.
func (c *scanner) escape() error {
	if c.pos+1 >= len(c.in) {
		return c.syntax("unterminated escape")
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
			return c.syntax(`invalid \u escape`)
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
			return c.loneSurrogate(u)
		case 0xDC00 <= u && u < 0xE000:
			return c.loneSurrogate(u)
		default:
			c.out = appendRune(c.out, rune(u))
		}
	default:
		c.pos--
		return c.syntax("invalid escape")
	}
	return nil
}

// loneSurrogate refuses a lone surrogate escape under the rules; otherwise it writes it escaped, as
// well-formed JSON.stringify (ES2019) does rather than emit invalid UTF-16.
func (c *scanner) loneSurrogate(u uint16) error {
	if c.rules {
		return c.fail(fmt.Sprintf(`holds a lone UTF-16 surrogate \u%04x, which is not a character`, u))
	}
	c.out = appendEscape(c.out, u)
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

// number parses a JSON number and writes it as ECMAScript's Number::toString writes the double it
// rounds to; under the rules, one beyond a double's range is refused.
func (c *scanner) number() error {
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
		c.digits()
	default:
		return c.syntax("invalid number")
	}
	integer := c.pos
	if c.pos < len(c.in) && c.in[c.pos] == '.' {
		c.pos++
		if !c.digits() {
			return c.syntax("invalid number: no digits after '.'")
		}
	}
	if c.pos < len(c.in) && (c.in[c.pos] == 'e' || c.in[c.pos] == 'E') {
		c.pos++
		if c.pos < len(c.in) && (c.in[c.pos] == '+' || c.in[c.pos] == '-') {
			c.pos++
		}
		if !c.digits() {
			return c.syntax("invalid number: no digits in the exponent")
		}
	}
	lit := c.in[start:c.pos]
	// Fast path: an integer of at most 15 digits is exact in a double and Number::toString writes it as
	// is; only "-0" differs, since toString writes negative zero as "0".
	if integer == c.pos && integer-digits <= 15 {
		if neg && integer-digits == 1 && c.in[digits] == '0' {
			lit = lit[1:]
		}
		c.out = append(c.out, lit...)
		return nil
	}
	// The grammar is checked, so ParseFloat fails only out of range: ±Inf on overflow, as JSON.parse
	// reads it, and ±0 on underflow.
	f, _ := strconv.ParseFloat(string(lit), 64)
	if c.rules && math.IsInf(f, 0) {
		return c.fail(fmt.Sprintf("holds the number %s, out of the range of a double (JavaScript reads it as Infinity)",
			shortLiteral(lit)))
	}
	c.out = appendNumber(c.out, f)
	return nil
}

func (c *scanner) digits() bool {
	start := c.pos
	for c.pos < len(c.in) && '0' <= c.in[c.pos] && c.in[c.pos] <= '9' {
		c.pos++
	}
	return c.pos > start
}

// shortLiteral shows a number literal in an error, cut if it is long.
func shortLiteral(lit []byte) string {
	if len(lit) > 40 {
		return string(lit[:40]) + "…"
	}
	return string(lit)
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
