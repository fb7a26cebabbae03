package eventstore_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/hookd/hookd/application/eventstore"
	"github.com/hookd/hookd/domain/eventlog"
)

// appendResults is a Store whose appends answer the errors it is given, in turn.
type appendResults struct {
	eventstore.Store
	errs []error
}

func (s *appendResults) Append(context.Context, string, eventlog.ExpectedRevision, []eventlog.EventData) (eventlog.AppendResult, error) {
	err := s.errs[0]
	s.errs = s.errs[1:]
	return eventlog.AppendResult{}, err
}

// TestWatchedMarksStorageFailuresUntilAnAppendSucceeds: a storage failure marks the store, a
// conflict or another error leaves the mark as it is, a success clears it.
func TestWatchedMarksStorageFailuresUntilAnAppendSucceeds(t *testing.T) {
	t.Parallel()
	conflict := &eventlog.WrongExpectedVersionError{Stream: "s", Actual: 1}
	store := &appendResults{errs: []error{
		fmt.Errorf("adapter: %w: disk", eventstore.ErrStorageFull),
		conflict,
		errors.New("something else"),
		fmt.Errorf("adapter: %w: eio", eventstore.ErrStorageIO),
		nil,
	}}
	w := eventstore.Watch(store)
	want := []error{eventstore.ErrStorageFull, eventstore.ErrStorageFull, eventstore.ErrStorageFull, eventstore.ErrStorageIO, nil}
	for i, wantErr := range want {
		_, err := w.Append(t.Context(), "s", eventlog.NoStream(), nil)
		if got := w.StorageErr(); got != wantErr {
			t.Fatalf("after append %d (%v): StorageErr %v, want %v", i, err, got, wantErr)
		}
	}
	if !errors.Is(fmt.Errorf("x: %w", eventstore.ErrStorageFull), eventlog.ErrUnavailable) {
		t.Error("a storage error does not match eventlog.ErrUnavailable")
	}
	if got := eventstore.ErrStorageFull.Error(); got != "the event store cannot write: storage full" {
		t.Errorf("message %q", got)
	}
}
