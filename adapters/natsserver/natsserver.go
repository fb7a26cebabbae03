// Package natsserver runs a NATS server with JetStream inside hookd's process, alone or clustered with
// the embedded servers of other hookd nodes, so that a small cluster of hookd needs no separate NATS.
// An external NATS cluster is the better choice when the NATS servers should outlive, or be sized and
// upgraded apart from, the hookd nodes.
package natsserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// DefaultReadyTimeout bounds how long Start waits for the server to accept clients and, clustered, for
// JetStream to have a meta leader.
const DefaultReadyTimeout = 30 * time.Second

// Config says how to run the embedded server. StoreDir is required.
type Config struct {
	// StoreDir is where JetStream keeps its files; hookd passes a directory inside its data directory.
	StoreDir string
	// Name names the server; in a cluster each server needs its own (optional: the server makes one).
	Name string
	// Host and Port are where clients connect (optional: 127.0.0.1 and 4222; Port -1 picks a free one).
	Host string
	Port int
	// Cluster, when set, clusters this server with the others named in its Routes.
	Cluster *Cluster
	// ReadyTimeout bounds Start's wait (optional: DefaultReadyTimeout).
	ReadyTimeout time.Duration
	// Logger receives the server's notices, warnings and errors (optional: none).
	Logger *slog.Logger
}

// Cluster says how the embedded server meets the other nodes' servers.
type Cluster struct {
	// Name is the cluster's name, the same on every server.
	Name string
	// Host and Port are where this server listens for the other servers' routes (Port -1 picks a
	// free one).
	Host string
	Port int
	// Routes are the other servers' route URLs, for example nats-route://10.0.0.2:6222. Listing
	// this server's own address too is harmless, so every node can be given the same list.
	Routes []string
}

// Server is a running embedded NATS server.
type Server struct {
	srv *server.Server
}

// Start starts the server and returns once it accepts clients and JetStream answers (clustered: once
// the cluster has elected a JetStream meta leader, which takes a majority of the servers up). ctx
// bounds the wait as well as ReadyTimeout.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	opts, err := cfg.options()
	if err != nil {
		return nil, err
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("natsserver: %w", err)
	}
	if cfg.Logger != nil {
		srv.SetLoggerV2(slogAdapter{cfg.Logger}, false, false, false)
	}
	go srv.Start()
	timeout := cfg.ReadyTimeout
	if timeout <= 0 {
		timeout = DefaultReadyTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	s := &Server{srv: srv}
	if err := s.waitReady(ctx); err != nil {
		s.Shutdown()
		return nil, err
	}
	return s, nil
}

func (cfg Config) options() (*server.Options, error) {
	if cfg.StoreDir == "" {
		return nil, errors.New("natsserver: StoreDir is required")
	}
	opts := &server.Options{
		ServerName: cfg.Name,
		Host:       cfg.Host,
		Port:       cfg.Port,
		JetStream:  true,
		StoreDir:   cfg.StoreDir,
		NoSigs:     true, // hookd handles the process's signals
		NoLog:      cfg.Logger == nil,
	}
	if opts.Host == "" {
		opts.Host = "127.0.0.1"
	}
	if opts.Port == 0 {
		opts.Port = server.DEFAULT_PORT
	}
	if c := cfg.Cluster; c != nil {
		if c.Name == "" {
			return nil, errors.New("natsserver: Cluster.Name is required")
		}
		if cfg.Name == "" {
			return nil, errors.New("natsserver: a clustered server needs a Name of its own")
		}
		opts.Cluster = server.ClusterOpts{Name: c.Name, Host: c.Host, Port: c.Port}
		if opts.Cluster.Host == "" {
			opts.Cluster.Host = "127.0.0.1"
		}
		for _, r := range c.Routes {
			u, err := url.Parse(r)
			if err != nil || u.Host == "" {
				return nil, fmt.Errorf("natsserver: route %q is not a URL such as nats-route://host:6222", r)
			}
			opts.Routes = append(opts.Routes, u)
		}
	}
	return opts, nil
}

func (s *Server) waitReady(ctx context.Context) error {
	deadline, _ := ctx.Deadline()
	if !s.srv.ReadyForConnections(time.Until(deadline)) {
		return errors.New("natsserver: the server did not accept clients in time")
	}
	nc, err := nats.Connect("", nats.InProcessServer(s.srv))
	if err != nil {
		return fmt.Errorf("natsserver: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("natsserver: %w", err)
	}
	// AccountInfo answers only once JetStream is up and, clustered, has a meta leader.
	for {
		// Each try has its own short deadline: a request made before there is a leader may go
		// unanswered.
		try, cancel := context.WithTimeout(ctx, time.Second)
		_, err := js.AccountInfo(try)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("natsserver: JetStream not ready: %w", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// ClientURL is the URL clients connect to.
func (s *Server) ClientURL() string { return s.srv.ClientURL() }

// ClusterURL is the URL other servers route to (empty when not clustered).
func (s *Server) ClusterURL() string {
	addr := s.srv.ClusterAddr()
	if addr == nil {
		return ""
	}
	return "nats-route://" + addr.String()
}

// Name is the server's name.
func (s *Server) Name() string { return s.srv.Name() }

// IsStreamLeader reports whether this server leads the stream (in the global account) in a cluster.
func (s *Server) IsStreamLeader(stream string) bool {
	return s.srv.JetStreamIsStreamLeader(server.DEFAULT_GLOBAL_ACCOUNT, stream)
}

// Shutdown stops the server and waits until it has; JetStream's files are flushed, so a server started
// again on the same StoreDir finds its streams.
func (s *Server) Shutdown() {
	s.srv.Shutdown()
	s.srv.WaitForShutdown()
}

// slogAdapter passes the server's log to slog; debug and trace are off.
type slogAdapter struct{ log *slog.Logger }

func (a slogAdapter) Noticef(format string, v ...any) { a.log.Info(fmt.Sprintf(format, v...)) }
func (a slogAdapter) Warnf(format string, v ...any)   { a.log.Warn(fmt.Sprintf(format, v...)) }
func (a slogAdapter) Fatalf(format string, v ...any)  { a.log.Error(fmt.Sprintf(format, v...)) }
func (a slogAdapter) Errorf(format string, v ...any)  { a.log.Error(fmt.Sprintf(format, v...)) }
func (a slogAdapter) Debugf(format string, v ...any)  { a.log.Debug(fmt.Sprintf(format, v...)) }
func (a slogAdapter) Tracef(format string, v ...any)  { a.log.Debug(fmt.Sprintf(format, v...)) }
