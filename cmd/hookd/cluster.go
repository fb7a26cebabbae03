package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/hookd/hookd/adapters/deliverer"
	"github.com/hookd/hookd/adapters/natscoord"
	"github.com/hookd/hookd/adapters/natsserver"
	"github.com/hookd/hookd/adapters/sender"
	"github.com/hookd/hookd/application/dispatch"
	"github.com/hookd/hookd/application/reconcile"
	"github.com/hookd/hookd/domain/eventlog"
	"github.com/hookd/hookd/projections"
	"github.com/hookd/hookd/projections/deliveryview"
)

// natsDir is where the embedded NATS server keeps its JetStream files, inside the data directory.
const natsDir = "nats"

// dispatchLease names the lease, and the checkpoint, of the dispatcher.
const dispatchLease = "dispatch"

// campaignRetry is the wait before campaigning again after a leadership ended in an error.
const campaignRetry = time.Second

// clusterConn is a node's NATS: its connection, and the embedded server when it runs one.
type clusterConn struct {
	conn   *nats.Conn
	server *natsserver.Server
}

// openCluster starts the embedded NATS server when HOOKD_NATS_LISTEN says so, and connects to
// HOOKD_NATS_URL, or else to the embedded server. The connection reconnects for ever: NATS being
// away stalls delivery (and /readyz says so), it does not stop the node.
func openCluster(ctx context.Context, cfg config, log *slog.Logger) (*clusterConn, error) {
	c := &clusterConn{}
	url := cfg.NATS.URL
	if cfg.NATS.Listen != "" {
		sc, err := embeddedNATS(cfg, log)
		if err != nil {
			return nil, err
		}
		if c.server, err = natsserver.Start(ctx, sc); err != nil {
			return nil, fmt.Errorf("starting the embedded NATS server: %w", err)
		}
		if url == "" {
			url = c.server.ClientURL()
		}
	}
	conn, err := nats.Connect(url, nats.Name("hookd "+cfg.NodeID), nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) { log.Warn("NATS connection lost", "err", err) }),
		nats.ReconnectHandler(func(nc *nats.Conn) { log.Info("NATS connection back", "server", nc.ConnectedUrlRedacted()) }))
	if err != nil {
		c.close()
		return nil, fmt.Errorf("connecting to NATS (HOOKD_NATS_URL): %w", err)
	}
	c.conn = conn
	return c, nil
}

// embeddedNATS is the embedded server's configuration from HOOKD_NATS_*.
func embeddedNATS(cfg config, log *slog.Logger) (natsserver.Config, error) {
	hostPort := func(v string) (string, int, error) {
		host, port, err := net.SplitHostPort(v)
		if err != nil {
			return "", 0, err
		}
		p, err := strconv.Atoi(port)
		if p == 0 {
			p = -1 // any free port, as the server spells it
		}
		return host, p, err
	}
	sc := natsserver.Config{StoreDir: filepath.Join(cfg.DataDir, natsDir), Name: cfg.NodeID, Logger: log.With("component", "nats-server")}
	var err error
	if sc.Host, sc.Port, err = hostPort(cfg.NATS.Listen); err != nil {
		return sc, fmt.Errorf("HOOKD_NATS_LISTEN: %w", err)
	}
	if cfg.NATS.ClusterListen != "" {
		cl := &natsserver.Cluster{Name: cfg.NATS.ClusterName, Routes: cfg.NATS.Routes}
		if cl.Host, cl.Port, err = hostPort(cfg.NATS.ClusterListen); err != nil {
			return sc, fmt.Errorf("HOOKD_NATS_CLUSTER_LISTEN: %w", err)
		}
		sc.Cluster = cl
	}
	return sc, nil
}

// ready says whether NATS answers: the connection is up.
func (c *clusterConn) ready() error {
	if c == nil || c.conn.IsConnected() {
		return nil
	}
	return errors.New("NATS is unreachable")
}

// close closes the connection, then stops the embedded server.
func (c *clusterConn) close() {
	if c == nil {
		return
	}
	if c.conn != nil {
		c.conn.Close()
	}
	if c.server != nil {
		c.server.Shutdown()
	}
}

// leaderDispatch runs the dispatcher on the one node that holds the dispatch lease, with its
// checkpoint in NATS key-value, where the next leader finds it. Each term of leadership starts with
// a new Dispatcher (what one remembers of the deliveries it handed over is its own) and with the
// recovery of every due delivery that the work queue does not hold, which the node that led before
// may have appended and not handed over: a node that is not the leader re-schedules nothing. Beside
// the dispatcher, the leader runs the reconciler, which hands back what the log says is overdue but
// NATS may have lost.
type leaderDispatch struct {
	cl            *clusterConn
	cfg           config
	n             *node
	newDispatcher func(*dispatch.Takeover) (*dispatch.Dispatcher, error)
	queue         heldQueue
	scheduler     reconcile.Scheduler
	metrics       *deliveryMetrics
	log           *slog.Logger

	mu       sync.Mutex
	follower *projections.Follower
	// failing is why the last term ended, or could not start; nil once a term runs.
	failing error
	leading atomic.Bool
}

// heldQueue says which deliveries the work queue holds (natstransport.PubSub).
type heldQueue interface {
	Held(ctx context.Context, topic string) (map[string]struct{}, error)
	Holds(ctx context.Context, topic, key string) (bool, error)
}

func newLeaderDispatch(cl *clusterConn, cfg config, n *node, newDispatcher func(*dispatch.Takeover) (*dispatch.Dispatcher, error),
	queue heldQueue, scheduler reconcile.Scheduler, metrics *deliveryMetrics, log *slog.Logger) *leaderDispatch {
	l := &leaderDispatch{cl: cl, cfg: cfg, n: n, newDispatcher: newDispatcher, queue: queue, scheduler: scheduler, metrics: metrics,
		log: log.With("component", "dispatcher")}
	metrics.leading(l.leading.Load)
	return l
}

// err is the dispatcher's readiness: a term that failed, or a leader whose follower is failing.
func (l *leaderDispatch) err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failing != nil {
		return l.failing
	}
	if l.follower != nil {
		return l.follower.Err()
	}
	return nil
}

// position is how far this term's dispatcher has gone over the log; ok is false while this node
// does not lead.
func (l *leaderDispatch) position() (pos eventlog.Position, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.follower == nil {
		return eventlog.Position{}, false
	}
	return l.follower.Position(), true
}

func (l *leaderDispatch) setTerm(f *projections.Follower, failing error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.follower, l.failing = f, failing
}

// run campaigns for the dispatch lease until ctx ends; it returns nil then.
func (l *leaderDispatch) run(ctx context.Context) error {
	var elector *natscoord.Elector
	for {
		var err error
		if elector == nil {
			elector, err = natscoord.NewElector(ctx, natscoord.LeaseConfig{Conn: l.cl.conn, Holder: l.cfg.NodeID,
				Replicas: l.cfg.NATS.Replicas, Logger: l.log})
		}
		if err == nil {
			err = elector.RunAsLeader(ctx, dispatchLease, l.term)
		}
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			l.setTerm(nil, err)
			l.log.Warn("dispatch leadership ended; campaigning again", "err", err, "retry_in", campaignRetry)
		}
		select {
		case <-time.After(campaignRetry):
		case <-ctx.Done():
			return nil
		}
	}
}

// term is one leadership: recover what is due, then dispatch from the shared checkpoint until the
// lease is lost (ctx ends) or the checkpoint is claimed by another node.
func (l *leaderDispatch) term(ctx context.Context) error {
	l.leading.Store(true)
	defer l.leading.Store(false)
	l.log.Info("dispatch leader", "node_id", l.cfg.NodeID)
	takeover, err := l.recover(ctx)
	if err != nil {
		return err
	}
	d, err := l.newDispatcher(takeover)
	if err != nil {
		return err
	}
	checkpoint, err := natscoord.NewCheckpoint(natscoord.CheckpointConfig{Conn: l.cl.conn, Owner: l.cfg.NodeID,
		Replicas: l.cfg.NATS.Replicas}, dispatchLease)
	if err != nil {
		return err
	}
	f, err := projections.NewFollower(projections.FollowerConfig{Subscribe: l.n.subscribe,
		Processor: d, Checkpoint: checkpoint, Logger: l.log})
	if err != nil {
		return err
	}
	reconciler, err := reconcile.New(reconcile.Config{Deliveries: dueDeliveries{l.n.deliveryView}, Scheduler: l.scheduler,
		AckWait: l.cfg.NATS.AckWait, LongestAttempt: longestAttempt, Held: l.held})
	if err != nil {
		return err
	}
	l.setTerm(f, nil)
	defer l.setTerm(nil, nil)
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	reconciled := make(chan struct{})
	go func() {
		defer close(reconciled)
		_ = reconciler.Run(ctx, l.cfg.NATS.ReconcileInterval, func(res reconcile.Result, err error) {
			if err != nil {
				l.log.Warn("reconciler pass failed", "err", err, "handed_back", res.Scheduled)
			} else if res.Scheduled > 0 {
				l.log.Info("reconciler handed back overdue deliveries", "count", res.Scheduled, "complete", res.Complete)
			}
		})
	}()
	err = f.Run(ctx)
	stop()
	<-reconciled
	return err
}

// recover hands over every due delivery that the work queue does not hold, and returns what the
// Dispatcher is to know of it: the log's position after it, up to which the last leader's
// DeliveryScheduled are covered. The deliveries read model must show what the last leader appended
// before the recovery reads it: the log's head now is past anything it did, since it stopped
// before its lease expired. Nothing appends a DeliveryScheduled between the two heads read here
// (this node's dispatcher has not started, the last leader has stopped); a replay appended
// meanwhile is handed over by the Dispatcher unless the work queue holds it by then.
func (l *leaderDispatch) recover(ctx context.Context) (*dispatch.Takeover, error) {
	head, err := l.n.store.LastPosition(ctx)
	if err == nil {
		err = l.n.waitFor(ctx, head)
	}
	var res reconcile.TakeoverResult
	if err == nil {
		res, err = reconcile.Takeover(ctx, reconcile.TakeoverConfig{Deliveries: dueDeliveries{l.n.deliveryView}, Scheduler: l.scheduler,
			Held: l.held, PageSize: recoveryPage, Logger: l.log})
	}
	if err == nil {
		head, err = l.n.store.LastPosition(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("recovering due deliveries: %w", err)
	}
	if res.Due > 0 {
		l.log.Info("recovered due deliveries", "due", res.Due, "held_by_the_queue", res.Held, "handed_over", res.Scheduled,
			"queue_unchecked", res.Unchecked)
	}
	return &dispatch.Takeover{At: head, Holds: func(ctx context.Context, id string) (bool, error) {
		return l.queue.Holds(ctx, deliverer.Topic, id)
	}}, nil
}

// held returns the deliveries the work queue holds.
func (l *leaderDispatch) held(ctx context.Context) (map[string]struct{}, error) {
	return l.queue.Held(ctx, deliverer.Topic)
}

// longestAttempt is the longest one delivery attempt takes: the sender's default response wait
// (a webhook's ttl is at most 5 s, below it) plus what signing, connecting and recording take.
const longestAttempt = sender.DefaultTimeout + 5*time.Second

// dueDeliveries lists the due deliveries of the deliveries read model for the reconciler.
type dueDeliveries struct {
	view *deliveryview.View
}

// Due implements reconcile.Deliveries; the cursor is the read model's own.
func (d dueDeliveries) Due(ctx context.Context, after *reconcile.DueDelivery, limit int) ([]reconcile.DueDelivery, error) {
	var from *deliveryview.DueDelivery
	if after != nil {
		c := after.Cursor.(deliveryview.DueDelivery)
		from = &c
	}
	due, err := d.view.Due(ctx, from, limit)
	out := make([]reconcile.DueDelivery, len(due))
	for i, dd := range due {
		out[i] = reconcile.DueDelivery{DeliveryID: dd.DeliveryID, DueAt: dd.NextDueAt, Cursor: dd}
	}
	return out, err
}
