package delivery

import "fmt"

// Status is where a delivery stands. It is a struct so that no code outside this package can invent
// a value.
type Status struct{ name string }

// The three statuses, as the delivery log's status filter names them.
var (
	// StatusScheduled: an attempt is due, now or at NextDueAt.
	StatusScheduled = Status{"scheduled"}
	// StatusSucceeded: an attempt succeeded.
	StatusSucceeded = Status{"succeeded"}
	// StatusFailed: parked after a failure or the last retry.
	StatusFailed = Status{"failed"}
)

// ParseStatus reads "scheduled", "succeeded" or "failed".
func ParseStatus(s string) (Status, error) {
	for _, st := range []Status{StatusScheduled, StatusSucceeded, StatusFailed} {
		if st.name == s {
			return st, nil
		}
	}
	return Status{}, fmt.Errorf("status %q: must be one of scheduled, succeeded, failed", s)
}

// IsZero reports whether the status was never set.
func (s Status) IsZero() bool   { return s.name == "" }
func (s Status) String() string { return s.name }

// Finished reports whether the delivery succeeded or was parked: no attempt is accepted until a
// replay.
func (s Status) Finished() bool { return s == StatusSucceeded || s == StatusFailed }

// ReplayMode says which settings a replay sends with.
type ReplayMode struct{ name string }

// The two replay modes.
var (
	// ReplayCurrent signs and sends with the webhook's present settings.
	ReplayCurrent = ReplayMode{"current"}
	// ReplayOriginal sends with the settings in the delivery's snapshot, those in force when it was
	// scheduled.
	ReplayOriginal = ReplayMode{"original"}
)

// ParseReplayMode reads "current" or "original".
func ParseReplayMode(s string) (ReplayMode, error) {
	switch s {
	case "current":
		return ReplayCurrent, nil
	case "original":
		return ReplayOriginal, nil
	}
	return ReplayMode{}, fmt.Errorf(`mode %q: must be "current" or "original"`, s)
}

// IsZero reports whether the mode was never set.
func (m ReplayMode) IsZero() bool   { return m.name == "" }
func (m ReplayMode) String() string { return m.name }

// MarshalText writes the mode's name.
func (m ReplayMode) MarshalText() ([]byte, error) { return []byte(m.name), nil }

// UnmarshalText reads a name written by MarshalText.
func (m *ReplayMode) UnmarshalText(b []byte) error {
	parsed, err := ParseReplayMode(string(b))
	if err != nil {
		return err
	}
	*m = parsed
	return nil
}
