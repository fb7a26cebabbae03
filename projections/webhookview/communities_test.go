package webhookview_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/hookd/hookd/domain/webhook"
	"github.com/hookd/hookd/projections/webhookview"
)

func TestCommunitiesCountWebhooksPerCommunity(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.create("t1", "c1")
	off := f.create("t1", "c1")
	gone := f.create("t1", "c2")
	f.create("t2", "c1")
	f.do(off, (*webhook.Webhook).Disable)
	f.do(gone, (*webhook.Webhook).Delete)
	f.flush()
	ctx := context.Background()

	all, err := f.view.Communities(ctx, "", "", 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []webhookview.Community{{TenantID: "t1", CommunityID: "c1", Webhooks: 2, Disabled: 1}, {TenantID: "t2", CommunityID: "c1", Webhooks: 1}}
	if !reflect.DeepEqual(all, want) {
		t.Fatalf("communities %+v, want %+v (a community whose webhooks are all deleted is not one)", all, want)
	}
	if one, err := f.view.Communities(ctx, "t2", "", 10); err != nil || !reflect.DeepEqual(one, want[1:]) {
		t.Fatalf("tenant t2's: %+v %v", one, err)
	}
	if one, err := f.view.Communities(ctx, "t1", "c1", 10); err != nil || !reflect.DeepEqual(one, want[:1]) {
		t.Fatalf("t1/c1's: %+v %v", one, err)
	}
	if first, err := f.view.Communities(ctx, "", "", 1); err != nil || len(first) != 1 {
		t.Fatalf("limit 1: %+v %v", first, err)
	}
}
