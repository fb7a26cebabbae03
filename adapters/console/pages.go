package console

import (
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/hookd/hookd/domain/webhook"
	"github.com/hookd/hookd/projections/deliveryview"
	"github.com/hookd/hookd/projections/webhookview"
)

const (
	// healthWindow is how far back the health columns count finished deliveries.
	healthWindow = 24 * time.Hour
	// maxCommunities bounds the overview's rows.
	maxCommunities = 500
	pageSize       = 25
	// maxStateScan bounds the webhooks a filter by state reads: the read model has no index by
	// state, so the filter reads the community's webhooks page by page, up to this many.
	maxStateScan = 10_000
	historySize  = 100
)

type communityRow struct {
	webhookview.Community
	Health deliveryview.Health
	Href   string
}

func (s *Console) communitiesPage(c *fiber.Ctx) error {
	sess := sessionOf(c)
	list, err := s.cfg.WebhookView.Communities(c.UserContext(), sess.scope.TenantID, sess.scope.CommunityID, maxCommunities)
	if err != nil {
		return err
	}
	since := s.cfg.Clock().Add(-healthWindow)
	rows := make([]communityRow, len(list))
	for i, cm := range list {
		h, err := s.cfg.Deliveries.Health(c.UserContext(), cm.TenantID, cm.CommunityID, "", since)
		if err != nil {
			return err
		}
		rows[i] = communityRow{Community: cm, Health: h, Href: communityPath(cm.TenantID, cm.CommunityID)}
	}
	data := map[string]any{"Rows": rows, "Truncated": len(list) == maxCommunities}
	if sess.scope.TenantID != "" && sess.scope.CommunityID != "" && len(rows) == 0 {
		data["Own"] = communityPath(sess.scope.TenantID, sess.scope.CommunityID)
	}
	return s.render(c, "communities", pageData{Title: "Communities", Crumbs: []crumb{{Label: "Communities"}}, Data: data})
}

// openCommunity goes to the community the overview's form names, which may have no webhook yet.
func (s *Console) openCommunity(c *fiber.Ctx) error {
	tenant, community := c.Query("tenant"), c.Query("community")
	if !webhook.ValidScopeID(tenant) || !webhook.ValidScopeID(community) {
		return &pageError{400, "tenant and community must each be 1 to 128 letters, digits, '_', '.' or '-'"}
	}
	return c.Redirect(communityPath(tenant, community), 303)
}

// webhookRow is a webhook as the community's list shows it.
type webhookRow struct {
	ID, Name, Host, Href string
	State                endpointState
	EventNames, Tags     []string
	Rate                 string
	LastAttemptAt        time.Time
}

// endpointState is a webhook's state as the pages show it, read from its endpoint health: Class is
// enabled, disabled or failing (what the state filter selects), Label says more.
type endpointState struct{ Class, Label string }

// stateOf is disabled (with hookd's reason when hookd disabled it), failing (its circuit open or
// half-open, or its last attempt failed) or enabled.
func stateOf(w webhookview.Webhook, now time.Time) endpointState {
	h := w.Health
	switch {
	case w.Disabled && h.DisabledReason != "":
		return endpointState{"disabled", "disabled (" + h.DisabledReason + ")"}
	case w.Disabled:
		return endpointState{"disabled", "disabled"}
	case h.Circuit.State(now) == webhook.StateOpen:
		return endpointState{"failing", "circuit open"}
	case h.Circuit.State(now) == webhook.StateHalfOpen:
		return endpointState{"failing", "circuit half-open"}
	case h.ConsecutiveFailures > 0:
		return endpointState{"failing", "failing"}
	}
	return endpointState{"enabled", "enabled"}
}

// rate shows a success rate as SuccessRate methods answer it.
func rate(r float64, ok bool) string {
	if !ok {
		return "—"
	}
	return strconv.FormatFloat(r*100, 'f', 1, 64) + " %"
}

// lastAttempt is when the endpoint was last tried; zero when never.
func lastAttempt(h webhook.Health) time.Time {
	if h.LastSuccessAt.After(h.LastFailureAt) {
		return h.LastSuccessAt
	}
	return h.LastFailureAt
}

func (s *Console) webhooksPage(c *fiber.Ctx) error {
	tenant, community := c.Params("tenant"), c.Params("community")
	tag, wantState := c.Query("tag"), c.Query("state")
	if !slices.Contains([]string{"", "enabled", "disabled", "failing"}, wantState) {
		return &pageError{400, "state must be enabled, disabled or failing"}
	}
	index, _ := strconv.Atoi(c.Query("page"))
	index = max(index, 0)
	q := webhookview.FetchQuery{TenantID: tenant, CommunityID: community}
	if tag != "" {
		q.Tags = []string{tag}
	}
	// State, rate and last attempt come from the webhooks read model's health rows, which Fetch
	// reads with the page: no delivery is counted.
	q.Health = true
	now := s.cfg.Clock()
	row := func(w webhookview.Webhook) webhookRow {
		return webhookRow{ID: w.ID, Name: w.Settings.Name, Host: hostOf(w.Settings.API.URL), State: stateOf(w, now),
			Href: webhookPath(tenant, community, w.ID), EventNames: w.Settings.EventNames, Tags: w.Settings.Tags,
			Rate: rate(w.Health.SuccessRate()), LastAttemptAt: lastAttempt(w.Health)}
	}
	var rows []webhookRow
	total, scanned := 0, false
	if wantState == "" {
		q.PageIndex, q.PageSize = index, pageSize
		page, err := s.cfg.WebhookView.Fetch(c.UserContext(), q)
		if err != nil {
			return err
		}
		total = page.Total
		for _, w := range page.Items {
			rows = append(rows, row(w))
		}
	} else {
		// The read model has no index by state: read the community's webhooks and keep the page asked for.
		q.PageSize = 100
		for q.PageIndex = 0; q.PageIndex*q.PageSize < maxStateScan; q.PageIndex++ {
			page, err := s.cfg.WebhookView.Fetch(c.UserContext(), q)
			if err != nil {
				return err
			}
			for _, w := range page.Items {
				if r := row(w); r.State.Class == wantState {
					if total >= index*pageSize && total < (index+1)*pageSize {
						rows = append(rows, r)
					}
					total++
				}
			}
			if (q.PageIndex+1)*q.PageSize >= page.Total {
				break
			}
			scanned = (q.PageIndex+2)*q.PageSize >= maxStateScan
		}
	}
	pages := (total + pageSize - 1) / pageSize
	link := func(i int) string {
		v := fmt.Sprintf("?page=%d", i)
		if tag != "" {
			v += "&tag=" + urlQuery(tag)
		}
		if wantState != "" {
			v += "&state=" + wantState
		}
		return v
	}
	data := map[string]any{
		"Tenant": tenant, "Community": community, "Rows": rows, "Tag": tag, "State": wantState, "Total": total,
		"Index": index, "Pages": max(pages, 1), "Scanned": scanned, "New": communityPath(tenant, community) + "new",
	}
	if index > 0 {
		data["Prev"] = link(index - 1)
	}
	if index+1 < pages {
		data["Next"] = link(index + 1)
	}
	return s.render(c, "webhooks", pageData{Title: community + " · webhooks", Crumbs: []crumb{
		{Label: "Communities", Href: Prefix + "/"}, {Label: tenant + " / " + community}}, Data: data})
}

// webhookID reads the path's webhook id: a UUID, or no webhook.
func webhookID(c *fiber.Ctx) (string, error) {
	id, err := uuid.Parse(c.Params("webhook"))
	if err != nil {
		return "", notFound("webhook")
	}
	return id.String(), nil
}

// webhookOf reads the webhook the path names in the path's scope, with its canonical id.
func (s *Console) webhookOf(c *fiber.Ctx) (webhookview.Webhook, string, error) {
	id, err := webhookID(c)
	if err != nil {
		return webhookview.Webhook{}, "", err
	}
	w, err := s.cfg.WebhookView.Get(c.UserContext(), c.Params("tenant"), c.Params("community"), id)
	return w, id, err
}

func (s *Console) webhookPage(c *fiber.Ctx) error {
	tenant, community := c.Params("tenant"), c.Params("community")
	w, id, err := s.webhookOf(c)
	if err != nil {
		return err
	}
	now := s.cfg.Clock()
	h, err := s.cfg.Deliveries.Health(c.UserContext(), tenant, community, id, now.Add(-healthWindow))
	if err != nil {
		return err
	}
	hist, err := s.cfg.History.History(c.UserContext(), tenant, community, id, 0, historySize)
	if err != nil {
		return err
	}
	f, err := deliveryFilterForm(c.Query("status"), c.Query("event"), c.Query("from"), c.Query("to"))
	if err != nil {
		return err
	}
	index, _ := strconv.Atoi(c.Query("page"))
	index = max(index, 0)
	dq := deliveryview.FetchQuery{TenantID: tenant, CommunityID: community, WebhookID: id, Status: f.filter.Status,
		EventName: f.filter.EventName, From: f.filter.From, To: f.filter.To, PageIndex: index, PageSize: pageSize}
	dpage, err := s.cfg.Deliveries.Fetch(c.UserContext(), dq)
	if err != nil {
		return err
	}
	base := webhookPath(tenant, community, id)
	deliveries := make([]deliveryRow, len(dpage.Items))
	for i, d := range dpage.Items {
		deliveries[i] = toDeliveryRow(d, base+"/d/"+d.ID)
	}
	data := map[string]any{
		"Webhook": w, "Base": base, "State": stateOf(w, now), "Health": h, "Rate": rate(h.SuccessRate()), "Now": now,
		"Endpoint": endpointPanel(w.Health, now),
		"Settings": settingsRows(w.Settings), "Timeline": timeline(hist.Entries), "HistoryTotal": hist.Total,
		"Deliveries": deliveries, "DeliveryTotal": dpage.Total, "Filter": f,
	}
	pages := (dpage.Total + pageSize - 1) / pageSize
	if index > 0 {
		data["Prev"] = f.query(index - 1)
	}
	if index+1 < pages {
		data["Next"] = f.query(index + 1)
	}
	return s.render(c, "webhook", pageData{Title: w.Settings.Name, Crumbs: []crumb{
		{Label: "Communities", Href: Prefix + "/"}, {Label: tenant + " / " + community, Href: communityPath(tenant, community)},
		{Label: w.Settings.Name}}, Data: data})
}

// deliveryRow is a delivery of a webhook's delivery log.
type deliveryRow struct {
	deliveryview.Delivery
	Href, Result string
}

func toDeliveryRow(d deliveryview.Delivery, href string) deliveryRow {
	return deliveryRow{Delivery: d, Href: href, Result: attemptResult(d.LastAttempt.Status, d.LastAttempt.ErrorClass, d.Attempts)}
}

// attemptResult says what came of an attempt: its status, or why none came.
func attemptResult(status int, errorClass string, attempts int) string {
	switch {
	case attempts == 0:
		return "not attempted yet"
	case status != 0:
		return strconv.Itoa(status)
	case errorClass != "":
		return errorClass
	}
	return "no response"
}

func (s *Console) deliveryPage(c *fiber.Ctx) error {
	tenant, community := c.Params("tenant"), c.Params("community")
	w, id, err := s.webhookOf(c)
	if err != nil {
		return err
	}
	d, err := s.cfg.Deliveries.Get(c.UserContext(), tenant, community, c.Params("delivery"))
	if err != nil {
		return err
	}
	if d.WebhookID != id {
		return notFound("delivery")
	}
	base := webhookPath(tenant, community, id)
	attempts := make([]attemptRow, len(d.AttemptLog))
	for i, a := range d.AttemptLog {
		attempts[len(attempts)-1-i] = attemptRow{Attempt: a, Result: attemptResult(a.Status, a.ErrorClass, 1)}
	}
	data := map[string]any{
		"Delivery": d, "Webhook": w, "Attempts": attempts, "Headers": sentHeaders(w, d), "Now": s.cfg.Clock(),
		"Retry": base + "/d/" + d.ID + "/retry", "Finished": d.Status.Finished(),
	}
	return s.render(c, "delivery", pageData{Title: "Delivery " + d.ID, Crumbs: []crumb{
		{Label: "Communities", Href: Prefix + "/"}, {Label: tenant + " / " + community, Href: communityPath(tenant, community)},
		{Label: w.Settings.Name, Href: base}, {Label: "delivery " + d.ID[:min(8, len(d.ID))]}}, Data: data})
}

type attemptRow struct {
	deliveryview.Attempt
	Result string
}
