package deliverer

import (
	"context"

	"github.com/hookd/hookd/application/command"
	"github.com/hookd/hookd/domain/delivery"
	"github.com/hookd/hookd/domain/eventlog"
	"github.com/hookd/hookd/internal/bounded"
)

// savedCacheSize bounds the deliveries kept in memory as last saved, for their next attempt: about
// 1.4 MB. Keeping up, a delivery is attempted milliseconds after it is scheduled, so a few seconds'
// worth is kept; behind a backlog of more than the cache holds, most entries are evicted before their
// attempt whatever the size, and at 10,000 they held 7 MB live (docs/benchmarks.md, "Batch
// publishing's memory").
const savedCacheSize = 2_048

// Deliveries is command.Deliveries keeping the deliveries this process scheduled or saved, while
// they are still scheduled, so that their next attempt need not read them back from the log.
//
// It is for a process that is its deliveries' only writer besides replays (the embedded profile): in
// the cluster profile other nodes attempt what this one scheduled or saved, and an entry would go
// stale unseen, so nodes there use command.Deliveries as it is.
//
// Its invalidation rule: an entry stands for the delivery as this process last appended it, and is
// dropped when a save of it fails (a conflict means another writer changed it) or leaves it
// finished (a replay reopens it in the log, which the next Load reads). At most savedCacheSize are
// kept; one evicted is read from the log.
//
// Load takes the kept delivery out: an aggregate is not safe for concurrent use, and a transport may
// hand a delivery out again while an earlier message for it is still being attempted (natstransport
// does, after its ack wait or a reschedule). A second Load meanwhile reads its own copy from the
// log, and the log's expected version fences the two saves. What a Load does not save (an attempt
// deferred for a limit) is read from the log next time.
type Deliveries struct {
	*command.Deliveries
	saved *bounded.Map[*delivery.Delivery]
	since eventlog.Position
}

// NewDeliveries returns the cache over inner, for a process that started when the log's head was at
// since: what was appended at or before it is an earlier process's.
func NewDeliveries(inner *command.Deliveries, since eventlog.Position) *Deliveries {
	return &Deliveries{Deliveries: inner, saved: bounded.New[*delivery.Delivery](savedCacheSize), since: since}
}

// Schedule appends a new delivery as command.Deliveries does, and keeps it for its first attempt
// when it is new to this process. Scheduling an event that an earlier process scheduled (a dispatch
// over the log once more) is answered as a repeat of that first append, at its position, with the
// delivery as built now, while the log may hold its attempts since: kept, that copy would be sent
// again, so only a delivery appended after since is kept.
func (c *Deliveries) Schedule(ctx context.Context, s delivery.Scheduling, caller command.Caller) (*delivery.Delivery, command.Result, error) {
	d, res, err := c.Deliveries.Schedule(ctx, s, caller)
	if err == nil && d != nil && d.Status() == delivery.StatusScheduled && c.since.Before(res.Position) {
		c.saved.Put(d.ID(), d)
	}
	return d, res, err
}

// Load returns the delivery as this process last saved it, taking it out of the cache, or else as
// the log has it.
func (c *Deliveries) Load(ctx context.Context, id string) (*delivery.Delivery, error) {
	if d, ok := c.saved.Take(id); ok {
		return d, nil
	}
	return c.Deliveries.Load(ctx, id)
}

// Save appends what d recorded, and keeps d when it is still scheduled.
func (c *Deliveries) Save(ctx context.Context, d *delivery.Delivery, caller command.Caller) (command.Result, error) {
	res, err := c.Deliveries.Save(ctx, d, caller)
	if err != nil || d.Status() != delivery.StatusScheduled {
		c.saved.Take(d.ID())
		return res, err
	}
	c.saved.Put(d.ID(), d)
	return res, nil
}
