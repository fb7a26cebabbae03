package jsplacement_test

import (
	"context"
	"errors"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookd/hookd/internal/jsplacement"
)

var noPeers = &jetstream.APIError{Code: 400, ErrorCode: 10005, Description: "no suitable peers for placement, peer offline"}

func TestRetryWaitsOutPlacementOnly(t *testing.T) {
	t.Parallel()
	calls := 0
	err := jsplacement.Retry(t.Context(), func() error {
		if calls++; calls < 3 {
			return noPeers
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("Retry = %v after %d calls, want nil after 3", err, calls)
	}

	other := errors.New("stream name already in use")
	calls = 0
	if err := jsplacement.Retry(t.Context(), func() error { calls++; return other }); !errors.Is(err, other) || calls != 1 {
		t.Fatalf("Retry = %v after %d calls, want the other error at once", err, calls)
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := jsplacement.Retry(ctx, func() error { return noPeers }); !errors.Is(err, context.Canceled) || !jsplacement.NoPeersYet(err) {
		t.Fatalf("Retry on an ended context = %v, want both the placement error and the context's", err)
	}
}
