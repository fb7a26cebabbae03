package delivery

import (
	"encoding/hex"
	"regexp"
	"strings"
	"testing"
	"time"
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

var (
	uuidV5Form = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	uuidV8Form = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
)

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

// The known answer is computed independently with Python, with ms = 1796321660123:
//
//	ns = bytes.fromhex("376cd0e646d146c38b27f43a05395b48")
//	h = hashlib.sha1(ns + f"{len(e)}:{e}{w}".encode()).digest()
//	b = bytearray(ms.to_bytes(6, "big") + h[:10]); b[6] = b[6]&0x0f|0x80; b[8] = b[8]&0x3f|0x80
//	uuid.UUID(bytes=bytes(b))
func TestOrderedID(t *testing.T) {
	t.Parallel()
	const e, w = "0b8a3c1e-2f4d-4e6a-9b7c-1d2e3f4a5b6c", "5f0c6d1e-8a1b-4c2d-9e3f-0a1b2c3d4e5f"
	at := time.Date(2026, 12, 3, 18, 14, 20, 123456789, time.UTC)
	got := OrderedID(e, w, at)
	if want := "01a23d1d-4cdb-823e-986d-b4369115120d"; got != want {
		t.Errorf("OrderedID = %s, want %s", got, want)
	}
	ms := at.Truncate(time.Millisecond)
	if got != OrderedID(e, w, ms) || got != OrderedID(e, w, ms.Add(999*time.Microsecond)) || got != OrderedID(e, w, at.In(time.FixedZone("x", 3600))) {
		t.Errorf("OrderedID differs within the same millisecond")
	}
	if got := formatUUID(orderedSpace); got != "376cd0e6-46d1-46c3-8b27-f43a05395b48" {
		t.Errorf("orderedSpace = %s", got)
	}
	// The first 48 bits are the time in Unix milliseconds.
	first, err := hex.DecodeString(strings.ReplaceAll(got[:13], "-", ""))
	if err != nil {
		t.Fatal(err)
	}
	var millis int64
	for _, b := range first {
		millis = millis<<8 | int64(b)
	}
	if millis != at.UnixMilli() {
		t.Errorf("the first 48 bits of %s are %d, want %d", got, millis, at.UnixMilli())
	}

	// Ids of events published later sort after, whatever their names; one event's ids to several
	// webhooks differ; and every id is a lowercase version 8, RFC 9562 variant UUID.
	distinct := map[string]bool{}
	prev := ""
	for i, step := range []time.Duration{0, time.Millisecond, time.Second, time.Hour, 24 * 365 * time.Hour} {
		for _, hook := range []string{"a", "b"} {
			id := OrderedID(strings.Repeat("e", i+1), hook, at.Add(step))
			if !uuidV8Form.MatchString(id) {
				t.Errorf("OrderedID = %s is not a lowercase version 8, RFC 9562 variant UUID", id)
			}
			if distinct[id] {
				t.Errorf("OrderedID %s given twice", id)
			}
			distinct[id] = true
		}
		id := OrderedID(strings.Repeat("z", 10-i), "z", at.Add(step))
		if id <= prev {
			t.Errorf("an event published %v after gives %s, not after %s", step, id, prev)
		}
		prev = id
	}
	// The name is hashed as ID hashes it: length-prefixed, in its own namespace.
	if OrderedID("ab", "c", at) == OrderedID("a", "bc", at) {
		t.Error(`("ab","c") and ("a","bc") give the same id`)
	}
	if OrderedID(e, w, at)[14:] == ID(e, w)[14:] {
		t.Error("the ordered id's hash is the UUIDv5's")
	}
}

// TestSchedulingID keeps today's UUIDv5 for an event published before ordered ids (OrderedID false)
// and gives the ordered id otherwise.
func TestSchedulingID(t *testing.T) {
	t.Parallel()
	const e, w = "0b8a3c1e-2f4d-4e6a-9b7c-1d2e3f4a5b6c", "5f0c6d1e-8a1b-4c2d-9e3f-0a1b2c3d4e5f"
	at := time.Date(2026, 12, 3, 18, 14, 20, 123456789, time.UTC)
	s := Scheduling{EventID: e, WebhookID: w, PublishedAt: at}
	if got, want := s.ID(), "5164a6bf-f374-59fd-bffc-a6c9ab3ab234"; got != want {
		t.Errorf("ID without OrderedID = %s, want the UUIDv5 %s", got, want)
	}
	s.OrderedID = true
	if got, want := s.ID(), "01a23d1d-4cdb-823e-986d-b4369115120d"; got != want {
		t.Errorf("ID with OrderedID = %s, want %s", got, want)
	}
}
