package readcache

import (
	"errors"
	"testing"

	"github.com/hookd/hookd/domain/eventlog"
)

// follower is a read model's Runner at a position the test moves, whose last change the test sets.
type follower struct {
	at, changed eventlog.Position
}

func (f *follower) Position() eventlog.Position { return f.at }

func (f *follower) unchanged(at eventlog.Position) bool { return !at.Before(f.changed) }

// TestAnswersKeptUntilTheReadModelChanges: an answer is read once, kept while the read model has
// applied nothing that changes it, and read again once it has; errors are not kept.
func TestAnswersKeptUntilTheReadModelChanges(t *testing.T) {
	t.Parallel()
	f := &follower{at: eventlog.Position{Commit: 10}}
	answers := NewAnswers[int](10, f, f.unchanged)
	reads := 0
	read := func() (int, error) { reads++; return reads, nil }

	for range 3 {
		if v, err := answers.Get("k", read); err != nil || v != 1 {
			t.Fatalf("Get = %d, %v; want the first read's 1", v, err)
		}
	}
	// Other events applied: still current.
	f.at = eventlog.Position{Commit: 20}
	if v, _ := answers.Get("k", read); v != 1 {
		t.Fatalf("Get after unrelated events = %d, want 1 kept", v)
	}
	// A change applied after the answer was read: read again.
	f.changed = eventlog.Position{Commit: 15}
	if v, _ := answers.Get("k", read); v != 2 {
		t.Fatalf("Get after a change = %d, want 2 read again", v)
	}
	if v, _ := answers.Get("k", read); v != 2 {
		t.Fatalf("Get once read again = %d, want 2 kept", v)
	}

	failed := errors.New("the read model is down")
	calls := 0
	failing := func() (int, error) { calls++; return 0, failed }
	for range 2 {
		if _, err := answers.Get("e", failing); !errors.Is(err, failed) {
			t.Fatalf("Get = %v, want the read's error", err)
		}
	}
	if calls != 2 {
		t.Errorf("a failing read was made %d times for two Gets, want 2 (errors not kept)", calls)
	}
}
