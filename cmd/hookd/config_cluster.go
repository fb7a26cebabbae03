package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/hookd/hookd/adapters/transport/natstransport"
)

// Role names of HOOKD_ROLES.
const (
	roleAPI     = "api"
	roleDeliver = "deliver"
)

// roles lists the node's roles, as its heartbeat announces them.
func (c config) roles() []string {
	var out []string
	if c.API {
		out = append(out, roleAPI)
	}
	if c.Deliver {
		out = append(out, roleDeliver)
	}
	return out
}

// natsConfig is the cluster profile's NATS: where to connect, and the embedded server, if any.
type natsConfig struct {
	// URL is HOOKD_NATS_URL: one NATS server or a comma-separated list of a cluster's. With Listen
	// set and URL empty, the embedded server's own URL.
	URL string
	// Replicas is how many NATS servers keep the delivery stream and the coordination buckets
	// (0: natstransport's and natscoord's default, 3 when the server is in a cluster, else 1).
	Replicas int
	// Listen is where the embedded NATS server takes clients (HOOKD_NATS_LISTEN, host:port); empty,
	// serve starts none.
	Listen string
	// ClusterListen, Routes and ClusterName cluster the embedded server with the other nodes'.
	ClusterListen string
	Routes        []string
	ClusterName   string
	// AckWait is how long a delivery held by a node that stopped answering waits before another
	// node gets it (HOOKD_NATS_ACK_WAIT).
	AckWait time.Duration
	// ReconcileInterval is the time between the dispatch leader's reconciler passes
	// (HOOKD_RECONCILE_INTERVAL).
	ReconcileInterval time.Duration
}

// cluster reports whether the cluster profile is on: a NATS to connect to, given or embedded.
func (c natsConfig) cluster() bool { return c.URL != "" || c.Listen != "" }

// Defaults of HOOKD_NATS_CLUSTER_NAME and HOOKD_RECONCILE_INTERVAL.
const (
	defaultClusterName       = "hookd"
	defaultReconcileInterval = time.Minute
)

// natsFromEnv reads the HOOKD_NATS_* settings; README.md has the table.
func natsFromEnv(getenv func(string) string) (natsConfig, error) {
	c := natsConfig{
		URL:           strings.TrimSpace(getenv("HOOKD_NATS_URL")),
		Listen:        strings.TrimSpace(getenv("HOOKD_NATS_LISTEN")),
		ClusterListen: strings.TrimSpace(getenv("HOOKD_NATS_CLUSTER_LISTEN")),
		ClusterName:   or(strings.TrimSpace(getenv("HOOKD_NATS_CLUSTER_NAME")), defaultClusterName),
	}
	var errs []error
	if v := getenv("HOOKD_NATS_REPLICAS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 5 {
			errs = append(errs, fmt.Errorf("HOOKD_NATS_REPLICAS: %q must be a number from 1 to 5", v))
		}
		c.Replicas = n
	}
	duration := func(name string, fallback, lo, hi time.Duration) time.Duration {
		v := getenv(name)
		if v == "" {
			return fallback
		}
		d, err := time.ParseDuration(v)
		if err != nil || d < lo || d > hi {
			errs = append(errs, fmt.Errorf("%s: %q must be a duration from %s to %s", name, v, lo, hi))
		}
		return d
	}
	c.AckWait = duration("HOOKD_NATS_ACK_WAIT", natstransport.DefaultAckWait, time.Second, 10*time.Minute)
	c.ReconcileInterval = duration("HOOKD_RECONCILE_INTERVAL", defaultReconcileInterval, time.Second, time.Hour)
	hostPort := func(name, v string) {
		if v == "" {
			return
		}
		if _, port, err := net.SplitHostPort(v); err != nil || port == "" {
			errs = append(errs, fmt.Errorf("%s: %q must be host:port", name, v))
		} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			errs = append(errs, fmt.Errorf("%s: %q has no valid port", name, v))
		}
	}
	hostPort("HOOKD_NATS_LISTEN", c.Listen)
	hostPort("HOOKD_NATS_CLUSTER_LISTEN", c.ClusterListen)
	for r := range strings.SplitSeq(getenv("HOOKD_NATS_ROUTES"), ",") {
		if r = strings.TrimSpace(r); r != "" {
			c.Routes = append(c.Routes, r)
		}
	}
	switch {
	case c.Listen == "" && (c.ClusterListen != "" || len(c.Routes) > 0):
		errs = append(errs, errors.New("HOOKD_NATS_CLUSTER_LISTEN and HOOKD_NATS_ROUTES cluster the embedded NATS server: they need HOOKD_NATS_LISTEN"))
	case len(c.Routes) > 0 && c.ClusterListen == "":
		errs = append(errs, errors.New("HOOKD_NATS_ROUTES: needs HOOKD_NATS_CLUSTER_LISTEN, where this server takes the others' routes"))
	}
	return c, errors.Join(errs...)
}

// roles reads HOOKD_ROLES (default api,deliver) and HOOKD_DELIVERY, its older form: off is the api
// role alone, on changes nothing. Both set and disagreeing is refused rather than guessed.
func roles(list, delivery string) (api, deliver bool, err error) {
	if list == "" {
		api, deliver = true, true
	}
	for r := range strings.SplitSeq(list, ",") {
		switch strings.TrimSpace(r) {
		case roleAPI:
			api = true
		case roleDeliver:
			deliver = true
		case "":
		default:
			return false, false, fmt.Errorf("HOOKD_ROLES: %q is not a role (api, deliver)", strings.TrimSpace(r))
		}
	}
	if !api && !deliver {
		return false, false, errors.New("HOOKD_ROLES: must name api, deliver or both")
	}
	switch delivery {
	case "", "on":
		if delivery == "on" && !deliver {
			return false, false, errors.New("HOOKD_DELIVERY=on contradicts HOOKD_ROLES, which lacks deliver; set HOOKD_ROLES alone")
		}
	case "off":
		if list != "" && deliver {
			return false, false, errors.New("HOOKD_DELIVERY=off contradicts HOOKD_ROLES, which names deliver; set HOOKD_ROLES alone")
		}
		deliver = false
		if !api {
			return false, false, errors.New("HOOKD_DELIVERY=off leaves the node no role")
		}
	default:
		return false, false, fmt.Errorf("HOOKD_DELIVERY: %q must be on or off (or use HOOKD_ROLES)", delivery)
	}
	return api, deliver, nil
}

// nodeIDPattern is what a node id may hold: it names the node's heartbeat key in NATS.
var nodeIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

// defaultNodeID is the host name (its dots made dashes) and process id, or a random id when the
// host has no usable name: unique among nodes that run on different hosts or as different processes.
func defaultNodeID() string {
	if host, err := os.Hostname(); err == nil && host != "" {
		if id := fmt.Sprintf("%s-%d", strings.ReplaceAll(host, ".", "-"), os.Getpid()); nodeIDPattern.MatchString(id) {
			return id
		}
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "hookd-" + hex.EncodeToString(b)
}
