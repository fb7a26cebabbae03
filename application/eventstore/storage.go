package eventstore

import (
	"context"
	"errors"
	"sync"

	"github.com/hookd/hookd/domain/eventlog"
)

// StorageError is a write that the store's storage refused. Nothing of the write was kept, and
// retrying it with the same event ids is safe. It matches eventlog.ErrUnavailable: it passes once an
// operator frees space or mends the disk, not by itself. Adapters wrap one of the two values below.
type StorageError struct{ cause string }

func (e *StorageError) Error() string { return "the event store cannot write: " + e.cause }

// Is makes errors.Is(err, eventlog.ErrUnavailable) hold.
func (e *StorageError) Is(target error) bool { return target == eventlog.ErrUnavailable }

// The storage failures adapters report.
var (
	// ErrStorageFull: the disk, or a size limit set on the store, is full (SQLite's SQLITE_FULL,
	// which its file layer returns for ENOSPC).
	ErrStorageFull = &StorageError{cause: "storage full"}
	// ErrStorageIO: reading or writing the store's files failed (SQLite's SQLITE_IOERR).
	ErrStorageIO = &StorageError{cause: "storage I/O error"}
)

// Watched is a Store that remembers whether its appends fail on storage, for a readiness check.
type Watched struct {
	Store
	mu     sync.Mutex
	failed *StorageError
}

// Watch returns s, watched.
func Watch(s Store) *Watched { return &Watched{Store: s} }

// Append implements Store.Append. An append that fails with a StorageError marks the store as
// failing; one that succeeds clears the mark. Conflicts and other errors leave it as it is: they
// say nothing about the storage.
func (w *Watched) Append(ctx context.Context, stream string, expected eventlog.ExpectedRevision, events []eventlog.EventData) (eventlog.AppendResult, error) {
	res, err := w.Store.Append(ctx, stream, expected, events)
	var storage *StorageError
	switch {
	case err == nil:
		w.set(nil)
	case errors.As(err, &storage):
		w.set(storage)
	}
	return res, err
}

func (w *Watched) set(err *StorageError) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.failed = err
}

// StorageErr returns the StorageError (ErrStorageFull or ErrStorageIO) of the last append that
// failed on storage, until an append succeeds again; nil otherwise.
func (w *Watched) StorageErr() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.failed == nil {
		return nil
	}
	return w.failed
}
