package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/adapters/kosmosauth"
	"github.com/hookd/hookd/adapters/kosmoscrypto"
	"github.com/hookd/hookd/domain/delivery"
	"github.com/hookd/hookd/domain/publication"
)

// testHookd is a real hookd server, started in-process on 127.0.0.1 with its own data directory.
type testHookd struct {
	t       *testing.T
	cfg     config
	url     string
	inst    *instance
	cancel  context.CancelFunc
	license string // the bootstrap system license key
	http    *http.Client
}

// testConfig is the configuration a test server starts with; env overrides it as the environment
// would.
func testConfig(tb testing.TB, dataDir string, env map[string]string) config {
	tb.Helper()
	getenv := func(k string) string {
		if v, ok := env[k]; ok {
			return v
		}
		switch k {
		case "HOOKD_ADDR":
			return "127.0.0.1:0"
		case "HOOKD_DATA_DIR":
			return dataDir
		}
		return ""
	}
	cfg, err := configFromEnv(getenv)
	if err != nil {
		tb.Fatalf("config: %v", err)
	}
	return cfg
}

// startHookd starts a server on a fresh data directory and stops it when the test ends.
func startHookd(t *testing.T, env map[string]string) *testHookd {
	t.Helper()
	return startHookdIn(t, t.TempDir(), env)
}

// startHookdIn starts a server on dataDir, which may hold an earlier server's data.
func startHookdIn(t *testing.T, dataDir string, env map[string]string) *testHookd {
	t.Helper()
	return startHookdWith(t, testConfig(t, dataDir, env), slog.New(slog.DiscardHandler))
}

// startHookdWith starts a server with cfg, logging to log.
func startHookdWith(t *testing.T, cfg config, log *slog.Logger) *testHookd {
	t.Helper()
	dataDir := cfg.DataDir
	ctx, cancel := context.WithCancel(context.Background())
	inst, err := start(ctx, cfg, log)
	if err != nil {
		cancel()
		t.Fatalf("start: %v", err)
	}
	h := &testHookd{t: t, cfg: cfg, url: "http://" + inst.addr, inst: inst, cancel: cancel,
		http: &http.Client{Timeout: 30 * time.Second}}
	t.Cleanup(h.stop)
	h.license = cfg.BootstrapLicense
	// A node without the api role issues no license.
	if h.license == "" && cfg.API {
		h.license = readBootstrapLicense(t, dataDir)
	}
	return h
}

// readBootstrapLicense reads the system license key serve wrote on its first start.
func readBootstrapLicense(tb testing.TB, dataDir string) string {
	tb.Helper()
	key, err := os.ReadFile(filepath.Join(dataDir, bootstrapLicenseFile))
	if err != nil {
		tb.Fatalf("reading the bootstrap license: %v", err)
	}
	return strings.TrimSpace(string(key))
}

// fetchServicePublicKey asks a running server for the key callers encrypt their headers to.
func fetchServicePublicKey(tb testing.TB, url string) string {
	tb.Helper()
	key, err := fetchPublicKey(context.Background(), url)
	if err != nil {
		tb.Fatal(err)
	}
	return key
}

// stop shuts the server down and fails the test if it did not stop cleanly. Safe to call twice.
func (h *testHookd) stop() {
	h.cancel()
	if err := h.inst.wait(); err != nil {
		h.t.Errorf("hookd stopped with: %v", err)
	}
}

// servicePublicKey fetches the key callers encrypt their headers to.
func (h *testHookd) servicePublicKey() string {
	h.t.Helper()
	var body struct{ PublicKey string }
	h.mustJSON(h.do(http.MethodGet, "/publickeys", nil, nil), http.StatusOK, &body)
	return body.PublicKey
}

// authHeaders makes fresh 1Kosmos headers for one request with licenseKey, from a new caller key.
func (h *testHookd) authHeaders(licenseKey string) map[string]string {
	h.t.Helper()
	caller, err := kosmoscrypto.GenerateKeyPair(rand.Reader)
	if err != nil {
		h.t.Fatal(err)
	}
	hdr, err := kosmosauth.Headers(h.servicePublicKey(), caller.Private.Encode(), licenseKey, "test-app", time.Now(), rand.Reader)
	if err != nil {
		h.t.Fatal(err)
	}
	return hdr
}

// response is an answer, read whole.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// do sends a request; body is JSON-encoded unless it is a []byte or a string, sent as is.
func (h *testHookd) do(method, path string, body any, headers map[string]string) response {
	h.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		r = bytes.NewReader(b)
	case string:
		r = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			h.t.Fatal(err)
		}
		r = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, h.url+path, r)
	if err != nil {
		h.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := h.http.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return response{Status: resp.StatusCode, Header: resp.Header, Body: data}
}

// as sends an authenticated request with licenseKey.
func (h *testHookd) as(licenseKey, method, path string, body any) response {
	h.t.Helper()
	return h.do(method, path, body, h.authHeaders(licenseKey))
}

// system sends a request authenticated with the bootstrap system license.
func (h *testHookd) system(method, path string, body any) response {
	h.t.Helper()
	return h.as(h.license, method, path, body)
}

// mustJSON checks the status and decodes the body into v (when v is not nil).
func (h *testHookd) mustJSON(r response, status int, v any) {
	h.t.Helper()
	if r.Status != status {
		h.t.Fatalf("status %d, want %d: %s", r.Status, status, r.Body)
	}
	if v != nil {
		if err := json.Unmarshal(r.Body, v); err != nil {
			h.t.Fatalf("decoding %s: %v", r.Body, err)
		}
	}
}

// runCLI runs a hookd command in-process against the server's data directory and returns stdout.
func (h *testHookd) runCLI(args ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	getenv := func(k string) string {
		switch k {
		case "HOOKD_DATA_DIR":
			return h.cfg.DataDir
		case "HOOKD_ADDR":
			return strings.TrimPrefix(h.url, "http://")
		}
		return ""
	}
	err := run(context.Background(), args, getenv, &stdout, &stderr)
	return stdout.String(), err
}

// deliveryIDOf returns the id the server gives the delivery of published event eventID to webhookID,
// read from its log.
func deliveryIDOf(t testing.TB, h *testHookd, eventID, webhookID string) string {
	t.Helper()
	return deliveryIDIn(t, h.inst.node, eventID, webhookID)
}

// deliveryIDIn returns the id of the delivery of published event eventID to webhookID in n's log
// (readDeliveryID).
func deliveryIDIn(t testing.TB, n *node, eventID, webhookID string) string {
	t.Helper()
	id, err := readDeliveryID(n, eventID, webhookID)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// readDeliveryID returns the id of the delivery of published event eventID to webhookID as the
// dispatcher derives it from the event in n's log: ordered by the time the log recorded for the
// publication, or the UUIDv5 of an event recorded without ordered delivery ids.
func readDeliveryID(n *node, eventID, webhookID string) (string, error) {
	records, err := n.store.ReadStream(context.Background(), publication.Stream(eventID), 0, 0)
	if err != nil || len(records) != 1 {
		return "", fmt.Errorf("reading event %s: %d records, %v", eventID, len(records), err)
	}
	e, err := n.codec.DecodeSealed(records[0])
	if err != nil {
		return "", fmt.Errorf("decoding event %s: %w", eventID, err)
	}
	p, ok := e.(publication.Published)
	if !ok {
		return "", fmt.Errorf("event %s is a %T", eventID, e)
	}
	md, err := n.codec.DecodeMetadata(records[0])
	if err != nil {
		return "", fmt.Errorf("decoding event %s's metadata: %w", eventID, err)
	}
	return delivery.Scheduling{EventID: eventID, WebhookID: webhookID, PublishedAt: md.OccurredAt, OrderedID: p.OrderedIDs()}.ID(), nil
}

// openLogReader opens a node on cfg, as another process would, to read the log; it is closed when
// the test ends.
func openLogReader(t testing.TB, cfg config) *node {
	t.Helper()
	n, err := openNode(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.close() })
	return n
}
