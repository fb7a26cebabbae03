package safedial

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// ErrInvalidURL is wrapped by CheckURL when the URL cannot be a webhook target at all: it does not
// parse, has no host, a scheme other than http or https, or a host that looks like an IPv4 address
// but is not a valid one (browsers and inet_aton refuse such hosts too, and a resolver might not).
var ErrInvalidURL = errors.New("safedial: invalid target URL")

// CheckURL validates a webhook or token URL when it is created or updated. It rejects the URL with a
// *BlockedError (errors.Is ErrBlocked) when its host is a literal blocked address in any spelling
// that the WHATWG URL host parser or inet_aton accepts: dotted decimal, a single integer
// (2130706433), hex (0x7f000001, 0x7f.0.0.1), octal (0177.0.0.1), shortened forms (127.1),
// IPv4-mapped IPv6 ([::ffff:7f00:1]), IPv6 with a zone, percent-encoded hosts, Unicode forms that
// IDNA maps to ASCII (fullwidth digits), a trailing dot, and the names localhost and *.localhost. Other host names pass: they are checked again on every dial
// by Dialer, which is the check that counts; CheckURL only gives the integrator an early, clear
// answer.
func CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%w: scheme %q, want http or https", ErrInvalidURL, u.Scheme)
	}
	host := u.Hostname()
	if host == "" {
		return fmt.Errorf("%w: no host", ErrInvalidURL)
	}
	return checkHost(host)
}

// checkHost applies CheckURL's rules to a host taken from a URL (brackets and port removed).
func checkHost(host string) error {
	// url.Parse already decodes the escapes it accepts in a host; decoding again catches what other
	// parsers along the way would decode (WHATWG decodes before parsing the host).
	if strings.Contains(host, "%") && !strings.Contains(host, ":") {
		dec, err := url.PathUnescape(host)
		if err != nil {
			return fmt.Errorf("%w: host %q: %w", ErrInvalidURL, host, err)
		}
		host = dec
	}
	name := host
	if !isASCII(name) {
		// net/http maps a non-ASCII host through IDNA (UTS #46) before dialing, and so do browsers:
		// fullwidth digits and the ideographic full stop turn "１２７。０。０。１" into 127.0.0.1.
		// Map it the same way so such spellings are judged as what will be dialed.
		ascii, err := idna.Lookup.ToASCII(name)
		if err != nil {
			return fmt.Errorf("%w: host %q: %w", ErrInvalidURL, host, err)
		}
		name = ascii
	}
	name = strings.ToLower(name)

	if strings.Contains(name, ":") {
		// IPv6 literal, possibly with a zone; url.Parse has removed the brackets.
		a, err := netip.ParseAddr(name)
		if err != nil {
			return fmt.Errorf("%w: host %q: %w", ErrInvalidURL, host, err)
		}
		if Blocked(a) {
			return &BlockedError{Host: host, Addr: a}
		}
		return nil
	}

	// One trailing dot makes a name fully qualified and changes nothing else ("localhost.",
	// "127.0.0.1."), in DNS and in the WHATWG IPv4 parser alike.
	name = strings.TrimSuffix(name, ".")
	if name == "localhost" || strings.HasSuffix(name, ".localhost") {
		// RFC 6761: localhost and its subdomains are loopback; resolvers may answer without DNS.
		return &BlockedError{Host: host}
	}

	a, isV4, err := parseIPv4(name)
	if err != nil {
		return fmt.Errorf("%w: host %q: %w", ErrInvalidURL, host, err)
	}
	if isV4 && Blocked(a) {
		return &BlockedError{Host: host, Addr: a}
	}
	return nil
}

// parseIPv4 parses host the way the WHATWG URL standard's IPv4 parser does, which accepts what
// inet_aton accepts: one to four parts separated by dots, each decimal, octal (leading 0) or hex
// (leading 0x); the last part fills the remaining bytes (127.1 is 127.0.0.1, 2130706433 is
// 127.0.0.1). isV4 is false when host is a domain name: its last part is not a number. When the last
// part is a number but the whole is not a valid address, parseIPv4 returns an error, as browsers do.
func parseIPv4(host string) (addr netip.Addr, isV4 bool, err error) {
	parts := strings.Split(host, ".")
	if parts[len(parts)-1] == "" && len(parts) > 1 {
		parts = parts[:len(parts)-1]
	}
	if !looksNumeric(parts[len(parts)-1]) {
		return netip.Addr{}, false, nil
	}
	if len(parts) > 4 {
		return netip.Addr{}, true, errors.New("more than four IPv4 parts")
	}
	nums := make([]uint64, len(parts))
	for i, p := range parts {
		n, err := parseIPv4Part(p)
		if err != nil {
			return netip.Addr{}, true, err
		}
		nums[i] = n
	}
	for _, n := range nums[:len(nums)-1] {
		if n > 255 {
			return netip.Addr{}, true, errors.New("IPv4 part out of range")
		}
	}
	last := nums[len(nums)-1]
	if last >= 1<<(8*(5-len(nums))) {
		return netip.Addr{}, true, errors.New("IPv4 address out of range")
	}
	v := last
	for i, n := range nums[:len(nums)-1] {
		v |= n << (8 * (3 - i))
	}
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), true, nil
}

// looksNumeric is the WHATWG "ends in a number" test for the last part of a host: all decimal
// digits, or 0x followed by hex digits (possibly none).
func looksNumeric(part string) bool {
	if part == "" {
		return false
	}
	if allIn(part, "0123456789") {
		return true
	}
	if len(part) >= 2 && part[0] == '0' && (part[1] == 'x' || part[1] == 'X') {
		return allIn(part[2:], "0123456789abcdefABCDEF")
	}
	return false
}

// parseIPv4Part parses one part: 0x prefix for hex (0x alone is 0), a leading 0 for octal, decimal
// otherwise. Values are capped at 2^32 by the caller's range checks, so anything wider fails here.
func parseIPv4Part(part string) (uint64, error) {
	if part == "" {
		return 0, errors.New("empty IPv4 part")
	}
	base := 10
	switch {
	case len(part) >= 2 && part[0] == '0' && (part[1] == 'x' || part[1] == 'X'):
		part, base = part[2:], 16
		if part == "" {
			return 0, nil
		}
	case len(part) >= 2 && part[0] == '0':
		part, base = part[1:], 8
	}
	n, err := strconv.ParseUint(part, base, 32)
	if err != nil {
		return 0, fmt.Errorf("IPv4 part %q: %w", part, err)
	}
	return n, nil
}

// allIn reports whether every byte of s is one of chars.
func allIn(s, chars string) bool {
	for i := 0; i < len(s); i++ {
		if !strings.ContainsRune(chars, rune(s[i])) {
			return false
		}
	}
	return true
}

// isASCII reports whether s has only ASCII bytes.
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
