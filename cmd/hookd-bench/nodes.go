package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// deliveredSeries is the series of a node's /metrics that counts its successful attempts: the
// deliveries it made.
const deliveredSeries = `hookd_delivery_attempts_total{error_class="none",outcome="2xx"}`

// metricValue reads series (a name with its labels, as Prometheus prints them) from a text
// exposition. A series that is absent is 0: a node that has made no attempt yet shows none.
func metricValue(r io.Reader, series string) (float64, error) {
	scanner := bufio.NewScanner(r)
	scanner.Buffer(make([]byte, 64<<10), 1<<20)
	for scanner.Scan() {
		rest, ok := strings.CutPrefix(scanner.Text(), series+" ")
		if !ok {
			continue
		}
		// A sample may carry a timestamp after its value.
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			return 0, fmt.Errorf("metrics: %q has no value", scanner.Text())
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			return 0, fmt.Errorf("metrics: %q: %w", scanner.Text(), err)
		}
		return v, nil
	}
	return 0, scanner.Err()
}

// nodeSample is what one hookd node had spent and done at one moment.
type nodeSample struct {
	cpu        time.Duration
	writeBytes int64
	delivered  float64
}

// sample reads the node's CPU and disk writes from /proc and its successful attempts from /metrics.
func (h *hookd) sample(ctx context.Context) (nodeSample, error) {
	u, err := procUsage(h.cmd.Process.Pid)
	if err != nil {
		return nodeSample{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.url+"/metrics", nil)
	if err != nil {
		return nodeSample{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nodeSample{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nodeSample{}, fmt.Errorf("GET %s/metrics: %s", h.url, resp.Status)
	}
	delivered, err := metricValue(resp.Body, deliveredSeries)
	return nodeSample{cpu: u.cpu, writeBytes: u.writeBytes, delivered: delivered}, err
}

// nodeFigures is one node's part of a run: what it did and spent between two samples.
type nodeFigures struct {
	deliveries int
	cpu        time.Duration
	written    int64
	peakRSS    int64
}

// cpuPerDelivery is the node's CPU over its own deliveries (0 when it made none): with every node
// taking API requests too, it includes the node's share of publishing.
func (n nodeFigures) cpuPerDelivery() time.Duration {
	if n.deliveries == 0 {
		return 0
	}
	return n.cpu / time.Duration(n.deliveries)
}

// nodeDeltas pairs each node's samples from before and after the load.
func nodeDeltas(before, after []nodeSample, peakRSS []int64) []nodeFigures {
	out := make([]nodeFigures, len(before))
	for i := range before {
		out[i] = nodeFigures{
			deliveries: int(after[i].delivered - before[i].delivered),
			cpu:        after[i].cpu - before[i].cpu,
			written:    after[i].writeBytes - before[i].writeBytes,
			peakRSS:    peakRSS[i],
		}
	}
	return out
}

// sumNodes is the nodes together: deliveries, CPU and disk writes summed, the largest peak RSS.
func sumNodes(nodes []nodeFigures) nodeFigures {
	var total nodeFigures
	for _, n := range nodes {
		total.deliveries += n.deliveries
		total.cpu += n.cpu
		total.written += n.written
		total.peakRSS = max(total.peakRSS, n.peakRSS)
	}
	return total
}

// sampleNodes samples every node.
func sampleNodes(ctx context.Context, nodes []*hookd) ([]nodeSample, error) {
	out := make([]nodeSample, len(nodes))
	for i, h := range nodes {
		s, err := h.sample(ctx)
		if err != nil {
			return nil, fmt.Errorf("node %d: %w", i+1, err)
		}
		out[i] = s
	}
	return out, nil
}
