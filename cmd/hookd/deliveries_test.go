package main

// Test support for the delivery log and replays: deliveries written to a running server's log as
// the delivery pipeline would write them, without running one.

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/hookd/hookd/domain/delivery"
	"github.com/hookd/hookd/domain/eventlog"
	"github.com/hookd/hookd/domain/webhook"
)

// testPolicy succeeds on 200 and parks a delivery at once on anything else, so that one attempt
// finishes it.
var testPolicy = delivery.Policy{SuccessCodes: []int{200}}

// testLog writes delivery events through the domain, from a node of its own on a running server's
// data directory, as another hookd process would.
type testLog struct {
	h *testHookd
	n *node
}

func newTestLog(h *testHookd) *testLog {
	h.t.Helper()
	n, err := openNode(context.Background(), h.cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { _ = n.close() })
	return &testLog{h: h, n: n}
}

// load rebuilds a delivery from the log.
func (l *testLog) load(id string) *delivery.Delivery {
	l.h.t.Helper()
	records, err := l.n.store.ReadStream(context.Background(), delivery.Stream(id), 0, 0)
	if err != nil {
		l.h.t.Fatal(err)
	}
	history := make([]delivery.Event, len(records))
	for i, r := range records {
		if history[i], err = l.n.codec.Decode(r); err != nil {
			l.h.t.Fatal(err)
		}
	}
	d, err := delivery.Rehydrate(history, int64(len(records))-1)
	if err != nil {
		l.h.t.Fatalf("delivery %s: %v", id, err)
	}
	return d
}

// attempted returns the delivery's DeliveryAttempted event of attempt number.
func (l *testLog) attempted(id string, number int) delivery.Attempted {
	l.h.t.Helper()
	records, err := l.n.store.ReadStream(context.Background(), delivery.Stream(id), 0, 0)
	if err != nil {
		l.h.t.Fatal(err)
	}
	for _, r := range records {
		e, err := l.n.codec.Decode(r)
		if err != nil {
			l.h.t.Fatal(err)
		}
		if a, ok := e.(delivery.Attempted); ok && a.Attempt == number {
			return a
		}
	}
	l.h.t.Fatalf("delivery %s: no attempt %d in the log", id, number)
	return delivery.Attempted{}
}

// append writes what the delivery recorded since it was loaded.
func (l *testLog) append(d *delivery.Delivery) {
	l.h.t.Helper()
	stream := delivery.Stream(d.ID())
	data := make([]eventlog.EventData, len(d.Changes()))
	for i, e := range d.Changes() {
		var err error
		data[i], err = l.n.codec.Encode(stream, eventlog.EventID(uuid.New()), e,
			eventlog.Metadata{Actor: "pipeline", OccurredAt: time.Now().UTC()})
		if err != nil {
			l.h.t.Fatal(err)
		}
	}
	if _, err := l.n.store.Append(context.Background(), stream, eventlog.After(d.Version()), data); err != nil {
		l.h.t.Fatal(err)
	}
}

// deliver schedules the delivery of a new event named name to w at the time given, and records an
// attempt answered with each status in turn: 200 succeeds, 0 is a timeout and anything else a
// failure, both of which park it. It returns the delivery id.
func (l *testLog) deliver(w apiWebhookJSON, name string, at time.Time, statuses ...int) string {
	l.h.t.Helper()
	d, err := delivery.Schedule(delivery.Scheduling{
		EventID: uuid.NewString(), WebhookID: w.ID, TenantID: w.TenantID, CommunityID: w.CommunityID, EventName: name,
		Body:     `{"version":1,"event":"` + name + `","payload":{}}`,
		Settings: delivery.Snapshot{API: webhook.Endpoint{Type: "POST", URL: w.API.URL, AuthType: webhook.AuthNone}, Policy: testPolicy},
		At:       at,
	})
	if err != nil {
		l.h.t.Fatal(err)
	}
	l.append(d)
	for _, status := range statuses {
		l.attempt(d.ID(), status, at)
	}
	return d.ID()
}

// attempt records the next attempt of a scheduled delivery, made at the time given.
func (l *testLog) attempt(id string, status int, at time.Time) {
	l.h.t.Helper()
	d := l.load(id)
	a := delivery.Attempt{Number: d.Attempts() + 1, Status: status, Duration: 42 * time.Millisecond, At: at.Add(time.Second)}
	switch status {
	case 0:
		a.ErrorClass = "timeout"
	case 200:
		a.ResponseExcerpt = "ok"
	default:
		a.ResponseExcerpt = "boom " + strconv.Itoa(status)
	}
	if err := d.RecordAttempt(a, testPolicy, delivery.Backoff{}); err != nil {
		l.h.t.Fatal(err)
	}
	l.append(d)
}

// replayRequests returns the DeliveryReplayRequested events in a delivery's stream.
func (l *testLog) replayRequests(id string) []delivery.ReplayRequested {
	l.h.t.Helper()
	records, err := l.n.store.ReadStream(context.Background(), delivery.Stream(id), 0, 0)
	if err != nil {
		l.h.t.Fatal(err)
	}
	var out []delivery.ReplayRequested
	for _, r := range records {
		e, err := l.n.codec.Decode(r)
		if err != nil {
			l.h.t.Fatal(err)
		}
		if rr, ok := e.(delivery.ReplayRequested); ok {
			out = append(out, rr)
		}
	}
	return out
}

// head is the position of the last event in the log.
func (l *testLog) head() eventlog.Position {
	l.h.t.Helper()
	pos, err := l.n.store.LastPosition(context.Background())
	if err != nil {
		l.h.t.Fatal(err)
	}
	return pos
}

// sync waits until the server's deliveries read model has applied the whole log, as /metrics shows:
// the server sees another process's appends at its next poll.
func (l *testLog) sync() {
	l.h.t.Helper()
	head := float64(l.head().Commit)
	apiEventually(l.h.t, 30*time.Second, "the deliveries read model reaches the log's end", func() bool {
		return deliveriesPosition(l.h) >= head
	})
}

// deliveriesPosition is the log position the server's deliveries read model has applied.
func deliveriesPosition(h *testHookd) float64 {
	h.t.Helper()
	r := h.do(http.MethodGet, "/metrics", nil, nil)
	if r.Status != http.StatusOK {
		h.t.Fatalf("/metrics: %d", r.Status)
	}
	const prefix = `hookd_projection_position{projection="deliveries"} `
	for line := range strings.SplitSeq(string(r.Body), "\n") {
		if v, ok := strings.CutPrefix(line, prefix); ok {
			pos, err := strconv.ParseFloat(v, 64)
			if err != nil {
				h.t.Fatalf("/metrics line %q: %v", line, err)
			}
			return pos
		}
	}
	h.t.Fatal("/metrics has no position for the deliveries read model")
	return 0
}
