package main

import (
	"context"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookd/hookd/application/deliver"
)

// deliveryMetrics are this node's delivery series on /metrics: what it attempted, how long the
// attempts took, and whether it leads dispatch (cluster profile).
type deliveryMetrics struct {
	reg      *prometheus.Registry
	attempts *prometheus.CounterVec
	duration prometheus.Histogram
}

func newDeliveryMetrics(reg *prometheus.Registry) *deliveryMetrics {
	m := &deliveryMetrics{
		reg: reg,
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookd_delivery_attempts_total",
			Help: "Delivery attempts this node made, by outcome: the status class (2xx..5xx), no_response, unsendable or canceled.",
		}, []string{"outcome"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "hookd_delivery_attempt_duration_seconds",
			Help:    "Time from sending a delivery attempt to its response (or failure), on this node.",
			Buckets: prometheus.DefBuckets,
		}),
	}
	reg.MustRegister(m.attempts, m.duration)
	return m
}

// leading registers hookd_dispatch_leader, 1 while this node holds the dispatch lease.
func (m *deliveryMetrics) leading(leader func() bool) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "hookd_dispatch_leader", Help: "1 while this node holds the dispatch lease (cluster profile), else 0.",
	}, func() float64 {
		if leader() {
			return 1
		}
		return 0
	}))
}

// deliverers registers hookd_cluster_delivering_nodes, the live delivering nodes this node counts
// (cluster profile): each takes an even share of the per-endpoint and per-webhook limits.
func (m *deliveryMetrics) deliverers(live func() int) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "hookd_cluster_delivering_nodes", Help: "Live delivering nodes as this node last counted them from heartbeats in NATS (cluster profile).",
	}, func() float64 { return float64(live()) }))
}

// sender returns s, counting and timing its attempts.
func (m *deliveryMetrics) sender(s deliver.Sender) deliver.Sender {
	return meteredSender{Sender: s, m: m}
}

// meteredSender is a deliver.Sender that records each attempt in deliveryMetrics.
type meteredSender struct {
	deliver.Sender
	m *deliveryMetrics
}

// Send sends r and records its outcome.
func (s meteredSender) Send(ctx context.Context, r deliver.Request) deliver.Outcome {
	o := s.Sender.Send(ctx, r)
	s.m.attempts.WithLabelValues(outcomeLabel(o)).Inc()
	s.m.duration.Observe(o.Duration.Seconds())
	return o
}

// outcomeLabel is an outcome's label, from a small fixed set.
func outcomeLabel(o deliver.Outcome) string {
	switch {
	case o.Canceled:
		return "canceled"
	case o.Unsendable:
		return "unsendable"
	case o.Status >= 200 && o.Status < 600:
		return strconv.Itoa(o.Status/100) + "xx"
	case o.Status > 0:
		return "other"
	}
	return "no_response"
}
