package main

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"

	"github.com/hookd/hookd/adapters/deliverer"
	"github.com/hookd/hookd/adapters/safedial"
	"github.com/hookd/hookd/adapters/sender"
	"github.com/hookd/hookd/adapters/webhooksig"
	"github.com/hookd/hookd/application/dispatch"
	"github.com/hookd/hookd/domain/eventlog"
	"github.com/hookd/hookd/domain/webhook"
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

// deliveryPipeline is serve's delivery pipeline: the dispatcher following the log, and the deliverer
// sending what the queue hands it.
type deliveryPipeline struct {
	queue    *deliverer.Queue
	dispatch *projections.Runner
	pipeline *deliverer.Pipeline
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

// newDelivery wires the pipeline.
func newDelivery(n *node, cfg config, log *slog.Logger) (*deliveryPipeline, error) {
	queue := deliverer.NewQueue(cfg.DeliveryConcurrency, n.clock)
	send, err := sender.New(sender.Config{
		Dialer:    &safedial.Dialer{AllowPrivate: cfg.AllowPrivateTargets},
		UserAgent: "hookd/" + buildVersion(),
		Clock:     n.clock,
		// An endpoint gets as many connections kept as it may have attempts in flight.
		IdleConnsPerHost: deliverer.DefaultEndpointConcurrency,
	})
	if err != nil {
		return nil, err
	}
	pipeline, err := deliverer.NewPipeline(queue, deliverer.Config{
		Deliveries: n.deliveries, Webhooks: n.webhookView, Secrets: n.codec, Sender: send,
		SigningKey: func(ctx context.Context) (ed25519.PrivateKey, error) {
			key, _, err := n.keys.SigningKey(ctx)
			return key, err
		},
		PlatformURL: cfg.PlatformURL, PlatformSecret: cfg.PlatformSecret,
		Clock: n.clock, Logger: log.With("component", "deliverer"),
	}, shutdownGrace)
	if err != nil {
		return nil, err
	}
	dispatcher, err := dispatch.New(dispatch.Ports{
		Decode: n.codec.DecodeSealed, Metadata: n.codec.DecodeMetadata,
		Candidates: newSubscribers(n).candidates, WebhooksAt: n.webhooksAt,
		Body: webhooksig.Body, Deliveries: n.deliveries, Head: n.store.LastPosition, Enqueue: queue.Schedule, Scheduled: pipeline.Scheduled, Clock: n.clock,
		PlatformURL: cfg.PlatformURL, Logger: log.With("component", "dispatcher"),
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
	return &deliveryPipeline{queue: queue, dispatch: runner, pipeline: pipeline}, nil
}

// run recovers the deliveries the read model says are still due, then dispatches and delivers until
// ctx ends; it returns once both have stopped. The deliveries read model must have caught up with
// the log first (serve's bootstrap waits for every read model): a delivery scheduled before the
// dispatcher's checkpoint is found there, one after it the dispatcher meets again.
func (d *deliveryPipeline) run(ctx context.Context, n *node, log *slog.Logger) error {
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
			d.queue.Schedule(dd.DeliveryID, dd.NextDueAt)
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
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	dispatched := make(chan error, 1)
	go func() { dispatched <- d.dispatch.Run(ctx) }()
	err := d.pipeline.Run(ctx)
	cancel()
	return errors.Join(err, <-dispatched)
}

// candidatesCacheSize bounds the dispatcher's cache of subscribers: scopes and event names.
const candidatesCacheSize = 10_000

// subscribers answers the dispatcher's Candidates from the webhooks read model, with each credential
// opened for the delivery's snapshot. An answer is kept while the read model has applied no webhook event
// since it was read, which under a steady load of publications is most of the time: each event then
// costs neither a read of the read model nor opening credentials. Like the rendered answers of the
// API, the kept answers hold opened credentials, which the process opens for every delivery anyway.
type subscribers struct {
	n    *node
	kept keptAnswers[[]dispatch.Candidate]
}

func newSubscribers(n *node) subscribers {
	return subscribers{n: n, kept: newKeptAnswers[[]dispatch.Candidate](candidatesCacheSize, n.webhookRunner, n.webhookView.Unchanged)}
}

func (sub subscribers) candidates(ctx context.Context, tenantID, communityID, eventName string) ([]dispatch.Candidate, error) {
	return sub.kept.get(tenantID+"\x00"+communityID+"\x00"+eventName, func() ([]dispatch.Candidate, error) {
		hooks, err := sub.n.webhookView.Subscribers(ctx, tenantID, communityID, eventName)
		if err != nil {
			return nil, err
		}
		out := make([]dispatch.Candidate, len(hooks))
		for i, w := range hooks {
			// A credential that does not open is this webhook's problem alone: its delivery is
			// parked, and the others' go on.
			s, err := w.OpenSettings(sub.n.codec.OpenSecret)
			if err != nil {
				s = w.Settings.Clone()
				s.API.Credential = webhook.Credential{}
			}
			out[i] = dispatch.Candidate{ID: w.ID, Settings: s, CreatedAt: w.CreatedAt, CredentialErr: err}
		}
		return out, nil
	})
}

// webhooksAt waits for the webhooks read model alone: the dispatcher needs no other.
func (n *node) webhooksAt(ctx context.Context, pos eventlog.Position) error {
	return n.webhookRunner.WaitFor(ctx, pos)
}
