package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookd/hookd/adapters/eventstore/sqlitestore"
	"github.com/hookd/hookd/adapters/httpapi"
	"github.com/hookd/hookd/adapters/sender"
	"github.com/hookd/hookd/domain/delivery"
)

// headerBombReceiver answers every request with about size bytes of response headers, as a hostile
// receiver would, and returns its URL and the count of requests it answered.
func headerBombReceiver(t *testing.T, size int) (string, *atomic.Int64) {
	var answered atomic.Int64
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		_ = ln.Close()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer func() { _ = c.Close() }()
				_ = c.SetDeadline(time.Now().Add(30 * time.Second))
				r := bufio.NewReader(c)
				req, err := http.ReadRequest(r)
				if err != nil {
					return
				}
				_, _ = io.Copy(io.Discard, req.Body)
				defer answered.Add(1)
				w := bufio.NewWriter(c)
				_, _ = w.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n")
				line := "X-Pad: " + strings.Repeat("x", 1000) + "\r\n"
				for written := 0; written < size; written += len(line) {
					if _, err := w.WriteString(line); err != nil {
						return
					}
				}
				_, _ = w.WriteString("\r\n")
				_ = w.Flush()
			})
		}
	})
	return "http://" + ln.Addr().String(), &answered
}

// TestDeliveryRecordsAResponseTooLarge: a receiver answering with a megabyte of headers is not read
// past the sender's cap; the attempt is in the log and the delivery log with the class
// response_too_large, and without 0 among its retry codes the delivery is parked at once.
func TestDeliveryRecordsAResponseTooLarge(t *testing.T) {
	t.Parallel()
	url, _ := headerBombReceiver(t, 1<<20)
	h := startHookd(t, deliveryEnv)
	scope := apiScope("t1", "c1")
	hook := apiCreate(h, h.license, scope, map[string]any{
		"eventNames": []string{"E"}, "name": "bomb", "api": map[string]any{"url": url},
		"successCodes": []int{200}, "retryCodes": []int{503}, "retryCount": 2,
	})
	var published struct{ ID string }
	apiPublish(h, h.license, scope, map[string]any{"eventName": "E", "payload": map[string]any{}}, &published)
	d := waitDelivery(t, h, deliveryIDOf(t, h, published.ID, hook.ID))
	if d.Status() != delivery.StatusFailed || d.Attempts() != 1 {
		t.Fatalf("delivery %v after %d attempts, want failed after 1", d.Status(), d.Attempts())
	}
	var page struct {
		Data []struct {
			Attempts []struct {
				Status     int
				ErrorClass string
			}
		}
	}
	apiEventually(t, 10*time.Second, "the delivery log does not show the attempt", func() bool {
		h.mustJSON(h.system(http.MethodPost, scope+"/webhook/"+hook.ID+"/deliveries/fetch", map[string]any{}), http.StatusOK, &page)
		return len(page.Data) == 1 && len(page.Data[0].Attempts) == 1
	})
	if a := page.Data[0].Attempts[0]; a.Status != 0 || a.ErrorClass != sender.ClassResponseTooLarge {
		t.Errorf("the delivery log shows %+v, want no status and class %s", a, sender.ClassResponseTooLarge)
	}
}

// apiErrorJSON is the API's error shape.
type apiErrorJSON struct {
	StatusCode int    `json:"statusCode"`
	Error      string `json:"error"`
	Message    string `json:"message"`
}

// wantErrorShape checks that r is an error in the API's shape with status and a message that
// contains part.
func wantErrorShape(t *testing.T, r response, status int, part string) {
	t.Helper()
	var e apiErrorJSON
	if err := json.Unmarshal(r.Body, &e); err != nil || r.Status != status || e.StatusCode != status ||
		e.Error != http.StatusText(status) || !strings.Contains(e.Message, part) {
		t.Fatalf("answer %d %s, want %d in the error shape, its message naming %q", r.Status, r.Body, status, part)
	}
}

// TestFullDiskIs503AndNotReadyUntilWritesSucceed fills the log's file (a page cap on the embedded
// store, which SQLite reports as it reports a full disk): a publish is 503 with Retry-After in the
// error shape and /readyz is 503 naming the cause, until the cap is lifted and the next publish
// succeeds. The refused event is not in the log.
func TestFullDiskIs503AndNotReadyUntilWritesSucceed(t *testing.T) {
	t.Parallel()
	h := startHookd(t, nil)
	scope := apiScope("t1", "c1")
	store, ok := h.inst.node.backend.(*sqlitestore.Store)
	if !ok {
		t.Fatalf("the node's log is a %T, want the embedded store", h.inst.node.backend)
	}
	// A payload that needs new pages: the file cannot take it in the room its last page has. Random,
	// so that the store's compression of event data cannot make it small.
	noise := make([]byte, 48<<10)
	_, _ = rand.Read(noise)
	big := map[string]any{"eventName": "E", "payload": map[string]any{"pad": base64.StdEncoding.EncodeToString(noise)}}
	var first struct{ ID string }
	apiPublish(h, h.license, scope, big, &first)
	h.mustJSON(h.do(http.MethodGet, "/readyz", nil, nil), http.StatusOK, nil)
	head, err := store.LastPosition(t.Context())
	if err != nil {
		t.Fatal(err)
	}

	if _, err := store.LimitPages(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		r := h.system(http.MethodPost, scope+"/events", big)
		wantErrorShape(t, r, http.StatusServiceUnavailable, "storage full")
		if got := r.Header.Get("Retry-After"); got != "30" {
			t.Errorf("Retry-After %q, want 30", got)
		}
		wantErrorShape(t, h.do(http.MethodGet, "/readyz", nil, nil), http.StatusServiceUnavailable, "storage full")
	}
	if after, err := store.LastPosition(t.Context()); err != nil || after != head {
		t.Fatalf("the log's head moved from %v to %v (%v) while it was full", head, after, err)
	}

	if _, err := store.LimitPages(t.Context(), 0); err != nil {
		t.Fatal(err)
	}
	var again struct{ ID string }
	apiPublish(h, h.license, scope, big, &again)
	h.mustJSON(h.do(http.MethodGet, "/readyz", nil, nil), http.StatusOK, nil)
}

// TestBodyOver1MiBIs413NeverAReset sends 1.1 MB bodies, as a client that does not wait for an
// early answer does, over real TCP with Go's client: every one is answered 413 in the error shape,
// none ends in a reset connection, whether its length is declared or it comes chunked.
// Authenticated or not, the body is judged first.
func TestBodyOver1MiBIs413NeverAReset(t *testing.T) {
	t.Parallel()
	h := startHookd(t, nil)
	scope := apiScope("t1", "c1")
	body := bytes.Repeat([]byte("x"), 1_100_000)
	client := &http.Client{Timeout: 30 * time.Second}
	for i := range 20 {
		method, path := http.MethodPut, scope+"/webhook"
		if i%2 == 1 {
			method, path = http.MethodPost, scope+"/events"
		}
		var r io.Reader = bytes.NewReader(body)
		if i%3 == 2 {
			r = io.MultiReader(r) // a length Go's client cannot see: sent chunked
		}
		req, err := http.NewRequest(method, h.url+path, r)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		if i%4 < 2 {
			for k, v := range h.authHeaders(h.license) {
				req.Header.Set(k, v)
			}
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("request %d (%s %s): %v", i, method, path, err)
		}
		data, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if err != nil {
			t.Fatalf("request %d: reading the answer: %v", i, err)
		}
		wantErrorShape(t, response{Status: resp.StatusCode, Header: resp.Header, Body: data},
			http.StatusRequestEntityTooLarge, "1 MiB")
	}
}

// heapBytes is the Go heap's live objects after a collection.
func heapBytes() uint64 {
	runtime.GC()
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(sample)
	return sample[0].Value.Uint64()
}

// TestSlowBodiesHoldLittleMemory is the slow-body attack: 300 connections that declare a body of
// 1,048,000 bytes and send 10. The server reserves memory only for bytes that arrive, so its heap
// grows by less than slowBodyHeapBound (it grew by 300 MiB when the declared length was reserved up
// front), and it drops the connections once HOOKD_HTTP_BODY_TIMEOUT has passed. The per-address cap
// is raised above 300, so that it is the body reading that is measured, not the cap. Not parallel:
// the heap is the whole process's.
func TestSlowBodiesHoldLittleMemory(t *testing.T) {
	const (
		conns             = 300
		slowBodyHeapBound = 48 << 20
	)
	h := startHookd(t, map[string]string{
		"HOOKD_HTTP_BODY_TIMEOUT":     "2s",
		"HOOKD_HTTP_MAX_CONNS_PER_IP": "1000",
	})
	addr := strings.TrimPrefix(h.url, "http://")
	before := heapBytes()

	var wg sync.WaitGroup
	closed := make(chan struct{}, conns)
	for i := range conns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		t.Cleanup(func() { _ = c.Close() })
		_, err = fmt.Fprintf(c, "POST /tenant/t1/community/c1/events HTTP/1.1\r\nHost: hookd\r\n"+
			"Content-Type: application/json\r\nContent-Length: 1048000\r\n\r\n{\"eventNam")
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		// Each connection waits for the server to answer or drop it.
		wg.Go(func() {
			_ = c.SetReadDeadline(time.Now().Add(2 * time.Minute))
			_, _ = io.Copy(io.Discard, c)
			closed <- struct{}{}
		})
	}

	var peak uint64
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for waiting := true; waiting; {
		select {
		case <-done:
			waiting = false
		case <-time.After(100 * time.Millisecond):
		}
		if now := heapBytes(); now > before && now-before > peak {
			peak = now - before
		}
		if peak > slowBodyHeapBound {
			t.Fatalf("the heap grew by %d MiB with %d slow bodies, want less than %d MiB",
				peak>>20, conns, slowBodyHeapBound>>20)
		}
	}
	if len(closed) != conns {
		t.Fatalf("%d of %d slow connections were dropped", len(closed), conns)
	}
	t.Logf("%d slow bodies: the heap grew by at most %.1f MiB", conns, float64(peak)/(1<<20))
	// The server still serves.
	h.mustJSON(h.do(http.MethodGet, "/livez", nil, nil), http.StatusOK, nil)
}

// rawRequest opens a connection to h and sends the start of a request: headers that declare a body
// of length bytes, and the first sent bytes of it.
func rawRequest(t *testing.T, h *testHookd, path string, length, sent int) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(h.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_, err = fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: hookd\r\nContent-Type: application/json\r\n"+
		"Content-Length: %d\r\n\r\n%s", path, length, bytes.Repeat([]byte(" "), sent))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// readAnswer reads the answer on c, within a deadline that only catches hangs.
func readAnswer(t *testing.T, c net.Conn) response {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(time.Minute))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(resp.Body)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("reading the answer: %v", err)
	}
	return response{Status: resp.StatusCode, Header: resp.Header, Body: data}
}

// TestBodiesShareABoundedMemory: with HOOKD_HTTP_BODY_MEMORY_MB=2, two bodies that declare 1 MB,
// of which 600 KB arrived, hold 1 MB each; a third body cannot have memory for its bytes and is
// answered 503 with Retry-After, in the error shape. Once the first two are gone, bodies are read
// again.
func TestBodiesShareABoundedMemory(t *testing.T) {
	t.Parallel()
	// The body timeout outlasts the wait below, so the holders cannot lapse before the probe.
	h := startHookd(t, map[string]string{"HOOKD_HTTP_BODY_MEMORY_MB": "2", "HOOKD_HTTP_BODY_TIMEOUT": "5m"})
	path := apiScope("t1", "c1") + "/events"
	holders := []net.Conn{rawRequest(t, h, path, 1_000_000, 600_000), rawRequest(t, h, path, 1_000_000, 600_000)}
	// Each holder has sent more than half its body, so it holds memory for the whole of it
	// (buffers double up to the declared length): 2 x 1,000,001 of the 2 MiB. How soon the server
	// reads them depends on the machine's load, so the deadline only catches one that never does.
	const holding = 2 * 1_000_001
	apiEventually(t, 2*time.Minute, "the holders' bodies take their memory", func() bool {
		return metric(h, "hookd_http_body_memory_bytes") >= holding
	})
	// A third body needs more than the 97,150 bytes left.
	c := rawRequest(t, h, path, 200_000, 200_000)
	r := readAnswer(t, c)
	_ = c.Close()
	wantErrorShape(t, r, http.StatusServiceUnavailable, "request bodies")
	if r.Header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	for _, c := range holders {
		_ = c.Close()
	}
	apiEventually(t, 30*time.Second, "bodies are not read again once the holders are gone", func() bool {
		return h.system(http.MethodPost, path, map[string]any{"eventName": "E", "payload": map[string]any{
			"pad": strings.Repeat("x", 200_000)}}).Status == http.StatusAccepted
	})
}

// TestCompressedBodiesAreRefused: a gzip body is 415; inflating it would take memory that the
// bytes sent do not bound.
func TestCompressedBodiesAreRefused(t *testing.T) {
	t.Parallel()
	h := startHookd(t, nil)
	var zipped bytes.Buffer
	zw := gzip.NewWriter(&zipped)
	_, _ = zw.Write([]byte(`{"eventName":"E","payload":{}}`))
	_ = zw.Close()
	headers := h.authHeaders(h.license)
	headers["Content-Encoding"] = "gzip"
	wantErrorShape(t, h.do(http.MethodPost, apiScope("t1", "c1")+"/events", zipped.Bytes(), headers),
		http.StatusUnsupportedMediaType, "Content-Encoding")
}

// TestConnectionsAreCapped: past HOOKD_HTTP_MAX_CONNS_PER_IP connections from one address, the next
// is answered 429 and closed; past HOOKD_HTTP_MAX_CONNS in all, 503. A connection that closes makes
// room again.
func TestConnectionsAreCapped(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name   string
		env    map[string]string
		status int
	}{
		{"per address", map[string]string{"HOOKD_HTTP_MAX_CONNS_PER_IP": "3"}, http.StatusTooManyRequests},
		{"overall", map[string]string{"HOOKD_HTTP_MAX_CONNS": "3", "HOOKD_HTTP_MAX_CONNS_PER_IP": "0"}, http.StatusServiceUnavailable},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			h := startHookd(t, c.env)
			addr := strings.TrimPrefix(h.url, "http://")
			livez := func(conn net.Conn) response {
				if _, err := io.WriteString(conn, "GET /livez HTTP/1.1\r\nHost: hookd\r\n\r\n"); err != nil {
					t.Fatal(err)
				}
				return readAnswer(t, conn)
			}
			dial := func() net.Conn {
				conn, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = conn.Close() })
				return conn
			}
			held := make([]net.Conn, 3)
			for i := range held {
				held[i] = dial()
				if r := livez(held[i]); r.Status != http.StatusOK {
					t.Fatalf("connection %d: status %d", i, r.Status)
				}
			}
			// The server answers an extra connection as soon as it takes it, before any request.
			if r := readAnswer(t, dial()); r.Status != c.status {
				t.Fatalf("connection over the cap: status %d %s, want %d", r.Status, r.Body, c.status)
			}
			_ = held[0].Close()
			apiEventually(t, 30*time.Second, "a closed connection does not make room", func() bool {
				conn := dial()
				defer func() { _ = conn.Close() }()
				return livez(conn).Status == http.StatusOK
			})
		})
	}
}

// TestHTTPLimitsConfig: the HOOKD_HTTP_* settings take their defaults, read valid values, and a bad
// value stops with a message naming the variable.
func TestHTTPLimitsConfig(t *testing.T) {
	t.Parallel()
	cfg, err := configFromEnv(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if want := (httpapi.Limits{MaxConns: 4096, MaxConnsPerIP: 256, BodyTimeout: 10 * time.Second, BodyMemory: 64 << 20}); cfg.HTTP != want {
		t.Errorf("defaults %+v, want %+v", cfg.HTTP, want)
	}
	env := map[string]string{"HOOKD_HTTP_MAX_CONNS": "100", "HOOKD_HTTP_MAX_CONNS_PER_IP": "0",
		"HOOKD_HTTP_BODY_TIMEOUT": "3s", "HOOKD_HTTP_BODY_MEMORY_MB": "16"}
	if cfg, err = configFromEnv(func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if want := (httpapi.Limits{MaxConns: 100, MaxConnsPerIP: -1, BodyTimeout: 3 * time.Second, BodyMemory: 16 << 20}); cfg.HTTP != want {
		t.Errorf("read %+v, want %+v", cfg.HTTP, want)
	}
	for name, value := range map[string]string{
		"HOOKD_HTTP_MAX_CONNS": "0", "HOOKD_HTTP_MAX_CONNS_PER_IP": "-1", "HOOKD_HTTP_BODY_TIMEOUT": "10",
		"HOOKD_HTTP_BODY_MEMORY_MB": "1",
	} {
		_, err := configFromEnv(func(k string) string {
			if k == name {
				return value
			}
			return ""
		})
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s=%s: error %v, want one naming it", name, value, err)
		}
	}
}
