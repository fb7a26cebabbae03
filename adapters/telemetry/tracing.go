// Package telemetry is hookd's OpenTelemetry tracing and its per-attempt log line: the tracer
// provider built from the standard OTEL_* environment, the W3C trace context that events keep in
// their metadata, and a decorator around the delivery store that traces dispatch and attempts and
// logs each attempt.
//
// Nothing here is global: the provider is built once by the composition root and handed to what
// needs it; no otel.SetTracerProvider.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// InstrumentationName names hookd's tracer.
const InstrumentationName = "github.com/hookd/hookd"

// The OTLP protocols OTEL_EXPORTER_OTLP_PROTOCOL may name.
const (
	ProtocolHTTP = "http/protobuf"
	ProtocolGRPC = "grpc"
)

// TracingConfig says whether and how hookd exports traces. TracingFromEnv reads it; the exporter
// itself reads the rest of the OTEL_EXPORTER_OTLP_* variables (endpoint, headers, TLS, timeout,
// compression), and the SDK the OTEL_TRACES_SAMPLER*, OTEL_BSP_*, OTEL_SERVICE_NAME and
// OTEL_RESOURCE_ATTRIBUTES ones.
type TracingConfig struct {
	// Enabled turns tracing on. Off, spans are not made at all and events carry no trace context.
	Enabled bool
	// Protocol is ProtocolHTTP or ProtocolGRPC.
	Protocol string
	// Provider, when set, is used as it is instead of an OTLP exporter (tests collect spans in
	// process with it). Enabled is then implied.
	Provider trace.TracerProvider
}

// TracingFromEnv reads the tracing switch from the environment. Tracing is off unless it is
// configured: OTEL_TRACES_EXPORTER=otlp, or an OTLP endpoint (OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) with OTEL_TRACES_EXPORTER unset. OTEL_SDK_DISABLED=true and
// OTEL_TRACES_EXPORTER=none turn it off. The specification's default exporter is otlp; hookd does not
// follow it there, so that a process nobody configured does not try to reach localhost:4318.
func TracingFromEnv(getenv func(string) string) (TracingConfig, error) {
	var cfg TracingConfig
	if strings.EqualFold(strings.TrimSpace(getenv("OTEL_SDK_DISABLED")), "true") {
		return cfg, nil
	}
	switch exporter := strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER")); exporter {
	case "none":
		return cfg, nil
	case "otlp":
		cfg.Enabled = true
	case "":
		cfg.Enabled = getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
	default:
		return cfg, fmt.Errorf("OTEL_TRACES_EXPORTER: %q is not supported: give otlp or none", exporter)
	}
	cfg.Protocol = ProtocolHTTP
	for _, name := range []string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			if v != ProtocolHTTP && v != ProtocolGRPC {
				return cfg, fmt.Errorf("%s: %q is not supported: give %s or %s", name, v, ProtocolHTTP, ProtocolGRPC)
			}
			cfg.Protocol = v
			break
		}
	}
	return cfg, nil
}

// NewTracerProvider returns the tracer provider cfg describes, and the function that flushes and
// stops it (call it once, on shutdown). With tracing off it returns a no-op provider, which Tracing
// reports as off.
func NewTracerProvider(ctx context.Context, cfg TracingConfig, version string) (trace.TracerProvider, func(context.Context) error, error) {
	noShutdown := func(context.Context) error { return nil }
	if cfg.Provider != nil {
		return cfg.Provider, noShutdown, nil
	}
	if !cfg.Enabled {
		return noop.NewTracerProvider(), noShutdown, nil
	}
	var (
		exporter *otlptrace.Exporter
		err      error
	)
	switch cfg.Protocol {
	case ProtocolGRPC:
		exporter, err = otlptracegrpc.New(ctx)
	case ProtocolHTTP, "":
		exporter, err = otlptracehttp.New(ctx)
	default:
		err = fmt.Errorf("protocol %q is not supported", cfg.Protocol)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("telemetry: the OTLP trace exporter: %w", err)
	}
	// The attributes come first: OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES override them.
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", "hookd"), attribute.String("service.version", version)),
		resource.WithTelemetrySDK(), resource.WithFromEnv())
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, nil, errors.Join(fmt.Errorf("telemetry: the resource: %w", err), exporter.Shutdown(ctx))
	}
	// The sampler is the SDK's default, which OTEL_TRACES_SAMPLER and its argument override.
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exporter), sdktrace.WithResource(res))
	return tp, tp.Shutdown, nil
}

// Tracing reports whether tp makes spans worth recording: false for a no-op provider, which lets
// callers skip the work of tracing (reading a delivery's trace context from the log) when it is off.
func Tracing(tp trace.TracerProvider) bool {
	if tp == nil {
		return false
	}
	_, off := tp.(noop.TracerProvider)
	return !off
}

// traceContext is the W3C Trace Context propagator: the events' metadata keep its traceparent.
var traceContext = propagation.TraceContext{}

// TraceParent returns the W3C traceparent of the span in ctx; "" when ctx holds no valid span.
func TraceParent(ctx context.Context) string {
	carrier := propagation.MapCarrier{}
	traceContext.Inject(ctx, carrier)
	return carrier.Get("traceparent")
}

// WithTraceParent returns ctx with the span that traceparent names as its remote parent, so that the
// spans started from it join that trace. ctx comes back unchanged when traceparent is empty or
// malformed: a span then starts a trace of its own.
func WithTraceParent(ctx context.Context, traceparent string) context.Context {
	if traceparent == "" {
		return ctx
	}
	return traceContext.Extract(ctx, propagation.MapCarrier{"traceparent": traceparent})
}
