package main

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"time"
)

// result is what one run measured.
type result struct {
	accepted, delivered, lost     int
	publishFailures               int
	lateRequests                  int
	lastPublishError              string
	published, endToEnd           time.Duration
	steadyRate                    float64
	p50, p90, p99                 time.Duration
	duplicates, signatureFailures int
	foreign                       int
	peakRSS                       int64
	hookdCPU, loadCPU             time.Duration
	hookdWritten                  int64
	// cluster is set for the cluster profile (-nodes): then nodes are printed one by one, and
	// servicesCPU is the services process's (the KurrentDB test server and the NATS cluster).
	cluster         bool
	nodes           []nodeFigures
	servicesCPU     time.Duration
	servicesWritten int64
}

// measure derives the rates and latencies from the ledger; start is when publishing began.
func measure(start time.Time, published time.Duration, l *ledger) *result {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := &result{published: published}
	var receipts []int64
	var latencies []time.Duration
	for seq, acc := range l.accepted {
		recv := l.received[seq]
		if acc != 0 {
			r.accepted++
			if recv == 0 {
				r.lost++
			} else {
				latencies = append(latencies, time.Duration(recv-acc))
			}
		}
		if recv != 0 {
			receipts = append(receipts, recv)
		}
	}
	r.delivered = len(receipts)
	slices.Sort(receipts)
	slices.Sort(latencies)
	if len(receipts) > 0 {
		r.endToEnd = time.Duration(receipts[len(receipts)-1] - start.UnixNano())
	}
	// Steady: the deliveries between the first and the last 10 %, over the time they took.
	if lo, hi := len(receipts)/10, len(receipts)*9/10; hi-lo > 1 && receipts[hi-1] > receipts[lo] {
		r.steadyRate = float64(hi-lo-1) / time.Duration(receipts[hi-1]-receipts[lo]).Seconds()
	}
	r.p50, r.p90, r.p99 = percentile(latencies, 50), percentile(latencies, 90), percentile(latencies, 99)
	return r
}

// percentile is the nearest-rank percentile of sorted.
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (len(sorted)*p + 99) / 100
	return sorted[max(i, 1)-1]
}

func perSecond(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// print writes one figure a line, "name: value unit (detail)", the form docs/benchmarks.md explains.
func (r *result) print(w io.Writer) {
	per := max(r.delivered, 1)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	fmt.Fprintf(w, "published/s: %.0f (%d events accepted in %.1f s, %d not accepted, %d open-loop requests late)\n",
		perSecond(r.accepted, r.published), r.accepted, r.published.Seconds(), r.publishFailures, r.lateRequests)
	fmt.Fprintf(w, "delivered/s end to end: %.0f (%d deliveries in %.1f s from the first publish to the last receipt)\n",
		perSecond(r.delivered, r.endToEnd), r.delivered, r.endToEnd.Seconds())
	fmt.Fprintf(w, "delivered/s steady: %.0f (first and last 10%% of receipts left out)\n", r.steadyRate)
	fmt.Fprintf(w, "accept-to-receive p50/p90/p99 ms: %.1f %.1f %.1f\n", ms(r.p50), ms(r.p90), ms(r.p99))
	fmt.Fprintf(w, "lost: %d\n", r.lost)
	fmt.Fprintf(w, "duplicated: %d\n", r.duplicates)
	fmt.Fprintf(w, "signature failures: %d\n", r.signatureFailures)
	fmt.Fprintf(w, "hookd peak RSS MB: %.1f\n", float64(r.peakRSS)/(1<<20))
	// With several nodes: their CPU and disk writes summed, the largest peak RSS.
	fmt.Fprintf(w, "hookd CPU µs per delivery: %.0f\n", float64(r.hookdCPU.Microseconds())/float64(per))
	fmt.Fprintf(w, "load CPU µs per delivery: %.0f\n", float64(r.loadCPU.Microseconds())/float64(per))
	fmt.Fprintf(w, "hookd bytes written to disk per delivery: %.0f\n", float64(r.hookdWritten)/float64(per))
	if !r.cluster {
		return
	}
	fmt.Fprintf(w, "nodes: %d (cluster profile: the KurrentDB test server and a %d-server NATS cluster in the services process)\n",
		len(r.nodes), natsClusterSize)
	fmt.Fprintf(w, "services CPU µs per delivery: %.0f\n", float64(r.servicesCPU.Microseconds())/float64(per))
	fmt.Fprintf(w, "services bytes written to disk per delivery: %.0f (JetStream's files)\n", float64(r.servicesWritten)/float64(per))
	total := sumNodes(r.nodes)
	for i, n := range r.nodes {
		fmt.Fprintf(w, "node %d deliveries: %d (2xx attempts on its /metrics; %.0f%% of the nodes' %d)\n",
			i+1, n.deliveries, 100*float64(n.deliveries)/float64(max(total.deliveries, 1)), total.deliveries)
		fmt.Fprintf(w, "node %d CPU µs per delivery: %d (its CPU over its own deliveries, its share of the API included)\n",
			i+1, n.cpuPerDelivery().Microseconds())
		fmt.Fprintf(w, "node %d peak RSS MB: %.1f\n", i+1, float64(n.peakRSS)/(1<<20))
	}
}

// verdict fails the run when anything accepted was lost, a request was not accepted, a signature
// failed or a delivery was not one of the run's.
func (r *result) verdict() error {
	var errs []error
	if r.lost > 0 {
		errs = append(errs, fmt.Errorf("%d accepted events were not delivered", r.lost))
	}
	if r.signatureFailures > 0 {
		errs = append(errs, fmt.Errorf("%d deliveries failed signature verification", r.signatureFailures))
	}
	if r.publishFailures > 0 {
		errs = append(errs, fmt.Errorf("%d events were not accepted (last: %s)", r.publishFailures, r.lastPublishError))
	}
	if r.foreign > 0 {
		errs = append(errs, fmt.Errorf("%d deliveries were not of this run's events", r.foreign))
	}
	if counted := sumNodes(r.nodes).deliveries; r.cluster && counted < r.delivered {
		errs = append(errs, fmt.Errorf("the nodes' /metrics count %d successful attempts, fewer than the %d deliveries received", counted, r.delivered))
	}
	if r.accepted == 0 {
		errs = append(errs, errors.New("no event was accepted"))
	}
	return errors.Join(errs...)
}
