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
	ID, Name, Host, State, Href string
	EventNames, Tags            []string
	Health                      deliveryview.Health
	Rate                        string
}

// state is enabled, disabled or failing (enabled, and a delivery parked in the health window, or
// a retry under way with no success in it).
func state(w webhookview.Webhook, h deliveryview.Health) string {
	switch {
	case w.Disabled:
		return "disabled"
	case h.Failed > 0 || (h.Retrying > 0 && h.Succeeded == 0):
		return "failing"
	}
	return "enabled"
}

func rate(h deliveryview.Health) string {
	r, ok := h.SuccessRate()
	if !ok {
		return "—"
	}
	return strconv.FormatFloat(r*100, 'f', 1, 64) + " %"
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
	since := s.cfg.Clock().Add(-healthWindow)
	row := func(w webhookview.Webhook) (webhookRow, error) {
		h, err := s.cfg.Deliveries.Health(c.UserContext(), tenant, community, w.ID, since)
		if err != nil {
			return webhookRow{}, err
		}
		return webhookRow{ID: w.ID, Name: w.Settings.Name, Host: hostOf(w.Settings.API.URL), State: state(w, h),
			Href: webhookPath(tenant, community, w.ID), EventNames: w.Settings.EventNames, Tags: w.Settings.Tags,
			Health: h, Rate: rate(h)}, nil
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
			r, err := row(w)
			if err != nil {
				return err
			}
			rows = append(rows, r)
		}
	} else {
		// The state depends on deliveries: read the community's webhooks and keep the page asked for.
		q.PageSize = 100
		for q.PageIndex = 0; q.PageIndex*q.PageSize < maxStateScan; q.PageIndex++ {
			page, err := s.cfg.WebhookView.Fetch(c.UserContext(), q)
			if err != nil {
				return err
			}
			for _, w := range page.Items {
				r, err := row(w)
				if err != nil {
					return err
				}
				if r.State == wantState {
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

func (s *Console) webhookPage(c *fiber.Ctx) error {
	tenant, community := c.Params("tenant"), c.Params("community")
	id, err := webhookID(c)
	if err != nil {
		return err
	}
	w, err := s.cfg.WebhookView.Get(c.UserContext(), tenant, community, id)
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
		"Webhook": w, "Base": base, "State": state(w, h), "Health": h, "Rate": rate(h), "Now": now,
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
	id, err := webhookID(c)
	if err != nil {
		return err
	}
	w, err := s.cfg.WebhookView.Get(c.UserContext(), tenant, community, id)
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
