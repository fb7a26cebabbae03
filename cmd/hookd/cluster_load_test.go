package main

// Helpers of the cluster tests that run `hookd serve` processes under a steady load: a receiver
// that times every request and counts those in flight, a cluster of processes that can be killed
// or stopped one by one, and a publisher that keeps publishing while they are.

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hookd/hookd/adapters/kosmosauth"
	"github.com/hookd/hookd/adapters/kosmoscrypto"
)

// arrival is one request a clusterReceiver got.
type arrival struct {
	id string // its webhook-id
	at time.Time
}

// clusterReceiver is a webhook target on 127.0.0.1 that answers 200 after latency: it counts the
// requests per webhook-id, keeps the first body of each, records when each arrived, and measures
// how many were in flight at once.
type clusterReceiver struct {
	srv     *httptest.Server
	latency time.Duration

	mu          sync.Mutex
	count       map[string]int
	body        map[string]string
	differ      int // requests whose body differed from the first with their id
	arrivals    []arrival
	inFlight    int
	maxInFlight int
}

func newClusterReceiver(t *testing.T, latency time.Duration) *clusterReceiver {
	r := &clusterReceiver{latency: latency, count: map[string]int{}, body: map[string]string{}}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		id := req.Header.Get("Webhook-Id")
		r.mu.Lock()
		r.count[id]++
		if first, ok := r.body[id]; !ok {
			r.body[id] = string(body)
		} else if first != string(body) {
			r.differ++
		}
		r.arrivals = append(r.arrivals, arrival{id: id, at: time.Now()})
		r.inFlight++
		r.maxInFlight = max(r.maxInFlight, r.inFlight)
		r.mu.Unlock()
		time.Sleep(r.latency)
		r.mu.Lock()
		r.inFlight--
		r.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// distinct is how many webhook-ids have arrived.
func (r *clusterReceiver) distinct() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.count)
}

// tallyOf counts, for the webhook-ids given, those never delivered and the requests beyond the
// first of each.
func (r *clusterReceiver) tallyOf(ids []string) (lost, duplicates int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, id := range ids {
		n := r.count[id]
		if n == 0 {
			lost++
		}
		duplicates += max(n-1, 0)
	}
	return lost, duplicates
}

// waitAll waits until every one of ids has arrived, and fails the test naming how many have not.
func (r *clusterReceiver) waitAll(t *testing.T, ids []string, within time.Duration) {
	t.Helper()
	if !eventually(within, func() bool { lost, _ := r.tallyOf(ids); return lost == 0 }) {
		lost, _ := r.tallyOf(ids)
		t.Fatalf("after %v, %d of %d accepted events not delivered", within, lost, len(ids))
	}
}

// failover measures delivery around a failure at killed: after is the time from killed to the
// first arrival of an event accepted after it (accepted maps webhook-ids to when the API accepted
// them), and gap the longest gap between two arrivals from the last one before killed to that one.
func (r *clusterReceiver) failover(killed time.Time, accepted map[string]time.Time) (after, gap time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var previous time.Time
	for _, a := range r.arrivals {
		if a.at.Before(killed) {
			previous = a.at
			continue
		}
		if !previous.IsZero() {
			gap = max(gap, a.at.Sub(previous))
		}
		previous = a.at
		if at, ok := accepted[a.id]; ok && at.After(killed) {
			return a.at.Sub(killed), gap
		}
	}
	return -1, gap
}

// usualLatency is the median time from acceptance to first arrival of the events accepted in the
// 3 s before at: what a failover's figure compares with.
func (r *clusterReceiver) usualLatency(at time.Time, accepted map[string]time.Time) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	var latencies []time.Duration
	seen := map[string]bool{}
	for _, a := range r.arrivals {
		acc, ok := accepted[a.id]
		if ok && !seen[a.id] && acc.Before(at) && acc.After(at.Add(-3*time.Second)) {
			latencies = append(latencies, a.at.Sub(acc))
		}
		seen[a.id] = true
	}
	if len(latencies) == 0 {
		return -1
	}
	slices.Sort(latencies)
	return latencies[len(latencies)/2]
}

// procCluster is a cluster of `hookd serve` processes sharing env. Its lock is held by a publish
// in flight, so that a node is killed or stopped only between two publishes to it.
type procCluster struct {
	t     *testing.T
	mu    sync.Mutex
	procs []*process
	nodes []*testHookd
	keys  []string // each node's service public key, which callers encrypt their headers to
	up    []bool
	// log reads the cluster's log, as another process would.
	log *node
}

// startProcCluster starts size `hookd serve` processes of bin, named prefix0, prefix1...; those
// still running when the test ends are stopped with SIGTERM.
func startProcCluster(t *testing.T, bin string, env map[string]string, prefix string, size int) *procCluster {
	t.Helper()
	c := &procCluster{t: t, log: openLogReader(t, testConfig(t, t.TempDir(), nodeEnv(env, prefix+"-reader")))}
	for i := range size {
		var vars []string
		for k, v := range nodeEnv(env, fmt.Sprint(prefix, i)) {
			vars = append(vars, k+"="+v)
		}
		p := startProcess(t, bin, t.TempDir(), vars...)
		h := &testHookd{t: t, url: p.url, license: env["HOOKD_BOOTSTRAP_LICENSE_KEY"], http: &http.Client{Timeout: 30 * time.Second}}
		c.procs, c.nodes, c.up = append(c.procs, p), append(c.nodes, h), append(c.up, true)
		c.keys = append(c.keys, h.servicePublicKey())
	}
	t.Cleanup(func() {
		for i := range c.procs {
			if c.isUp(i) {
				c.terminate(i)
			}
		}
	})
	return c
}

func (c *procCluster) isUp(i int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.up[i]
}

// upNow is which nodes run, for leaderOf.
func (c *procCluster) upNow() []bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.up)
}

// kill kills node i with SIGKILL and returns when it did, once no publish to it is in flight.
func (c *procCluster) kill(i int) time.Time {
	c.t.Helper()
	c.mu.Lock()
	c.up[i] = false
	killed := time.Now()
	err := c.procs[i].cmd.Process.Kill()
	c.mu.Unlock()
	if err != nil {
		c.t.Fatal(err)
	}
	<-c.procs[i].done
	return killed
}

// terminate sends node i SIGTERM and waits for its clean exit (process.stop's checks); it returns
// when the signal was sent.
func (c *procCluster) terminate(i int) time.Time {
	c.t.Helper()
	c.mu.Lock()
	c.up[i] = false
	c.mu.Unlock()
	sent := time.Now()
	c.procs[i].stop(c.t)
	return sent
}

// loadPublisher publishes batches of events to the running nodes in turn, one batch every
// interval, until stopped, and remembers when each delivery's event was accepted.
type loadPublisher struct {
	c        *procCluster
	scope    string
	hookID   string
	batch    int
	interval time.Duration
	stopped  chan struct{}
	done     chan struct{}

	mu       sync.Mutex
	accepted map[string]time.Time // webhook-id (the delivery id) -> when the API answered 202
	order    []string
	err      error
}

// publishSteadily starts a loadPublisher; stop it with stop.
func publishSteadily(c *procCluster, scope, hookID string, batch int, interval time.Duration) *loadPublisher {
	p := &loadPublisher{c: c, scope: scope, hookID: hookID, batch: batch, interval: interval,
		stopped: make(chan struct{}), done: make(chan struct{}), accepted: map[string]time.Time{}}
	go p.run()
	return p
}

func (p *loadPublisher) run() {
	defer close(p.done)
	tick := time.NewTicker(p.interval)
	defer tick.Stop()
	for turn := 0; ; turn++ {
		if err := p.publishOnce(turn); err != nil {
			p.mu.Lock()
			p.err = err
			p.mu.Unlock()
			return
		}
		select {
		case <-p.stopped:
			return
		case <-tick.C:
		}
	}
}

// publishOnce publishes one batch to a running node, holding the cluster's lock meanwhile.
func (p *loadPublisher) publishOnce(turn int) error {
	c := p.c
	c.mu.Lock()
	defer c.mu.Unlock()
	var live []int
	for i, up := range c.up {
		if up {
			live = append(live, i)
		}
	}
	if len(live) == 0 {
		return nil
	}
	i := live[turn%len(live)]
	p.mu.Lock()
	n := len(p.order)
	p.mu.Unlock()
	events := make([]map[string]any, p.batch)
	for j := range events {
		events[j] = map[string]any{"eventName": "E", "payload": map[string]any{"n": n + j}}
	}
	ids, err := tryPublish(c.nodes[i], c.keys[i], p.scope, events)
	if err != nil {
		return fmt.Errorf("publishing to node %d: %w", i, err)
	}
	at := time.Now()
	deliveries := make([]string, len(ids))
	for j, id := range ids {
		if deliveries[j], err = readDeliveryID(p.c.log, id, p.hookID); err != nil {
			return err
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, d := range deliveries {
		p.accepted[d] = at
		p.order = append(p.order, d)
	}
	return nil
}

// stop stops publishing and returns the delivery ids of every event accepted, and when each was.
func (p *loadPublisher) stop(t *testing.T) ([]string, map[string]time.Time) {
	t.Helper()
	select {
	case <-p.stopped:
	default:
		close(p.stopped)
	}
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		// Errorf, not Fatal: stop may run deferred, after the test has failed already.
		t.Errorf("the publisher stopped: %v", p.err)
	}
	return slices.Clone(p.order), p.accepted
}

// count is how many events have been accepted so far.
func (p *loadPublisher) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.order)
}

// acceptedAfter returns the delivery ids of the events accepted after at.
func (p *loadPublisher) acceptedAfter(at time.Time) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var ids []string
	for _, id := range p.order {
		if p.accepted[id].After(at) {
			ids = append(ids, id)
		}
	}
	return ids
}

// snapshot returns when each event accepted so far was.
func (p *loadPublisher) snapshot() map[string]time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]time.Time, len(p.accepted))
	for k, v := range p.accepted {
		out[k] = v
	}
	return out
}

// tryPublish publishes events as the bootstrap system license and returns their ids; unlike
// apiPublish it reports a failure instead of failing the test, so it may run in any goroutine.
func tryPublish(h *testHookd, serviceKey, scope string, events []map[string]any) ([]string, error) {
	caller, err := kosmoscrypto.GenerateKeyPair(rand.Reader)
	if err != nil {
		return nil, err
	}
	hdr, err := kosmosauth.Headers(serviceKey, caller.Private.Encode(), h.license, "test-app", time.Now(), rand.Reader)
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(events)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequest(http.MethodPost, h.url+scope+"/events", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := h.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusAccepted {
		return nil, fmt.Errorf("status %d: %s", resp.StatusCode, data)
	}
	var out struct{ IDs []string }
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, err
	}
	if len(out.IDs) != len(events) {
		return nil, fmt.Errorf("%d ids for %d events: %s", len(out.IDs), len(events), data)
	}
	return out.IDs, nil
}

// failoverLoad is three `hookd serve` processes delivering a steady stream of events to a slow
// receiver, for the tests that kill or stop part of a cluster under load.
type failoverLoad struct {
	c   *procCluster
	rcv *clusterReceiver
	pub *loadPublisher
}

// startFailoverLoad starts three nodes named prefix0..2 on env, each with concurrency attempts in
// flight and NATS's ack wait at 2 s, creates a webhook named prefix to a receiver that takes latency
// a request (retrying a failed connection or a 503 twice), and publishes 5 events every 100 ms to it
// until the test stops the publisher or ends.
func startFailoverLoad(t *testing.T, env map[string]string, prefix string, concurrency int, latency time.Duration) *failoverLoad {
	t.Helper()
	env["HOOKD_NATS_ACK_WAIT"] = "2s"
	env["HOOKD_DELIVERY_CONCURRENCY"] = fmt.Sprint(concurrency)
	c := startProcCluster(t, buildHookd(t), env, prefix, 3)
	rcv := newClusterReceiver(t, latency)
	scope := apiScope("t1", "c1")
	hook := apiCreate(c.nodes[0], c.nodes[0].license, scope, map[string]any{
		"eventNames": []string{"E"}, "name": prefix, "api": map[string]any{"url": rcv.srv.URL},
		"successCodes": []int{200}, "retryCodes": []int{0, 503}, "retryCount": 2,
	})
	pub := publishSteadily(c, scope, hook.ID, 5, 100*time.Millisecond)
	t.Cleanup(func() { pub.stop(t) })
	return &failoverLoad{c: c, rcv: rcv, pub: pub}
}

// moreAccepted waits for n more events accepted.
func (f *failoverLoad) moreAccepted(t *testing.T, n int) {
	t.Helper()
	target := f.pub.count() + n
	apiEventually(t, 60*time.Second, fmt.Sprint(n, " more events accepted"), func() bool { return f.pub.count() >= target })
}

// resumed waits for the first delivery of an event accepted after killed, and returns how long
// after killed it came and the longest gap between deliveries around it.
func (f *failoverLoad) resumed(t *testing.T, what string, killed time.Time) (after, gap time.Duration) {
	t.Helper()
	apiEventually(t, 90*time.Second, what, func() bool {
		after, gap = f.rcv.failover(killed, f.pub.snapshot())
		return after >= 0
	})
	return after, gap
}

// drain waits for 50 more events accepted, stops publishing and waits for every accepted event to
// arrive; it returns them, with how many were lost and how many deliveries were repeated.
func (f *failoverLoad) drain(t *testing.T) (ids []string, lost, duplicates int) {
	t.Helper()
	f.moreAccepted(t, 50)
	ids, _ = f.pub.stop(t)
	f.rcv.waitAll(t, ids, 120*time.Second)
	lost, duplicates = f.rcv.tallyOf(ids)
	return ids, lost, duplicates
}

// repeatsBounded fails the test when more than limit deliveries were repeated, or when a repeat
// carried another body than the first.
func (r *clusterReceiver) repeatsBounded(t *testing.T, duplicates, limit int) {
	t.Helper()
	if duplicates > limit {
		t.Errorf("%d duplicates, more than the %d attempts that can have been in flight", duplicates, limit)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.differ != 0 {
		t.Errorf("%d repeated deliveries carried another body than the first", r.differ)
	}
}
