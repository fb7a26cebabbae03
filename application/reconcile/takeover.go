package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
)

// TakeoverConfig is what Takeover needs. Deliveries and Scheduler are required.
type TakeoverConfig struct {
	// Deliveries lists the due deliveries; it must show the log as it was once the last leader
	// stopped, so that it shows every delivery that leader appended.
	Deliveries Deliveries
	Scheduler  Scheduler
	// Held returns the ids of the deliveries the transport holds a message of: waiting, on a timer,
	// handed to a node and not acked, nacked. A work queue keeps a message until the node that
	// attempts it acks it, once the attempt is in the log. Nil, or an error (the transport cannot
	// say, or holds too many to list), hands over every due delivery.
	Held func(ctx context.Context) (map[string]struct{}, error)
	// PageSize is how many deliveries one read lists (DefaultPageSize).
	PageSize int
	// Logger is optional.
	Logger *slog.Logger
}

// TakeoverResult counts what Takeover did.
type TakeoverResult struct {
	// Due is how many due deliveries it read; Held how many of them it left to the transport, which
	// holds them; Scheduled how many it handed over.
	Due, Held, Scheduled int
	// Unchecked says the transport could not say what it holds: every due delivery was handed over.
	Unchecked bool
}

// Takeover is the recovery of a new dispatch leader. It hands to the Scheduler, at its due time from
// the log, every delivery the log says is due that the transport does not hold: what the last
// leader appended and stopped before handing over, and what the transport lost. A delivery the
// transport holds is left to it: some node is attempting it or will be handed it, and a second
// message would let another node send it meanwhile, which is why a clean change of leader
// repeats no delivery.
//
// The transport is asked once, before the due deliveries are read; a delivery whose message was
// acked since is one whose attempt is in the log: handed over again, it is judged from the log by
// the node that gets it, and sends nothing. When the transport cannot say what it holds, every due
// delivery is handed over, as the reconciler would hand them back: nothing is lost, and what is
// repeated is at most what the nodes have in flight.
func Takeover(ctx context.Context, cfg TakeoverConfig) (TakeoverResult, error) {
	if cfg.Deliveries == nil || cfg.Scheduler == nil {
		return TakeoverResult{}, errors.New("reconcile: takeover: Deliveries and Scheduler are required")
	}
	if cfg.PageSize <= 0 {
		cfg.PageSize = DefaultPageSize
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	var res TakeoverResult
	var held map[string]struct{}
	if cfg.Held != nil {
		var err error
		if held, err = cfg.Held(ctx); err != nil {
			if ctx.Err() != nil {
				return res, ctx.Err()
			}
			cfg.Logger.Warn("the transport cannot say which deliveries it holds; handing over every due one", "err", err)
			held = nil
		}
	}
	res.Unchecked = held == nil
	var after *DueDelivery
	for {
		page, err := cfg.Deliveries.Due(ctx, after, cfg.PageSize)
		if err != nil {
			return res, fmt.Errorf("reconcile: takeover: listing due deliveries: %w", err)
		}
		for i := range page {
			d := &page[i]
			res.Due++
			if _, ok := held[d.DeliveryID]; ok {
				res.Held++
				continue
			}
			if err := cfg.Scheduler.Schedule(ctx, d.DeliveryID, d.DueAt); err != nil {
				return res, fmt.Errorf("reconcile: takeover: scheduling delivery %s: %w", d.DeliveryID, err)
			}
			res.Scheduled++
		}
		if len(page) < cfg.PageSize {
			return res, nil
		}
		after = &page[len(page)-1]
	}
}
