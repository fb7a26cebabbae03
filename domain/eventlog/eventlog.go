// Package eventlog is the vocabulary of hookd's append-only log: streams, revisions, positions and the
// events in them. It holds data types only; the stores that keep the log are adapters, and the port they
// implement is application/eventstore.
package eventlog

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Position is an event's place in the whole log. Positions are opaque: callers compare them and store
// them as checkpoints, but never compute with them. The zero Position is the start of the log, before
// every event.
//
// Two numbers keep the type usable by KurrentDB, whose $all positions are a commit and a prepare
// position; the embedded store sets both to its global sequence number.
type Position struct {
	Commit  uint64
	Prepare uint64
}

// Start is the position before the first event of the log.
var Start = Position{}

// Compare returns -1, 0 or +1 as p is before, equal to or after q.
func (p Position) Compare(q Position) int {
	switch {
	case p.Commit < q.Commit:
		return -1
	case p.Commit > q.Commit:
		return 1
	case p.Prepare < q.Prepare:
		return -1
	case p.Prepare > q.Prepare:
		return 1
	}
	return 0
}

// Before reports whether p comes before q.
func (p Position) Before(q Position) bool { return p.Compare(q) < 0 }

// String renders the position as "commit/prepare", the form ParsePosition reads back.
func (p Position) String() string {
	return strconv.FormatUint(p.Commit, 10) + "/" + strconv.FormatUint(p.Prepare, 10)
}

// ParsePosition reads a position written by Position.String.
func ParsePosition(s string) (Position, error) {
	commit, prepare, ok := strings.Cut(s, "/")
	if !ok {
		return Position{}, fmt.Errorf("eventlog: position %q is not commit/prepare", s)
	}
	c, err := strconv.ParseUint(commit, 10, 64)
	if err != nil {
		return Position{}, fmt.Errorf("eventlog: position %q: %w", s, err)
	}
	p, err := strconv.ParseUint(prepare, 10, 64)
	if err != nil {
		return Position{}, fmt.Errorf("eventlog: position %q: %w", s, err)
	}
	return Position{Commit: c, Prepare: p}, nil
}

// End stands for the last revision of a stream when reading backwards.
const End = ^uint64(0)

// ExpectedRevision is the state a stream must be in for an append to go through. Every append names
// one: there is deliberately no "any" value, so no write can silently overwrite a concurrent one.
type ExpectedRevision struct {
	exists   bool
	revision uint64
}

// NoStream expects the stream not to exist yet.
func NoStream() ExpectedRevision { return ExpectedRevision{} }

// Exactly expects the stream's last event to be at revision (0-based).
func Exactly(revision uint64) ExpectedRevision {
	return ExpectedRevision{exists: true, revision: revision}
}

// After returns the expectation for a stream whose current version is version, where -1 means the
// stream does not exist. It is how aggregates, which count versions from -1, name their expectation.
func After(version int64) ExpectedRevision {
	if version < 0 {
		return NoStream()
	}
	return Exactly(uint64(version))
}

// Revision returns the expected last revision, and false when the stream is expected not to exist.
func (e ExpectedRevision) Revision() (uint64, bool) { return e.revision, e.exists }

// Version returns the expectation as a version: -1 for no stream, else the last revision.
func (e ExpectedRevision) Version() int64 {
	if !e.exists {
		return -1
	}
	return int64(e.revision)
}

func (e ExpectedRevision) String() string {
	if !e.exists {
		return "no stream"
	}
	return "revision " + strconv.FormatUint(e.revision, 10)
}

// EventID identifies an event. Stores use it to make a retried append a no-op; hookd derives it
// deterministically from what caused the event, so the same command never writes twice.
type EventID [16]byte

// EventData is an event on its way into the log.
type EventData struct {
	ID       EventID
	Type     string
	Data     []byte
	Metadata []byte
}

// RecordedEvent is an event as the log keeps it.
type RecordedEvent struct {
	Stream   string
	Revision uint64
	Position Position
	ID       EventID
	Type     string
	Data     []byte
	Metadata []byte
	Created  time.Time
}

// AppendResult tells where an append left the stream and the log.
type AppendResult struct {
	// Revision is the revision of the last event in the stream after the append.
	Revision uint64
	// Position is the log position of the last event appended.
	Position Position
}

// Metadata travels with every event hookd writes.
type Metadata struct {
	CorrelationID string    `json:"correlationId,omitempty"`
	CausationID   string    `json:"causationId,omitempty"`
	Actor         string    `json:"actor,omitempty"`
	OccurredAt    time.Time `json:"occurredAt"`
	// TraceParent is the W3C traceparent of the span that wrote the event, when tracing is on: what
	// follows from the event (a delivery, each of its attempts, on any node and at any time) joins
	// that trace. Empty without tracing.
	TraceParent string `json:"traceparent,omitempty"`
}

// ErrWrongExpectedVersion is what every store's conflict error matches with errors.Is.
var ErrWrongExpectedVersion = errors.New("eventlog: wrong expected version")

// WrongExpectedVersionError says an append found its stream in another state than it expected.
type WrongExpectedVersionError struct {
	Stream   string
	Expected ExpectedRevision
	// Actual is the stream's current version: -1 when it does not exist, -2 when the store did not say.
	Actual int64
}

func (e *WrongExpectedVersionError) Error() string {
	actual := "unknown"
	switch {
	case e.Actual == -1:
		actual = "no stream"
	case e.Actual >= 0:
		actual = "revision " + strconv.FormatInt(e.Actual, 10)
	}
	return fmt.Sprintf("eventlog: stream %s: expected %s, found %s", e.Stream, e.Expected, actual)
}

// Is makes errors.Is(err, ErrWrongExpectedVersion) hold.
func (e *WrongExpectedVersionError) Is(target error) bool { return target == ErrWrongExpectedVersion }

// ErrUnavailable marks a failure that may pass: the store could not be reached or did not answer in
// time. Callers may retry; the API answers 503.
var ErrUnavailable = errors.New("eventlog: store unavailable")

// ErrCorrupt marks a failure that will not pass: the store's data is damaged (a page or the header
// of its file is not what it wrote). Retrying cannot help; the process stops and says so, and the
// operator restores the log from a backup.
var ErrCorrupt = errors.New("eventlog: store damaged")

// ErrSubscriptionDropped marks the end of a subscription that the subscriber did not ask for. The
// subscriber resubscribes from its last checkpoint.
var ErrSubscriptionDropped = errors.New("eventlog: subscription dropped")
