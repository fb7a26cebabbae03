package main

import (
	"context"
	"fmt"
	"io"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/hookd/hookd/domain/webhook"
)

// TestClusterCarriesHealthOnce: two nodes on one KurrentDB log both sweep expired deliveries, so
// both carry the endpoint health of a webhook whose deliveries go. They write each pair once, the
// superseded pairs go, both nodes show the same health, and a node's webhooks read model rebuilt
// from the log as retention left it shows it too.
func TestClusterCarriesHealthOnce(t *testing.T) {
	t.Parallel()
	env := startClusterServices(t)
	env["HOOKD_DELIVERY"] = "off"
	env["HOOKD_DELIVERY_RETENTION"] = "1h"
	nodes := make([]*testHookd, 2)
	for i := range nodes {
		nodes[i] = startHookdIn(t, t.TempDir(), nodeEnv(env, fmt.Sprint("sweeper", i)))
	}
	l := newTestLog(nodes[0])
	scope := apiScope("t1", "c1")
	w := apiCreate(nodes[0], nodes[0].license, scope, apiMinimal("w"))
	old := time.Now().Add(-3 * time.Hour)
	var expired []string
	for i, status := range []int{200, 500, 200, 500, 500} {
		expired = append(expired, l.deliver(w, "E_A", old.Add(time.Duration(i)*time.Minute), status))
	}
	kept := l.deliver(w, "E_A", time.Now().Add(-time.Minute), 500)
	for _, h := range nodes {
		apiEventually(t, 60*time.Second, "the expired deliveries leave "+h.cfg.NodeID+"'s delivery log", func() bool {
			return slices.Equal(apiDeliveryIDs(h, scope, w.ID, nil), []string{kept})
		})
	}
	_, live := apiHealth(nodes[0], scope, w.ID)
	if live.RecentAttempts != 6 || live.RecentFailures != 4 || live.LastSuccessAt == nil || live.ConsecutiveFailures != 3 {
		t.Errorf("live health %+v, want the 6 attempts made: 2 succeeded, the last 3 failed", live)
	}
	apiEventually(t, 30*time.Second, "both nodes show the same health", func() bool {
		_, other := apiHealth(nodes[1], scope, w.ID)
		return reflect.DeepEqual(other, live)
	})

	ctx := context.Background()
	var pairs []string
	for p := uint64(1); p <= 8; p++ {
		events, err := l.n.store.ReadStream(ctx, webhook.HealthStream(w.ID, p), 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(events) > 2 {
			t.Errorf("pair %d holds %d events, want a marker and a carrier written once", p, len(events))
		}
		if len(events) > 0 {
			pairs = append(pairs, webhook.HealthStream(w.ID, p))
		}
	}
	if len(pairs) != 1 {
		t.Errorf("the log holds the pairs %v, want the last one alone", pairs)
	}

	if err := rebuild(ctx, nodes[1].cfg, "webhooks", io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	apiEventually(t, 30*time.Second, "the rebuilt node shows the live health", func() bool {
		_, rebuilt := apiHealth(nodes[1], scope, w.ID)
		return reflect.DeepEqual(rebuilt, live)
	})
	if ids := apiDeliveryIDs(nodes[1], scope, w.ID, nil); !slices.Equal(ids, []string{kept}) {
		t.Errorf("after the rebuild the delivery log holds %v, want %v alone (expired: %v)", ids, kept, expired)
	}
}
