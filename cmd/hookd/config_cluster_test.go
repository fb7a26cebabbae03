package main

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestConfigRolesAndNATS(t *testing.T) {
	t.Parallel()
	kurrent := map[string]string{"HOOKD_EVENTSTORE": "kurrentdb", "HOOKD_KURRENTDB_URL": "esdb://127.0.0.1:2113?tls=false"}
	with := func(env map[string]string) map[string]string {
		out := map[string]string{}
		for k, v := range kurrent {
			out[k] = v
		}
		for k, v := range env {
			out[k] = v
		}
		return out
	}
	cases := []struct {
		name         string
		env          map[string]string
		wantErr      string
		api, deliver bool
		check        func(config) bool
	}{
		{name: "default roles", env: map[string]string{}, api: true, deliver: true,
			check: func(c config) bool { return !c.NATS.cluster() && c.NodeID != "" }},
		{name: "api alone", env: map[string]string{"HOOKD_ROLES": "api"}, api: true},
		{name: "deliver alone", env: map[string]string{"HOOKD_ROLES": " deliver "}, deliver: true},
		{name: "both, spaced", env: map[string]string{"HOOKD_ROLES": "deliver, api"}, api: true, deliver: true},
		{name: "unknown role", env: map[string]string{"HOOKD_ROLES": "api,dispatch"}, wantErr: `HOOKD_ROLES: "dispatch"`},
		{name: "no role", env: map[string]string{"HOOKD_ROLES": ","}, wantErr: "HOOKD_ROLES: must name"},
		{name: "HOOKD_DELIVERY=off is the api role", env: map[string]string{"HOOKD_DELIVERY": "off"}, api: true},
		{name: "HOOKD_DELIVERY=on changes nothing", env: map[string]string{"HOOKD_DELIVERY": "on"}, api: true, deliver: true},
		{name: "HOOKD_DELIVERY=off against roles", env: map[string]string{"HOOKD_DELIVERY": "off", "HOOKD_ROLES": "api,deliver"}, wantErr: "contradicts HOOKD_ROLES"},
		{name: "HOOKD_DELIVERY=on against roles", env: map[string]string{"HOOKD_DELIVERY": "on", "HOOKD_ROLES": "api"}, wantErr: "contradicts HOOKD_ROLES"},
		{name: "HOOKD_DELIVERY bad", env: map[string]string{"HOOKD_DELIVERY": "yes"}, wantErr: "HOOKD_DELIVERY"},
		{name: "node id", env: map[string]string{"HOOKD_NODE_ID": "n7"}, api: true, deliver: true,
			check: func(c config) bool { return c.NodeID == "n7" }},
		{name: "node id with a dot", env: map[string]string{"HOOKD_NODE_ID": "host.example"}, wantErr: "HOOKD_NODE_ID"},
		{name: "NATS needs KurrentDB", env: map[string]string{"HOOKD_NATS_URL": "nats://127.0.0.1:4222"}, wantErr: "needs HOOKD_EVENTSTORE=kurrentdb"},
		{name: "embedded NATS needs KurrentDB", env: map[string]string{"HOOKD_NATS_LISTEN": "127.0.0.1:4222"}, wantErr: "needs HOOKD_EVENTSTORE=kurrentdb"},
		{name: "cluster profile", env: with(map[string]string{"HOOKD_NATS_URL": "nats://a:4222,nats://b:4222", "HOOKD_NATS_REPLICAS": "3"}),
			api: true, deliver: true,
			check: func(c config) bool {
				return c.NATS.cluster() && c.NATS.URL == "nats://a:4222,nats://b:4222" && c.NATS.Replicas == 3
			}},
		{name: "replicas out of range", env: with(map[string]string{"HOOKD_NATS_URL": "nats://a:4222", "HOOKD_NATS_REPLICAS": "0"}), wantErr: "HOOKD_NATS_REPLICAS"},
		{name: "embedded NATS clustered", env: with(map[string]string{"HOOKD_NATS_LISTEN": "127.0.0.1:4222", "HOOKD_NATS_CLUSTER_LISTEN": "127.0.0.1:6222",
			"HOOKD_NATS_ROUTES": "nats-route://127.0.0.1:6222, nats-route://127.0.0.1:6223"}), api: true, deliver: true,
			check: func(c config) bool {
				return c.NATS.cluster() && c.NATS.URL == "" && c.NATS.ClusterName == defaultClusterName &&
					slices.Equal(c.NATS.Routes, []string{"nats-route://127.0.0.1:6222", "nats-route://127.0.0.1:6223"})
			}},
		{name: "cluster timings", env: with(map[string]string{"HOOKD_NATS_URL": "nats://a:4222", "HOOKD_NATS_ACK_WAIT": "5s", "HOOKD_RECONCILE_INTERVAL": "10s"}),
			api: true, deliver: true,
			check: func(c config) bool {
				return c.NATS.AckWait == 5*time.Second && c.NATS.ReconcileInterval == 10*time.Second
			}},
		{name: "default timings", env: with(map[string]string{"HOOKD_NATS_URL": "nats://a:4222"}), api: true, deliver: true,
			check: func(c config) bool {
				return c.NATS.AckWait == 30*time.Second && c.NATS.ReconcileInterval == time.Minute
			}},
		{name: "ack wait too short", env: with(map[string]string{"HOOKD_NATS_URL": "nats://a:4222", "HOOKD_NATS_ACK_WAIT": "10ms"}), wantErr: "HOOKD_NATS_ACK_WAIT"},
		{name: "interval not a duration", env: with(map[string]string{"HOOKD_NATS_URL": "nats://a:4222", "HOOKD_RECONCILE_INTERVAL": "60"}), wantErr: "HOOKD_RECONCILE_INTERVAL"},
		{name: "listen not host:port", env: with(map[string]string{"HOOKD_NATS_LISTEN": "4222"}), wantErr: "HOOKD_NATS_LISTEN"},
		{name: "routes without a server", env: with(map[string]string{"HOOKD_NATS_URL": "nats://a:4222", "HOOKD_NATS_ROUTES": "nats-route://b:6222"}), wantErr: "need HOOKD_NATS_LISTEN"},
		{name: "endpoint concurrency default", env: map[string]string{}, api: true, deliver: true,
			check: func(c config) bool { return c.EndpointConcurrency == 128 }},
		{name: "endpoint concurrency", env: map[string]string{"HOOKD_ENDPOINT_CONCURRENCY": "4"}, api: true, deliver: true,
			check: func(c config) bool { return c.EndpointConcurrency == 4 }},
		{name: "endpoint concurrency zero", env: map[string]string{"HOOKD_ENDPOINT_CONCURRENCY": "0"}, wantErr: "HOOKD_ENDPOINT_CONCURRENCY"},
		{name: "endpoint concurrency not a number", env: map[string]string{"HOOKD_ENDPOINT_CONCURRENCY": "many"}, wantErr: "HOOKD_ENDPOINT_CONCURRENCY"},
		{name: "routes without cluster listen", env: with(map[string]string{"HOOKD_NATS_LISTEN": "127.0.0.1:4222", "HOOKD_NATS_ROUTES": "nats-route://b:6222"}), wantErr: "HOOKD_NATS_CLUSTER_LISTEN"},
	}
	for _, c := range cases {
		cfg, err := configFromEnv(func(k string) string { return c.env[k] })
		switch {
		case c.wantErr == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
			t.Errorf("%s: error %v, want one naming %s", c.name, err, c.wantErr)
		case c.wantErr == "" && (cfg.API != c.api || cfg.Deliver != c.deliver):
			t.Errorf("%s: roles api=%v deliver=%v, want %v %v", c.name, cfg.API, cfg.Deliver, c.api, c.deliver)
		case c.wantErr == "" && c.check != nil && !c.check(cfg):
			t.Errorf("%s: %+v", c.name, cfg.NATS)
		}
	}
}

// TestDeliverRoleServesProbesOnly: a node without the api role answers its probes and metrics and
// nothing of the API, so a load balancer cannot send it API requests by mistake.
func TestDeliverRoleServesProbesOnly(t *testing.T) {
	t.Parallel()
	h := startHookd(t, map[string]string{"HOOKD_ROLES": "deliver"})
	for _, path := range []string{"/healthz", "/livez", "/readyz", "/metrics"} {
		if r := h.do(http.MethodGet, path, nil, nil); r.Status != http.StatusOK {
			t.Errorf("GET %s: %d, want 200", path, r.Status)
		}
	}
	if r := h.do(http.MethodGet, "/publickeys", nil, nil); r.Status != http.StatusNotFound {
		t.Errorf("GET /publickeys: %d, want 404", r.Status)
	}
	scope := apiScope("t1", "c1")
	if r := h.do(http.MethodPut, scope+"/webhook", apiMinimal("x"), nil); r.Status != http.StatusNotFound {
		t.Errorf("PUT webhook: %d, want 404", r.Status)
	}
	if r := h.do(http.MethodGet, "/metrics", nil, nil); !strings.Contains(string(r.Body), "hookd_delivery_attempt_duration_seconds") {
		t.Error("/metrics of a delivering node lacks hookd_delivery_attempt_duration_seconds")
	}
}
