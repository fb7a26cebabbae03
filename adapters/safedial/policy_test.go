package safedial

import (
	"net/netip"
	"testing"
)

func TestBlocked(t *testing.T) {
	t.Parallel()
	tests := []struct {
		addr    string
		blocked bool
	}{
		// Allowed: public unicast.
		{"8.8.8.8", false},
		{"1.1.1.1", false},
		{"93.184.216.34", false},
		{"100.63.255.255", false}, // just below carrier-grade NAT
		{"100.128.0.0", false},    // just above carrier-grade NAT
		{"172.15.255.255", false}, // just below 172.16/12
		{"172.32.0.0", false},     // just above 172.16/12
		{"169.253.255.255", false},
		{"223.255.255.255", false}, // last before multicast
		{"2001:4860:4860::8888", false},
		{"2606:4700:4700::1111", false},
		{"::ffff:8.8.8.8", false},
		{"64:ff9b::808:808", false}, // NAT64 of 8.8.8.8
		{"2002:808:808::1", false},  // 6to4 of 8.8.8.8

		// Loopback.
		{"127.0.0.1", true},
		{"127.255.255.254", true},
		{"::1", true},
		// Private.
		{"10.0.0.1", true},
		{"10.255.255.255", true},
		{"172.16.0.1", true},
		{"172.31.255.255", true},
		{"192.168.1.1", true},
		{"fc00::1", true},
		{"fd12:3456::1", true},
		// Link-local.
		{"169.254.0.1", true},
		{"fe80::1", true},
		{"fe80::1%eth0", true},
		{"febf::1", true},
		// Multicast.
		{"224.0.0.1", true},
		{"239.255.255.250", true},
		{"ff02::1", true},
		{"ff0e::1", true},
		// Unspecified and "this network".
		{"0.0.0.0", true},
		{"0.1.2.3", true},
		{"::", true},
		// Cloud metadata.
		{"169.254.169.254", true},
		{"fd00:ec2::254", true},
		{"100.100.100.200", true},
		// Carrier-grade NAT, broadcast, reserved.
		{"100.64.0.1", true},
		{"100.127.255.255", true},
		{"255.255.255.255", true},
		{"240.0.0.1", true},
		// Documentation and other special ranges.
		{"192.0.2.1", true},
		{"198.51.100.1", true},
		{"203.0.113.1", true},
		{"198.18.0.1", true},
		{"192.0.0.1", true},
		{"2001:db8::1", true},
		{"2001::1", true}, // Teredo
		{"fec0::1", true}, // site-local
		{"100::1", true},  // discard-only
		// IPv4-mapped and IPv4-compatible forms.
		{"::ffff:127.0.0.1", true},
		{"::ffff:7f00:1", true},
		{"::ffff:10.0.0.1", true},
		{"::ffff:169.254.169.254", true},
		{"::ffff:0.0.0.0", true},
		{"::127.0.0.1", true},
		{"::8.8.8.8", true},       // IPv4-compatible is deprecated: refused whatever it embeds
		{"::ffff:0:7f00:1", true}, // IPv4-translated (SIIT) 127.0.0.1
		// NAT64 and 6to4 embedding a blocked IPv4 address.
		{"64:ff9b::127.0.0.1", true},
		{"64:ff9b::a9fe:a9fe", true}, // 169.254.169.254
		{"64:ff9b::a00:1", true},     // 10.0.0.1
		{"64:ff9b:1::1", true},       // local-use NAT64
		{"2002:7f00:1::", true},      // 127.0.0.1
		{"2002:a9fe:a9fe::1", true},  // 169.254.169.254
		{"2002:c0a8:101::1", true},   // 192.168.1.1
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			t.Parallel()
			a := netip.MustParseAddr(tt.addr)
			if got := Blocked(a); got != tt.blocked {
				t.Errorf("Blocked(%s) = %v, want %v (reason %q)", tt.addr, got, tt.blocked, reason(a))
			}
		})
	}
}

func TestBlockedZeroAddr(t *testing.T) {
	t.Parallel()
	if !Blocked(netip.Addr{}) {
		t.Error("Blocked(zero Addr) = false, want true")
	}
}
