package sender

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookd/hookd/adapters/safedial"
	"github.com/hookd/hookd/adapters/webhooksig"
	"github.com/hookd/hookd/domain/delivery"
	"github.com/hookd/hookd/domain/webhook"
)

// canary is part of every credential in these tests: it must never show up in an Outcome.
const canary = "canary-7f3a9c"

func newSender(t *testing.T, allowPrivate bool, clock func() time.Time) *Sender {
	t.Helper()
	s, err := New(Config{
		Dialer:    &safedial.Dialer{AllowPrivate: allowPrivate},
		UserAgent: "hookd/test",
		Clock:     clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.CloseIdleConnections)
	return s
}

func assertNoCanary(t *testing.T, o Outcome) {
	t.Helper()
	if s := fmt.Sprintf("%+v %s", o, o.ResponseExcerpt); strings.Contains(s, canary) {
		t.Fatalf("outcome carries a credential: %s", s)
	}
}

func signatureHeaders() map[string]string {
	return map[string]string{
		webhooksig.HeaderID:        "delivery-1",
		webhooksig.HeaderTimestamp: "1700000000",
		webhooksig.HeaderSignature: "v1,abc",
		webhooksig.HeaderCosmo:     "deadbeef",
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	t.Parallel()
	dialer := &safedial.Dialer{}
	for name, cfg := range map[string]Config{
		"no dialer":                    {},
		"negative timeout":             {Dialer: dialer, DefaultTimeout: -time.Second},
		"negative response bytes":      {Dialer: dialer, MaxResponseBytes: -1},
		"negative header bytes":        {Dialer: dialer, MaxResponseHeaderBytes: -1},
		"negative idle conns per host": {Dialer: dialer, IdleConnsPerHost: -1},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New with %s: want an error", name)
		}
	}
}

// TestSendKeepsIdleConnsPerHost sends two rounds of concurrent attempts to one host, each round's
// answers coming back together: the second round must reuse the first's connections, as many as
// IdleConnsPerHost allows, rather than dial again.
func TestSendKeepsIdleConnsPerHost(t *testing.T) {
	t.Parallel()
	const concurrent = 100
	var (
		dialled atomic.Int64
		arrived sync.WaitGroup
		mu      sync.Mutex
		gate    chan struct{} // closed when the round's attempts may be answered
	)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		wait := gate
		mu.Unlock()
		arrived.Done()
		<-wait
		w.WriteHeader(http.StatusOK)
	}))
	srv.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			dialled.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	s, err := New(Config{Dialer: &safedial.Dialer{AllowPrivate: true}, IdleConnsPerHost: concurrent})
	if err != nil {
		t.Fatal(err)
	}
	defer s.CloseIdleConnections()
	for round := range 2 {
		mu.Lock()
		gate = make(chan struct{})
		mu.Unlock()
		arrived.Add(concurrent)
		var sent sync.WaitGroup
		for range concurrent {
			sent.Go(func() {
				if o := s.Send(t.Context(), Request{URL: srv.URL, Body: []byte(`{}`)}); o.Status != http.StatusOK {
					t.Errorf("round %d: outcome %+v", round, o)
				}
			})
		}
		arrived.Wait()
		close(gate)
		sent.Wait()
	}
	if n := dialled.Load(); n != concurrent {
		t.Errorf("two rounds of %d concurrent attempts opened %d connections, want %d", concurrent, n, concurrent)
	}
}

func TestSendAuth(t *testing.T) {
	t.Parallel()
	body := []byte(`{"version":1,"event":"E","payload":{}}`)
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("user-"+canary+":pass-"+canary))
	tests := []struct {
		name     string
		endpoint webhook.Endpoint
		header   string // header the target must receive
		want     string // its value
	}{
		{"none", webhook.Endpoint{AuthType: webhook.AuthNone}, "Authorization", ""},
		{"zero auth type", webhook.Endpoint{}, "Authorization", ""},
		{"basic", webhook.Endpoint{AuthType: webhook.AuthBasic, Credential: webhook.Credential{
			Username: "user-" + canary, Password: "pass-" + canary}}, "Authorization", basic},
		{"bearer", webhook.Endpoint{AuthType: webhook.AuthBearer, Credential: webhook.Credential{
			Token: "tok-" + canary}}, "Authorization", "Bearer tok-" + canary},
		{"api_key", webhook.Endpoint{AuthType: webhook.AuthAPIKey, Credential: webhook.Credential{
			KeyName: "X-Api-Key", KeyValue: "key-" + canary}}, "X-Api-Key", "key-" + canary},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var problems []string
			var mu sync.Mutex
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				defer mu.Unlock()
				check := func(name, got, want string) {
					if got != want {
						problems = append(problems, fmt.Sprintf("%s = %q, want %q", name, got, want))
					}
				}
				check("method", r.Method, http.MethodPost)
				check("Content-Type", r.Header.Get("Content-Type"), "application/json")
				check("User-Agent", r.Header.Get("User-Agent"), "hookd/test")
				for name, value := range signatureHeaders() {
					check(name, r.Header.Get(name), value)
				}
				check(tt.header, r.Header.Get(tt.header), tt.want)
				got, _ := io.ReadAll(r.Body)
				check("body", string(got), string(body))
				_, _ = io.WriteString(w, "ok")
			}))
			defer srv.Close()

			o := newSender(t, true, nil).Send(t.Context(), Request{
				URL: srv.URL, Body: body, Headers: signatureHeaders(), Endpoint: tt.endpoint, WebhookID: "w1",
			})
			mu.Lock()
			defer mu.Unlock()
			for _, p := range problems {
				t.Error(p)
			}
			if o.Status != 200 || o.ErrorClass != "" || string(o.ResponseExcerpt) != "ok" {
				t.Fatalf("outcome %+v, want 200 with excerpt ok", o)
			}
			if o.Duration <= 0 {
				t.Errorf("duration %v, want > 0", o.Duration)
			}
			assertNoCanary(t, o)
		})
	}
}

// tokenServer is an OAuth 2.0 token endpoint on 127.0.0.1 that issues tok-1, tok-2, ... and checks
// the client-credentials request.
type tokenServer struct {
	*httptest.Server
	requests atomic.Int32
	fail     atomic.Bool
	mu       sync.Mutex
	problems []string
}

const (
	clientID     = "client-" + canary
	clientSecret = "secret-" + canary
)

func newTokenServer(t *testing.T, expiresIn int) *tokenServer {
	t.Helper()
	ts := &tokenServer{}
	ts.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := ts.requests.Add(1)
		if err := r.ParseForm(); err != nil {
			ts.problem("parse form: %v", err)
		}
		if id, secret, ok := r.BasicAuth(); !ok || id != clientID || secret != clientSecret {
			ts.problem("basic auth %q %q %v", id, secret, ok)
		}
		if got := r.PostForm.Get("grant_type"); got != "client_credentials" {
			ts.problem("grant_type %q", got)
		}
		if got := r.PostForm.Get("scope"); got != "deliver read" {
			ts.problem("scope %q", got)
		}
		if ts.fail.Load() {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = fmt.Fprintf(w, `{"error":"invalid_client","echo":%q}`, clientSecret)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = fmt.Fprintf(w, `{"access_token":"tok-%d","token_type":"Bearer","expires_in":%d}`, n, expiresIn)
	}))
	t.Cleanup(ts.Close)
	return ts
}

func (ts *tokenServer) problem(format string, args ...any) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.problems = append(ts.problems, fmt.Sprintf(format, args...))
}

func (ts *tokenServer) check(t *testing.T) {
	t.Helper()
	ts.mu.Lock()
	defer ts.mu.Unlock()
	for _, p := range ts.problems {
		t.Error("token endpoint:", p)
	}
}

// target answers 200 to the tokens accept says yes to, 401 otherwise, and remembers what it saw.
type target struct {
	*httptest.Server
	hits atomic.Int32
	mu   sync.Mutex
	seen []string
}

func newTarget(t *testing.T, accept func(token string) bool) *target {
	t.Helper()
	tg := &target{}
	tg.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tg.hits.Add(1)
		token := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		tg.mu.Lock()
		tg.seen = append(tg.seen, token)
		tg.mu.Unlock()
		if !accept(token) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(tg.Close)
	return tg
}

func (tg *target) tokens() []string {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return append([]string(nil), tg.seen...)
}

// fakeClock is a clock that tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func oauthEndpoint(tokenURL string) webhook.Endpoint {
	return webhook.Endpoint{
		AuthType:       webhook.AuthOAuth2,
		OAuthGrantType: webhook.GrantClientCredentials,
		OAuthTokenURL:  tokenURL,
		OAuthScopes:    []string{"deliver", "read"},
		Credential:     webhook.Credential{OAuth2: webhook.OAuth2Credential{ClientID: clientID, ClientSecret: clientSecret}},
	}
}

func TestSendOAuth2(t *testing.T) {
	t.Parallel()
	always := func(string) bool { return true }
	tests := []struct {
		name       string
		accept     func(token string) bool
		tokenFails bool
		// steps: before each attempt, advance the clock by this much.
		steps          []time.Duration
		wantStatus     []int
		wantClass      string
		wantTokenCalls int32
		wantSeen       []string
	}{
		{
			name: "token cached across attempts", accept: always,
			steps: []time.Duration{0, 10 * time.Second, 50 * time.Second}, wantStatus: []int{200, 200, 200},
			wantTokenCalls: 1, wantSeen: []string{"tok-1", "tok-1", "tok-1"},
		},
		{
			// expires_in 120 s, refreshed 30 s before: still cached at 89 s, refetched at 91 s.
			name: "refreshed shortly before expiry", accept: always,
			steps: []time.Duration{0, 89 * time.Second, 2 * time.Second}, wantStatus: []int{200, 200, 200},
			wantTokenCalls: 2, wantSeen: []string{"tok-1", "tok-1", "tok-2"},
		},
		{
			name: "fetched again once after a 401", accept: func(tok string) bool { return tok != "tok-1" },
			steps: []time.Duration{0, 0}, wantStatus: []int{200, 200},
			wantTokenCalls: 2, wantSeen: []string{"tok-1", "tok-2", "tok-2"},
		},
		{
			name: "a second 401 is the outcome", accept: func(string) bool { return false },
			steps: []time.Duration{0}, wantStatus: []int{401},
			wantTokenCalls: 2, wantSeen: []string{"tok-1", "tok-2"},
		},
		{
			name: "token endpoint refuses: target not called", accept: always, tokenFails: true,
			steps: []time.Duration{0}, wantStatus: []int{0}, wantClass: ClassOAuth2,
			wantTokenCalls: 1, wantSeen: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ts := newTokenServer(t, 120)
			ts.fail.Store(tt.tokenFails)
			tg := newTarget(t, tt.accept)
			clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
			s := newSender(t, true, clock.Now)
			for i, step := range tt.steps {
				clock.Advance(step)
				o := s.Send(t.Context(), Request{URL: tg.URL, Body: []byte(`{}`), Endpoint: oauthEndpoint(ts.URL), WebhookID: "w1"})
				if o.Status != tt.wantStatus[i] {
					t.Fatalf("attempt %d: %+v, want status %d", i, o, tt.wantStatus[i])
				}
				if o.Status == 0 && o.ErrorClass != tt.wantClass {
					t.Fatalf("attempt %d: class %q, want %q", i, o.ErrorClass, tt.wantClass)
				}
				assertNoCanary(t, o)
			}
			ts.check(t)
			if got := ts.requests.Load(); got != tt.wantTokenCalls {
				t.Errorf("token requests %d, want %d", got, tt.wantTokenCalls)
			}
			if got := tg.tokens(); strings.Join(got, ",") != strings.Join(tt.wantSeen, ",") {
				t.Errorf("target saw tokens %v, want %v", got, tt.wantSeen)
			}
		})
	}
}

func TestSendOAuth2TokenPerWebhook(t *testing.T) {
	t.Parallel()
	ts := newTokenServer(t, 3600)
	tg := newTarget(t, func(string) bool { return true })
	s := newSender(t, true, nil)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			id := fmt.Sprintf("w%d", i%2)
			o := s.Send(t.Context(), Request{URL: tg.URL, Endpoint: oauthEndpoint(ts.URL), WebhookID: id})
			if o.Status != 200 {
				t.Errorf("%+v", o)
			}
		})
	}
	wg.Wait()
	if got := ts.requests.Load(); got != 2 {
		t.Errorf("token requests %d for two webhooks under concurrency, want 2", got)
	}
	// Changing the client's settings must not reuse the old client's token.
	ep := oauthEndpoint(ts.URL)
	ep.OAuthScopes = []string{"deliver", "read"}
	ep.OAuthTokenURL = ts.URL + "/"
	if o := s.Send(t.Context(), Request{URL: tg.URL, Endpoint: ep, WebhookID: "w0"}); o.Status != 200 {
		t.Fatalf("%+v", o)
	}
	if got := ts.requests.Load(); got != 3 {
		t.Errorf("token requests %d after the token URL changed, want 3", got)
	}
}

// closedPort returns an address on 127.0.0.1 where nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// resetConn closes c with SO_LINGER 0, so the peer gets a TCP RST.
func resetConn(c net.Conn) {
	if tcp, ok := c.(*net.TCPConn); ok {
		_ = tcp.SetLinger(0)
	}
	_ = c.Close()
}

// rawServer accepts connections on 127.0.0.1, reads the request head and hands the connection to
// serve, for answers net/http would not send.
func rawServer(t *testing.T, serve func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer func() { _ = c.Close() }()
				r := bufio.NewReader(c)
				req, err := http.ReadRequest(r)
				if err != nil {
					return
				}
				_, _ = io.Copy(io.Discard, req.Body)
				serve(c)
			})
		}
	})
	t.Cleanup(func() {
		_ = ln.Close()
		wg.Wait()
	})
	return "http://" + ln.Addr().String()
}

func TestSendNoResponseAndHostileResponses(t *testing.T) {
	t.Parallel()
	const ttl = 400 * time.Millisecond
	policy := webhook.Settings{SuccessCodes: []int{200}, RetryCodes: []int{0, 503}}
	tests := []struct {
		name        string
		url         func(t *testing.T) string
		wantStatus  int
		wantClass   string
		wantExcerpt int // bytes kept; -1: do not check
		maxDuration time.Duration
		wantVerdict delivery.Verdict
		ttl         time.Duration // 0: ttl
	}{
		{
			name: "success code", wantStatus: 200, wantVerdict: delivery.Succeed, maxDuration: 2 * time.Second,
			url: func(t *testing.T) string {
				return handlerURL(t, func(w http.ResponseWriter, r *http.Request) {})
			},
		},
		{
			name: "retry code", wantStatus: 503, wantExcerpt: 4, wantVerdict: delivery.Retry, maxDuration: 2 * time.Second,
			url: func(t *testing.T) string {
				return handlerURL(t, func(w http.ResponseWriter, r *http.Request) {
					w.WriteHeader(503)
					_, _ = io.WriteString(w, "busy")
				})
			},
		},
		{
			name: "other code fails", wantStatus: 404, wantExcerpt: -1, wantVerdict: delivery.Fail, maxDuration: 2 * time.Second,
			url: func(t *testing.T) string {
				return handlerURL(t, func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })
			},
		},
		{
			name: "refused port", wantClass: ClassRefused, wantVerdict: delivery.Retry, maxDuration: 2 * time.Second,
			url: func(t *testing.T) string { return "http://" + closedPort(t) },
		},
		{
			name: "reset before any response", wantClass: ClassReset, wantVerdict: delivery.Retry, maxDuration: 2 * time.Second,
			url: func(t *testing.T) string {
				return handlerURL(t, func(w http.ResponseWriter, r *http.Request) {
					_, _ = io.Copy(io.Discard, r.Body)
					c, _, err := http.NewResponseController(w).Hijack()
					if err != nil {
						t.Error(err)
						return
					}
					resetConn(c)
				})
			},
		},
		{
			name: "timeout: server sleeps past ttl", wantClass: ClassTimeout, wantVerdict: delivery.Retry, maxDuration: ttl + time.Second,
			url: func(t *testing.T) string {
				return handlerURL(t, func(w http.ResponseWriter, r *http.Request) {
					// Reading the body lets the server notice the client hanging up.
					_, _ = io.Copy(io.Discard, r.Body)
					select {
					case <-r.Context().Done():
					case <-time.After(10 * time.Second):
					}
				})
			},
		},
		{
			name: "huge body: 64 KiB kept, ends quickly", wantStatus: 200, wantClass: ClassTooLarge,
			wantExcerpt: DefaultMaxResponseBytes, wantVerdict: delivery.Succeed, maxDuration: time.Second,
			ttl: 5 * time.Second, // far beyond maxDuration: the excerpt must not wait for the rest
			url: func(t *testing.T) string {
				return handlerURL(t, func(w http.ResponseWriter, r *http.Request) {
					chunk := bytes.Repeat([]byte("x"), 64<<10)
					for range 160 { // 10 MiB
						if _, err := w.Write(chunk); err != nil {
							return
						}
					}
					// ... and never finish: a sender that waits for the end runs into its timeout.
					_ = http.NewResponseController(w).Flush()
					<-r.Context().Done()
				})
			},
		},
		{
			name: "drip body: bounded by ttl", wantStatus: 200, wantClass: ClassTimeout, wantExcerpt: -1,
			wantVerdict: delivery.Succeed, maxDuration: ttl + time.Second,
			url: func(t *testing.T) string {
				return handlerURL(t, func(w http.ResponseWriter, r *http.Request) {
					rc := http.NewResponseController(w)
					for range 200 {
						if _, err := w.Write([]byte("x")); err != nil {
							return
						}
						if rc.Flush() != nil {
							return
						}
						select {
						case <-r.Context().Done():
							return
						case <-time.After(100 * time.Millisecond):
						}
					}
				})
			},
		},
		{
			name: "drip headers: no response within ttl", wantClass: ClassTimeout, wantVerdict: delivery.Retry,
			maxDuration: ttl + time.Second,
			url: func(t *testing.T) string {
				return rawServer(t, func(c net.Conn) {
					for _, b := range []byte("HTTP/1.1 200 OK\r\nX-Slow: yes yes yes yes yes yes yes\r\n") {
						if _, err := c.Write([]byte{b}); err != nil {
							return
						}
						time.Sleep(100 * time.Millisecond)
					}
				})
			},
		},
		{
			name: "header bomb: 9 MB of headers", wantClass: ClassResponseTooLarge, wantVerdict: delivery.Retry,
			maxDuration: 2 * time.Second, ttl: 5 * time.Second,
			url: func(t *testing.T) string { return rawServer(t, headerBomb(9<<20)) },
		},
		{
			name: "headers just over the cap", wantClass: ClassResponseTooLarge, wantVerdict: delivery.Retry,
			maxDuration: 2 * time.Second,
			url:         func(t *testing.T) string { return rawServer(t, headerBomb(DefaultMaxResponseHeaderBytes+1024)) },
		},
		{
			name: "headers under the cap", wantStatus: 200, wantVerdict: delivery.Succeed, maxDuration: 2 * time.Second,
			url: func(t *testing.T) string { return rawServer(t, headerBomb(DefaultMaxResponseHeaderBytes-1024)) },
		},
		{
			name: "reset in the middle of the body", wantStatus: 200, wantClass: ClassReset, wantExcerpt: 10,
			wantVerdict: delivery.Succeed, maxDuration: 2 * time.Second,
			url: func(t *testing.T) string {
				return rawServer(t, func(c net.Conn) {
					_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n0123456789")
					time.Sleep(50 * time.Millisecond)
					resetConn(c)
				})
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			url := tt.url(t)
			s := newSender(t, true, nil)
			start := time.Now()
			timeout := ttl
			if tt.ttl != 0 {
				timeout = tt.ttl
			}
			o := s.Send(t.Context(), Request{URL: url, Body: []byte(`{}`), Timeout: timeout})
			elapsed := time.Since(start)
			if o.Status != tt.wantStatus || o.ErrorClass != tt.wantClass {
				t.Fatalf("outcome status %d class %q, want %d %q", o.Status, o.ErrorClass, tt.wantStatus, tt.wantClass)
			}
			if tt.wantExcerpt >= 0 && len(o.ResponseExcerpt) != tt.wantExcerpt {
				t.Errorf("excerpt %d bytes, want %d", len(o.ResponseExcerpt), tt.wantExcerpt)
			}
			if len(o.ResponseExcerpt) > DefaultMaxResponseBytes {
				t.Errorf("excerpt %d bytes, more than the limit", len(o.ResponseExcerpt))
			}
			if elapsed > tt.maxDuration {
				t.Errorf("attempt took %v, want at most %v", elapsed, tt.maxDuration)
			}
			if got := verdict(o, policy); got != tt.wantVerdict {
				t.Errorf("verdict %v, want %v", got, tt.wantVerdict)
			}
			// Without 0 in retryCodes, no response fails at once.
			if o.Status == 0 {
				if got := verdict(o, webhook.Settings{SuccessCodes: []int{200}, RetryCodes: []int{503}}); got != delivery.Fail {
					t.Errorf("verdict without 0 in retryCodes %v, want fail", got)
				}
			}
		})
	}
}

// headerBomb answers 200 with about size bytes of headers and an empty body, or stops writing when
// the client hangs up.
func headerBomb(size int) func(net.Conn) {
	return func(c net.Conn) {
		w := bufio.NewWriter(c)
		_, _ = w.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n")
		line := "X-Pad: " + strings.Repeat("x", 1000) + "\r\n"
		for written := 0; written+len(line) < size; written += len(line) {
			if _, err := w.WriteString(line); err != nil {
				return
			}
		}
		_, _ = w.WriteString("\r\n")
		_ = w.Flush()
	}
}

func handlerURL(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestSendDoesNotFollowRedirects(t *testing.T) {
	t.Parallel()
	var redirected atomic.Int32
	dest := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { redirected.Add(1) }))
	defer dest.Close()
	for _, code := range []int{301, 302, 303, 307, 308} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			src := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, dest.URL, code)
			}))
			defer src.Close()
			o := newSender(t, true, nil).Send(t.Context(), Request{URL: src.URL, Endpoint: webhook.Endpoint{
				AuthType: webhook.AuthBearer, Credential: webhook.Credential{Token: canary}}})
			if o.Status != code || o.ErrorClass != "" {
				t.Fatalf("%+v, want status %d", o, code)
			}
			if got := verdict(o, webhook.Settings{SuccessCodes: []int{200}, RetryCodes: []int{0}}); got != delivery.Fail {
				t.Errorf("verdict %v, want fail", got)
			}
			assertNoCanary(t, o)
		})
	}
	if n := redirected.Load(); n != 0 {
		t.Fatalf("redirect target got %d requests, want 0", n)
	}
}

func TestSendBlockedDestination(t *testing.T) {
	t.Parallel()
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	srv.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	ts := newTokenServer(t, 120)

	tests := []struct {
		name     string
		url      string
		endpoint webhook.Endpoint
	}{
		{"target on loopback", srv.URL, webhook.Endpoint{AuthType: webhook.AuthBasic,
			Credential: webhook.Credential{Username: "u", Password: canary}}},
		{"target by name localhost", strings.Replace(srv.URL, "127.0.0.1", "localhost", 1), webhook.Endpoint{}},
		{"metadata address", "http://169.254.169.254/latest/meta-data/", webhook.Endpoint{}},
		{"token endpoint on loopback", "http://93.184.215.14/", oauthEndpoint(ts.URL)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
			defer cancel()
			o := newSender(t, false, nil).Send(ctx, Request{URL: tt.url, Endpoint: tt.endpoint, WebhookID: "w"})
			if o.Status != 0 || o.ErrorClass != ClassBlocked {
				t.Fatalf("%+v, want class blocked", o)
			}
			if got := verdict(o, webhook.Settings{SuccessCodes: []int{200}, RetryCodes: []int{0}}); got != delivery.Fail {
				t.Errorf("verdict %v, want fail", got)
			}
			assertNoCanary(t, o)
		})
	}
	if n := conns.Load(); n != 0 {
		t.Fatalf("target accepted %d connections, want 0", n)
	}
	if n := ts.requests.Load(); n != 0 {
		t.Fatalf("token endpoint got %d requests, want 0", n)
	}
}

func TestSendCanceled(t *testing.T) {
	t.Parallel()
	url := handlerURL(t, func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(100*time.Millisecond, cancel)
	o := newSender(t, true, nil).Send(ctx, Request{URL: url, Timeout: 5 * time.Second})
	if o.Status != 0 || o.ErrorClass != ClassCanceled {
		t.Fatalf("%+v, want class canceled", o)
	}
}

func TestSendInvalidURL(t *testing.T) {
	t.Parallel()
	o := newSender(t, true, nil).Send(t.Context(), Request{URL: "http://a b/" + canary})
	if o.ErrorClass != ClassInvalidRequest {
		t.Fatalf("%+v, want class invalid_request", o)
	}
	assertNoCanary(t, o)
}

func TestSendOAuth2RefreshFailsAfter401(t *testing.T) {
	t.Parallel()
	ts := newTokenServer(t, 120)
	tg := newTarget(t, func(string) bool {
		ts.fail.Store(true) // the token endpoint breaks after the first token
		return false
	})
	o := newSender(t, true, nil).Send(t.Context(), Request{URL: tg.URL, Endpoint: oauthEndpoint(ts.URL), WebhookID: "w1"})
	if o.Status != http.StatusUnauthorized || o.ErrorClass != ClassOAuth2 {
		t.Fatalf("%+v, want 401 with class oauth2", o)
	}
	if got := tg.hits.Load(); got != 1 {
		t.Errorf("target hits %d, want 1", got)
	}
	if got := ts.requests.Load(); got != 2 {
		t.Errorf("token requests %d, want 2", got)
	}
	assertNoCanary(t, o)
}
