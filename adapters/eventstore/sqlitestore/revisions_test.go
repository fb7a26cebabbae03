package sqlitestore_test

import (
	"database/sql"
	"errors"
	"path/filepath"
	"testing"

	"github.com/hookd/hookd/adapters/eventstore/sqlitestore"
	"github.com/hookd/hookd/application/eventstore"
	"github.com/hookd/hookd/domain/eventlog"
)

// The writer remembers the revisions of the streams it appended to; what it remembers must be what
// the file holds. A batch that failed to commit must not have moved the stream.
func TestFailedAppendDoesNotAdvanceTheStream(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := open(t, filepath.Join(t.TempDir(), "log.db"), sqlitestore.Options{})
	if _, err := s.Append(ctx, "order-1", eventlog.NoStream(), events(3)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.LimitPages(ctx, 1); err != nil {
		t.Fatal(err)
	}
	big := events(2)
	for i := range big {
		big[i].Data = incompressible(16 << 10)
	}
	if _, err := s.Append(ctx, "order-1", eventlog.Exactly(2), big); !errors.Is(err, eventstore.ErrStorageFull) {
		t.Fatalf("append on a full file: %v, want eventstore.ErrStorageFull", err)
	}
	if _, err := s.LimitPages(ctx, 0); err != nil {
		t.Fatal(err)
	}
	_, err := s.Append(ctx, "order-1", eventlog.Exactly(4), events(1))
	if wrong, ok := errors.AsType[*eventlog.WrongExpectedVersionError](err); !ok || wrong.Actual != 2 {
		t.Fatalf("append after the revision the failed append would have reached: %v, want a conflict at revision 2", err)
	}
	res, err := s.Append(ctx, "order-1", eventlog.Exactly(2), big)
	if err != nil || res.Revision != 4 {
		t.Fatalf("the failed append again: %+v, %v; want revision 4", res, err)
	}
}

// A stream retention deleted is gone for the writer too: it can be created again, and an append
// expecting its old revision is a conflict.
func TestDeletedStreamCanBeCreatedAgain(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := open(t, filepath.Join(t.TempDir(), "log.db"), sqlitestore.Options{})
	if _, err := s.Append(ctx, "delivery-1", eventlog.NoStream(), events(2)); err != nil {
		t.Fatal(err)
	}
	// The stream holding the log's last event is never deleted.
	if _, err := s.Append(ctx, "webhook-1", eventlog.NoStream(), events(1)); err != nil {
		t.Fatal(err)
	}
	kept, err := s.DeleteStreams(ctx, []eventstore.StreamAt{{Stream: "delivery-1", Revision: 1}}, eventstore.Behind)
	if err != nil || len(kept) != 0 {
		t.Fatalf("DeleteStreams: kept %v, %v", kept, err)
	}
	_, err = s.Append(ctx, "delivery-1", eventlog.Exactly(1), events(1))
	if wrong, ok := errors.AsType[*eventlog.WrongExpectedVersionError](err); !ok || wrong.Actual != -1 {
		t.Fatalf("append to the deleted stream at its old revision: %v, want a conflict with no stream", err)
	}
	if res, err := s.Append(ctx, "delivery-1", eventlog.NoStream(), events(1)); err != nil || res.Revision != 0 {
		t.Fatalf("creating the deleted stream again: %+v, %v; want revision 0", res, err)
	}
	got, err := s.ReadStream(ctx, "delivery-1", 0, 0)
	if err != nil || len(got) != 1 {
		t.Fatalf("the stream created again reads %d events (%v), want 1", len(got), err)
	}
}

// A file of version 2 kept each stream's revision in its streams row; it opens, and its streams
// take appends at the revisions their events reached.
func TestOpenMigratesAVersion2File(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "log.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.Exec(`CREATE TABLE streams (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, revision INTEGER NOT NULL);
		CREATE TABLE events (position INTEGER PRIMARY KEY, stream_id INTEGER NOT NULL, revision INTEGER NOT NULL,
			created INTEGER NOT NULL, id BLOB NOT NULL, type TEXT NOT NULL, data BLOB, metadata BLOB,
			packed INTEGER NOT NULL DEFAULT 0);
		CREATE UNIQUE INDEX events_stream_revision ON events (stream_id, revision);
		INSERT INTO streams VALUES (1, 'webhook-1', 1);
		INSERT INTO events VALUES (1, 1, 0, 1, x'00112233445566778899aabbccddeeff', 'WebhookCreated', '{}', '{}', 0);
		INSERT INTO events VALUES (2, 1, 1, 1, x'00112233445566778899aabbccddeef0', 'WebhookUpdated', '{}', '{}', 0);
		PRAGMA user_version = 2;`)
	_ = db.Close()
	if err != nil {
		t.Fatal(err)
	}
	s := open(t, path, sqlitestore.Options{})
	_, err = s.Append(t.Context(), "webhook-1", eventlog.Exactly(0), events(1))
	if wrong, ok := errors.AsType[*eventlog.WrongExpectedVersionError](err); !ok || wrong.Actual != 1 {
		t.Fatalf("append at a revision the stream is past: %v, want a conflict at revision 1", err)
	}
	if res, err := s.Append(t.Context(), "webhook-1", eventlog.Exactly(1), events(1)); err != nil || res.Revision != 2 {
		t.Fatalf("append after the migration: %+v, %v; want revision 2", res, err)
	}
}
