// Package sender sends one webhook delivery attempt and classifies its outcome.
//
// It does not retry, schedule or log: the caller judges the Outcome by the webhook's delivery
// policy (Outcome.Unsendable marks what no retry would send), decides whether and when to try
// again, and records it. Every connection, to the target and to an OAuth 2.0 token
// endpoint, goes through a safedial.Dialer. Neither an Outcome nor anything else this package
// returns ever carries the target's credentials.
package sender

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/hookd/hookd/adapters/safedial"
	"github.com/hookd/hookd/domain/webhook"
)

// Defaults Config falls back to.
const (
	// DefaultTimeout bounds an attempt whose Request has no Timeout (a webhook ttl of 0).
	DefaultTimeout = 10 * time.Second
	// DefaultMaxResponseBytes is how much of a response body is read and kept.
	DefaultMaxResponseBytes = 64 << 10
	// DefaultUserAgent is sent when Config has none; hookd passes "hookd/<version>".
	DefaultUserAgent = "hookd"
	// DefaultIdleConnsPerHost is how many idle connections to one host are kept when Config says
	// nothing.
	DefaultIdleConnsPerHost = 64
	// DefaultMaxResponseHeaderBytes bounds a response's status line and headers. Go's own default
	// is 10 MiB per response: 64 attempts in flight to a receiver that answers with megabytes of
	// headers would hold hundreds of MB. No receiver needs more than a few KiB to say how it went.
	DefaultMaxResponseHeaderBytes = 32 << 10
)

// Config builds a Sender. Zero fields take the defaults above, except Dialer, which is required.
type Config struct {
	// Dialer opens every outbound connection (targets and token endpoints). Required.
	Dialer *safedial.Dialer
	// UserAgent is sent on every delivery: "hookd/<version>".
	UserAgent string
	// DefaultTimeout bounds an attempt whose Request.Timeout is 0.
	DefaultTimeout time.Duration
	// MaxResponseBytes is how much of a response body is read and kept as the excerpt.
	MaxResponseBytes int64
	// MaxResponseHeaderBytes bounds a response's status line and headers; an answer with more is
	// dropped unread and its attempt fails with ClassResponseTooLarge.
	MaxResponseHeaderBytes int64
	// Clock measures durations and token lifetimes; nil means time.Now.
	Clock func() time.Time
	// IdleConnsPerHost is how many idle connections to one host are kept for reuse; 64 when zero.
	// Set it to the most attempts the caller sends to one endpoint at once: with fewer, connections
	// are closed and dialled again whenever that many answers come back together.
	IdleConnsPerHost int
}

func (c Config) withDefaults() Config {
	if c.UserAgent == "" {
		c.UserAgent = DefaultUserAgent
	}
	if c.DefaultTimeout == 0 {
		c.DefaultTimeout = DefaultTimeout
	}
	if c.MaxResponseBytes == 0 {
		c.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if c.MaxResponseHeaderBytes == 0 {
		c.MaxResponseHeaderBytes = DefaultMaxResponseHeaderBytes
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.IdleConnsPerHost == 0 {
		c.IdleConnsPerHost = DefaultIdleConnsPerHost
	}
	return c
}

// Validate reports every problem with the configuration at once.
func (c Config) Validate() error {
	var errs []error
	if c.Dialer == nil {
		errs = append(errs, errors.New("sender: Dialer is required"))
	}
	if c.DefaultTimeout < 0 {
		errs = append(errs, errors.New("sender: DefaultTimeout must not be negative"))
	}
	if c.MaxResponseBytes < 0 {
		errs = append(errs, errors.New("sender: MaxResponseBytes must not be negative"))
	}
	if c.MaxResponseHeaderBytes < 0 {
		errs = append(errs, errors.New("sender: MaxResponseHeaderBytes must not be negative"))
	}
	if c.IdleConnsPerHost < 0 {
		errs = append(errs, errors.New("sender: IdleConnsPerHost must not be negative"))
	}
	return errors.Join(errs...)
}

// Request is one delivery attempt.
type Request struct {
	// URL is the target (api.url).
	URL string
	// Body is sent as it is, as application/json.
	Body []byte
	// Headers are the signature headers, computed by the caller for this attempt. The Content-Type,
	// User-Agent and auth headers this package sets win over any of the same name.
	Headers map[string]string
	// Endpoint says how to authenticate to the target (AuthType, Credential, OAuth fields). Its URL
	// is not used: URL is.
	Endpoint webhook.Endpoint
	// WebhookID keys the OAuth 2.0 token cache.
	WebhookID string
	// Timeout bounds one exchange with the target, headers and body read (the webhook's ttl);
	// 0 means Config.DefaultTimeout.
	Timeout time.Duration
}

// Outcome is what came of an attempt. It never holds credentials; ResponseExcerpt is whatever the
// target sent back.
type Outcome struct {
	// Status is the target's HTTP status, 0 when it did not answer.
	Status int
	// ErrorClass is "" when all went well, otherwise one of the Class constants. It can be set with
	// a non-zero Status when the body could not be read whole (ClassTimeout, ClassReset,
	// ClassTooLarge).
	ErrorClass string
	// Duration is the whole attempt, token fetch and a 401 retry included.
	Duration time.Duration
	// ResponseExcerpt is the start of the response body, at most MaxResponseBytes.
	ResponseExcerpt []byte
}

// Sender sends delivery attempts. It is safe for concurrent use; it keeps idle connections and an
// OAuth 2.0 token cache, so build one per process and share it.
type Sender struct {
	cfg    Config
	client *http.Client
	tokens *tokenCache
}

// New builds a Sender, or reports every problem with cfg.
func New(cfg Config) (*Sender, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	transport := cfg.Dialer.Transport(nil)
	// Many deliveries go to the same few receivers: keep enough idle connections to reuse them.
	transport.MaxIdleConnsPerHost = cfg.IdleConnsPerHost
	transport.MaxResponseHeaderBytes = cfg.MaxResponseHeaderBytes
	client := &http.Client{
		Transport: transport,
		// 3xx is an answer like any other: following it would send the delivery, and its
		// credentials, somewhere the integrator never configured.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return &Sender{cfg: cfg, client: client, tokens: newTokenCache()}, nil
}

// CloseIdleConnections closes the connections the Sender keeps for reuse.
func (s *Sender) CloseIdleConnections() { s.client.CloseIdleConnections() }

// Send makes one attempt: it POSTs req.Body to req.URL with the signature headers and the target's
// auth, and reads at most MaxResponseBytes of the answer. Each exchange (token fetch, request) is
// bounded by the attempt's timeout; a body larger than the limit or one that drips is cut off, not
// waited for. With oauth2, a 401 from the target makes Send fetch a new token once and try once more;
// a second 401 is the outcome (so is the first, with ErrorClass ClassOAuth2, when the new token
// cannot be had). Cancelling ctx aborts the attempt (ErrorClass ClassCanceled).
func (s *Sender) Send(ctx context.Context, req Request) Outcome {
	start := s.cfg.Clock()
	o := s.send(ctx, req)
	o.Duration = s.cfg.Clock().Sub(start)
	return o
}

func (s *Sender) send(ctx context.Context, req Request) Outcome {
	timeout := req.Timeout
	if timeout <= 0 {
		timeout = s.cfg.DefaultTimeout
	}
	ep := req.Endpoint
	switch ep.AuthType {
	case webhook.AuthOAuth2:
	case webhook.AuthNone, webhook.AuthType{}, webhook.AuthBasic, webhook.AuthBearer, webhook.AuthAPIKey:
		return s.exchange(ctx, req, timeout, "")
	default:
		return Outcome{ErrorClass: ClassInvalidRequest}
	}

	token, class := s.token(ctx, req, timeout, "")
	if class != "" {
		return Outcome{ErrorClass: class}
	}
	o := s.exchange(ctx, req, timeout, token)
	if o.Status != http.StatusUnauthorized {
		return o
	}
	token, class = s.token(ctx, req, timeout, token)
	if class != "" {
		// The target did answer 401; say so, and why there was no second try.
		o.ErrorClass = class
		return o
	}
	return s.exchange(ctx, req, timeout, token)
}

// exchange sends the request once and reads the start of the answer, all within timeout. token is
// the OAuth 2.0 access token, used only with AuthOAuth2.
func (s *Sender) exchange(ctx context.Context, req Request, timeout time.Duration, token string) Outcome {
	attemptCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	httpReq, err := http.NewRequestWithContext(attemptCtx, http.MethodPost, req.URL, bytes.NewReader(req.Body))
	if err != nil {
		// The error would quote the URL; the class is all a caller needs.
		return Outcome{ErrorClass: ClassInvalidRequest}
	}
	for name, value := range req.Headers {
		httpReq.Header.Set(name, value)
	}
	httpReq.Header.Set("Content-Type", "application/json")
	httpReq.Header.Set("User-Agent", s.cfg.UserAgent)
	c := req.Endpoint.Credential
	switch req.Endpoint.AuthType {
	case webhook.AuthBasic:
		httpReq.SetBasicAuth(c.Username, c.Password)
	case webhook.AuthBearer:
		httpReq.Header.Set("Authorization", "Bearer "+c.Token)
	case webhook.AuthAPIKey:
		httpReq.Header.Set(c.KeyName, c.KeyValue)
	case webhook.AuthOAuth2:
		httpReq.Header.Set("Authorization", "Bearer "+token)
	}

	resp, err := s.client.Do(httpReq)
	if err != nil {
		return Outcome{ErrorClass: classify(ctx, err)}
	}
	// Closing without draining drops the connection when the body is not finished, which is what a
	// huge or dripping body deserves.
	defer func() { _ = resp.Body.Close() }()

	o := Outcome{Status: resp.StatusCode}
	excerpt, err := io.ReadAll(io.LimitReader(resp.Body, s.cfg.MaxResponseBytes+1))
	if int64(len(excerpt)) > s.cfg.MaxResponseBytes {
		excerpt = excerpt[:s.cfg.MaxResponseBytes]
		o.ErrorClass = ClassTooLarge
	} else if err != nil {
		o.ErrorClass = classify(ctx, err)
	}
	if len(excerpt) > 0 {
		o.ResponseExcerpt = excerpt
	}
	return o
}
