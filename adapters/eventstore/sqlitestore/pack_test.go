package sqlitestore_test

import (
	"bytes"
	"compress/flate"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookd/hookd/adapters/eventstore/sqlitestore"
	"github.com/hookd/hookd/domain/eventlog"
)

// TestPackedEventsReadBackAndTakeLessRoom: with CompressData, an event's data and metadata read
// back byte for byte, through ReadStream and ReadAll, from this store and from another one on the
// file that does not compress; JSON is stored compressed against the dictionary (a delivery's small
// records included), what would not shrink by an eighth is stored as it came.
func TestPackedEventsReadBackAndTakeLessRoom(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "log.db")
	s := open(t, path, sqlitestore.Options{CompressData: true})
	evs := events(4)
	evs[0].Data = bytes.Repeat([]byte(`{"user":"ada","email":"ada@example.com","roles":["admin","dev"]},`), 40)
	evs[1].Data = incompressible(2048)
	evs[2].Data = []byte(`{"small":true}`)
	evs[3].Data = []byte(`{"deliveryId":"01a245c3-1aa2-87bd-91b7-1eeb3c49d430","attempt":1,"status":200,"durationMs":4,` +
		`"at":"2026-12-05T10:32:23.983647385Z","webhookId":"694d4293-2720-4bd2-982e-4eeaea801a46","success":true}`)
	evs[3].Metadata = []byte(`{"actor":"hookd-deliverer","occurredAt":"2026-12-05T10:32:23.988523727Z"}`)
	if _, err := s.Append(t.Context(), "delivery-1", eventlog.NoStream(), evs); err != nil {
		t.Fatal(err)
	}
	other := open(t, path, sqlitestore.Options{})
	for name, store := range map[string]*sqlitestore.Store{"writer": s, "other": other} {
		got, err := store.ReadStream(t.Context(), "delivery-1", 0, 0)
		if err != nil || len(got) != len(evs) {
			t.Fatalf("%s: ReadStream: %d events, %v", name, len(got), err)
		}
		all, err := store.ReadAll(t.Context(), eventlog.Start, 0)
		if err != nil || len(all) != len(evs) {
			t.Fatalf("%s: ReadAll: %d events, %v", name, len(all), err)
		}
		for i := range evs {
			for _, read := range []eventlog.RecordedEvent{got[i], all[i]} {
				if !bytes.Equal(read.Data, evs[i].Data) || !bytes.Equal(read.Metadata, evs[i].Metadata) {
					t.Errorf("%s: event %d reads back changed", name, i)
				}
			}
		}
	}
	db, err := sql.Open("sqlite", path+"?_pragma=query_only(1)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	stored := func(revision int) (data, metadata, packed int) {
		t.Helper()
		if err := db.QueryRow(`SELECT length(data), ifnull(length(metadata), 0), packed FROM events WHERE revision = ?`, revision).
			Scan(&data, &metadata, &packed); err != nil {
			t.Fatal(err)
		}
		return data, metadata, packed
	}
	if data, _, packed := stored(0); packed != 2 || data > len(evs[0].Data)/4 {
		t.Errorf("the JSON is stored in %d bytes (packed %d), want it compressed from %d", data, packed, len(evs[0].Data))
	}
	if data, _, packed := stored(1); packed != 0 || data != len(evs[1].Data) {
		t.Errorf("random bytes are stored in %d bytes (packed %d), want them as they came", data, packed)
	}

	whole := len(evs[3].Data) + len(evs[3].Metadata)
	if data, metadata, packed := stored(3); packed != 2 || metadata != 0 || data > whole*7/8 {
		t.Errorf("an attempt is stored in %d and %d bytes (packed %d), want them compressed together by an eighth or more from %d",
			data, metadata, packed, whole)
	}
}

// TestDeflatedDataStillReads: event data that builds before dictionaries stored DEFLATE-compressed
// (packed 1) reads back as it was appended.
func TestDeflatedDataStillReads(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "log.db")
	s := open(t, path, sqlitestore.Options{})
	evs := events(1)
	want := bytes.Repeat([]byte(`{"user":"ada"},`), 100)
	if _, err := s.Append(t.Context(), "webhook-1", eventlog.NoStream(), evs); err != nil {
		t.Fatal(err)
	}
	var deflated bytes.Buffer
	w, err := flate.NewWriter(&deflated, flate.BestSpeed)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = w.Write(want)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE events SET data = ?, packed = 1`, deflated.Bytes()); err != nil {
		t.Fatal(err)
	}
	got, err := open(t, path, sqlitestore.Options{}).ReadStream(t.Context(), "webhook-1", 0, 0)
	if err != nil || len(got) != 1 || !bytes.Equal(got[0].Data, want) || !bytes.Equal(got[0].Metadata, evs[0].Metadata) {
		t.Fatalf("the deflated event reads %d events, %v", len(got), err)
	}
}

// TestDamagedPackedEventsFailTheirRead: a row whose packed value this build does not know, or
// whose compressed bytes are damaged, cut short or not a compressed block, fails the read that meets it with an error naming its
// position, rather than returning wrong bytes.
func TestDamagedPackedEventsFailTheirRead(t *testing.T) {
	t.Parallel()
	for name, update := range map[string]string{
		"unknown packing":              `UPDATE events SET packed = 7`,
		"unknown high bits":            `UPDATE events SET packed = packed | 0x70`,
		"damaged":                      `UPDATE events SET data = substr(data, 1, 10) || x'00ff00ff' || substr(data, 15)`,
		"truncated":                    `UPDATE events SET data = substr(data, 1, length(data) - 6)`,
		"plain data marked compressed": `UPDATE events SET packed = 2, data = CAST(type AS BLOB), metadata = NULL`,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "log.db")
			s := open(t, path, sqlitestore.Options{CompressData: true})
			evs := events(1)
			evs[0].Data = bytes.Repeat([]byte(`{"user":"ada","email":"ada@example.com"},`), 40)
			evs[0].Metadata = []byte(`{"actor":"hookd-deliverer","occurredAt":"2026-12-05T10:32:23.988523727Z"}`)
			if _, err := s.Append(t.Context(), "delivery-1", eventlog.NoStream(), evs); err != nil {
				t.Fatal(err)
			}
			db, err := sql.Open("sqlite", path)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if _, err := db.Exec(update); err != nil {
				t.Fatal(err)
			}
			got, err := open(t, path, sqlitestore.Options{}).ReadStream(t.Context(), "delivery-1", 0, 0)
			if err == nil || !strings.Contains(err.Error(), "position") {
				t.Fatalf("the damaged event reads %d events, error %v; want an error naming its position", len(got), err)
			}
		})
	}
}

// TestOpenMigratesAVersion1File: a file written before data was packed opens, reads as it was,
// and takes new appends.
func TestOpenMigratesAVersion1File(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "log.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.Exec(`CREATE TABLE streams (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, revision INTEGER NOT NULL);
		CREATE TABLE events (position INTEGER PRIMARY KEY, stream_id INTEGER NOT NULL, revision INTEGER NOT NULL,
			created INTEGER NOT NULL, id BLOB NOT NULL, type TEXT NOT NULL, data BLOB, metadata BLOB);
		CREATE UNIQUE INDEX events_stream_revision ON events (stream_id, revision);
		INSERT INTO streams VALUES (1, 'webhook-1', 0);
		INSERT INTO events VALUES (1, 1, 0, 1, x'00112233445566778899aabbccddeeff', 'WebhookCreated', '{"name":"old"}', '{}');
		PRAGMA user_version = 1;`)
	_ = db.Close()
	if err != nil {
		t.Fatal(err)
	}
	s := open(t, path, sqlitestore.Options{})
	got, err := s.ReadStream(t.Context(), "webhook-1", 0, 0)
	if err != nil || len(got) != 1 || string(got[0].Data) != `{"name":"old"}` {
		t.Fatalf("the old event reads %+v, %v", got, err)
	}
	if _, err := s.Append(t.Context(), "webhook-1", eventlog.Exactly(0), events(1)); err != nil {
		t.Fatalf("append after the migration: %v", err)
	}
}

// TestOpenMigratesAVersion3File: a file of version 3 (before compressed metadata and S2) opens,
// reads as it was, takes compressed appends and is marked version 4, which builds of version 3
// refuse rather than misread.
func TestOpenMigratesAVersion3File(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "log.db")
	old := open(t, path, sqlitestore.Options{})
	evs := events(1)
	if _, err := old.Append(t.Context(), "webhook-1", eventlog.NoStream(), evs); err != nil {
		t.Fatal(err)
	}
	_ = old.Close()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`PRAGMA user_version = 3`); err != nil {
		t.Fatal(err)
	}
	s := open(t, path, sqlitestore.Options{CompressData: true})
	more := events(1)
	more[0].Data = bytes.Repeat([]byte(`{"user":"ada"},`), 40)
	if _, err := s.Append(t.Context(), "webhook-1", eventlog.Exactly(0), more); err != nil {
		t.Fatalf("append after the migration: %v", err)
	}
	got, err := s.ReadStream(t.Context(), "webhook-1", 0, 0)
	if err != nil || len(got) != 2 || !bytes.Equal(got[0].Data, evs[0].Data) || !bytes.Equal(got[1].Data, more[0].Data) {
		t.Fatalf("after the migration the stream reads %d events, %v", len(got), err)
	}
	var version int
	if err := db.QueryRow(`PRAGMA user_version`).Scan(&version); err != nil || version != 4 {
		t.Fatalf("the file is at schema version %d (%v), want 4", version, err)
	}
}
