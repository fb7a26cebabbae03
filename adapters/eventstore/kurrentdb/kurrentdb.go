// Package kurrentdb keeps hookd's log in KurrentDB (EventStoreDB), through the esdb client of
// github.com/EventStore/EventStore-Client-Go/v4. It implements eventstore.Store.
//
// hookd's log is the part of $all whose stream names begin with one of a list of prefixes: by
// default hookd's categories (DefaultCategories), or, when Options.StreamPrefix is set, that prefix,
// which the adapter puts before every stream name it writes and takes off every name it reads. The
// prefixes are applied as a server-side filter on subscriptions and on the client side for reads of
// $all (the v4 client offers no filter for reads), so system events ($-prefixed) and other
// applications' streams never reach hookd.
//
// Every append names an exact expected revision (NoStream for a new stream) and the caller's event
// ids, so that a retried append is a no-op on the server. Errors are mapped in one place (mapError):
// a conflict matches eventlog.ErrWrongExpectedVersion, a missing stream reads as empty, and an
// unreachable or slow node matches eventlog.ErrUnavailable. Calls other than subscriptions are
// bounded by Options.Timeout.
//
// The client closes itself for good when its very first connection fails, and strands calls that
// wait for it while it rediscovers a node that is down. The adapter therefore replaces a client as
// soon as a call finds it broken, never waits on one beyond the call's deadline, and lets a new
// client make one call (a probe) before others, so hookd started before KurrentDB recovers by
// itself and an outage answers promptly with errors matching eventlog.ErrUnavailable. Subscriptions
// resubscribe from the last event they delivered when the node drops them or restarts.
//
// Testing: the conformance suite and the failure tests run on every `make test` against
// kurrentdbtest, a protocol-level test server. The conformance suite also runs against a real node
// when HOOKD_TEST_KURRENTDB_URL names one; the failure tests need the test server's controls (stop,
// restart, refuse, drop). kurrentdbtest's package doc lists what the test server cannot prove.
package kurrentdb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/hookd/hookd/application/eventstore"
	"github.com/hookd/hookd/domain/delivery"
	"github.com/hookd/hookd/domain/license"
	"github.com/hookd/hookd/domain/publication"
	"github.com/hookd/hookd/domain/servicekey"
	"github.com/hookd/hookd/domain/webhook"
)

// DefaultCategories are the stream-name prefixes of hookd's streams, its log when no StreamPrefix is
// set.
var DefaultCategories = []string{
	webhook.StreamPrefix, license.StreamPrefix, servicekey.StreamPrefix, publication.StreamPrefix, delivery.StreamPrefix,
	webhook.HealthStreamPrefix,
}

// DefaultTimeout bounds each call but subscriptions when Options.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// ErrClosed is returned by calls on a Store after Close.
var ErrClosed = errors.New("kurrentdb: closed")

// Options configure a Store.
type Options struct {
	// URL is the connection string: esdb://, esdb+discover://, kurrentdb:// or kurrentdb+discover://,
	// with TLS, certificates and credentials as the string says (e.g.
	// "esdb://admin:changeit@host:2113?tls=true&tlsCAFile=ca.crt"). Required.
	URL string

	// StreamPrefix, when set, is put before every stream name hookd writes and taken off every name
	// it reads, and it alone decides which streams make hookd's log: several hookd installations
	// can share a cluster with prefixes of their own. It must not begin with "$".
	StreamPrefix string

	// Categories are the prefixes of the streams that make hookd's log when StreamPrefix is empty.
	// Default DefaultCategories. None may be empty or begin with "$".
	Categories []string

	// Timeout bounds each call other than a subscription, so an unreachable node answers with an
	// error matching eventlog.ErrUnavailable instead of a hang. Default DefaultTimeout.
	Timeout time.Duration

	// Logger receives the adapter's diagnostics (resubscriptions, rebuilt clients) and, at debug
	// level, the client's. Nil discards them.
	Logger *slog.Logger
}

// Validate reports every problem with o.
func (o Options) Validate() error {
	var errs []error
	if o.URL == "" {
		errs = append(errs, errors.New("kurrentdb: URL is required"))
	} else if _, err := parseURL(o.URL); err != nil {
		errs = append(errs, err)
	}
	if strings.HasPrefix(o.StreamPrefix, "$") {
		errs = append(errs, errors.New("kurrentdb: StreamPrefix must not begin with $: those are system streams"))
	}
	for _, c := range o.Categories {
		if c == "" || strings.HasPrefix(c, "$") {
			errs = append(errs, fmt.Errorf("kurrentdb: category %q must be non-empty and not begin with $", c))
		}
	}
	if o.Timeout < 0 {
		errs = append(errs, errors.New("kurrentdb: Timeout must not be negative"))
	}
	return errors.Join(errs...)
}

// kurrentSchemes maps KurrentDB's connection-string schemes to the esdb ones the v4 client reads.
var kurrentSchemes = map[string]string{
	"kurrentdb://":          "esdb://",
	"kurrentdb+discover://": "esdb+discover://",
	"kurrent://":            "esdb://",
	"kurrent+discover://":   "esdb+discover://",
}

// parseURL reads a connection string. The v4 client knows only the esdb schemes; kurrentdb:// is
// the same protocol under KurrentDB's name.
func parseURL(url string) (*esdb.Configuration, error) {
	for from, to := range kurrentSchemes {
		if rest, ok := strings.CutPrefix(url, from); ok {
			url = to + rest
			break
		}
	}
	conf, err := esdb.ParseConnectionString(url)
	if err != nil {
		// The error may quote the string, credentials included; say only what is wrong.
		return nil, errors.New("kurrentdb: URL is not a valid connection string")
	}
	return conf, nil
}

// Store is hookd's log in KurrentDB. All methods are safe for concurrent use.
type Store struct {
	opts     Options
	prefixes []string // what makes a stream hookd's, as full KurrentDB names
	log      *slog.Logger

	// ctx ends when Close begins; every call and subscription watches it.
	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	current *client
	closed  bool

	closeOnce sync.Once
}

var _ eventstore.Store = (*Store)(nil)

// client is one esdb.Client, the calls using it and what is known of its connection.
//
// The v4 client (re)discovers its node inside one goroutine and, when discovery fails, that
// goroutine exits: every call blocked meanwhile on the client's unbuffered channel (to get a
// connection, or to report a failure) then waits forever, whatever its context says. Hence:
//   - calls run in goroutines of their own; the caller waits no longer than its deadline;
//   - a client that any call finds broken is replaced at once by a new one, and the callers of
//     calls still in flight on it are released with an error matching eventlog.ErrUnavailable
//     (which, like a timeout, leaves open whether the call took effect);
//   - a new client admits one call, the probe, until it has answered once; calls arriving
//     meanwhile wait for the probe's outcome within their deadline;
//   - a client is closed only when retired and unused: closing it under a blocked call would
//     make that call panic. A call stranded for good keeps its retired client, and nothing else.
type client struct {
	esdb    *esdb.Client
	users   int
	retired bool
	// connected: a call has had an answer. probing: a call is finding out; probed is closed when
	// it knows or the client is retired.
	connected bool
	probing   bool
	probed    chan struct{}
	// failed is closed when the client is retired, releasing the callers of calls in flight.
	failed chan struct{}
}

var (
	// errConnectionFailed answers calls in flight when another call found the connection broken.
	errConnectionFailed = errors.New("kurrentdb: the connection failed during the call")
	// errProbing answers calls whose deadline passed while another call found out whether the
	// node is up, or whose probe found it down.
	errProbing = errors.New("kurrentdb: the node did not answer a probe")
)

// Open checks opts and builds the client. It does not connect: the client connects on the first
// call, so Open succeeds while KurrentDB is still starting. ctx is unused but kept for the shape
// every adapter's Open has.
func Open(_ context.Context, opts Options) (*Store, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if opts.Timeout == 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Store{opts: opts, log: opts.Logger}
	if opts.StreamPrefix != "" {
		s.prefixes = []string{opts.StreamPrefix}
	} else if len(opts.Categories) > 0 {
		s.prefixes = append([]string(nil), opts.Categories...)
	} else {
		s.prefixes = DefaultCategories
	}
	c, err := s.newClient()
	if err != nil {
		return nil, err
	}
	s.current = c
	// The store's lifetime is not the caller's: Close ends it.
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

func (s *Store) newClient() (*client, error) {
	conf, err := parseURL(s.opts.URL)
	if err != nil {
		return nil, err
	}
	// The client logs every failed call at error level to stdout by default.
	conf.Logger = func(level esdb.LogLevel, format string, args ...any) {
		s.log.Debug("kurrentdb client: "+fmt.Sprintf(format, args...), "level", level)
	}
	c, err := esdb.NewClient(conf)
	if err != nil {
		return nil, fmt.Errorf("kurrentdb: %w", err)
	}
	return &client{esdb: c, failed: make(chan struct{})}, nil
}

// lease is one call's hold on a client.
type lease struct {
	c      *client
	probe  bool
	failed <-chan struct{}
}

// acquire hands out the current client for one call or subscription. While another call probes a
// new client, it waits for the outcome as long as ctx lets it and fails if the probe found no
// node. settle records how the call went; release gives the client back.
func (s *Store) acquire(ctx context.Context) (lease, error) {
	waited := false
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return lease{}, ErrClosed
		}
		c := s.current
		if !c.connected && (c.probing || waited) {
			if waited {
				// The probe this call waited for found no node: answer now rather than queue
				// behind the next probe.
				s.mu.Unlock()
				return lease{}, errProbing
			}
			wait := c.probed
			s.mu.Unlock()
			select {
			case <-wait:
				waited = true
				continue
			case <-ctx.Done():
				return lease{}, errProbing
			}
		}
		l := lease{c: c, failed: c.failed}
		if !c.connected {
			c.probing, c.probed, l.probe = true, make(chan struct{}), true
		}
		c.users++
		s.mu.Unlock()
		return l, nil
	}
}

// settle records what a call learned of the connection: an answer proves it; a failure that may
// pass, unless the caller gave up first, retires the client.
func (s *Store) settle(l lease, callerCtx context.Context, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := l.c
	if l.probe && c.probing {
		c.probing = false
		close(c.probed)
	}
	switch {
	case err == nil || !retryable(err):
		c.connected = true
	case callerCtx.Err() == nil:
		s.replaceLocked(c)
	}
}

func (s *Store) release(c *client) {
	s.mu.Lock()
	c.users--
	closeIt := c.retired && c.users == 0
	s.mu.Unlock()
	if closeIt {
		_ = c.esdb.Close()
	}
}

// replace retires c and puts a new client in its place, unless another call did so already.
func (s *Store) replace(c *client) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.replaceLocked(c)
}

func (s *Store) replaceLocked(c *client) {
	if s.closed || s.current != c {
		return
	}
	fresh, err := s.newClient()
	if err != nil {
		// The URL parsed at Open, so this does not happen; the old client stays.
		s.log.Error("kurrentdb: rebuilding the client", "err", err)
		return
	}
	s.current = fresh
	s.retire(c)
	s.log.Debug("kurrentdb: replaced a client that found its connection broken")
}

// retire marks c for closing by its last user, or closes it now, and wakes whoever waits on it.
// The caller holds mu.
func (s *Store) retire(c *client) {
	c.retired = true
	close(c.failed)
	if c.probing {
		c.probing = false
		close(c.probed)
	}
	if c.users == 0 {
		_ = c.esdb.Close()
	}
}

// withClient runs call with a client and a context bounded by the store's lifetime and by
// Options.Timeout, and returns when call does, when that context ends or when the client is found
// broken, whichever is first (see client). A call abandoned at its deadline retires the client,
// which may be stuck. call must not share state with the caller but through its result.
func (s *Store) withClient(ctx context.Context, call func(ctx context.Context, c *esdb.Client) error) error {
	callCtx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	defer context.AfterFunc(s.ctx, cancel)()
	l, err := s.acquire(callCtx)
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() {
		err := call(callCtx, l.c.esdb)
		s.settle(l, ctx, err)
		s.release(l.c)
		done <- err
	}()
	select {
	case err = <-done:
		return err
	case <-callCtx.Done():
	case <-l.failed:
	}
	select {
	case err = <-done: // finished meanwhile: its own answer is better
		return err
	default:
	}
	if ctx.Err() == nil {
		s.replace(l.c)
	}
	return errConnectionFailed
}

// Close ends open subscriptions with an error matching eventlog.ErrSubscriptionDropped and cancels
// calls in flight; the client closes when the last of them lets go of it. It is safe to call more
// than once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.closed = true
		s.cancel()
		s.retire(s.current)
	})
	return nil
}

// full is the KurrentDB name of one of hookd's streams.
func (s *Store) full(stream string) string { return s.opts.StreamPrefix + stream }

// ours reports whether a KurrentDB stream belongs to hookd's log.
func (s *Store) ours(stream string) bool {
	for _, p := range s.prefixes {
		if strings.HasPrefix(stream, p) {
			return true
		}
	}
	return false
}
