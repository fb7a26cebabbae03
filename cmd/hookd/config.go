package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hookd/hookd/adapters/console"
	"github.com/hookd/hookd/adapters/httpapi"
	"github.com/hookd/hookd/adapters/telemetry"
	"github.com/hookd/hookd/application/deliver"
)

// config is hookd's configuration, read from the environment; README.md has the table.
type config struct {
	Addr             string
	DataDir          string
	MasterKey        string
	BootstrapLicense string
	AllowedTimeSpan  time.Duration
	Environment      string
	PublicURL        string
	LogLevel         slog.Level
	LogFormat        string
	// EventStore is where the log lives: "embedded" (a file in DataDir) or "kurrentdb".
	EventStore string
	// KurrentDBURL is the KurrentDB connection string, for EventStore "kurrentdb".
	KurrentDBURL string
	// AllowPrivateTargets lets deliveries and token fetches reach loopback, private and other
	// blocked addresses: local development and tests only.
	AllowPrivateTargets bool
	// CompressLog stores the embedded log's events compressed (HOOKD_EMBEDDED_COMPRESS, on unless
	// set to false): two fifths less written to disk per delivery.
	CompressLog bool
	// DeliveryConcurrency bounds the delivery attempts in flight.
	DeliveryConcurrency int
	// DeliveryWindow bounds the due deliveries the embedded profile's transport holds in memory
	// (HOOKD_DELIVERY_WINDOW); the others wait in the log until it has room.
	DeliveryWindow int
	// EndpointConcurrency bounds the attempts in flight to one endpoint; in the cluster profile it
	// is the cluster's, each delivering node taking its share.
	EndpointConcurrency int
	// API and Deliver are the node's roles (HOOKD_ROLES): API serves the management API, Deliver
	// dispatches and delivers. At least one is on.
	API, Deliver bool
	// NodeID names this node among the cluster's (HOOKD_NODE_ID).
	NodeID string
	// NATS is the cluster profile's configuration; its URL is empty in the embedded profile.
	NATS natsConfig
	// LicenseRate and LicenseBurst are each license's quota: a token bucket of LicenseBurst
	// requests, refilled at LicenseRate requests per second.
	LicenseRate  float64
	LicenseBurst int
	// MetricsLicenses is how many licenses get a series of their own in /metrics'
	// hookd_api_requests_by_license_total (HOOKD_METRICS_LICENSES); the others count as "other".
	MetricsLicenses int
	// PlatformURL and PlatformSecret are WEBHOOK_URL and WEBHOOK_SECRET, Cosmo's names: where
	// platform events are delivered, and the secret that signs them.
	PlatformURL, PlatformSecret string
	// HTTP bounds the API's connections and request bodies (HOOKD_HTTP_*).
	HTTP httpapi.Limits
	// Health is the circuit breaker's rule and auto-disable's delay.
	Health healthConfig
	// DeliveryRetention is how long a finished delivery is kept after its last change
	// (HOOKD_DELIVERY_RETENTION); 0 keeps every delivery for ever.
	DeliveryRetention time.Duration
	// PprofAddr is the loopback address net/http/pprof serves on (HOOKD_PPROF_ADDR, serve --pprof);
	// empty, the default, serves none.
	PprofAddr string
	// ConsoleIdle ends a console session unused for that long (HOOKD_CONSOLE_IDLE_TIMEOUT);
	// ConsoleSessions bounds the sessions a node keeps (HOOKD_CONSOLE_MAX_SESSIONS).
	ConsoleIdle     time.Duration
	ConsoleSessions int
	// Tracing is OpenTelemetry tracing, from the standard OTEL_* variables: off unless configured.
	Tracing telemetry.TracingConfig
}

// defaultDeliveryWindow is HOOKD_DELIVERY_WINDOW's default: about 5.5 MB of due deliveries held in
// memory (about 220 bytes each, id included: BenchmarkWindowBytes), 8 to 10 s of delivery at the
// embedded profile's measured rate. The window takes the due first back from the log as it drains
// to half, so a larger one delivers no faster; during a backlog it is full, and at 100,000 it was
// the largest thing live (22 MB, twice that with the collector's headroom: docs/benchmarks.md,
// "Batch publishing's memory").
const defaultDeliveryWindow = 25_000

// Event stores HOOKD_EVENTSTORE names.
const (
	eventStoreEmbedded  = "embedded"
	eventStoreKurrentDB = "kurrentdb"
)

// Defaults of HOOKD_ADDR, HOOKD_DATA_DIR and HOOKD_DELIVERY_RETENTION.
const (
	defaultRetention = "30d"

	defaultAddr    = "127.0.0.1:8080"
	defaultDataDir = "./data"
)

func configFromEnv(getenv func(string) string) (config, error) {
	cfg := config{
		Addr:             or(getenv("HOOKD_ADDR"), defaultAddr),
		DataDir:          or(getenv("HOOKD_DATA_DIR"), defaultDataDir),
		MasterKey:        getenv("HOOKD_MASTER_KEY"),
		BootstrapLicense: getenv("HOOKD_BOOTSTRAP_LICENSE_KEY"),
		Environment:      or(getenv("HOOKD_ENVIRONMENT"), "local"),
		PublicURL:        getenv("HOOKD_PUBLIC_URL"),
		LogFormat:        or(getenv("HOOKD_LOG_FORMAT"), "json"),
		EventStore:       or(getenv("HOOKD_EVENTSTORE"), eventStoreEmbedded),
		KurrentDBURL:     getenv("HOOKD_KURRENTDB_URL"),
		PlatformURL:      getenv("WEBHOOK_URL"),
		PlatformSecret:   getenv("WEBHOOK_SECRET"),
		PprofAddr:        getenv("HOOKD_PPROF_ADDR"),
	}
	tracing, err := telemetry.TracingFromEnv(getenv)
	cfg.Tracing = tracing
	errs := []error{err}
	if cfg.PprofAddr != "" {
		errs = append(errs, checkPprofAddr(cfg.PprofAddr))
	}
	span, err := parseSpan(or(getenv("HOOKD_ALLOWED_TIME_SPAN"), "30"))
	if err != nil {
		errs = append(errs, fmt.Errorf("HOOKD_ALLOWED_TIME_SPAN: %w", err))
	}
	cfg.AllowedTimeSpan = span
	switch v := getenv("HOOKD_ALLOW_PRIVATE_TARGETS"); v {
	case "", "false":
	case "true":
		cfg.AllowPrivateTargets = true
	default:
		errs = append(errs, fmt.Errorf("HOOKD_ALLOW_PRIVATE_TARGETS: %q must be true or false", v))
	}
	switch v := getenv("HOOKD_EMBEDDED_COMPRESS"); v {
	case "false":
	case "", "true":
		cfg.CompressLog = true
	default:
		errs = append(errs, fmt.Errorf("HOOKD_EMBEDDED_COMPRESS: %q must be true or false", v))
	}
	concurrency, err := strconv.Atoi(or(getenv("HOOKD_DELIVERY_CONCURRENCY"), "256"))
	if err != nil || concurrency < 1 || concurrency > 10_000 {
		errs = append(errs, errors.New("HOOKD_DELIVERY_CONCURRENCY: must be a number from 1 to 10000"))
	}
	cfg.DeliveryConcurrency = concurrency
	series, err := strconv.Atoi(or(getenv("HOOKD_METRICS_LICENSES"), "100"))
	if err != nil || series < 0 || series > 10_000 {
		errs = append(errs, errors.New("HOOKD_METRICS_LICENSES: must be a number from 0 to 10000"))
	}
	cfg.MetricsLicenses = series
	window, err := strconv.Atoi(or(getenv("HOOKD_DELIVERY_WINDOW"), strconv.Itoa(defaultDeliveryWindow)))
	if err != nil || window < 10 || window > 10_000_000 {
		errs = append(errs, errors.New("HOOKD_DELIVERY_WINDOW: must be a number from 10 to 10000000"))
	}
	cfg.DeliveryWindow = window
	perEndpoint, err := strconv.Atoi(or(getenv("HOOKD_ENDPOINT_CONCURRENCY"), strconv.Itoa(deliver.DefaultEndpointConcurrency)))
	if err != nil || perEndpoint < 1 || perEndpoint > 10_000 {
		errs = append(errs, errors.New("HOOKD_ENDPOINT_CONCURRENCY: must be a number from 1 to 10000"))
	}
	cfg.EndpointConcurrency = perEndpoint
	if cfg.DeliveryRetention, err = parseDays(or(getenv("HOOKD_DELIVERY_RETENTION"), defaultRetention)); err != nil || cfg.DeliveryRetention < 0 {
		errs = append(errs, errors.New("HOOKD_DELIVERY_RETENTION: give days such as 30d, a Go duration such as 12h or 20s, or 0 to keep deliveries for ever"))
	}
	if cfg.PlatformURL != "" {
		if u, err := url.Parse(cfg.PlatformURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, errors.New("WEBHOOK_URL: must be an absolute http or https URL"))
		}
	}
	if cfg.LicenseRate, cfg.LicenseBurst, err = licenseQuota(getenv("HOOKD_LICENSE_RATE"), getenv("HOOKD_LICENSE_BURST")); err != nil {
		errs = append(errs, err)
	}
	if cfg.API, cfg.Deliver, err = roles(getenv("HOOKD_ROLES"), getenv("HOOKD_DELIVERY")); err != nil {
		errs = append(errs, err)
	}
	cfg.NodeID = or(getenv("HOOKD_NODE_ID"), defaultNodeID())
	if !nodeIDPattern.MatchString(cfg.NodeID) {
		errs = append(errs, fmt.Errorf("HOOKD_NODE_ID: %q must be 1 to 128 letters, digits, '-' or '_'", cfg.NodeID))
	}
	if cfg.NATS, err = natsFromEnv(getenv); err != nil {
		errs = append(errs, err)
	}
	if err := cfg.LogLevel.UnmarshalText([]byte(or(getenv("HOOKD_LOG_LEVEL"), "info"))); err != nil {
		errs = append(errs, fmt.Errorf("HOOKD_LOG_LEVEL: %w", err))
	}
	if cfg.LogFormat != "json" && cfg.LogFormat != "text" {
		errs = append(errs, errors.New("HOOKD_LOG_FORMAT: must be json or text"))
	}
	cfg.HTTP, err = httpLimitsFromEnv(getenv)
	errs = append(errs, err)
	cfg.ConsoleIdle, cfg.ConsoleSessions, err = consoleFromEnv(getenv)
	errs = append(errs, err)
	cfg.Health, err = healthFromEnv(getenv)
	errs = append(errs, err)
	switch {
	case cfg.EventStore != eventStoreEmbedded && cfg.EventStore != eventStoreKurrentDB:
		errs = append(errs, errors.New("HOOKD_EVENTSTORE: must be embedded or kurrentdb"))
	case cfg.EventStore == eventStoreKurrentDB && cfg.KurrentDBURL == "":
		errs = append(errs, errors.New("HOOKD_KURRENTDB_URL: required when HOOKD_EVENTSTORE=kurrentdb"))
	case cfg.NATS.cluster() && cfg.EventStore != eventStoreKurrentDB:
		// Every node must read one log: the embedded store is one process's file.
		errs = append(errs, errors.New("HOOKD_NATS_URL (or HOOKD_NATS_LISTEN): the cluster profile needs HOOKD_EVENTSTORE=kurrentdb, "+
			"a log every node reads; the embedded store is one process's file"))
	}
	return cfg, errors.Join(errs...)
}

// Defaults and bounds of each license's quota.
const (
	defaultLicenseRate = 5000
	maxLicenseRate     = 1_000_000
)

// licenseQuota reads HOOKD_LICENSE_RATE (requests per second, default 5000) and HOOKD_LICENSE_BURST
// (requests at once, default two seconds' worth).
func licenseQuota(rateText, burstText string) (float64, int, error) {
	rate := float64(defaultLicenseRate)
	if rateText != "" {
		r, err := strconv.ParseFloat(rateText, 64)
		if err != nil || !(r > 0 && r <= maxLicenseRate) {
			return 0, 0, fmt.Errorf("HOOKD_LICENSE_RATE: %q must be a number of requests per second above 0, at most %d", rateText, maxLicenseRate)
		}
		rate = r
	}
	burst := int(math.Ceil(2 * rate))
	if burstText != "" {
		b, err := strconv.Atoi(burstText)
		if err != nil || b < 1 || b > 2*maxLicenseRate {
			return 0, 0, fmt.Errorf("HOOKD_LICENSE_BURST: %q must be a number of requests from 1 to %d", burstText, 2*maxLicenseRate)
		}
		burst = b
	}
	return rate, burst, nil
}

// httpLimitsFromEnv reads the HOOKD_HTTP_* settings; README.md has their ranges.
func httpLimitsFromEnv(getenv func(string) string) (httpapi.Limits, error) {
	var errs []error
	number := func(name string, fallback, lo, hi int) int {
		n, err := strconv.Atoi(or(getenv(name), strconv.Itoa(fallback)))
		if err != nil || n < lo || n > hi {
			errs = append(errs, fmt.Errorf("%s: must be a number from %d to %d", name, lo, hi))
		}
		return n
	}
	l := httpapi.Limits{
		MaxConns:      number("HOOKD_HTTP_MAX_CONNS", httpapi.DefaultMaxConns, 1, 1_000_000),
		MaxConnsPerIP: number("HOOKD_HTTP_MAX_CONNS_PER_IP", httpapi.DefaultMaxConnsPerIP, 0, 1_000_000),
		BodyMemory:    int64(number("HOOKD_HTTP_BODY_MEMORY_MB", httpapi.DefaultBodyMemory>>20, 2, 1<<20)) << 20,
	}
	if l.MaxConnsPerIP == 0 {
		l.MaxConnsPerIP = -1 // 0 means no cap here, and the default in httpapi.Limits
	}
	timeout, err := time.ParseDuration(or(getenv("HOOKD_HTTP_BODY_TIMEOUT"), httpapi.DefaultBodyTimeout.String()))
	if err != nil || timeout < time.Second || timeout > 5*time.Minute {
		errs = append(errs, errors.New("HOOKD_HTTP_BODY_TIMEOUT: must be a duration from 1s to 5m"))
	}
	l.BodyTimeout = timeout
	return l, errors.Join(errs...)
}

// consoleFromEnv reads HOOKD_CONSOLE_IDLE_TIMEOUT (a duration from 1m to 24h, default 30m) and
// HOOKD_CONSOLE_MAX_SESSIONS (1 to 1,000,000, default 10,000).
func consoleFromEnv(getenv func(string) string) (time.Duration, int, error) {
	var errs []error
	idle, err := time.ParseDuration(or(getenv("HOOKD_CONSOLE_IDLE_TIMEOUT"), console.DefaultIdleTimeout.String()))
	if err != nil || idle < time.Minute || idle > 24*time.Hour {
		errs = append(errs, errors.New("HOOKD_CONSOLE_IDLE_TIMEOUT: must be a duration from 1m to 24h"))
	}
	sessions, err := strconv.Atoi(or(getenv("HOOKD_CONSOLE_MAX_SESSIONS"), strconv.Itoa(console.DefaultMaxSessions)))
	if err != nil || sessions < 1 || sessions > 1_000_000 {
		errs = append(errs, errors.New("HOOKD_CONSOLE_MAX_SESSIONS: must be a number from 1 to 1000000"))
	}
	return idle, sessions, errors.Join(errs...)
}

// parseSpan reads seconds ("30", as 1Kosmos configures it) or a Go duration ("30s").
func parseSpan(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		secs, convErr := strconv.Atoi(strings.TrimSpace(s))
		if convErr != nil {
			return 0, fmt.Errorf("%q is neither seconds nor a duration", s)
		}
		d = time.Duration(secs) * time.Second
	}
	if d < time.Second || d > time.Hour {
		return 0, fmt.Errorf("%s must be from 1s to 1h", d)
	}
	return d, nil
}

func or(s, fallback string) string {
	if s == "" {
		return fallback
	}
	return s
}

func (c config) logger(w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.LogLevel}
	if c.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
