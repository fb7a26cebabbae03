package console

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hookd/hookd/application/command"
	"github.com/hookd/hookd/application/query"
	"github.com/hookd/hookd/domain/delivery"
	"github.com/hookd/hookd/domain/webhook"
	"github.com/hookd/hookd/projections/deliveryview"
	"github.com/hookd/hookd/projections/webhookview"
)

// masked stands for a credential or secret value, which the console never shows.
const masked = "••••••••"

func urlQuery(s string) string { return url.QueryEscape(s) }

// field is one labelled value.
type field struct{ Label, Value string }

// flatten writes settings as labelled text, credentials left out: what the settings table and the
// history's diffs show.
func flatten(s webhook.Settings) []field {
	q := make([]string, len(s.Query))
	for i, e := range s.Query {
		v, _ := json.Marshal(e.Value)
		q[i] = e.Key + " = " + string(v)
	}
	out := []field{
		{"name", s.Name},
		{"target URL", s.API.URL},
		{"event names", strings.Join(s.EventNames, ", ")},
		{"tags", strings.Join(s.Tags, ", ")},
		{"query", strings.Join(q, "; ")},
		{"criteria", s.Criteria.String()},
		{"method", s.API.Type},
		{"auth type", s.API.AuthType.String()},
	}
	if s.API.AuthType == webhook.AuthOAuth2 {
		out = append(out, field{"OAuth token URL", s.API.OAuthTokenURL}, field{"OAuth scopes", strings.Join(s.API.OAuthScopes, " ")})
	}
	return append(out,
		field{"success codes", codes(s.SuccessCodes)},
		field{"retry codes", codes(s.RetryCodes)},
		field{"retries", strconv.Itoa(s.RetryCount)},
		field{"ttl (s)", strconv.Itoa(s.TTL)},
		field{"rate limit (/s)", strconv.Itoa(s.RateLimit)},
	)
}

func codes(cs []int) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = strconv.Itoa(c)
	}
	return strings.Join(parts, ", ")
}

// settingsRows is the settings table of a webhook's page: the credential masked, always.
func settingsRows(s webhook.Settings) []field {
	rows := flatten(s)
	if s.API.AuthType != webhook.AuthNone && !s.API.AuthType.IsZero() {
		rows = append(rows, field{"credential", masked})
	}
	return append(rows, field{"signing secret", masked})
}

// change is one field a version changed.
type change struct{ Field, Old, New string }

// version is one entry of a webhook's timeline.
type version struct {
	Revision uint64
	Type     string
	At       time.Time
	Actor    string
	Changes  []change
	Note     string
}

// timeline turns a webhook's lifecycle into versions, newest first, each with the fields it changed
// against the settings before it.
func timeline(entries []query.HistoryEntry) []version {
	out := make([]version, 0, len(entries))
	var prev []field
	for _, e := range entries {
		v := version{Revision: e.Revision, Type: strings.TrimPrefix(e.Type, "Webhook"), At: e.OccurredAt, Actor: e.Actor}
		switch ev := e.Event.(type) {
		case webhook.Created:
			prev = flatten(ev.Settings.Normalized())
			for _, f := range prev {
				if f.Value != "" {
					v.Changes = append(v.Changes, change{Field: f.Label, New: f.Value})
				}
			}
			if ev.Disabled {
				v.Note = "created disabled"
			}
		case webhook.Updated:
			next := flatten(ev.Settings.Normalized())
			v.Changes = diffFields(prev, next)
			prev = next
			if len(v.Changes) == 0 {
				v.Note = "the credential was replaced"
			}
		case webhook.Disabled:
			v.Changes = []change{{Field: "state", Old: "enabled", New: "disabled"}}
		case webhook.Enabled:
			v.Changes = []change{{Field: "state", Old: "disabled", New: "enabled"}}
		case webhook.SecretRotated:
			v.Note = "signing secret rotated; the previous one stays valid until " + ev.PreviousExpiresAt.UTC().Format("2006-01-02 15:04 UTC")
		}
		out = append(out, v)
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

func diffFields(prev, next []field) []change {
	old := map[string]string{}
	for _, f := range prev {
		old[f.Label] = f.Value
	}
	var out []change
	seen := map[string]bool{}
	for _, f := range next {
		seen[f.Label] = true
		if old[f.Label] != f.Value {
			out = append(out, change{Field: f.Label, Old: old[f.Label], New: f.Value})
		}
	}
	for _, f := range prev {
		if !seen[f.Label] && f.Value != "" {
			out = append(out, change{Field: f.Label, Old: f.Value})
		}
	}
	return out
}

// sentHeaders lists the headers hookd sends with each attempt of d to w, auth values masked. The
// log keeps no copy of them (the signatures change with every attempt), so they are rebuilt from
// what hookd always sends and the webhook's auth type.
func sentHeaders(w webhookview.Webhook, d deliveryview.Delivery) []field {
	out := []field{
		{"Content-Type", "application/json"},
		{"webhook-id", d.ID},
		{"webhook-timestamp", "the attempt's Unix time"},
		{"webhook-signature", "v1," + masked + " v1a," + masked},
		{"X-Cosmo-Signature-256", masked},
	}
	switch w.Settings.API.AuthType {
	case webhook.AuthBasic:
		out = append(out, field{"Authorization", "Basic " + masked})
	case webhook.AuthBearer, webhook.AuthOAuth2:
		out = append(out, field{"Authorization", "Bearer " + masked})
	case webhook.AuthAPIKey:
		out = append(out, field{"(the API key's header)", masked})
	}
	return out
}

// deliveryFilter is a delivery filter as a form carries it, and as it reads.
type deliveryFilter struct {
	Status, Event, From, To string
	filter                  command.DeliveryFilter
}

// formTime is the layout of datetime-local inputs; the console reads and shows them as UTC.
const formTime = "2006-01-02T15:04"

// deliveryFilterForm reads a filter's fields: each may be empty, else must be valid.
func deliveryFilterForm(status, event, from, to string) (deliveryFilter, error) {
	f := deliveryFilter{Status: status, Event: event, From: from, To: to}
	if status != "" {
		st, err := delivery.ParseStatus(status)
		if err != nil {
			return f, &pageError{400, "status must be scheduled, succeeded or failed"}
		}
		f.filter.Status = st
	}
	f.filter.EventName = event
	for _, t := range []struct {
		name, raw string
		dst       *time.Time
	}{{"from", from, &f.filter.From}, {"to", to, &f.filter.To}} {
		if t.raw == "" {
			continue
		}
		parsed, err := time.Parse(formTime, t.raw)
		if err != nil {
			if parsed, err = time.Parse(time.RFC3339, t.raw); err != nil {
				return f, &pageError{400, t.name + " must be a time such as 2026-01-02T15:04 (UTC)"}
			}
		}
		*t.dst = parsed.UTC()
	}
	return f, f.filter.Validate()
}

// query is the filter as a page link's query, on page index.
func (f deliveryFilter) query(index int) string {
	v := url.Values{}
	for k, x := range map[string]string{"status": f.Status, "event": f.Event, "from": f.From, "to": f.To} {
		if x != "" {
			v.Set(k, x)
		}
	}
	v.Set("page", fmt.Sprint(index))
	return "?" + v.Encode()
}

// endpoint is a webhook's endpoint health as its page's panel shows it, from the webhooks read model.
type endpoint struct {
	webhook.Health
	// Circuit is closed, open or half_open at the time of the page; Rate the share of the recent
	// attempts that succeeded; Recent how many they are.
	Circuit, Rate string
	Recent        int
	// Disabled says why hookd disabled the webhook; empty when it did not.
	Disabled string
}

func endpointPanel(h webhook.Health, now time.Time) endpoint {
	e := endpoint{Health: h, Circuit: h.Circuit.State(now).String(), Rate: rate(h.SuccessRate()), Recent: len(h.Recent)}
	switch h.DisabledReason {
	case "":
	case webhook.DisabledFailing:
		e.Disabled = "failing: its endpoint failed without a success for longer than HOOKD_DISABLE_AFTER"
	case webhook.DisabledGone:
		e.Disabled = "gone: its endpoint answered 410 Gone"
	default:
		e.Disabled = h.DisabledReason
	}
	return e
}
