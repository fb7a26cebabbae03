// Package reconcile hands back to the transport the deliveries that the log says are due but that
// no node may hold: after NATS lost or purged its stream, or after a crash between a delivery's
// append and its publication. It runs on the dispatch leader, a pass at a time.
//
// A delivery is handed back only when it is overdue by more than a margin, longer than a delivery
// can legitimately stay due while some node works on it: the transport's ack wait (a node that
// died holding it) plus an attempt's longest duration, twice over (the attempt the dead node was
// making, and the one the next node makes). A delivery due more recently may still be in flight on
// a live node, and handing it out again would send it twice. Scheduling again with the log's due
// time replaces whatever the transport holds for the delivery (a delivery never has two timers),
// and the delivery use case judges each attempt from the log, so a delivery finished since the read
// model was read is not sent again.
//
// When the transport can say which deliveries it holds (Config.Held), an overdue one it holds is
// left to it: a pass made before the attempt the last pass handed back is recorded would otherwise
// put a second message beside it.
//
// Takeover is the recovery of a new dispatch leader: it hands over at once what is due and the
// transport does not hold.
package reconcile

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// DueDelivery is a delivery the log says is still to be attempted, and when.
type DueDelivery struct {
	DeliveryID string
	DueAt      time.Time
	// Cursor is the lister's own place of the delivery, passed back as it is to list what follows.
	Cursor any
}

// Deliveries lists the deliveries still due (scheduled or retry-due, neither succeeded nor parked),
// the one due first first, whether their time has come or not.
type Deliveries interface {
	// Due returns up to limit deliveries after the delivery after (nil: from the first).
	Due(ctx context.Context, after *DueDelivery, limit int) ([]DueDelivery, error)
}

// Scheduler hands a delivery to the transport, due at dueAt, replacing any schedule of it waiting.
type Scheduler interface {
	Schedule(ctx context.Context, deliveryID string, dueAt time.Time) error
}

// Defaults of Config.
const (
	DefaultPageSize   = 500
	DefaultMaxPerPass = 5000
)

// Config is what a Reconciler needs. Deliveries, Scheduler, AckWait and LongestAttempt are required.
type Config struct {
	Deliveries Deliveries
	Scheduler  Scheduler
	// AckWait is the transport's: how long a delivery handed to a node that died waits before
	// another node gets it.
	AckWait time.Duration
	// LongestAttempt is the longest one attempt can take (the longest response wait allowed, plus
	// what signing, connecting and recording take).
	LongestAttempt time.Duration
	// Margin is how overdue a delivery must be to be handed back; 2*(AckWait+LongestAttempt) when
	// zero. It must exceed AckWait+2*LongestAttempt.
	Margin time.Duration
	// PageSize is how many deliveries one read lists (DefaultPageSize).
	PageSize int
	// MaxPerPass bounds the deliveries one pass reads (DefaultMaxPerPass); the next pass goes on
	// from there.
	MaxPerPass int
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Held, when set, returns the ids of the deliveries the transport holds (as in TakeoverConfig):
	// an overdue delivery it holds is not handed back, since a node is attempting it or will be
	// handed it, and a second message could have it sent twice (a pass made while an attempt
	// handed back by the last pass is not recorded yet). It is asked once per pass, and only by a
	// pass that finds a delivery overdue; nil, or an error, hands back every overdue delivery.
	Held func(ctx context.Context) (map[string]struct{}, error)
}

// Reconciler makes passes over the due deliveries. Its passes must not run at the same time.
type Reconciler struct {
	cfg Config
	// after is where the last pass stopped short (nil: at the start), so that a backlog longer than
	// one pass is covered over several rather than its first part again and again.
	after *DueDelivery
}

// Result counts what one pass did.
type Result struct {
	// Read is how many due deliveries the pass read.
	Read int
	// Scheduled is how many it handed back to the transport; Held how many overdue deliveries it
	// left to the transport, which holds them.
	Scheduled, Held int
	// Complete says the pass reached the deliveries not overdue by the margin (or the end): every
	// overdue delivery has been handed back since the pass that last reported Complete.
	Complete bool
}

// New returns a Reconciler for cfg, with defaults filled in.
func New(cfg Config) (*Reconciler, error) {
	if cfg.Margin == 0 {
		cfg.Margin = 2 * (cfg.AckWait + cfg.LongestAttempt)
	}
	if cfg.PageSize == 0 {
		cfg.PageSize = DefaultPageSize
	}
	if cfg.MaxPerPass == 0 {
		cfg.MaxPerPass = DefaultMaxPerPass
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	var errs []error
	if cfg.Deliveries == nil {
		errs = append(errs, errors.New("reconcile: Deliveries is required"))
	}
	if cfg.Scheduler == nil {
		errs = append(errs, errors.New("reconcile: Scheduler is required"))
	}
	if cfg.AckWait <= 0 || cfg.LongestAttempt <= 0 {
		errs = append(errs, errors.New("reconcile: AckWait and LongestAttempt must be positive"))
	}
	if cfg.Margin <= cfg.AckWait+2*cfg.LongestAttempt {
		errs = append(errs, fmt.Errorf("reconcile: Margin %s must exceed AckWait plus twice LongestAttempt (%s): a delivery in flight would be sent twice",
			cfg.Margin, cfg.AckWait+2*cfg.LongestAttempt))
	}
	if cfg.PageSize < 1 || cfg.MaxPerPass < 1 {
		errs = append(errs, errors.New("reconcile: PageSize and MaxPerPass must be positive"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &Reconciler{cfg: cfg}, nil
}

// Pass reads up to MaxPerPass due deliveries, from where the last pass stopped short, and schedules
// again, at its due time from the log, each one overdue by more than the margin. It returns at the
// first error, from the lister or the scheduler, with what it did so far; the next pass starts over
// from the same place.
func (r *Reconciler) Pass(ctx context.Context) (Result, error) {
	var res Result
	before := r.cfg.Now().Add(-r.cfg.Margin)
	after := r.after
	var held map[string]struct{}
	asked := false
	for res.Read < r.cfg.MaxPerPass {
		page, err := r.cfg.Deliveries.Due(ctx, after, min(r.cfg.PageSize, r.cfg.MaxPerPass-res.Read))
		if err != nil {
			return res, fmt.Errorf("reconcile: listing due deliveries: %w", err)
		}
		for i := range page {
			d := &page[i]
			if !d.DueAt.Before(before) {
				// Due in order: none after it is overdue by the margin either.
				r.after = nil
				res.Complete = true
				return res, nil
			}
			res.Read++
			after = d
			if !asked && r.cfg.Held != nil {
				asked = true
				var err error
				if held, err = r.cfg.Held(ctx); err != nil {
					held = nil
				}
			}
			if _, ok := held[d.DeliveryID]; ok {
				res.Held++
				continue
			}
			if err := r.cfg.Scheduler.Schedule(ctx, d.DeliveryID, d.DueAt); err != nil {
				return res, fmt.Errorf("reconcile: scheduling delivery %s: %w", d.DeliveryID, err)
			}
			res.Scheduled++
		}
		if len(page) == 0 {
			r.after = nil
			res.Complete = true
			return res, nil
		}
	}
	r.after = after
	return res, nil
}

// Run makes a pass every interval until ctx ends, then returns nil; a failed pass is reported to
// onPass with its error and tried again at the next interval. onPass may be nil.
func (r *Reconciler) Run(ctx context.Context, interval time.Duration, onPass func(Result, error)) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		res, err := r.Pass(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if onPass != nil {
			onPass(res, err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
