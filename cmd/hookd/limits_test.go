package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookd/hookd/adapters/eventstore/sqlitestore"
	"github.com/hookd/hookd/adapters/sender"
	"github.com/hookd/hookd/domain/delivery"
)

// headerBombReceiver answers every request with about size bytes of response headers, as a hostile
// receiver would, and returns its URL.
func headerBombReceiver(t *testing.T, size int) string {
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
	return "http://" + ln.Addr().String()
}

// TestDeliveryRecordsAResponseTooLarge: a receiver answering with a megabyte of headers is not read
// past the sender's cap; the attempt is in the log and the delivery log with the class
// response_too_large, and without 0 among its retry codes the delivery is parked at once.
func TestDeliveryRecordsAResponseTooLarge(t *testing.T) {
	t.Parallel()
	url := headerBombReceiver(t, 1<<20)
	h := startHookd(t, deliveryEnv)
	scope := apiScope("t1", "c1")
	hook := apiCreate(h, h.license, scope, map[string]any{
		"eventNames": []string{"E"}, "name": "bomb", "api": map[string]any{"url": url},
		"successCodes": []int{200}, "retryCodes": []int{503}, "retryCount": 2,
	})
	var published struct{ ID string }
	apiPublish(h, h.license, scope, map[string]any{"eventName": "E", "payload": map[string]any{}}, &published)
	d := waitDelivery(t, h, delivery.ID(published.ID, hook.ID))
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
	store, ok := h.inst.node.store.Store.(*sqlitestore.Store)
	if !ok {
		t.Fatalf("the node's log is a %T, want the embedded store", h.inst.node.store.Store)
	}
	// A payload that needs new pages: the file cannot take it in the room its last page has.
	big := map[string]any{"eventName": "E", "payload": map[string]any{"pad": strings.Repeat("x", 64<<10)}}
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
