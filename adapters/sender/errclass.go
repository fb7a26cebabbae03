package sender

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/hookd/hookd/adapters/safedial"
)

// Error classes an Outcome can carry. They are stable strings: callers record them in the log.
const (
	// ClassTimeout: no answer (or not the whole body) within the attempt's timeout.
	ClassTimeout = "timeout"
	// ClassRefused: the target refused the connection.
	ClassRefused = "refused"
	// ClassReset: the connection was reset or closed before a complete response.
	ClassReset = "reset"
	// ClassDNS: the target's host name did not resolve.
	ClassDNS = "dns"
	// ClassTLS: the TLS handshake failed (certificate, protocol).
	ClassTLS = "tls"
	// ClassBlocked: the outbound policy refused the destination address; no connection was made.
	ClassBlocked = "blocked"
	// ClassTooLarge: the response body was longer than MaxResponseBytes; the excerpt holds its start.
	ClassTooLarge = "too_large"
	// ClassResponseTooLarge: the response's status line and headers were longer than
	// MaxResponseHeaderBytes; the answer was dropped unread, so no status is known.
	ClassResponseTooLarge = "response_too_large"
	// ClassOAuth2: the OAuth 2.0 token could not be obtained (the token endpoint failed, answered
	// with an error or with no usable token); the target was not called.
	ClassOAuth2 = "oauth2"
	// ClassCanceled: the caller's context was cancelled (shutdown); the attempt is not the target's
	// fault and callers usually hand the delivery back rather than count the attempt.
	ClassCanceled = "canceled"
	// ClassInvalidRequest: the request could not be built (malformed URL, unknown auth type).
	ClassInvalidRequest = "invalid_request"
	// ClassNetwork: any other transport failure.
	ClassNetwork = "network"
)

// Classes lists every error class an Outcome can carry, for whoever keeps a series or a count per
// class and must know the whole set.
var Classes = []string{ClassTimeout, ClassRefused, ClassReset, ClassDNS, ClassTLS, ClassBlocked, ClassTooLarge,
	ClassResponseTooLarge, ClassOAuth2, ClassCanceled, ClassInvalidRequest, ClassNetwork}

// classify maps a transport error to an error class. parent is the caller's context: its
// cancellation is "canceled", while the attempt's own deadline is "timeout".
func classify(parent context.Context, err error) string {
	var (
		dnsErr   *net.DNSError
		netErr   net.Error
		certErr  *tls.CertificateVerificationError
		recErr   tls.RecordHeaderError
		alertErr tls.AlertError
		unkAuth  x509.UnknownAuthorityError
		hostErr  x509.HostnameError
		invErr   x509.CertificateInvalidError
	)
	switch {
	case errors.Is(err, safedial.ErrBlocked):
		return ClassBlocked
	case headersTooLarge(err):
		return ClassResponseTooLarge
	case parent.Err() != nil && !errors.Is(parent.Err(), context.DeadlineExceeded):
		return ClassCanceled
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return ClassTimeout
	case errors.Is(err, syscall.ECONNREFUSED):
		return ClassRefused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return ClassReset
	case errors.As(err, &dnsErr):
		return ClassDNS
	case errors.As(err, &certErr), errors.As(err, &recErr), errors.As(err, &alertErr),
		errors.As(err, &unkAuth), errors.As(err, &hostErr), errors.As(err, &invErr):
		return ClassTLS
	case errors.Is(err, context.Canceled):
		return ClassCanceled
	}
	return ClassNetwork
}

// headersTooLarge reports whether err is net/http's refusal of a response whose headers exceed
// Transport.MaxResponseHeaderBytes. net/http has no error value for it, only these messages (HTTP/1
// and HTTP/2), unchanged since they were added; TestSendNoResponseAndHostileResponses holds them.
func headersTooLarge(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "server response headers exceeded") ||
		strings.Contains(msg, "response header list larger than advertised limit")
}
