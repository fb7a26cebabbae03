package console

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/hookd/hookd/projections/deliveryview"
)

// maxLiveStreams bounds the live views open at once on a node: each holds a connection and polls
// the read model.
const maxLiveStreams = 64

// liveBatch bounds the deliveries one poll sends.
const liveBatch = 100

// liveLifetime ends a stream after a while, before the API's 30 s write timeout would cut it; the
// browser's EventSource reconnects by itself (after the 2 s the stream asks for), the session is
// checked again, and the new stream sends the last minute's changes again, which the page merges by
// delivery id, so nothing is missed in between.
const liveLifetime = 25 * time.Second

type liveStreams struct {
	open atomic.Int64
	max  int64
}

func newLiveStreams(max int) *liveStreams { return &liveStreams{max: int64(max)} }

func (l *liveStreams) acquire() bool {
	if l.open.Add(1) > l.max {
		l.open.Add(-1)
		return false
	}
	return true
}

func (l *liveStreams) release() { l.open.Add(-1) }

func (s *Console) livePage(c *fiber.Ctx) error {
	sess := sessionOf(c)
	return s.render(c, "live", pageData{Title: "Live deliveries", Crumbs: []crumb{{Label: "Communities", Href: Prefix + "/"}, {Label: "live"}},
		Data: map[string]any{"Scope": scopeLabel(sess.level, sess.scope)}})
}

// liveEvent is one delivery as the live view shows it.
type liveEvent struct {
	ID        string `json:"id"`
	Href      string `json:"href"`
	Scope     string `json:"scope"`
	EventName string `json:"eventName"`
	Status    string `json:"status"`
	Result    string `json:"result"`
	Attempts  int    `json:"attempts"`
	At        string `json:"at"`
}

// liveEvents streams the deliveries of the session's scope as they change, as server-sent events:
// it polls the deliveries read model for rows changed since the last poll.
func (s *Console) liveEvents(c *fiber.Ctx) error {
	select {
	case <-s.ending:
		return &pageError{http.StatusServiceUnavailable, "hookd is shutting down"}
	default:
	}
	if !s.live.acquire() {
		return &pageError{http.StatusServiceUnavailable, "too many live views are open on this node; try again later"}
	}
	sess := sessionOf(c)
	ctx := c.UserContext()
	since := s.cfg.Clock().Add(-time.Minute)
	c.Set(fiber.HeaderContentType, "text/event-stream")
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set("X-Accel-Buffering", "no")
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		defer s.live.release()
		// sent remembers the version sent of each delivery changed at the newest time seen, so that
		// the next poll (from that time on) does not send them twice.
		sent := map[string]uint64{}
		end := time.Now().Add(liveLifetime)
		tick := time.NewTicker(s.cfg.LivePoll)
		defer tick.Stop()
		fmt.Fprint(w, "retry: 2000\n\n")
		if w.Flush() != nil {
			return
		}
		for time.Now().Before(end) {
			// The session is checked on each poll: a sign-out or a revocation ends the stream.
			if _, ok := s.sessions.get(sess.token, s.cfg.Clock()); !ok {
				return
			}
			if lic, err := s.cfg.Licenses.ByKeyHash(ctx, sess.keyHash); err != nil || lic.Revoked {
				return
			}
			changed, err := s.cfg.Deliveries.Changed(ctx, sess.scope.TenantID, sess.scope.CommunityID, since, liveBatch)
			if err != nil {
				s.log.WarnContext(ctx, "live view: reading deliveries", "err", err)
				return
			}
			for _, d := range changed {
				if !sess.scope.Covers(d.TenantID, d.CommunityID) || sent[d.ID] == d.Version {
					continue
				}
				if d.UpdatedAt.After(since) {
					since, sent = d.UpdatedAt, map[string]uint64{}
				}
				sent[d.ID] = d.Version
				if writeLive(w, d) != nil {
					return
				}
			}
			// A comment keeps the connection alive and finds a closed one.
			fmt.Fprint(w, ": keep-alive\n\n")
			if w.Flush() != nil {
				return
			}
			select {
			case <-tick.C:
			case <-s.ending:
				return
			}
		}
	})
	return nil
}

func writeLive(w *bufio.Writer, d deliveryview.Delivery) error {
	ev := liveEvent{ID: d.ID, Href: webhookPath(d.TenantID, d.CommunityID, d.WebhookID) + "/d/" + d.ID,
		Scope: d.TenantID + " / " + d.CommunityID, EventName: d.EventName, Status: d.Status.String(),
		Result: attemptResult(d.LastAttempt.Status, d.LastAttempt.ErrorClass, d.Attempts), Attempts: d.Attempts,
		At: d.UpdatedAt.UTC().Format("15:04:05")}
	data, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(w, "event: delivery\ndata: %s\n\n", data); err != nil {
		return err
	}
	return w.Flush()
}
