package jsonwalk

// IsCompact reports whether b is valid JSON exactly as encoding/json writes a json.RawMessage it
// marshals: compacted (no whitespace outside strings) and with '<', '>', '&', U+2028 and U+2029
// escaped. For such bytes Marshal's own pass (validate, compact, escape) changes nothing, so they
// may be appended as they are. It is one quick pass, several times faster than encoding/json's
// scanner. Nesting deeper than encoding/json allows is reported as not compact, so that a caller
// falls back to encoding/json and its error.
func IsCompact(b []byte) bool {
	end, ok := checker{compact: true}.value(b, 0, 0)
	return ok && end == len(b)
}

// Valid is json.Valid, several times faster.
func Valid(b []byte) bool {
	c := checker{}
	end, ok := c.value(b, skipSpace(b, 0), 0)
	return ok && skipSpace(b, end) == len(b)
}

// ValidMembers is Valid(raw) && Members(raw, f), in one pass: it returns false when raw is not
// valid JSON, not an object, or f returned false. f sees only members checked already, but it may
// have seen some before a later byte makes raw invalid: what it read counts only when ValidMembers
// returns true.
func ValidMembers(raw []byte, f func(key, value []byte) bool) bool {
	i := skipSpace(raw, 0)
	if i == len(raw) || raw[i] != '{' {
		return false
	}
	end, ok := checker{}.object(raw, i, 0, func(key, value []byte) bool { return f(unquoteKey(key), value) })
	return ok && skipSpace(raw, end) == len(raw)
}

// checker checks JSON values; compact refuses what IsCompact refuses, else it is json.Valid.
type checker struct{ compact bool }

// space returns the index of the first byte at or after i that is not whitespace, when whitespace
// is allowed.
func (c checker) space(b []byte, i int) int {
	if c.compact {
		return i
	}
	return skipSpace(b, i)
}

// maxDepth is encoding/json's bound on nesting.
const maxDepth = 10000

// value checks the value that starts at b[i] and returns the index after it.
func (ch checker) value(b []byte, i, depth int) (int, bool) {
	if i >= len(b) {
		return i, false
	}
	switch c := b[i]; {
	case c == '"':
		return ch.string(b, i)
	case c == '{':
		return ch.object(b, i, depth, nil)
	case c == '[':
		var more, ok bool
		depth++
		for i, more, ok = ch.open(b, i, depth, ']'); more; i, more, ok = ch.next(b, i, ']') {
			if i, ok = ch.value(b, i, depth); !ok {
				return i, false
			}
		}
		return i, ok
	case c == '-' || ('0' <= c && c <= '9'):
		return number(b, i)
	case c == 't':
		return literal(b, i, "true")
	case c == 'f':
		return literal(b, i, "false")
	case c == 'n':
		return literal(b, i, "null")
	}
	return i, false
}

// object checks the object whose '{' is at b[i] and returns the index after it. When member is
// not nil, it is called with each member's key (quoted, as it stands) and value once both are
// checked, and the check stops when it returns false.
func (ch checker) object(b []byte, i, depth int, member func(key, value []byte) bool) (int, bool) {
	var more, ok bool
	depth++
	for i, more, ok = ch.open(b, i, depth, '}'); more; i, more, ok = ch.next(b, i, '}') {
		if i >= len(b) || b[i] != '"' {
			return i, false
		}
		key := i
		if i, ok = ch.string(b, i); !ok {
			return i, false
		}
		keyEnd := i
		if i = ch.space(b, i); i >= len(b) || b[i] != ':' {
			return i, false
		}
		start := ch.space(b, i+1)
		if i, ok = ch.value(b, start, depth); !ok {
			return i, false
		}
		if member != nil && !member(b[key:keyEnd], b[start:i]) {
			return i, false
		}
	}
	return i, ok
}

// open reads the '{' or '[' at b[i] that opens an object or array at depth, and what follows: the
// first member or item (more, and its index) or the closing byte of an empty one (the index after
// it). ok is false deeper than maxDepth.
func (ch checker) open(b []byte, i, depth int, closing byte) (next int, more, ok bool) {
	if depth > maxDepth {
		return i, false, false
	}
	if i = ch.space(b, i+1); i < len(b) && b[i] == closing {
		return i + 1, false, true
	}
	return i, true, true
}

// next reads what follows a member or an item that ends at b[i]: a ',' and another (more, and the
// index of the next), or the object's or array's closing byte (the index after it).
func (ch checker) next(b []byte, i int, closing byte) (next int, more, ok bool) {
	if i = ch.space(b, i); i < len(b) {
		switch b[i] {
		case ',':
			return ch.space(b, i+1), true, true
		case closing:
			return i + 1, false, true
		}
	}
	return i, false, false
}

func literal(b []byte, i int, word string) (int, bool) {
	if len(b)-i < len(word) || string(b[i:i+len(word)]) != word {
		return i, false
	}
	return i + len(word), true
}

// string checks the string that starts with the quote at b[i]. Like encoding/json's scanner it
// takes any byte from 0x20 up, invalid UTF-8 included; when compact, it refuses what Marshal would
// escape: '<', '>', '&' and U+2028, U+2029 (E2 80 A8, E2 80 A9).
func (ch checker) string(b []byte, i int) (int, bool) {
	special := &validSpecial
	if ch.compact {
		special = &compactSpecial
	}
	for i++; i < len(b); i++ {
		for i < len(b) && !special[b[i]] {
			i++ // the common case, in a loop of its own
		}
		if i == len(b) {
			break
		}
		switch c := b[i]; {
		case c == '"':
			return i + 1, true
		case c == '\\':
			i++
			if i >= len(b) {
				return i, false
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if len(b)-i <= 4 {
					return i, false
				}
				for _, h := range b[i+1 : i+5] {
					if !('0' <= h && h <= '9' || 'a' <= h && h <= 'f' || 'A' <= h && h <= 'F') {
						return i, false
					}
				}
				i += 4
			default:
				return i, false
			}
		case c < 0x20:
			return i, false
		case !ch.compact:
		case c == '<', c == '>', c == '&':
			return i, false
		case c == 0xE2 && i+2 < len(b) && b[i+1] == 0x80 && b[i+2]&^1 == 0xA8:
			return i, false
		}
	}
	return i, false
}

// number checks the number that starts at b[i]: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func number(b []byte, i int) (int, bool) {
	digits := func(i int) (int, bool) {
		start := i
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		return i, i > start
	}
	if b[i] == '-' {
		i++
	}
	if i >= len(b) {
		return i, false
	}
	var ok bool
	if b[i] == '0' {
		i++
	} else if i, ok = digits(i); !ok {
		return i, false
	}
	if i < len(b) && b[i] == '.' {
		if i, ok = digits(i + 1); !ok {
			return i, false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i, ok = digits(i); !ok {
			return i, false
		}
	}
	return i, true
}

// validSpecial marks the bytes a string's check must look at: its end, escapes and control
// characters; compactSpecial adds what Marshal escapes.
var validSpecial, compactSpecial = special('"', '\\'), special('"', '\\', '<', '>', '&', 0xE2)

func special(marked ...byte) (t [256]bool) {
	for c := range 0x20 {
		t[c] = true
	}
	for _, c := range marked {
		t[c] = true
	}
	return t
}
