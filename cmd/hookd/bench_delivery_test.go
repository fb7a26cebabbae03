package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hookd/hookd/adapters/kosmosauth"
	"github.com/hookd/hookd/adapters/kosmoscrypto"
	"github.com/hookd/hookd/application/command"
	"github.com/hookd/hookd/domain/delivery"
	"github.com/hookd/hookd/domain/license"
	"github.com/hookd/hookd/domain/publication"
	"github.com/hookd/hookd/domain/webhook"
	"github.com/hookd/hookd/projections/deliveryview"
)

// benchDuration is how long each delivery load runs: HOOKD_BENCH_DURATION (a Go duration), 10 s by
// default; `make bench-delivery` runs the goal's 60 s.
func benchDuration(b *testing.B) time.Duration {
	if s := os.Getenv("HOOKD_BENCH_DURATION"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			b.Fatalf("HOOKD_BENCH_DURATION: %v", err)
		}
		return d
	}
	return 10 * time.Second
}

// verifyingReceiver checks every signature of every delivery (Cosmo's HMAC, Standard Webhooks' v1
// and v1a) and records when each delivery id first arrived.
type verifyingReceiver struct {
	secret    []byte // the HMAC key of v1 (the decoded whsec_ part)
	rawSecret string // the Cosmo key (the secret's bytes)
	public    ed25519.PublicKey
	srv       *httptest.Server
	mu        sync.Mutex
	arrived   map[string]time.Time
	bad       atomic.Int64
}

func newVerifyingReceiver(b *testing.B, secret string) *verifyingReceiver {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		b.Fatal(err)
	}
	r := &verifyingReceiver{secret: key, rawSecret: secret, arrived: map[string]time.Time{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	b.Cleanup(r.srv.Close)
	return r
}

func (r *verifyingReceiver) serve(w http.ResponseWriter, req *http.Request) {
	at := time.Now()
	body, _ := io.ReadAll(req.Body)
	id, ts := req.Header.Get("Webhook-Id"), req.Header.Get("Webhook-Timestamp")
	signed := []byte(id + "." + ts + "." + string(body))
	ok := false
	v1 := hmac.New(sha256.New, r.secret)
	v1.Write(signed)
	wantV1 := "v1," + base64.StdEncoding.EncodeToString(v1.Sum(nil))
	v1aOK := false
	for _, e := range strings.Fields(req.Header.Get("Webhook-Signature")) {
		if e == wantV1 {
			ok = true
		}
		if sig, found := strings.CutPrefix(e, "v1a,"); found {
			raw, err := base64.StdEncoding.DecodeString(sig)
			v1aOK = err == nil && ed25519.Verify(r.public, signed, raw)
		}
	}
	cosmo := hmac.New(sha256.New, []byte(r.rawSecret))
	cosmo.Write(body)
	if !ok || !v1aOK || req.Header.Get("X-Cosmo-Signature-256") != hex.EncodeToString(cosmo.Sum(nil)) {
		r.bad.Add(1)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	if _, seen := r.arrived[id]; !seen {
		r.arrived[id] = at
	}
	r.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

// deliveryBench is a hookd started in-process on a fresh data directory, with a receiver.
type deliveryBench struct {
	b       *testing.B
	url     string
	license string
	rcv     *verifyingReceiver
	clients sync.Pool
	http    *http.Client
	cfg     config
	// node is the running server's, whose log says each delivery's id.
	node *node
	stop func()
}

// startDeliveryBench seeds webhooks (count listen to "E" and point to the receiver; others listen to
// "OTHER"), then starts hookd.
func startDeliveryBench(b *testing.B, listening, others int) (*deliveryBench, []string) {
	dir := b.TempDir()
	// The benchmark measures the node, not one license's quota.
	cfg := testConfig(b, dir, map[string]string{"HOOKD_ALLOW_PRIVATE_TARGETS": "true", "HOOKD_LICENSE_RATE": "1000000"})
	cfg.AllowedTimeSpan = time.Hour
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	rcv := newVerifyingReceiver(b, secret)
	ctx := context.Background()
	n, err := openNode(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	var hooks []string
	for i := range listening + others {
		name := "E"
		if i >= listening {
			name = "OTHER"
		}
		w, _, err := n.webhooks.Create(ctx, command.CreateWebhook{
			TenantID: "bench", CommunityID: "c1", CreatedBy: "bench", Secret: secret,
			Settings: webhook.Settings{Name: fmt.Sprint("hook ", i), EventNames: []string{name},
				API: webhook.Endpoint{URL: rcv.srv.URL + "/in"}, SuccessCodes: []int{200}, RetryCodes: []int{0, 503}, RetryCount: 2},
		}, command.Caller{Actor: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		if i < listening {
			hooks = append(hooks, w.ID())
		}
	}
	issued, err := n.licenses.Issue(ctx, command.IssueLicense{Level: license.LevelSystem}, command.Caller{Actor: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	if err := n.close(); err != nil {
		b.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	inst, err := start(runCtx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	d := &deliveryBench{b: b, url: "http://" + inst.addr, license: issued.Key, rcv: rcv, cfg: cfg, node: inst.node,
		http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}},
		stop: func() { cancel(); _ = inst.wait() }}
	b.Cleanup(d.stop)
	var wellKnown struct {
		Keys []struct{ PublicKey string } `json:"webhook_signing_keys"`
	}
	resp, err := http.Get(d.url + "/.well-known")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&wellKnown); err != nil || len(wellKnown.Keys) == 0 {
		b.Fatalf("/.well-known: %v", err)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(wellKnown.Keys[0].PublicKey, "whpk_"))
	if err != nil {
		b.Fatal(err)
	}
	rcv.public = raw
	servicePublicKey := fetchServicePublicKey(b, d.url)
	d.clients.New = func() any {
		caller, err := kosmoscrypto.GenerateKeyPair(rand.Reader)
		if err != nil {
			panic(err)
		}
		c, err := kosmosauth.NewClient(servicePublicKey, caller.Private.Encode())
		if err != nil {
			panic(err)
		}
		return c
	}
	return d, hooks
}

// publish publishes one event and returns its id and when it was accepted.
func (d *deliveryBench) publish(name string, seq int) (string, time.Time, error) {
	auth := d.clients.Get().(*kosmosauth.Client)
	defer d.clients.Put(auth)
	hdr, err := auth.Headers(d.license, "bench", time.Now(), rand.Reader)
	if err != nil {
		return "", time.Time{}, err
	}
	body := fmt.Appendf(nil, `{"eventName":%q,"payload":{"seq":%d,"user":{"id":"u-%d","plan":"pro"}}}`, name, seq, seq)
	req, err := http.NewRequest(http.MethodPost, d.url+"/tenant/bench/community/c1/events", bytes.NewReader(body))
	if err != nil {
		return "", time.Time{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := d.http.Do(req)
	if err != nil {
		return "", time.Time{}, err
	}
	defer resp.Body.Close()
	var out struct{ ID string }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusAccepted {
		return "", time.Time{}, fmt.Errorf("publish answered %d (%v)", resp.StatusCode, err)
	}
	return out.ID, time.Now(), nil
}

// accepted is a published event and when hookd accepted it.
type accepted struct {
	id string
	at time.Time
}

// load publishes from workers concurrently for duration, each worker pacing itself to interval
// between events (0: as fast as it can).
func (d *deliveryBench) load(workers int, duration, interval time.Duration) []accepted {
	var (
		mu   sync.Mutex
		all  []accepted
		seq  atomic.Int64
		wg   sync.WaitGroup
		stop = time.Now().Add(duration)
	)
	for range workers {
		wg.Go(func() {
			next := time.Now()
			var mine []accepted
			for time.Now().Before(stop) {
				if interval > 0 {
					time.Sleep(time.Until(next))
					next = next.Add(interval)
				}
				id, at, err := d.publish("E", int(seq.Add(1)))
				if err != nil {
					d.b.Error(err)
					return
				}
				mine = append(mine, accepted{id, at})
			}
			mu.Lock()
			all = append(all, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	return all
}

// settle waits until every delivery of the events to the hooks has arrived, or a minute has gone
// by, and returns the accept-to-receive latencies and when the last arrived.
func (d *deliveryBench) settle(events []accepted, hooks []string) (latencies []time.Duration, last time.Time, missing int) {
	type wanted struct {
		id       string
		accepted time.Time
	}
	var want []wanted
	for _, e := range events {
		for _, h := range hooks {
			want = append(want, wanted{deliveryIDIn(d.b, d.node, e.id, h), e.at})
		}
	}
	deadline := time.Now().Add(time.Minute)
	for {
		latencies, last, missing = latencies[:0], time.Time{}, 0
		d.rcv.mu.Lock()
		for _, w := range want {
			at, ok := d.rcv.arrived[w.id]
			if !ok {
				missing++
				continue
			}
			latencies = append(latencies, at.Sub(w.accepted))
			if at.After(last) {
				last = at
			}
		}
		d.rcv.mu.Unlock()
		if missing == 0 || time.Now().After(deadline) {
			slices.Sort(latencies)
			return latencies, last, missing
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[int(math.Ceil(p*float64(len(sorted))))-1]
}

// cpuTime is the CPU time the process has used, user and system.
func cpuTime() time.Duration {
	var u syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &u); err != nil {
		return 0
	}
	return time.Duration(u.Utime.Nano() + u.Stime.Nano())
}

// diskWritten is how many bytes the process has caused to be written to storage (write_bytes of
// /proc/self/io): the log's and the read models' WAL frames and checkpoints.
func diskWritten() int64 { return int64(procField("/proc/self/io", "write_bytes:")) }

// peakRSS is the process's peak resident set (VmHWM), in MiB: hookd, the load generator and the
// receiver together, since they share the process.
func peakRSS() float64 { return procField("/proc/self/status", "VmHWM:") / 1024 }

// procField reads the number after name on its line of a /proc file (units left out), or 0.
func procField(file, name string) float64 {
	data, err := os.ReadFile(file)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, name); ok {
			n, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return n
		}
	}
	return 0
}

// recordedSucceeded counts the succeeded deliveries of the community in the deliveries read model,
// after hookd stopped.
func (d *deliveryBench) recordedSucceeded() int {
	d.stop()
	n, err := openNode(context.Background(), d.cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		d.b.Fatal(err)
	}
	defer n.close()
	if err := n.catchUp(context.Background()); err != nil {
		d.b.Fatal(err)
	}
	page, err := n.deliveryView.Fetch(context.Background(), deliveryview.FetchQuery{
		TenantID: "bench", CommunityID: "c1", Status: delivery.StatusSucceeded, PageSize: 1})
	if err != nil {
		d.b.Fatal(err)
	}
	return page.Total
}

// BenchmarkDelivery measures hookd's delivery on the embedded default, over HTTP on 127.0.0.1, with
// a receiver that verifies every signature. Run it with -benchtime 1x: each case is one timed load.
//   - throughput: one webhook; 64 publishers, one event per request, as fast as they go.
//   - latency-1000: one webhook; 1,000 events/s, paced.
//   - fanout-100: one event to 100 webhooks; publish-to-schedule time.
//   - fanout-1-of-10000: 10,000 webhooks in one community, 1 listening; publish-to-schedule time.
func BenchmarkDelivery(b *testing.B) {
	duration := benchDuration(b)
	b.Run("throughput", func(b *testing.B) {
		d, hooks := startDeliveryBench(b, 1, 0)
		cpu, written := cpuTime(), diskWritten()
		started := time.Now()
		events := d.load(64, duration, 0)
		latencies, last, missing := d.settle(events, hooks)
		// CPU per delivery varies less from run to run than the rate does, and bytes written to disk
		// per delivery least: they are the figures to compare changes by. Both count the whole
		// process, load generator and receiver included.
		b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/float64(max(len(latencies), 1)), "cpu-µs/delivery")
		b.ReportMetric(float64(diskWritten()-written)/float64(max(len(latencies), 1)), "disk-B/delivery")
		d.report(b, events, hooks, latencies, missing, duration, last.Sub(started))
	})
	// The goal's rate, paced: whether delivery keeps up with 3,000 events/s published one per request
	// by 64 publishers, rather than how fast it drains a backlog they build.
	b.Run("paced-3000", func(b *testing.B) {
		d, hooks := startDeliveryBench(b, 1, 0)
		cpu := cpuTime()
		started := time.Now()
		events := d.load(64, duration, 64*time.Second/3000)
		latencies, last, missing := d.settle(events, hooks)
		b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/float64(max(len(latencies), 1)), "cpu-µs/delivery")
		d.report(b, events, hooks, latencies, missing, duration, last.Sub(started))
	})
	b.Run("latency-1000", func(b *testing.B) {
		d, hooks := startDeliveryBench(b, 1, 0)
		started := time.Now()
		events := d.load(50, duration, 50*time.Millisecond) // 50 workers, one event each 50 ms: 1,000/s
		latencies, last, missing := d.settle(events, hooks)
		d.report(b, events, hooks, latencies, missing, duration, last.Sub(started))
	})
	for _, fc := range []struct {
		name              string
		listening, others int
	}{{"fanout-100", 100, 0}, {"fanout-1-of-10000", 1, 9_999}} {
		b.Run(fc.name, func(b *testing.B) {
			d, hooks := startDeliveryBench(b, fc.listening, fc.others)
			n, err := openNode(context.Background(), d.cfg, slog.New(slog.DiscardHandler))
			if err != nil {
				b.Fatal(err)
			}
			defer n.close()
			var toSchedule []time.Duration
			var events []accepted
			for i := range 50 {
				id, at, err := d.publish("E", i)
				if err != nil {
					b.Fatal(err)
				}
				events = append(events, accepted{id, at})
				toSchedule = append(toSchedule, scheduleTime(b, n, id, fc.listening))
			}
			latencies, _, missing := d.settle(events, hooks)
			slices.Sort(toSchedule)
			b.ReportMetric(float64(percentile(toSchedule, 0.5).Microseconds())/1000, "schedule-p50-ms")
			b.ReportMetric(float64(percentile(toSchedule, 0.99).Microseconds())/1000, "schedule-p99-ms")
			b.ReportMetric(float64(percentile(latencies, 0.99).Microseconds())/1000, "receive-p99-ms")
			if missing > 0 || d.rcv.bad.Load() > 0 {
				b.Errorf("%d deliveries missing, %d failed verification", missing, d.rcv.bad.Load())
			}
		})
	}
}

// scheduleTime waits until the log holds count deliveries scheduled for the event id, and returns the
// time from the event's publication to the last of them being scheduled, as their metadata record.
// It reads the log through n, a second node on the server's data directory.
func scheduleTime(b *testing.B, n *node, eventID string, count int) time.Duration {
	ctx := context.Background()
	published, err := n.store.ReadStream(ctx, publication.StreamPrefix+eventID, 0, 1)
	if err != nil || len(published) == 0 {
		b.Fatalf("the publication of %s: %v", eventID, err)
	}
	publishedMD, err := n.codec.DecodeMetadata(published[0])
	if err != nil {
		b.Fatal(err)
	}
	after, found, last := published[0].Position, 0, time.Time{}
	for deadline := time.Now().Add(time.Minute); found < count; {
		page, err := n.store.ReadAll(ctx, after, 1000)
		if err != nil {
			b.Fatal(err)
		}
		if len(page) == 0 {
			if time.Now().After(deadline) {
				b.Fatalf("%d of %d deliveries of %s scheduled after a minute", found, count, eventID)
			}
			time.Sleep(time.Millisecond)
			continue
		}
		for _, r := range page {
			if r.Type != delivery.EventScheduled {
				continue
			}
			if md, err := n.codec.DecodeMetadata(r); err == nil && md.CorrelationID == eventID {
				found++
				last = md.OccurredAt
			}
		}
		after = page[len(page)-1].Position
	}
	return last.Sub(publishedMD.OccurredAt)
}

// report prints the figures of a load that published for loadTime and was delivered whole after
// elapsed: deliveries/s counts every verified delivery over elapsed, published/s the events
// accepted over loadTime.
func (d *deliveryBench) report(b *testing.B, events []accepted, hooks []string, latencies []time.Duration, missing int, loadTime, elapsed time.Duration) {
	b.ReportMetric(float64(len(latencies))/elapsed.Seconds(), "deliveries/s")
	b.ReportMetric(float64(len(events))/loadTime.Seconds(), "published/s")
	b.ReportMetric(float64(percentile(latencies, 0.5).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(percentile(latencies, 0.99).Microseconds())/1000, "p99-ms")
	b.ReportMetric(peakRSS(), "peak-RSS-MiB")
	if bad := d.rcv.bad.Load(); bad > 0 || missing > 0 {
		b.Errorf("%d deliveries failed verification, %d never arrived", bad, missing)
	}
	if recorded := d.recordedSucceeded(); recorded != len(events)*len(hooks) {
		b.Errorf("%d succeeded deliveries recorded, want %d", recorded, len(events)*len(hooks))
	}
}
