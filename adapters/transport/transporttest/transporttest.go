// Package transporttest is the conformance suite of delivery transports (package transport), in the
// manner of Watermill's pubsub/tests.TestPubSub: every transport runs it, and Features says what a
// transport promises beyond the common rules.
//
// What every transport must do: hand out no message before its due time, and each soon after it;
// remove a message once acked; hand a nacked message out again; hand a message out again when the
// subscription holding it closes or its node dies without acking; keep one message per key (publishing
// a key again replaces what waits); and share a topic's messages among its subscriptions, each
// message to one of them. Ordering is not promised, except where Features.DueOrder says so.
package transporttest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/hookd/hookd/adapters/transport"
)

// Features says what a transport promises beyond the common rules, and how slow it may be.
type Features struct {
	// Persistent: waiting messages, due and not yet due, survive Backend.Restart.
	Persistent bool
	// DueOrder: a subscription gets the messages due when it starts in due order.
	DueOrder bool
	// Lateness bounds how long after its due time a message is handed out on an idle machine; the
	// suite allows ten times as much on a loaded one.
	Lateness time.Duration
	// CrashRedelivery is true when a node's crash (Node.Crash) leaves its unacked messages to the
	// others after the ack wait; false when crashing is the same as closing.
	CrashRedelivery bool
}

// Node is one user of a transport, as a hookd node is: its own publisher and subscriber, sharing the
// topics of the others of its backend.
type Node struct {
	Publisher  message.Publisher
	Subscriber message.Subscriber
	// Crash stops the node as if its process died: no ack, no nack, no goodbye (optional: cancelling
	// the subscription's context).
	Crash func()
	// Backlog counts a topic's messages that are due and not yet handed to any subscription: the
	// due backlog /metrics shows.
	Backlog func(ctx context.Context, topic string) (int, error)
}

// Backend makes nodes of one transport.
type Backend struct {
	// NewNode returns a node whose unacked messages, should it crash, go to others after ackWait;
	// it closes the node when t ends.
	NewNode func(t *testing.T, ackWait time.Duration) Node
	// Restart stops the transport's servers and starts them again on their storage (needed when
	// Features.Persistent).
	Restart func(t *testing.T)
}

// hangs bounds every wait of the suite: reached, it means the transport lost a message.
const hangs = 20 * time.Second

// Run runs the suite.
func Run(t *testing.T, f Features, b Backend) {
	t.Run("DueTimeHonoured", func(t *testing.T) { t.Parallel(); testDueTime(t, f, b) })
	t.Run("MessageKeepsPayloadAndMetadata", func(t *testing.T) { t.Parallel(); testKeeps(t, b) })
	t.Run("AckRemoves", func(t *testing.T) { t.Parallel(); testAckRemoves(t, b) })
	t.Run("NackRedelivers", func(t *testing.T) { t.Parallel(); testNack(t, b) })
	t.Run("CloseHandsBackAtOnce", func(t *testing.T) { t.Parallel(); testClose(t, b) })
	t.Run("CrashRedeliversAfterAckWait", func(t *testing.T) { t.Parallel(); testCrash(t, f, b) })
	t.Run("RescheduleReplaces", func(t *testing.T) { t.Parallel(); testReschedule(t, f, b) })
	t.Run("SubscriptionsShareWork", func(t *testing.T) { t.Parallel(); testShare(t, b) })
	t.Run("BacklogCountsDueMessagesWaiting", func(t *testing.T) { t.Parallel(); testBacklog(t, b) })
	if f.DueOrder {
		t.Run("DueOrder", func(t *testing.T) { t.Parallel(); testDueOrder(t, b) })
	}
	if f.Persistent {
		// Not parallel: the restart would disturb the others.
		t.Run("SurvivesRestart", func(t *testing.T) { testRestart(t, f, b) })
	}
}

func newTopic() string { return "hookdtest." + watermill.NewShortUUID() }

// received is a message and when it came.
type received struct {
	msg *message.Message
	at  time.Time
	sub int
}

// collect subscribes to topic and passes what comes to a channel, acking as ack says (nil: ack at once).
func collect(t *testing.T, ctx context.Context, n Node, topic string, sub int, into chan<- received, ack func(*message.Message) bool) {
	t.Helper()
	msgs, err := n.Subscriber.Subscribe(ctx, topic)
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	go func() {
		for msg := range msgs {
			into <- received{msg: msg, at: time.Now(), sub: sub}
			if ack == nil || ack(msg) {
				msg.Ack()
			}
		}
	}()
}

func next(t *testing.T, ch <-chan received) received {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(hangs):
		t.Fatal("no message came")
		return received{}
	}
}

func nothing(t *testing.T, ch <-chan received, within time.Duration) {
	t.Helper()
	select {
	case r := <-ch:
		t.Fatalf("message %s came, want none", r.msg.UUID)
	case <-time.After(within):
	}
}

func publish(t *testing.T, n Node, topic, key, payload string, due time.Time) {
	t.Helper()
	msg := message.NewMessage(key, []byte(payload))
	transport.SetDueAt(msg, due)
	if err := n.Publisher.Publish(topic, msg); err != nil {
		t.Fatalf("Publish(%s): %v", key, err)
	}
}

func testDueTime(t *testing.T, f Features, b Backend) {
	n, topic := b.NewNode(t, time.Minute), newTopic()
	start := time.Now()
	later := start.Add(1500 * time.Millisecond)
	publish(t, n, topic, "later", "l", later)
	publish(t, n, topic, "now", "n", time.Time{})
	got := make(chan received, 10)
	collect(t, t.Context(), n, topic, 0, got, nil)
	if r := next(t, got); r.msg.UUID != "now" {
		t.Fatalf("first = %s, want the message due now", r.msg.UUID)
	}
	r := next(t, got)
	if r.msg.UUID != "later" || string(r.msg.Payload) != "l" {
		t.Fatalf("second = %s %q, want later", r.msg.UUID, r.msg.Payload)
	}
	if r.at.Before(later) {
		t.Fatalf("handed out %v before its due time", later.Sub(r.at))
	}
	late := r.at.Sub(later)
	t.Logf("handed out %v after its due time", late)
	if late > 10*f.Lateness+time.Second {
		t.Fatalf("handed out %v after its due time, the transport promises %v", late, f.Lateness)
	}
	if d, err := transport.DueAt(r.msg); err != nil || !d.Equal(later.UTC().Truncate(0)) {
		t.Fatalf("DueAt = %v, %v; want %v", d, err, later)
	}
}

// testBacklog: messages due before anyone subscribes are the backlog, those due later are not, and
// the backlog is empty once a subscription has taken them.
func testBacklog(t *testing.T, b Backend) {
	n, topic := b.NewNode(t, time.Minute), newTopic()
	for _, key := range []string{"a", "b", "c"} {
		publish(t, n, topic, key, "p", time.Time{})
	}
	for _, key := range []string{"x", "y"} {
		publish(t, n, topic, key, "p", time.Now().Add(time.Hour))
	}
	waitBacklog(t, n, topic, 3)
	again := make(chan received, 10)
	collect(t, t.Context(), n, topic, 1, again, nil)
	for range 3 {
		next(t, again)
	}
	waitBacklog(t, n, topic, 0)
}

// waitBacklog waits until the node counts want messages in the topic's backlog.
func waitBacklog(t *testing.T, n Node, topic string, want int) {
	t.Helper()
	deadline := time.Now().Add(hangs)
	for {
		got, err := n.Backlog(t.Context(), topic)
		if err == nil && got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("backlog %d (%v), want %d", got, err, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// testKeeps hands out each message as it was published: a payload that is its key's bytes (as
// hookd's are), one that is not, one that is empty, with the metadata and due time they carried.
func testKeeps(t *testing.T, b Backend) {
	n, topic := b.NewNode(t, time.Minute), newTopic()
	due := time.Now().Add(-time.Second).UTC().Truncate(time.Microsecond)
	sent := map[string]*message.Message{}
	for key, payload := range map[string]string{"same": "same", "other": "a payload", "empty": ""} {
		msg := message.NewMessage(key, []byte(payload))
		msg.Metadata.Set("tenant", "t-"+key)
		transport.SetDueAt(msg, due)
		if err := n.Publisher.Publish(topic, msg); err != nil {
			t.Fatalf("Publish(%s): %v", key, err)
		}
		// What the transport holds is its own: the publisher may reuse the message's metadata.
		msg.Metadata.Set("tenant", "changed")
		sent[key] = msg
	}
	got := make(chan received, len(sent))
	collect(t, t.Context(), n, topic, 0, got, nil)
	for range sent {
		r := next(t, got)
		if r.msg.UUID == "" || sent[r.msg.UUID] == nil {
			t.Fatalf("got message %q, not one of those published", r.msg.UUID)
		}
		key := r.msg.UUID
		if string(r.msg.Payload) != string(sent[key].Payload) {
			t.Errorf("%s: payload %q, want %q", key, r.msg.Payload, sent[key].Payload)
		}
		if tenant := r.msg.Metadata.Get("tenant"); tenant != "t-"+key {
			t.Errorf("%s: metadata tenant = %q, want %q", key, tenant, "t-"+key)
		}
		if at, err := transport.DueAt(r.msg); err != nil || !at.Equal(due) {
			t.Errorf("%s: due %v (%v), want %v", key, at, err, due)
		}
		delete(sent, key)
	}
}

func testAckRemoves(t *testing.T, b Backend) {
	ackWait := 500 * time.Millisecond
	n, topic := b.NewNode(t, ackWait), newTopic()
	publish(t, n, topic, "k", "p", time.Time{})
	got := make(chan received, 10)
	collect(t, t.Context(), n, topic, 0, got, nil)
	if r := next(t, got); r.msg.UUID != "k" {
		t.Fatalf("got %s", r.msg.UUID)
	}
	// Unacked, it would come again after the ack wait; acked, it must not.
	nothing(t, got, 4*ackWait)
	other := make(chan received, 10)
	collect(t, t.Context(), b.NewNode(t, ackWait), topic, 1, other, nil)
	nothing(t, other, 2*ackWait)
}

func testNack(t *testing.T, b Backend) {
	n, topic := b.NewNode(t, time.Minute), newTopic()
	publish(t, n, topic, "k", "p", time.Time{})
	got := make(chan received, 10)
	nacks := 0
	collect(t, t.Context(), n, topic, 0, got, func(msg *message.Message) bool {
		if nacks < 2 {
			nacks++
			msg.Nack()
			return false
		}
		return true
	})
	for i := range 3 {
		if r := next(t, got); r.msg.UUID != "k" || string(r.msg.Payload) != "p" {
			t.Fatalf("delivery %d = %s %q", i, r.msg.UUID, r.msg.Payload)
		}
	}
	nothing(t, got, time.Second)
}

// testClose: a subscription that closes with a message unacked hands it back at once, long before
// the ack wait.
func testClose(t *testing.T, b Backend) {
	first, topic := b.NewNode(t, 10*hangs), newTopic()
	publish(t, first, topic, "k", "p", time.Time{})
	got := make(chan received, 10)
	ctx, cancel := context.WithCancel(t.Context())
	collect(t, ctx, first, topic, 0, got, func(*message.Message) bool { return false })
	next(t, got)
	cancel()
	other := make(chan received, 10)
	collect(t, t.Context(), b.NewNode(t, 10*hangs), topic, 1, other, nil)
	if r := next(t, other); r.msg.UUID != "k" {
		t.Fatalf("got %s", r.msg.UUID)
	}
}

// testCrash: a node that dies with messages unacked leaves them to the others after the ack wait.
func testCrash(t *testing.T, f Features, b Backend) {
	ackWait := time.Second
	dying, topic := b.NewNode(t, ackWait), newTopic()
	for i := range 3 {
		publish(t, dying, topic, fmt.Sprint("k", i), "p", time.Time{})
	}
	got := make(chan received, 10)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	collect(t, ctx, dying, topic, 0, got, func(*message.Message) bool { return false })
	for range 3 {
		next(t, got)
	}
	crashed := time.Now()
	if dying.Crash != nil {
		dying.Crash()
	} else {
		cancel()
	}
	other := make(chan received, 10)
	collect(t, t.Context(), b.NewNode(t, ackWait), topic, 1, other, nil)
	keys := map[string]bool{}
	for range 3 {
		r := next(t, other)
		keys[r.msg.UUID] = true
		if f.CrashRedelivery && r.at.Sub(crashed) < ackWait/2 {
			// The server cannot know the node died before the ack wait.
			t.Fatalf("%s handed out again %v after the crash, before the ack wait", r.msg.UUID, r.at.Sub(crashed))
		}
	}
	if len(keys) != 3 {
		t.Fatalf("got %v, want k0, k1 and k2", keys)
	}
	t.Logf("handed out again %v after the crash (ack wait %v)", time.Since(crashed), ackWait)
}

func testReschedule(t *testing.T, f Features, b Backend) {
	t.Run("Earlier", func(t *testing.T) {
		t.Parallel()
		n, topic := b.NewNode(t, time.Minute), newTopic()
		start := time.Now()
		publish(t, n, topic, "k", "first", start.Add(2*time.Second))
		publish(t, n, topic, "k", "second", start.Add(300*time.Millisecond))
		got := make(chan received, 10)
		collect(t, t.Context(), n, topic, 0, got, nil)
		r := next(t, got)
		if string(r.msg.Payload) != "second" || r.at.Before(start.Add(300*time.Millisecond)) {
			t.Fatalf("got %q after %v, want second after 300ms", r.msg.Payload, r.at.Sub(start))
		}
		// The replaced timer must not fire.
		nothing(t, got, time.Until(start.Add(2*time.Second))+f.Lateness+time.Second)
	})
	t.Run("Later", func(t *testing.T) {
		t.Parallel()
		n, topic := b.NewNode(t, time.Minute), newTopic()
		// The promise is about a timer that still waits when the key is published again: one
		// that has fired is a message due now, which a later timer does not recall. The first
		// publish may make the topic (a replicated stream takes a while on a loaded machine), so
		// the first timer is set once the topic exists, and far enough ahead that the second
		// publish comes before it fires; if it does not, the case cannot judge and says so.
		publish(t, n, topic, "warm", "warm", time.Time{})
		start := time.Now()
		firstDue, secondDue := start.Add(3*time.Second), start.Add(4*time.Second)
		publish(t, n, topic, "k", "first", firstDue)
		publish(t, n, topic, "k", "second", secondDue)
		if late := time.Since(firstDue); late >= 0 {
			t.Fatalf("the second publish came %v after the first timer was due: the case cannot judge", late)
		}
		got := make(chan received, 10)
		collect(t, t.Context(), n, topic, 0, got, nil)
		if r := next(t, got); string(r.msg.Payload) != "warm" {
			t.Fatalf("got %q, want warm (due at once) first", r.msg.Payload)
		}
		r := next(t, got)
		if string(r.msg.Payload) != "second" || r.at.Before(secondDue) {
			t.Fatalf("got %q after %v, want second, at or after %v", r.msg.Payload, r.at.Sub(start), secondDue.Sub(start))
		}
		// Delivered once: the replaced timer does not fire, nor does the new one again.
		nothing(t, got, f.Lateness+time.Second)
	})
	t.Run("NowCancelsTimer", func(t *testing.T) {
		t.Parallel()
		n, topic := b.NewNode(t, time.Minute), newTopic()
		start := time.Now()
		publish(t, n, topic, "k", "timer", start.Add(1500*time.Millisecond))
		publish(t, n, topic, "k", "now", time.Time{})
		got := make(chan received, 10)
		collect(t, t.Context(), n, topic, 0, got, nil)
		if r := next(t, got); string(r.msg.Payload) != "now" {
			t.Fatalf("got %q, want now", r.msg.Payload)
		}
		nothing(t, got, time.Until(start.Add(1500*time.Millisecond))+f.Lateness+time.Second)
	})
	t.Run("DueTwice", func(t *testing.T) {
		t.Parallel()
		n, topic := b.NewNode(t, time.Minute), newTopic()
		publish(t, n, topic, "k", "first", time.Time{})
		publish(t, n, topic, "k", "second", time.Time{})
		publish(t, n, topic, "other", "o", time.Time{})
		got := make(chan received, 10)
		collect(t, t.Context(), n, topic, 0, got, nil)
		seen := map[string]string{}
		for range 2 {
			r := next(t, got)
			if _, twice := seen[r.msg.UUID]; twice {
				t.Fatalf("%s handed out twice", r.msg.UUID)
			}
			seen[r.msg.UUID] = string(r.msg.Payload)
		}
		if seen["k"] != "second" || seen["other"] != "o" {
			t.Fatalf("got %v, want k=second and other=o", seen)
		}
		nothing(t, got, time.Second)
	})
}

// testShare: two nodes' subscriptions share a topic, each message to one of them. Neither acks until
// both have had some, so one cannot take them all.
func testShare(t *testing.T, b Backend) {
	const count = 300
	a, c, topic := b.NewNode(t, time.Minute), b.NewNode(t, time.Minute), newTopic()
	for i := range count {
		publish(t, a, topic, fmt.Sprint("k", i), "p", time.Time{})
	}
	var (
		mu      sync.Mutex
		bySub   [2]int
		release = make(chan struct{})
		once    sync.Once
	)
	hold := func(sub int) func(*message.Message) bool {
		return func(msg *message.Message) bool {
			mu.Lock()
			bySub[sub]++
			if bySub[0] > 0 && bySub[1] > 0 {
				once.Do(func() { close(release) })
			}
			mu.Unlock()
			go func() {
				<-release
				msg.Ack()
			}()
			return false
		}
	}
	got := make(chan received, count)
	collect(t, t.Context(), a, topic, 0, got, hold(0))
	collect(t, t.Context(), c, topic, 1, got, hold(1))
	seen := map[string]int{}
	for range count {
		r := next(t, got)
		seen[r.msg.UUID]++
	}
	if len(seen) != count {
		t.Fatalf("%d distinct messages, want %d", len(seen), count)
	}
	nothing(t, got, time.Second)
	mu.Lock()
	defer mu.Unlock()
	if bySub[0] == 0 || bySub[1] == 0 {
		t.Fatalf("subscriptions got %v, want both some", bySub)
	}
	t.Logf("subscriptions got %v", bySub)
}

func testDueOrder(t *testing.T, b Backend) {
	n, topic := b.NewNode(t, time.Minute), newTopic()
	now := time.Now()
	for i := range 5 {
		publish(t, n, topic, fmt.Sprint("k", i), "p", now.Add(-time.Duration(i)*time.Millisecond))
	}
	got := make(chan received, 10)
	collect(t, t.Context(), n, topic, 0, got, nil)
	for i := 4; i >= 0; i-- {
		if r := next(t, got); r.msg.UUID != fmt.Sprint("k", i) {
			t.Fatalf("got %s, want k%d", r.msg.UUID, i)
		}
	}
}

func testRestart(t *testing.T, f Features, b Backend) {
	n, topic := b.NewNode(t, time.Minute), newTopic()
	publish(t, n, topic, "now", "n", time.Time{})
	later := time.Now().Add(2 * time.Second)
	publish(t, n, topic, "later", "l", later)
	b.Restart(t)
	got := make(chan received, 10)
	collect(t, t.Context(), b.NewNode(t, time.Minute), topic, 0, got, nil)
	if r := next(t, got); r.msg.UUID != "now" {
		t.Fatalf("first = %s, want now", r.msg.UUID)
	}
	r := next(t, got)
	if r.msg.UUID != "later" || r.at.Before(later) {
		t.Fatalf("second = %s %v before due, want later, not before due", r.msg.UUID, later.Sub(r.at))
	}
	t.Logf("the timer fired %v after its due time, across a restart", r.at.Sub(later))
	nothing(t, got, time.Second)
}
