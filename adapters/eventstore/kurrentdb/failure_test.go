package kurrentdb_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"github.com/hookd/hookd/adapters/eventstore/kurrentdb"
	"github.com/hookd/hookd/application/eventstore"
	"github.com/hookd/hookd/domain/eventlog"
)

// quickly is how soon a call must fail when the node is unreachable. The client's discovery takes
// about a second (10 attempts 100 ms apart); the bound tells failing from hanging (streaming calls
// have no deadline of their own) with room for -race on a loaded 2-core machine.
const quickly = 20 * time.Second

func newEvents(n int) []eventlog.EventData {
	evs := make([]eventlog.EventData, n)
	for i := range evs {
		evs[i] = eventlog.EventData{ID: eventlog.EventID(uuid.New()), Type: "TestEvent", Data: fmt.Appendf(nil, `{"i":%d}`, i)}
	}
	return evs
}

// appendEventually appends one event at a time to stream until the append goes through or a
// deadline passes, retrying errors that match ErrUnavailable; it returns the new revision.
func appendEventually(t *testing.T, s eventstore.Store, stream string, expected eventlog.ExpectedRevision, ev eventlog.EventData) eventlog.AppendResult {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := s.Append(t.Context(), stream, expected, []eventlog.EventData{ev})
		if err == nil {
			return res
		}
		if !errors.Is(err, eventlog.ErrUnavailable) || time.Now().After(deadline) {
			t.Fatalf("Append: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// collect reads n events from sub, failing on an error, a repeat or a position out of order.
func collect(t *testing.T, sub eventstore.Subscription, n int) []eventlog.RecordedEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var got []eventlog.RecordedEvent
	for len(got) < n {
		evs, err := sub.Next(ctx, 100)
		if err != nil {
			t.Fatalf("Next after %d of %d events: %v", len(got), n, err)
		}
		for _, ev := range evs {
			if len(got) > 0 && !got[len(got)-1].Position.Before(ev.Position) {
				t.Fatalf("event at %s follows %s: a repeat or a step back", ev.Position, got[len(got)-1].Position)
			}
			got = append(got, ev)
		}
	}
	if len(got) != n {
		t.Fatalf("got %d events, want %d", len(got), n)
	}
	return got
}

// sameAsLog fails unless delivered is exactly the log from its start.
func sameAsLog(t *testing.T, s eventstore.Store, delivered []eventlog.RecordedEvent) {
	t.Helper()
	all, err := s.ReadAll(t.Context(), eventlog.Start, 0)
	if err != nil {
		t.Fatalf("ReadAll: %v", err)
	}
	if len(all) != len(delivered) {
		t.Fatalf("the subscription delivered %d events, the log holds %d", len(delivered), len(all))
	}
	for i := range all {
		if all[i].ID != delivered[i].ID || all[i].Position != delivered[i].Position {
			t.Fatalf("event %d: delivered %s@%d at %s, the log has %s@%d at %s", i,
				delivered[i].Stream, delivered[i].Revision, delivered[i].Position, all[i].Stream, all[i].Revision, all[i].Position)
		}
	}
}

func TestServerRestartMidSubscription(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	s := open(t, kurrentdb.Options{URL: srv.URL(), Categories: []string{"order-"}})
	res, err := s.Append(t.Context(), "order-1", eventlog.NoStream(), newEvents(10))
	if err != nil {
		t.Fatal(err)
	}
	sub, err := s.SubscribeAll(t.Context(), eventlog.Start)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	before := collect(t, sub, 10)

	srv.Stop()
	began := time.Now()
	_, err = s.Append(t.Context(), "order-1", eventlog.Exactly(res.Revision), newEvents(1))
	if !errors.Is(err, eventlog.ErrUnavailable) {
		t.Fatalf("Append with the node down: %v, want an error matching ErrUnavailable", err)
	}
	if took := time.Since(began); took > quickly {
		t.Errorf("Append with the node down took %v", took)
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}

	rev := res.Revision
	for _, ev := range newEvents(10) {
		rev = appendEventually(t, s, "order-1", eventlog.Exactly(rev), ev).Revision
	}
	after := collect(t, sub, 10)
	sameAsLog(t, s, append(before, after...))
}

func TestUnavailableOnFirstConnectThenUp(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name       string
		stopServer bool
	}{
		{name: "Refused"},
		{name: "NotListening", stopServer: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t)
			if c.stopServer {
				srv.Stop()
			} else {
				srv.Refuse(true)
			}
			s := open(t, kurrentdb.Options{URL: srv.URL(), Categories: []string{"order-"}})

			calls := map[string]func() error{
				"Append": func() error {
					_, err := s.Append(t.Context(), "order-1", eventlog.NoStream(), newEvents(1))
					return err
				},
				"ReadStream": func() error {
					_, err := s.ReadStream(t.Context(), "order-1", 0, 0)
					return err
				},
				"LastPosition": func() error {
					_, err := s.LastPosition(t.Context())
					return err
				},
				"SubscribeAll": func() error {
					_, err := s.SubscribeAll(t.Context(), eventlog.Start)
					return err
				},
			}
			for name, call := range calls {
				began := time.Now()
				if err := call(); !errors.Is(err, eventlog.ErrUnavailable) {
					t.Errorf("%s with the node down: %v, want an error matching ErrUnavailable", name, err)
				}
				if took := time.Since(began); took > quickly {
					t.Errorf("%s with the node down took %v", name, took)
				}
			}

			if c.stopServer {
				if err := srv.Restart(); err != nil {
					t.Fatal(err)
				}
			} else {
				srv.Refuse(false)
			}
			ev := newEvents(1)[0]
			appendEventually(t, s, "order-1", eventlog.NoStream(), ev)
			sub, err := s.SubscribeAll(t.Context(), eventlog.Start)
			if err != nil {
				t.Fatalf("SubscribeAll once the node is up: %v", err)
			}
			defer sub.Close()
			if got := collect(t, sub, 1); got[0].ID != ev.ID {
				t.Fatalf("subscription delivered %x, want %x", got[0].ID, ev.ID)
			}
		})
	}
}

func TestWrongExpectedVersionUnderConcurrentAppenders(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	s := open(t, kurrentdb.Options{URL: srv.URL(), Categories: []string{"order-"}})
	if _, err := s.Append(t.Context(), "order-1", eventlog.NoStream(), newEvents(1)); err != nil {
		t.Fatal(err)
	}
	const appenders = 16
	errs := make([]error, appenders)
	var wg sync.WaitGroup
	for i := range appenders {
		wg.Go(func() {
			_, errs[i] = s.Append(t.Context(), "order-1", eventlog.Exactly(0), newEvents(2))
		})
	}
	wg.Wait()
	won := 0
	for i, err := range errs {
		var wrong *eventlog.WrongExpectedVersionError
		switch {
		case err == nil:
			won++
		case !errors.Is(err, eventlog.ErrWrongExpectedVersion) || !errors.As(err, &wrong):
			t.Errorf("appender %d: %v, want a *WrongExpectedVersionError", i, err)
		case wrong.Stream != "order-1" || wrong.Expected != eventlog.Exactly(0):
			t.Errorf("appender %d: conflict names %s %s, want order-1 revision 0", i, wrong.Stream, wrong.Expected)
		}
	}
	if won != 1 {
		t.Fatalf("%d appenders won, want 1", won)
	}
	if evs, err := s.ReadStream(t.Context(), "order-1", 0, 0); err != nil || len(evs) != 3 {
		t.Fatalf("stream holds %d events (%v), want 3", len(evs), err)
	}
}

func TestDroppedSubscriptionResumes(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	s := open(t, kurrentdb.Options{URL: srv.URL(), Categories: []string{"order-"}})
	sub, err := s.SubscribeAll(t.Context(), eventlog.Start)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()

	const streams, perStream = 4, 250
	var wg sync.WaitGroup
	writeErrs := make(chan error, streams)
	for w := range streams {
		wg.Go(func() {
			expected := eventlog.NoStream()
			for range perStream {
				res, err := s.Append(t.Context(), fmt.Sprint("order-", w), expected, newEvents(1))
				if err != nil {
					writeErrs <- err
					return
				}
				expected = eventlog.Exactly(res.Revision)
			}
		})
	}
	dropped := 0
	stopDropping := make(chan struct{})
	var dropper sync.WaitGroup
	dropper.Go(func() {
		for {
			select {
			case <-stopDropping:
				return
			case <-time.After(2 * time.Millisecond):
				dropped += srv.DropSubscriptions()
			}
		}
	})
	got := collect(t, sub, streams*perStream)
	close(stopDropping)
	dropper.Wait()
	wg.Wait()
	close(writeErrs)
	for err := range writeErrs {
		t.Fatal(err)
	}
	if dropped == 0 {
		t.Fatal("the server dropped no subscription; the test proved nothing")
	}
	t.Logf("the server dropped the subscription %d times", dropped)
	sameAsLog(t, s, got)
}

// TestFilterLeavesOutOtherStreams writes system-like and other applications' streams next to
// hookd's with a plain client and checks that reads of $all, LastPosition and subscriptions see
// only hookd's categories.
func TestFilterLeavesOutOtherStreams(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	conf, err := esdb.ParseConnectionString(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	conf.Logger = esdb.NoopLogging()
	raw, err := esdb.NewClient(conf)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	foreign := func(stream string) {
		t.Helper()
		_, err := raw.AppendToStream(t.Context(), stream, esdb.AppendToStreamOptions{ExpectedRevision: esdb.Any{}},
			esdb.EventData{EventID: uuid.New(), EventType: "Other", ContentType: esdb.ContentTypeJson, Data: []byte("{}")})
		if err != nil {
			t.Fatal(err)
		}
	}
	s := open(t, kurrentdb.Options{URL: srv.URL()}) // hookd's default categories
	foreign("$stats-127.0.0.1")
	res, err := s.Append(t.Context(), "webhook-1", eventlog.NoStream(), newEvents(1))
	if err != nil {
		t.Fatal(err)
	}
	foreign("billing-1")
	foreign("webhookx-1") // shares the letters, not the category
	if _, err := s.Append(t.Context(), "license-1", eventlog.NoStream(), newEvents(1)); err != nil {
		t.Fatal(err)
	}
	last, err := s.Append(t.Context(), "servicekey-1", eventlog.NoStream(), newEvents(1))
	if err != nil {
		t.Fatal(err)
	}
	foreign("$ce-webhook")

	if _, err := s.Append(t.Context(), "billing-2", eventlog.NoStream(), newEvents(1)); err == nil {
		t.Error("Append to a stream outside hookd's categories succeeded")
	}
	all, err := s.ReadAll(t.Context(), eventlog.Start, 0)
	if err != nil {
		t.Fatal(err)
	}
	var streams []string
	for _, ev := range all {
		streams = append(streams, ev.Stream)
	}
	if fmt.Sprint(streams) != "[webhook-1 license-1 servicekey-1]" {
		t.Errorf("ReadAll sees %v, want hookd's three streams", streams)
	}
	if page, err := s.ReadAll(t.Context(), res.Position, 1); err != nil || len(page) != 1 || page[0].Stream != "license-1" {
		t.Errorf("ReadAll after the first event, limit 1: %v (%v), want license-1", page, err)
	}
	if pos, err := s.LastPosition(t.Context()); err != nil || pos != last.Position {
		t.Errorf("LastPosition %s (%v), want %s", pos, err, last.Position)
	}
	sub, err := s.SubscribeAll(t.Context(), eventlog.Start)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	got := collect(t, sub, 3)
	for i := range got {
		if got[i].Stream != streams[i] {
			t.Errorf("subscription event %d is in %s, want %s", i, got[i].Stream, streams[i])
		}
	}
}

func TestOptionsValidate(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		opts kurrentdb.Options
		ok   bool
	}{
		{"Esdb", kurrentdb.Options{URL: "esdb://127.0.0.1:2113?tls=false"}, true},
		{"KurrentScheme", kurrentdb.Options{URL: "kurrentdb://admin:changeit@127.0.0.1:2113"}, true},
		{"Discover", kurrentdb.Options{URL: "kurrentdb+discover://node1:2113,node2:2113"}, true},
		{"NoURL", kurrentdb.Options{}, false},
		{"BadURL", kurrentdb.Options{URL: "http://127.0.0.1:2113"}, false},
		{"SystemPrefix", kurrentdb.Options{URL: "esdb://h:2113", StreamPrefix: "$hookd"}, false},
		{"EmptyCategory", kurrentdb.Options{URL: "esdb://h:2113", Categories: []string{""}}, false},
		{"SystemCategory", kurrentdb.Options{URL: "esdb://h:2113", Categories: []string{"$ce-"}}, false},
		{"NegativeTimeout", kurrentdb.Options{URL: "esdb://h:2113", Timeout: -1}, false},
	}
	for _, c := range cases {
		if err := c.opts.Validate(); (err == nil) != c.ok {
			t.Errorf("%s: Validate() = %v, want ok=%v", c.name, err, c.ok)
		}
	}
}

// TestConcurrentCallsWhileDown makes many calls at once while the node is down after a first
// connection. The v4 client rediscovers the node in one goroutine and strands calls that wait on it
// when discovery fails; through the adapter every call must still return, promptly, as unavailable.
func TestConcurrentCallsWhileDown(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	s := open(t, kurrentdb.Options{URL: srv.URL(), Categories: []string{"order-"}})
	if _, err := s.Append(t.Context(), "order-1", eventlog.NoStream(), newEvents(1)); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	const callers, calls = 32, 5
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			for j := range calls {
				began := time.Now()
				var err error
				if j%2 == 0 {
					_, err = s.Append(t.Context(), fmt.Sprint("order-", i+2), eventlog.NoStream(), newEvents(1))
				} else {
					_, err = s.ReadStream(t.Context(), "order-1", 0, 0)
				}
				if !errors.Is(err, eventlog.ErrUnavailable) {
					t.Errorf("caller %d, call %d: %v, want an error matching ErrUnavailable", i, j, err)
				}
				if took := time.Since(began); took > quickly {
					t.Errorf("caller %d, call %d took %v", i, j, took)
				}
			}
		})
	}
	wg.Wait()
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	appendEventually(t, s, "order-1", eventlog.Exactly(0), newEvents(1)[0])
}
