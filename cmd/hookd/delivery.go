package main

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/hookd/hookd/adapters/deliverer"
	"github.com/hookd/hookd/adapters/natscoord"
	"github.com/hookd/hookd/adapters/readcache"
	"github.com/hookd/hookd/adapters/safedial"
	"github.com/hookd/hookd/adapters/sender"
	"github.com/hookd/hookd/adapters/telemetry"
	"github.com/hookd/hookd/adapters/transport"
	"github.com/hookd/hookd/adapters/transport/memtransport"
	"github.com/hookd/hookd/adapters/transport/natstransport"
	"github.com/hookd/hookd/adapters/webhooksig"
	"github.com/hookd/hookd/application/command"
	"github.com/hookd/hookd/application/deliver"
	"github.com/hookd/hookd/application/dispatch"
	"github.com/hookd/hookd/domain/delivery"
	"github.com/hookd/hookd/domain/eventlog"
	"github.com/hookd/hookd/domain/platform"
	"github.com/hookd/hookd/domain/webhook"
	"github.com/hookd/hookd/projections"
	"github.com/hookd/hookd/projections/deliveryview"
	"github.com/hookd/hookd/projections/webhookview"
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
	// transport is the embedded profile's in memory, with due times, or the cluster profile's
	// JetStream work queue.
	transport pubSub
	scheduler *transport.Scheduler
	// window takes back the due deliveries that the embedded profile's transport has no room for,
	// and those due at start, from the deliveries read model; nil in the cluster profile.
	window *memtransport.Window
	// dispatch follows the log with its checkpoint in the read models' database: the embedded
	// profile's. The cluster profile's dispatcher runs on the lease holder only (leader).
	dispatch *projections.Runner
	leader   *leaderDispatch
	// members announces this delivering node to the others, which count it to take their share of
	// each cluster-wide limit; nil in the embedded profile.
	members  *natscoord.Members
	pipeline *deliverer.Pipeline
}

// pubSub is a delivery transport; Close ends its subscriptions. Backlog counts a topic's messages
// due and waiting to be handed out.
type pubSub interface {
	message.Publisher
	message.Subscriber
	Backlog(ctx context.Context, topic string) (int, error)
}

// processor is a part that acts on the log without keeping a read model, named as /readyz names
// it; err says why it is not following the log.
type processor struct {
	name string
	err  func() error
}

// processors returns the pipeline's processors, for the readiness check: the dispatcher, whose
// batch failing again and again (the log or the webhooks read model failing) stops every delivery.
// A node that does not deliver (d nil) has none.
func (d *deliveryPipeline) processors() []processor {
	if d == nil {
		return nil
	}
	if d.leader != nil {
		return []processor{{name: dispatchProjection{}.Name(), err: d.leader.err}}
	}
	return []processor{{name: dispatchProjection{}.Name(), err: d.dispatch.Err}}
}

// dispatchPosition is how far the dispatcher has gone over the log; ok is false while it does not
// run on this node (the cluster profile's, on a node that does not lead).
func (d *deliveryPipeline) dispatchPosition() (pos eventlog.Position, ok bool) {
	if d.leader != nil {
		return d.leader.position()
	}
	return d.dispatch.Position(), true
}

// replays returns the replay command of a node that delivers in the embedded profile: it hands
// what it replays to the scheduler at once, without waiting for the dispatcher to meet the replay
// in the log. A node that does not deliver (d nil) leaves replays to the log, and so does every
// node in the cluster profile, where the dispatch leader hands them over: on JetStream a second
// hand-over is a second message, which another node can attempt while the first is in flight
// (memtransport merges the two), and the replay would be sent twice.
func (d *deliveryPipeline) replays(r *command.Replays) *command.Replays {
	if d == nil || d.leader != nil {
		return r
	}
	return r.HandingOverTo(d.scheduler)
}

// newDelivery wires the pipeline: on memtransport, or on JetStream when cl is set (the cluster
// profile, with the dispatcher on the dispatch leader only).
func newDelivery(ctx context.Context, n *node, cfg config, log *slog.Logger, cl *clusterConn, metrics *deliveryMetrics) (*deliveryPipeline, error) {
	// The subscription's in-flight limit is what bounds the attempts at once; a nacked message (the
	// scheduler failed, or an attempt panicked) waits as a store failure does.
	var pubsub pubSub
	var window *memtransport.Window
	var members *natscoord.Members
	var queue *natstransport.PubSub
	// share is this node's part of the per-endpoint and per-webhook limits: all of them in one
	// process, an even share of the live delivering nodes' in the cluster profile.
	var share func(limit int) int
	if cl != nil {
		var err error
		if members, err = natscoord.NewMembers(ctx, natscoord.MembersConfig{Conn: cl.conn, NodeID: cfg.NodeID,
			Roles: cfg.roles(), Replicas: cfg.NATS.Replicas, Logger: log.With("component", "members")}); err != nil {
			return nil, fmt.Errorf("announcing the node in NATS: %w", err)
		}
		share = func(limit int) int { return natscoord.Share(limit, members.Live(roleDeliver)) }
		metrics.deliverers(func() int { return members.Live(roleDeliver) })
		ps, err := natstransport.New(natstransport.Config{Conn: cl.conn, Replicas: cfg.NATS.Replicas,
			AckWait: cfg.NATS.AckWait, MaxInFlight: cfg.DeliveryConcurrency, NackDelay: deliver.StoreRetryDelay, Logger: log.With("component", "transport")})
		if err != nil {
			return nil, err
		}
		pubsub, queue = ps, ps
	} else {
		ps := memtransport.New(memtransport.Config{MaxPending: cfg.DeliveryWindow, MaxInFlight: cfg.DeliveryConcurrency,
			NackDelay: deliver.StoreRetryDelay})
		var err error
		if window, err = ps.Window(deliverer.Topic, dueBacklog{n}); err != nil {
			return nil, err
		}
		pubsub = ps
	}
	scheduler := transport.NewScheduler(pubsub, deliverer.Topic)
	metrics.backlog(func(ctx context.Context) (int, error) { return pubsub.Backlog(ctx, deliverer.Topic) })
	send, err := sender.New(sender.Config{
		Dialer:    &safedial.Dialer{AllowPrivate: cfg.AllowPrivateTargets},
		UserAgent: "hookd/" + buildVersion(),
		Clock:     n.clock,
		// An endpoint gets as many connections kept as it may have attempts in flight.
		IdleConnsPerHost: cfg.EndpointConcurrency,
	})
	if err != nil {
		return nil, err
	}
	// One process keeps the deliveries it saved for their next attempt: it is their only writer.
	// In the cluster profile it is not: a delivery this node scheduled or retried is attempted,
	// and replayed, by the others too, and a kept copy would be stale. Attempted from a stale copy,
	// a delivery is sent, its record refused by the log (another writer recorded first) and its
	// message acked, so a retry or a replay is sent unrecorded and then waits for the reconciler.
	var store telemetry.DeliveryStore = n.deliveries
	if cl == nil {
		head, err := n.store.LastPosition(ctx)
		if err != nil {
			return nil, err
		}
		store = deliverer.NewDeliveries(n.deliveries, head)
	}
	traced, err := telemetry.NewDeliveries(store, telemetry.DeliveriesConfig{
		TracerProvider: n.tracing, TraceOf: n.deliveryTrace, Logger: log.With("component", "deliverer"),
	})
	if err != nil {
		return nil, err
	}
	deliveries := metrics.Deliveries(traced)
	// The bodies of deliveries in body format 1, built from their published events: the dispatcher
	// keeps each one it builds, so that this node sends them without reading the log; a delivery
	// another node scheduled (the cluster profile), or one whose body was pushed out, reads its event.
	bodies, err := deliver.NewEventBodies(deliver.EventBodiesConfig{Log: n.store, Decode: n.codec.DecodeSealed, Build: webhooksig.Body})
	if err != nil {
		return nil, err
	}
	attempts, err := deliver.New(deliver.Config{
		Deliveries: deliveries, Bodies: bodies, Targets: deliverer.NewTargets(caughtUpWebhooks{n}, n.codec),
		Signer: deliverer.Signer{Key: func(ctx context.Context) (ed25519.PrivateKey, error) {
			key, _, err := n.keys.SigningKey(ctx)
			return key, err
		}},
		Sender: metrics.Sender(deliverer.Sender{Sender: send}), Scheduler: scheduler, Clock: n.clock, Share: share,
		EndpointConcurrency: cfg.EndpointConcurrency,
		PlatformURL:         cfg.PlatformURL, PlatformSecret: cfg.PlatformSecret,
		Endpoints: n.webhooks, Breaker: cfg.Health.Breaker, DisableAfter: cfg.Health.DisableAfter,
		Logger: log.With("component", "deliverer"),
	})
	if err != nil {
		return nil, err
	}
	newDispatcher := func(takeover *dispatch.Takeover) (*dispatch.Dispatcher, error) {
		return dispatch.New(dispatch.Ports{
			Decode: n.codec.DecodeSealed, Metadata: n.codec.DecodeMetadata,
			Candidates: readcache.NewSubscribers(n.webhookView, n.webhookRunner, n.codec.OpenSecret).Candidates,
			WebhooksAt: n.webhooksAt, Body: webhooksig.Body, Bodies: bodies, Deliveries: deliveries, Head: n.store.LastPosition,
			Scheduler: scheduler, Clock: n.clock, PlatformURL: cfg.PlatformURL, Platform: n.publishPlatform,
			Logger: log.With("component", "dispatcher"), Takeover: takeover,
		})
	}
	pipeline := deliverer.NewPipeline(pubsub, attempts, shutdownGrace, log.With("component", "deliverer"))
	d := &deliveryPipeline{transport: pubsub, scheduler: scheduler, window: window, members: members, pipeline: pipeline}
	if cl != nil {
		d.leader = newLeaderDispatch(cl, cfg, n, newDispatcher, queue, scheduler, metrics, log)
		return d, nil
	}
	dispatcher, err := newDispatcher(nil)
	if err != nil {
		return nil, err
	}
	if d.dispatch, err = projections.NewRunner(projections.RunnerConfig{
		DB: n.writeDB, Projection: dispatchProjection{dispatcher},
		Subscribe: n.subscribe,
		// Its checkpoint is stored at most this often, not once per batch: a commit each into
		// readmodels.db was most of what that file's WAL took per delivery (issue 12).
		CommitInterval: readModelCommitInterval,
		Logger:         log,
	}); err != nil {
		return nil, err
	}
	return d, nil
}

// run dispatches and delivers until ctx ends; it returns once both have stopped. In the embedded
// profile, the transport's window recovers meanwhile the deliveries the read model says are due
// (as many as it has room for, the rest as it drains): a delivery scheduled before the dispatcher's
// checkpoint is found there, one after it the dispatcher meets again.
//
// In the cluster profile, recovery and dispatch are the dispatch leader's (leaderDispatch): every
// node delivers, one dispatches.
func (d *deliveryPipeline) run(ctx context.Context, log *slog.Logger) (err error) {
	defer func() { err = errors.Join(err, d.transport.Close()) }()
	var dispatchRun func(context.Context) error
	if d.leader != nil {
		dispatchRun = d.leader.run
	} else {
		dispatchRun = d.dispatch.Run
	}
	// The dispatcher stops first, then the pipeline: the dispatcher hands nothing to a transport
	// that the router has closed.
	dispatchCtx, stopDispatch := context.WithCancel(ctx)
	defer stopDispatch()
	pipelineCtx, stopPipeline := context.WithCancel(context.WithoutCancel(ctx))
	defer stopPipeline()
	dispatched, delivered := make(chan error, 1), make(chan error, 1)
	if d.members != nil {
		// Heartbeats last as long as the pipeline: the others count this node while it delivers.
		beating := make(chan struct{})
		defer func() { <-beating }()
		defer stopPipeline()
		go func() {
			defer close(beating)
			_ = d.members.Run(pipelineCtx)
		}()
	}
	if d.window != nil {
		// The window feeds the pipeline's transport: it lasts as long as the pipeline.
		backfilled := make(chan struct{})
		defer func() { <-backfilled }()
		defer stopPipeline()
		go func() {
			defer close(backfilled)
			_ = d.window.Backfill(pipelineCtx, func(err error) {
				log.Warn("reading the due deliveries failed; trying again", "err", err)
			})
		}()
	}
	go func() { delivered <- d.pipeline.Run(pipelineCtx) }()
	go func() { dispatched <- dispatchRun(dispatchCtx) }()
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

// dueBacklog is the deliveries read model as the embedded transport's backlog: the deliveries the
// log says are due, in due order.
type dueBacklog struct {
	n *node
}

// Due implements memtransport.Backlog. A listing from the first waits until the read model shows
// the log as it is at the call, so that it shows every delivery scheduled before.
func (b dueBacklog) Due(ctx context.Context, after *memtransport.Due, limit int) ([]memtransport.Due, error) {
	var from *deliveryview.DueDelivery
	if after != nil {
		c := after.Cursor.(deliveryview.DueDelivery)
		from = &c
	} else {
		head, err := b.n.store.LastPosition(ctx)
		if err != nil {
			return nil, err
		}
		if err := b.n.deliveryRunner.WaitFor(ctx, head); err != nil {
			return nil, err
		}
	}
	due, err := b.n.deliveryView.Due(ctx, from, limit)
	out := make([]memtransport.Due, len(due))
	for i, dd := range due {
		out[i] = memtransport.Due{Key: dd.DeliveryID, At: dd.NextDueAt, Cursor: dd}
	}
	return out, err
}

// deliveryTrace reads the trace context a delivery's first event (DeliveryScheduled) keeps, which
// its attempts join.
func (n *node) deliveryTrace(ctx context.Context, id string) (string, error) {
	records, err := n.store.ReadStream(ctx, delivery.Stream(id), 0, 1)
	if err != nil || len(records) == 0 {
		return "", err
	}
	md, err := n.codec.DecodeMetadata(records[0])
	return md.TraceParent, err
}

// caughtUpWebhooks is the webhooks read model as the deliverer reads it: a webhook it does not hold
// is looked for again once the read model shows the log as it is at the call. The read model may
// lag the log by a batch that nobody on this node waits for (readModelCommitInterval): in the
// cluster profile, a delivery dispatched on another node reaches this one before its webhook's
// creation is committed here, and "not found" would park it as deleted.
type caughtUpWebhooks struct {
	n *node
}

// Get implements deliverer.WebhookReader.
func (c caughtUpWebhooks) Get(ctx context.Context, tenantID, communityID, id string) (webhookview.Webhook, error) {
	w, err := c.n.webhookView.Get(ctx, tenantID, communityID, id)
	if !errors.Is(err, webhook.ErrNotFound) {
		return w, err
	}
	head, err := c.n.store.LastPosition(ctx)
	if err == nil {
		err = c.n.webhookRunner.WaitForTypes(ctx, head, webhookview.ChangesWebhooks)
	}
	if err != nil {
		return webhookview.Webhook{}, err
	}
	return c.n.webhookView.Get(ctx, tenantID, communityID, id)
}

// webhooksAt waits for the webhooks read model alone, and for the webhooks' changes alone: the
// dispatcher's candidates read no other, and the health the view folds from attempts may commit with
// the batch the read models are gathering (readModelCommitInterval) rather than close it.
func (n *node) webhooksAt(ctx context.Context, pos eventlog.Position) error {
	return n.webhookRunner.WaitForTypes(ctx, pos, webhookview.ChangesWebhooks)
}

// publishPlatform publishes one of hookd's own platform events (WEBHOOK_DISABLED), the system as
// its publisher; the idempotency key makes a repeat publish nothing.
func (n *node) publishPlatform(ctx context.Context, name string, payload json.RawMessage, idempotencyKey string) error {
	_, _, err := n.events.Publish(ctx, command.PublishEvent{
		TenantID: platform.Scope, CommunityID: platform.Scope, Name: name, Payload: payload, IdempotencyKey: idempotencyKey,
	}, command.Caller{Actor: command.SystemActor, RequestID: idempotencyKey})
	return err
}
