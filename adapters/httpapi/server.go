// Package httpapi is hookd's management API on Fiber v2, shaped like the 1Kosmos Webhooks API: its
// paths, bodies, status codes, error shape and ECDSA-based authentication.
package httpapi

import (
	"context"
	"crypto/ed25519"
	"errors"
	"log/slog"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/recover"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/hookd/hookd/adapters/kosmosauth"
	"github.com/hookd/hookd/adapters/telemetry"
	"github.com/hookd/hookd/application/command"
	"github.com/hookd/hookd/application/query"
	"github.com/hookd/hookd/domain/eventlog"
	"github.com/hookd/hookd/internal/bounded"
	"github.com/hookd/hookd/projections/licenseview"
	"github.com/hookd/hookd/projections/servicekeyview"
	"github.com/hookd/hookd/projections/webhookview"
)

// MaxBodyBytes bounds every request body; a larger one is answered 413.
const MaxBodyBytes = 1 << 20

// WebhookReader answers webhook queries from the read model.
type WebhookReader interface {
	Fetch(ctx context.Context, q webhookview.FetchQuery) (webhookview.Page, error)
	Get(ctx context.Context, tenantID, communityID, id string) (webhookview.Webhook, error)
	Subscribers(ctx context.Context, tenantID, communityID, eventName string) ([]webhookview.Webhook, error)
}

// LicenseReader finds licenses by the hash of their key.
type LicenseReader interface {
	ByKeyHash(ctx context.Context, hash string) (licenseview.License, error)
}

// ServiceKeyReader lists the service's key slots.
type ServiceKeyReader interface {
	List(ctx context.Context) ([]servicekeyview.Key, error)
}

// RequestVerifier checks the three 1Kosmos authentication headers of a request (Verify), and
// records a request of a valid license against replays (Commit). Recording only after the license
// is known keeps strangers from filling the replay cache.
type RequestVerifier interface {
	Verify(ctx context.Context, publicKey, licenseKey, requestID string) (kosmosauth.Request, error)
	Commit(req kosmosauth.Request) error
}

// SecretOpener opens a secret that a read model keeps sealed; stream is the record it belongs to.
type SecretOpener interface {
	OpenSecret(sealed, stream string) (string, error)
}

// SigningPublicKey is the public half of the service's ed25519 key that signs deliveries (Standard
// Webhooks v1a), with the id of its pair.
type SigningPublicKey struct {
	KeyID string
	Key   ed25519.PublicKey
}

// Config is everything the API needs. Every field is required unless its comment says otherwise.
type Config struct {
	Webhooks    *command.Webhooks
	Events      *command.Events
	ServiceKeys *command.ServiceKeys
	Replays     *command.Replays
	History     *query.WebhookHistory
	WebhookView WebhookReader
	Deliveries  DeliveryReader
	Licenses    LicenseReader
	KeyView     ServiceKeyReader
	Secrets     SecretOpener
	Verifier    RequestVerifier
	// PublicKey gives the public half of the service key pair that Verifier decrypts with, which
	// /publickeys, /healthz and fetch answers publish. It is asked on every fetch: it must answer
	// from memory.
	PublicKey func(ctx context.Context) (string, error)
	// SigningKey gives the public half of the service's key that signs deliveries, which
	// /.well-known publishes. It must answer from memory, as PublicKey does.
	SigningKey func(ctx context.Context) (SigningPublicKey, error)
	// WaitFor blocks until the read models have applied the log up to a position: a command's
	// answer waits for it, so that the caller's next query sees the change (read your writes).
	WaitFor func(ctx context.Context, pos eventlog.Position) error
	// Ready reports whether the node can serve: the log is reachable and writable and the read
	// models and processors run. A *NotReadyError names the part that cannot go on; /readyz shows
	// its other errors, which must name the cause without data or paths.
	Ready func(ctx context.Context) error
	// Version is the build's version, as /healthz shows it.
	Version string
	// AllowedTimeSpan is how far a request's timestamp may be from now.
	AllowedTimeSpan time.Duration
	// Environment names the deployment in /environment (optional; default "local").
	Environment string
	// PublicURL is the base URL /sd publishes (optional; default: the URL the request came to).
	PublicURL string
	// ProbesOnly serves /healthz, /livez, /readyz and /metrics alone: a node without the api role,
	// which a load balancer must not send API requests to. It needs only PublicKey and Ready; the
	// API's other ports may be nil.
	ProbesOnly bool
	// Registry collects the API's metrics and is served at /metrics (optional).
	Registry *prometheus.Registry
	// LicenseSeries is how many licenses get a series of their own in the per-license request
	// count, the first ones seen; the requests of the others are counted as license "other"
	// (optional: 0 counts every license as "other").
	LicenseSeries int
	// OnServiceKeyReset is called after a service key (of any slot) was reset through the API, so
	// caches of the keys can drop them at once (optional).
	OnServiceKeyReset func()
	// Logger logs requests that fail on the server's side (optional).
	Logger *slog.Logger
	// CheckTargetURL refuses a webhook or token URL that deliveries must never reach, such as a
	// literal private address, with an error that says why (optional: every URL passes).
	CheckTargetURL func(raw string) error
	// WriteTimeout bounds how long a command waits for the read models (optional; default 5 s).
	WriteTimeout time.Duration
	// LicenseRate is each license's quota of requests per second, a token bucket that holds
	// LicenseBurst requests (at least 1); a request over it is 429 with Retry-After (optional: 0
	// sets no quota).
	LicenseRate  float64
	LicenseBurst int
	// Limits bound connections and request bodies (optional; zero fields take their defaults).
	Limits Limits
	// TracerProvider traces publish requests, the root of each delivery's trace (optional: nil, or
	// a no-op provider, traces nothing).
	TracerProvider trace.TracerProvider
}

func (c *Config) validate() error {
	var errs []error
	need := func(ok bool, name string) {
		if !ok {
			errs = append(errs, errors.New("httpapi: "+name+" is required"))
		}
	}
	// The probes need the service's public key (/healthz shows it) and Ready; the API the rest.
	need(c.PublicKey != nil, "PublicKey")
	need(c.Ready != nil, "Ready")
	if !c.ProbesOnly {
		need(c.Webhooks != nil, "Webhooks")
		need(c.Events != nil, "Events")
		need(c.ServiceKeys != nil, "ServiceKeys")
		need(c.Replays != nil, "Replays")
		need(c.History != nil, "History")
		need(c.WebhookView != nil, "WebhookView")
		need(c.Deliveries != nil, "Deliveries")
		need(c.Licenses != nil, "Licenses")
		need(c.KeyView != nil, "KeyView")
		need(c.Secrets != nil, "Secrets")
		need(c.Verifier != nil, "Verifier")
		need(c.SigningKey != nil, "SigningKey")
		need(c.WaitFor != nil, "WaitFor")
	}
	need(c.Version != "", "Version")
	need(c.AllowedTimeSpan > 0, "AllowedTimeSpan")
	need(c.LicenseRate >= 0 && (c.LicenseRate == 0 || c.LicenseBurst >= 1), "LicenseBurst of at least 1 with a LicenseRate")
	if c.Limits.MaxConns < 0 || c.Limits.BodyTimeout < 0 || c.Limits.BodyMemory < 0 {
		errs = append(errs, errors.New("httpapi: Limits.MaxConns, BodyTimeout and BodyMemory must not be negative"))
	}
	if c.Limits.BodyMemory > 0 && c.Limits.BodyMemory <= MaxBodyBytes {
		errs = append(errs, errors.New("httpapi: Limits.BodyMemory must be more than MaxBodyBytes"))
	}
	return errors.Join(errs...)
}

type server struct {
	Config
	log     *slog.Logger
	metrics *metrics
	// rendered and renderedSystem cache webhooks' JSON by id, for non-system and for system readers
	// (see webhook_render.go).
	rendered, renderedSystem *bounded.Map[rendered]
	// quota is each license's token bucket; nil without Config.LicenseRate.
	quota  *licenseQuota
	bodies *bodyReader
	// tracer makes the publish spans; nil with tracing off.
	tracer trace.Tracer
}

// New returns the API as a Fiber app, ready to Listen or to Test.
func New(cfg Config) (*fiber.App, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return newApp(cfg), nil
}

// newApp is New after validation; a benchmark of one route gives it only that route's ports.
func newApp(cfg Config) *fiber.App {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Environment == "" {
		cfg.Environment = "local"
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = 5 * time.Second
	}
	cfg.Limits = cfg.Limits.withDefaults()
	s := &server{Config: cfg, log: cfg.Logger, rendered: bounded.New[rendered](renderedCacheSize),
		renderedSystem: bounded.New[rendered](renderedCacheSize), bodies: newBodyReader(cfg.Limits)}
	if cfg.Registry != nil {
		s.metrics = newMetrics(cfg.Registry, cfg.LicenseSeries, s.bodies)
	}
	if cfg.LicenseRate > 0 {
		s.quota = newLicenseQuota(cfg.LicenseRate, cfg.LicenseBurst)
	}
	if telemetry.Tracing(cfg.TracerProvider) {
		s.tracer = cfg.TracerProvider.Tracer(telemetry.InstrumentationName)
	}
	app := fiber.New(fiber.Config{
		AppName:   "hookd",
		BodyLimit: MaxBodyBytes,
		// Bodies are streamed: fasthttp would otherwise take memory for a body's declared length
		// before its bytes arrive, and hold it while they do not. readBody reads them instead.
		StreamRequestBody: true,
		// hookd takes no forms; fasthttp would read a multipart body of any length ahead of it.
		DisablePreParseMultipartForm: true,
		Concurrency:                  cfg.Limits.MaxConns,
		// ReadTimeout bounds a request's headers; its body has Limits.BodyTimeout from their end.
		ReadTimeout:           30 * time.Second,
		WriteTimeout:          30 * time.Second,
		IdleTimeout:           120 * time.Second,
		DisableStartupMessage: true,
		ErrorHandler:          s.errorHandler,
	})
	if cfg.Limits.MaxConnsPerIP > 0 {
		app.Server().MaxConnsPerIP = cfg.Limits.MaxConnsPerIP
	}
	app.Server().HeaderReceived = s.bodies.headerReceived
	s.routes(app)
	return app
}

func (s *server) routes(app *fiber.App) {
	app.Use(s.observe)
	// A panic in a handler becomes a 500 in the seed's shape instead of ending the process.
	app.Use(recover.New())
	// Before authentication: a stranger's body is bounded like anyone's.
	app.Use(s.bodies.readBody)
	app.Get("/healthz", s.healthz)
	app.Get("/livez", s.livez)
	app.Get("/readyz", s.readyz)
	app.Get("/metrics", s.serveMetrics)
	if s.ProbesOnly {
		return
	}
	app.Get("/publickeys", s.publicKeys)
	app.Get("/.well-known", s.wellKnown)
	app.Get("/sd", s.serviceDirectory)
	app.Get("/environment", s.environment)
	app.Post("/ecdsa_helper/:method", s.ecdsaHelper)
	app.Get("/openapi.json", s.openAPI)

	system := s.authenticate(requireSystem)
	app.Get("/servicekeys", system, s.listServiceKeys)
	app.Delete("/servicekey/:keyId", system, s.resetServiceKey)
	app.Post("/platform/events", system, s.publishPlatformEvent)

	scoped := app.Group("/tenant/:tenantId/community/:communityId", s.authenticate(requireScope))
	scoped.Put("/webhook", s.createWebhook)
	scoped.Post("/webhooks/fetch", s.fetchWebhooks)
	scoped.Post("/webhooks/match", s.matchWebhooks)
	scoped.Get("/webhook/:webhookId", s.getWebhook)
	scoped.Patch("/webhook/:webhookId", s.updateWebhook)
	scoped.Delete("/webhook/:webhookId", s.deleteWebhook)
	scoped.Get("/webhook/:webhookId/history", s.webhookHistory)
	scoped.Post("/webhook/:webhookId/deliveries/fetch", s.fetchDeliveries)
	scoped.Post("/webhook/:webhookId/replay", s.replayDeliveries)
	scoped.Post("/webhook/:webhookId/secret/rotate", s.rotateWebhookSecret)
	scoped.Post("/events", s.publishEvents)
}

// awaitProjection lets a command's answer wait until the read models show the command's effect, and
// reports whether they do. Past the timeout the command is still done and durable; only the read
// lags, so the caller answers anyway.
func (s *server) awaitProjection(c *fiber.Ctx, res command.Result) bool {
	if !res.Changed {
		return true
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), s.WriteTimeout)
	defer cancel()
	if err := s.WaitFor(ctx, res.Position); err != nil {
		s.log.WarnContext(ctx, "read models lag behind a command", "position", res.Position.String(), "err", err)
		return false
	}
	return true
}
