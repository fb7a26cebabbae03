package natstransport_test

import (
	"context"
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookd/hookd/adapters/natsserver"
	"github.com/hookd/hookd/adapters/transport"
	"github.com/hookd/hookd/adapters/transport/natstransport"
	"github.com/hookd/hookd/adapters/transport/transporttest"
)

// features: the stream keeps messages and timers on disk; the server's scheduler fires at most every
// 250 ms.
var features = transporttest.Features{Persistent: true, Lateness: 300 * time.Millisecond, CrashRedelivery: true}

// cluster is a set of in-process NATS servers on 127.0.0.1.
type cluster struct {
	t       *testing.T
	mu      sync.Mutex
	cfgs    []natsserver.Config
	servers []*natsserver.Server
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startCluster starts size servers; more than one are clustered.
func startCluster(t *testing.T, size int) *cluster {
	c := &cluster{t: t}
	var routes []string
	clusterPorts := make([]int, size)
	for i := range size {
		clusterPorts[i] = freePort(t)
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", clusterPorts[i]))
	}
	for i := range size {
		cfg := natsserver.Config{StoreDir: t.TempDir(), Name: fmt.Sprint("n", i), Port: freePort(t)}
		if size > 1 {
			cfg.Cluster = &natsserver.Cluster{Name: "hookdtest", Port: clusterPorts[i], Routes: routes}
		}
		c.cfgs = append(c.cfgs, cfg)
	}
	c.start()
	t.Cleanup(c.stop)
	return c
}

// start starts every server at once: a cluster's first server is ready only when a majority runs.
func (c *cluster) start() {
	c.servers = make([]*natsserver.Server, len(c.cfgs))
	var wg sync.WaitGroup
	errs := make([]error, len(c.cfgs))
	for i, cfg := range c.cfgs {
		wg.Go(func() { c.servers[i], errs[i] = natsserver.Start(context.Background(), cfg) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			c.t.Fatal(err)
		}
	}
}

func (c *cluster) stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, s := range c.servers {
		if s != nil {
			s.Shutdown()
			c.servers[i] = nil
		}
	}
}

func (c *cluster) url() string {
	urls := make([]string, len(c.cfgs))
	for i, cfg := range c.cfgs {
		urls[i] = fmt.Sprintf("nats://127.0.0.1:%d", cfg.Port)
	}
	return strings.Join(urls, ",")
}

func (c *cluster) connect(t *testing.T) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(c.url(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	return nc
}

func (c *cluster) backend() transporttest.Backend {
	return transporttest.Backend{
		NewNode: func(t *testing.T, ackWait time.Duration) transporttest.Node {
			nc := c.connect(t)
			ps, err := natstransport.New(natstransport.Config{Conn: nc, AckWait: ackWait, CloseTimeout: 300 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				_ = ps.Close()
				nc.Close()
			})
			return transporttest.Node{Publisher: ps, Subscriber: ps, Crash: nc.Close, Backlog: ps.Backlog}
		},
		Restart: func(*testing.T) {
			c.stop()
			c.start()
		},
	}
}

func TestConformanceOneServer(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 1)
	transporttest.Run(t, features, c.backend())
}

func TestConformanceThreeServers(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 3)
	transporttest.Run(t, features, c.backend())
}

// TestStreamLeaderShutDown shuts down the in-process server leading the stream under load (a clean
// shutdown hands the stream's leadership over first).
func TestStreamLeaderShutDown(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 3)
	underLoad(t, c.backend(), c.connect(t), func(stream string) string { return c.killStreamLeader(t, stream) })
}

// underLoad schedules a steady load of messages, a third of them timers, and calls kill when a third
// have come: nothing may be lost, no timer may fire early, and the stall is logged. kill returns
// the name of the server it killed.
func underLoad(t *testing.T, b transporttest.Backend, nc *nats.Conn, kill func(stream string) string) {
	const (
		count   = 600
		every   = 5 * time.Millisecond // about 200 messages a second
		killAt  = 200
		ackWait = 2 * time.Second
		delay   = time.Second
	)
	pub, sub := b.NewNode(t, ackWait), b.NewNode(t, ackWait)
	topic := "hookdtest.leader"
	sched := transport.NewScheduler(pub.Publisher, topic)
	if err := sched.Schedule(t.Context(), "warmup", time.Time{}); err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	info, err := js.Stream(t.Context(), "hookdtest_leader")
	if err != nil {
		t.Fatal(err)
	}
	if r := info.CachedInfo().Config.Replicas; r != 3 {
		t.Fatalf("stream has %d replicas, want 3 by default in a cluster", r)
	}

	type arrival struct {
		key string
		at  time.Time
	}
	arrivals := make(chan arrival, 2*count)
	msgs, err := sub.Subscriber.Subscribe(t.Context(), topic)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for msg := range msgs {
			arrivals <- arrival{msg.UUID, time.Now()}
			msg.Ack()
		}
	}()

	due := make(map[string]time.Time, count)
	var slowest time.Duration
	published := make(chan struct{})
	go func() {
		defer close(published)
		for i := range count {
			key, at := fmt.Sprint("k", i), time.Time{}
			if i%3 == 0 {
				at = time.Now().Add(delay)
			}
			due[key] = at
			start := time.Now()
			// As the dispatcher does: an error means try again, a success means the stream has it.
			for {
				ctx, cancel := context.WithTimeout(t.Context(), time.Second)
				err := sched.Schedule(ctx, key, at)
				cancel()
				if err == nil {
					break
				}
				if time.Since(start) > 20*time.Second {
					t.Errorf("publishing %s: %v", key, err)
					return
				}
				time.Sleep(50 * time.Millisecond)
			}
			slowest = max(slowest, time.Since(start))
			time.Sleep(every)
		}
	}()

	seen := map[string]time.Time{}
	var killed time.Time
	var killedName string
	var lastBeforeKill, stallEnd time.Time
	var stall time.Duration
	var previous time.Time
	timeout := time.After(60 * time.Second)
	for len(seen) < count+1 {
		select {
		case a := <-arrivals:
			if _, ok := seen[a.key]; !ok {
				seen[a.key] = a.at
			}
			if len(seen) == killAt && killed.IsZero() {
				killed, killedName = time.Now(), kill("hookdtest_leader")
			}
			if !previous.IsZero() && !killed.IsZero() && a.at.After(killed) {
				if gap := a.at.Sub(previous); gap > stall {
					stall, lastBeforeKill, stallEnd = gap, previous, a.at
				}
			}
			previous = a.at
		case <-timeout:
			t.Fatalf("%d of %d messages came", len(seen), count+1)
		}
	}
	<-published // due and slowest are the publisher's until then
	for key, at := range due {
		if seen[key].Before(at) {
			t.Errorf("%s handed out %v before its due time", key, at.Sub(seen[key]))
		}
	}
	t.Logf("killed stream leader %s; longest gap between messages after it %v (from %v to %v after the kill); slowest publish %v",
		killedName, stall.Round(time.Millisecond), lastBeforeKill.Sub(killed).Round(time.Millisecond),
		stallEnd.Sub(killed).Round(time.Millisecond), slowest.Round(time.Millisecond))
}

// killStreamLeader shuts down the server leading stream and returns its name.
func (c *cluster) killStreamLeader(t *testing.T, stream string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, s := range c.servers {
		if s != nil && s.IsStreamLeader(stream) {
			name := s.Name()
			s.Shutdown()
			c.servers[i] = nil
			return name
		}
	}
	t.Error("no server leads the stream")
	return ""
}

// TestRefusesStreamWithoutSchedules: a stream that cannot hold timers (made by hand, or by a server
// older than 2.12, which ignores the setting) is refused rather than left to lose timers.
func TestRefusesStreamWithoutSchedules(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 1)
	nc := c.connect(t)
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(t.Context(), jetstream.StreamConfig{Name: "plain", Subjects: []string{"plain.>"}}); err != nil {
		t.Fatal(err)
	}
	ps, err := natstransport.New(natstransport.Config{Conn: nc})
	if err != nil {
		t.Fatal(err)
	}
	defer ps.Close()
	err = transport.NewScheduler(ps, "plain").Schedule(t.Context(), "k", time.Now().Add(time.Minute))
	if err == nil || !strings.Contains(err.Error(), "message schedules") {
		t.Fatalf("Schedule = %v, want an error saying the stream does not allow message schedules", err)
	}
}

// TestHeld: the stream holds a key from its publication until a handler acks it: waiting, on a
// timer, in flight, nacked; once acked it is not held, and a lost stream holds nothing. A new
// dispatch leader relies on it to hand over only what no node will be handed.
func TestHeld(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 1)
	nc := c.connect(t)
	defer nc.Close()
	ps, err := natstransport.New(natstransport.Config{Conn: nc, AckWait: time.Minute, MaxInFlight: 2, CloseTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer ps.Close()
	const topic = "hookdtest.held"
	ctx := t.Context()
	sched := transport.NewScheduler(ps, topic)
	if held, err := ps.Held(ctx, topic); err != nil || len(held) != 0 {
		t.Fatalf("Held before the stream exists = %v, %v; want none", held, err)
	}
	// Two are handed out first (MaxInFlight 2): one is acked, the other stays in flight.
	for _, key := range []string{"acked", "in-flight"} {
		if err := sched.Schedule(ctx, key, time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	subCtx, stopSub := context.WithCancel(ctx)
	defer stopSub()
	msgs, err := ps.Subscribe(subCtx, topic)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*message.Message{}
	for len(got) < 2 {
		select {
		case msg := <-msgs:
			got[msg.UUID] = msg
		case <-time.After(30 * time.Second):
			t.Fatalf("only %d messages handed out", len(got))
		}
	}
	got["acked"].Ack()
	// Then one due now that waits (the subscription has no room), one on a timer, and a key that is
	// not a plain subject token.
	for key, at := range map[string]time.Time{"waiting": {}, "timer": time.Now().Add(time.Hour), "not plain/ key": time.Now().Add(time.Hour)} {
		if err := sched.Schedule(ctx, key, at); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"in-flight", "not plain/ key", "timer", "waiting"}
	var held map[string]struct{}
	// The ack is confirmed before Ack's watcher returns, not before Ack: wait for it.
	deadline := time.Now().Add(30 * time.Second)
	for {
		if held, err = ps.Held(ctx, topic); err != nil {
			t.Fatal(err)
		}
		if _, ok := held["acked"]; !ok || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if keys := slices.Sorted(maps.Keys(held)); !slices.Equal(keys, want) {
		t.Errorf("Held = %v, want %v", keys, want)
	}
	for key, want := range map[string]bool{"acked": false, "in-flight": true, "timer": true, "waiting": true, "not plain/ key": true, "never": false} {
		if got, err := ps.Holds(ctx, topic, key); err != nil || got != want {
			t.Errorf("Holds(%q) = %v, %v; want %v", key, got, err, want)
		}
	}
	// A nacked message goes back to wait: still held.
	got["in-flight"].Nack()
	time.Sleep(100 * time.Millisecond)
	if ok, err := ps.Holds(ctx, topic, "in-flight"); err != nil || !ok {
		t.Errorf("Holds(nacked) = %v, %v; want true", ok, err)
	}
	stopSub()
	for range msgs {
	}

	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if err := js.DeleteStream(ctx, "hookdtest_held"); err != nil {
		t.Fatal(err)
	}
	if held, err := ps.Held(ctx, topic); err != nil || len(held) != 0 {
		t.Errorf("Held after the stream was lost = %v, %v; want none", held, err)
	}
	if ok, err := ps.Holds(ctx, topic, "timer"); err != nil || ok {
		t.Errorf("Holds after the stream was lost = %v, %v; want false", ok, err)
	}
}
