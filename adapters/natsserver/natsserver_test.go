package natsserver_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookd/hookd/adapters/natsserver"
)

func TestStartRefusesBadConfig(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  natsserver.Config
		want string
	}{
		{"no store", natsserver.Config{}, "StoreDir"},
		{"cluster without name", natsserver.Config{StoreDir: t.TempDir(), Name: "n", Cluster: &natsserver.Cluster{}}, "Cluster.Name"},
		{"clustered server without name", natsserver.Config{StoreDir: t.TempDir(), Cluster: &natsserver.Cluster{Name: "c"}}, "Name of its own"},
		{"bad route", natsserver.Config{StoreDir: t.TempDir(), Name: "n", Cluster: &natsserver.Cluster{Name: "c", Routes: []string{"127.0.0.1"}}}, "route"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := natsserver.Start(context.Background(), tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Start = %v, want an error naming %s", err, tc.want)
			}
		})
	}
}

func TestStartServesJetStream(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := natsserver.Start(context.Background(), natsserver.Config{StoreDir: dir, Port: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown()
	if !strings.HasPrefix(s.ClientURL(), "nats://127.0.0.1:") {
		t.Fatalf("ClientURL = %q", s.ClientURL())
	}
	if s.ClusterURL() != "" {
		t.Fatalf("ClusterURL = %q, want none when not clustered", s.ClusterURL())
	}
	if _, err := os.Stat(filepath.Join(dir, "jetstream")); err != nil {
		t.Fatalf("JetStream keeps nothing in the store directory: %v", err)
	}
}
