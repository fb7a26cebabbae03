// Package jsonwalk reads JSON that is known to be valid without parsing it again, and tells quickly
// whether JSON is valid and compact as encoding/json writes it. Fuzz tests hold each answer to
// encoding/json's.
package jsonwalk

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// The functions below take apart JSON that is already known to be valid, without validating it
// again: each finds where a value ends by its brackets and quotes alone. On invalid JSON their
// answers mean nothing.

// skipSpace returns the index of the first byte at or after i that is not JSON whitespace.
func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
}

// skipString returns the index after the string that starts with the quote at b[i]: after the
// first quote not escaped, which is one after an even number of backslashes.
func skipString(b []byte, i int) int {
	for i++; ; i++ {
		q := bytes.IndexByte(b[i:], '"')
		if q < 0 {
			return len(b)
		}
		i += q
		backslashes := 0
		for j := i - 1; b[j] == '\\'; j-- {
			backslashes++
		}
		if backslashes%2 == 0 {
			return i + 1
		}
	}
}

// skipValue returns the index after the value that starts at b[i].
func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = skipString(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return len(b)
	}
	// A number, true, false or null: it ends where a delimiter or whitespace starts.
	for ; i < len(b); i++ {
		switch b[i] {
		case ',', '}', ']', ' ', '\t', '\r', '\n':
			return i
		}
	}
	return i
}

// Object returns the members of a valid JSON object as json.Unmarshal into a
// map[string]json.RawMessage would (the last of duplicate keys wins; values are the bytes as
// sent, aliasing raw); ok is false when raw is not an object.
func Object(raw []byte) (members map[string][]byte, ok bool) {
	members = make(map[string][]byte)
	ok = Members(raw, func(key, value []byte) bool {
		members[string(key)] = value
		return true
	})
	if !ok {
		return nil, false
	}
	return members, true
}

// Members calls f with each member of a valid JSON object, in order, until f returns false: its
// key, unquoted as encoding/json does, and its value; both may alias raw and are f's only during the
// call. It returns false when raw is not an object or f returned false.
func Members(raw []byte, f func(key, value []byte) bool) bool {
	i := skipSpace(raw, 0)
	if i == len(raw) || raw[i] != '{' {
		return false
	}
	for i = skipSpace(raw, i+1); i < len(raw) && raw[i] != '}'; {
		end := skipString(raw, i)
		key := unquoteKey(raw[i:end])
		start := skipSpace(raw, skipSpace(raw, end)+1) // past the ':'
		i = skipValue(raw, start)
		if !f(key, raw[start:i]) {
			return false
		}
		if i = skipSpace(raw, i); i < len(raw) && raw[i] == ',' {
			i = skipSpace(raw, i+1)
		}
	}
	return true
}

// Items returns the items of a valid JSON array, aliasing raw; ok is false when raw is not an
// array.
func Items(raw []byte) (items [][]byte, ok bool) {
	i := skipSpace(raw, 0)
	if i == len(raw) || raw[i] != '[' {
		return nil, false
	}
	for i = skipSpace(raw, i+1); i < len(raw) && raw[i] != ']'; {
		start := i
		i = skipValue(raw, start)
		items = append(items, raw[start:i])
		if i = skipSpace(raw, i); i < len(raw) && raw[i] == ',' {
			i = skipSpace(raw, i+1)
		}
	}
	return items, true
}

// unquoteKey is the bytes a quoted key stands for. A key of plain ASCII without escapes, as every
// field name is, is its bytes; any other is left to encoding/json, which also replaces invalid
// UTF-8 as it does in a decode.
func unquoteKey(quoted []byte) []byte {
	inner := quoted[1 : len(quoted)-1]
	for _, c := range inner {
		if c == '\\' || c >= 0x80 {
			var key string
			_ = json.Unmarshal(quoted, &key) // valid JSON: a string always decodes
			return []byte(key)
		}
	}
	return inner
}

// String is the string a valid JSON value stands for, as encoding/json decodes it; ok is false when
// the value is not a string. The escapes of one character (\" \n ...) and valid UTF-8 are read
// here; a string with a \u escape or invalid UTF-8 is left to encoding/json.
func String(value []byte) (string, bool) {
	if len(value) == 0 || value[0] != '"' {
		return "", false
	}
	inner := value[1 : len(value)-1]
	plain := true
	for _, c := range inner {
		if c == '\\' || c >= utf8.RuneSelf {
			plain = false
			break
		}
	}
	if plain {
		return string(inner), true
	}
	if out, ok := unescape(inner); ok {
		return string(out), true
	}
	return unmarshalString(value)
}

// unmarshalString is json.Unmarshal into a string, apart from String so that String's result
// does not move to the heap for the &s it needs.
func unmarshalString(value []byte) (s string, ok bool) {
	return s, json.Unmarshal(value, &s) == nil
}

// unescape reads the inside of a valid JSON string whose escapes are of one character and whose
// bytes are valid UTF-8; ok is false for any other.
func unescape(inner []byte) (out []byte, ok bool) {
	if !utf8.Valid(inner) {
		return nil, false
	}
	out = make([]byte, 0, len(inner))
	for {
		i := bytes.IndexByte(inner, '\\')
		if i < 0 {
			return append(out, inner...), true
		}
		out = append(out, inner[:i]...)
		c := inner[i+1]
		switch c {
		case '"', '\\', '/':
		case 'b':
			c = '\b'
		case 'f':
			c = '\f'
		case 'n':
			c = '\n'
		case 'r':
			c = '\r'
		case 't':
			c = '\t'
		default: // \u
			return nil, false
		}
		out = append(out, c)
		inner = inner[i+2:]
	}
}
