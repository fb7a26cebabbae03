package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"reflect"
	"sort"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/hookd/hookd/internal/jsonwalk"
)

// decodeBody reads the request's JSON body into v strictly: an unknown field, a wrong type, trailing
// data or malformed JSON is a 400 that names the field (as a path, such as api.credential.token) or
// the offset. An empty body decodes as {}.
func decodeBody(c *fiber.Ctx, v any) error {
	if err := checkContentType(c); err != nil {
		return err
	}
	return decodeJSON(c.Body(), v)
}

// checkContentType refuses a body declared as anything but JSON; a body without a Content-Type is
// taken as JSON.
func checkContentType(c *fiber.Ctx) error {
	// The plain value, as publishers send it, needs no parse.
	if ct := c.Get(fiber.HeaderContentType); ct != "" && ct != fiber.MIMEApplicationJSON {
		if media, _, err := mime.ParseMediaType(ct); err != nil || media != fiber.MIMEApplicationJSON {
			return &apiError{status: fiber.StatusUnsupportedMediaType, message: "Content-Type must be application/json"}
		}
	}
	return nil
}

// decodeJSON is decodeBody's decode of the body's bytes.
func decodeJSON(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest(describeJSONError(err, body, reflect.TypeOf(v)))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return badRequest("body must hold a single JSON value")
	}
	// encoding/json matches field names regardless of case, so "NAME" would pass for "name": the
	// exact names are checked on the body's objects.
	if path := unknownField(body, reflect.TypeOf(v), ""); path != "" {
		return badRequest("unknown field " + path)
	}
	return nil
}

func describeJSONError(err error, body []byte, target reflect.Type) string {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return fmt.Sprintf("malformed JSON at offset %d: %v", syntax.Offset, syntax)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "body"
		}
		return fmt.Sprintf("%s must be %s, not %s", field, jsonKind(typ.Type), typ.Value)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "malformed JSON: unexpected end of body"
	}
	if _, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		// unknownField needs valid JSON, which a body with trailing data is not.
		if json.Valid(body) {
			if path := unknownField(body, target, ""); path != "" {
				return "unknown field " + path
			}
		}
		return strings.TrimPrefix(err.Error(), "json: ")
	}
	return "malformed JSON: " + err.Error()
}

// unknownField finds the path of the first field of the JSON value raw (in sorted key order) that t
// does not have under its exact name, walking objects and arrays; "" when there is none. encoding/json
// names only the last key of an unknown field, which does not tell api.foo from foo, and it ignores
// case. Only the parts of raw that t gives a struct shape are taken apart: a payload kept as
// json.RawMessage, or a map, is not. raw must be valid JSON: it is not validated again.
func unknownField(raw []byte, t reflect.Type, prefix string) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		object, ok := jsonwalk.Object(raw)
		if !ok {
			return "" // not an object: the typed decode judges that
		}
		fields := jsonFields(t)
		keys := make([]string, 0, len(object))
		for k := range object {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			path := k
			if prefix != "" {
				path = prefix + "." + k
			}
			ft, ok := fields[k]
			if !ok {
				return path
			}
			if p := unknownField(object[k], ft, path); p != "" {
				return p
			}
		}
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return "" // bytes, such as json.RawMessage: no fields
		}
		items, ok := jsonwalk.Items(raw)
		if !ok {
			return ""
		}
		for i, item := range items {
			if p := unknownField(item, t.Elem(), fmt.Sprintf("%s[%d]", prefix, i)); p != "" {
				return p
			}
		}
	}
	return ""
}

// jsonFields maps a struct's JSON names to their types, as encoding/json matches them: the fields
// of an embedded struct without a JSON name count as the outer struct's, unless it has its own of
// that name.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	fields := make(map[string]reflect.Type, t.NumField())
	var promoted []map[string]reflect.Type
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			promoted = append(promoted, jsonFields(f.Type))
			continue
		}
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		fields[name] = f.Type
	}
	for _, inner := range promoted {
		for name, ft := range inner {
			if _, ok := fields[name]; !ok {
				fields[name] = ft
			}
		}
	}
	return fields
}

// jsonKind names a Go type as a JSON caller thinks of it.
func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	}
	return "a JSON value"
}
