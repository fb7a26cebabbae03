package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/hookd/hookd/adapters/telemetry"
	"github.com/hookd/hookd/domain/delivery"
	"github.com/hookd/hookd/domain/publication"
)

// startTraced starts a server on dataDir whose spans go to an in-process exporter, and whose log,
// at debug level, goes to a buffer.
func startTraced(t *testing.T, dataDir string) (*testHookd, *tracetest.InMemoryExporter, *syncBuffer) {
	t.Helper()
	spans := tracetest.NewInMemoryExporter()
	cfg := testConfig(t, dataDir, deliveryEnv)
	cfg.Tracing.Provider = sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	logs := &syncBuffer{}
	h := startHookdWith(t, cfg, slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	return h, spans, logs
}

// waitSpans waits until the exporter holds n spans named name, and returns every span it holds.
func waitSpans(t *testing.T, exp *tracetest.InMemoryExporter, name string, n int) tracetest.SpanStubs {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		all := exp.GetSpans()
		if len(named(all, name)) >= n {
			return all
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d %q spans after 20 s, want %d; spans: %v", len(named(all, name)), name, n, spanNames(all))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func named(spans tracetest.SpanStubs, name string) tracetest.SpanStubs {
	var out tracetest.SpanStubs
	for _, s := range spans {
		if s.Name == name {
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b tracetest.SpanStub) int { return a.StartTime.Compare(b.StartTime) })
	return out
}

func spanNames(spans tracetest.SpanStubs) []string {
	out := make([]string, len(spans))
	for i, s := range spans {
		out[i] = s.Name
	}
	return out
}

// attrs returns a span's attributes as strings by key.
func attrs(s tracetest.SpanStub) map[string]string {
	out := map[string]string{}
	for _, kv := range s.Attributes {
		out[string(kv.Key)] = kv.Value.Emit()
	}
	return out
}

// attemptLines returns the log's "delivery attempt" lines, decoded.
func attemptLines(t *testing.T, logs string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(logs))
	sc.Buffer(make([]byte, 0, 1<<16), 1<<20)
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("a log line is not JSON: %s", sc.Text())
		}
		if line["msg"] == "delivery attempt" {
			out = append(out, line)
		}
	}
	return out
}

// TestTraceFollowsADeliveryFromPublishToEveryAttempt publishes an event under a publisher's trace,
// lets its delivery fail twice (a retry, then parked), stops the server, and retries the delivery
// with `hookd deliveries retry` on a new server process over the same data directory, which holds
// nothing in memory: every span (publish, dispatch, the three attempts) is in the publisher's
// trace, each attempt a child of the dispatch, with its attributes. Each attempt is one log line
// at info with its fields; no credential, secret or URL query reaches a span or the log.
func TestTraceFollowsADeliveryFromPublishToEveryAttempt(t *testing.T) {
	t.Parallel()
	const password, urlSecret = "pw-4f1c9e7a", "qs-8b2d6f0e"
	rcv := newReceiver(t, http.StatusServiceUnavailable, http.StatusServiceUnavailable, http.StatusOK)
	dir := t.TempDir()
	h, firstSpans, firstLogs := startTraced(t, dir)
	scope := apiScope("t1", "c1")
	hook := apiCreate(h, h.license, scope, map[string]any{
		"eventNames": []string{"E"}, "name": "traced", "secret": testSecret,
		"api": map[string]any{"url": rcv.srv.URL + "/in?token=" + urlSecret, "authType": "basic",
			"credential": map[string]any{"username": "user", "password": password}},
		"successCodes": []int{200}, "retryCodes": []int{503}, "retryCount": 1,
	})
	// The publisher traces: hookd's spans join its trace.
	const publisherTrace, publisherSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	headers := h.authHeaders(h.license)
	headers["traceparent"] = "00-" + publisherTrace + "-" + publisherSpan + "-01"
	var published struct{ ID string }
	h.mustJSON(h.do(http.MethodPost, scope+"/events", map[string]any{"eventName": "E", "payload": map[string]any{"n": 1}}, headers),
		http.StatusAccepted, &published)
	id := deliveryIDOf(t, h, published.ID, hook.ID)
	rcv.wait(2, 20*time.Second)
	if d := waitDelivery(t, h, id); d.Status() != delivery.StatusFailed || d.Attempts() != 2 {
		t.Fatalf("delivery: %v after %d attempts, want failed after 2", d.Status(), d.Attempts())
	}

	spans := waitSpans(t, firstSpans, telemetry.SpanAttempt, 2)
	publish, dispatch, attempts := named(spans, telemetry.SpanPublish), named(spans, telemetry.SpanDispatch), named(spans, telemetry.SpanAttempt)
	if len(publish) != 1 || len(dispatch) != 1 || len(attempts) != 2 {
		t.Fatalf("spans %v, want one publish, one dispatch and two attempts", spanNames(spans))
	}
	traceID := publish[0].SpanContext.TraceID()
	if traceID.String() != publisherTrace || publish[0].Parent.SpanID().String() != publisherSpan {
		t.Errorf("publish span in trace %s under %s, want the publisher's %s under %s",
			traceID, publish[0].Parent.SpanID(), publisherTrace, publisherSpan)
	}
	if a := attrs(publish[0]); a["hookd.event.id"] != published.ID || a["hookd.tenant.id"] != "t1" {
		t.Errorf("publish span attributes %v", a)
	}
	if dispatch[0].SpanContext.TraceID() != traceID || dispatch[0].Parent.SpanID() != publish[0].SpanContext.SpanID() {
		t.Errorf("the dispatch span is not the publish span's child")
	}
	if a := attrs(dispatch[0]); a["hookd.delivery.id"] != id || a["hookd.webhook.id"] != hook.ID || a["hookd.outcome"] != "scheduled" {
		t.Errorf("dispatch span attributes %v", a)
	}
	wantAttempts := []map[string]string{
		{"hookd.attempt": "1", "hookd.outcome": "retrying", "http.response.status_code": "503"},
		{"hookd.attempt": "2", "hookd.outcome": "failed", "http.response.status_code": "503", "hookd.park_reason": "exhausted"},
	}
	for i, s := range attempts {
		if s.SpanContext.TraceID() != traceID || s.Parent.SpanID() != dispatch[0].SpanContext.SpanID() {
			t.Errorf("attempt %d is not the dispatch span's child in the publish trace", i+1)
		}
		a := attrs(s)
		for k, v := range wantAttempts[i] {
			if a[k] != v {
				t.Errorf("attempt span %d: %s = %q, want %q (all: %v)", i+1, k, a[k], v, a)
			}
		}
		if a["hookd.delivery.id"] != id || a["hookd.webhook.id"] != hook.ID || s.SpanKind != trace.SpanKindClient {
			t.Errorf("attempt span %d: %v, kind %v", i+1, a, s.SpanKind)
		}
	}

	// One line per attempt, at info, with its fields.
	lines := attemptLines(t, firstLogs.String())
	if len(lines) != 2 {
		t.Fatalf("%d delivery attempt lines, want 2:\n%s", len(lines), firstLogs.String())
	}
	for i, line := range lines {
		want := map[string]any{"level": "INFO", "delivery_id": id, "webhook_id": hook.ID, "attempt": float64(i + 1),
			"outcome": wantAttempts[i]["hookd.outcome"], "status": float64(503)}
		for k, v := range want {
			if line[k] != v {
				t.Errorf("attempt line %d: %s = %v, want %v (%v)", i+1, k, line[k], v, line)
			}
		}
		// The attempt's duration as recorded (whole milliseconds: 0 for a receiver that answers
		// at once), which its span spans too.
		took := attempts[i].EndTime.Sub(attempts[i].StartTime)
		if d, ok := line["duration"].(float64); !ok || time.Duration(d) != took {
			t.Errorf("attempt line %d: duration %v, want the attempt's %d (nanoseconds)", i+1, line["duration"], took)
		}
	}

	// Another process, later: nothing in memory; the trace comes from the log.
	h.stop()
	h2, secondSpans, secondLogs := startTraced(t, dir)
	out, err := h2.runCLI("deliveries", "retry", "--tenant", "t1", "--community", "c1", "--webhook", hook.ID, "--status", "failed", "--dry-run")
	if err != nil || !strings.Contains(out, "would replay 1 delivery") {
		t.Fatalf("deliveries retry --status failed --dry-run: %q, %v", out, err)
	}
	if out, err = h2.runCLI("deliveries", "retry", id); err != nil || !strings.Contains(out, "replayed 1 delivery") {
		t.Fatalf("deliveries retry %s: %q, %v", id, out, err)
	}
	rcv.wait(3, 20*time.Second)
	if d := waitDelivery(t, h2, id); d.Status() != delivery.StatusSucceeded || d.Attempts() != 3 {
		t.Fatalf("delivery after the retry: %v after %d attempts, want succeeded after 3", d.Status(), d.Attempts())
	}
	retried := named(waitSpans(t, secondSpans, telemetry.SpanAttempt, 1), telemetry.SpanAttempt)[0]
	if retried.SpanContext.TraceID() != traceID || retried.Parent.SpanID() != dispatch[0].SpanContext.SpanID() {
		t.Errorf("the retry's attempt is in trace %s under %s, want %s under the dispatch span %s",
			retried.SpanContext.TraceID(), retried.Parent.SpanID(), traceID, dispatch[0].SpanContext.SpanID())
	}
	if a := attrs(retried); a["hookd.attempt"] != "3" || a["hookd.outcome"] != "succeeded" || a["http.response.status_code"] != "200" {
		t.Errorf("the retry's attempt span: %v", a)
	}
	if lines := attemptLines(t, secondLogs.String()); len(lines) != 1 || lines[0]["outcome"] != "succeeded" {
		t.Errorf("attempt lines after the retry: %v", lines)
	}

	// No secret anywhere: not in a span, not in the log.
	var everything strings.Builder
	everything.WriteString(firstLogs.String() + secondLogs.String())
	for _, s := range append(firstSpans.GetSpans(), secondSpans.GetSpans()...) {
		everything.WriteString(s.Name)
		for k, v := range attrs(s) {
			everything.WriteString(" " + k + "=" + v)
		}
	}
	for _, secret := range []string{password, urlSecret, testSecret, base64.StdEncoding.EncodeToString([]byte("user:" + password))} {
		if strings.Contains(everything.String(), secret) {
			t.Errorf("%q appears in a span or the log", secret)
		}
	}
}

// TestUntracedServerKeepsNoTraceContext: with no OTEL_* configuration, a publisher's traceparent
// is not kept: neither the published event nor its delivery carries trace context.
func TestUntracedServerKeepsNoTraceContext(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t, http.StatusOK)
	h := startHookd(t, deliveryEnv)
	if h.cfg.Tracing.Enabled {
		t.Fatal("tracing is on without OTEL_* variables")
	}
	scope := apiScope("t1", "c1")
	hook := apiCreate(h, h.license, scope, map[string]any{"eventNames": []string{"E"}, "name": "n", "api": map[string]any{"url": rcv.srv.URL},
		"successCodes": []int{200}})
	headers := h.authHeaders(h.license)
	headers["traceparent"] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	var published struct{ ID string }
	h.mustJSON(h.do(http.MethodPost, scope+"/events", map[string]any{"eventName": "E", "payload": map[string]any{}}, headers),
		http.StatusAccepted, &published)
	id := deliveryIDOf(t, h, published.ID, hook.ID)
	waitDelivery(t, h, id)
	ctx := context.Background()
	for _, stream := range []string{publication.Stream(published.ID), delivery.Stream(id)} {
		records, err := h.inst.node.store.ReadStream(ctx, stream, 0, 0)
		if err != nil || len(records) == 0 {
			t.Fatalf("reading %s: %d records, %v", stream, len(records), err)
		}
		for _, r := range records {
			md, err := h.inst.node.codec.DecodeMetadata(r)
			if err != nil || md.TraceParent != "" {
				t.Errorf("%s %s carries trace context %q (%v)", stream, r.Type, md.TraceParent, err)
			}
		}
	}
}

func TestDeliveriesRetryRefusesUnclearSelections(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		o    deliveriesRetryOptions
		ids  []string
		want string
	}{
		{name: "nothing", want: "give the ids"},
		{name: "ids and a filter", o: deliveriesRetryOptions{status: "failed"}, ids: []string{"d1"}, want: "not both"},
		{name: "a filter without its webhook", o: deliveriesRetryOptions{tenant: "t", community: "c", status: "failed"}, want: "go together"},
		{name: "a filter without a status", o: deliveriesRetryOptions{tenant: "t", community: "c", webhook: "w"}, want: "go together"},
		{name: "a bad status", o: deliveriesRetryOptions{tenant: "t", community: "c", webhook: "w", status: "lost"}, want: "--status"},
		{name: "a bad mode", o: deliveriesRetryOptions{mode: "newest"}, ids: []string{"d1"}, want: "--mode"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if tc.o.mode == "" {
				tc.o.mode = "current"
			}
			if _, err := tc.o.replay(tc.ids); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one about %q", err, tc.want)
			}
		})
	}
}

// TestServeSendsSpansWhereTheEnvironmentSays runs serve with only the standard variables set, an
// OTLP endpoint on 127.0.0.1, and sees a delivery's spans arrive there under OTEL_SERVICE_NAME.
// The exporter reads the process environment, so this test is not parallel.
func TestServeSendsSpansWhereTheEnvironmentSays(t *testing.T) {
	var mu sync.Mutex
	got := map[string]string{} // span name -> service.name
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		req := &coltracepb.ExportTraceServiceRequest{}
		if r.URL.Path != "/v1/traces" || err != nil || proto.Unmarshal(body, req) != nil {
			http.Error(w, "not an OTLP trace export", http.StatusBadRequest)
			return
		}
		mu.Lock()
		for _, rs := range req.GetResourceSpans() {
			service := ""
			for _, kv := range rs.GetResource().GetAttributes() {
				if kv.GetKey() == "service.name" {
					service = kv.GetValue().GetStringValue()
				}
			}
			for _, ss := range rs.GetScopeSpans() {
				for _, s := range ss.GetSpans() {
					got[s.GetName()] = service
				}
			}
		}
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
		out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		_, _ = w.Write(out)
	}))
	t.Cleanup(collector.Close) // after serve's stop, which flushes to it
	env := map[string]string{"HOOKD_ALLOW_PRIVATE_TARGETS": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": collector.URL,
		"OTEL_SERVICE_NAME": "hookd-traced", "OTEL_BSP_SCHEDULE_DELAY": "50"}
	for k, v := range env {
		t.Setenv(k, v)
	}
	rcv := newReceiver(t, http.StatusOK)
	h := startHookd(t, env)
	if !h.cfg.Tracing.Enabled {
		t.Fatal("an OTLP endpoint does not turn tracing on")
	}
	scope := apiScope("t1", "c1")
	apiCreate(h, h.license, scope, map[string]any{"eventNames": []string{"E"}, "name": "n", "api": map[string]any{"url": rcv.srv.URL},
		"successCodes": []int{200}})
	apiPublish(h, h.license, scope, map[string]any{"eventName": "E", "payload": map[string]any{}}, nil)
	rcv.wait(1, 20*time.Second)
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		done := got[telemetry.SpanPublish] == "hookd-traced" && got[telemetry.SpanDispatch] == "hookd-traced" &&
			got[telemetry.SpanAttempt] == "hookd-traced"
		seen := fmt.Sprint(got)
		mu.Unlock()
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the collector got %s, want publish, dispatch and attempt from hookd-traced", seen)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
