package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/hookd/hookd/adapters/console"
	"github.com/hookd/hookd/adapters/httpapi"
	"github.com/hookd/hookd/adapters/kosmosauth"
	"github.com/hookd/hookd/adapters/readcache"
	"github.com/hookd/hookd/adapters/safedial"
	"github.com/hookd/hookd/adapters/telemetry"
	"github.com/hookd/hookd/application/command"
	"github.com/hookd/hookd/domain/eventlog"
	"github.com/hookd/hookd/domain/license"
	"github.com/hookd/hookd/domain/servicekey"
)

// shutdownGrace bounds how long serve waits for requests in flight after SIGTERM.
const shutdownGrace = 10 * time.Second

// bootstrapLicenseFile is where serve writes the first system license when none was configured.
const bootstrapLicenseFile = "bootstrap-license.key"

// systemCaller is the actor of what hookd does by itself (the first service keys, the first license).
var systemCaller = command.Caller{Actor: "hookd"}

func newServeCommand(c *cli) *cobra.Command {
	var addr, dataDir, pprofAddr string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the API, the projections and the delivery",
		Long: `Run the API, the projections, the dispatcher and the deliverer until SIGINT or SIGTERM, which
stop it gracefully. The configuration comes from the environment (see README.md); the flags override
HOOKD_ADDR and HOOKD_DATA_DIR.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := c.config()
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("addr") {
				cfg.Addr = addr
			}
			if cmd.Flags().Changed("data-dir") {
				cfg.DataDir = dataDir
			}
			if cmd.Flags().Changed("pprof") {
				if err := checkPprofAddr(pprofAddr); err != nil {
					return err
				}
				cfg.PprofAddr = pprofAddr
			}
			return serve(cmd.Context(), cfg, c.stderr)
		},
	}
	// The defaults stay out of the flags: they come from the environment, which --help does not read.
	cmd.Flags().StringVar(&addr, "addr", "", "address to listen on (default $HOOKD_ADDR, or "+defaultAddr+")")
	cmd.Flags().StringVar(&dataDir, "data-dir", "", "data directory (default $HOOKD_DATA_DIR, or "+defaultDataDir+")")
	cmd.Flags().StringVar(&pprofAddr, "pprof", "", "serve net/http/pprof on this loopback address (default $HOOKD_PPROF_ADDR, or off)")
	return cmd
}

func serve(ctx context.Context, cfg config, stderr io.Writer) error {
	log := cfg.logger(stderr)
	if cfg.PprofAddr != "" {
		// The profiler stops with serve, however serve ends.
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer cancel()
		if _, err := startPprof(ctx, cfg.PprofAddr, log); err != nil {
			return err
		}
	}
	inst, err := start(ctx, cfg, log)
	if err != nil {
		return err
	}
	if err := inst.wait(); err != nil {
		return err
	}
	log.Info("hookd stopped")
	return nil
}

// instance is a running hookd server.
type instance struct {
	// addr is the address the API listens on.
	addr string
	// node is the instance's wiring, for tests that reach into its store.
	node *node
	// done is closed when the instance has stopped; err then says why.
	done chan struct{}
	err  error
}

// wait blocks until the instance stops (ctx given to start ended, or a part failed) and returns why;
// nil for a shutdown asked for.
func (i *instance) wait() error {
	<-i.done
	return i.err
}

// start opens the data directory, runs the projections, bootstraps the service key and the first
// license, and serves the API until ctx ends; then it shuts down gracefully: new connections are
// refused and requests in flight get shutdownGrace to finish.
func start(ctx context.Context, cfg config, log *slog.Logger) (*instance, error) {
	startedAt := time.Now()
	n, err := openServeNode(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	notBefore, err := requestIDsNotBefore(ctx, n, startedAt)
	if err != nil {
		return nil, errors.Join(err, n.close())
	}
	tracing, shutdownTracing, err := telemetry.NewTracerProvider(ctx, cfg.Tracing, buildVersion())
	if err != nil {
		return nil, errors.Join(err, n.close())
	}
	n.tracing = tracing
	if cfg.Tracing.Enabled {
		log.Info("tracing on: sending spans over OTLP", "protocol", cfg.Tracing.Protocol)
	}
	// A collector that cannot be reached loses spans, and is no reason for serve to fail.
	stopTracing := func(ctx context.Context) {
		if err := shutdownTracing(ctx); err != nil {
			log.Warn("flushing the last spans failed", "err", err)
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	// projectionsDone is closed when the runners stop, which they do only on failure or shutdown;
	// projectionsErr says why.
	projectionsDone := make(chan struct{})
	var projectionsErr error
	go func() {
		projectionsErr = n.runProjections(ctx)
		close(projectionsDone)
	}()
	// cl is the cluster profile's NATS; nil in the embedded profile.
	var cl *clusterConn
	// retentionDone is closed once the retention sweeper has stopped; nil until it is started.
	var retentionDone <-chan struct{}
	fail := func(err error) (*instance, error) {
		cancel()
		<-projectionsDone
		if retentionDone != nil {
			<-retentionDone
		}
		cl.close()
		stopTracing(context.WithoutCancel(ctx))
		return nil, errors.Join(err, n.close())
	}
	if err := bootstrap(ctx, n, cfg, log); err != nil {
		return fail(err)
	}
	if cfg.NATS.cluster() {
		if cl, err = openCluster(ctx, cfg, log); err != nil {
			return fail(err)
		}
	}
	registry := prometheus.NewRegistry()
	var deliveries *deliveryPipeline
	if cfg.Deliver {
		if deliveries, err = newDelivery(ctx, n, cfg, log, cl, newDeliveryMetrics(ctx, registry)); err != nil {
			return fail(err)
		}
	}
	registerLogMetrics(ctx, registry, n, deliveries)
	if retentionDone, err = startRetention(ctx, n, cfg, deliveries, log); err != nil {
		return fail(err)
	}
	if err := sleepUntil(ctx, notBefore); err != nil {
		return fail(err)
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fail(err)
	}
	app, endStreams, err := newAPI(n, cfg, log, projectionsDone, notBefore, deliveries, cl, registry)
	if err != nil {
		return fail(errors.Join(err, ln.Close()))
	}
	// deliveryDone is closed when the pipeline stops: on shutdown, or when it fails. It stays nil on
	// a node that does not deliver, where waiting on it never ends.
	var deliveryDone chan struct{}
	var deliveryErr error
	if deliveries != nil {
		deliveryDone = make(chan struct{})
		go func() {
			deliveryErr = deliveries.run(ctx, log)
			close(deliveryDone)
		}()
	}
	inst := &instance{addr: ln.Addr().String(), node: n, done: make(chan struct{})}
	log.Info("hookd serving", "addr", inst.addr, "data_dir", cfg.DataDir, "version", buildVersion())

	served := make(chan error, 1)
	go func() { served <- app.Listener(ln) }()
	go func() {
		var err error
		select {
		case err = <-served:
		// A shutdown asked for ends the projections and the delivery too, and the select may see
		// them stop before it sees ctx end: only a stop while ctx lives is a failure.
		case <-projectionsDone:
			err = stopped(ctx, log, "projections", projectionsErr)
		case <-deliveryDone:
			err, deliveryErr = stopped(ctx, log, "delivery", deliveryErr), nil
		case <-ctx.Done():
			log.Info("shutting down")
		}
		// No new requests first, then no new attempts: those in flight finish (or are handed back to
		// the log) before the store closes.
		// The console's live streams never end by themselves: they are told to, or the shutdown
		// would wait for its grace period.
		endStreams()
		err = errors.Join(err, app.ShutdownWithTimeout(shutdownGrace))
		cancel()
		if deliveryDone != nil {
			<-deliveryDone
			err = errors.Join(err, deliveryErr)
		}
		<-projectionsDone
		<-retentionDone
		cl.close()
		// The spans still buffered are sent, within the grace a shutdown has.
		flushCtx, flushed := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
		defer flushed()
		stopTracing(flushCtx)
		inst.err = errors.Join(err, n.close())
		close(inst.done)
	}()
	return inst, nil
}

// stopped says why a part of serve that runs until ctx ends stopped: its error, nil when ctx ended
// (a shutdown, which the part may notice before serve's own select does), or an error when it
// stopped without one before ctx ended.
func stopped(ctx context.Context, log *slog.Logger, part string, err error) error {
	switch {
	case err != nil:
		return fmt.Errorf("%s stopped: %w", part, err)
	case ctx.Err() == nil:
		return fmt.Errorf("%s stopped unexpectedly", part)
	}
	log.Info("shutting down")
	return nil
}

// requestIDsNotBefore is the time before which this run refuses request ids. The replay cache lives
// in memory: a run does not know which request ids the run before it accepted, so it refuses those
// made before it started, rounded up to the whole second (ts counts whole seconds), and listens
// only from then on, so that a request id made once it listens is never refused for this. A log
// that is empty at start had no license, so no request was ever accepted: nothing to refuse, and
// no wait.
func requestIDsNotBefore(ctx context.Context, n *node, startedAt time.Time) (time.Time, error) {
	head, err := n.store.LastPosition(ctx)
	if err != nil || head == eventlog.Start {
		return time.Time{}, err
	}
	return startedAt.Truncate(time.Second).Add(time.Second), nil
}

// sleepUntil returns at t (at once for a past or zero t), or when ctx ends, with its error.
func sleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// bootstrap makes sure the service has its key pairs (the service key that authenticates callers and
// the key that signs deliveries) and, on a node with the api role, someone can log in: the first
// system license is the one HOOKD_BOOTSTRAP_LICENSE_KEY names, or else a generated one written to a
// file. A node without the api role has no API to log in to, nor the licenses read model.
func bootstrap(ctx context.Context, n *node, cfg config, log *slog.Logger) error {
	for _, slot := range []string{servicekey.PrimarySlot, servicekey.SigningSlot} {
		if _, res, err := n.serviceKeys.Ensure(ctx, slot, systemCaller); err != nil {
			return fmt.Errorf("service key %s: %w", slot, err)
		} else if res.Changed {
			log.Info("created a service key pair", "slot", slot)
		}
	}
	switch {
	case !cfg.API:
	case cfg.BootstrapLicense != "":
		issued, err := n.licenses.Issue(ctx, command.IssueLicense{Level: license.LevelSystem, Key: cfg.BootstrapLicense}, systemCaller)
		if err != nil {
			return fmt.Errorf("HOOKD_BOOTSTRAP_LICENSE_KEY: %w", err)
		}
		if !issued.Existed {
			log.Info("issued the bootstrap system license", "license_id", issued.LicenseID)
		}
	default:
		if err := bootstrapLicenseToFile(ctx, n, cfg, log); err != nil {
			return err
		}
	}
	head, err := n.store.LastPosition(ctx)
	if err != nil {
		return err
	}
	return n.waitFor(ctx, head)
}

// bootstrapLicenseToFile issues a system license on the first start of an empty log and writes its
// key, once, to a file only the owner reads: the key is shown nowhere else. The file is written (and
// synced) before the license is issued, so that a crash in between cannot leave a license whose key
// is lost; a file left by such a crash is issued at the next start.
func bootstrapLicenseToFile(ctx context.Context, n *node, cfg config, log *slog.Logger) error {
	path := filepath.Join(cfg.DataDir, bootstrapLicenseFile)
	key, err := os.ReadFile(path)
	if err == nil {
		issued, err := n.licenses.Issue(ctx, command.IssueLicense{Level: license.LevelSystem, Key: strings.TrimSpace(string(key))}, systemCaller)
		if err != nil {
			return fmt.Errorf("the bootstrap license in %s: %w", path, err)
		}
		if !issued.Existed {
			log.Info("issued the system license whose key is in a file", "path", path)
		}
		return nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	// serve's runners are running already: wait for them to reach the end of the log (running a
	// second set, as catchUp does for commands without serve, would run each Runner twice at once).
	head, err := n.store.LastPosition(ctx)
	if err != nil {
		return err
	}
	if err := n.waitFor(ctx, head); err != nil {
		return err
	}
	existing, err := n.licenseView.List(ctx)
	if err != nil || len(existing) > 0 {
		return err
	}
	generated, err := command.NewLicenseKey(rand.Reader)
	if err != nil {
		return err
	}
	if err := writeKeyFile(path, generated); err != nil {
		return fmt.Errorf("writing the bootstrap license: %w", err)
	}
	if _, err := n.licenses.Issue(ctx, command.IssueLicense{Level: license.LevelSystem, Key: generated}, systemCaller); err != nil {
		return err
	}
	log.Info("issued a system license; its key is in a file", "path", path)
	return nil
}

// writeKeyFile creates path for the owner alone, refusing to replace a file, and syncs it.
func writeKeyFile(path, key string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.WriteString(key + "\n")
	return errors.Join(err, f.Sync(), f.Close())
}

// newAPI builds the API; notBefore is when request ids must have been made (requestIDsNotBefore).
// Its readiness covers the read models' runners and the delivery pipeline's processors, the runners
// that act on the log without keeping a read model (the dispatcher); deliveries is nil on a node
// that does not deliver, cl in the embedded profile. The API's metrics join registry. On a node with
// the api role the console is mounted too; endStreams ends its open live streams.
func newAPI(n *node, cfg config, log *slog.Logger, projectionsDone <-chan struct{}, notBefore time.Time, deliveries *deliveryPipeline,
	cl *clusterConn, registry *prometheus.Registry) (app *fiber.App, endStreams func(), err error) {
	processors := deliveries.processors()
	verifier, err := kosmosauth.NewVerifier(kosmosauth.Config{
		Keys: n.keys, Now: n.clock, TimeSpan: cfg.AllowedTimeSpan, NotBefore: notBefore,
	})
	if err != nil {
		return nil, nil, err
	}
	if cfg.AllowPrivateTargets {
		log.Warn("HOOKD_ALLOW_PRIVATE_TARGETS is on: webhook and token URLs may reach loopback, private, link-local and " +
			"cloud-metadata addresses; use it for local development and tests only")
	}
	registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for i, r := range n.runners {
		name := n.projections[i].Name()
		registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "hookd_projection_position", Help: "Log position (commit) up to which a read model is committed.",
			ConstLabels: prometheus.Labels{"projection": name},
		}, func() float64 { return float64(r.Position().Commit) }))
	}
	checkTarget := func(raw string) error {
		if cfg.AllowPrivateTargets {
			return nil
		}
		// Only a blocked address is refused here; the aggregate explains any other bad URL.
		if err := safedial.CheckURL(raw); errors.Is(err, safedial.ErrBlocked) {
			return errors.New("must not point to a loopback, private, link-local, multicast, unspecified or cloud-metadata address " +
				"(for local development, HOOKD_ALLOW_PRIVATE_TARGETS=true allows them)")
		}
		return nil
	}
	// A node without the api role has no licenses read model, and serves no API that reads it: the
	// interface stays nil there (a nil *readcache.Licenses in it would not be).
	var licenses httpapi.LicenseReader
	if n.licenseView != nil {
		licenses = readcache.NewLicenses(n.licenseView, n.licenseRunner, n.store.LastPosition)
	}
	replays := deliveries.replays(n.replays)
	app, err = httpapi.New(httpapi.Config{
		Webhooks: n.webhooks, Events: n.events, ServiceKeys: n.serviceKeys, Replays: replays, History: n.history,
		WebhookView: n.webhookView, Deliveries: n.deliveryView, Licenses: licenses,
		KeyView: n.keyView, Secrets: n.codec,
		Verifier: verifier, PublicKey: n.keys.ServicePublicKey, SigningKey: n.keys.SigningPublicKey,
		WaitFor: n.waitFor, OnServiceKeyReset: n.keys.invalidate,
		Ready: func(ctx context.Context) error {
			select {
			case <-projectionsDone:
				return errors.New("projections stopped")
			default:
			}
			// /readyz shows these errors to anyone: details go to the log only.
			for i, r := range n.runners {
				if err := r.Err(); err != nil {
					return &httpapi.NotReadyError{Part: "read model " + n.projections[i].Name(), Err: err}
				}
			}
			if err := cl.ready(); err != nil {
				return err
			}
			for _, p := range processors {
				if err := p.err(); err != nil {
					return &httpapi.NotReadyError{Part: "processor " + p.name, Err: err}
				}
			}
			if err := n.store.StorageErr(); err != nil {
				return err // a StorageError names its cause and nothing else
			}
			ctx, cancel := context.WithTimeout(ctx, time.Second)
			defer cancel()
			if _, err := n.store.LastPosition(ctx); err != nil {
				log.WarnContext(ctx, "the event store does not answer", "err", err)
				return errors.New("the event store does not answer")
			}
			return nil
		},
		CheckTargetURL: checkTarget,
		Version:        buildVersion(), AllowedTimeSpan: cfg.AllowedTimeSpan, Environment: cfg.Environment,
		PublicURL: cfg.PublicURL, ProbesOnly: !cfg.API, Registry: registry, Logger: log, Limits: cfg.HTTP,
		LicenseRate: cfg.LicenseRate, LicenseBurst: cfg.LicenseBurst, LicenseSeries: cfg.MetricsLicenses,
		TracerProvider: n.tracing,
	})
	if err != nil || !cfg.API {
		return app, func() {}, err
	}
	linkKey, err := consoleLinkKey(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("console: %w", err)
	}
	cons, err := console.New(console.Config{
		Webhooks: n.webhooks, Replays: replays, History: n.history, WebhookView: n.webhookView, Deliveries: n.deliveryView,
		Licenses: licenses, WaitFor: n.waitFor, CheckTargetURL: checkTarget, LinkKey: linkKey,
		IdleTimeout: cfg.ConsoleIdle, MaxSessions: cfg.ConsoleSessions, Clock: n.clock, Logger: log,
		SecureCookies: strings.HasPrefix(cfg.PublicURL, "https://"),
	})
	if err != nil {
		return nil, nil, err
	}
	cons.Mount(app)
	return app, cons.EndStreams, nil
}
