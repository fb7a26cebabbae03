package main

import (
	"context"

	"github.com/hookd/hookd/application/command"
	"github.com/hookd/hookd/projections/deliveryview"
)

// deliverySelector answers the replay command's selections from the deliveries read model. The
// port is the application's and the read model a projection's, which only the composition root sees
// both of.
type deliverySelector struct{ view *deliveryview.View }

func (s deliverySelector) SelectDeliveries(ctx context.Context, tenantID, communityID, webhookID string, f command.DeliveryFilter, index, size int) ([]string, int, error) {
	page, err := s.view.Fetch(ctx, deliveryview.FetchQuery{
		TenantID: tenantID, CommunityID: communityID, WebhookID: webhookID,
		Status: f.Status, EventName: f.EventName, From: f.From, To: f.To, PageIndex: index, PageSize: size,
	})
	if err != nil {
		return nil, 0, err
	}
	ids := make([]string, len(page.Items))
	for i, d := range page.Items {
		ids[i] = d.ID
	}
	return ids, page.Total, nil
}
