package deliver_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/hookd/hookd/adapters/webhooksig"
	"github.com/hookd/hookd/application/deliver"
	"github.com/hookd/hookd/domain/eventlog"
	"github.com/hookd/hookd/domain/publication"
)

// eventLog is an in-memory log of published events, as EventBodies reads it: each read is counted,
// and waits for release when it is set.
type eventLog struct {
	mu      sync.Mutex
	records map[string][]byte // each stream's one record, by stream
	reads   int
	err     error // returned by the next read, once
	release chan struct{}
}

func newEventLog(events ...publication.Published) *eventLog {
	l := &eventLog{records: map[string][]byte{}}
	for _, p := range events {
		data, err := json.Marshal(p)
		if err != nil {
			panic(err)
		}
		l.records[publication.Stream(p.EventID)] = data
	}
	return l
}

func (l *eventLog) ReadStream(ctx context.Context, stream string, _ uint64, _ int) ([]eventlog.RecordedEvent, error) {
	l.mu.Lock()
	l.reads++
	release, err := l.release, l.err
	l.err = nil
	data, ok := l.records[stream]
	l.mu.Unlock()
	if release != nil {
		select {
		case <-release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if err != nil || !ok {
		return nil, err
	}
	return []eventlog.RecordedEvent{{Stream: stream, Type: publication.EventPublished, Data: data}}, nil
}

func (l *eventLog) readCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.reads
}

// decodePublished decodes the records of eventLog; one of another type decodes to something else.
func decodePublished(r eventlog.RecordedEvent) (interface{ EventName() string }, error) {
	var p publication.Published
	err := json.Unmarshal(r.Data, &p)
	return p, err
}

func newBodies(t *testing.T, l *eventLog, maxBytes int) *deliver.EventBodies {
	t.Helper()
	b, err := deliver.NewEventBodies(deliver.EventBodiesConfig{Log: l, Decode: decodePublished, Build: webhooksig.Body, MaxBytes: maxBytes})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func published(id, payload string) publication.Published {
	return publication.Published{EventID: id, TenantID: "t1", CommunityID: "c1", Name: "user.created", Payload: json.RawMessage(payload)}
}

func TestEventBodiesBuildsTheBodyFromThePublishedEvent(t *testing.T) {
	t.Parallel()
	l := newEventLog(published("e1", `{"html":"<b>&</b>","n":1e21}`))
	b := newBodies(t, l, 0)
	body, err := b.Body(t.Context(), "e1", "user.created")
	want := `{"version":1,"event":"user.created","payload":{"html":"<b>&</b>","n":1e+21}}`
	if err != nil || string(body) != want {
		t.Fatalf("Body = %s, %v; want %s", body, err, want)
	}
	// Kept: the next ask reads nothing.
	if body, err := b.Body(t.Context(), "e1", "user.created"); err != nil || string(body) != want || l.readCount() != 1 {
		t.Errorf("second Body = %s, %v after %d reads; want the same body from one read", body, err, l.readCount())
	}
}

func TestEventBodiesErrors(t *testing.T) {
	t.Parallel()
	l := newEventLog(published("e1", `{"a":1}`))
	l.records[publication.Stream("damaged")] = []byte(`{"eventId":"damaged",`)
	b := newBodies(t, l, 0)
	if _, err := b.Body(t.Context(), "gone", "user.created"); !errors.Is(err, deliver.ErrEventGone) {
		t.Errorf("Body of an event not in the log = %v, want ErrEventGone", err)
	}
	if _, err := b.Body(t.Context(), "damaged", "user.created"); !errors.Is(err, deliver.ErrUnbuildable) {
		t.Errorf("Body of a record that does not decode = %v, want ErrUnbuildable", err)
	}
	if _, err := b.Body(t.Context(), "e1", "\xff"); !errors.Is(err, deliver.ErrUnbuildable) {
		t.Errorf("Body under a name that is not UTF-8 = %v, want ErrUnbuildable", err)
	}
}

// An error of the log is not kept: the next ask reads again, and gets the body.
func TestEventBodiesKeepsNoError(t *testing.T) {
	t.Parallel()
	l := newEventLog(published("e1", `{}`))
	l.err = errors.New("the log is down")
	b := newBodies(t, l, 0)
	if _, err := b.Body(t.Context(), "e1", "user.created"); err == nil || errors.Is(err, deliver.ErrEventGone) || errors.Is(err, deliver.ErrUnbuildable) {
		t.Fatalf("Body while the log fails = %v, want the log's error", err)
	}
	if body, err := b.Body(t.Context(), "e1", "user.created"); err != nil || len(body) == 0 || l.readCount() != 2 {
		t.Errorf("Body once the log is back = %s, %v after %d reads; want the body from a second read", body, err, l.readCount())
	}
}

// A body the dispatcher keeps is given without reading the log.
func TestEventBodiesGivesWhatWasKept(t *testing.T) {
	t.Parallel()
	l := newEventLog()
	b := newBodies(t, l, 0)
	b.Keep("e1", "user.created", []byte(`{"version":1}`))
	if body, err := b.Body(t.Context(), "e1", "user.created"); err != nil || string(body) != `{"version":1}` || l.readCount() != 0 {
		t.Errorf("Body = %s, %v after %d reads; want the kept body and no read", body, err, l.readCount())
	}
	// Kept under the name it was built with: another name is another body.
	if _, err := b.Body(t.Context(), "e1", "user.updated"); !errors.Is(err, deliver.ErrEventGone) || l.readCount() != 1 {
		t.Errorf("Body under another name = %v after %d reads; want a read of the log", err, l.readCount())
	}
}

// The cache holds at most its bytes, the most recently used bodies, and none over an eighth of it.
func TestEventBodiesBoundsItsBytes(t *testing.T) {
	t.Parallel()
	const maxBytes, bodyBytes = 8000, 900 // eight bodies fit with their keys, nine do not
	l := newEventLog()
	b := newBodies(t, l, maxBytes)
	for i := range 20 {
		b.Keep(fmt.Sprintf("e%02d", i), "user.created", []byte(strings.Repeat("x", bodyBytes)))
	}
	// A miss reads the log, where the events are not, and keeps nothing.
	var held []int
	for i := 19; i >= 0; i-- {
		if _, err := b.Body(t.Context(), fmt.Sprintf("e%02d", i), "user.created"); err == nil {
			held = append(held, i)
		}
	}
	if fmt.Sprint(held) != "[19 18 17 16 15 14 13 12]" {
		t.Errorf("the cache held bodies %v, want the eight newest (%d bytes of %d)", held, len(held)*bodyBytes, maxBytes)
	}

	big := strings.Repeat("y", maxBytes/8+1)
	b.Keep("big", "user.created", []byte(big))
	if _, err := b.Body(t.Context(), "big", "user.created"); !errors.Is(err, deliver.ErrEventGone) {
		t.Errorf("Body of a body over an eighth of the cache = %v, want a read of the log (not kept)", err)
	}
	if _, err := b.Body(t.Context(), "e19", "user.created"); err != nil {
		t.Errorf("the newest small body was pushed out by one not kept: %v", err)
	}
}

// Concurrent asks for one event's body read the log once, and all get the body.
func TestEventBodiesReadsOnceForConcurrentAsks(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		l := newEventLog(published("e1", `{"a":1}`))
		l.release = make(chan struct{})
		b := newBodies(t, l, 0)
		const n = 16
		bodies := make([]string, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				body, err := b.Body(t.Context(), "e1", "user.created")
				if err != nil {
					t.Error(err)
				}
				bodies[i] = string(body)
			})
		}
		synctest.Wait() // every ask is waiting: one on the log, the others on it
		close(l.release)
		wg.Wait()
		if l.readCount() != 1 {
			t.Errorf("%d concurrent asks read the log %d times, want once", n, l.readCount())
		}
		for i, body := range bodies {
			if body != `{"version":1,"event":"user.created","payload":{"a":1}}` {
				t.Errorf("ask %d got %q", i, body)
			}
		}
	})
}
