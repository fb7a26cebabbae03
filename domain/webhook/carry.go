package webhook

import (
	"slices"
	"strconv"
)

// An endpoint's health is folded from the attempts in delivery streams, which retention removes.
// Before it does, it carries the health into the log, in a pair of events of a stream of their
// own (HealthStream): HealthMarked says "from here on, fold the attempts apart as well"; once the
// webhooks read model has applied it, HealthCarried brings the health the read model had folded up
// to the marker, and the read model takes that health followed by the attempts folded apart since
// (Health.Then). Live, that is the health it already had; rebuilt from a log whose older attempts
// are gone, it is the health the live read model had. Only attempts before a carried pair's marker
// are removed, and a later pair supersedes an earlier one, whose stream retention then removes: a
// webhook never has more than a few such streams. docs/decisions.md, "Endpoint health carried
// across retention".

// The names of the health-carrying events in the log.
const (
	EventHealthMarked  = "WebhookHealthMarked"
	EventHealthCarried = "WebhookHealthCarried"
)

// HealthStreamPrefix starts the name of every stream that carries a webhook's health. Such streams
// are not the webhook's own: retention removes them once a later pair supersedes them.
const HealthStreamPrefix = "webhookhealth-"

// HealthStream names the stream of the webhook's pair-th carry; pairs count up from 1 and a name is
// never used twice.
func HealthStream(webhookID string, pair uint64) string {
	return HealthStreamPrefix + webhookID + "-" + strconv.FormatUint(pair, 10)
}

// HealthMarked opens the webhook's pair-th carry: the attempts after it are folded apart too.
type HealthMarked struct {
	WebhookID string `json:"webhookId"`
	Pair      uint64 `json:"pair"`
}

// HealthCarried closes the pair-th carry with the health the attempts up to its marker gave: the
// attempts' part of it (the circuit and the reason it was disabled are in the webhook's stream).
type HealthCarried struct {
	WebhookID string `json:"webhookId"`
	Pair      uint64 `json:"pair"`
	Health    Health `json:"health"`
}

// EventName implements Event.
func (HealthMarked) EventName() string { return EventHealthMarked }

// EventName implements Event.
func (HealthCarried) EventName() string { return EventHealthCarried }

// Attempts returns h's part that its attempts give: without its circuit and the reason hookd
// disabled it, which come from the webhook's own events.
func (h Health) Attempts() Health {
	h.Circuit, h.DisabledReason = Circuit{}, ""
	return h
}

// Then returns the health of h's attempts followed by next's, as recording next's attempts on h one
// by one would: next is a health folded from nothing (its circuit and reason are not looked at; h's
// are kept).
func (h Health) Then(next Health) Health {
	recent := slices.Concat(h.Recent, next.Recent)
	h.Recent = recent[max(0, len(recent)-MaxRecent):]
	switch {
	case !next.LastSuccessAt.IsZero():
		// The failures after next's last success are all there are since.
		h.ConsecutiveFailures, h.LastSuccessAt, h.FailingSince = next.ConsecutiveFailures, next.LastSuccessAt, next.FailingSince
	case next.ConsecutiveFailures > 0:
		h.ConsecutiveFailures += next.ConsecutiveFailures
		if h.FailingSince.IsZero() {
			h.FailingSince = next.FailingSince
		}
	}
	if !next.LastFailureAt.IsZero() {
		h.LastFailureAt = next.LastFailureAt
	}
	return h
}
