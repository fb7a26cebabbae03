package main

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookd/hookd/adapters/eventstore/kurrentdb/kurrentdbtest"
)

// natsProcesses is a cluster of nats-server processes on 127.0.0.1, so that one can be killed with
// SIGKILL: no goodbye, the others must notice and elect new leaders.
type natsProcesses struct {
	names []string
	urls  []string
	cmds  []*exec.Cmd
}

// startNATSProcesses builds nats-server (the version go.mod pins) and starts size servers with
// JetStream, clustered by routes; it returns once their JetStream answers.
func startNATSProcesses(t *testing.T, size int) *natsProcesses {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "nats-server")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/nats-io/nats-server/v2").CombinedOutput(); err != nil {
		t.Fatalf("building nats-server: %v\n%s", err, out)
	}
	c := &natsProcesses{}
	var routes []string
	clusterPorts := make([]int, size)
	for i := range size {
		clusterPorts[i] = freeTCPPort(t)
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", clusterPorts[i]))
	}
	for i := range size {
		name, port := fmt.Sprint("nats", i), freeTCPPort(t)
		cmd := exec.Command(bin, "-a", "127.0.0.1", "-p", fmt.Sprint(port), "-n", name, "-js", "-sd", t.TempDir(),
			"--cluster_name", "hookdtest", "--cluster", fmt.Sprintf("nats://127.0.0.1:%d", clusterPorts[i]),
			"--routes", strings.Join(routes, ","))
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		})
		c.names, c.cmds = append(c.names, name), append(c.cmds, cmd)
		c.urls = append(c.urls, fmt.Sprintf("nats://127.0.0.1:%d", port))
	}
	js := c.jetStream(t)
	apiEventually(t, 60*time.Second, "the NATS cluster's JetStream up", func() bool {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		_, err := js.AccountInfo(ctx)
		return err == nil
	})
	return c
}

// url is the cluster's URL, every server's.
func (c *natsProcesses) url() string { return strings.Join(c.urls, ",") }

// jetStream connects to the cluster, for the test's own questions.
func (c *natsProcesses) jetStream(t *testing.T) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(c.url(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond), nats.RetryOnFailedConnect(true))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// streamLeader names the server that leads stream, waiting for the stream to have one.
func streamLeader(t *testing.T, js jetstream.JetStream, stream string) (leader string, replicas int) {
	t.Helper()
	apiEventually(t, 60*time.Second, "a leader of stream "+stream, func() bool {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel()
		s, err := js.Stream(ctx, stream)
		if err != nil {
			return false
		}
		info := s.CachedInfo()
		if info.Cluster == nil || info.Cluster.Leader == "" {
			return false
		}
		leader, replicas = info.Cluster.Leader, info.Config.Replicas
		return true
	})
	return leader, replicas
}

// TestClusterNATSStreamLeaderKilled runs three `hookd serve` processes on a cluster of three
// nats-server processes and kills, with SIGKILL, the server leading the delivery stream while
// events are published and delivered: JetStream elects another leader, every accepted event is
// delivered, repeats are bounded by the attempts in flight and carry the same webhook-id and body.
// It measures the stall: the time from the kill to the first delivery of an event accepted after
// it, and the longest gap between two deliveries around it.
func TestClusterNATSStreamLeaderKilled(t *testing.T) {
	t.Parallel()
	const concurrency = 8
	ns := startNATSProcesses(t, 3)
	kdb, err := kurrentdbtest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kdb.Close)
	env := clusterEnv(t, kdb.URL(), ns.url())
	env["HOOKD_NATS_REPLICAS"] = "3"
	js := ns.jetStream(t)
	// 50 events a second, well under what three nodes deliver (8 attempts of 50 ms each), so a
	// stall shows.
	load := startFailoverLoad(t, env, "streamnode", concurrency, 50*time.Millisecond)
	rcv, pub := load.rcv, load.pub

	apiEventually(t, 60*time.Second, "100 events delivered", func() bool { return rcv.distinct() >= 100 })
	leader, replicas := streamLeader(t, js, "hookd_deliveries")
	if replicas != 3 {
		t.Fatalf("the delivery stream has %d replicas, want 3", replicas)
	}
	i := slices.Index(ns.names, leader)
	if i < 0 {
		t.Fatalf("no server of the cluster is named %q", leader)
	}
	if err := ns.cmds[i].Process.Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	after, gap := load.resumed(t, "an event accepted after the stream leader's kill delivered", killed)
	next, _ := streamLeader(t, js, "hookd_deliveries")
	if next == leader {
		t.Fatalf("server %s still leads the stream after it was killed", leader)
	}
	t.Logf("FIGURE failover kill -9 NATS stream leader: next delivery of an event accepted after the kill %v after it "+
		"(accept-to-delivery before it: median %v); longest gap between deliveries %v (stream leader %s, then %s)",
		after.Round(time.Millisecond), rcv.usualLatency(killed, pub.snapshot()).Round(time.Millisecond), gap.Round(time.Millisecond), leader, next)

	ids, lost, duplicates := load.drain(t)
	t.Logf("%d events, %d lost, %d delivered twice", len(ids), lost, duplicates)
	// A handover or an ack the election cut short is made again; what can be repeated is what was
	// in flight, at most each node's concurrency.
	rcv.repeatsBounded(t, duplicates, 3*concurrency)
}

// TestClusterSIGTERMUnderLoad stops nodes of three with SIGTERM while they deliver to a slow
// receiver: a stopped node's attempts in flight finish and are recorded (serve's grace period), what
// it held and had not started goes back to the queue, and the others deliver the rest. First the
// dispatch leader, while two others deliver with room to spare: its successor hands over only what
// is due and the work queue does not hold, and not again the deliveries the last leader scheduled,
// so it sends nothing the other node is attempting. Then a node that does not lead. Nothing is lost
// and nothing is delivered twice, either time.
func TestClusterSIGTERMUnderLoad(t *testing.T) {
	t.Parallel()
	// A second a request, 50 events a second: about 50 attempts in flight in all, so the signal lands
	// while some are; 32 each, so that two nodes have room to spare, and a successor would attempt at
	// once a delivery it handed over again while the other node attempts it.
	const concurrency = 32
	load := startFailoverLoad(t, startClusterServices(t), "termnode", concurrency, time.Second)
	c, rcv, pub := load.c, load.rcv, load.pub
	apiEventually(t, 60*time.Second, "60 events delivered", func() bool { return rcv.distinct() >= 60 })
	stop := func(i int, what string) {
		t.Helper()
		before := metric(c.nodes[i], delivered2xx)
		apiEventually(t, 30*time.Second, "the node to stop delivering", func() bool { return metric(c.nodes[i], delivered2xx) > before })
		sent := c.terminate(i)
		t.Logf("node %d (%s) stopped %v after SIGTERM", i, what, time.Since(sent).Round(time.Millisecond))
		load.moreAccepted(t, 50)
	}
	delivered := func(ids []string) {
		t.Helper()
		rcv.waitAll(t, ids, 120*time.Second)
	}

	leader := leaderOf(t, c.nodes, c.upNow())
	stop(leader, "the dispatch leader")
	ids := pub.acceptedAfter(time.Time{})
	delivered(ids)
	lost, duplicates := rcv.tallyOf(ids)
	t.Logf("%d events accepted before and after the dispatch leader stopped, %d lost, %d delivered twice", len(ids), lost, duplicates)
	if duplicates != 0 {
		t.Errorf("%d deliveries were made twice; a clean stop of the dispatch leader repeats none", duplicates)
	}

	successor := leaderOf(t, c.nodes, c.upNow())
	other := 3 - leader - successor
	stop(other, "not the dispatch leader")
	all, _ := pub.stop(t)
	delivered(all)
	lost, repeated := rcv.tallyOf(all)
	t.Logf("%d events in all, %d lost, %d delivered twice after a node that does not lead stopped", len(all), lost, repeated-duplicates)
	if repeated-duplicates != 0 {
		t.Errorf("%d deliveries were made twice after a node that does not lead stopped; a clean stop repeats none",
			repeated-duplicates)
	}
}

// TestClusterReplaysFromSeveralNodes replays delivered events through the API of two nodes and with
// `hookd replay` on the log, while three nodes run: each replayed delivery is sent once more, and
// only once, with the same webhook-id and body.
func TestClusterReplaysFromSeveralNodes(t *testing.T) {
	t.Parallel()
	env := startClusterServices(t)
	nodes := make([]*testHookd, 3)
	for i := range nodes {
		nodes[i] = startHookdIn(t, t.TempDir(), nodeEnv(env, fmt.Sprint("replaying", i)))
	}
	// 200 ms a request: a replay is still being attempted when anything hands it out again.
	rcv := newClusterReceiver(t, 200*time.Millisecond)
	scope := apiScope("t1", "c1")
	hook := apiCreate(nodes[0], nodes[0].license, scope, map[string]any{
		"eventNames": []string{"E"}, "name": "replayed", "api": map[string]any{"url": rcv.srv.URL}, "successCodes": []int{200},
	})
	const events = 30
	batch := make([]map[string]any, events)
	for i := range batch {
		batch[i] = map[string]any{"eventName": "E", "payload": map[string]any{"n": i}}
	}
	var out struct{ IDs []string }
	apiPublish(nodes[1], nodes[1].license, scope, batch, &out)
	ids := make([]string, events)
	for i, id := range out.IDs {
		ids[i] = deliveryIDOf(t, nodes[1], id, hook.ID)
	}
	apiEventually(t, 60*time.Second, "every event delivered", func() bool { return rcv.distinct() == events })
	// Each node's read model shows them finished before it replays them (a delivery in flight is
	// skipped).
	var shown map[string]int // what the last look found: deliveries by status and attempts
	finished := func(h *testHookd, want int) func() bool {
		return func() bool {
			p := apiDeliveries(h, scope, hook.ID, map[string]any{"pSize": 100})
			shown = map[string]int{}
			for _, d := range p.Data {
				shown[fmt.Sprintf("%s after %d attempts", d.Status, len(d.Attempts))]++
			}
			return shown[fmt.Sprintf("succeeded after %d attempts", want)] == events
		}
	}
	for i, h := range nodes {
		if !eventually(60*time.Second, finished(h, 1)) {
			t.Fatalf("node %d does not show every delivery succeeded: %v", i, shown)
		}
	}

	var wg sync.WaitGroup
	for i, part := range [][]string{ids[:10], ids[10:20]} {
		wg.Go(func() {
			if got := apiReplay(nodes[i], scope, hook.ID, map[string]any{"deliveryIds": part}); got.Replayed != len(part) {
				t.Errorf("node %d replayed %d deliveries, want %d", i, got.Replayed, len(part))
			}
		})
	}
	wg.Go(func() {
		args := []string{"replay", "--tenant", "t1", "--community", "c1", "--webhook", hook.ID}
		for _, id := range ids[20:] {
			args = append(args, "--delivery", id)
		}
		cliEnv := nodeEnv(env, "replay-cli")
		cliEnv["HOOKD_DATA_DIR"] = t.TempDir()
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), args, func(k string) string { return cliEnv[k] }, &stdout, &stderr)
		if err != nil || !strings.HasPrefix(stdout.String(), "replayed 10 deliveries") {
			t.Errorf("hookd replay: %v\n%s%s", err, stdout.String(), stderr.String())
		}
	})
	wg.Wait()
	twice := func() int {
		rcv.mu.Lock()
		defer rcv.mu.Unlock()
		n := 0
		for _, id := range ids {
			if rcv.count[id] >= 2 {
				n++
			}
		}
		return n
	}
	apiEventually(t, 60*time.Second, "every replay delivered", func() bool { return twice() == events })
	// Once every node's read model shows each replay recorded, nothing is in flight that could
	// still repeat one.
	for i, h := range nodes {
		if !eventually(60*time.Second, finished(h, 2)) {
			t.Fatalf("node %d does not show every replay recorded: %v", i, shown)
		}
	}
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	for i, id := range ids {
		if n := rcv.count[id]; n != 2 {
			t.Errorf("delivery %d (%s) sent %d times, want 2 (the first delivery and its replay)", i, id, n)
		}
	}
	if rcv.differ != 0 {
		t.Errorf("%d replays carried another body than the first delivery", rcv.differ)
	}
}

// TestClusterSharesTheEndpointConcurrency: three delivering nodes hold the per-endpoint limit of
// attempts in flight (HOOKD_ENDPOINT_CONCURRENCY) for the cluster, each taking ceil(limit / 3): a
// slow receiver never sees more requests at once than the limit plus the rounding's tolerance
// (under one per node).
func TestClusterSharesTheEndpointConcurrency(t *testing.T) {
	t.Parallel()
	const limit, size = 4, 3
	env := startClusterServices(t)
	env["HOOKD_ENDPOINT_CONCURRENCY"] = fmt.Sprint(limit)
	nodes := make([]*testHookd, size)
	for i := range nodes {
		nodes[i] = startHookdIn(t, t.TempDir(), nodeEnv(env, fmt.Sprint("endpoint", i)))
	}
	// Each node counts the others from their heartbeats before it shares.
	apiEventually(t, 60*time.Second, "every node counting 3 delivering nodes", func() bool {
		for _, h := range nodes {
			if metric(h, "hookd_cluster_delivering_nodes") != size {
				return false
			}
		}
		return true
	})
	rcv := newClusterReceiver(t, 200*time.Millisecond)
	scope := apiScope("t1", "c1")
	apiCreate(nodes[0], nodes[0].license, scope, map[string]any{
		"eventNames": []string{"E"}, "name": "slow", "api": map[string]any{"url": rcv.srv.URL}, "successCodes": []int{200},
	})
	const events = 48
	for i, h := range nodes {
		batch := make([]map[string]any, events/size)
		for j := range batch {
			batch[j] = map[string]any{"eventName": "E", "payload": map[string]any{"n": i*len(batch) + j}}
		}
		apiPublish(h, h.license, scope, batch, nil)
	}
	apiEventually(t, 120*time.Second, "every event delivered", func() bool { return rcv.distinct() == events })
	delivering := 0
	for _, h := range nodes {
		if metric(h, delivered2xx) > 0 {
			delivering++
		}
	}
	rcv.mu.Lock()
	most := rcv.maxInFlight
	rcv.mu.Unlock()
	t.Logf("%d nodes delivered %d events to a receiver taking 200 ms; at most %d requests at once (limit %d, %d per node)",
		delivering, events, most, limit, (limit+size-1)/size)
	if delivering < 2 {
		t.Fatalf("%d node(s) delivered; the test proves nothing about sharing", delivering)
	}
	if tolerance := limit + size - 1; most > tolerance {
		t.Errorf("%d requests at once, want at most the limit %d plus under one per node (%d)", most, limit, tolerance)
	}
}

// eventually polls cond every 20 ms until it holds, and reports whether it did within the time.
func eventually(within time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(within); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			return false
		}
	}
	return true
}
