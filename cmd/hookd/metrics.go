package main

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookd/hookd/adapters/metrics"
	"github.com/hookd/hookd/adapters/sender"
	"github.com/hookd/hookd/domain/eventlog"
)

// deliveryMetrics are this node's delivery series on /metrics: what it attempted and parked
// (metrics.Delivery), its due backlog, and whether it leads dispatch (cluster profile).
type deliveryMetrics struct {
	*metrics.Delivery
	reg *prometheus.Registry
	// ctx bounds what a scrape reads: the node's life.
	ctx context.Context
}

func newDeliveryMetrics(ctx context.Context, reg *prometheus.Registry) *deliveryMetrics {
	return &deliveryMetrics{Delivery: metrics.NewDelivery(reg, sender.Classes), reg: reg, ctx: ctx}
}

// backlog registers hookd_delivery_due_backlog, which count reads from the transport.
func (m *deliveryMetrics) backlog(count func(context.Context) (int, error)) {
	m.reg.MustRegister(metrics.NewBacklog(m.ctx, count))
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

// registerLogMetrics registers the log's series: its appends' timings and how far each read model,
// and the dispatcher when this node runs it (deliveries not nil), are behind its head.
func registerLogMetrics(ctx context.Context, reg *prometheus.Registry, n *node, deliveries *deliveryPipeline) {
	followers := make([]metrics.Follower, len(n.runners))
	for i, r := range n.runners {
		followers[i] = metrics.Follower{Name: n.projections[i].Name(),
			Position: func() (eventlog.Position, bool) { return r.Position(), true }}
	}
	dispatch := metrics.Follower{Name: dispatchProjection{}.Name()}
	if deliveries != nil {
		dispatch.Position = deliveries.dispatchPosition
	}
	reg.MustRegister(n.appends, metrics.NewLag(ctx, n.store.LastPosition, followers, dispatch))
}
