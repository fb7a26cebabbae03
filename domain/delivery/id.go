package delivery

import (
	"crypto/sha1"
	"encoding/hex"
	"strconv"
)

// idSpace is the UUIDv5 namespace of delivery ids. It is part of the log's format: changing it
// changes every delivery id, and with it the webhook-id receivers deduplicate on.
var idSpace = [16]byte{0x3c, 0x5e, 0x8b, 0x27, 0x41, 0xd9, 0x4f, 0x0a, 0x9e, 0x63, 0x15, 0xb2, 0x7d, 0xc4, 0x08, 0xf1}

// ID returns the delivery id of an event to a webhook: the UUIDv5 (RFC 4122 section 4.3, SHA-1) in
// hookd's delivery namespace of the name len(eventID) ":" eventID webhookID, in the canonical
// lowercase form. The same event and webhook always give the same id, so scheduling again after a
// crash appends to the same stream instead of scheduling twice, and receivers see the same webhook-id
// on every retry and replay. The length prefix keeps ("ab","c") and ("a","bc") apart.
func ID(eventID, webhookID string) string {
	name := strconv.Itoa(len(eventID)) + ":" + eventID + webhookID
	return formatUUID(uuidV5(idSpace, []byte(name)))
}

// uuidV5 is RFC 4122 section 4.3 with SHA-1: the first 16 bytes of SHA-1(namespace || name), with
// the version (5) in the high nibble of byte 6 and the RFC 4122 variant (10xx) in byte 8.
func uuidV5(namespace [16]byte, name []byte) [16]byte {
	h := sha1.New()
	h.Write(namespace[:])
	h.Write(name)
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = u[6]&0x0f | 0x50
	u[8] = u[8]&0x3f | 0x80
	return u
}

// formatUUID writes the 8-4-4-4-12 lowercase hex form.
func formatUUID(u [16]byte) string {
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:36], u[10:16])
	return string(b[:])
}
