package deliverer

import (
	"context"

	"github.com/hookd/hookd/adapters/sender"
	"github.com/hookd/hookd/application/deliver"
)

// Sender sends the use case's requests through a sender.Sender.
type Sender struct {
	*sender.Sender
}

// Send implements deliver.Sender.
func (s Sender) Send(ctx context.Context, r deliver.Request) deliver.Outcome {
	o := s.Sender.Send(ctx, sender.Request(r))
	return deliver.Outcome{
		Status: o.Status, ErrorClass: o.ErrorClass, Unsendable: o.Unsendable(), Canceled: o.ErrorClass == sender.ClassCanceled,
		Duration: o.Duration, ResponseExcerpt: o.ResponseExcerpt,
	}
}
