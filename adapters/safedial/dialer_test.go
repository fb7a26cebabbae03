package safedial

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// fakeResolver answers lookups from a script: call i gets answers[i], and calls past the end get
// the last answer. It records the hosts it was asked for.
type fakeResolver struct {
	mu      sync.Mutex
	answers [][]netip.Addr
	err     error
	hosts   []string
}

func newFakeResolver(answers ...[]netip.Addr) *fakeResolver {
	return &fakeResolver{answers: answers}
}

func (r *fakeResolver) LookupNetIP(ctx context.Context, _, host string) ([]netip.Addr, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hosts = append(r.hosts, host)
	if r.err != nil {
		return nil, r.err
	}
	i := min(len(r.hosts), len(r.answers)) - 1
	return slices.Clone(r.answers[i]), nil
}

func (r *fakeResolver) calls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.hosts)
}

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

// listener is a real TCP listener on 127.0.0.1 that reports the remote address of every connection
// it accepts, in order.
type listener struct {
	ln       net.Listener
	port     string
	accepted chan string
}

func newListener(t *testing.T) *listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	l := &listener{ln: ln, port: port, accepted: make(chan string, 64)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			l.accepted <- c.RemoteAddr().String()
			_ = c.Close()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
	})
	return l
}

// assertNoConnection proves the listener accepted nothing so far: it connects once itself and checks
// that this probe is the first connection the listener accepts. Accept returns connections in the
// order they were made, so an earlier connection would come out first.
func (l *listener) assertNoConnection(t *testing.T) {
	t.Helper()
	probe, err := net.Dial("tcp", l.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close()
	select {
	case got := <-l.accepted:
		if got != probe.LocalAddr().String() {
			t.Fatalf("listener accepted a connection from %s before the probe %s", got, probe.LocalAddr())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("listener did not accept the probe")
	}
}

func assertBlocked(t *testing.T, err error, host, addr string) {
	t.Helper()
	var be *BlockedError
	if !errors.As(err, &be) || !errors.Is(err, ErrBlocked) {
		t.Fatalf("err = %v, want *BlockedError", err)
	}
	if be.Host != host || be.Addr != netip.MustParseAddr(addr) {
		t.Errorf("BlockedError{Host: %q, Addr: %v}, want {%q, %s}", be.Host, be.Addr, host, addr)
	}
}

func TestDialLiteralLoopback(t *testing.T) {
	t.Parallel()
	l := newListener(t)
	r := newFakeResolver(addrs("8.8.8.8"))

	d := &Dialer{Resolver: r}
	conn, err := d.DialContext(t.Context(), "tcp", net.JoinHostPort("127.0.0.1", l.port))
	if conn != nil {
		conn.Close()
	}
	l.assertNoConnection(t)
	assertBlocked(t, err, "127.0.0.1", "127.0.0.1")
	if calls := r.calls(); len(calls) != 0 {
		t.Errorf("resolver called for a literal IP: %v", calls)
	}

	allow := &Dialer{Resolver: r, AllowPrivate: true}
	conn, err = allow.DialContext(t.Context(), "tcp", net.JoinHostPort("127.0.0.1", l.port))
	if err != nil {
		t.Fatalf("AllowPrivate: %v", err)
	}
	conn.Close()
}

func TestDialBlockedLiterals(t *testing.T) {
	t.Parallel()
	tests := []struct{ host, addr string }{
		{"::1", "::1"},
		{"::ffff:127.0.0.1", "::ffff:127.0.0.1"},
		{"169.254.169.254", "169.254.169.254"},
		{"10.0.0.1", "10.0.0.1"},
		{"0.0.0.0", "0.0.0.0"},
		{"fe80::1%lo", "fe80::1%lo"},
		{"2130706433", "127.0.0.1"},
		{"0x7f.1", "127.0.0.1"},
		{"0177.0.0.1.", "127.0.0.1"},
	}
	for _, tt := range tests {
		host := tt.host
		t.Run(host, func(t *testing.T) {
			t.Parallel()
			// The control hook keeps a regression from sending packets to these addresses.
			var dialed atomic.Int32
			nd := &net.Dialer{Control: func(string, string, syscall.RawConn) error {
				dialed.Add(1)
				return errors.New("test: dial aborted")
			}}
			d := &Dialer{Resolver: newFakeResolver(addrs("8.8.8.8")), Dialer: nd}
			_, err := d.DialContext(t.Context(), "tcp", net.JoinHostPort(host, "80"))
			assertBlocked(t, err, host, tt.addr)
			if n := dialed.Load(); n != 0 {
				t.Errorf("%d dial attempts, want 0", n)
			}
		})
	}
}

func TestDialHostnameResolvingToBlocked(t *testing.T) {
	t.Parallel()
	l := newListener(t)
	r := newFakeResolver(addrs("127.0.0.1", "::1"))

	d := &Dialer{Resolver: r}
	_, err := d.DialContext(t.Context(), "tcp", net.JoinHostPort("hooks.example.test", l.port))
	l.assertNoConnection(t)
	assertBlocked(t, err, "hooks.example.test", "127.0.0.1")
	if calls := r.calls(); !slices.Equal(calls, []string{"hooks.example.test"}) {
		t.Errorf("resolver calls = %v", calls)
	}
}

// TestDialDNSRebinding: the name resolves to a public address when the webhook is validated and to
// loopback when the delivery dials. The dial must refuse, and nothing may reach the listener.
func TestDialDNSRebinding(t *testing.T) {
	t.Parallel()
	l := newListener(t)
	r := newFakeResolver(addrs("93.184.216.34"), addrs("127.0.0.1"))
	target := "http://" + net.JoinHostPort("rebind.example.test", l.port) + "/hook"

	// Validation time: the URL passes, and the name resolves to a public address.
	if err := CheckURL(target); err != nil {
		t.Fatalf("CheckURL: %v", err)
	}
	first, err := r.LookupNetIP(t.Context(), "ip", "rebind.example.test")
	if err != nil || slices.ContainsFunc(first, Blocked) {
		t.Fatalf("validation lookup = %v, %v; want a public address", first, err)
	}

	// Dial time: the answer has changed to loopback.
	d := &Dialer{Resolver: r}
	conn, err := d.DialContext(t.Context(), "tcp", net.JoinHostPort("rebind.example.test", l.port))
	if conn != nil {
		conn.Close()
	}
	l.assertNoConnection(t)
	assertBlocked(t, err, "rebind.example.test", "127.0.0.1")
	if n := len(r.calls()); n != 2 {
		t.Errorf("resolver called %d times, want 2 (the dial must resolve again)", n)
	}
}

// TestDialUsesResolvedAddress shows the dialer connects to the address it checked, not to the
// name: rebind.example.test does not exist in real DNS, yet the dial reaches the listener.
func TestDialUsesResolvedAddress(t *testing.T) {
	t.Parallel()
	l := newListener(t)
	r := newFakeResolver(addrs("93.184.216.34"), addrs("127.0.0.1"))
	_, _ = r.LookupNetIP(t.Context(), "ip", "rebind.example.test")

	d := &Dialer{Resolver: r, AllowPrivate: true}
	conn, err := d.DialContext(t.Context(), "tcp", net.JoinHostPort("rebind.example.test", l.port))
	if err != nil {
		t.Fatalf("AllowPrivate dial: %v", err)
	}
	defer conn.Close()
	if got, want := conn.RemoteAddr().String(), l.ln.Addr().String(); got != want {
		t.Errorf("connected to %s, want %s", got, want)
	}
}

// TestDialSkipsBlockedTriesAllowedInOrder: a mixed answer dials only the allowed addresses, in the
// resolver's order. The net.Dialer's control hook records each attempt and aborts it, so no packet
// leaves the machine.
func TestDialSkipsBlockedTriesAllowedInOrder(t *testing.T) {
	t.Parallel()
	l := newListener(t)
	errAbort := errors.New("test: dial aborted")
	var mu sync.Mutex
	var attempts []string
	nd := &net.Dialer{Control: func(_, address string, _ syscall.RawConn) error {
		mu.Lock()
		defer mu.Unlock()
		attempts = append(attempts, address)
		return errAbort
	}}
	r := newFakeResolver(addrs("127.0.0.1", "8.8.8.8", "10.0.0.1", "2001:4860:4860::8888", "169.254.169.254"))

	d := &Dialer{Resolver: r, Dialer: nd}
	_, err := d.DialContext(t.Context(), "tcp", net.JoinHostPort("mixed.example.test", l.port))
	if !errors.Is(err, errAbort) {
		t.Fatalf("err = %v, want the control hook's error", err)
	}
	if errors.Is(err, ErrBlocked) {
		t.Errorf("err = %v: allowed addresses were tried, so this is no BlockedError", err)
	}
	want := []string{
		net.JoinHostPort("8.8.8.8", l.port),
		net.JoinHostPort("2001:4860:4860::8888", l.port),
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(attempts, want) {
		t.Errorf("attempts = %v, want %v", attempts, want)
	}
	l.assertNoConnection(t)
}

// TestDialFallsBackInOrder: with AllowPrivate, an address that refuses the connection is followed by
// the next one. 127.0.0.2 is loopback too, but the listener is bound to 127.0.0.1 only.
func TestDialFallsBackInOrder(t *testing.T) {
	t.Parallel()
	l := newListener(t)
	d := &Dialer{Resolver: newFakeResolver(addrs("127.0.0.2", "127.0.0.1")), AllowPrivate: true}
	conn, err := d.DialContext(t.Context(), "tcp", net.JoinHostPort("two.example.test", l.port))
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.Close()
	if got, want := conn.RemoteAddr().String(), l.ln.Addr().String(); got != want {
		t.Errorf("connected to %s, want %s", got, want)
	}
}

func TestDialErrors(t *testing.T) {
	t.Parallel()
	errLookup := errors.New("test: no such host")
	failing := newFakeResolver(addrs("8.8.8.8"))
	failing.err = errLookup
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()

	tests := []struct {
		name    string
		d       *Dialer
		ctx     context.Context
		network string
		address string
		want    error
	}{
		{"udp", &Dialer{Resolver: newFakeResolver(addrs("8.8.8.8"))}, t.Context(), "udp", "example.test:53", nil},
		{"no port", &Dialer{Resolver: newFakeResolver(addrs("8.8.8.8"))}, t.Context(), "tcp", "example.test", nil},
		{"lookup fails", &Dialer{Resolver: failing}, t.Context(), "tcp", "example.test:80", errLookup},
		{"empty answer", &Dialer{Resolver: newFakeResolver(nil)}, t.Context(), "tcp", "example.test:80", nil},
		{"cancelled", &Dialer{Resolver: newFakeResolver(addrs("8.8.8.8"))}, cancelled, "tcp", "example.test:80", context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			conn, err := tt.d.DialContext(tt.ctx, tt.network, tt.address)
			if conn != nil {
				conn.Close()
			}
			if err == nil {
				t.Fatal("err = nil")
			}
			if errors.Is(err, ErrBlocked) {
				t.Errorf("err = %v, want no BlockedError", err)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

// TestControlHookRefusesBlocked covers the second line of defence: the control hook that the inner
// net.Dialer runs on the very address the socket connects to, after any hook the caller set.
func TestControlHookRefusesBlocked(t *testing.T) {
	t.Parallel()
	var called atomic.Int32
	d := &Dialer{Dialer: &net.Dialer{ControlContext: func(context.Context, string, string, syscall.RawConn) error {
		called.Add(1)
		return nil
	}}}
	hook := d.netDialer().ControlContext
	if err := hook(t.Context(), "tcp4", "127.0.0.1:80", nil); !errors.Is(err, ErrBlocked) {
		t.Errorf("hook(127.0.0.1:80) = %v, want ErrBlocked", err)
	}
	if err := hook(t.Context(), "tcp4", "8.8.8.8:80", nil); err != nil {
		t.Errorf("hook(8.8.8.8:80) = %v, want nil", err)
	}
	if called.Load() != 2 {
		t.Errorf("caller's hook ran %d times, want 2", called.Load())
	}
	if (&Dialer{AllowPrivate: true}).netDialer().ControlContext != nil {
		t.Error("AllowPrivate still installs the control hook")
	}
}

func TestTransport(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	byName := "http://" + net.JoinHostPort("hooks.example.test", u.Port()) + "/"
	// net/http maps this through IDNA to 127.0.0.1 before it dials.
	fullwidth := "http://" + net.JoinHostPort("１２７。０。０。１", u.Port()) + "/"

	get := func(t *testing.T, d *Dialer, target string) (int, error) {
		t.Helper()
		client := &http.Client{Transport: d.Transport(nil), Timeout: 5 * time.Second}
		defer client.CloseIdleConnections()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, target, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, nil
	}

	t.Run("refused", func(t *testing.T) {
		for _, target := range []string{srv.URL + "/", byName, fullwidth} {
			d := &Dialer{Resolver: newFakeResolver(addrs("127.0.0.1"))}
			if _, err := get(t, d, target); !errors.Is(err, ErrBlocked) {
				t.Errorf("GET %s: err = %v, want ErrBlocked", target, err)
			}
		}
		if n := hits.Load(); n != 0 {
			t.Errorf("server saw %d requests, want 0", n)
		}
	})
	t.Run("AllowPrivate", func(t *testing.T) {
		for _, target := range []string{srv.URL + "/", byName, fullwidth} {
			d := &Dialer{Resolver: newFakeResolver(addrs("127.0.0.1")), AllowPrivate: true}
			status, err := get(t, d, target)
			if err != nil || status != http.StatusOK {
				t.Errorf("GET %s = %d, %v; want 200", target, status, err)
			}
		}
	})
}

func TestTransportClearsProxyAndTLSDial(t *testing.T) {
	t.Parallel()
	proxy, _ := url.Parse("http://proxy.example.test:3128")
	base := &http.Transport{
		Proxy: http.ProxyURL(proxy),
		DialTLSContext: func(context.Context, string, string) (net.Conn, error) {
			return nil, errors.New("must not be used")
		},
		MaxIdleConnsPerHost: 7,
	}
	d := &Dialer{}
	tr := d.Transport(base)
	if tr == base {
		t.Fatal("Transport modified base instead of a clone")
	}
	if tr.Proxy != nil || tr.DialTLSContext != nil || tr.DialContext == nil {
		t.Errorf("Proxy set %v, DialTLSContext set %v, DialContext set %v; want false, false, true",
			tr.Proxy != nil, tr.DialTLSContext != nil, tr.DialContext != nil)
	}
	if base.Proxy == nil {
		t.Error("base transport was changed")
	}
	if tr.MaxIdleConnsPerHost != 7 {
		t.Errorf("MaxIdleConnsPerHost = %d, want the base's 7", tr.MaxIdleConnsPerHost)
	}
	if def := d.Transport(nil); def.Proxy != nil {
		t.Error("Transport(nil) keeps ProxyFromEnvironment")
	}
}
