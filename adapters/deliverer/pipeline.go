package deliverer

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
)

// Topic is the Watermill topic that carries delivery ids to the deliver handler.
const Topic = "hookd.deliveries"

// Pipeline runs the delivery use case for each message a transport hands out, through a Watermill
// router. The transport's subscriber bounds the attempts in flight (its in-flight limit: memtransport's
// MaxInFlight, JetStream's MaxAckPending), and the router recovers a panic in an attempt as a nack
// (Watermill's router does it in handleMessage), so that one delivery cannot stop the others: neither
// needs a middleware of its own.
type Pipeline struct {
	sub       message.Subscriber
	attempter Attempter
	grace     time.Duration
	log       *slog.Logger
}

// NewPipeline returns the pipeline that hands what sub hands out to attempter. grace bounds how long
// a stop waits for attempts in flight before it cancels them, unrecorded.
func NewPipeline(sub message.Subscriber, attempter Attempter, grace time.Duration, log *slog.Logger) *Pipeline {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Pipeline{sub: sub, attempter: attempter, grace: grace, log: log}
}

// Run delivers until ctx ends, then stops gracefully: the router ends its subscription, which hands
// out nothing more; attempts in flight get the grace period to finish and be recorded, and those
// still running after it are cancelled and left unrecorded, to be made again at the next start. The
// subscriber is left open, for the attempts in flight to schedule their retries: closing it is the
// caller's, once Run has returned.
func (p *Pipeline) Run(ctx context.Context) error {
	sendCtx, stop := context.WithCancel(context.Background())
	defer stop()
	logger := watermill.NewSlogLoggerWithLevelMapping(p.log, map[slog.Level]slog.Level{slog.LevelInfo: slog.LevelDebug})
	// The router waits longer than the grace period: at its end the attempts are cancelled, and
	// their handlers return at once.
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: p.grace + 5*time.Second}, logger)
	if err != nil {
		return err
	}
	router.AddConsumerHandler("deliver", Topic, unclosed{p.sub}, NewHandler(sendCtx, p.attempter, p.log).Handle)

	routerCtx, stopRouter := context.WithCancel(context.Background())
	defer stopRouter()
	routed := make(chan error, 1)
	go func() { routed <- router.Run(routerCtx) }()
	select {
	case <-router.Running():
	case err := <-routed:
		return err
	}
	select {
	case <-ctx.Done():
	case err := <-routed:
		return errors.Join(errors.New("the delivery router stopped"), err)
	}
	// Closing the router closes the subscriber and waits for the handlers in flight, up to the grace
	// period; past it, their attempts are cancelled.
	closed := make(chan error, 1)
	go func() { closed <- router.Close() }()
	var closeErr error
	select {
	case closeErr = <-closed:
	case <-time.After(p.grace):
		stop()
		closeErr = <-closed
	}
	stopRouter()
	return errors.Join(closeErr, <-routed)
}

// unclosed is a Subscriber whose Close does nothing. The router closes its subscriber as it starts
// to close, while attempts in flight may still schedule through the same transport; ending the
// subscription's context, which the router does too, is what stops the handing out.
type unclosed struct {
	message.Subscriber
}

// Close leaves the subscriber open.
func (unclosed) Close() error { return nil }
