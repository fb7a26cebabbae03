package safedial

import (
	"errors"
	"net/netip"
	"testing"
)

func TestCheckURL(t *testing.T) {
	t.Parallel()
	const (
		ok = iota
		blocked
		invalid
	)
	tests := []struct {
		url  string
		want int
		addr string // the blocked address CheckURL must name, when want is blocked
	}{
		// Allowed: public literals and host names (names are checked at dial time).
		{"https://hooks.example.com/cb", ok, ""},
		{"https://hooks.example.com:8443/cb?x=1", ok, ""},
		{"http://8.8.8.8/", ok, ""},
		{"http://134744072/", ok, ""}, // 8.8.8.8 as one integer
		{"http://0x8.0x8.0x8.0x8/", ok, ""},
		{"http://[2001:4860:4860::8888]:443/", ok, ""},
		{"http://[::ffff:8.8.8.8]/", ok, ""},
		{"http://localhost.example.com/", ok, ""},
		{"http://mylocalhost/", ok, ""},
		{"http://1.2.3.example/", ok, ""},
		{"http://0xexample.com/", ok, ""},
		{"http://example.com./", ok, ""},

		// Dotted decimal.
		{"http://127.0.0.1/", blocked, "127.0.0.1"},
		{"http://127.0.0.1:8080/x", blocked, "127.0.0.1"},
		{"http://10.1.2.3/", blocked, "10.1.2.3"},
		{"http://169.254.169.254/latest/meta-data/", blocked, "169.254.169.254"},
		{"http://100.100.100.200/", blocked, "100.100.100.200"},
		{"http://0.0.0.0/", blocked, "0.0.0.0"},
		{"http://255.255.255.255/", blocked, "255.255.255.255"},
		{"http://127.0.0.1./", blocked, "127.0.0.1"},
		// One integer.
		{"http://2130706433/", blocked, "127.0.0.1"},
		{"http://2852039166/", blocked, "169.254.169.254"},
		{"http://0/", blocked, "0.0.0.0"},
		// Hex.
		{"http://0x7f000001/", blocked, "127.0.0.1"},
		{"http://0X7F000001/", blocked, "127.0.0.1"},
		{"http://0x7f.0.0.1/", blocked, "127.0.0.1"},
		{"http://0x7f.0x0.0x0.0x1/", blocked, "127.0.0.1"},
		{"http://0xa9fea9fe/", blocked, "169.254.169.254"},
		{"http://0x/", blocked, "0.0.0.0"},
		// Octal.
		{"http://0177.0.0.1/", blocked, "127.0.0.1"},
		{"http://017700000001/", blocked, "127.0.0.1"},
		{"http://0177.0000.0000.0001/", blocked, "127.0.0.1"},
		{"http://012.0.0.1/", blocked, "10.0.0.1"},
		// Shortened forms.
		{"http://127.1/", blocked, "127.0.0.1"},
		{"http://127.0.1/", blocked, "127.0.0.1"},
		{"http://10.1/", blocked, "10.0.0.1"},
		{"http://169.254.43518/", blocked, "169.254.169.254"},
		{"http://0x7f.1/", blocked, "127.0.0.1"},
		// Mixed bases.
		{"http://0x7f.0.00.1/", blocked, "127.0.0.1"},
		{"http://0177.0x0.1/", blocked, "127.0.0.1"},
		// IPv6 literals.
		{"http://[::1]/", blocked, "::1"},
		{"http://[::1]:8080/", blocked, "::1"},
		{"http://[::]/", blocked, "::"},
		{"http://[::ffff:127.0.0.1]/", blocked, "::ffff:127.0.0.1"},
		{"http://[::ffff:7f00:1]/", blocked, "::ffff:127.0.0.1"},
		{"http://[::FFFF:7F00:1]/", blocked, "::ffff:127.0.0.1"},
		{"http://[::ffff:a9fe:a9fe]/", blocked, "::ffff:169.254.169.254"},
		{"http://[fd00:ec2::254]/", blocked, "fd00:ec2::254"},
		{"http://[fe80::1%25eth0]/", blocked, "fe80::1%eth0"},
		{"http://[fe80::1%25eth0]:80/", blocked, "fe80::1%eth0"},
		{"http://[64:ff9b::7f00:1]/", blocked, "64:ff9b::7f00:1"},
		{"http://[2002:7f00:1::]/", blocked, "2002:7f00:1::"},
		// localhost names.
		{"http://localhost/", blocked, ""},
		{"http://localhost:8080/", blocked, ""},
		{"http://LOCALHOST/", blocked, ""},
		{"http://localhost./", blocked, ""},
		{"http://api.localhost/", blocked, ""},
		{"http://a.b.localhost./", blocked, ""},
		// Percent-encoded hosts. Go's URL parser refuses escaped ASCII in a host outright; an escaped
		// percent sign survives it and is decoded by checkHost.
		{"http://%31%32%37.0.0.1/", invalid, ""},
		{"http://%6c%6f%63%61%6c%68%6f%73%74/", invalid, ""},
		{"http://%2531%2532%2537.0.0.1/", blocked, "127.0.0.1"},
		{"http://%256c%256f%2563alhost/", blocked, ""},
		// Unicode spellings that IDNA (and so net/http and browsers) map to ASCII.
		{"http://１２７。０。０。１/", blocked, "127.0.0.1"},
		{"http://127．0．0．1/", blocked, "127.0.0.1"},
		{"http://０ｘ７ｆ.1/", blocked, "127.0.0.1"},
		{"http://ｌｏｃａｌｈｏｓｔ/", blocked, ""},
		{"http://%EF%BC%91%EF%BC%92%EF%BC%97.0.0.1/", blocked, "127.0.0.1"}, // percent-encoded fullwidth 127
		{"http://bücher.example/", ok, ""},

		// Invalid: IPv4-looking hosts that are not addresses, bad schemes, no host.
		{"http://256.0.0.1/", invalid, ""},
		{"http://127.0.0.0.1/", invalid, ""},
		{"http://4294967296/", invalid, ""},
		{"http://1.2.65536/", invalid, ""},
		{"http://08.0.0.1/", invalid, ""},
		{"http://0x7g.0.0.1/", invalid, ""}, // ends in a number, so it must be IPv4, and is not
		{"http://example.123/", invalid, ""},
		{"ftp://example.com/", invalid, ""},
		{"file:///etc/passwd", invalid, ""},
		{"gopher://127.0.0.1/", invalid, ""},
		{"http:///path", invalid, ""},
		{"http://[::1/", invalid, ""},
		{"://nope", invalid, ""},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			t.Parallel()
			err := CheckURL(tt.url)
			switch tt.want {
			case ok:
				if err != nil {
					t.Fatalf("CheckURL(%q) = %v, want nil", tt.url, err)
				}
			case invalid:
				if !errors.Is(err, ErrInvalidURL) {
					t.Fatalf("CheckURL(%q) = %v, want ErrInvalidURL", tt.url, err)
				}
			case blocked:
				var be *BlockedError
				if !errors.As(err, &be) || !errors.Is(err, ErrBlocked) {
					t.Fatalf("CheckURL(%q) = %v, want *BlockedError", tt.url, err)
				}
				var want netip.Addr
				if tt.addr != "" {
					want = netip.MustParseAddr(tt.addr)
				}
				if be.Addr != want {
					t.Errorf("CheckURL(%q): blocked address %v, want %v", tt.url, be.Addr, want)
				}
			}
		})
	}
}
