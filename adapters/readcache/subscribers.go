package readcache

import (
	"context"

	"github.com/hookd/hookd/application/dispatch"
	"github.com/hookd/hookd/domain/eventlog"
	"github.com/hookd/hookd/domain/webhook"
	"github.com/hookd/hookd/projections/webhookview"
)

// candidatesCacheSize bounds the dispatcher's cache of subscribers: scopes and event names.
const candidatesCacheSize = 10_000

// SubscriberReader reads the webhooks that listen to an event (*webhookview.View).
type SubscriberReader interface {
	Subscribers(ctx context.Context, tenantID, communityID, eventName string) ([]webhookview.Webhook, error)
	// Unchanged reports whether no webhook event was applied after at.
	Unchanged(at eventlog.Position) bool
}

// Subscribers answers the dispatcher's Candidates from the webhooks read model, with each
// credential opened for the delivery's snapshot.
//
// Its invalidation rule is Answers': an answer is kept while the read model has applied no webhook
// event since it was read, which under a steady load of publications is most of the time, so that
// an event costs neither a read of the read model nor opening credentials. The kept answers hold
// opened credentials, which the process opens for every delivery anyway.
type Subscribers struct {
	view SubscriberReader
	open func(sealed, stream string) (string, error)
	kept Answers[[]dispatch.Candidate]
}

// NewSubscribers returns the cache over view, which runner keeps up to date; open opens a
// credential.
func NewSubscribers(view SubscriberReader, runner Follower, open func(sealed, stream string) (string, error)) *Subscribers {
	return &Subscribers{view: view, open: open, kept: NewAnswers[[]dispatch.Candidate](candidatesCacheSize, runner, view.Unchanged)}
}

// Candidates implements dispatch.Ports.Candidates. The answer is shared: callers must not change it.
func (s *Subscribers) Candidates(ctx context.Context, tenantID, communityID, eventName string) ([]dispatch.Candidate, error) {
	return s.kept.Get(tenantID+"\x00"+communityID+"\x00"+eventName, func() ([]dispatch.Candidate, error) {
		hooks, err := s.view.Subscribers(ctx, tenantID, communityID, eventName)
		if err != nil {
			return nil, err
		}
		out := make([]dispatch.Candidate, len(hooks))
		for i, w := range hooks {
			// A credential that does not open is this webhook's problem alone: its delivery is
			// parked, and the others' go on.
			settings, err := w.OpenSettings(s.open)
			if err != nil {
				settings = w.Settings.Clone()
				settings.API.Credential = webhook.Credential{}
			}
			out[i] = dispatch.Candidate{ID: w.ID, Settings: settings, CreatedAt: w.CreatedAt, CredentialErr: err}
		}
		return out, nil
	})
}
