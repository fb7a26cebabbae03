package sqlitestore_test

import (
	"bytes"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/hookd/hookd/adapters/eventstore/sqlitestore"
	"github.com/hookd/hookd/domain/eventlog"
)

// TestPackedDataReadsBackAndTakesLessRoom: with CompressData, JSON of a few KiB is stored deflated
// and reads back byte for byte, through ReadStream and ReadAll, from this store and from another
// one on the file that does not compress.
func TestPackedDataReadsBackAndTakesLessRoom(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "log.db")
	s := open(t, path, sqlitestore.Options{CompressData: true})
	evs := events(3)
	evs[0].Data = bytes.Repeat([]byte(`{"user":"ada","email":"ada@example.com","roles":["admin","dev"]},`), 40)
	evs[1].Data = incompressible(2048)
	evs[2].Data = []byte(`{"small":true}`)
	if _, err := s.Append(t.Context(), "delivery-1", eventlog.NoStream(), evs); err != nil {
		t.Fatal(err)
	}
	other := open(t, path, sqlitestore.Options{})
	for name, store := range map[string]*sqlitestore.Store{"writer": s, "other": other} {
		got, err := store.ReadStream(t.Context(), "delivery-1", 0, 0)
		if err != nil || len(got) != 3 {
			t.Fatalf("%s: ReadStream: %d events, %v", name, len(got), err)
		}
		all, err := store.ReadAll(t.Context(), eventlog.Start, 0)
		if err != nil || len(all) != 3 {
			t.Fatalf("%s: ReadAll: %d events, %v", name, len(all), err)
		}
		for i := range evs {
			if !bytes.Equal(got[i].Data, evs[i].Data) || !bytes.Equal(all[i].Data, evs[i].Data) {
				t.Errorf("%s: event %d reads back changed", name, i)
			}
		}
	}
	db, err := sql.Open("sqlite", path+"?_pragma=query_only(1)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var stored, packed int
	if err := db.QueryRow(`SELECT length(data), packed FROM events WHERE revision = 0`).Scan(&stored, &packed); err != nil {
		t.Fatal(err)
	}
	if packed != 1 || stored > len(evs[0].Data)/4 {
		t.Errorf("the JSON is stored in %d bytes (packed %d), want it deflated from %d", stored, packed, len(evs[0].Data))
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
