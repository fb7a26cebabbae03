package jsonwalk

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"
)

// Field is one member of a flat object that Fields reads: its JSON name, matched exactly, and a
// pointer to where its value goes: a *string, *json.RawMessage, *json.Number, *int, *int64, *bool
// or *time.Time.
type Field struct {
	Name string
	Into any
}

// Fields reads the valid JSON object raw into fields as json.Unmarshal would, when raw has the plain
// shape: every key one of the fields' names exactly, each once, and each value of its field's JSON
// kind (a string for a string, an integer for an int, a number for a json.Number, true or false, a
// time's string). Anything else (a key not among them, a null, another case, 1.0 for an int) gives
// false, and the caller leaves raw to json.Unmarshal. At most 64 fields.
func Fields(raw []byte, fields []Field) bool { return Members(raw, setter(fields)) }

// ValidFields is Valid(raw) && Fields(raw, fields), in one pass.
func ValidFields(raw []byte, fields []Field) bool { return ValidMembers(raw, setter(fields)) }

// setter is the member function of Fields: it sets the field a key names, once.
func setter(fields []Field) func(key, value []byte) bool {
	var seen uint64
	return func(key, value []byte) bool {
		for i, f := range fields {
			if f.Name == string(key) {
				if seen&(1<<i) != 0 {
					return false
				}
				seen |= 1 << i
				return set(f.Into, value)
			}
		}
		return false
	}
}

// set reads the valid JSON value into the field p points to, as json.Unmarshal would when the value
// has the field's JSON kind; it returns false otherwise.
func set(p any, value []byte) (ok bool) {
	switch p := p.(type) {
	case *string:
		*p, ok = String(value)
		return ok
	case *json.RawMessage:
		*p = bytes.Clone(value) // a copy, as json.Unmarshal makes
		return true
	case *json.Number:
		if c := value[0]; c != '-' && (c < '0' || c > '9') {
			return false
		}
		*p = json.Number(value)
		return true
	case *int:
		// An integer literal, as json.Unmarshal takes for an int: no fraction, no exponent.
		n, err := strconv.ParseInt(string(value), 10, 64)
		*p = int(n)
		return err == nil && int64(*p) == n
	case *int64:
		n, err := strconv.ParseInt(string(value), 10, 64)
		*p = n
		return err == nil
	case *bool:
		*p = string(value) == "true"
		return *p || string(value) == "false"
	case *time.Time:
		// json.Unmarshal hands the value to the time as well.
		return value[0] == '"' && p.UnmarshalJSON(value) == nil
	}
	return false
}
