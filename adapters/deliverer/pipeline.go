package deliverer

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"
)

// Topic is the Watermill topic that carries delivery ids to the deliver handler.
const Topic = "hookd.deliveries"

// Pipeline is the embedded profile's delivery: the Queue publishes due deliveries on a GoChannel,
// and a Watermill router runs the use case for each. The router runs each message on its own
// goroutine; the Queue's limit is what bounds the attempts in flight.
type Pipeline struct {
	queue     *Queue
	attempter Attempter
	grace     time.Duration
	log       *slog.Logger
}

// NewPipeline returns the pipeline that hands what queue holds to attempter. grace bounds how long
// a stop waits for attempts in flight before it cancels them, unrecorded.
func NewPipeline(queue *Queue, attempter Attempter, grace time.Duration, log *slog.Logger) *Pipeline {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Pipeline{queue: queue, attempter: attempter, grace: grace, log: log}
}

// Run delivers until ctx ends, then stops gracefully: the queue hands out nothing more, attempts in
// flight get the grace period to finish and be recorded, and those still running after it are
// cancelled and left unrecorded, to be made again at the next start.
func (p *Pipeline) Run(ctx context.Context) error {
	sendCtx, stop := context.WithCancel(context.Background())
	defer stop()
	handler := NewHandler(sendCtx, p.attempter, p.log)
	logger := watermill.NewSlogLoggerWithLevelMapping(p.log, map[slog.Level]slog.Level{slog.LevelInfo: slog.LevelDebug})
	pubsub := gochannel.NewGoChannel(gochannel.Config{}, logger)
	// The router waits longer than the grace period: at its end the attempts are cancelled, and
	// their handlers return at once.
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: p.grace + 5*time.Second}, logger)
	if err != nil {
		return err
	}
	router.AddConsumerHandler("deliver", Topic, pubsub, func(msg *message.Message) error {
		// The Queue redoes what needs redoing: the use case schedules every delivery it does not
		// finish, and a stop leaves the rest to the next start.
		defer p.queue.Done(string(msg.Payload))
		_ = handler.Handle(msg)
		return nil
	})

	routerCtx, stopRouter := context.WithCancel(context.Background())
	routed := make(chan error, 1)
	go func() { routed <- router.Run(routerCtx) }()
	select {
	case <-router.Running():
	case err := <-routed:
		stopRouter()
		return err
	}

	queued := p.queue.Run(ctx, func(id string) error {
		return pubsub.Publish(Topic, message.NewMessage(watermill.NewUUID(), []byte(id)))
	})
	// The queue has stopped handing out work. Closing the router waits for the handlers in flight,
	// up to the grace period; past it, their attempts are cancelled.
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
	return errors.Join(queued, closeErr, <-routed, pubsub.Close())
}
