// Package metrics is hookd's Prometheus series about delivery and the log. They come from decorators
// of the ports the use cases call (the sender, the deliveries, the event store) and from collectors
// that read, at each scrape, where the log's head and its followers stand. Every label takes its
// values from a small fixed set: no series is made per webhook, tenant, delivery or endpoint.
package metrics

import (
	"context"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookd/hookd/application/command"
	"github.com/hookd/hookd/application/deliver"
	"github.com/hookd/hookd/application/dispatch"
	"github.com/hookd/hookd/domain/delivery"
)

// Labels of error classes besides those the sender names.
const (
	// ClassNone: a whole response came.
	ClassNone = "none"
	// ClassOther: an error class outside the set NewDelivery was given.
	ClassOther = "other"
)

// Delivery is this node's delivery series: the attempts it made, by outcome and error class, how
// long they took, how many are in flight, the accept-to-deliver latency of the deliveries it
// completed, and the deliveries it parked, by reason.
type Delivery struct {
	attempts        *prometheus.CounterVec
	duration        prometheus.Histogram
	inFlight        prometheus.Gauge
	acceptToDeliver prometheus.Histogram
	parked          *prometheus.CounterVec
	classes         []string
}

// NewDelivery registers the delivery series on reg. classes are the error classes the sender
// reports (sender.Classes); any other is counted as ClassOther, so the label stays bounded.
func NewDelivery(reg prometheus.Registerer, classes []string) *Delivery {
	m := &Delivery{
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookd_delivery_attempts_total",
			Help: "Delivery attempts this node made, by outcome (the status class 2xx..5xx, other, no_response, unsendable, canceled) " +
				"and error class (none when a whole response came; timeout, refused, dns, tls, ... otherwise).",
		}, []string{"outcome", "error_class"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "hookd_delivery_attempt_duration_seconds",
			Help:    "Time from sending a delivery attempt to its response (or failure), on this node.",
			Buckets: prometheus.DefBuckets,
		}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hookd_delivery_attempts_in_flight",
			Help: "Delivery attempts this node is sending now, waiting for their response.",
		}),
		acceptToDeliver: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "hookd_delivery_accept_to_deliver_seconds",
			Help: "Time from an event's acceptance (publish answered 202) to the response of the attempt that delivered it, " +
				"for the deliveries this node completed, replays left out.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600},
		}),
		parked: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookd_deliveries_parked_total",
			Help: "Deliveries this node parked (recorded DeliveryFailed), by reason.",
		}, []string{"reason"}),
		classes: classes,
	}
	reg.MustRegister(m.attempts, m.duration, m.inFlight, m.acceptToDeliver, m.parked)
	// Every reason shows from the start, at 0, so that a rate or an alert has a series to read.
	for _, reason := range delivery.ParkReasons {
		m.parked.WithLabelValues(reason)
	}
	return m
}

// Sender returns s, counting, timing and gauging its attempts.
func (m *Delivery) Sender(s deliver.Sender) deliver.Sender {
	return meteredSender{Sender: s, m: m}
}

// meteredSender is a deliver.Sender that records each attempt in Delivery.
type meteredSender struct {
	deliver.Sender
	m *Delivery
}

// Send sends r and records its outcome.
func (s meteredSender) Send(ctx context.Context, r deliver.Request) deliver.Outcome {
	s.m.inFlight.Inc()
	o := s.Sender.Send(ctx, r)
	s.m.inFlight.Dec()
	s.m.attempts.WithLabelValues(outcomeLabel(o), s.m.classLabel(o.ErrorClass)).Inc()
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

// classLabel is an error class's label: ClassNone, one of the sender's classes, or ClassOther.
func (m *Delivery) classLabel(class string) string {
	switch {
	case class == "":
		return ClassNone
	case slices.Contains(m.classes, class):
		return class
	}
	return ClassOther
}

// DeliveryStore is what the delivery use case and the dispatcher load, schedule and save
// deliveries through (deliverer.Deliveries).
type DeliveryStore interface {
	deliver.Deliveries
	dispatch.Deliveries
}

// Deliveries returns inner, counting what its saves record: the deliveries parked, and the
// accept-to-deliver latency of those delivered.
func (m *Delivery) Deliveries(inner DeliveryStore) DeliveryStore {
	return meteredDeliveries{DeliveryStore: inner, m: m}
}

// meteredDeliveries is a DeliveryStore that records in Delivery what its appends record, once they
// are in the log: a save that conflicts recorded nothing.
type meteredDeliveries struct {
	DeliveryStore
	m *Delivery
}

// Schedule implements dispatch.Deliveries; a delivery that cannot be sent is parked as it is
// scheduled.
func (d meteredDeliveries) Schedule(ctx context.Context, s delivery.Scheduling, caller command.Caller) (*delivery.Delivery, command.Result, error) {
	scheduled, res, err := d.DeliveryStore.Schedule(ctx, s, caller)
	if err == nil && res.Changed && s.ParkReason != "" {
		d.m.parked.WithLabelValues(s.ParkReason).Inc()
	}
	return scheduled, res, err
}

// Save implements deliver.Deliveries.
func (d meteredDeliveries) Save(ctx context.Context, dl *delivery.Delivery, caller command.Caller) (command.Result, error) {
	changes := dl.Changes() // a save empties them
	res, err := d.DeliveryStore.Save(ctx, dl, caller)
	if err != nil {
		return res, err
	}
	for i, e := range changes {
		switch e := e.(type) {
		case delivery.Failed:
			d.m.parked.WithLabelValues(e.Reason).Inc()
		case delivery.Succeeded:
			// The attempt that succeeded is recorded just before, in the same save. A replayed
			// delivery is left out: its latency is the operator's wait, not delivery's.
			if a, ok := attemptBefore(changes, i); ok && !dl.PublishedAt().IsZero() && dl.ReplayMode().IsZero() {
				responded := a.At.Add(time.Duration(a.DurationMs) * time.Millisecond)
				d.m.acceptToDeliver.Observe(max(responded.Sub(dl.PublishedAt()), 0).Seconds())
			}
		}
	}
	return res, nil
}

// attemptBefore returns the attempt recorded just before changes[i].
func attemptBefore(changes []delivery.Event, i int) (delivery.Attempted, bool) {
	if i == 0 {
		return delivery.Attempted{}, false
	}
	a, ok := changes[i-1].(delivery.Attempted)
	return a, ok
}
