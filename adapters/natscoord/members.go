package natscoord

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Defaults of MembersConfig.
const (
	DefaultMembersBucket = "hookd_nodes"
	// DefaultHeartbeatTTL is how long a node counts as live after its last heartbeat; it beats every
	// third of it, so two heartbeats can be lost before it drops out.
	DefaultHeartbeatTTL = 10 * time.Second
)

// nodesPrefix starts every heartbeat's key: nodes.<nodeID>.
const nodesPrefix = "nodes."

// MembersConfig says how a node announces itself. Conn and NodeID are required.
type MembersConfig struct {
	// Conn is the connection to use; Members never closes it.
	Conn *nats.Conn
	// NodeID is this node's id, unique in the cluster.
	NodeID string
	// Roles are this node's roles (api, deliver).
	Roles []string
	// Bucket is the key-value bucket of the heartbeats (DefaultMembersBucket). Its TTL is the
	// heartbeat TTL; a bucket that exists with another TTL is refused.
	Bucket string
	// TTL is how long a heartbeat lasts (DefaultHeartbeatTTL); at least 300 ms.
	TTL time.Duration
	// Replicas is how many servers keep the bucket (0: 3 when the server is in a cluster, else 1).
	Replicas int
	// Logger is optional.
	Logger *slog.Logger
}

// Member is a live node as its last heartbeat describes it.
type Member struct {
	NodeID string   `json:"nodeId"`
	Roles  []string `json:"roles"`
}

// Members announces this node by heartbeats and counts the live nodes; it is safe for concurrent
// use.
type Members struct {
	cfg MembersConfig
	kv  jetstream.KeyValue

	mu   sync.Mutex
	live []Member // as of the last refresh
}

// NewMembers opens (or creates) the heartbeat bucket.
func NewMembers(ctx context.Context, cfg MembersConfig) (*Members, error) {
	if cfg.Conn == nil {
		return nil, errors.New("natscoord: members: Conn is required")
	}
	if err := checkToken("node id", cfg.NodeID); err != nil {
		return nil, err
	}
	if cfg.Bucket == "" {
		cfg.Bucket = DefaultMembersBucket
	}
	if cfg.TTL == 0 {
		cfg.TTL = DefaultHeartbeatTTL
	}
	if cfg.TTL < 300*time.Millisecond {
		return nil, fmt.Errorf("natscoord: heartbeat TTL %s is under 300ms", cfg.TTL)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	kv, err := openTTLBucket(ctx, cfg.Conn, cfg.Replicas, "heartbeats", jetstream.KeyValueConfig{
		Bucket:      cfg.Bucket,
		Description: "hookd heartbeats: one key per live node",
		History:     1,
		TTL:         cfg.TTL,
	})
	if err != nil {
		return nil, err
	}
	return &Members{cfg: cfg, kv: kv}, nil
}

// Run beats every TTL/3, refreshing Live after each beat, until ctx ends; then it deletes this
// node's heartbeat, so that the others count it out at once, and returns nil. A failed beat or
// refresh is logged and tried again at the next beat (Live keeps its last value meanwhile).
func (m *Members) Run(ctx context.Context) error {
	value, _ := json.Marshal(Member{NodeID: m.cfg.NodeID, Roles: m.cfg.Roles}) // strings always marshal
	key := nodesPrefix + m.cfg.NodeID
	tick := time.NewTicker(m.cfg.TTL / 3)
	defer tick.Stop()
	for {
		try, cancel := context.WithTimeout(ctx, m.cfg.TTL/3)
		_, err := m.kv.Put(try, key, value)
		if err == nil {
			_, err = m.refresh(try)
		}
		cancel()
		if err != nil && ctx.Err() == nil {
			m.cfg.Logger.Warn("heartbeat failed", "node", m.cfg.NodeID, "error", err)
		}
		select {
		case <-ctx.Done():
			stop, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.cfg.TTL/3)
			defer cancel()
			if err := m.kv.Delete(stop, key); err != nil {
				m.cfg.Logger.Warn("heartbeat not withdrawn; it expires after its TTL", "node", m.cfg.NodeID, "error", err)
			}
			return nil
		case <-tick.C:
		}
	}
}

// Members returns the live nodes, read from the bucket now, ordered by id.
func (m *Members) Members(ctx context.Context) ([]Member, error) {
	w, err := m.kv.Watch(ctx, nodesPrefix+">", jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("natscoord: members: %w", err)
	}
	defer func() { _ = w.Stop() }()
	var members []Member
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				return nil, errors.New("natscoord: members: the watch ended early")
			}
			if e == nil { // every current heartbeat was read
				slices.SortFunc(members, func(a, b Member) int { return strings.Compare(a.NodeID, b.NodeID) })
				return members, nil
			}
			var mb Member
			if err := json.Unmarshal(e.Value(), &mb); err != nil {
				m.cfg.Logger.Warn("heartbeat unreadable; not counted", "key", e.Key(), "error", err)
				continue
			}
			members = append(members, mb)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Count returns how many live nodes have role, read from the bucket now.
func (m *Members) Count(ctx context.Context, role string) (int, error) {
	members, err := m.Members(ctx)
	if err != nil {
		return 0, err
	}
	return countRole(members, role), nil
}

func (m *Members) refresh(ctx context.Context) ([]Member, error) {
	members, err := m.Members(ctx)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	m.live = members
	m.mu.Unlock()
	return members, nil
}

// Live returns how many nodes with role were live at the last heartbeat (0 before the first): a
// cached figure for the delivery path, at most TTL/3 old while NATS answers.
func (m *Members) Live(role string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return countRole(m.live, role)
}

func countRole(members []Member, role string) int {
	n := 0
	for _, mb := range members {
		if slices.Contains(mb.Roles, role) {
			n++
		}
	}
	return n
}

// Share returns one node's share of a cluster-wide limit among n live nodes: ceil(limit/n), at
// least 1, and limit itself when n < 1 (this node has not counted yet). Rounding up lets the
// cluster as a whole exceed limit by under n; a node counted late makes the shares too large by the
// same bound for up to the heartbeat TTL.
func Share(limit, n int) int {
	if n < 1 {
		n = 1
	}
	return max(1, (limit+n-1)/n)
}
