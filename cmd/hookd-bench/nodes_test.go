package main

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"
)

// TestMetricValue reads one series out of a Prometheus text exposition as hookd prints it: labels
// must match exactly, a missing series is 0, a malformed value is an error.
func TestMetricValue(t *testing.T) {
	t.Parallel()
	const exposition = `# HELP hookd_delivery_attempts_total Delivery attempts by outcome.
# TYPE hookd_delivery_attempts_total counter
hookd_delivery_attempts_total{error_class="none",outcome="2xx"} 1234
hookd_delivery_attempts_total{error_class="none",outcome="2xx",extra="x"} 7
hookd_delivery_attempts_total{error_class="none",outcome="5xx"} 3
hookd_dispatch_leader 1 1700000000000
`
	for _, c := range []struct {
		series string
		want   float64
	}{
		{deliveredSeries, 1234},
		{`hookd_delivery_attempts_total{error_class="none",outcome="5xx"}`, 3},
		{"hookd_dispatch_leader", 1},
		{`hookd_delivery_attempts_total{error_class="none",outcome="4xx"}`, 0},
	} {
		got, err := metricValue(strings.NewReader(exposition), c.series)
		if err != nil || got != c.want {
			t.Errorf("%s: %v, %v; want %v", c.series, got, err, c.want)
		}
	}
	if _, err := metricValue(strings.NewReader(deliveredSeries+" many\n"), deliveredSeries); err == nil {
		t.Error("a value that is no number was read without an error")
	}
}

// TestNodeFigures: each node's figures are its own differences between the samples; CPU per delivery
// divides by the node's own deliveries (0, not a division by zero, for a node that made none); the
// total sums deliveries, CPU and writes and keeps the largest RSS.
func TestNodeFigures(t *testing.T) {
	t.Parallel()
	before := []nodeSample{{cpu: 2 * time.Second, writeBytes: 100, delivered: 10}, {cpu: time.Second, delivered: 5}, {cpu: time.Second}}
	after := []nodeSample{{cpu: 5 * time.Second, writeBytes: 1100, delivered: 3010}, {cpu: 3 * time.Second, delivered: 1005}, {cpu: 2 * time.Second}}
	nodes := nodeDeltas(before, after, []int64{300 << 20, 200 << 20, 100 << 20})
	want := []nodeFigures{
		{deliveries: 3000, cpu: 3 * time.Second, written: 1000, peakRSS: 300 << 20},
		{deliveries: 1000, cpu: 2 * time.Second, peakRSS: 200 << 20},
		{cpu: time.Second, peakRSS: 100 << 20},
	}
	for i := range want {
		if nodes[i] != want[i] {
			t.Errorf("node %d: %+v, want %+v", i+1, nodes[i], want[i])
		}
	}
	for i, us := range []int64{1000, 2000, 0} {
		if got := nodes[i].cpuPerDelivery().Microseconds(); got != us {
			t.Errorf("node %d: %d µs per delivery, want %d", i+1, got, us)
		}
	}
	total := sumNodes(nodes)
	if total != (nodeFigures{deliveries: 4000, cpu: 6 * time.Second, written: 1000, peakRSS: 300 << 20}) {
		t.Errorf("total %+v", total)
	}

	// The cluster's lines, one set per node, parse as figures; the verdict fails a run whose nodes
	// counted fewer successful attempts than the receiver had deliveries.
	r := &result{accepted: 4000, delivered: 4000, cluster: true, nodes: nodes, servicesCPU: 2 * time.Second}
	var out bytes.Buffer
	r.print(&out)
	figures := parseFigures(t, out.String())
	for name, value := range map[string]float64{
		"nodes": 3, "node 1 deliveries": 3000, "node 2 deliveries": 1000, "node 3 deliveries": 0,
		"node 1 CPU µs per delivery": 1000, "node 2 CPU µs per delivery": 2000, "services CPU µs per delivery": 500,
		"node 1 peak RSS MB": 300,
	} {
		if got := figures[name]; len(got) != 1 || got[0] != value {
			t.Errorf("%s: %v, want %v", name, got, value)
		}
	}
	if err := r.verdict(); err != nil {
		t.Errorf("verdict: %v", err)
	}
	r.delivered = 4001
	if err := r.verdict(); err == nil || !strings.Contains(err.Error(), "count 4000 successful attempts") {
		t.Errorf("verdict with an uncounted delivery: %v", err)
	}
}

// TestParseClusterFlags: -nodes takes 0 to 3, profiles are served on loopback addresses only, and the
// services process's profile needs a services process.
func TestParseClusterFlags(t *testing.T) {
	t.Parallel()
	o, err := parseFlags([]string{"-nodes", "3", "-rate", "500", "-pprof", "127.0.0.1:6060", "-services-pprof", "localhost:6061"}, io.Discard)
	if err != nil || o.nodes != 3 || o.pprof != "127.0.0.1:6060" || o.servicesPprof != "localhost:6061" {
		t.Fatalf("%+v, %v", o, err)
	}
	for _, args := range [][]string{
		{"-nodes", "4"},
		{"-nodes", "-1"},
		{"-pprof", "0.0.0.0:6060"},
		{"-nodes", "1", "-services-pprof", "10.0.0.1:6061"},
		{"-services-pprof", "127.0.0.1:6061"},
		{"-payload", "zeros"},
	} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("%q accepted", args)
		}
	}
}

// TestRandomPayloadsAreFreshAndSized: -payload random pads each event to the size x pads it to,
// with base64 that differs from one event to the next.
func TestRandomPayloadsAreFreshAndSized(t *testing.T) {
	t.Parallel()
	x, random := newEvents("r", 1024, payloadX), newEvents("r", 1024, payloadRandom)
	a, b := random.body(1, 1, false), random.body(1, 1, false)
	if bytes.Equal(a, b) {
		t.Error("two random bodies of the same event are equal")
	}
	if want := len(x.body(1, 1, false)); len(a) < want-3 || len(a) > want {
		t.Errorf("a random body has %d bytes, want about the %d of x's", len(a), want)
	}
	var v struct {
		Payload struct{ Pad string } `json:"payload"`
	}
	if err := json.Unmarshal(a, &v); err != nil || bytes.Count([]byte(v.Payload.Pad), []byte("x")) > len(v.Payload.Pad)/8 {
		t.Errorf("random body %.80s…: %v", a, err)
	}
}
