package webhookview_test

import (
	"context"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/domain/webhook"
	"github.com/hookd/hookd/projections/webhookview"
)

func TestFetchPagesInCreationOrder(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var want []string
	for i := range 30 {
		want = append(want, f.create("t1", "c1"))
		if i%10 == 0 { // other scopes in between must not show up
			f.create("t1", "c2")
			f.create("t2", "c1")
		}
	}

	var got []string
	for index := 0; ; index++ {
		page := f.fetch(webhookview.FetchQuery{TenantID: "t1", CommunityID: "c1", PageIndex: index, PageSize: 7})
		if page.Total != 30 {
			t.Fatalf("page %d: Total %d, want 30", index, page.Total)
		}
		if len(page.Items) == 0 {
			if index != 5 {
				t.Fatalf("page %d is empty, want 5 pages", index)
			}
			break
		}
		if wantLen := min(7, 30-7*index); len(page.Items) != wantLen {
			t.Fatalf("page %d has %d items, want %d", index, len(page.Items), wantLen)
		}
		got = append(got, ids(page.Items)...)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("pages list %v,\nwant %v", got, want)
	}

	page := f.fetch(webhookview.FetchQuery{TenantID: "t1", CommunityID: "c1", PageIndex: 1 << 40, PageSize: 100})
	if page.Total != 30 || len(page.Items) != 0 || page.Items == nil {
		t.Fatalf("a page far past the end = %d items of %d (nil %v), want an empty, non-nil list of 30",
			len(page.Items), page.Total, page.Items == nil)
	}
}

func TestFetchKeepsTenantsAndCommunitiesApart(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a := f.create("t1", "c1", "x")
	b := f.create("t1", "c2", "x")
	c := f.create("t2", "c1", "x")
	for _, tc := range []struct {
		tenant, community string
		want              []string
	}{
		{"t1", "c1", []string{a}}, {"t1", "c2", []string{b}}, {"t2", "c1", []string{c}}, {"t2", "c2", []string{}},
	} {
		for _, tags := range [][]string{nil, {"x"}} {
			page := f.fetch(webhookview.FetchQuery{TenantID: tc.tenant, CommunityID: tc.community, Tags: tags, PageSize: 10})
			if !slices.Equal(ids(page.Items), tc.want) || page.Total != len(tc.want) {
				t.Errorf("%s/%s tags %v: %v of %d, want %v", tc.tenant, tc.community, tags, ids(page.Items), page.Total, tc.want)
			}
		}
	}

	ctx := context.Background()
	if _, err := f.view.Get(ctx, "t1", "c2", a); !errors.Is(err, webhook.ErrNotFound) {
		t.Errorf("Get in another community = %v, want ErrNotFound", err)
	}
	if _, err := f.view.Get(ctx, "t2", "c1", a); !errors.Is(err, webhook.ErrNotFound) {
		t.Errorf("Get in another tenant = %v, want ErrNotFound", err)
	}
	if _, err := f.view.Get(ctx, "t1", "c1", "no-such-id"); !errors.Is(err, webhook.ErrNotFound) {
		t.Errorf("Get of an unknown id = %v, want ErrNotFound", err)
	}
	if got, err := f.view.Get(ctx, "t1", "c1", a); err != nil || got.ID != a {
		t.Errorf("Get = %v, %v; want %s", got.ID, err, a)
	}
}

func TestFetchByTagsMatchesEveryTag(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	byTags := map[string][]string{}
	for i := range 60 {
		var tags []string
		if i%2 == 0 {
			tags = append(tags, "even")
		}
		if i%3 == 0 {
			tags = append(tags, "three")
		}
		if i%5 == 0 {
			tags = append(tags, "five", "five") // a tag twice counts once
		}
		id := f.create("t1", "c1", tags...)
		for _, filter := range [][]string{{"even"}, {"three"}, {"even", "three"}, {"even", "three", "five"}} {
			if matchesAll(tags, filter) {
				byTags[filterKey(filter)] = append(byTags[filterKey(filter)], id)
			}
		}
	}
	for _, filter := range [][]string{{"even"}, {"three"}, {"even", "three"}, {"three", "even", "three"}, {"even", "three", "five"}} {
		want := byTags[filterKey(filter)]
		var got []string
		for index := 0; ; index++ {
			page := f.fetch(webhookview.FetchQuery{TenantID: "t1", CommunityID: "c1", Tags: filter, PageIndex: index, PageSize: 4})
			if page.Total != len(want) {
				t.Fatalf("tags %v: Total %d, want %d", filter, page.Total, len(want))
			}
			if len(page.Items) == 0 {
				break
			}
			got = append(got, ids(page.Items)...)
		}
		if !slices.Equal(got, want) {
			t.Errorf("tags %v: %v,\nwant %v", filter, got, want)
		}
	}
	for _, filter := range [][]string{{"missing"}, {"even", "missing"}, {""}} {
		page := f.fetch(webhookview.FetchQuery{TenantID: "t1", CommunityID: "c1", Tags: filter, PageSize: 4})
		if page.Total != 0 || len(page.Items) != 0 {
			t.Errorf("tags %q: %d of %d, want nothing", filter, len(page.Items), page.Total)
		}
	}
}

// filterKey names a filter independently of the order and repetition of its tags.
func filterKey(filter []string) string {
	return strings.Join(slices.Compact(slices.Sorted(slices.Values(filter))), "+")
}

func matchesAll(tags, filter []string) bool {
	for _, want := range filter {
		if !slices.Contains(tags, want) {
			return false
		}
	}
	return true
}

func TestChangesAreReflected(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	a := f.create("t1", "c1", "blue")
	b := f.create("t1", "c1", "blue", "red")
	c := f.create("t1", "c1", "red")
	f.flush()
	created, err := f.view.Get(ctx, "t1", "c1", a)
	if err != nil {
		t.Fatal(err)
	}

	f.retag(a, "red")
	f.do(b, (*webhook.Webhook).Disable)
	f.do(c, (*webhook.Webhook).Delete)
	f.flush()

	if got := ids(f.fetch(webhookview.FetchQuery{TenantID: "t1", CommunityID: "c1", Tags: []string{"blue"}, PageSize: 10}).Items); !slices.Equal(got, []string{b}) {
		t.Errorf("blue after the changes: %v, want [%s]", got, b)
	}
	if got := ids(f.fetch(webhookview.FetchQuery{TenantID: "t1", CommunityID: "c1", Tags: []string{"red"}, PageSize: 10}).Items); !slices.Equal(got, []string{a, b}) {
		t.Errorf("red after the changes: %v, want [%s %s]", got, a, b)
	}
	all := f.fetch(webhookview.FetchQuery{TenantID: "t1", CommunityID: "c1", PageSize: 10})
	if !slices.Equal(ids(all.Items), []string{a, b}) || all.Total != 2 {
		t.Errorf("all after deleting %s: %v of %d", c, ids(all.Items), all.Total)
	}
	if _, err := f.view.Get(ctx, "t1", "c1", c); !errors.Is(err, webhook.ErrNotFound) {
		t.Errorf("Get of a deleted webhook = %v, want ErrNotFound", err)
	}

	updated, err := f.view.Get(ctx, "t1", "c1", a)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(updated.Settings.Tags, []string{"red"}) || updated.Version != 1 ||
		!updated.CreatedAt.Equal(created.CreatedAt) || !updated.UpdatedAt.After(created.UpdatedAt) {
		t.Errorf("after an update: tags %v, version %d, created %v, updated %v (was %v)",
			updated.Settings.Tags, updated.Version, updated.CreatedAt, updated.UpdatedAt, created.UpdatedAt)
	}
	disabled, err := f.view.Get(ctx, "t1", "c1", b)
	if err != nil || !disabled.Disabled {
		t.Fatalf("after Disable: %+v, %v", disabled, err)
	}
	f.do(b, (*webhook.Webhook).Enable)
	f.flush()
	if enabled, err := f.view.Get(ctx, "t1", "c1", b); err != nil || enabled.Disabled || enabled.Version != 2 {
		t.Fatalf("after Enable: disabled %v, version %d, %v", enabled.Disabled, enabled.Version, err)
	}
}

func TestSecretsStaySealed(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	id := f.create("t1", "c1")
	f.flush()
	got, err := f.view.Get(context.Background(), "t1", "c1", id)
	if err != nil {
		t.Fatal(err)
	}
	if got.Secret != "sealed:whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" || got.Settings.API.Credential.Password != "sealed:pa55word" ||
		got.Settings.API.Credential.Username != "sealed:user" {
		t.Errorf("secret %q, credential %+v: want them sealed", got.Secret, got.Settings.API.Credential)
	}
	if got.Stream != webhook.Stream(id) || got.CreatedBy != "alice" || got.TenantID != "t1" || got.CommunityID != "c1" {
		t.Errorf("stream %q, createdBy %q, scope %s/%s", got.Stream, got.CreatedBy, got.TenantID, got.CommunityID)
	}
}

func TestApplyingABatchAgainChangesNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a := f.create("t1", "c1", "x")
	f.create("t1", "c1", "x")
	f.retag(a, "y")
	f.do(a, (*webhook.Webhook).Disable)
	events := f.flush()
	before := f.fetch(webhookview.FetchQuery{TenantID: "t1", CommunityID: "c1", Tags: []string{"x"}, PageSize: 10})
	f.apply(events)
	after := f.fetch(webhookview.FetchQuery{TenantID: "t1", CommunityID: "c1", Tags: []string{"x"}, PageSize: 10})
	if fmt.Sprint(before) != fmt.Sprint(after) {
		t.Fatalf("applying again changed the view:\n%+v\n%+v", before, after)
	}
}

func TestFetchRefusesBadPages(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, q := range []webhookview.FetchQuery{{PageSize: 0}, {PageIndex: -1, PageSize: 10}} {
		if _, err := f.view.Fetch(context.Background(), q); err == nil {
			t.Errorf("Fetch(%+v) succeeded", q)
		}
	}
}

// Many webhooks, so that pages cross the buckets the view counts in, with deletes and retags leaving
// holes: every page of every filter must be what a plain list in memory says.
func TestFetchAgreesWithAPlainModelAcrossBuckets(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	rng := mrand.New(mrand.NewPCG(7, 7))
	tagNames := []string{"a", "b", "c"}
	randomTags := func() []string {
		var tags []string
		for _, tag := range tagNames {
			if rng.IntN(3) > 0 {
				tags = append(tags, tag)
			}
		}
		return tags
	}
	type entry struct {
		id   string
		tags []string
	}
	var model []entry
	for range 2600 {
		tags := randomTags()
		model = append(model, entry{f.create("t1", "c1", tags...), tags})
		if len(f.pending) >= 1000 {
			f.flush()
		}
	}
	for i := 0; i < len(model); i++ {
		switch rng.IntN(10) {
		case 0:
			f.do(model[i].id, (*webhook.Webhook).Delete)
			model = slices.Delete(model, i, i+1)
			i--
		case 1:
			tags := randomTags()
			f.retag(model[i].id, tags...)
			model[i].tags = tags
		}
	}
	f.flush()

	for _, filter := range [][]string{nil, {"a"}, {"c"}, {"a", "b"}, {"a", "b", "c"}} {
		var want []string
		for _, e := range model {
			if matchesAll(e.tags, filter) {
				want = append(want, e.id)
			}
		}
		for _, size := range []int{100, 333} {
			var got []string
			for index := 0; ; index++ {
				page := f.fetch(webhookview.FetchQuery{TenantID: "t1", CommunityID: "c1", Tags: filter, PageIndex: index, PageSize: size})
				if page.Total != len(want) {
					t.Fatalf("tags %v: Total %d, want %d", filter, page.Total, len(want))
				}
				if len(page.Items) == 0 {
					break
				}
				got = append(got, ids(page.Items)...)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("tags %v, page size %d: the pages differ from the model", filter, size)
			}
		}
	}
}

func TestWhatQueriesReturnIsTheCallersToChange(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	id := f.create("t1", "c1", "blue")
	first := f.fetch(webhookview.FetchQuery{TenantID: "t1", CommunityID: "c1", PageSize: 10})
	first.Items[0].Settings.Tags[0] = "changed"
	got, err := f.view.Get(ctx, "t1", "c1", id)
	if err != nil {
		t.Fatal(err)
	}
	got.Settings.EventNames[0] = "changed"
	again := f.fetch(webhookview.FetchQuery{TenantID: "t1", CommunityID: "c1", PageSize: 10})
	if s := again.Items[0].Settings; s.Tags[0] != "blue" || s.EventNames[0] != "order.created" {
		t.Fatalf("a caller's change reached the view: tags %v, event names %v", s.Tags, s.EventNames)
	}
}

// The total of a filter with several tags is cached; it must follow every change of membership,
// including a batch that adds one webhook and takes another away, which leaves every count as it was.
func TestTotalsOfSeveralTagsFollowChanges(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a := f.create("t1", "c1", "x", "y")
	b := f.create("t1", "c1", "x")
	both := webhookview.FetchQuery{TenantID: "t1", CommunityID: "c1", Tags: []string{"x", "y"}, PageSize: 10}
	if page := f.fetch(both); page.Total != 1 || !slices.Equal(ids(page.Items), []string{a}) {
		t.Fatalf("x+y: %v of %d", ids(page.Items), page.Total)
	}
	f.retag(a, "x")
	f.retag(b, "x", "y")
	if page := f.fetch(both); page.Total != 1 || !slices.Equal(ids(page.Items), []string{b}) {
		t.Fatalf("x+y after swapping the tags: %v of %d", ids(page.Items), page.Total)
	}
	f.retag(a, "x", "y")
	if page := f.fetch(both); page.Total != 2 || !slices.Equal(ids(page.Items), []string{a, b}) {
		t.Fatalf("x+y after tagging both: %v of %d", ids(page.Items), page.Total)
	}
	f.do(b, (*webhook.Webhook).Delete)
	if page := f.fetch(both); page.Total != 1 || !slices.Equal(ids(page.Items), []string{a}) {
		t.Fatalf("x+y after a delete: %v of %d", ids(page.Items), page.Total)
	}
}

// TestConcurrentFirstReadsDoNotExhaustThePool starts many more concurrent reads than the pool has
// connections, on a view whose statement cache is empty: each read holds its transaction's
// connection, so none may wait for another connection to prepare a statement.
func TestConcurrentFirstReadsDoNotExhaustThePool(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	id := f.create("t1", "c1", "a", "b")
	f.create("t1", "c1", "a")
	f.flush()
	fresh, err := webhookview.New(f.db, f.codec) // same tables, an empty statement cache
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	errs := make(chan error, 64)
	for i := range cap(errs) {
		go func() {
			var err error
			switch i % 3 {
			case 0:
				_, err = fresh.Fetch(ctx, webhookview.FetchQuery{TenantID: "t1", CommunityID: "c1", Tags: []string{"a", "b"}, PageSize: 25})
			case 1:
				_, err = fresh.Fetch(ctx, webhookview.FetchQuery{TenantID: "t1", CommunityID: "c1", Tags: []string{"a"}, PageSize: 25})
			default:
				_, err = fresh.Get(ctx, "t1", "c1", id)
			}
			errs <- err
		}()
	}
	for range cap(errs) {
		if err := <-errs; err != nil {
			t.Fatalf("a concurrent first read failed (a pool deadlock ends in the context's deadline): %v", err)
		}
	}
}
