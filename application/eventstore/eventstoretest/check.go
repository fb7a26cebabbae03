package eventstoretest

import (
	"bytes"
	"fmt"
	"slices"
	"time"

	"github.com/hookd/hookd/domain/eventlog"
)

// expected is what a recorded event must hold: the event appended, where it was appended.
type expected struct {
	stream   string
	revision uint64
	event    eventlog.EventData
}

// appended lists the expectations for events appended to stream, the first at revision first.
func appended(stream string, first uint64, events []eventlog.EventData) []expected {
	out := make([]expected, len(events))
	for i, ev := range events {
		out[i] = expected{stream: stream, revision: first + uint64(i), event: ev}
	}
	return out
}

func reversed(want []expected) []expected {
	out := slices.Clone(want)
	slices.Reverse(out)
	return out
}

// createdSlack is how far from this machine's clock a recorded event's creation time may be, allowing
// for a server on another host.
const createdSlack = time.Hour

// checkEvents reports the first way got differs from want.
func checkEvents(got []eventlog.RecordedEvent, want []expected) error {
	if len(got) != len(want) {
		return fmt.Errorf("got %d events %s, want %d %s", len(got), describe(got), len(want), describeWant(want))
	}
	now := time.Now()
	for i, ev := range got {
		w := want[i]
		switch {
		case ev.Stream != w.stream:
			return fmt.Errorf("event %d: stream %q, want %q", i, ev.Stream, w.stream)
		case ev.Revision != w.revision:
			return fmt.Errorf("event %d: revision %d, want %d", i, ev.Revision, w.revision)
		case ev.ID != w.event.ID:
			return fmt.Errorf("event %d (%s@%d): id %x, want %x", i, ev.Stream, ev.Revision, ev.ID, w.event.ID)
		case ev.Type != w.event.Type:
			return fmt.Errorf("event %d: type %q, want %q", i, ev.Type, w.event.Type)
		case !bytes.Equal(ev.Data, w.event.Data):
			return fmt.Errorf("event %d: data %q, want %q", i, ev.Data, w.event.Data)
		case !bytes.Equal(ev.Metadata, w.event.Metadata):
			return fmt.Errorf("event %d: metadata %q, want %q", i, ev.Metadata, w.event.Metadata)
		case ev.Position == eventlog.Start:
			return fmt.Errorf("event %d: zero position", i)
		case ev.Created.IsZero() || ev.Created.Sub(now).Abs() > createdSlack:
			return fmt.Errorf("event %d: created %v, want about %v", i, ev.Created, now)
		}
	}
	return nil
}

// checkSame reports the first way two reads of the same events differ.
func checkSame(got, want []eventlog.RecordedEvent) error {
	if len(got) != len(want) {
		return fmt.Errorf("got %d events %s, want %d %s", len(got), describe(got), len(want), describe(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Stream != w.Stream || g.Revision != w.Revision || g.Position != w.Position || g.ID != w.ID ||
			g.Type != w.Type || !bytes.Equal(g.Data, w.Data) || !bytes.Equal(g.Metadata, w.Metadata) ||
			!g.Created.Equal(w.Created) {
			return fmt.Errorf("event %d: got %s@%d at %s, want %s@%d at %s (or other fields differ)",
				i, g.Stream, g.Revision, g.Position, w.Stream, w.Revision, w.Position)
		}
	}
	return nil
}

// checkIncreasing reports the first position that does not follow the one before it.
func checkIncreasing(events []eventlog.RecordedEvent) error {
	for i := 1; i < len(events); i++ {
		if !events[i-1].Position.Before(events[i].Position) {
			return fmt.Errorf("event %d at %s does not follow event %d at %s",
				i, events[i].Position, i-1, events[i-1].Position)
		}
	}
	return nil
}

// checkStreamOrder reports the first event that is not the next revision of its stream, for a read
// of whole streams from their start.
func checkStreamOrder(events []eventlog.RecordedEvent) error {
	next := map[string]uint64{}
	for _, ev := range events {
		if ev.Revision != next[ev.Stream] {
			return fmt.Errorf("%s@%d where revision %d is due", ev.Stream, ev.Revision, next[ev.Stream])
		}
		next[ev.Stream]++
	}
	return nil
}

// revisions lists the events' revisions, which is what most read failures are about.
func revisions(events []eventlog.RecordedEvent) []uint64 {
	out := make([]uint64, len(events))
	for i, ev := range events {
		out[i] = ev.Revision
	}
	return out
}

func describe(events []eventlog.RecordedEvent) string {
	if len(events) > 12 {
		return fmt.Sprintf("(%s@%d..%s@%d)", events[0].Stream, events[0].Revision,
			events[len(events)-1].Stream, events[len(events)-1].Revision)
	}
	return fmt.Sprint(revisions(events))
}

func describeWant(want []expected) string {
	revs := make([]uint64, len(want))
	for i, w := range want {
		revs[i] = w.revision
	}
	if len(revs) > 12 {
		return fmt.Sprintf("(%d..%d)", revs[0], revs[len(revs)-1])
	}
	return fmt.Sprint(revs)
}
