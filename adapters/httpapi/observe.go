package httpapi

import (
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// otherLicenses labels the requests of licenses past the per-license series' cap.
const otherLicenses = "other"

// metrics are the API's Prometheus series. Routes are labelled by their pattern, never by the path
// itself, so that ids do not make a series each. Licenses are labelled by id, up to a cap: they are
// issued by operators and few, but nothing else bounds them.
type metrics struct {
	requests  *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	byLicense *prometheus.CounterVec
	handler   fiber.Handler

	mu sync.Mutex
	// licenses are the license ids that have a series of their own, at most maxLicenses.
	licenses    map[string]struct{}
	maxLicenses int
}

func newMetrics(reg *prometheus.Registry, maxLicenses int, bodies *bodyReader) *metrics {
	m := &metrics{
		byLicense: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookd_api_requests_by_license_total",
			Help: "Authenticated API requests by license id (the first HOOKD_METRICS_LICENSES licenses seen; the others as \"other\") and status class.",
		}, []string{"license", "code"}),
		licenses: make(map[string]struct{}), maxLicenses: max(maxLicenses, 0),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookd_http_requests_total", Help: "HTTP requests answered, by method, route and status.",
		}, []string{"method", "route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "hookd_http_request_duration_seconds", Help: "Time to answer HTTP requests, by method and route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"method", "route"}),
		handler: adaptor.HTTPHandler(promhttp.HandlerFor(reg, promhttp.HandlerOpts{})),
	}
	reg.MustRegister(m.requests, m.duration, m.byLicense, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "hookd_http_body_memory_bytes",
		Help: "Memory held by request bodies being received; past HOOKD_HTTP_BODY_MEMORY_MB, bodies are refused 503.",
	}, func() float64 { return float64(bodies.inUse.Load()) }))
	return m
}

// licenseLabel is the license's label: its id while the cap allows, else otherLicenses.
func (m *metrics) licenseLabel(id string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.licenses[id]; ok {
		return id
	}
	if len(m.licenses) >= m.maxLicenses {
		return otherLicenses
	}
	m.licenses[id] = struct{}{}
	return id
}

// observe counts and times every request, and logs it at debug level (and at error level when it
// failed on the server's side, which errorHandler does).
func (s *server) observe(c *fiber.Ctx) error {
	start := time.Now()
	err := c.Next()
	if err != nil {
		// Answer the error now, so the status below is the one the caller gets.
		if herr := s.errorHandler(c, err); herr != nil {
			return herr
		}
	}
	code := c.Response().StatusCode()
	elapsed := time.Since(start)
	route := c.Route().Path
	// Fiber's method string aliases the request buffer, which the next request overwrites; a
	// Prometheus label keeps its string, so it gets a copy.
	method := strings.Clone(c.Method())
	if s.metrics != nil {
		s.metrics.requests.WithLabelValues(method, route, strconv.Itoa(code)).Inc()
		s.metrics.duration.WithLabelValues(method, route).Observe(elapsed.Seconds())
		if id, ok := c.Locals(licenseIDKey).(string); ok {
			s.metrics.byLicense.WithLabelValues(s.metrics.licenseLabel(id), strconv.Itoa(code/100)+"xx").Inc()
		}
	}
	if s.log.Enabled(c.UserContext(), slog.LevelDebug) {
		s.log.DebugContext(c.UserContext(), "request", "method", method, "route", route,
			"status", code, "duration_ms", float64(elapsed.Microseconds())/1000)
	}
	return nil
}

func (s *server) serveMetrics(c *fiber.Ctx) error {
	if s.metrics == nil {
		return fiber.ErrNotFound
	}
	return s.metrics.handler(c)
}
