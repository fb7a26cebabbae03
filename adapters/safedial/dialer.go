package safedial

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
)

// ErrBlocked is what every refusal of this package wraps: test for it with errors.Is, and use
// errors.As with *BlockedError for the host and address.
var ErrBlocked = errors.New("safedial: destination address is blocked")

// BlockedError says which host was refused and at which address. Addr is the zero Addr when the
// host was refused by name (localhost) rather than by address.
type BlockedError struct {
	Host string
	Addr netip.Addr
}

// Error names the host, the address and why the address is blocked.
func (e *BlockedError) Error() string {
	if !e.Addr.IsValid() {
		return fmt.Sprintf("safedial: host %q is blocked: loopback name", e.Host)
	}
	return fmt.Sprintf("safedial: host %q: address %s is blocked: %s", e.Host, e.Addr, reason(e.Addr))
}

// Unwrap makes errors.Is(err, ErrBlocked) true.
func (e *BlockedError) Unwrap() error { return ErrBlocked }

// Resolver resolves a host name to IP addresses. *net.Resolver implements it; tests pass a fake.
// network is "ip", "ip4" or "ip6".
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

var _ Resolver = (*net.Resolver)(nil)

// Dialer opens TCP connections only to addresses the policy allows (see Blocked). It resolves the
// host itself, drops every blocked address, and dials the remaining addresses in the order the
// resolver gave them, by IP, so the name is never resolved a second time behind its back. The zero
// Dialer is ready to use. A Dialer is safe for concurrent use as long as its fields are not changed.
type Dialer struct {
	// Resolver resolves host names; nil means net.DefaultResolver.
	Resolver Resolver
	// Dialer dials the checked addresses (timeouts, keep-alive); nil means a zero net.Dialer. Its
	// Control or ControlContext still runs, before the policy check this package adds.
	Dialer *net.Dialer
	// AllowPrivate turns the policy off, for local development and tests
	// (HOOKD_ALLOW_PRIVATE_TARGETS=true). Never set it in production: integrators could then reach
	// the metadata service and everything on the internal network.
	AllowPrivate bool
}

// DialContext resolves address ("host:port"), refuses blocked addresses and connects to the first
// allowed address that answers. network must be "tcp", "tcp4" or "tcp6". When every address is
// blocked the error is a *BlockedError (errors.Is ErrBlocked) and no connection is attempted.
// Cancelling ctx aborts the lookup and the dial.
func (d *Dialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	ipNetwork, err := lookupNetwork(network)
	if err != nil {
		return nil, err
	}
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, fmt.Errorf("safedial: %w", err)
	}
	addrs, err := d.resolve(ctx, ipNetwork, host)
	if err != nil {
		return nil, err
	}

	allowed := make([]netip.Addr, 0, len(addrs))
	var refused error
	for _, a := range addrs {
		if !d.AllowPrivate && Blocked(a) {
			if refused == nil {
				refused = &BlockedError{Host: host, Addr: a}
			}
			continue
		}
		allowed = append(allowed, a)
	}
	if len(allowed) == 0 {
		if refused != nil {
			return nil, refused
		}
		return nil, fmt.Errorf("safedial: no addresses for %q", host)
	}

	dialer := d.netDialer()
	var errs []error
	for _, a := range allowed {
		conn, err := dialer.DialContext(ctx, network, net.JoinHostPort(a.String(), port))
		if err == nil {
			return conn, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, errors.Join(errs...)
}

// resolve returns the addresses for host; a literal IP is used as it is, without a lookup. IPv4 in
// the spellings inet_aton accepts (0x7f.1, 2130706433) counts as literal too, the way CheckURL reads
// it: otherwise the answer would depend on whether the system resolver happens to parse it.
func (d *Dialer) resolve(ctx context.Context, network, host string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a}, nil
	}
	if a, isV4, err := parseIPv4(strings.TrimSuffix(strings.ToLower(host), ".")); isV4 && err == nil {
		return []netip.Addr{a}, nil
	}
	r := d.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	addrs, err := r.LookupNetIP(ctx, network, host)
	if err != nil {
		return nil, fmt.Errorf("safedial: resolve %q: %w", host, err)
	}
	return addrs, nil
}

// netDialer returns a copy of the configured net.Dialer whose control hook checks, once more, the
// address the socket is about to connect to. DialContext only ever hands it checked IPs, so the hook
// should never fire; it is there so that a later change to this file cannot quietly dial a name.
func (d *Dialer) netDialer() *net.Dialer {
	var nd net.Dialer
	if d.Dialer != nil {
		nd = *d.Dialer
	}
	if d.AllowPrivate {
		return &nd
	}
	prevCtx, prev := nd.ControlContext, nd.Control
	nd.Control = nil
	nd.ControlContext = func(ctx context.Context, network, address string, c syscall.RawConn) error {
		switch {
		case prevCtx != nil:
			if err := prevCtx(ctx, network, address, c); err != nil {
				return err
			}
		case prev != nil:
			if err := prev(network, address, c); err != nil {
				return err
			}
		}
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return fmt.Errorf("safedial: unexpected dial address %q: %w", address, err)
		}
		if Blocked(ap.Addr()) {
			return &BlockedError{Host: ap.Addr().String(), Addr: ap.Addr()}
		}
		return nil
	}
	return &nd
}

// lookupNetwork maps a dial network to the matching lookup network. Only TCP is supported: webhooks
// and token endpoints are HTTP.
func lookupNetwork(network string) (string, error) {
	switch network {
	case "tcp":
		return "ip", nil
	case "tcp4":
		return "ip4", nil
	case "tcp6":
		return "ip6", nil
	}
	return "", fmt.Errorf("safedial: unsupported network %q", network)
}

// Transport returns a clone of base (http.DefaultTransport when base is nil) that dials through d.
//
// It also turns off proxies: with a proxy, the proxy would resolve and dial the target and the
// policy would only ever see the proxy's address. And it drops DialTLSContext and DialTLS, which
// would otherwise dial TLS connections without d. Redirects are the http.Client's business: hookd
// does not follow them, and each hop would go through d anyway.
func (d *Dialer) Transport(base *http.Transport) *http.Transport {
	var t *http.Transport
	if base != nil {
		t = base.Clone()
	} else {
		t = http.DefaultTransport.(*http.Transport).Clone()
	}
	t.Proxy = nil
	t.OnProxyConnectResponse = nil
	t.DialContext = d.DialContext
	// DialContext wins over the deprecated Dial, but the deprecated DialTLS is used whenever
	// DialTLSContext is nil, so both TLS hooks must go.
	t.DialTLSContext = nil
	//lint:ignore SA1019 cleared on purpose: a base's DialTLS would bypass d
	t.DialTLS = nil
	return t
}
