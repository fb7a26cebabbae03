package sqlitestore

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"testing"
)

// TestDictionaryNeverChanges: rows compressed with dictionary 1 read back only with exactly its
// bytes, so an edit to the file would make every such row unreadable.
func TestDictionaryNeverChanges(t *testing.T) {
	sum := sha256.Sum256(dictionary1)
	if got, want := hex.EncodeToString(sum[:]), "1dc4fc002555270f911af453874cc598d2b86ed47184b9b336eb63cc1f2f298e"; got != want {
		t.Fatalf("dictionary-1.txt has SHA-256 %s, want %s: add a new dictionary and codec instead of editing it", got, want)
	}
}

// FuzzUnpackEvent: whatever a damaged or hostile file holds in a row, reading it returns the
// bytes that were packed or an error; it never panics, and what a compressed value inflates to is
// bounded.
func FuzzUnpackEvent(f *testing.F) {
	record := []byte(`{"deliveryId":"01a245c3-1aa2-87bd-91b7-1eeb3c49d430","attempt":1,"at":"2026-12-05T10:32:23.983647385Z"}`)
	meta := []byte(`{"actor":"hookd-deliverer","occurredAt":"2026-12-05T10:32:23.988523727Z"}`)
	packed, _ := pack(record, meta)
	f.Add(packed, []byte(nil), int64(packedS2Dict1))
	f.Add(record, meta, int64(packedNone))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x7f, 0x00}, []byte(nil), int64(packedS2Dict1))
	f.Add([]byte{0xff, 0x00}, []byte{}, int64(packedDeflate))
	f.Fuzz(func(t *testing.T, data, metadata []byte, packed int64) {
		d, m, err := unpackEvent(data, metadata, packed)
		if err != nil {
			return
		}
		if len(d) > maxUnpacked || len(m) > maxUnpacked {
			t.Fatalf("read %d and %d bytes, over the bound %d", len(d), len(m), maxUnpacked)
		}
		if packed == packedNone && (!bytes.Equal(d, data) || !bytes.Equal(m, metadata)) {
			t.Fatal("a row stored as it came reads back changed")
		}
		// What reads back packs and reads back the same, nil parts nil.
		if again, ok := pack(d, m); ok {
			d2, m2, err := unpackEvent(again, nil, packedS2Dict1)
			if err != nil || !bytes.Equal(d2, d) || !bytes.Equal(m2, m) || (d2 == nil) != (d == nil) || (m2 == nil) != (m == nil) {
				t.Fatalf("repacking what was read: %v", err)
			}
		}
	})
}
