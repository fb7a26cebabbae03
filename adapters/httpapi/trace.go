package httpapi

import (
	"context"
	"strings"

	"github.com/gofiber/fiber/v2"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/hookd/hookd/adapters/telemetry"
	"github.com/hookd/hookd/application/command"
)

// startPublish starts a publish request's span, when tracing is on: a server span, the child of the
// span the request's own traceparent header names (a publisher that traces sees hookd's part in its
// trace), or the root of a new trace. caller.TraceParent then names it, so that the published
// events keep it in their metadata and their deliveries join the trace. With tracing off, it returns
// the request's context and a span that records nothing, and leaves caller alone.
func (s *server) startPublish(c *fiber.Ctx, tenantID, communityID string, caller *command.Caller) (context.Context, trace.Span) {
	ctx := c.UserContext()
	if s.tracer == nil {
		return ctx, noop.Span{}
	}
	ctx, span := s.tracer.Start(telemetry.WithTraceParent(ctx, c.Get("traceparent")), telemetry.SpanPublish,
		trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(telemetry.AttrTenantID.String(tenantID), telemetry.AttrCommunityID.String(communityID),
			// Fiber's strings alias the request buffer, which the next request overwrites.
			telemetry.AttrHTTPMethod.String(strings.Clone(c.Method())), telemetry.AttrHTTPRoute.String(c.Route().Path)))
	caller.TraceParent = telemetry.TraceParent(ctx)
	return ctx, span
}

// endPublish records on the publish span what came of it: the event ids, or the error.
func endPublish(span trace.Span, ids []string, err error) {
	if err != nil {
		span.SetStatus(codes.Error, "publish refused or failed")
		span.RecordError(err)
		return
	}
	span.SetAttributes(telemetry.AttrEventCount.Int(len(ids)))
	if len(ids) == 1 {
		span.SetAttributes(telemetry.AttrEventID.String(ids[0]))
	}
}
