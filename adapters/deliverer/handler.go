// Package deliverer carries deliveries to the delivery use case (application/deliver): a Watermill
// router handler turns a message, whose payload is a delivery id, into one attempt, and acks it once
// the attempt is in the log or the delivery is scheduled again. It also holds the adapters of the
// use case's ports: Signer (webhooksig), Sender (adapters/sender), Targets (the webhooks read model)
// and Deliveries (the log, keeping what this process saved).
package deliverer

import (
	"context"
	"errors"
	"log/slog"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/hookd/hookd/application/deliver"
)

// Attempter is the delivery use case.
type Attempter interface {
	Attempt(ctx context.Context, deliveryID string) error
}

// Handler is the Watermill handler of delivery messages.
type Handler struct {
	attempter Attempter
	// sendCtx bounds attempts in flight; it ends only when a graceful stop runs out of time.
	sendCtx context.Context
	log     *slog.Logger
}

// NewHandler returns a Handler whose attempts run until sendCtx ends.
func NewHandler(sendCtx context.Context, attempter Attempter, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Handler{attempter: attempter, sendCtx: sendCtx, log: log}
}

// Handle makes the attempt of the delivery the message names. It returns nil, and the message is
// acked, once the attempt is in the log or the delivery was scheduled again; an error (the
// scheduler failed, or the attempt was cut short by a stop) has the transport hand it out again.
func (h *Handler) Handle(msg *message.Message) error {
	id := string(msg.Payload)
	err := h.attempter.Attempt(h.sendCtx, id)
	switch {
	case errors.Is(err, deliver.ErrCanceled):
		// Only a stop whose grace period ran out gets here. The target may have had the request,
		// and gets it again: the one case where a graceful stop delivers twice, so it is told.
		h.log.Warn("the stop's grace period ran out mid-attempt; the delivery is attempted again at the next start",
			"delivery_id", id)
	case err != nil:
		h.log.Error("a delivery could not be attempted or scheduled again; handed back", "delivery_id", id, "err", err)
	}
	return err
}
