package metrics

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookd/hookd/application/eventstore"
	"github.com/hookd/hookd/domain/eventlog"
)

// scrapeTimeout bounds what one scrape waits for the log or the transport to answer.
const scrapeTimeout = 2 * time.Second

// Appends times the appends to the log: hookd_log_append_duration_seconds, by result (ok, conflict:
// the stream was not at the expected version, error). It is a prometheus.Collector, made before the
// registry is, since the store is opened first.
type Appends struct {
	duration *prometheus.HistogramVec
}

// NewAppends returns the append timings, to be registered by whoever serves them.
func NewAppends() *Appends {
	return &Appends{duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "hookd_log_append_duration_seconds",
		Help:    "Time an append to the log takes until it is durable (a KurrentDB append, or an embedded group commit), by result: ok, conflict or error.",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	}, []string{"result"})}
}

// Describe implements prometheus.Collector.
func (a *Appends) Describe(ch chan<- *prometheus.Desc) { a.duration.Describe(ch) }

// Collect implements prometheus.Collector.
func (a *Appends) Collect(ch chan<- prometheus.Metric) { a.duration.Collect(ch) }

// Store returns s, timing its appends.
func (a *Appends) Store(s eventstore.Store) eventstore.Store {
	return timedStore{Store: s, a: a}
}

// timedStore is an eventstore.Store that times its appends in Appends.
type timedStore struct {
	eventstore.Store
	a *Appends
}

// Append implements eventstore.Store.
func (s timedStore) Append(ctx context.Context, stream string, expected eventlog.ExpectedRevision, events []eventlog.EventData) (eventlog.AppendResult, error) {
	start := time.Now()
	res, err := s.Store.Append(ctx, stream, expected, events)
	result := "ok"
	switch {
	case errors.Is(err, eventlog.ErrWrongExpectedVersion):
		result = "conflict"
	case err != nil:
		result = "error"
	}
	s.a.duration.WithLabelValues(result).Observe(time.Since(start).Seconds())
	return res, err
}

// Follower is a part that follows the log from a checkpoint: a read model's runner, or the
// dispatcher.
type Follower struct {
	// Name labels its lag: a projection's name, from the fixed set of read models.
	Name string
	// Position returns the position up to which it has gone over the log; ok is false while it
	// does not run on this node (the cluster profile's dispatcher on a node that does not lead).
	Position func() (pos eventlog.Position, ok bool)
}

// Lag is a prometheus.Collector of how far the log's followers are behind its head, read at each
// scrape: hookd_projection_lag per read model, and hookd_dispatch_lag while this node dispatches.
// A lag is the head's commit position minus the follower's: events in the embedded store, whose
// positions count events; bytes of the transaction log on KurrentDB. A scrape when the log does not
// answer leaves the lags out.
type Lag struct {
	ctx         context.Context
	head        func(context.Context) (eventlog.Position, error)
	projections []Follower
	dispatch    Follower
	projDesc    *prometheus.Desc
	dispDesc    *prometheus.Desc
}

// NewLag returns the lags of projections and of dispatch (its Position may be nil: this node does
// not dispatch), measured against head. ctx bounds the reads of every scrape: the node's life.
func NewLag(ctx context.Context, head func(context.Context) (eventlog.Position, error), projections []Follower, dispatch Follower) *Lag {
	return &Lag{ctx: ctx, head: head, projections: projections, dispatch: dispatch,
		projDesc: prometheus.NewDesc("hookd_projection_lag",
			"The log's head position minus a read model's checkpoint (events in the embedded store, bytes on KurrentDB); 0 when it is up to date.",
			[]string{"projection"}, nil),
		dispDesc: prometheus.NewDesc("hookd_dispatch_lag",
			"The log's head position minus the dispatcher's checkpoint (events in the embedded store, bytes on KurrentDB), on the node that dispatches.",
			nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (l *Lag) Describe(ch chan<- *prometheus.Desc) {
	ch <- l.projDesc
	ch <- l.dispDesc
}

// Collect implements prometheus.Collector.
func (l *Lag) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(l.ctx, scrapeTimeout)
	defer cancel()
	head, err := l.head(ctx)
	if err != nil {
		return
	}
	lag := func(pos eventlog.Position) float64 {
		if head.Commit <= pos.Commit {
			return 0
		}
		return float64(head.Commit - pos.Commit)
	}
	for _, p := range l.projections {
		if pos, ok := p.Position(); ok {
			ch <- prometheus.MustNewConstMetric(l.projDesc, prometheus.GaugeValue, lag(pos), p.Name)
		}
	}
	if l.dispatch.Position != nil {
		if pos, ok := l.dispatch.Position(); ok {
			ch <- prometheus.MustNewConstMetric(l.dispDesc, prometheus.GaugeValue, lag(pos))
		}
	}
}

// Backlog is a prometheus.Collector of hookd_delivery_due_backlog, read from the transport at each
// scrape; a count that fails leaves it out of that scrape.
type Backlog struct {
	ctx   context.Context
	count func(context.Context) (int, error)
	desc  *prometheus.Desc
}

// NewBacklog returns the backlog that count reads; ctx bounds the reads of every scrape.
func NewBacklog(ctx context.Context, count func(context.Context) (int, error)) *Backlog {
	return &Backlog{ctx: ctx, count: count, desc: prometheus.NewDesc("hookd_delivery_due_backlog",
		"Deliveries due and waiting to be handed to an attempt: in this node's memory transport, every one; on NATS, "+
			"the work queue's pending count (due and never yet handed out), the same on every node. Retries not yet due "+
			"and attempts in flight do not count.",
		nil, nil)}
}

// Describe implements prometheus.Collector.
func (b *Backlog) Describe(ch chan<- *prometheus.Desc) { ch <- b.desc }

// Collect implements prometheus.Collector.
func (b *Backlog) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(b.ctx, scrapeTimeout)
	defer cancel()
	n, err := b.count(ctx)
	if err != nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(b.desc, prometheus.GaugeValue, float64(n))
}
