package delivery

import (
	"regexp"
	"testing"
)

// Known answers computed independently with Python's uuid module:
//
//	uuid.uuid5(uuid.NAMESPACE_DNS, "python.org")
//	uuid.uuid5(uuid.NAMESPACE_URL, "https://example.com/é")
//	ns = uuid.UUID("3c5e8b27-41d9-4f0a-9e63-15b27dc408f1"); uuid.uuid5(ns, f"{len(e)}:{e}{w}")
func TestUUIDv5KnownAnswers(t *testing.T) {
	t.Parallel()
	dns := [16]byte{0x6b, 0xa7, 0xb8, 0x10, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8}
	url := [16]byte{0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8}
	tests := []struct {
		namespace [16]byte
		name      string
		want      string
	}{
		{dns, "python.org", "886313e1-3b8a-5372-9b90-0c9aee199e5d"},
		{url, "https://example.com/é", "20ecd233-a9e7-5067-a96f-fd6600ca3fda"},
		{idSpace, "2:abc", "84c751bd-067e-5c0e-9a07-1da19032d972"},
		{idSpace, "1:abc", "ede5eaf0-311d-538a-8c4d-d5e22b2a49c5"},
	}
	for _, tt := range tests {
		if got := formatUUID(uuidV5(tt.namespace, []byte(tt.name))); got != tt.want {
			t.Errorf("uuidV5(%x, %q) = %s, want %s", tt.namespace, tt.name, got, tt.want)
		}
	}
	if got := formatUUID(idSpace); got != "3c5e8b27-41d9-4f0a-9e63-15b27dc408f1" {
		t.Errorf("idSpace = %s", got)
	}
}

var uuidV5Form = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestID(t *testing.T) {
	t.Parallel()
	const e, w = "0b8a3c1e-2f4d-4e6a-9b7c-1d2e3f4a5b6c", "5f0c6d1e-8a1b-4c2d-9e3f-0a1b2c3d4e5f"
	if got, want := ID(e, w), "5164a6bf-f374-59fd-bffc-a6c9ab3ab234"; got != want {
		t.Errorf("ID = %s, want %s (the ids receivers already saw)", got, want)
	}
	distinct := map[string][2]string{}
	for _, pair := range [][2]string{{e, w}, {w, e}, {"ab", "c"}, {"a", "bc"}, {"", "abc"}, {"abc", ""}, {e, e}} {
		id := ID(pair[0], pair[1])
		if !uuidV5Form.MatchString(id) {
			t.Errorf("ID%q = %s is not a lowercase version 5, RFC 4122 variant UUID", pair, id)
		}
		if prev, dup := distinct[id]; dup {
			t.Errorf("ID%q = ID%q = %s", pair, prev, id)
		}
		distinct[id] = pair
	}
}
