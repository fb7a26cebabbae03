package kurrentdbtest_test

import (
	"errors"
	"io"
	"testing"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"github.com/hookd/hookd/adapters/eventstore/kurrentdb/kurrentdbtest"
)

// TestProtocol checks the server's semantics through the plain esdb client, without the adapter:
// positions that do not count events, idempotent re-append, reads, exclusive subscription starts
// and dropped subscriptions.
func TestProtocol(t *testing.T) {
	t.Parallel()
	srv, err := kurrentdbtest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	conf, err := esdb.ParseConnectionString(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	conf.Logger = esdb.NoopLogging()
	c, err := esdb.NewClient(conf)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := t.Context()
	evs := []esdb.EventData{
		{EventID: uuid.New(), EventType: "A", ContentType: esdb.ContentTypeJson, Data: []byte(`{}`)},
		{EventID: uuid.New(), EventType: "B", ContentType: esdb.ContentTypeJson, Data: []byte(`{}`)},
	}
	first, err := c.AppendToStream(ctx, "s-1", esdb.AppendToStreamOptions{ExpectedRevision: esdb.NoStream{}}, evs...)
	if err != nil {
		t.Fatal(err)
	}
	again, err := c.AppendToStream(ctx, "s-1", esdb.AppendToStreamOptions{ExpectedRevision: esdb.NoStream{}}, evs...)
	if err != nil || *again != *first {
		t.Fatalf("repeated append: %+v, %v; want %+v", again, err, first)
	}
	fresh := esdb.EventData{EventID: uuid.New(), EventType: "C", ContentType: esdb.ContentTypeJson, Data: []byte(`{}`)}
	_, err = c.AppendToStream(ctx, "s-1", esdb.AppendToStreamOptions{ExpectedRevision: esdb.Revision(0)}, fresh)
	var esErr *esdb.Error
	if !errors.As(err, &esErr) || esErr.Code() != esdb.ErrorCodeWrongExpectedVersion {
		t.Fatalf("stale append: %v, want WrongExpectedVersion", err)
	}

	rs, err := c.ReadStream(ctx, "s-1", esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.Revision(100)}, 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []*esdb.ResolvedEvent
	for {
		ev, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ev)
	}
	rs.Close()
	if len(got) != 2 || got[0].Event.EventNumber != 1 || got[0].Event.CreatedDate.IsZero() {
		t.Fatalf("backwards read from past the end: %d events", len(got))
	}
	if step := got[0].Event.Position.Commit - got[1].Event.Position.Commit; step <= 1 {
		t.Errorf("consecutive events are %d apart; positions must not count events", step)
	}

	missing, err := c.ReadStream(ctx, "s-2", esdb.ReadStreamOptions{}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := missing.Recv(); !errors.As(err, &esErr) || esErr.Code() != esdb.ErrorCodeResourceNotFound {
		t.Fatalf("missing stream: %v, want ResourceNotFound from Recv", err)
	}
	missing.Close()

	sub, err := c.SubscribeToAll(ctx, esdb.SubscribeToAllOptions{From: got[1].Event.Position})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if ev := sub.Recv(); ev.EventAppeared == nil || ev.EventAppeared.Event.EventNumber != 1 {
		t.Fatalf("subscription after the first event delivered %+v, want the second", ev)
	}
	if ev := sub.Recv(); ev.CaughtUp == nil {
		t.Fatalf("want caught-up after the log's end, got %+v", ev)
	}
	if n := srv.DropSubscriptions(); n != 1 {
		t.Fatalf("dropped %d subscriptions, want 1", n)
	}
	if ev := sub.Recv(); ev.SubscriptionDropped == nil {
		t.Fatalf("want the subscription dropped, got %+v", ev)
	}
}
