package main

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"

	"github.com/hookd/hookd/adapters/deliverer"
	"github.com/hookd/hookd/adapters/readcache"
	"github.com/hookd/hookd/adapters/safedial"
	"github.com/hookd/hookd/adapters/sender"
	"github.com/hookd/hookd/adapters/transport"
	"github.com/hookd/hookd/adapters/transport/memtransport"
	"github.com/hookd/hookd/adapters/webhooksig"
	"github.com/hookd/hookd/application/command"
	"github.com/hookd/hookd/application/deliver"
	"github.com/hookd/hookd/application/dispatch"
	"github.com/hookd/hookd/domain/eventlog"
	"github.com/hookd/hookd/projections"
	"github.com/hookd/hookd/projections/deliveryview"
)

// recoveryPage is how many due deliveries a start reads from the read model at a time.
const recoveryPage = 1000

// dispatchProjection is the dispatcher as its Runner runs it: a Processor whose only record is its
// checkpoint, kept under the name "dispatch".
type dispatchProjection struct {
	*dispatch.Dispatcher
}

func (dispatchProjection) Name() string { return "dispatch" }

// Tables is empty: the checkpoint is all the dispatcher keeps.
func (dispatchProjection) Tables() []string { return nil }

func (dispatchProjection) Setup(context.Context, *sql.Tx, projections.Schema) error { return nil }

func (dispatchProjection) Apply(context.Context, *sql.Tx, projections.Schema, []eventlog.RecordedEvent) error {
	return nil
}

// deliveryPipeline is serve's delivery pipeline: the dispatcher following the log, and the delivery
// use case attempting what the transport hands it. One scheduler feeds the transport: the
// dispatcher, replays, the use case's retries and the recovery at start all hand deliveries to it.
type deliveryPipeline struct {
	// transport is the embedded profile's: in memory, with due times.
	transport *memtransport.PubSub
	scheduler *transport.Scheduler
	dispatch  *projections.Runner
	pipeline  *deliverer.Pipeline
}

// processor is a Runner that acts on the log without keeping a read model, named as /readyz names it.
type processor struct {
	name   string
	runner *projections.Runner
}

// processors returns the pipeline's processors, for the readiness check: the dispatcher, whose
// batch failing again and again (the log or the webhooks read model failing) stops every delivery.
// A node that does not deliver (d nil) has none.
func (d *deliveryPipeline) processors() []processor {
	if d == nil {
		return nil
	}
	return []processor{{name: dispatchProjection{}.Name(), runner: d.dispatch}}
}

// replays returns the replay command of a node that delivers: it hands what it replays to the
// scheduler at once. A node that does not deliver (d nil) leaves replays to the log.
func (d *deliveryPipeline) replays(r *command.Replays) *command.Replays {
	if d == nil {
		return r
	}
	return r.HandingOverTo(d.scheduler)
}

// newDelivery wires the pipeline.
func newDelivery(n *node, cfg config, log *slog.Logger) (*deliveryPipeline, error) {
	// The subscription's in-flight limit is what bounds the attempts at once; a nacked message (the
	// scheduler failed, or an attempt panicked) waits as a store failure does.
	pubsub := memtransport.New(memtransport.Config{MaxInFlight: cfg.DeliveryConcurrency, NackDelay: deliver.StoreRetryDelay})
	scheduler := transport.NewScheduler(pubsub, deliverer.Topic)
	send, err := sender.New(sender.Config{
		Dialer:    &safedial.Dialer{AllowPrivate: cfg.AllowPrivateTargets},
		UserAgent: "hookd/" + buildVersion(),
		Clock:     n.clock,
		// An endpoint gets as many connections kept as it may have attempts in flight.
		IdleConnsPerHost: deliver.DefaultEndpointConcurrency,
	})
	if err != nil {
		return nil, err
	}
	deliveries := deliverer.NewDeliveries(n.deliveries)
	attempts, err := deliver.New(deliver.Config{
		Deliveries: deliveries, Targets: deliverer.NewTargets(n.webhookView, n.codec),
		Signer: deliverer.Signer{Key: func(ctx context.Context) (ed25519.PrivateKey, error) {
			key, _, err := n.keys.SigningKey(ctx)
			return key, err
		}},
		Sender: deliverer.Sender{Sender: send}, Scheduler: scheduler, Clock: n.clock,
		PlatformURL: cfg.PlatformURL, PlatformSecret: cfg.PlatformSecret,
		Logger: log.With("component", "deliverer"),
	})
	if err != nil {
		return nil, err
	}
	dispatcher, err := dispatch.New(dispatch.Ports{
		Decode: n.codec.DecodeSealed, Metadata: n.codec.DecodeMetadata,
		Candidates: readcache.NewSubscribers(n.webhookView, n.webhookRunner, n.codec.OpenSecret).Candidates,
		WebhooksAt: n.webhooksAt, Body: webhooksig.Body, Deliveries: deliveries, Head: n.store.LastPosition,
		Scheduler: scheduler, Clock: n.clock, PlatformURL: cfg.PlatformURL, Logger: log.With("component", "dispatcher"),
	})
	if err != nil {
		return nil, err
	}
	runner, err := projections.NewRunner(projections.RunnerConfig{
		DB: n.writeDB, Projection: dispatchProjection{dispatcher},
		Subscribe: n.subscribe,
		Logger:    log,
	})
	if err != nil {
		return nil, err
	}
	pipeline := deliverer.NewPipeline(pubsub, attempts, shutdownGrace, log.With("component", "deliverer"))
	return &deliveryPipeline{transport: pubsub, scheduler: scheduler, dispatch: runner, pipeline: pipeline}, nil
}

// run recovers the deliveries the read model says are still due, then dispatches and delivers until
// ctx ends; it returns once both have stopped. The deliveries read model must have caught up with
// the log first (serve's bootstrap waits for every read model): a delivery scheduled before the
// dispatcher's checkpoint is found there, one after it the dispatcher meets again.
func (d *deliveryPipeline) run(ctx context.Context, n *node, log *slog.Logger) (err error) {
	defer func() { err = errors.Join(err, d.transport.Close()) }()
	recovered := 0
	var after *deliveryview.DueDelivery
	for {
		due, err := n.deliveryView.Due(ctx, after, recoveryPage)
		if ctx.Err() != nil {
			return nil // stopped while starting
		}
		if err != nil {
			return fmt.Errorf("recovering due deliveries: %w", err)
		}
		for _, dd := range due {
			if err := d.scheduler.Schedule(ctx, dd.DeliveryID, dd.NextDueAt); err != nil {
				return fmt.Errorf("recovering due deliveries: %w", err)
			}
		}
		recovered += len(due)
		if len(due) < recoveryPage {
			break
		}
		after = &due[len(due)-1]
	}
	if recovered > 0 {
		log.Info("recovered due deliveries", "count", recovered)
	}
	// The dispatcher stops first, then the pipeline: the dispatcher hands nothing to a transport
	// that the router has closed.
	dispatchCtx, stopDispatch := context.WithCancel(ctx)
	defer stopDispatch()
	pipelineCtx, stopPipeline := context.WithCancel(context.WithoutCancel(ctx))
	defer stopPipeline()
	dispatched, delivered := make(chan error, 1), make(chan error, 1)
	go func() { delivered <- d.pipeline.Run(pipelineCtx) }()
	go func() { dispatched <- d.dispatch.Run(dispatchCtx) }()
	select {
	case err = <-dispatched:
		stopPipeline()
		err = errors.Join(err, <-delivered)
	case err = <-delivered:
		stopDispatch()
		err = errors.Join(err, <-dispatched)
	}
	return err
}

// webhooksAt waits for the webhooks read model alone: the dispatcher needs no other.
func (n *node) webhooksAt(ctx context.Context, pos eventlog.Position) error {
	return n.webhookRunner.WaitFor(ctx, pos)
}
