// Package kurrentdbtest is an in-memory, protocol-level KurrentDB (EventStoreDB) test server: a gRPC
// server on 127.0.0.1 that speaks the streams and server-features services of the public generated
// code in github.com/EventStore/EventStore-Client-Go/v4/protos, so that the real esdb client, and the
// hookd adapter on top of it, can be tested on a machine where no KurrentDB can run.
//
// It implements what the adapter calls, with KurrentDB's semantics as documented for the client:
//   - Append (client-streaming): an exact expected revision, "no stream", "stream exists" or "any";
//     the answer is success (current revision, position) or wrong expected version. Appending again
//     events whose ids are already in the stream right after the expected revision is a no-op that
//     answers the first append's result, as KurrentDB's idempotent writes do.
//   - Read of a stream forwards or backwards from a revision (inclusive; backwards from past the end
//     starts at the last event), answering "stream not found" for a missing stream.
//   - Read of $all forwards or backwards from a position (inclusive), the start or the end.
//   - Subscriptions to $all: a confirmation first, then the events after an exclusive start
//     position, a caught-up message, then live events; stream-name or event-type filters by prefix or
//     regular expression, with checkpoints on filtered subscriptions.
//   - ServerFeatures.GetSupportedMethods with a dotted version, system metadata type, content-type
//     and created (.NET ticks since the Unix epoch), UUIDs as two int64 halves, and a keepalive
//     enforcement policy that accepts the client's pings (every 10 s, also without streams).
//
// Positions are byte-offset-like: commit = prepare, growing by 100 per event, so nothing may assume
// that positions count events.
//
// For failure tests a Server can stop and restart on the same port (Stop, Restart), refuse new
// connections (Refuse) and drop its active subscriptions (DropSubscriptions).
//
// What it does NOT prove, and only a real node can: idempotent re-append as a real node decides it
// (this server's rule is the documented one, not the node's code), system events and other
// applications' streams in $all (this log holds only what tests append), stream metadata ($maxAge,
// ACLs), deletes and tombstones, links, how often a real node sends checkpoints on filtered
// subscriptions, leader redirects and clusters, TLS and authentication, persistent subscriptions,
// and performance. Those are covered by running the same conformance suite against a real node
// (HOOKD_TEST_KURRENTDB_URL).
package kurrentdbtest

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/serverfeatures"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
)

// Server is a running test server. Its log survives Stop and Restart and lives until the Server is
// garbage; all methods are safe for concurrent use.
type Server struct {
	log  *memLog
	addr string

	refusing atomic.Bool

	mu   sync.Mutex
	grpc *grpc.Server
	done chan struct{} // closed when the current grpc server's Serve returns
}

// Start starts a server on 127.0.0.1 on a port of the system's choosing.
func Start() (*Server, error) {
	s := &Server{log: newMemLog()}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("kurrentdbtest: %w", err)
	}
	s.addr = lis.Addr().String()
	s.serve(lis)
	return s, nil
}

// Addr is the server's host:port. It stays the same across Restart.
func (s *Server) Addr() string { return s.addr }

// URL is the connection string for the server, without TLS.
func (s *Server) URL() string { return "esdb://" + s.addr + "?tls=false" }

func (s *Server) serve(lis net.Listener) {
	g := grpc.NewServer(
		// The client pings every 10 s even without active calls; gRPC's default policy would
		// answer "too many pings" and drop idle subscriptions.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: time.Second, PermitWithoutStream: true}),
		grpc.MaxRecvMsgSize(17<<20),
	)
	streams.RegisterStreamsServer(g, &streamsService{log: s.log})
	serverfeatures.RegisterServerFeaturesServer(g, featuresService{})
	done := make(chan struct{})
	s.mu.Lock()
	s.grpc, s.done = g, done
	s.mu.Unlock()
	go func() {
		defer close(done)
		_ = g.Serve(&refusingListener{Listener: lis, refusing: &s.refusing})
	}()
}

// Stop stops listening and breaks every connection, as a crashed node would; the log is kept for
// Restart. Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	g, done := s.grpc, s.done
	s.grpc = nil
	s.mu.Unlock()
	if g == nil {
		return
	}
	g.Stop()
	<-done
}

// Restart listens again on the same address with the same log. It stops the server first if it
// runs. Another process may have taken the port meanwhile, which Restart reports.
func (s *Server) Restart() error {
	s.Stop()
	var (
		lis net.Listener
		err error
	)
	// The port may linger for a moment after Stop.
	for range 50 {
		if lis, err = net.Listen("tcp", s.addr); err == nil {
			s.serve(lis)
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("kurrentdbtest: restart on %s: %w", s.addr, err)
}

// Close stops the server for good. It is Stop under the name tests expect for cleanup.
func (s *Server) Close() { s.Stop() }

// Refuse makes the server close every new connection at once while on is true, so that a client
// connecting for the first time finds the node unavailable. Connections already open stay.
func (s *Server) Refuse(on bool) { s.refusing.Store(on) }

// DropSubscriptions ends every active subscription with an Aborted status, as a node does when it
// drops a subscriber, and reports how many it ended.
func (s *Server) DropSubscriptions() int { return s.log.dropSubscriptions() }

// Events reports how many events the log holds.
func (s *Server) Events() int { return s.log.len() }

// refusingListener closes accepted connections while refusing is set.
type refusingListener struct {
	net.Listener
	refusing *atomic.Bool
}

func (l *refusingListener) Accept() (net.Conn, error) {
	for {
		conn, err := l.Listener.Accept()
		if err != nil || !l.refusing.Load() {
			return conn, err
		}
		_ = conn.Close()
	}
}

// errStopped is what a subscription ends with when the log drops it.
var errStopped = errors.New("kurrentdbtest: subscription dropped by the server")
