package delivery

import (
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	"strconv"
	"time"
)

// idSpace is the UUIDv5 namespace of delivery ids. It is part of the log's format: changing it
// changes every delivery id, and with it the webhook-id receivers deduplicate on.
var idSpace = [16]byte{0x3c, 0x5e, 0x8b, 0x27, 0x41, 0xd9, 0x4f, 0x0a, 0x9e, 0x63, 0x15, 0xb2, 0x7d, 0xc4, 0x08, 0xf1}

// orderedSpace is the namespace of the hashed part of ordered delivery ids (OrderedID), part of the
// log's format like idSpace. It is not idSpace, so that the two schemes share no bits by design.
var orderedSpace = [16]byte{0x37, 0x6c, 0xd0, 0xe6, 0x46, 0xd1, 0x46, 0xc3, 0x8b, 0x27, 0xf4, 0x3a, 0x05, 0x39, 0x5b, 0x48}

// maxOrderedMillis is the last millisecond the 48 bits of an ordered id's time hold (in the year 10889).
const maxOrderedMillis = 1<<48 - 1

// ID returns the delivery id of an event to a webhook as events published before ordered ids have
// it: the UUIDv5 (RFC 4122 section 4.3, SHA-1) in hookd's delivery namespace of the name
// len(eventID) ":" eventID webhookID, in the canonical lowercase form. The same event and webhook
// always give the same id, so scheduling again after a crash appends to the same stream instead of
// scheduling twice, and receivers see the same webhook-id on every retry and replay. The length
// prefix keeps ("ab","c") and ("a","bc") apart.
//
// Such an event's deliveries keep this id for ever (Scheduling.OrderedID is false for them): a
// dispatch of it again after an upgrade must find the deliveries scheduled before.
func ID(eventID, webhookID string) string {
	return formatUUID(uuidV5(idSpace, idName(eventID, webhookID)))
}

// OrderedID returns the delivery id of an event published at publishedAt to a webhook, as every
// event published since ordered ids has it: an RFC 9562 UUIDv8 whose first 48 bits are publishedAt
// in Unix milliseconds (big-endian), and whose last 10 bytes are the first 10 of
// SHA-1(orderedSpace || len(eventID) ":" eventID webhookID), the name ID hashes, with the version (8)
// and the variant (10) written over 6 of their bits. Deterministic like ID, given the time the log recorded for the publication; and ids of
// events published later sort after, as text and as bytes, so that each new delivery's stream name
// and read-model row land at the end of their indexes rather than on a random page
// (docs/decisions.md, "Ordered delivery ids"). A time outside 1970 to 10889 wraps; Schedule refuses it.
func OrderedID(eventID, webhookID string, publishedAt time.Time) string {
	h := sha1.New()
	h.Write(orderedSpace[:])
	h.Write(idName(eventID, webhookID))
	var u [16]byte
	binary.BigEndian.PutUint64(u[0:8], uint64(publishedAt.UnixMilli())<<16)
	copy(u[6:], h.Sum(nil))
	u[6] = u[6]&0x0f | 0x80
	u[8] = u[8]&0x3f | 0x80
	return formatUUID(u)
}

// idName is the name both schemes hash.
func idName(eventID, webhookID string) []byte {
	return []byte(strconv.Itoa(len(eventID)) + ":" + eventID + webhookID)
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
