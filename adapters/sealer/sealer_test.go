package sealer_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hookd/hookd/adapters/sealer"
)

func testKey(b byte) []byte { return bytes.Repeat([]byte{b}, sealer.KeySize) }

func newSealer(t *testing.T, primary []byte, previous ...[]byte) *sealer.Sealer {
	t.Helper()
	s, err := sealer.New(primary, previous...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustSeal(t *testing.T, s *sealer.Sealer, plaintext, ad string) string {
	t.Helper()
	out, err := s.Seal(plaintext, ad)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	s := newSealer(t, testKey(1))
	for _, pt := range []string{"x", "whsec_c2VjcmV0", "pässwörd ✓", strings.Repeat("long", 10000), "\x00\xff"} {
		sealed := mustSeal(t, s, pt, "webhook-42")
		if !sealer.IsSealed(sealed) {
			t.Errorf("IsSealed(%q) = false", sealed)
		}
		if len(pt) >= 8 && strings.Contains(sealed, pt) {
			t.Errorf("sealed value contains the plaintext")
		}
		got, err := s.Open(sealed, "webhook-42")
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		if got != pt {
			t.Errorf("Open = %q, want %q", got, pt)
		}
	}
}

func TestFormatCarriesKeyID(t *testing.T) {
	t.Parallel()
	key := testKey(7)
	s := newSealer(t, key)
	sum := sha256.Sum256(key)
	wantKID := hex.EncodeToString(sum[:8])
	if s.KeyID() != wantKID {
		t.Fatalf("KeyID = %s, want %s", s.KeyID(), wantKID)
	}
	sealed := mustSeal(t, s, "secret", "ad")
	body, ok := strings.CutPrefix(sealed, "hk1:"+wantKID+":")
	if !ok {
		t.Fatalf("sealed value %q does not start with hk1:<kid>:", sealed)
	}
	raw, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil {
		t.Fatalf("body is not unpadded base64url: %v", err)
	}
	if len(raw) != 12+len("secret")+16 {
		t.Errorf("body is %d bytes, want nonce + ciphertext + tag", len(raw))
	}
	if again := mustSeal(t, s, "secret", "ad"); again == sealed {
		t.Error("sealing twice gives the same value: nonces are not random")
	}
}

func TestEmptyPlaintextSealsToEmpty(t *testing.T) {
	t.Parallel()
	s := newSealer(t, testKey(1))
	if got := mustSeal(t, s, "", "ad"); got != "" {
		t.Fatalf("Seal(\"\") = %q, want \"\"", got)
	}
	got, err := s.Open("", "ad")
	if err != nil || got != "" {
		t.Fatalf("Open(\"\") = %q, %v", got, err)
	}
	if sealer.IsSealed("") {
		t.Error("the empty string counts as sealed")
	}
}

func TestWrongAssociatedDataFails(t *testing.T) {
	t.Parallel()
	s := newSealer(t, testKey(1))
	sealed := mustSeal(t, s, "secret", "webhook-1")
	for _, ad := range []string{"webhook-2", "", "webhook-1 ", "Webhook-1"} {
		if _, err := s.Open(sealed, ad); !errors.Is(err, sealer.ErrCannotOpen) {
			t.Errorf("Open with ad %q: err = %v, want ErrCannotOpen", ad, err)
		}
	}
}

func TestTamperingFails(t *testing.T) {
	t.Parallel()
	s := newSealer(t, testKey(1))
	sealed := mustSeal(t, s, "secret", "ad")
	head := sealed[:len("hk1:")+16+1]
	raw, _ := base64.RawURLEncoding.DecodeString(sealed[len(head):])
	for i := range raw {
		bad := bytes.Clone(raw)
		bad[i] ^= 0x80
		if _, err := s.Open(head+base64.RawURLEncoding.EncodeToString(bad), "ad"); !errors.Is(err, sealer.ErrCannotOpen) {
			t.Fatalf("flipping byte %d: err = %v, want ErrCannotOpen", i, err)
		}
	}
	truncated := head + base64.RawURLEncoding.EncodeToString(raw[:27])
	if _, err := s.Open(truncated, "ad"); !errors.Is(err, sealer.ErrMalformed) {
		t.Errorf("truncated: err = %v, want ErrMalformed", err)
	}
}

func TestMalformedValues(t *testing.T) {
	t.Parallel()
	s := newSealer(t, testKey(1))
	kid := s.KeyID()
	cases := map[string]string{
		"plain text":        "hunter2",
		"no key id":         "hk1:",
		"short key id":      "hk1:abcd:AAAA",
		"upper-case key id": "hk1:" + strings.ToUpper(kid) + ":AAAA",
		"no data":           "hk1:" + kid + ":",
		"other version":     "hk2:" + kid + ":AAAA",
	}
	for name, in := range cases {
		if sealer.IsSealed(in) {
			t.Errorf("%s: IsSealed(%q) = true", name, in)
		}
		if _, err := s.Open(in, "ad"); !errors.Is(err, sealer.ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
	if _, err := s.Open("hk1:"+kid+":not*base64", "ad"); !errors.Is(err, sealer.ErrMalformed) {
		t.Errorf("bad base64: err = %v, want ErrMalformed", err)
	}
}

func TestUnknownKeyIDFails(t *testing.T) {
	t.Parallel()
	a := newSealer(t, testKey(1))
	b := newSealer(t, testKey(2))
	sealed := mustSeal(t, a, "secret", "ad")
	_, err := b.Open(sealed, "ad")
	if !errors.Is(err, sealer.ErrUnknownKey) {
		t.Fatalf("err = %v, want ErrUnknownKey", err)
	}
	if !strings.Contains(err.Error(), a.KeyID()) || !strings.Contains(err.Error(), b.KeyID()) {
		t.Errorf("err = %q, want it to name the value's key and the node's keys", err)
	}
}

func TestKeyIDIsChecked(t *testing.T) {
	t.Parallel()
	oldKey, newKey := testKey(1), testKey(2)
	s := newSealer(t, newKey, oldKey)
	old := newSealer(t, oldKey)
	sealed := mustSeal(t, old, "secret", "ad")
	// Relabel a value with the id of another key the node holds: the id picks the key, so it fails.
	relabelled := strings.Replace(sealed, old.KeyID(), s.KeyID(), 1)
	if _, err := s.Open(relabelled, "ad"); !errors.Is(err, sealer.ErrCannotOpen) {
		t.Fatalf("err = %v, want ErrCannotOpen", err)
	}
}

func TestRotation(t *testing.T) {
	t.Parallel()
	oldKey, newKey := testKey(1), testKey(2)
	old := newSealer(t, oldKey)
	rotated := newSealer(t, newKey, oldKey)
	sealedOld := mustSeal(t, old, "before", "ad")

	if got, err := rotated.Open(sealedOld, "ad"); err != nil || got != "before" {
		t.Fatalf("Open of an old value = %q, %v", got, err)
	}
	sealedNew := mustSeal(t, rotated, "after", "ad")
	if !strings.HasPrefix(sealedNew, "hk1:"+rotated.KeyID()+":") || rotated.KeyID() == old.KeyID() {
		t.Fatalf("a rotated sealer must seal with its new key: %q", sealedNew)
	}
	if _, err := old.Open(sealedNew, "ad"); !errors.Is(err, sealer.ErrUnknownKey) {
		t.Fatalf("old node opening a new value: err = %v, want ErrUnknownKey", err)
	}
}

func TestNewRejectsBadKeys(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		primary  []byte
		previous [][]byte
	}{
		{nil, nil},
		{make([]byte, 16), nil},
		{make([]byte, 33), nil},
		{testKey(1), [][]byte{make([]byte, 31)}},
	} {
		if _, err := sealer.New(tc.primary, tc.previous...); err == nil {
			t.Errorf("New(%d bytes, %d previous) succeeded", len(tc.primary), len(tc.previous))
		}
	}
}

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	s := newSealer(t, testKey(1))
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			ad := "webhook-" + string(rune('a'+i))
			for range 50 {
				sealed, err := s.Seal("secret", ad)
				if err != nil {
					t.Error(err)
					return
				}
				if got, err := s.Open(sealed, ad); err != nil || got != "secret" {
					t.Errorf("Open = %q, %v", got, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestLoadOrCreateMakesPrivateKeyFileAndReusesIt(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data", "nested")
	first, err := sealer.LoadOrCreate(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, sealer.KeyFileName)
	info, err := os.Stat(path)
	if err != nil {
		t.Fatalf("key file not created: %v", err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("key file mode %#o, want 0600", perm)
	}
	if info, err := os.Stat(dir); err != nil || info.Mode().Perm() != 0o700 {
		t.Errorf("data directory created with mode %v (err %v), want 0700", info.Mode().Perm(), err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("data directory holds %d entries, want only the key file", len(entries))
	}

	second, err := sealer.LoadOrCreate(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	if first.KeyID() != second.KeyID() {
		t.Fatalf("second start uses key %s, first used %s", second.KeyID(), first.KeyID())
	}
	sealed := mustSeal(t, first, "secret", "ad")
	if got, err := second.Open(sealed, "ad"); err != nil || got != "secret" {
		t.Fatalf("second start cannot open the first one's value: %q, %v", got, err)
	}

	// The file holds base64 of the key, so an operator can move it to HOOKD_MASTER_KEY.
	content, _ := os.ReadFile(path)
	fromEnv, err := sealer.LoadOrCreate("", string(content))
	if err != nil {
		t.Fatal(err)
	}
	if fromEnv.KeyID() != first.KeyID() {
		t.Fatal("the key file's content used as master key gives another key")
	}
}

func TestLoadOrCreateConcurrentFirstStart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ids := make([]string, 16)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Go(func() {
			s, err := sealer.LoadOrCreate(dir, "")
			if err != nil {
				t.Error(err)
				return
			}
			ids[i] = s.KeyID()
		})
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("concurrent first starts disagree on the key: %v", ids)
		}
	}
}

func TestLoadOrCreateRefusesLoosePermissions(t *testing.T) {
	t.Parallel()
	for _, perm := range []os.FileMode{0o644, 0o640, 0o604, 0o660, 0o666} {
		dir := t.TempDir()
		if _, err := sealer.LoadOrCreate(dir, ""); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, sealer.KeyFileName)
		if err := os.Chmod(path, perm); err != nil {
			t.Fatal(err)
		}
		_, err := sealer.LoadOrCreate(dir, "")
		if err == nil {
			t.Fatalf("mode %#o: key file accepted", perm)
		}
		if !strings.Contains(err.Error(), "chmod 600 "+path) {
			t.Errorf("mode %#o: err = %q, want it to say how to fix it", perm, err)
		}
	}
}

func TestLoadOrCreateOwnerOnlyModesAccepted(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	first, err := sealer.LoadOrCreate(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, sealer.KeyFileName), 0o400); err != nil {
		t.Fatal(err)
	}
	again, err := sealer.LoadOrCreate(dir, "")
	if err != nil || again.KeyID() != first.KeyID() {
		t.Fatalf("a read-only owner file must be accepted: %v", err)
	}
}

func TestLoadOrCreateRejectsBadKeyFiles(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"empty":       "",
		"not base64":  "not base64 at all\n",
		"short key":   base64.StdEncoding.EncodeToString(make([]byte, 16)) + "\n",
		"long key":    base64.StdEncoding.EncodeToString(make([]byte, 48)) + "\n",
		"raw 32bytes": string(testKey('a')),
	}
	for name, content := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := filepath.Join(dir, sealer.KeyFileName)
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := sealer.LoadOrCreate(dir, "")
			if err == nil || !strings.Contains(err.Error(), path) {
				t.Fatalf("err = %v, want an error naming %s", err, path)
			}
			// A broken key file is never replaced: the secrets sealed under it would be lost.
			if got, _ := os.ReadFile(path); string(got) != content {
				t.Fatal("the broken key file was overwritten")
			}
		})
	}

	t.Run("directory", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		if err := os.Mkdir(filepath.Join(dir, sealer.KeyFileName), 0o700); err != nil {
			t.Fatal(err)
		}
		if _, err := sealer.LoadOrCreate(dir, ""); err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Fatalf("err = %v, want a complaint about a non-regular file", err)
		}
	})
}

func TestLoadOrCreateUsesMasterKey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	key := testKey(9)
	s, err := sealer.LoadOrCreate(dir, base64.StdEncoding.EncodeToString(key))
	if err != nil {
		t.Fatal(err)
	}
	if s.KeyID() != newSealer(t, key).KeyID() {
		t.Fatal("the master key was not used")
	}
	if _, err := os.Stat(filepath.Join(dir, sealer.KeyFileName)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a key file was created although a master key was given (stat: %v)", err)
	}
}

func TestLoadOrCreateRejectsBadMasterKey(t *testing.T) {
	t.Parallel()
	for name, c := range map[string]struct{ in, want string }{
		"31 bytes":   {base64.StdEncoding.EncodeToString(make([]byte, 31)), "got 31 bytes"},
		"33 bytes":   {base64.StdEncoding.EncodeToString(make([]byte, 33)), "got 33 bytes"},
		"hex":        {hex.EncodeToString(testKey(1)), "want base64 of 32 bytes, got 48 bytes"},
		"not base64": {"correct horse battery staple", "standard base64"},
	} {
		_, err := sealer.LoadOrCreate(t.TempDir(), c.in)
		if err == nil || !strings.Contains(err.Error(), "master key") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want a master key error mentioning %q", name, err, c.want)
		}
	}
}

func TestLoadOrCreateNeedsASource(t *testing.T) {
	t.Parallel()
	if _, err := sealer.LoadOrCreate("", ""); err == nil {
		t.Fatal("no data directory and no master key: want an error")
	}
}
