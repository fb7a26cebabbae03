package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/trace"

	"github.com/hookd/hookd/adapters/eventstore/kurrentdb"
	"github.com/hookd/hookd/adapters/eventstore/sqlitestore"
	"github.com/hookd/hookd/adapters/kosmoscrypto"
	"github.com/hookd/hookd/adapters/metrics"
	"github.com/hookd/hookd/adapters/readmodeldb"
	"github.com/hookd/hookd/adapters/sealer"
	"github.com/hookd/hookd/adapters/webhooksig"
	"github.com/hookd/hookd/application/command"
	"github.com/hookd/hookd/application/eventcodec"
	"github.com/hookd/hookd/application/eventstore"
	"github.com/hookd/hookd/application/query"
	"github.com/hookd/hookd/domain/eventlog"
	"github.com/hookd/hookd/domain/servicekey"
	"github.com/hookd/hookd/projections"
	"github.com/hookd/hookd/projections/deliveryview"
	"github.com/hookd/hookd/projections/licenseview"
	"github.com/hookd/hookd/projections/servicekeyview"
	"github.com/hookd/hookd/projections/webhookview"
)

// node is one hookd process's wiring: the composition root. Every command builds one and closes it.
type node struct {
	cfg config
	// lock is serve's hold on the data directory; nil in other commands.
	lock  *dataDirLock
	log   *slog.Logger
	clock func() time.Time
	store *eventstore.Watched
	// backend is the log as opened, under store's decorations.
	backend eventstore.Store
	// appends times the log's appends, for serve's /metrics.
	appends *metrics.Appends
	codec   *eventcodec.Codec
	readDB  *sql.DB
	// writeDB is the read models' database as the one connection every Runner writes through.
	writeDB *sql.DB

	webhookView *webhookview.View
	// licenseView is nil on a serve node without the api role: only authentication reads it.
	licenseView  *licenseview.View
	keyView      *servicekeyview.View
	deliveryView *deliveryview.View
	// keys serves the service's key pairs from memory, to authentication and to the deliverer.
	keys *keyring
	// projections lists the read models the node builds, each with the runner that keeps it up to
	// date (runners, in the same order). One group feeds them all from one subscription to the log.
	projections    []projections.Projection
	readModels     *projections.Group
	runners        []*projections.Runner
	webhookRunner  *projections.Runner
	licenseRunner  *projections.Runner
	deliveryRunner *projections.Runner

	webhooks    *command.Webhooks
	events      *command.Events
	deliveries  *command.Deliveries
	licenses    *command.Licenses
	serviceKeys *command.ServiceKeys
	replays     *command.Replays
	history     *query.WebhookHistory
	// tracing makes serve's spans: a no-op provider unless tracing is configured; nil in the other
	// commands, which trace nothing.
	tracing trace.TracerProvider
}

// Files in the data directory.
const (
	logFile        = "events.db"
	readModelsFile = "readmodels.db"
)

// openNode opens the data directory for a command that runs beside serve or without it (license,
// replay, deliveries, ...). Like serve, it refuses read models ahead of the log.
func openNode(ctx context.Context, cfg config, log *slog.Logger) (*node, error) {
	return openNodeFor(ctx, cfg, log, opening{checkReadModels: true})
}

// openServeNode opens the data directory for serve: it takes the serve lock first, so that a second
// serve on the directory stops before it touches anything, and checks the whole embedded log, so that
// damage is found at start rather than when a read reaches it. The node's close releases the lock.
func openServeNode(ctx context.Context, cfg config, log *slog.Logger) (*node, error) {
	return openNodeFor(ctx, cfg, log, opening{serveLock: true, checkLog: true, checkReadModels: true, byRoles: true})
}

// openRebuildNode opens the data directory for `hookd projections rebuild`, which is how read models
// ahead of the log are mended: it does not refuse them.
func openRebuildNode(ctx context.Context, cfg config, log *slog.Logger) (*node, error) {
	return openNodeFor(ctx, cfg, log, opening{rebuild: true})
}

// opening says what openNodeFor does besides opening.
type opening struct {
	// serveLock takes the data directory's serve lock (see lockDataDir).
	serveLock bool
	// checkLog reads the whole embedded log to verify its structure (sqlitestore's Check).
	checkLog bool
	// checkReadModels refuses read models whose checkpoints are past the log's head.
	checkReadModels bool
	// byRoles builds only the read models the node's roles read (serve); other commands build every
	// read model, whichever they read.
	byRoles bool
	// rebuild sizes the read models' page caches for rebuilding them rather than for queries.
	rebuild bool
}

func openNodeFor(ctx context.Context, cfg config, log *slog.Logger, o opening) (*node, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	n := &node{cfg: cfg, log: log, clock: time.Now}
	if err := n.open(ctx, o); err != nil {
		return nil, errors.Join(err, n.close())
	}
	return n, nil
}

func (n *node) open(ctx context.Context, o opening) error {
	var err error
	if o.serveLock {
		if n.lock, err = lockDataDir(n.cfg.DataDir); err != nil {
			return err
		}
	}
	seal, err := sealer.LoadOrCreate(n.cfg.DataDir, n.cfg.MasterKey)
	if err != nil {
		return err
	}
	registry, err := eventcodec.NewRegistry(eventcodec.HookdEvents()...)
	if err != nil {
		return err
	}
	if n.codec, err = eventcodec.New(registry, seal); err != nil {
		return err
	}
	openReadDB := readmodeldb.Open
	if o.rebuild {
		openReadDB = readmodeldb.OpenRebuild
	}
	if n.readDB, err = openReadDB(filepath.Join(n.cfg.DataDir, readModelsFile)); err != nil {
		return err
	}
	if o.checkReadModels && n.cfg.EventStore == eventStoreEmbedded {
		// Opening the store would create a missing log: read models that need one are refused first,
		// so that the refusal leaves nothing behind.
		if _, err := os.Stat(filepath.Join(n.cfg.DataDir, logFile)); errors.Is(err, os.ErrNotExist) {
			if err := projections.CheckNotAhead(ctx, n.readDB, emptyLog); err != nil {
				return n.explain(err)
			}
		}
	}
	store, err := openStore(ctx, n.cfg, n.log)
	if err != nil {
		return n.explain(err)
	}
	n.backend, n.appends = store, metrics.NewAppends()
	n.store = eventstore.Watch(n.appends.Store(store))
	if checker, ok := store.(logChecker); ok && o.checkLog {
		if err := checker.Check(ctx); err != nil {
			return n.explain(err)
		}
	}
	if o.checkReadModels {
		if err := projections.CheckNotAhead(ctx, n.readDB, n.store.LastPosition); err != nil {
			return n.explain(err)
		}
	}
	if n.writeDB, err = readmodeldb.OpenWriter(filepath.Join(n.cfg.DataDir, readModelsFile)); err != nil {
		return err
	}
	api := !o.byRoles || n.cfg.API
	if err := n.buildReadModels(api); err != nil {
		return err
	}
	// The ids of deliveries retention removed are kept apart from the projections' tables, which
	// a rebuild replaces; replays look them up whether or not retention runs now.
	if err := n.deliveryView.PrepareExpiredIDs(ctx); err != nil {
		return err
	}
	// Read models built by an older hookd lack the index of a community's deliveries by time.
	if err := n.deliveryView.PrepareQueries(ctx); err != nil {
		return err
	}
	return n.buildCommands()
}

// openStore opens the log HOOKD_EVENTSTORE names. Read models stay in the data directory either way:
// with KurrentDB, each node keeps its own, fed by its subscription to the shared log.
func openStore(ctx context.Context, cfg config, log *slog.Logger) (eventstore.Store, error) {
	if cfg.EventStore == eventStoreKurrentDB {
		s, err := kurrentdb.Open(ctx, kurrentdb.Options{URL: cfg.KurrentDBURL, Logger: log})
		if err != nil {
			return nil, fmt.Errorf("HOOKD_KURRENTDB_URL: %w", err)
		}
		return s, nil
	}
	s, err := sqlitestore.Open(ctx, filepath.Join(cfg.DataDir, logFile), sqlitestore.Options{Logger: log, CompressData: cfg.CompressLog})
	if err != nil {
		// A nil *Store in the interface would not be nil to the node's close.
		return nil, err
	}
	return s, nil
}

// buildReadModels builds the read models the node's roles read; api says whether it has the api
// role. What reads each:
//
//   - webhooks: the API (fetch, get, match) and delivery (targets, the dispatcher's subscribers);
//   - servicekeys: the API (authentication, /publickeys, /healthz) and delivery (the signing key);
//   - deliveries: the API (the delivery log, replays) and delivery (the due deliveries that
//     recovery, the memtransport window and the reconciler read);
//   - licenses: the API alone (authentication).
func (n *node) buildReadModels(api bool) error {
	var err error
	if n.webhookView, err = webhookview.New(n.readDB, n.codec); err != nil {
		return err
	}
	n.projections = []projections.Projection{n.webhookView}
	if api {
		if n.licenseView, err = licenseview.New(n.readDB, n.codec); err != nil {
			return err
		}
		n.projections = append(n.projections, n.licenseView)
	}
	if n.keyView, err = servicekeyview.New(n.readDB, n.codec); err != nil {
		return err
	}
	if n.deliveryView, err = deliveryview.New(n.readDB, n.codec); err != nil {
		return err
	}
	n.keys = newKeyring(n.keyView, n.codec, n.clock)
	n.projections = append(n.projections, n.keyView, n.deliveryView)
	if n.readModels, err = projections.NewGroup(projections.GroupConfig{
		DB: n.writeDB, Subscribe: n.subscribe, Projections: n.projections, Logger: n.log,
		CommitInterval: readModelCommitInterval,
	}); err != nil {
		return err
	}
	n.runners = n.readModels.Runners()
	for _, r := range n.runners {
		switch r.Projection() {
		case projections.Projection(n.webhookView):
			n.webhookRunner = r
		case projections.Projection(n.licenseView):
			n.licenseRunner = r
		case projections.Projection(n.deliveryView):
			n.deliveryRunner = r
		}
	}
	return nil
}

// readModelCommitInterval is how long the read models gather the log's events into one transaction:
// a few deliveries per commit at full speed become tens, and each writes fewer pages (issue 12).
// Nobody waits for it (projections.GroupConfig.CommitInterval); what it delays is what is read
// without waiting (the delivery log's pages, the due deliveries a backfill pages through after its
// first), by at most this much.
const readModelCommitInterval = 50 * time.Millisecond

// subscribe follows the log for a projections Runner.
func (n *node) subscribe(ctx context.Context, after eventlog.Position) (projections.Subscription, error) {
	return n.store.SubscribeAll(ctx, after)
}

func (n *node) buildCommands() error {
	var err error
	newSecret := func() (string, error) { return newWebhookSecret(rand.Reader) }
	if n.webhooks, err = command.NewWebhooks(n.store, n.codec, n.clock, uuid.NewString, newSecret); err != nil {
		return err
	}
	if n.events, err = command.NewEvents(n.store, n.codec, n.clock); err != nil {
		return err
	}
	if n.deliveries, err = command.NewDeliveries(n.store, n.codec, n.clock); err != nil {
		return err
	}
	if n.licenses, err = command.NewLicenses(n.store, n.codec, n.clock, rand.Reader); err != nil {
		return err
	}
	generators := map[string]command.KeyGenerator{
		servicekey.PrimarySlot: newServiceKeyPair,
		servicekey.SigningSlot: newSigningKeyPair,
	}
	if n.serviceKeys, err = command.NewServiceKeys(n.store, n.codec, n.clock, generators); err != nil {
		return err
	}
	if n.replays, err = command.NewReplays(n.store, n.codec, n.clock, deliverySelector{n.deliveryView}); err != nil {
		return err
	}
	n.replays = n.replays.WithExpiry(n.deliveryView, n.cfg.DeliveryRetention)
	n.history, err = query.NewWebhookHistory(n.store, n.codec)
	return err
}

// newServiceKeyPair makes a secp256k1 pair in 1Kosmos's encoding.
func newServiceKeyPair() (servicekey.Pair, error) {
	pair, err := kosmoscrypto.GenerateKeyPair(rand.Reader)
	if err != nil {
		return servicekey.Pair{}, err
	}
	return servicekey.Pair{
		KeyID: uuid.NewString(), Type: kosmoscrypto.CurveName,
		PublicKey: pair.Public.Encode(), PrivateKey: pair.Private.Encode(),
	}, nil
}

// newSigningKeyPair makes the ed25519 pair that signs deliveries (Standard Webhooks v1a).
func newSigningKeyPair() (servicekey.Pair, error) {
	public, private, err := webhooksig.GenerateSigningKey(rand.Reader)
	if err != nil {
		return servicekey.Pair{}, err
	}
	return servicekey.Pair{
		KeyID: uuid.NewString(), Type: webhooksig.SigningKeyType, PublicKey: public, PrivateKey: private,
	}, nil
}

// runProjections keeps every read model up to date until ctx ends or the log is found damaged.
func (n *node) runProjections(ctx context.Context) error {
	return n.readModels.Run(ctx)
}

// waitFor blocks until every read model has applied the log up to pos.
func (n *node) waitFor(ctx context.Context, pos eventlog.Position) error {
	return n.readModels.WaitFor(ctx, pos)
}

// catchUp brings the read models up to the end of the log, for commands that run without serve.
func (n *node) catchUp(ctx context.Context) error {
	head, err := n.store.LastPosition(ctx)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- n.runProjections(ctx) }()
	err = n.waitFor(ctx, head)
	cancel()
	return errors.Join(err, <-done)
}

// close closes what open opened, the serve lock last: another serve may start only once this one
// has let go of every file.
func (n *node) close() error {
	var errs []error
	for _, db := range []*sql.DB{n.readDB, n.writeDB} {
		if db != nil {
			errs = append(errs, db.Close())
		}
	}
	if n.store != nil {
		errs = append(errs, n.store.Close())
	}
	if n.lock != nil {
		errs = append(errs, n.lock.release())
	}
	return errors.Join(errs...)
}
