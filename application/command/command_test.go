package command_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/hookd/hookd/adapters/eventstore/sqlitestore"
	"github.com/hookd/hookd/adapters/sealer"
	"github.com/hookd/hookd/application/command"
	"github.com/hookd/hookd/application/eventcodec"
	"github.com/hookd/hookd/domain/eventlog"
	"github.com/hookd/hookd/domain/license"
	"github.com/hookd/hookd/domain/servicekey"
	"github.com/hookd/hookd/domain/webhook"
)

// fixture is the commands on a real embedded store, with a real codec and sealer.
type fixture struct {
	path     string // the log's file
	store    *sqlitestore.Store
	codec    *eventcodec.Codec
	webhooks *command.Webhooks
	licenses *command.Licenses
	keys     *command.ServiceKeys
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "events.db")
	store, err := sqlitestore.Open(ctx, path, sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	key := make([]byte, sealer.KeySize)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	seal, err := sealer.New(key)
	if err != nil {
		t.Fatal(err)
	}
	registry, err := eventcodec.NewRegistry(eventcodec.HookdEvents()...)
	if err != nil {
		t.Fatal(err)
	}
	codec, err := eventcodec.New(registry, seal)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{path: path, store: store, codec: codec}
	var secrets atomic.Int64
	newSecret := func() (string, error) { return fmt.Sprintf("generated-secret-%d", secrets.Add(1)), nil }
	if f.webhooks, err = command.NewWebhooks(store, codec, time.Now, uuid.NewString, newSecret); err != nil {
		t.Fatal(err)
	}
	if f.licenses, err = command.NewLicenses(store, codec, time.Now, rand.Reader); err != nil {
		t.Fatal(err)
	}
	if f.keys, err = command.NewServiceKeys(store, codec, time.Now, testKeyGenerators()); err != nil {
		t.Fatal(err)
	}
	return f
}

// testKeyGenerators make pairs whose type tells the slot they were made for.
func testKeyGenerators() map[string]command.KeyGenerator {
	gen := func(typ string) command.KeyGenerator {
		return func() (servicekey.Pair, error) {
			return servicekey.Pair{KeyID: uuid.NewString(), Type: typ, PublicKey: "pub", PrivateKey: "priv"}, nil
		}
	}
	return map[string]command.KeyGenerator{
		servicekey.PrimarySlot: gen("secp256k1"),
		servicekey.SigningSlot: gen("ed25519"),
	}
}

func settings() webhook.Settings {
	return webhook.Settings{
		Name: "hook", EventNames: []string{"E_LOGIN"}, SuccessCodes: []int{200},
		API: webhook.Endpoint{URL: "https://example.com/hook"},
	}
}

func caller() command.Caller { return command.Caller{Actor: "test", RequestID: uuid.NewString()} }

func (f *fixture) streamLength(t *testing.T, stream string) int {
	t.Helper()
	events, err := f.store.ReadStream(context.Background(), stream, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	return len(events)
}

func (f *fixture) create(t *testing.T) *webhook.Webhook {
	t.Helper()
	w, res, err := f.webhooks.Create(context.Background(), command.CreateWebhook{
		TenantID: "t1", CommunityID: "c1", Settings: settings(),
	}, caller())
	if err != nil {
		t.Fatal(err)
	}
	if !res.Changed || res.Position == eventlog.Start {
		t.Fatalf("create reported %+v, want a change at a position", res)
	}
	return w
}

func TestCreateGeneratesASecretWhenNoneIsGiven(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	w := f.create(t)
	if w.Secret() != "generated-secret-1" {
		t.Fatalf("secret %q, want the generated one", w.Secret())
	}
	if n := f.streamLength(t, webhook.Stream(w.ID())); n != 1 {
		t.Fatalf("stream holds %d events, want 1", n)
	}
}

func TestCreateRejectsInvalidSettingsAndWritesNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	bad := settings()
	bad.SuccessCodes = nil
	_, _, err := f.webhooks.Create(context.Background(), command.CreateWebhook{TenantID: "t1", CommunityID: "c1", Settings: bad}, caller())
	var validation *webhook.ValidationError
	if !errors.As(err, &validation) {
		t.Fatalf("error %v, want a validation error", err)
	}
	head, err := f.store.LastPosition(context.Background())
	if err != nil || head != eventlog.Start {
		t.Fatalf("log head %v (%v), want an empty log", head, err)
	}
}

func TestUpdatePatchesOnlyTheFieldsGiven(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	w := f.create(t)
	name := "renamed"
	disabled := true
	got, res, err := f.webhooks.Update(context.Background(), command.UpdateWebhook{
		TenantID: "t1", CommunityID: "c1", WebhookID: w.ID(),
		Patch: command.SettingsPatch{Name: &name}, Disabled: &disabled,
	}, caller())
	if err != nil || !res.Changed {
		t.Fatalf("update: %v, %+v", err, res)
	}
	if got.Settings().Name != "renamed" || !got.Disabled() || got.Settings().API.URL != "https://example.com/hook" {
		t.Fatalf("after update: name %q disabled %v url %q", got.Settings().Name, got.Disabled(), got.Settings().API.URL)
	}
	if n := f.streamLength(t, webhook.Stream(w.ID())); n != 3 {
		t.Fatalf("stream holds %d events, want created, updated, disabled", n)
	}
}

// TestUpdateAtAnExpectedVersion: an update that names the version it was made against applies only
// to the webhook at that version, so that an edit of a stale copy overwrites nothing.
func TestUpdateAtAnExpectedVersion(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	w := f.create(t)
	ctx := context.Background()
	update := func(name string, expected int64) error {
		_, _, err := f.webhooks.Update(ctx, command.UpdateWebhook{
			TenantID: "t1", CommunityID: "c1", WebhookID: w.ID(), Patch: command.SettingsPatch{Name: &name},
			ExpectedVersion: &expected,
		}, command.Caller{Actor: "test", RequestID: name})
		return err
	}
	if err := update("first", 0); err != nil {
		t.Fatalf("update at the current version 0: %v", err)
	}
	if err := update("stale", 0); !errors.Is(err, eventlog.ErrWrongExpectedVersion) {
		t.Fatalf("update at version 0 of a webhook at 1: %v, want ErrWrongExpectedVersion", err)
	}
	if n := f.streamLength(t, webhook.Stream(w.ID())); n != 2 {
		t.Fatalf("stream holds %d events, want created and the first update", n)
	}
}

func TestUpdateThatChangesNothingWritesNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	w := f.create(t)
	same := "hook"
	enabled := false
	_, res, err := f.webhooks.Update(context.Background(), command.UpdateWebhook{
		TenantID: "t1", CommunityID: "c1", WebhookID: w.ID(),
		Patch: command.SettingsPatch{Name: &same}, Disabled: &enabled,
	}, caller())
	if err != nil || res.Changed {
		t.Fatalf("update: %v, %+v; want no change", err, res)
	}
	if n := f.streamLength(t, webhook.Stream(w.ID())); n != 1 {
		t.Fatalf("stream holds %d events, want 1", n)
	}
}

func TestCommandsOnAnotherScopeOrADeletedWebhookAreNotFound(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	w := f.create(t)
	name := "x"
	for _, scope := range [][2]string{{"t2", "c1"}, {"t1", "c2"}} {
		_, _, err := f.webhooks.Update(ctx, command.UpdateWebhook{TenantID: scope[0], CommunityID: scope[1], WebhookID: w.ID(),
			Patch: command.SettingsPatch{Name: &name}}, caller())
		if !errors.Is(err, webhook.ErrNotFound) {
			t.Fatalf("update in %v: %v, want not found", scope, err)
		}
	}
	if _, err := f.webhooks.Delete(ctx, command.DeleteWebhook{TenantID: "t1", CommunityID: "c1", WebhookID: w.ID()}, caller()); err != nil {
		t.Fatal(err)
	}
	if _, err := f.webhooks.Delete(ctx, command.DeleteWebhook{TenantID: "t1", CommunityID: "c1", WebhookID: w.ID()}, caller()); !errors.Is(err, webhook.ErrNotFound) {
		t.Fatalf("second delete: %v, want not found", err)
	}
	if _, _, err := f.webhooks.Update(ctx, command.UpdateWebhook{TenantID: "t1", CommunityID: "c1", WebhookID: w.ID(),
		Patch: command.SettingsPatch{Name: &name}}, caller()); !errors.Is(err, webhook.ErrNotFound) {
		t.Fatalf("update after delete: %v, want not found", err)
	}
}

// TestConcurrentUpdatesNeverLoseOne races updates of one webhook: each either lands or fails with a
// conflict, and the stream holds exactly the ones that landed.
func TestConcurrentUpdatesNeverLoseOne(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	w := f.create(t)
	const writers = 20
	var wg sync.WaitGroup
	var mu sync.Mutex
	landed := map[string]bool{}
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := uuid.NewString()
			_, _, err := f.webhooks.Update(context.Background(), command.UpdateWebhook{
				TenantID: "t1", CommunityID: "c1", WebhookID: w.ID(), Patch: command.SettingsPatch{Name: &name},
			}, caller())
			switch {
			case err == nil:
				mu.Lock()
				landed[name] = true
				mu.Unlock()
			case !errors.Is(err, eventlog.ErrWrongExpectedVersion):
				t.Errorf("writer %d: %v, want success or a conflict", i, err)
			}
		}()
	}
	wg.Wait()
	records, err := f.store.ReadStream(context.Background(), webhook.Stream(w.ID()), 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(landed) == 0 || len(records) != len(landed) {
		t.Fatalf("%d updates landed but the stream holds %d", len(landed), len(records))
	}
}

// TestARetriedRequestChangesNothing replays a command with the same request id, as a client retrying
// after a lost answer does: the second run finds the change made and writes nothing. (A retry of the
// append itself, at the same version, repeats the event ids, which the store's suite shows it keeps
// once.)
func TestARetriedRequestChangesNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	w := f.create(t)
	c := caller()
	disable := true
	first, res1, err := f.webhooks.Update(context.Background(), command.UpdateWebhook{
		TenantID: "t1", CommunityID: "c1", WebhookID: w.ID(), Disabled: &disable,
	}, c)
	if err != nil || !first.Disabled() {
		t.Fatal(err)
	}
	_, res2, err := f.webhooks.Update(context.Background(), command.UpdateWebhook{
		TenantID: "t1", CommunityID: "c1", WebhookID: w.ID(), Disabled: &disable,
	}, c)
	if err != nil || res2.Changed {
		t.Fatalf("retry: %v, %+v", err, res2)
	}
	if n := f.streamLength(t, webhook.Stream(w.ID())); n != 2 || !res1.Changed {
		t.Fatalf("stream holds %d events, want 2", n)
	}
}

// Without a request id, two calls are two requests: each is written, under ids of its own, and the
// metadata names no correlation, since there is none to make.
func TestARequestWithoutIDIsWrittenEachTimeAndCorrelatesNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	w := f.create(t)
	noID := command.Caller{Actor: "test"}
	for _, disable := range []bool{true, false} {
		if _, res, err := f.webhooks.Update(context.Background(), command.UpdateWebhook{
			TenantID: "t1", CommunityID: "c1", WebhookID: w.ID(), Disabled: &disable,
		}, noID); err != nil || !res.Changed {
			t.Fatalf("update: %+v, %v", res, err)
		}
	}
	records, err := f.store.ReadStream(context.Background(), webhook.Stream(w.ID()), 0, 0)
	if err != nil || len(records) != 3 {
		t.Fatalf("stream holds %d events (%v), want 3", len(records), err)
	}
	if records[1].ID == records[2].ID {
		t.Errorf("two requests without ids wrote the same event id %s", records[1].ID)
	}
	for _, r := range records[1:] {
		md, err := f.codec.DecodeMetadata(r)
		if err != nil || md.CorrelationID != "" || md.CausationID != "" || md.Actor != "test" {
			t.Errorf("metadata %s = %+v, %v; want the actor and no correlation", r.Metadata, md, err)
		}
	}
}

func TestLicenseIssueRevokeAndReissue(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	issued, err := f.licenses.Issue(ctx, command.IssueLicense{Level: license.LevelService, Scope: license.Scope{TenantID: "t1"}}, caller())
	if err != nil || issued.Existed || len(issued.Key) < 16 {
		t.Fatalf("issue: %+v, %v", issued, err)
	}
	again, err := f.licenses.Issue(ctx, command.IssueLicense{Level: license.LevelSystem, Key: issued.Key}, caller())
	if err != nil || !again.Existed || again.LicenseID != issued.LicenseID {
		t.Fatalf("issuing the same key again: %+v, %v; want the first license to stand", again, err)
	}
	if n := f.streamLength(t, license.Stream(issued.LicenseID)); n != 1 {
		t.Fatalf("license stream holds %d events, want 1", n)
	}
	if _, err := f.licenses.Revoke(ctx, issued.Key, caller()); err != nil {
		t.Fatal(err)
	}
	if _, err := f.licenses.Revoke(ctx, issued.Key, caller()); !errors.Is(err, license.ErrRevoked) {
		t.Fatalf("second revoke: %v, want ErrRevoked", err)
	}
	if _, err := f.licenses.Revoke(ctx, "lic_never_issued_key", caller()); !errors.Is(err, license.ErrNotFound) {
		t.Fatalf("revoking an unknown key: %v, want ErrNotFound", err)
	}
	if _, err := f.licenses.Issue(ctx, command.IssueLicense{Level: license.LevelSystem, Key: "short"}, caller()); err == nil {
		t.Fatal("a 5-character key was issued")
	}
}

func TestLicenseKeysAreNeverWritten(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	issued, err := f.licenses.Issue(context.Background(), command.IssueLicense{Level: license.LevelSystem}, caller())
	if err != nil {
		t.Fatal(err)
	}
	records, err := f.store.ReadStream(context.Background(), license.Stream(issued.LicenseID), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range records {
		if bytes.Contains(r.Data, []byte(issued.Key)) || bytes.Contains(r.Metadata, []byte(issued.Key)) {
			t.Fatalf("the license key is in the log: %s", r.Data)
		}
	}
}

// TestServiceKeyEnsureAgreesUnderConcurrency starts several "nodes" at once on one log, each with its
// own connection to it, as two processes on one data directory would have: they all end up with one
// and the same key pair in every slot.
func TestServiceKeyEnsureAgreesUnderConcurrency(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	// A second store and command handler on the same file: another process.
	other, err := sqlitestore.Open(context.Background(), f.path, sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = other.Close() })
	otherKeys, err := command.NewServiceKeys(other, f.codec, time.Now, testKeyGenerators())
	if err != nil {
		t.Fatal(err)
	}
	for _, slot := range []string{servicekey.PrimarySlot, servicekey.SigningSlot} {
		t.Run(slot, func(t *testing.T) {
			const nodes = 8
			pairs := make([]servicekey.Pair, nodes)
			var wg sync.WaitGroup
			for i := range nodes {
				keys := f.keys
				if i%2 == 1 {
					keys = otherKeys
				}
				wg.Go(func() {
					pair, _, err := keys.Ensure(context.Background(), slot, caller())
					if err != nil {
						t.Error(err)
						return
					}
					pairs[i] = pair
				})
			}
			wg.Wait()
			for _, p := range pairs[1:] {
				if p != pairs[0] {
					t.Fatalf("nodes disagree on the key: %+v", pairs)
				}
			}
			if n := f.streamLength(t, servicekey.Stream(slot)); n != 1 {
				t.Fatalf("key stream holds %d events, want 1", n)
			}
		})
	}
}

func TestServiceKeyEnsureRefusesASlotWithoutGenerator(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	if _, _, err := f.keys.Ensure(context.Background(), "backup", caller()); err == nil {
		t.Fatal("Ensure of a slot without a generator succeeded")
	}
	if n := f.streamLength(t, servicekey.Stream("backup")); n != 0 {
		t.Fatalf("the refused slot's stream holds %d events", n)
	}
}

func TestNewServiceKeysRefusesBadGenerators(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ok := testKeyGenerators()[servicekey.PrimarySlot]
	for name, gens := range map[string]map[string]command.KeyGenerator{
		"none":          nil,
		"nil generator": {servicekey.PrimarySlot: nil},
		"unnamed slot":  {"": ok},
	} {
		if _, err := command.NewServiceKeys(f.store, f.codec, time.Now, gens); err == nil {
			t.Errorf("%s: NewServiceKeys succeeded", name)
		}
	}
}

// TestServiceKeyResetFindsTheSlot resets each slot by its key id alone and leaves the other slot be.
func TestServiceKeyResetFindsTheSlot(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	present := map[string]servicekey.Pair{}
	for _, slot := range []string{servicekey.PrimarySlot, servicekey.SigningSlot} {
		p, _, err := f.keys.Ensure(ctx, slot, caller())
		if err != nil {
			t.Fatal(err)
		}
		present[slot] = p
	}
	if _, _, _, err := f.keys.ResetKey(ctx, "not-a-key", caller()); !errors.Is(err, servicekey.ErrUnknownKey) {
		t.Fatalf("reset of an unknown key: %v", err)
	}
	for _, tc := range []struct{ slot, other, typ string }{
		{servicekey.SigningSlot, servicekey.PrimarySlot, "ed25519"},
		{servicekey.PrimarySlot, servicekey.SigningSlot, "secp256k1"},
	} {
		old := present[tc.slot]
		slot, next, res, err := f.keys.ResetKey(ctx, old.KeyID, caller())
		if err != nil || !res.Changed || slot != tc.slot || next.KeyID == old.KeyID || next.Type != tc.typ {
			t.Fatalf("reset of %s's key: slot %q pair %+v result %+v err %v", tc.slot, slot, next, res, err)
		}
		if now, _, err := f.keys.Ensure(ctx, tc.slot, caller()); err != nil || now != next {
			t.Fatalf("after reset %s holds %+v (%v), want %+v", tc.slot, now, err, next)
		}
		if now, _, err := f.keys.Ensure(ctx, tc.other, caller()); err != nil || now != present[tc.other] {
			t.Fatalf("resetting %s changed %s to %+v (%v)", tc.slot, tc.other, now, err)
		}
		// The replaced id is unknown now.
		if _, _, _, err := f.keys.ResetKey(ctx, old.KeyID, caller()); !errors.Is(err, servicekey.ErrUnknownKey) {
			t.Fatalf("second reset of %s's old key: %v", tc.slot, err)
		}
		present[tc.slot] = next
	}
	for slot := range present {
		if n := f.streamLength(t, servicekey.Stream(slot)); n != 2 {
			t.Errorf("%s's stream holds %d events, want Issued and one Reset", slot, n)
		}
	}
}

// A slot that was never issued is skipped, not an error: a log written before the slot existed.
func TestServiceKeyResetSkipsSlotsNotIssued(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	signing, _, err := f.keys.Ensure(ctx, servicekey.SigningSlot, caller())
	if err != nil {
		t.Fatal(err)
	}
	if slot, _, _, err := f.keys.ResetKey(ctx, signing.KeyID, caller()); err != nil || slot != servicekey.SigningSlot {
		t.Fatalf("reset with the primary slot not issued: slot %q, %v", slot, err)
	}
	if n := f.streamLength(t, servicekey.Stream(servicekey.PrimarySlot)); n != 0 {
		t.Errorf("the reset issued the primary slot: %d events", n)
	}
}
