package eventlog_test

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/hookd/hookd/domain/eventlog"
)

func TestPositionCompare(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		p, q eventlog.Position
		want int
	}{
		{"start equals start", eventlog.Start, eventlog.Position{}, 0},
		{"equal", eventlog.Position{Commit: 7, Prepare: 3}, eventlog.Position{Commit: 7, Prepare: 3}, 0},
		{"commit decides before", eventlog.Position{Commit: 1, Prepare: 9}, eventlog.Position{Commit: 2, Prepare: 0}, -1},
		{"commit decides after", eventlog.Position{Commit: 2, Prepare: 0}, eventlog.Position{Commit: 1, Prepare: 9}, 1},
		{"prepare breaks a tie before", eventlog.Position{Commit: 5, Prepare: 1}, eventlog.Position{Commit: 5, Prepare: 2}, -1},
		{"prepare breaks a tie after", eventlog.Position{Commit: 5, Prepare: 2}, eventlog.Position{Commit: 5, Prepare: 1}, 1},
		{"start is before everything", eventlog.Start, eventlog.Position{Prepare: 1}, -1},
		{"largest values", eventlog.Position{Commit: math.MaxUint64, Prepare: math.MaxUint64}, eventlog.Position{Commit: math.MaxUint64}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.p.Compare(tt.q); got != tt.want {
				t.Errorf("%v.Compare(%v) = %d, want %d", tt.p, tt.q, got, tt.want)
			}
			if got := tt.q.Compare(tt.p); got != -tt.want {
				t.Errorf("%v.Compare(%v) = %d, want %d (antisymmetry)", tt.q, tt.p, got, -tt.want)
			}
			if got := tt.p.Before(tt.q); got != (tt.want < 0) {
				t.Errorf("%v.Before(%v) = %t, want %t", tt.p, tt.q, got, tt.want < 0)
			}
		})
	}
}

func TestPositionStringRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pos  eventlog.Position
		text string
	}{
		{eventlog.Start, "0/0"},
		{eventlog.Position{Commit: 42, Prepare: 42}, "42/42"},
		{eventlog.Position{Commit: 10, Prepare: 3}, "10/3"},
		{eventlog.Position{Commit: math.MaxUint64, Prepare: math.MaxUint64}, "18446744073709551615/18446744073709551615"},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			t.Parallel()
			if got := tt.pos.String(); got != tt.text {
				t.Errorf("String() = %q, want %q", got, tt.text)
			}
			got, err := eventlog.ParsePosition(tt.text)
			if err != nil {
				t.Fatalf("ParsePosition(%q): %v", tt.text, err)
			}
			if got != tt.pos {
				t.Errorf("ParsePosition(%q) = %+v, want %+v", tt.text, got, tt.pos)
			}
		})
	}
}

func TestParsePositionRejects(t *testing.T) {
	t.Parallel()
	for _, text := range []string{
		"",
		"12",
		"/",
		"1/",
		"/1",
		"a/1",
		"1/b",
		"-1/0",
		"0/-1",
		"1/2/3",
		" 1/2",
		"1/2 ",
		"0x10/0",
		"18446744073709551616/0", // one past uint64
		"0/18446744073709551616",
	} {
		t.Run(text, func(t *testing.T) {
			t.Parallel()
			got, err := eventlog.ParsePosition(text)
			if err == nil {
				t.Fatalf("ParsePosition(%q) = %+v, want an error", text, got)
			}
			if got != (eventlog.Position{}) {
				t.Errorf("ParsePosition(%q) returned %+v with its error, want the zero position", text, got)
			}
			if !strings.Contains(err.Error(), fmt.Sprintf("%q", text)) {
				t.Errorf("error %q does not name the input", err)
			}
		})
	}
}

func TestExpectedRevision(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		expected     eventlog.ExpectedRevision
		wantRevision uint64
		wantExists   bool
		wantVersion  int64
		wantString   string
	}{
		{"NoStream", eventlog.NoStream(), 0, false, -1, "no stream"},
		{"Exactly 0", eventlog.Exactly(0), 0, true, 0, "revision 0"},
		{"Exactly 41", eventlog.Exactly(41), 41, true, 41, "revision 41"},
		{"After -1", eventlog.After(-1), 0, false, -1, "no stream"},
		{"After any negative", eventlog.After(-7), 0, false, -1, "no stream"},
		{"After 0", eventlog.After(0), 0, true, 0, "revision 0"},
		{"After 9", eventlog.After(9), 9, true, 9, "revision 9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rev, exists := tt.expected.Revision()
			if rev != tt.wantRevision || exists != tt.wantExists {
				t.Errorf("Revision() = (%d, %t), want (%d, %t)", rev, exists, tt.wantRevision, tt.wantExists)
			}
			if got := tt.expected.Version(); got != tt.wantVersion {
				t.Errorf("Version() = %d, want %d", got, tt.wantVersion)
			}
			if got := tt.expected.String(); got != tt.wantString {
				t.Errorf("String() = %q, want %q", got, tt.wantString)
			}
		})
	}
}

func TestExpectedRevisionDistinguishesNoStreamFromRevisionZero(t *testing.T) {
	t.Parallel()
	if eventlog.NoStream() == eventlog.Exactly(0) {
		t.Fatal("NoStream() == Exactly(0): an append expecting an empty stream would accept one with an event")
	}
	if eventlog.After(-1) != eventlog.NoStream() {
		t.Error("After(-1) != NoStream()")
	}
	if eventlog.After(3) != eventlog.Exactly(3) {
		t.Error("After(3) != Exactly(3)")
	}
	// The zero value is the safe one: it expects no stream, never "any".
	var zero eventlog.ExpectedRevision
	if zero != eventlog.NoStream() {
		t.Error("the zero ExpectedRevision is not NoStream()")
	}
}

func TestExpectedRevisionVersionRoundTrip(t *testing.T) {
	t.Parallel()
	for _, v := range []int64{-1, 0, 1, 1 << 40, math.MaxInt64} {
		if got := eventlog.After(v).Version(); got != v {
			t.Errorf("After(%d).Version() = %d", v, got)
		}
	}
}

func TestWrongExpectedVersionErrorMatchesSentinel(t *testing.T) {
	t.Parallel()
	base := &eventlog.WrongExpectedVersionError{Stream: "webhook-1", Expected: eventlog.Exactly(2), Actual: 5}
	tests := []struct {
		name string
		err  error
	}{
		{"bare", base},
		{"wrapped once", fmt.Errorf("append: %w", base)},
		{"wrapped twice", fmt.Errorf("command: %w", fmt.Errorf("append: %w", base))},
		{"joined", errors.Join(errors.New("other"), base)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if !errors.Is(tt.err, eventlog.ErrWrongExpectedVersion) {
				t.Errorf("errors.Is(%v, ErrWrongExpectedVersion) = false", tt.err)
			}
			var wev *eventlog.WrongExpectedVersionError
			if !errors.As(tt.err, &wev) {
				t.Fatalf("errors.As(%v, *WrongExpectedVersionError) = false", tt.err)
			}
			if wev.Stream != "webhook-1" || wev.Expected != eventlog.Exactly(2) || wev.Actual != 5 {
				t.Errorf("errors.As gave %+v", wev)
			}
			if errors.Is(tt.err, eventlog.ErrUnavailable) || errors.Is(tt.err, eventlog.ErrSubscriptionDropped) {
				t.Error("a conflict matches another sentinel")
			}
		})
	}
}

func TestWrongExpectedVersionErrorDoesNotMatchOtherErrors(t *testing.T) {
	t.Parallel()
	for _, err := range []error{
		eventlog.ErrUnavailable,
		eventlog.ErrSubscriptionDropped,
		errors.New("eventlog: wrong expected version"), // same text, other identity
		fmt.Errorf("wrapped: %w", eventlog.ErrUnavailable),
	} {
		if errors.Is(err, eventlog.ErrWrongExpectedVersion) {
			t.Errorf("errors.Is(%v, ErrWrongExpectedVersion) = true", err)
		}
	}
}

func TestWrongExpectedVersionErrorMessage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  eventlog.WrongExpectedVersionError
		want string
	}{
		{
			eventlog.WrongExpectedVersionError{Stream: "s", Expected: eventlog.NoStream(), Actual: 3},
			"eventlog: stream s: expected no stream, found revision 3",
		},
		{
			eventlog.WrongExpectedVersionError{Stream: "s", Expected: eventlog.Exactly(4), Actual: -1},
			"eventlog: stream s: expected revision 4, found no stream",
		},
		{
			eventlog.WrongExpectedVersionError{Stream: "s", Expected: eventlog.Exactly(0), Actual: -2},
			"eventlog: stream s: expected revision 0, found unknown",
		},
		{
			eventlog.WrongExpectedVersionError{Stream: "s", Expected: eventlog.Exactly(0), Actual: 0},
			"eventlog: stream s: expected revision 0, found revision 0",
		},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			t.Parallel()
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSentinelsAreDistinct(t *testing.T) {
	t.Parallel()
	sentinels := []error{eventlog.ErrWrongExpectedVersion, eventlog.ErrUnavailable, eventlog.ErrSubscriptionDropped}
	for i, a := range sentinels {
		for j, b := range sentinels {
			if i != j && errors.Is(a, b) {
				t.Errorf("errors.Is(%v, %v) = true", a, b)
			}
		}
	}
}
