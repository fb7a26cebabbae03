package publication

import (
	"fmt"
	"math"
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
//     MaxPayloadBytes written as JSON.stringify writes it (numbers such as 1e20 grow there).
//
// What stays accepted reads in JavaScript as a double does: integers beyond 2^53 round, -0 is 0
// once re-serialised, 1e-400 is 0; a duplicated key keeps its last value at its first place.
const (
	// MaxPayloadDepth bounds how deeply a payload nests arrays and objects.
	MaxPayloadDepth = 64
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
// Publish) to raw and returns the first broken one as a *PayloadError, or nil. It allocates only for
// the error, and its recursion is bounded by MaxPayloadDepth.
func CheckPayload(raw []byte) error {
	c := checker{in: raw}
	c.space()
	if c.pos >= len(c.in) || c.in[c.pos] != '{' {
		return &PayloadError{Path: "payload", Reason: "must be a JSON object"}
	}
	if err := c.value(); err != nil {
		return err
	}
	c.space()
	if c.pos != len(c.in) {
		return c.syntax("data after the JSON object")
	}
	if c.size > MaxPayloadBytes {
		return &PayloadError{Path: "payload", Reason: fmt.Sprintf(
			"is over %d bytes as delivered (JSON.stringify's form, where numbers such as 1e20 are written out)", MaxPayloadBytes)}
	}
	return nil
}

// checker walks a payload once. size counts the bytes of JSON.stringify's form, the form a delivery
// carries, counting every member of an object even when a later duplicate replaces it: an upper
// bound that is exact for payloads without duplicate keys.
type checker struct {
	in   []byte
	pos  int
	size int
	path []step // the members and elements being walked, outermost first
}

// step is one level of the path: an element's index, or a member's key as its offsets in the input.
type step struct {
	index            int
	keyStart, keyEnd int // the key's quoted bytes; keyEnd is 0 for an array element
}

func (c *checker) fail(reason string) error {
	var b strings.Builder
	b.WriteString("payload")
	for _, s := range c.path {
		if s.keyEnd == 0 {
			fmt.Fprintf(&b, "[%d]", s.index)
			continue
		}
		writeKey(&b, c.in[s.keyStart:s.keyEnd])
	}
	return &PayloadError{Path: b.String(), Reason: reason}
}

func (c *checker) syntax(reason string) error {
	return &PayloadError{Path: "payload", Reason: fmt.Sprintf("is not valid JSON: %s at offset %d", reason, c.pos)}
}

// writeKey writes a key that has passed the rules as a step of a path: .name for an identifier,
// ["..."] quoted otherwise, cut at maxKeyShown bytes.
func writeKey(b *strings.Builder, quoted []byte) {
	key, ok := unquote(quoted)
	if !ok {
		key = string(quoted[1 : len(quoted)-1])
	}
	if isIdentifier(key) && len(key) <= maxKeyShown {
		b.WriteString("." + key)
		return
	}
	cut := ""
	if len(key) > maxKeyShown {
		n := maxKeyShown
		for n > 0 && !utf8.RuneStart(key[n]) {
			n--
		}
		key, cut = key[:n], "…"
	}
	b.WriteString("[" + strconv.Quote(key) + cut + "]")
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

// unquote decodes a quoted key the checker accepted; only used to name it in an error.
func unquote(quoted []byte) (string, bool) {
	var b strings.Builder
	for i := 1; i < len(quoted)-1; i++ {
		if quoted[i] != '\\' {
			b.WriteByte(quoted[i])
			continue
		}
		i++
		switch e := quoted[i]; e {
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'u':
			u, ok := hex4(quoted[i+1:])
			if !ok {
				return "", false
			}
			i += 4
			r := rune(u)
			if 0xD800 <= u && u < 0xDC00 {
				lo, _ := hex4(quoted[i+3:])
				r = 0x10000 + (r-0xD800)<<10 + (rune(lo) - 0xDC00)
				i += 6
			}
			b.WriteRune(r)
		default:
			b.WriteByte(e)
		}
	}
	return b.String(), true
}

func (c *checker) space() {
	for c.pos < len(c.in) {
		switch c.in[c.pos] {
		case ' ', '\t', '\n', '\r':
			c.pos++
		default:
			return
		}
	}
}

func (c *checker) value() error {
	if c.pos >= len(c.in) {
		return c.syntax("unexpected end")
	}
	switch b := c.in[c.pos]; {
	case b == '{' || b == '[':
		// The path holds one step per enclosing array or object, so its length is the depth.
		if len(c.path) >= MaxPayloadDepth {
			return c.fail(fmt.Sprintf("is nested deeper than %d levels", MaxPayloadDepth))
		}
		if b == '{' {
			return c.object()
		}
		return c.array()
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

func (c *checker) literal(word string) error {
	if !strings.HasPrefix(string(c.in[c.pos:min(len(c.in), c.pos+len(word))]), word) {
		return c.syntax("invalid literal")
	}
	c.pos += len(word)
	c.size += len(word)
	return nil
}

func (c *checker) array() error {
	c.pos++
	c.size += 2
	c.space()
	if c.pos < len(c.in) && c.in[c.pos] == ']' {
		c.pos++
		return nil
	}
	c.path = append(c.path, step{})
	defer func() { c.path = c.path[:len(c.path)-1] }()
	for i := 0; ; i++ {
		c.path[len(c.path)-1].index = i
		c.space()
		if err := c.value(); err != nil {
			return err
		}
		c.space()
		if c.pos >= len(c.in) {
			return c.syntax("unterminated array")
		}
		switch c.in[c.pos] {
		case ',':
			c.pos++
			c.size++
		case ']':
			c.pos++
			return nil
		default:
			return c.syntax("expected ',' or ']'")
		}
	}
}

func (c *checker) object() error {
	c.pos++
	c.size += 2
	c.space()
	if c.pos < len(c.in) && c.in[c.pos] == '}' {
		c.pos++
		return nil
	}
	for {
		c.space()
		if c.pos >= len(c.in) || c.in[c.pos] != '"' {
			return c.syntax("expected a string key")
		}
		// A key is named by the path of its object: it is the key that is wrong, not its value.
		keyStart := c.pos
		if err := c.string("key"); err != nil {
			return err
		}
		key := step{keyStart: keyStart, keyEnd: c.pos}
		c.space()
		if c.pos >= len(c.in) || c.in[c.pos] != ':' {
			return c.syntax("expected ':' after a key")
		}
		c.pos++
		c.size++
		c.space()
		c.path = append(c.path, key)
		if err := c.value(); err != nil {
			return err
		}
		c.path = c.path[:len(c.path)-1]
		c.space()
		if c.pos >= len(c.in) {
			return c.syntax("unterminated object")
		}
		switch c.in[c.pos] {
		case ',':
			c.pos++
			c.size++
		case '}':
			c.pos++
			return nil
		default:
			return c.syntax("expected ',' or '}'")
		}
	}
}

// string checks a string, a value or a key as what says, and counts it as JSON.stringify writes it.
func (c *checker) string(what string) error {
	c.pos++
	c.size += 2
	for c.pos < len(c.in) {
		b := c.in[c.pos]
		switch {
		case b == '"':
			c.pos++
			return nil
		case b < 0x20:
			return c.syntax("control character in a string")
		case b == '\\':
			if err := c.escape(); err != nil {
				return err
			}
		case b < utf8.RuneSelf:
			c.pos++
			c.size++
		default:
			r, n := utf8.DecodeRune(c.in[c.pos:])
			if r == utf8.RuneError && n == 1 {
				return c.fail("holds a " + what + " that is not valid UTF-8")
			}
			c.pos += n
			c.size += n
		}
	}
	return c.syntax("unterminated string")
}

// escape checks one escape sequence, and counts what JSON.stringify writes for it: the character
// raw, or escaped as JSON requires.
func (c *checker) escape() error {
	if c.pos+1 >= len(c.in) {
		return c.syntax("unterminated escape")
	}
	e := c.in[c.pos+1]
	c.pos += 2
	switch e {
	case '"', '\\', 'b', 'f', 'n', 'r', 't':
		c.size += 2
		return nil
	case '/':
		c.size++
		return nil
	case 'u':
	default:
		c.pos--
		return c.syntax("invalid escape")
	}
	u, ok := hex4(c.in[c.pos:])
	if !ok {
		return c.syntax(`invalid \u escape`)
	}
	c.pos += 4
	switch {
	case 0xD800 <= u && u < 0xDC00:
		if len(c.in)-c.pos >= 6 && c.in[c.pos] == '\\' && c.in[c.pos+1] == 'u' {
			if lo, ok := hex4(c.in[c.pos+2:]); ok && 0xDC00 <= lo && lo < 0xE000 {
				c.pos += 6
				c.size += 4 // a character beyond U+FFFF, four bytes of UTF-8
				return nil
			}
		}
		return c.fail(fmt.Sprintf(`holds a lone UTF-16 surrogate \u%04x, which is not a character`, u))
	case 0xDC00 <= u && u < 0xE000:
		return c.fail(fmt.Sprintf(`holds a lone UTF-16 surrogate \u%04x, which is not a character`, u))
	case u == '"' || u == '\\' || u == '\b' || u == '\f' || u == '\n' || u == '\r' || u == '\t':
		c.size += 2
	case u < 0x20:
		c.size += 6
	default:
		c.size += utf8.RuneLen(rune(u))
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

// number checks a number's grammar and range, and counts it as ECMAScript's Number::toString writes
// the double it rounds to.
func (c *checker) number() error {
	start := c.pos
	if c.in[c.pos] == '-' {
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
	// An integer of at most 15 digits is exact in a double and written as it is (-0 as 0).
	if integer == c.pos && integer-digits <= 15 {
		c.size += c.pos - start
		if c.pos-start == 2 && c.in[start] == '-' && c.in[digits] == '0' {
			c.size--
		}
		return nil
	}
	f, err := strconv.ParseFloat(string(c.in[start:c.pos]), 64)
	if math.IsInf(f, 0) {
		return c.fail(fmt.Sprintf("holds the number %s, out of the range of a double (JavaScript reads it as Infinity)",
			shortLiteral(c.in[start:c.pos])))
	}
	if err != nil && f != 0 {
		return c.syntax("invalid number")
	}
	c.size += numberLength(f)
	return nil
}

func (c *checker) digits() bool {
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

// numberLength is the length of ECMAScript's Number::toString(f) for a finite f: the shortest
// digits that round-trip (strconv's), laid out as the specification says.
func numberLength(f float64) int {
	if f == 0 {
		return 1
	}
	var buf [32]byte
	e := strconv.AppendFloat(buf[:0], f, 'e', -1, 64) // [-]d[.ddd]e±xx
	sign := 0
	if e[0] == '-' {
		sign, e = 1, e[1:]
	}
	mark := strings.IndexByte(string(e), 'e')
	k := mark
	if k > 1 {
		k-- // the '.'
	}
	exp, _ := strconv.Atoi(string(e[mark+1:]))
	n := exp + 1
	switch {
	case k <= n && n <= 21:
		return sign + n
	case 0 < n && n <= 21:
		return sign + k + 1
	case -6 < n && n <= 0:
		return sign + 2 - n + k
	}
	length := sign + k + 2 + len(strconv.Itoa(abs(n-1))) // d[.ddd]e±x
	if k > 1 {
		length++
	}
	return length
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}
