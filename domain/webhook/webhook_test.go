package webhook_test

import (
	"encoding/base64"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/domain/webhook"
)

// secret32 is a Standard Webhooks secret of 32 bytes, as the application generates.
var secret32 = webhook.SecretPrefix + base64.StdEncoding.EncodeToString(make([]byte, 32))

func validCreation() webhook.Creation {
	return webhook.Creation{
		ID:          "0b8a3c1e-2f4d-4e6a-9b7c-1d2e3f4a5b6c",
		TenantID:    "tenant-1",
		CommunityID: "community.a",
		Settings:    validSettings(),
		CreatedBy:   "alice@example.com",
		Secret:      secret32,
	}
}

func mustCreate(t *testing.T, c webhook.Creation) *webhook.Webhook {
	t.Helper()
	w, err := webhook.Create(c)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	return w
}

func eventNames(events []webhook.Event) []string {
	names := make([]string, len(events))
	for i, e := range events {
		names[i] = e.EventName()
	}
	return names
}

func checkChanges(t *testing.T, w *webhook.Webhook, want ...string) {
	t.Helper()
	if got := eventNames(w.Changes()); !reflect.DeepEqual(got, want) && (len(got) != 0 || len(want) != 0) {
		t.Errorf("Changes() = %v, want %v", got, want)
	}
}

func TestCreateRecordsOneNormalizedCreated(t *testing.T) {
	t.Parallel()
	c := validCreation()
	c.Settings = webhook.Settings{ // every defaultable field left out
		Name:         "minimal",
		EventNames:   []string{"user.created"},
		API:          webhook.Endpoint{URL: "https://example.com/hook"},
		SuccessCodes: []int{200},
	}
	w := mustCreate(t, c)

	checkChanges(t, w, webhook.EventCreated)
	created, ok := w.Changes()[0].(webhook.Created)
	if !ok {
		t.Fatalf("change is %T, want webhook.Created (a value)", w.Changes()[0])
	}
	s := created.Settings
	if s.Criteria != webhook.CriteriaAny {
		t.Errorf("criteria = %v, want ANY", s.Criteria)
	}
	if s.API.Type != "POST" {
		t.Errorf("api.type = %q, want POST", s.API.Type)
	}
	if s.API.AuthType != webhook.AuthNone {
		t.Errorf("api.authType = %v, want none", s.API.AuthType)
	}
	if s.Tags == nil || s.Query == nil || s.RetryCodes == nil || s.EventNames == nil || s.SuccessCodes == nil {
		t.Errorf("the event keeps a nil list: %#v", s)
	}
	want := webhook.Created{
		WebhookID:   c.ID,
		TenantID:    c.TenantID,
		CommunityID: c.CommunityID,
		Settings:    c.Settings.Normalized(),
		CreatedBy:   c.CreatedBy,
		Secret:      c.Secret,
	}
	if !reflect.DeepEqual(created, want) {
		t.Errorf("Created = %#v\nwant      %#v", created, want)
	}

	if w.ID() != c.ID || w.TenantID() != c.TenantID || w.CommunityID() != c.CommunityID ||
		w.CreatedBy() != c.CreatedBy || w.Secret() != c.Secret || w.Disabled() || w.Deleted() {
		t.Errorf("state after Create: %+v", w)
	}
	if !reflect.DeepEqual(w.Settings(), want.Settings) {
		t.Errorf("Settings() = %#v, want the normalized settings", w.Settings())
	}
	if w.Version() != -1 {
		t.Errorf("Version() = %d, want -1 for a new webhook", w.Version())
	}
	if !w.BelongsTo(c.TenantID, c.CommunityID) {
		t.Error("BelongsTo its own tenant and community = false")
	}
	for _, other := range [][2]string{{"tenant-2", c.CommunityID}, {c.TenantID, "community.b"}, {"", ""}} {
		if w.BelongsTo(other[0], other[1]) {
			t.Errorf("BelongsTo(%q, %q) = true", other[0], other[1])
		}
	}
}

func TestCreateDisabled(t *testing.T) {
	t.Parallel()
	c := validCreation()
	c.Disabled = true
	w := mustCreate(t, c)
	if !w.Disabled() || !w.Changes()[0].(webhook.Created).Disabled {
		t.Fatal("a webhook created disabled is not disabled")
	}
	if err := w.Disable(); err != nil {
		t.Fatal(err)
	}
	checkChanges(t, w, webhook.EventCreated)
}

func TestCreateValidation(t *testing.T) {
	t.Parallel()
	long := func(n int) string { return strings.Repeat("x", n) }
	tests := []struct {
		name   string
		mutate func(*webhook.Creation)
		want   []string
	}{
		{"valid", func(*webhook.Creation) {}, nil},
		{"ids of 128 characters", func(c *webhook.Creation) { c.TenantID, c.CommunityID = long(128), long(128) }, nil},
		{"ids with every allowed character", func(c *webhook.Creation) { c.TenantID, c.CommunityID = "aZ09_.-", "-._Za90" }, nil},
		{"createdBy empty", func(c *webhook.Creation) { c.CreatedBy = "" }, nil},
		{"createdBy at the bound", func(c *webhook.Creation) { c.CreatedBy = long(256) }, nil},
		{"createdBy with spaces and non-ASCII", func(c *webhook.Creation) { c.CreatedBy = "Zoë's app (prod)" }, nil},
		{"raw secret", func(c *webhook.Creation) { c.Secret = "my shared secret" }, nil},

		{"id required", func(c *webhook.Creation) { c.ID = "" }, []string{"_id"}},
		{"tenant required", func(c *webhook.Creation) { c.TenantID = "" }, []string{"tenantId"}},
		{"tenant with space", func(c *webhook.Creation) { c.TenantID = "tenant 1" }, []string{"tenantId"}},
		{"tenant with slash", func(c *webhook.Creation) { c.TenantID = "tenant/1" }, []string{"tenantId"}},
		{"tenant too long", func(c *webhook.Creation) { c.TenantID = long(129) }, []string{"tenantId"}},
		{"tenant non-ASCII", func(c *webhook.Creation) { c.TenantID = "ténant" }, []string{"tenantId"}},
		{"community required", func(c *webhook.Creation) { c.CommunityID = "" }, []string{"communityId"}},
		{"community with colon", func(c *webhook.Creation) { c.CommunityID = "a:b" }, []string{"communityId"}},
		{"community too long", func(c *webhook.Creation) { c.CommunityID = long(129) }, []string{"communityId"}},
		{"createdBy too long", func(c *webhook.Creation) { c.CreatedBy = long(257) }, []string{"createdBy"}},
		{"createdBy with NUL", func(c *webhook.Creation) { c.CreatedBy = "app\x00" }, []string{"createdBy"}},
		{"createdBy with CR", func(c *webhook.Creation) { c.CreatedBy = "app\rX" }, []string{"createdBy"}},
		{"createdBy with LF", func(c *webhook.Creation) { c.CreatedBy = "app\nX" }, []string{"createdBy"}},
		{"createdBy with CRLF", func(c *webhook.Creation) { c.CreatedBy = "app\r\nX-Injected: 1" }, []string{"createdBy"}},
		{"createdBy with ESC", func(c *webhook.Creation) { c.CreatedBy = "\x1b[2J" }, []string{"createdBy"}},
		{"createdBy with DEL", func(c *webhook.Creation) { c.CreatedBy = "app\x7f" }, []string{"createdBy"}},
		{"createdBy not UTF-8", func(c *webhook.Creation) { c.CreatedBy = "app\xff" }, []string{"createdBy"}},
		{"secret empty", func(c *webhook.Creation) { c.Secret = "" }, []string{"secret"}},
		{"secret too short", func(c *webhook.Creation) { c.Secret = "short" }, []string{"secret"}},
		{"settings are validated", func(c *webhook.Creation) { c.Settings.TTL = 9 }, []string{"ttl"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := validCreation()
			tt.mutate(&c)
			w, err := webhook.Create(c)
			checkProblems(t, err, tt.want)
			if err != nil && w != nil {
				t.Error("Create returned a webhook with its error")
			}
		})
	}
}

// One answer names every problem, each with its field path.
func TestCreateListsEveryProblem(t *testing.T) {
	t.Parallel()
	c := webhook.Creation{
		ID:          "",
		TenantID:    "",
		CommunityID: "bad id",
		CreatedBy:   strings.Repeat("x", 257),
		Secret:      "x",
		Settings: webhook.Settings{
			Name:       "",
			EventNames: []string{"ok", "not ok"},
			Tags:       []string{""},
			Query:      []webhook.QueryEntry{{Key: "k", Value: nil}},
			API: webhook.Endpoint{
				Type:          "PUT",
				URL:           "ftp://example.com",
				AuthType:      webhook.AuthBasic,
				OAuthTokenURL: "relative",
				OAuthScopes:   []string{"a b"},
				Credential:    webhook.Credential{Username: "a:b"},
			},
			SuccessCodes: []int{200, 700},
			RetryCodes:   []int{42, 200},
			RetryCount:   3,
			TTL:          -1,
		},
	}
	w, err := webhook.Create(c)
	if w != nil {
		t.Error("Create returned a webhook with its error")
	}
	checkProblems(t, err, []string{
		"_id", "tenantId", "communityId", "createdBy", "secret",
		"name", "eventNames[1]", "tags[0]", "query[0]",
		"api.type", "api.url", "api.oAuthTokenUrl", "api.oAuthScopes[0]",
		"api.credential.password", "api.credential.username",
		"successCodes[1]", "retryCodes[0]", "retryCodes", "retryCount", "ttl",
	})
}

func TestUpdate(t *testing.T) {
	t.Parallel()
	with := func(f setting) webhook.Settings { s := validSettings(); f(&s); return s }
	tests := []struct {
		name     string
		settings webhook.Settings
		changes  bool
	}{
		{"same settings", validSettings(), false},
		{"same settings with defaults left out", with(func(s *webhook.Settings) {
			s.Criteria, s.API.Type, s.API.AuthType = webhook.Criteria{}, "", webhook.AuthType{}
		}), false},
		{"same settings with defaults spelt out", with(func(s *webhook.Settings) {
			s.Criteria, s.API.Type, s.API.AuthType = webhook.CriteriaAny, "POST", webhook.AuthNone
		}), false},
		{"name", with(func(s *webhook.Settings) { s.Name = "renamed" }), true},
		{"event names", with(func(s *webhook.Settings) { s.EventNames = []string{"user.created", "user.deleted"} }), true},
		{"tags", with(func(s *webhook.Settings) { s.Tags = []string{"staging"} }), true},
		{"tags emptied", with(func(s *webhook.Settings) { s.Tags = []string{} }), true},
		{"query value type", with(query("data.kind", true)), true},
		{"criteria", with(func(s *webhook.Settings) { s.Criteria = webhook.CriteriaAll }), true},
		{"url", with(endpointURL("https://example.com/v2")), true},
		{"auth", with(bearer("token")), true},
		{"scopes", with(api(func(e *webhook.Endpoint) { e.OAuthScopes = []string{"read"} })), true},
		{"success codes", with(func(s *webhook.Settings) { s.SuccessCodes = []int{200, 204} }), true},
		{"retry codes", with(func(s *webhook.Settings) { s.RetryCodes = []int{0, 500} }), true},
		{"retry count", with(func(s *webhook.Settings) { s.RetryCount = 2 }), true},
		{"ttl", with(func(s *webhook.Settings) { s.TTL = 5 }), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := mustCreate(t, validCreation())
			if err := w.Update(tt.settings); err != nil {
				t.Fatalf("Update: %v", err)
			}
			if !tt.changes {
				checkChanges(t, w, webhook.EventCreated)
				return
			}
			checkChanges(t, w, webhook.EventCreated, webhook.EventUpdated)
			want := webhook.Updated{WebhookID: w.ID(), Settings: tt.settings.Normalized()}
			if got := w.Changes()[1]; !reflect.DeepEqual(got, want) {
				t.Errorf("Updated = %#v\nwant      %#v", got, want)
			}
			if !reflect.DeepEqual(w.Settings(), want.Settings) {
				t.Errorf("Settings() = %#v, want the normalized new settings", w.Settings())
			}
			// The same update again changes nothing.
			if err := w.Update(tt.settings); err != nil {
				t.Fatal(err)
			}
			checkChanges(t, w, webhook.EventCreated, webhook.EventUpdated)
		})
	}
}

// Settings that differ only in nil against empty lists are the same settings, in either direction.
func TestUpdateNilVersusEmptyListsRecordsNothing(t *testing.T) {
	t.Parallel()
	withLists := func(empty bool) webhook.Settings {
		s := validSettings()
		s.Tags, s.Query, s.RetryCodes, s.API.OAuthScopes = nil, nil, nil, nil
		if empty {
			s.Tags, s.Query, s.RetryCodes, s.API.OAuthScopes = []string{}, []webhook.QueryEntry{}, []int{}, []string{}
		}
		return s
	}
	for _, tt := range []struct {
		name           string
		created, given bool // whether the lists are empty rather than nil
	}{
		{"created with nil, updated with empty", false, true},
		{"created with empty, updated with nil", true, false},
		{"created with nil, updated with nil", false, false},
		{"created with empty, updated with empty", true, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := validCreation()
			c.Settings = withLists(tt.created)
			w := mustCreate(t, c)
			mustDo(t, w.Update(withLists(tt.given)))
			checkChanges(t, w, webhook.EventCreated)
		})
	}
}

// Rotating only a credential must record an event, or the new credential would be lost.
func TestUpdateCredentialOnly(t *testing.T) {
	t.Parallel()
	c := validCreation()
	basic("alice", "old")(&c.Settings)
	w := mustCreate(t, c)
	s := validSettings()
	basic("alice", "new")(&s)
	if err := w.Update(s); err != nil {
		t.Fatal(err)
	}
	checkChanges(t, w, webhook.EventCreated, webhook.EventUpdated)
	if got := w.Settings().API.Credential.Password; got != "new" {
		t.Errorf("password = %q, want new", got)
	}
}

func TestUpdateInvalidRecordsNothing(t *testing.T) {
	t.Parallel()
	w := mustCreate(t, validCreation())
	before := w.Settings()
	s := validSettings()
	s.EventNames = nil
	s.API.URL = "http://"
	checkProblems(t, w.Update(s), []string{"eventNames", "api.url"})
	checkChanges(t, w, webhook.EventCreated)
	if !reflect.DeepEqual(w.Settings(), before) {
		t.Errorf("a refused update changed the settings to %#v", w.Settings())
	}
}

func TestDeletedWebhookAcceptsNoCommand(t *testing.T) {
	t.Parallel()
	changed := validSettings()
	changed.Name = "changed"
	commands := []struct {
		name string
		run  func(*webhook.Webhook) error
	}{
		{"Update", func(w *webhook.Webhook) error { return w.Update(changed) }},
		{"Update with invalid settings", func(w *webhook.Webhook) error { return w.Update(webhook.Settings{}) }},
		{"Update with the same settings", func(w *webhook.Webhook) error { return w.Update(validSettings()) }},
		{"Disable", (*webhook.Webhook).Disable},
		{"Enable", (*webhook.Webhook).Enable},
		{"Delete", (*webhook.Webhook).Delete},
		{"RotateSecret", func(w *webhook.Webhook) error { return w.RotateSecret("a-new-raw-secret", time.Hour, time.Now()) }},
	}
	for _, disabled := range []bool{false, true} {
		for _, cmd := range commands {
			name := cmd.name
			if disabled {
				name += " on a disabled webhook"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				c := validCreation()
				c.Disabled = disabled
				w := mustCreate(t, c)
				if err := w.Delete(); err != nil {
					t.Fatalf("Delete: %v", err)
				}
				if !w.Deleted() {
					t.Fatal("Deleted() = false after Delete")
				}
				if err := cmd.run(w); !errors.Is(err, webhook.ErrDeleted) {
					t.Errorf("%s after Delete = %v, want ErrDeleted", cmd.name, err)
				}
				checkChanges(t, w, webhook.EventCreated, webhook.EventDeleted)

				re, err := webhook.Rehydrate(w.Changes(), 1)
				if err != nil {
					t.Fatal(err)
				}
				if err := cmd.run(re); !errors.Is(err, webhook.ErrDeleted) {
					t.Errorf("%s on a rehydrated deleted webhook = %v, want ErrDeleted", cmd.name, err)
				}
				checkChanges(t, re)
			})
		}
	}
}

func TestDisableEnable(t *testing.T) {
	t.Parallel()
	type step struct {
		run  func(*webhook.Webhook) error
		name string
	}
	disable := step{(*webhook.Webhook).Disable, "Disable"}
	enable := step{(*webhook.Webhook).Enable, "Enable"}
	tests := []struct {
		name         string
		disabled     bool // at creation
		steps        []step
		want         []string
		wantDisabled bool
	}{
		{"disable", false, []step{disable}, []string{webhook.EventDisabled}, true},
		{"disable twice records once", false, []step{disable, disable}, []string{webhook.EventDisabled}, true},
		{"enable an enabled webhook records nothing", false, []step{enable}, nil, false},
		{"enable twice on an enabled webhook", false, []step{enable, enable}, nil, false},
		{"disable then enable records both", false, []step{disable, enable}, []string{webhook.EventDisabled, webhook.EventEnabled}, false},
		{"disable, enable, disable", false, []step{disable, enable, disable},
			[]string{webhook.EventDisabled, webhook.EventEnabled, webhook.EventDisabled}, true},
		{"disable a webhook created disabled records nothing", true, []step{disable}, nil, true},
		{"enable a webhook created disabled", true, []step{enable, enable}, []string{webhook.EventEnabled}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := validCreation()
			c.Disabled = tt.disabled
			w := mustCreate(t, c)
			for _, s := range tt.steps {
				if err := s.run(w); err != nil {
					t.Fatalf("%s: %v", s.name, err)
				}
			}
			checkChanges(t, w, append([]string{webhook.EventCreated}, tt.want...)...)
			if w.Disabled() != tt.wantDisabled {
				t.Errorf("Disabled() = %t, want %t", w.Disabled(), tt.wantDisabled)
			}
			for _, e := range w.Changes()[1:] {
				var id string
				switch e := e.(type) {
				case webhook.Disabled:
					id = e.WebhookID
				case webhook.Enabled:
					id = e.WebhookID
				default:
					t.Fatalf("unexpected change %T", e)
				}
				if id != c.ID {
					t.Errorf("%s carries webhook id %q, want %q", e.EventName(), id, c.ID)
				}
			}
		})
	}
}

func TestDelete(t *testing.T) {
	t.Parallel()
	w := mustCreate(t, validCreation())
	if err := w.Delete(); err != nil {
		t.Fatal(err)
	}
	checkChanges(t, w, webhook.EventCreated, webhook.EventDeleted)
	if got := w.Changes()[1]; got != (webhook.Deleted{WebhookID: w.ID()}) {
		t.Errorf("Deleted event = %#v", got)
	}
}

func TestRehydrateGivesTheSameState(t *testing.T) {
	t.Parallel()
	scenarios := []struct {
		name string
		run  func(*testing.T, *webhook.Webhook)
	}{
		{"created", func(*testing.T, *webhook.Webhook) {}},
		{"updated twice and disabled", func(t *testing.T, w *webhook.Webhook) {
			s := validSettings()
			s.Name = "first"
			basic("alice", "p")(&s)
			mustDo(t, w.Update(s))
			s = validSettings()
			s.Name = "second"
			s.Criteria = webhook.CriteriaAll
			mustDo(t, w.Update(s))
			mustDo(t, w.Disable())
		}},
		{"disabled and enabled", func(t *testing.T, w *webhook.Webhook) {
			mustDo(t, w.Disable())
			mustDo(t, w.Enable())
		}},
		{"deleted", func(t *testing.T, w *webhook.Webhook) {
			mustDo(t, w.Disable())
			mustDo(t, w.Delete())
		}},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			live := mustCreate(t, validCreation())
			sc.run(t, live)
			history := live.Changes()
			version := int64(len(history) - 1)

			re, err := webhook.Rehydrate(history, version)
			if err != nil {
				t.Fatalf("Rehydrate: %v", err)
			}
			if re.ID() != live.ID() || re.TenantID() != live.TenantID() || re.CommunityID() != live.CommunityID() ||
				re.CreatedBy() != live.CreatedBy() || re.Secret() != live.Secret() ||
				re.Disabled() != live.Disabled() || re.Deleted() != live.Deleted() {
				t.Errorf("rehydrated %+v\nlive       %+v", re, live)
			}
			if !reflect.DeepEqual(re.Settings(), live.Settings()) {
				t.Errorf("rehydrated settings %#v\nlive settings     %#v", re.Settings(), live.Settings())
			}
			if re.Version() != version {
				t.Errorf("Version() = %d, want %d", re.Version(), version)
			}
			checkChanges(t, re)
		})
	}
}

func mustDo(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestRehydratedWebhookRecordsOnlyNewChanges(t *testing.T) {
	t.Parallel()
	live := mustCreate(t, validCreation())
	mustDo(t, live.Disable())
	re, err := webhook.Rehydrate(live.Changes(), 1)
	if err != nil {
		t.Fatal(err)
	}
	mustDo(t, re.Disable()) // already disabled in the history
	checkChanges(t, re)
	mustDo(t, re.Enable())
	checkChanges(t, re, webhook.EventEnabled)
	if got := re.Changes()[0]; got != (webhook.Enabled{WebhookID: live.ID()}) {
		t.Errorf("Enabled = %#v", got)
	}
	if re.Version() != 1 {
		t.Errorf("a new change moved the version to %d; appends must expect the loaded version", re.Version())
	}
}

func TestRehydrateRejects(t *testing.T) {
	t.Parallel()
	created := mustCreate(t, validCreation()).Changes()[0].(webhook.Created)
	tests := []struct {
		name         string
		history      []webhook.Event
		wantNotFound bool
	}{
		{"nil history", nil, true},
		{"empty history", []webhook.Event{}, true},
		{"starts with Updated", []webhook.Event{webhook.Updated{WebhookID: "w"}, created}, false},
		{"starts with Deleted", []webhook.Event{webhook.Deleted{WebhookID: "w"}}, false},
		{"starts with Disabled", []webhook.Event{webhook.Disabled{WebhookID: "w"}}, false},
		{"starts with a pointer to Created", []webhook.Event{&created}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w, err := webhook.Rehydrate(tt.history, int64(len(tt.history)-1))
			if err == nil || w != nil {
				t.Fatalf("Rehydrate = %v, %v; want an error", w, err)
			}
			if got := errors.Is(err, webhook.ErrNotFound); got != tt.wantNotFound {
				t.Errorf("errors.Is(%v, ErrNotFound) = %t, want %t", err, got, tt.wantNotFound)
			}
		})
	}
}

func TestValidateSecret(t *testing.T) {
	t.Parallel()
	key := func(n int) string { return webhook.SecretPrefix + base64.StdEncoding.EncodeToString(make([]byte, n)) }
	tests := []struct {
		name   string
		secret string
		ok     bool
	}{
		{"whsec_ 24 bytes", key(24), true},
		{"whsec_ 32 bytes", key(32), true},
		{"whsec_ 64 bytes", key(64), true},
		{"raw 8 characters", "12345678", true},
		{"raw 256 characters", strings.Repeat("r", 256), true},
		{"raw with spaces and punctuation", "pass word: !@#$%^&*()", true},
		{"raw non-ASCII printable", "geheimnis-äöü-秘密", true},

		{"empty", "", false},
		{"raw 7 characters", "1234567", false},
		{"raw 257 characters", strings.Repeat("r", 257), false},
		{"raw with newline", "abcdefgh\n", false},
		{"raw with tab", "abcd\tefgh", false},
		{"raw with NUL", "abcdefgh\x00", false},
		{"raw with DEL", "abcdefgh\x7f", false},
		{"whsec_ alone", webhook.SecretPrefix, false},
		{"whsec_ 23 bytes", key(23), false},
		{"whsec_ 65 bytes", key(65), false},
		{"whsec_ not base64", webhook.SecretPrefix + "!!!!not-base64!!!!!!!!!!!!!!!!!!", false},
		{"whsec_ unpadded base64", webhook.SecretPrefix + base64.RawStdEncoding.EncodeToString(make([]byte, 32)), false},
		{"whsec_ URL-safe base64", webhook.SecretPrefix + base64.URLEncoding.EncodeToString([]byte(strings.Repeat("\xfb\xff", 16))), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := webhook.ValidateSecret(tt.secret)
			if (err == nil) != tt.ok {
				t.Errorf("ValidateSecret(%q) = %v, want ok %t", tt.secret, err, tt.ok)
			}
			c := validCreation()
			c.Secret = tt.secret
			_, err = webhook.Create(c)
			want := []string{"secret"}
			if tt.ok {
				want = nil
			}
			checkProblems(t, err, want)
		})
	}
}

// ValidateSecret promises printable characters, but invalid UTF-8 decodes to U+FFFD, which is
// printable, so bytes that are no text pass. JSON then turns them into U+FFFD: the secret shown to
// the integrator is not the one deliveries are signed with.
func TestValidateSecretRejectsInvalidUTF8(t *testing.T) {
	t.Parallel()
	secret := "\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8"
	if err := webhook.ValidateSecret(secret); err == nil {
		t.Errorf("ValidateSecret(%q) = nil, want an error: it is not printable text", secret)
	}
}

// Settings is documented as a value, but the aggregate hands out and keeps the caller's slices, so a
// change made in place to what Settings() returned, or to the Creation after Create, changes the
// aggregate's state and its recorded events behind its back.
func TestSettingsAreNotShared(t *testing.T) {
	t.Parallel()
	t.Run("settings from the getter changed in place", func(t *testing.T) {
		t.Parallel()
		w := mustCreate(t, validCreation())
		s := w.Settings()
		s.EventNames[0] = "user.deleted"
		if got := w.Settings().EventNames[0]; got != "user.created" {
			t.Errorf("changing the slice returned by Settings() changed the webhook: eventNames[0] = %q", got)
		}
		mustDo(t, w.Update(s))
		if len(w.Changes()) != 2 {
			t.Errorf("Update to eventNames [user.deleted] recorded %v: the change is lost", eventNames(w.Changes()))
		}
	})
	t.Run("creation changed after Create", func(t *testing.T) {
		t.Parallel()
		c := validCreation()
		w := mustCreate(t, c)
		c.Settings.Tags[0] = "changed"
		if got := w.Changes()[0].(webhook.Created).Settings.Tags[0]; got != "prod" {
			t.Errorf("changing the caller's Creation changed the recorded Created event: tags[0] = %q", got)
		}
	})
}

// TestCredentialKeepsOnlyWhatTheAuthTypeUses: a secret no delivery presents is not kept, and
// changing the auth type drops the old type's secrets.
func TestCredentialKeepsOnlyWhatTheAuthTypeUses(t *testing.T) {
	t.Parallel()
	s := validSettings()
	s.API.AuthType = webhook.AuthBasic
	s.API.Credential = webhook.Credential{Username: "u", Password: "p", Token: "unused",
		OAuth2: webhook.OAuth2Credential{ClientID: "unused"}}
	w, err := webhook.Create(webhook.Creation{ID: "w1", TenantID: "t", CommunityID: "c", Settings: s, Secret: "a-raw-secret"})
	if err != nil {
		t.Fatal(err)
	}
	if got := w.Settings().API.Credential; got != (webhook.Credential{Username: "u", Password: "p"}) {
		t.Fatalf("created with %+v, want only the basic fields", got)
	}
	none := w.Settings()
	none.API.AuthType = webhook.AuthNone
	if err := w.Update(none); err != nil {
		t.Fatal(err)
	}
	if got := w.Settings().API.Credential; !got.IsZero() {
		t.Fatalf("after switching to none the credential is %+v, want none", got)
	}
}
