package telemetry

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"
)

func TestTracingFromEnvIsOffUnlessConfigured(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		env      map[string]string
		enabled  bool
		protocol string
		wantErr  bool
	}{
		{name: "nothing set", env: nil},
		{name: "an endpoint", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, enabled: true, protocol: ProtocolHTTP},
		{name: "a traces endpoint", env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, enabled: true, protocol: ProtocolHTTP},
		{name: "otlp exporter", env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, enabled: true, protocol: ProtocolHTTP},
		{name: "grpc", env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, enabled: true, protocol: ProtocolGRPC},
		{name: "traces protocol first", env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
			"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf"}, enabled: true, protocol: ProtocolHTTP},
		{name: "exporter none", env: map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}},
		{name: "sdk disabled", env: map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}},
		{name: "unknown exporter", env: map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, wantErr: true},
		{name: "unknown protocol", env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := TracingFromEnv(func(k string) string { return tc.env[k] })
			if (err != nil) != tc.wantErr {
				t.Fatalf("error %v, want one: %v", err, tc.wantErr)
			}
			if err == nil && (cfg.Enabled != tc.enabled || tc.enabled && cfg.Protocol != tc.protocol) {
				t.Errorf("%+v, want enabled %v protocol %q", cfg, tc.enabled, tc.protocol)
			}
			if !tc.enabled && err == nil {
				tp, _, err := NewTracerProvider(context.Background(), cfg, "v")
				if err != nil || Tracing(tp) {
					t.Errorf("tracing off makes a provider that traces (%v)", err)
				}
			}
		})
	}
}

// TestOTLPExportFollowsTheEnvironment points the standard variables at a collector on 127.0.0.1 and
// sees a span arrive there, from the service OTEL_SERVICE_NAME names.
func TestOTLPExportFollowsTheEnvironment(t *testing.T) {
	got := make(chan *coltracepb.ExportTraceServiceRequest, 10)
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		req := &coltracepb.ExportTraceServiceRequest{}
		if r.URL.Path != "/v1/traces" || err != nil || proto.Unmarshal(body, req) != nil {
			http.Error(w, "not an OTLP trace export", http.StatusBadRequest)
			return
		}
		got <- req
		w.Header().Set("Content-Type", "application/x-protobuf")
		out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		_, _ = w.Write(out)
	}))
	defer collector.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.URL)
	t.Setenv("OTEL_SERVICE_NAME", "hookd-eu-1")

	cfg, err := TracingFromEnv(os.Getenv)
	if err != nil || !cfg.Enabled {
		t.Fatalf("%+v, %v: want tracing on", cfg, err)
	}
	ctx := context.Background()
	tp, shutdown, err := NewTracerProvider(ctx, cfg, "v9.9.9")
	if err != nil {
		t.Fatal(err)
	}
	_, span := tp.Tracer(InstrumentationName).Start(ctx, SpanPublish)
	span.End()
	if err := shutdown(ctx); err != nil { // flushes
		t.Fatal(err)
	}
	select {
	case req := <-got:
		rs := req.GetResourceSpans()
		if len(rs) != 1 || len(rs[0].GetScopeSpans()) != 1 || len(rs[0].GetScopeSpans()[0].GetSpans()) != 1 {
			t.Fatalf("export %v, want one span", req)
		}
		if name := rs[0].GetScopeSpans()[0].GetSpans()[0].GetName(); name != SpanPublish {
			t.Errorf("span %q, want %q", name, SpanPublish)
		}
		resource := map[string]string{}
		for _, kv := range rs[0].GetResource().GetAttributes() {
			resource[kv.GetKey()] = kv.GetValue().GetStringValue()
		}
		if resource["service.name"] != "hookd-eu-1" || resource["service.version"] != "v9.9.9" {
			t.Errorf("resource %v, want service.name from OTEL_SERVICE_NAME and the version", resource)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the collector got nothing")
	}
}

func TestTraceParentRoundTrips(t *testing.T) {
	t.Parallel()
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	if got := TraceParent(WithTraceParent(context.Background(), tp)); got != tp {
		t.Errorf("round trip: %q, want %q", got, tp)
	}
	for _, bad := range []string{"", "00-zz-00f067aa0ba902b7-01", "00-00000000000000000000000000000000-00f067aa0ba902b7-01"} {
		if got := TraceParent(WithTraceParent(context.Background(), bad)); got != "" {
			t.Errorf("%q gives %q, want no trace context", bad, got)
		}
	}
}
