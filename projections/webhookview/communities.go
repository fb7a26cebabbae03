package webhookview

import (
	"context"
	"fmt"
)

// Community is a tenant's community that has webhooks, with how many.
type Community struct {
	TenantID, CommunityID string
	// Webhooks counts the community's webhooks (deleted ones are gone from the view); Disabled
	// counts those of them that are disabled.
	Webhooks, Disabled int
}

// Communities returns up to limit communities that have webhooks, ordered by tenant then
// community: every tenant's when tenantID is empty, else that tenant's, and only that community
// when communityID is given too. It reads the webhooks' rows, so its cost grows with the webhooks
// of the tenants it covers; the console's overview is its only caller.
func (v *View) Communities(ctx context.Context, tenantID, communityID string, limit int) ([]Community, error) {
	if limit < 1 {
		return nil, fmt.Errorf("webhookview: communities: limit %d must be at least 1", limit)
	}
	where, args := "", []any{}
	switch {
	case tenantID != "" && communityID != "":
		where, args = ` WHERE tenant = ? AND community = ?`, []any{tenantID, communityID}
	case tenantID != "":
		where, args = ` WHERE tenant = ?`, []any{tenantID}
	}
	rows, err := v.db.QueryContext(ctx, `SELECT tenant, community, count(*), coalesce(sum(disabled), 0) FROM `+tableWebhooks+
		where+` GROUP BY tenant, community ORDER BY tenant, community LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("webhookview: communities: %w", err)
	}
	defer rows.Close()
	var out []Community
	for rows.Next() {
		var c Community
		if err := rows.Scan(&c.TenantID, &c.CommunityID, &c.Webhooks, &c.Disabled); err != nil {
			return nil, fmt.Errorf("webhookview: communities: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("webhookview: communities: %w", err)
	}
	return out, nil
}
