// Package safedial keeps hookd's outbound requests (deliveries and OAuth2 token fetches) away from
// addresses an integrator must not reach through us: loopback, private networks, link-local,
// multicast, unspecified, carrier-grade NAT, reserved ranges and cloud metadata endpoints.
//
// There are two checks, and both are needed:
//
//   - CheckURL runs when a webhook is created or updated. It rejects URLs whose host is a literal
//     blocked address in any spelling a URL parser or inet_aton accepts (2130706433, 0x7f.1,
//     [::ffff:7f00:1], localhost.). Host names pass: what they resolve to can change at any time.
//   - Dialer resolves the host itself when a request is made, checks every resolved address, and
//     dials the checked address rather than the name. A DNS answer that changes between validation
//     and delivery (DNS rebinding) therefore cannot reach a blocked address.
//
// Local development and tests opt out with Dialer.AllowPrivate (HOOKD_ALLOW_PRIVATE_TARGETS=true).
package safedial

import (
	"net/netip"
)

// blockedRange is one range of the policy with the reason it is blocked, kept for error messages and
// for whoever reads the table.
type blockedRange struct {
	prefix netip.Prefix
	reason string
}

// blockedV4 lists the IPv4 ranges no outbound request may reach. Single addresses that fall inside a
// wider range (169.254.169.254 in link-local) are still listed so the table documents them.
var blockedV4 = []blockedRange{
	{netip.MustParsePrefix("0.0.0.0/8"), "this network / unspecified"},
	{netip.MustParsePrefix("10.0.0.0/8"), "private"},
	{netip.MustParsePrefix("100.64.0.0/10"), "carrier-grade NAT"},
	{netip.MustParsePrefix("100.100.100.200/32"), "cloud metadata (Alibaba)"},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},
	{netip.MustParsePrefix("169.254.169.254/32"), "cloud metadata"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local"},
	{netip.MustParsePrefix("172.16.0.0/12"), "private"},
	{netip.MustParsePrefix("192.0.0.0/24"), "IETF protocol assignments"},
	{netip.MustParsePrefix("192.0.2.0/24"), "documentation"},
	{netip.MustParsePrefix("192.88.99.0/24"), "6to4 relay anycast"},
	{netip.MustParsePrefix("192.168.0.0/16"), "private"},
	{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking"},
	{netip.MustParsePrefix("198.51.100.0/24"), "documentation"},
	{netip.MustParsePrefix("203.0.113.0/24"), "documentation"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast"},
	{netip.MustParsePrefix("255.255.255.255/32"), "broadcast"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved"},
}

// blockedV6 lists the IPv6 ranges no outbound request may reach. Ranges that embed an IPv4 address
// (NAT64, 6to4, IPv4-translated) are not here: they are decided by the IPv4 address they carry, see
// embeddedV4.
var blockedV6 = []blockedRange{
	{netip.MustParsePrefix("::/128"), "unspecified"},
	{netip.MustParsePrefix("::1/128"), "loopback"},
	// IPv4-compatible addresses (::a.b.c.d) are deprecated (RFC 4291) and never legitimate targets;
	// some stacks still route them to the IPv4 address, so the whole range is refused.
	{netip.MustParsePrefix("::/96"), "IPv4-compatible (deprecated)"},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "local-use NAT64"},
	{netip.MustParsePrefix("100::/64"), "discard-only"},
	// Teredo hides the client's IPv4 address (inverted) in the address; it is obsolete, so refusing
	// the range is simpler than decoding it.
	{netip.MustParsePrefix("2001::/32"), "Teredo"},
	{netip.MustParsePrefix("2001:db8::/32"), "documentation"},
	{netip.MustParsePrefix("3fff::/20"), "documentation"},
	{netip.MustParsePrefix("fd00:ec2::254/128"), "cloud metadata (AWS)"},
	{netip.MustParsePrefix("fc00::/7"), "unique local (private)"},
	{netip.MustParsePrefix("fe80::/10"), "link-local"},
	{netip.MustParsePrefix("fec0::/10"), "site-local (deprecated)"},
	{netip.MustParsePrefix("ff00::/8"), "multicast"},
}

// Prefixes of IPv6 ranges that carry an IPv4 address a gateway will forward to.
var (
	nat64      = netip.MustParsePrefix("64:ff9b::/96")    // RFC 6052: v4 in the last 32 bits
	translated = netip.MustParsePrefix("::ffff:0:0:0/96") // RFC 2765 SIIT: v4 in the last 32 bits
	sixToFour  = netip.MustParsePrefix("2002::/16")       // RFC 3056: v4 in bits 16..47
)

// Blocked reports whether an outbound request must not reach addr. The zero Addr is blocked. An IPv6
// zone does not change the answer. IPv4-mapped IPv6 addresses (::ffff:127.0.0.1) are judged as the
// IPv4 address they stand for, and so are NAT64 (64:ff9b::/96), IPv4-translated and 6to4
// (2002::/16) addresses, since a gateway forwards them to the embedded IPv4 address.
func Blocked(addr netip.Addr) bool {
	return reason(addr) != ""
}

// reason returns why addr is blocked, or "" when it is allowed.
func reason(addr netip.Addr) string {
	if !addr.IsValid() {
		return "invalid address"
	}
	// Prefix.Contains never matches an address with a zone, so the zone must go first.
	addr = addr.WithZone("").Unmap()
	if addr.Is4() {
		for _, r := range blockedV4 {
			if r.prefix.Contains(addr) {
				return r.reason
			}
		}
		return ""
	}
	if v4, ok := embeddedV4(addr); ok {
		if why := reason(v4); why != "" {
			return why + " (embedded in " + addr.String() + ")"
		}
		return ""
	}
	for _, r := range blockedV6 {
		if r.prefix.Contains(addr) {
			return r.reason
		}
	}
	return ""
}

// embeddedV4 returns the IPv4 address that a NAT64, IPv4-translated or 6to4 address carries.
func embeddedV4(addr netip.Addr) (netip.Addr, bool) {
	b := addr.As16()
	switch {
	case nat64.Contains(addr), translated.Contains(addr):
		return netip.AddrFrom4([4]byte(b[12:16])), true
	case sixToFour.Contains(addr):
		return netip.AddrFrom4([4]byte(b[2:6])), true
	}
	return netip.Addr{}, false
}
