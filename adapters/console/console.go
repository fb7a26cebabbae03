// Package console is hookd's operator console: server-rendered pages at /console, on the API's
// Fiber app, where a person signs in with a license key, reads communities, webhooks, their
// lifecycle and deliveries, and acts on them through the same use cases as the API.
package console

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/filesystem"

	"github.com/hookd/hookd/application/command"
	"github.com/hookd/hookd/application/query"
	"github.com/hookd/hookd/domain/delivery"
	"github.com/hookd/hookd/domain/eventlog"
	"github.com/hookd/hookd/domain/license"
	"github.com/hookd/hookd/domain/webhook"
	"github.com/hookd/hookd/projections/deliveryview"
	"github.com/hookd/hookd/projections/licenseview"
	"github.com/hookd/hookd/projections/webhookview"
)

// Prefix is where the console is served.
const Prefix = "/console"

// Defaults of Config's optional fields.
const (
	DefaultIdleTimeout = 30 * time.Minute
	DefaultMaxSessions = 10_000
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// LicenseReader finds licenses by the hash of their key.
type LicenseReader interface {
	ByKeyHash(ctx context.Context, hash string) (licenseview.License, error)
}

// WebhookReader answers the webhook pages from the read model.
type WebhookReader interface {
	Fetch(ctx context.Context, q webhookview.FetchQuery) (webhookview.Page, error)
	Get(ctx context.Context, tenantID, communityID, id string) (webhookview.Webhook, error)
	Communities(ctx context.Context, tenantID, communityID string, limit int) ([]webhookview.Community, error)
}

// DeliveryReader answers the delivery pages from the read model.
type DeliveryReader interface {
	Fetch(ctx context.Context, q deliveryview.FetchQuery) (deliveryview.Page, error)
	Get(ctx context.Context, tenantID, communityID, deliveryID string) (deliveryview.Delivery, error)
	Health(ctx context.Context, tenantID, communityID, webhookID string, since time.Time) (deliveryview.Health, error)
	EventNames(ctx context.Context, tenantID, communityID string, limit int) ([]string, error)
	Changed(ctx context.Context, tenantID, communityID string, since time.Time, limit int) ([]deliveryview.Delivery, error)
}

// HistoryReader pages through a webhook's lifecycle in the log.
type HistoryReader interface {
	History(ctx context.Context, tenantID, communityID, id string, index, size int) (query.HistoryPage, error)
}

// Config is everything the console needs. Every field is required unless its comment says otherwise.
type Config struct {
	Webhooks    *command.Webhooks
	Replays     *command.Replays
	History     HistoryReader
	WebhookView WebhookReader
	Deliveries  DeliveryReader
	Licenses    LicenseReader
	// WaitFor blocks until the read models have applied the log up to a position, so that the page
	// shown after an action shows it.
	WaitFor func(ctx context.Context, pos eventlog.Position) error
	// CheckTargetURL refuses a URL deliveries must never reach, as the API's does (optional).
	CheckTargetURL func(raw string) error
	// LinkKey signs one-time sign-in links (at least 32 bytes; optional: without it, links are refused).
	LinkKey []byte
	// IdleTimeout ends a session not used for that long (optional; default DefaultIdleTimeout).
	IdleTimeout time.Duration
	// MaxSessions bounds the sessions kept (optional; default DefaultMaxSessions).
	MaxSessions int
	// SecureCookies marks the session cookie Secure even when the request did not come over TLS,
	// for a console behind a TLS-terminating proxy (optional; a TLS request always gets Secure).
	SecureCookies bool
	// Clock reads the time (optional; default time.Now).
	Clock func() time.Time
	// Logger logs failures on the server's side (optional).
	Logger *slog.Logger
	// LivePoll is how often the live view looks for changed deliveries (optional; default 1 s).
	LivePoll time.Duration
}

func (c *Config) validate() error {
	var errs []error
	need := func(ok bool, name string) {
		if !ok {
			errs = append(errs, errors.New("console: "+name+" is required"))
		}
	}
	need(c.Webhooks != nil, "Webhooks")
	need(c.Replays != nil, "Replays")
	need(c.History != nil, "History")
	need(c.WebhookView != nil, "WebhookView")
	need(c.Deliveries != nil, "Deliveries")
	need(c.Licenses != nil, "Licenses")
	need(c.WaitFor != nil, "WaitFor")
	if c.IdleTimeout < 0 || c.MaxSessions < 0 {
		errs = append(errs, errors.New("console: IdleTimeout and MaxSessions must not be negative"))
	}
	if len(c.LinkKey) > 0 && len(c.LinkKey) < 32 {
		errs = append(errs, errors.New("console: LinkKey must be at least 32 bytes"))
	}
	return errors.Join(errs...)
}

// Console serves the console's pages.
type Console struct {
	cfg      Config
	log      *slog.Logger
	sessions *sessions
	links    *usedLinks
	pages    map[string]*template.Template
	live     *liveStreams
	// ending is closed by EndStreams.
	ending  chan struct{}
	endOnce sync.Once
}

// New returns the console, to Mount on an app.
func New(cfg Config) (*Console, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.MaxSessions == 0 {
		cfg.MaxSessions = DefaultMaxSessions
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.LivePoll == 0 {
		cfg.LivePoll = time.Second
	}
	pages, err := parseTemplates()
	if err != nil {
		return nil, err
	}
	return &Console{cfg: cfg, log: cfg.Logger, sessions: newSessions(cfg.MaxSessions, cfg.IdleTimeout),
		links: &usedLinks{used: map[string]time.Time{}}, pages: pages, live: newLiveStreams(maxLiveStreams),
		ending: make(chan struct{})}, nil
}

// Mount adds the console's routes under Prefix.
func (s *Console) Mount(app fiber.Router) {
	static, _ := fs.Sub(staticFS, "static")
	app.Use(Prefix+"/static", filesystem.New(filesystem.Config{Root: http.FS(static), MaxAge: 3600}))
	r := app.Group(Prefix)
	r.Get("/signin", s.handle(s.signInPage))
	r.Post("/signin", s.handle(s.signIn))
	r.Get("/link", s.handle(s.redeemLink))

	in := r.Group("", s.handle(s.requireSession))
	in.Get("/", s.handle(s.communitiesPage))
	in.Post("/signout", s.handle(s.signOut))
	in.Get("/open", s.handle(s.openCommunity))
	in.Get("/live", s.handle(s.livePage))
	in.Get("/live/events", s.handle(s.liveEvents))

	c := in.Group("/t/:tenant/c/:community", s.handle(s.requireScope))
	c.Get("/", s.handle(s.webhooksPage))
	c.Get("/new", s.handle(s.newWebhookPage))
	c.Post("/new", s.handle(s.createWebhook))
	c.Get("/w/:webhook", s.handle(s.webhookPage))
	c.Get("/w/:webhook/edit", s.handle(s.editWebhookPage))
	c.Post("/w/:webhook/edit", s.handle(s.updateWebhook))
	c.Post("/w/:webhook/disable", s.handle(s.toggleWebhook(true)))
	c.Post("/w/:webhook/enable", s.handle(s.toggleWebhook(false)))
	c.Post("/w/:webhook/rotate", s.handle(s.rotateSecret))
	c.Post("/w/:webhook/replay", s.handle(s.replay))
	c.Get("/w/:webhook/d/:delivery", s.handle(s.deliveryPage))
	c.Post("/w/:webhook/d/:delivery/retry", s.handle(s.retryDelivery))
}

// EndStreams ends the live views' streams, and refuses new ones: call it before shutting the app
// down, whose shutdown would otherwise wait for them. Safe to call more than once.
func (s *Console) EndStreams() { s.endOnce.Do(func() { close(s.ending) }) }

// handle runs h and shows its error as a page: the API's JSON error handler is for API clients.
func (s *Console) handle(h fiber.Handler) fiber.Handler {
	return func(c *fiber.Ctx) error {
		err := h(c)
		if err == nil {
			return nil
		}
		code, message := errorStatus(err)
		if code >= http.StatusInternalServerError {
			s.log.ErrorContext(c.UserContext(), "console request failed", "method", c.Method(), "path", c.Path(), "err", err)
		}
		c.Status(code)
		return s.render(c, "error", pageData{Title: http.StatusText(code), Data: map[string]any{"Code": code, "Message": message}})
	}
}

// pageError is an error that knows its status and says what the person can do.
type pageError struct {
	code    int
	message string
}

func (e *pageError) Error() string { return e.message }

func notFound(what string) error { return &pageError{http.StatusNotFound, what + " not found"} }

// errorStatus maps an error to the status and message a page shows; it is the only place that does.
func errorStatus(err error) (int, string) {
	var pe *pageError
	var validation *webhook.ValidationError
	switch {
	case errors.As(err, &pe):
		return pe.code, pe.message
	case errors.As(err, &validation):
		return http.StatusBadRequest, validation.Error()
	case errors.Is(err, webhook.ErrNotFound), errors.Is(err, webhook.ErrDeleted):
		return http.StatusNotFound, "webhook not found"
	case errors.Is(err, delivery.ErrNotFound):
		return http.StatusNotFound, "delivery not found"
	case errors.Is(err, eventlog.ErrWrongExpectedVersion):
		return http.StatusConflict, "the webhook was changed by someone else since you opened it; open it again and redo your change"
	case errors.Is(err, eventlog.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable, "the event store is unavailable; try again"
	}
	var fe *fiber.Error
	if errors.As(err, &fe) {
		return fe.Code, fe.Message
	}
	return http.StatusInternalServerError, "internal error"
}

// caller is who an action is done for: the signed-in license, as for the API.
func caller(sess session) command.Caller {
	return command.Caller{Actor: "license:" + sess.licenseID, RequestID: randomToken()}
}

// scopeLabel says what a license covers.
func scopeLabel(level license.Level, scope license.Scope) string {
	switch {
	case scope.TenantID == "" && scope.CommunityID == "":
		return level.String() + " · every tenant"
	case scope.CommunityID == "":
		return level.String() + " · tenant " + scope.TenantID
	}
	return fmt.Sprintf("%s · %s / %s", level, scope.TenantID, scope.CommunityID)
}

// communityPath is the console's path of a community's page.
func communityPath(tenant, community string) string {
	return Prefix + "/t/" + tenant + "/c/" + community + "/"
}

func webhookPath(tenant, community, id string) string {
	return Prefix + "/t/" + tenant + "/c/" + community + "/w/" + id
}

// hostOf returns the host of a URL, for lists where the whole URL is noise.
func hostOf(raw string) string {
	rest := raw
	if _, after, ok := strings.Cut(raw, "://"); ok {
		rest = after
	}
	host, _, _ := strings.Cut(rest, "/")
	return host
}
