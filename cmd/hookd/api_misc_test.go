package main

// Component tests of bootstrap, service keys, the informational endpoints, the ECDSA helper,
// secrets at rest and shutdown.

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/adapters/kosmoscrypto"
	"github.com/hookd/hookd/internal/testvectors"
)

// apiLicenseCount counts the licenses `hookd license list` shows.
func apiLicenseCount(h *testHookd) int {
	h.t.Helper()
	out, err := h.runCLI("license", "list")
	if err != nil {
		h.t.Fatalf("license list: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	return len(lines) - 1 // the header
}

func TestBootstrapLicenseFromEnvironment(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const key = "bootstrap-license-from-env-0001"
	env := map[string]string{"HOOKD_BOOTSTRAP_LICENSE_KEY": key}
	h := startHookdIn(t, dir, env)
	h.mustJSON(h.as(key, http.MethodGet, "/servicekeys", nil), http.StatusOK, nil)
	apiCreate(h, key, apiScope("t1", "c1"), apiMinimal("survives restarts"))
	if _, err := os.Stat(filepath.Join(dir, bootstrapLicenseFile)); !os.IsNotExist(err) {
		t.Errorf("a license file was written although HOOKD_BOOTSTRAP_LICENSE_KEY was set: %v", err)
	}
	h.stop()

	// The same value on the next start is harmless: same key, no second license, data kept.
	h = startHookdIn(t, dir, env)
	h.mustJSON(h.as(key, http.MethodGet, "/servicekeys", nil), http.StatusOK, nil)
	if p := apiFetch(h, key, apiScope("t1", "c1"), nil); p.Page.Total != 1 {
		t.Errorf("after restart: %d webhooks, want 1", p.Page.Total)
	}
	if n := apiLicenseCount(h); n != 1 {
		t.Errorf("license list shows %d licenses after a restart, want 1", n)
	}
}

func TestBootstrapLicenseFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	h := startHookdIn(t, dir, nil)
	path := filepath.Join(dir, bootstrapLicenseFile)
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("%s has mode %o, want 600", bootstrapLicenseFile, perm)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	key := strings.TrimSpace(string(data))
	if key == "" || strings.ContainsAny(key, " \n") {
		t.Fatalf("the file holds %q, want one key", data)
	}
	h.mustJSON(h.as(key, http.MethodGet, "/servicekeys", nil), http.StatusOK, nil)
	if out, _ := h.runCLI("license", "list"); !strings.Contains(out, "system") {
		t.Errorf("license list does not show a system license:\n%s", out)
	}
	if n := apiLicenseCount(h); n != 1 {
		t.Errorf("%d licenses, want 1", n)
	}
	h.stop()

	h = startHookdIn(t, dir, nil)
	again, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(again, data) {
		t.Errorf("the restart rewrote the license file: %q, was %q (%v)", again, data, err)
	}
	h.mustJSON(h.as(key, http.MethodGet, "/servicekeys", nil), http.StatusOK, nil)
	if n := apiLicenseCount(h); n != 1 {
		t.Errorf("%d licenses after a restart, want 1: a second was issued", n)
	}
}

type apiServiceKeyJSON struct {
	Tag       string `json:"tag"`
	KeyID     string `json:"keyId"`
	KeySecret string `json:"keySecret"`
	PublicKey string `json:"publicKey"`
	Type      string `json:"type"`
}

// apiServiceKeys lists the service keys by tag, failing unless there is one primary and one signing
// key and nothing else.
func apiServiceKeys(h *testHookd) map[string]apiServiceKeyJSON {
	h.t.Helper()
	var keys []apiServiceKeyJSON
	h.mustJSON(h.system(http.MethodGet, "/servicekeys", nil), http.StatusOK, &keys)
	byTag := map[string]apiServiceKeyJSON{}
	for _, k := range keys {
		byTag[k.Tag] = k
	}
	if len(keys) != 2 || byTag["primary"].KeyID == "" || byTag["signing"].KeyID == "" {
		h.t.Fatalf("service keys %+v, want exactly one primary and one signing key", keys)
	}
	return byTag
}

// apiPublicOf is the public key of a private key in 1Kosmos's form.
func apiPublicOf(t *testing.T, private string) string {
	t.Helper()
	k, err := kosmoscrypto.ParsePrivateKey(private)
	if err != nil {
		t.Fatalf("keySecret %q: %v", private, err)
	}
	return k.PublicKey().Encode()
}

func TestServiceKeysListAndReset(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	h := startHookdIn(t, dir, nil)
	scope := apiScope("t1", "c1")
	w := apiCreate(h, h.license, scope, apiCanaryBody("before reset", "pw-before-reset", ""))

	keys := apiServiceKeys(h)
	old, signing := keys["primary"], keys["signing"]
	oldPub := h.servicePublicKey()
	if old.KeyID == "" || old.Type != "secp256k1" || apiPublicOf(t, old.KeySecret) != oldPub {
		t.Fatalf("service key %+v: want a keyId, type secp256k1 and the private key of /publickeys' %s", old, oldPub)
	}

	// Headers made for the old key, before the reset, and never used.
	oldCaller := apiNewCaller(t, oldPub)
	unused := oldCaller.headers(t, h.license, apiRequestID(time.Now()))

	var reset []apiServiceKeyJSON
	h.mustJSON(h.system(http.MethodDelete, "/servicekey/"+old.KeyID, nil), http.StatusOK, &reset)
	if len(reset) != 1 {
		t.Fatalf("reset answered %d keys, want the new one", len(reset))
	}
	fresh := reset[0]
	newPub := h.servicePublicKey()
	if fresh.Tag != "primary" || newPub == oldPub || fresh.KeyID == old.KeyID || fresh.KeySecret == old.KeySecret {
		t.Fatalf("the key did not change: %+v", fresh)
	}
	if apiPublicOf(t, fresh.KeySecret) != newPub || fresh.Type != "secp256k1" {
		t.Errorf("reset answered %+v, whose public key is not /publickeys' %s", fresh, newPub)
	}
	// Every place that publishes the key shows the new one.
	var health struct{ PublicKey string }
	h.mustJSON(h.do(http.MethodGet, "/healthz", nil, nil), http.StatusOK, &health)
	var known struct {
		PublicKey string `json:"public_key"`
	}
	h.mustJSON(h.do(http.MethodGet, "/.well-known", nil, nil), http.StatusOK, &known)
	if health.PublicKey != newPub || known.PublicKey != newPub {
		t.Errorf("healthz %q, .well-known %q; want the new key %q", health.PublicKey, known.PublicKey, newPub)
	}

	// Requests encrypted to the old key fail; to the new key they pass.
	apiWantError(t, h.do(http.MethodPost, scope+"/webhooks/fetch", nil, unused), http.StatusUnauthorized)
	apiWantError(t, h.do(http.MethodPost, scope+"/webhooks/fetch", nil, oldCaller.headers(t, h.license, apiRequestID(time.Now()))), http.StatusUnauthorized)
	p := apiFetch(h, h.license, scope, nil)
	if p.PublicKey != newPub || p.Page.Total != 1 {
		t.Errorf("fetch after reset: publicKey %q total %d", p.PublicKey, p.Page.Total)
	}
	var got apiWebhookJSON
	h.mustJSON(h.system(http.MethodGet, scope+"/webhook/"+w.ID, nil), http.StatusOK, &got)
	if got.API.Credential == nil || got.API.Credential.Password != "pw-before-reset" {
		t.Errorf("a credential stored before the reset reads %+v", got.API.Credential)
	}

	keys = apiServiceKeys(h)
	if keys["primary"].KeyID != fresh.KeyID || keys["signing"] != signing {
		t.Errorf("service keys after reset: %+v, want primary %s and the signing key unchanged", keys, fresh.KeyID)
	}
	// The old key id and unknown ids are gone.
	for _, id := range []string{old.KeyID, "00000000-0000-0000-0000-000000000000", "nope"} {
		apiWantError(t, h.system(http.MethodDelete, "/servicekey/"+id, nil), http.StatusNotFound)
	}
	if h.servicePublicKey() != newPub {
		t.Error("a failed reset changed the key")
	}

	// The new key survives a restart.
	h.stop()
	h = startHookdIn(t, dir, nil)
	if got := h.servicePublicKey(); got != newPub {
		t.Errorf("after restart /publickeys is %q, want %q", got, newPub)
	}
	if keys = apiServiceKeys(h); keys["primary"].KeySecret != fresh.KeySecret || keys["signing"] != signing {
		t.Errorf("after restart: %+v", keys)
	}
}

// apiKeysInOrder returns the keys of the JSON object body in the order they come.
func apiKeysInOrder(t *testing.T, body []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not a JSON object: %s", body)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

func TestInfoEndpoints(t *testing.T) {
	t.Parallel()
	h := startHookd(t, nil)
	publicKey := h.servicePublicKey()
	if _, err := kosmoscrypto.ParsePublicKey(publicKey); err != nil {
		t.Fatalf("/publickeys %q: %v", publicKey, err)
	}

	r := h.do(http.MethodGet, "/healthz", nil, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("/healthz: %d %s", r.Status, r.Body)
	}
	if keys := apiKeysInOrder(t, r.Body); strings.Join(keys, ",") != "status,publicKey,code,version" {
		t.Errorf("/healthz keys %v, want status, publicKey, code, version", keys)
	}
	var health map[string]any
	_ = json.Unmarshal(r.Body, &health)
	if health["publicKey"] != publicKey || health["code"] != "200" || health["status"] == "" {
		t.Errorf("/healthz %s", r.Body)
	}
	if v, _ := health["version"].(string); !regexp.MustCompile(`^([^.]+\.)?[^.]+\.[0-9]+$`).MatchString(v) {
		t.Errorf("/healthz version %q, want <git-tag>.<commit>.<build epoch> or <commit>.<build epoch>", v)
	}

	var known map[string]any
	h.mustJSON(h.do(http.MethodGet, "/.well-known", nil, nil), http.StatusOK, &known)
	if known["public_key"] != publicKey {
		t.Errorf("/.well-known %v, want public_key %s", known, publicKey)
	}

	var sd map[string]any
	h.mustJSON(h.do(http.MethodGet, "/sd", nil, nil), http.StatusOK, &sd)
	if len(sd) == 0 {
		t.Error("/sd is empty")
	}
	for name, v := range sd {
		s, _ := v.(string)
		if u, err := url.Parse(s); err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			t.Errorf("/sd %s = %v, want an absolute URL", name, v)
		}
	}

	var env map[string]any
	h.mustJSON(h.do(http.MethodGet, "/environment", nil, nil), http.StatusOK, &env)
	if env["curve"] != "secp256k1" || env["allowed_time_span"] != 30.0 {
		t.Errorf("/environment %v, want curve secp256k1 and allowed_time_span 30", env)
	}

	h.mustJSON(h.do(http.MethodGet, "/livez", nil, nil), http.StatusOK, nil)
	h.mustJSON(h.do(http.MethodGet, "/readyz", nil, nil), http.StatusOK, nil)

	r = h.do(http.MethodGet, "/metrics", nil, nil)
	for _, want := range []string{"hookd_http_requests_total", "hookd_projection_position"} {
		if r.Status != http.StatusOK || !strings.Contains(string(r.Body), want) {
			t.Errorf("/metrics (%d) lacks %s", r.Status, want)
		}
	}

	var doc map[string]any
	h.mustJSON(h.do(http.MethodGet, "/openapi.json", nil, nil), http.StatusOK, &doc)
	if v, _ := doc["openapi"].(string); !strings.HasPrefix(v, "3.") {
		t.Errorf("/openapi.json openapi %v, want 3.x", doc["openapi"])
	}
	if paths, _ := doc["paths"].(map[string]any); paths["/tenant/{tenantId}/community/{communityId}/webhooks/fetch"] == nil {
		t.Error("/openapi.json does not describe the fetch endpoint")
	}

	apiWantError(t, h.do(http.MethodGet, "/no/such/route", nil, nil), http.StatusNotFound)
	apiWantError(t, h.system(http.MethodGet, "/tenantx/t1", nil), http.StatusNotFound)
	for _, e := range []struct{ method, path string }{
		{http.MethodPost, "/healthz"},
		{http.MethodDelete, "/publickeys"},
		{http.MethodPut, "/environment"},
		{http.MethodGet, "/ecdsa_helper/encrypt"},
		{http.MethodPost, "/servicekeys"},
	} {
		r := h.do(e.method, e.path, nil, nil)
		if r.Status != http.StatusMethodNotAllowed && r.Status != http.StatusNotFound {
			t.Errorf("%s %s: %d, want 405 or 404", e.method, e.path, r.Status)
			continue
		}
		apiWantError(t, r, r.Status)
	}
}

// apiAuthAt sends a fetch whose requestid's ts is offset from now.
func apiAuthAt(h *testHookd, offset time.Duration) response {
	h.t.Helper()
	c := apiNewCaller(h.t, h.servicePublicKey())
	return h.do(http.MethodPost, apiScope("t1", "c1")+"/webhooks/fetch", nil, c.headers(h.t, h.license, apiRequestID(time.Now().Add(offset))))
}

func TestAllowedTimeSpanIsConfigurable(t *testing.T) {
	t.Parallel()
	def := startHookd(t, nil)
	h := startHookd(t, map[string]string{"HOOKD_ALLOWED_TIME_SPAN": "45"})
	var env map[string]any
	h.mustJSON(h.do(http.MethodGet, "/environment", nil, nil), http.StatusOK, &env)
	if env["allowed_time_span"] != 45.0 {
		t.Errorf("/environment allowed_time_span %v, want 45", env["allowed_time_span"])
	}
	for _, off := range []time.Duration{-40 * time.Second, 40 * time.Second} {
		if r := apiAuthAt(h, off); r.Status != http.StatusOK {
			t.Errorf("span 45 s, ts %s: %d %s", off, r.Status, r.Body)
		}
		apiWantError(t, apiAuthAt(def, off), http.StatusUnauthorized)
	}
	for _, off := range []time.Duration{-50 * time.Second, 50 * time.Second} {
		apiWantError(t, apiAuthAt(h, off), http.StatusUnauthorized)
	}
}

func TestECDSAHelperFollowsTheVectors(t *testing.T) {
	t.Parallel()
	h := startHookd(t, nil)
	v := testvectors.LoadECDH(t)
	helper := func(method, data, publicKey, privateKey string) (string, string) {
		t.Helper()
		var out struct{ Data, PublicKey string }
		h.mustJSON(h.do(http.MethodPost, "/ecdsa_helper/"+method, map[string]string{
			"data": data, "publicKey": publicKey, "privateKey": privateKey,
		}, nil), http.StatusOK, &out)
		return out.Data, out.PublicKey
	}
	var shared [kosmoscrypto.SharedKeySize]byte
	if b, err := hex.DecodeString(v.SharedKeyHex); err != nil || copy(shared[:], b) != len(shared) {
		t.Fatalf("shared_key_hex: %v", err)
	}

	for _, c := range v.Cases {
		// Either party decrypts with its private key and the other's public key.
		if data, pub := helper("decrypt", c.Ciphertext, v.CallerKey.Public, v.ServiceKey.Private); data != c.Plaintext || pub != v.ServiceKey.Public {
			t.Errorf("%s: service side decrypts to %q (publicKey %s), want %q (%s)", c.Name, data, pub, c.Plaintext, v.ServiceKey.Public)
		}
		if data, pub := helper("decrypt", c.Ciphertext, v.ServiceKey.Public, v.CallerKey.Private); data != c.Plaintext || pub != v.CallerKey.Public {
			t.Errorf("%s: caller side decrypts to %q (publicKey %s), want %q (%s)", c.Name, data, pub, c.Plaintext, v.CallerKey.Public)
		}
		// Encrypt uses the same shared key, a fresh 16-byte IV each time, and decrypt undoes it.
		ct, pub := helper("encrypt", c.Plaintext, v.ServiceKey.Public, v.CallerKey.Private)
		if pub != v.CallerKey.Public {
			t.Errorf("%s: encrypt answered publicKey %s, want the caller's %s", c.Name, pub, v.CallerKey.Public)
		}
		if plain, err := kosmoscrypto.Decrypt(shared, ct); err != nil || string(plain) != c.Plaintext {
			t.Errorf("%s: the vector's shared key opens encrypt's %q to %q (%v)", c.Name, ct, plain, err)
		}
		if raw, _ := base64.StdEncoding.DecodeString(ct); len(raw) != 16+len(c.Plaintext)+16 {
			t.Errorf("%s: ciphertext of %d bytes, want IV 16 + %d + tag 16", c.Name, len(raw), len(c.Plaintext))
		}
		if again, _ := helper("encrypt", c.Plaintext, v.ServiceKey.Public, v.CallerKey.Private); again == ct {
			t.Errorf("%s: two encryptions gave the same ciphertext (IV reused)", c.Name)
		}
		if data, _ := helper("decrypt", ct, v.CallerKey.Public, v.ServiceKey.Private); data != c.Plaintext {
			t.Errorf("%s: round trip gave %q", c.Name, data)
		}
	}

	// Bad input is 400 in the error shape.
	ct := v.Cases[0].Ciphertext
	sec1, _ := base64.StdEncoding.DecodeString(v.ServiceKey.Public)
	for _, c := range []struct {
		name, method string
		body         any
		mentions     []string
	}{
		{"bad public key", "encrypt", map[string]string{"data": "x", "publicKey": "nope", "privateKey": v.CallerKey.Private}, []string{"publicKey"}},
		{"public key with 0x04", "encrypt", map[string]string{"data": "x", "publicKey": base64.StdEncoding.EncodeToString(append([]byte{4}, sec1...)), "privateKey": v.CallerKey.Private}, []string{"publicKey"}},
		{"bad private key", "encrypt", map[string]string{"data": "x", "publicKey": v.ServiceKey.Public, "privateKey": "AAAA"}, []string{"privateKey"}},
		{"zero private key", "decrypt", map[string]string{"data": ct, "publicKey": v.ServiceKey.Public, "privateKey": base64.StdEncoding.EncodeToString(make([]byte, 32))}, []string{"privateKey"}},
		{"missing private key", "encrypt", map[string]string{"data": "x", "publicKey": v.ServiceKey.Public}, []string{"privateKey"}},
		{"missing public key", "decrypt", map[string]string{"data": ct, "privateKey": v.CallerKey.Private}, []string{"publicKey"}},
		{"wrong key pair", "decrypt", map[string]string{"data": ct, "publicKey": v.ServiceKey.Public, "privateKey": v.ServiceKey.Private}, nil},
		{"tampered ciphertext", "decrypt", map[string]string{"data": apiTamper(t, ct, 20), "publicKey": v.ServiceKey.Public, "privateKey": v.CallerKey.Private}, nil},
		{"bad method", "sign", map[string]string{"data": "x", "publicKey": v.ServiceKey.Public, "privateKey": v.CallerKey.Private}, []string{"method"}},
		{"unknown field", "encrypt", map[string]string{"data": "x", "publicKey": v.ServiceKey.Public, "privateKey": v.CallerKey.Private, "curve": "p256"}, []string{"curve"}},
		{"malformed JSON", "encrypt", `{"data":`, []string{"JSON"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			apiWantError(t, h.do(http.MethodPost, "/ecdsa_helper/"+c.method, c.body, nil), http.StatusBadRequest, c.mentions...)
		})
	}
}

// apiStartLogged is startHookdIn with the server's logs, at debug level, written to w.
func apiStartLogged(t *testing.T, dataDir string, env map[string]string, w io.Writer) *testHookd {
	t.Helper()
	cfg := testConfig(t, dataDir, env)
	ctx, cancel := context.WithCancel(context.Background())
	inst, err := start(ctx, cfg, slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		cancel()
		t.Fatalf("start: %v", err)
	}
	h := &testHookd{t: t, cfg: cfg, url: "http://" + inst.addr, inst: inst, cancel: cancel,
		http: &http.Client{Timeout: 30 * time.Second}}
	t.Cleanup(h.stop)
	key, err := os.ReadFile(filepath.Join(dataDir, bootstrapLicenseFile))
	if err != nil {
		t.Fatalf("reading the bootstrap license: %v", err)
	}
	h.license = strings.TrimSpace(string(key))
	return h
}

func TestSecretsAtRestAndInLogs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	logs := &syncBuffer{}
	h := apiStartLogged(t, dir, nil, logs)
	scope := apiScope("t1", "c1")
	canaries := map[string]string{
		"basic password":       "canary-basic-password-5e1d0c",
		"bearer token":         "canary-bearer-token-9a8b7c",
		"rotated bearer token": "canary-bearer-token-rotated-44f2",
		"api_key keyValue":     "canary-apikey-value-1f2e3d",
		"oauth2 clientSecret":  "canary-oauth-client-secret-6c5b",
		"custom secret":        "canary-custom-secret-0a9b8c",
		"rotated-in secret":    "canary-rotated-in-secret-2f7e",
	}
	bodies := []map[string]any{
		{"authType": "basic", "credential": map[string]any{"username": "u", "password": canaries["basic password"]}},
		{"authType": "bearer", "credential": map[string]any{"token": canaries["bearer token"]}},
		{"authType": "api_key", "credential": map[string]any{"keyName": "X-Api-Key", "keyValue": canaries["api_key keyValue"]}},
		{"authType": "oauth2", "oAuthGrantType": "client_credentials", "oAuthTokenUrl": "https://idp.example.com/token",
			"credential": map[string]any{"oauth2": map[string]any{"clientId": "client", "clientSecret": canaries["oauth2 clientSecret"]}}},
	}
	var customID, bearerID, generatedID string
	for i, a := range bodies {
		a["url"] = "https://hooks.example.com/in"
		b := apiMinimal("canary")
		b["api"] = a
		if i == 0 {
			b["secret"] = canaries["custom secret"]
		}
		w := apiCreate(h, h.license, scope, b)
		switch i {
		case 0:
			customID = w.ID
		case 1:
			bearerID = w.ID
		case 2:
			generatedID = w.ID
			canaries["generated secret"] = *w.Secret
		}
	}
	h.mustJSON(h.system(http.MethodPatch, scope+"/webhook/"+bearerID, map[string]any{
		"api": map[string]any{"credential": map[string]any{"token": canaries["rotated bearer token"]}},
	}), http.StatusOK, nil)
	// Rotations: the secrets they replace (the custom and the generated one) stay valid, and so stay
	// in the log and the read model, sealed, beside the new ones; the second rotation of the custom
	// webhook replaces the rotated-in secret in turn.
	apiRotate(h, h.license, scope, customID, map[string]any{"secret": canaries["rotated-in secret"]})
	canaries["secret rotated in after a rotation"] = *apiRotate(h, h.license, scope, customID, map[string]any{"gracePeriodSeconds": 60}).Secret
	canaries["generated rotated secret"] = *apiRotate(h, h.license, scope, generatedID, nil).Secret
	// Read them back, so that a read path that logs would show up too.
	if p := apiFetch(h, h.license, scope, nil); p.Page.Total != len(bodies) {
		t.Fatalf("fetch total %d", p.Page.Total)
	}
	keys := apiServiceKeys(h)
	canaries["service private key"] = keys["primary"].KeySecret
	// The signing key in every form it could leak in: the base64 seed /servicekeys shows, the raw
	// seed, and Go's 64-byte private key (seed and public key), each also as base64 and hex (check).
	canaries["signing private key"] = keys["signing"].KeySecret
	seed, err := base64.StdEncoding.DecodeString(keys["signing"].KeySecret)
	if err != nil || len(seed) != ed25519.SeedSize {
		t.Fatalf("signing keySecret %q: %d bytes, %v", keys["signing"].KeySecret, len(seed), err)
	}
	canaries["signing key seed"] = string(seed)
	canaries["signing key, 64-byte form"] = string(ed25519.NewKeyFromSeed(seed))
	canaries["issued license key"] = apiIssueLicense(h, "--level", "service")
	h.stop()

	check := func(where string, data []byte, what, secret string) {
		t.Helper()
		for _, form := range []string{secret, base64.StdEncoding.EncodeToString([]byte(secret)), hex.EncodeToString([]byte(secret))} {
			if bytes.Contains(data, []byte(form)) {
				t.Errorf("%s holds the %s", where, what)
			}
		}
	}
	files := 0
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		rel, _ := filepath.Rel(dir, path)
		for what, secret := range canaries {
			check(rel, data, what, secret)
		}
		if rel != bootstrapLicenseFile {
			check(rel, data, "bootstrap license key", h.license)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 3 {
		t.Fatalf("only %d files in the data directory", files)
	}
	out := logs.String()
	if !strings.Contains(out, "hookd serving") {
		t.Fatalf("the logs were not captured: %q", out)
	}
	for what, secret := range canaries {
		check("the log", []byte(out), what, secret)
	}
	check("the log", []byte(out), "bootstrap license key", h.license)
}

// A graceful shutdown waits for the requests in flight. A connection on which no request was sent,
// such as the spare one Go's transport dials when requests race for connections, or a browser's
// preconnect, has nothing in flight: net/http counts it idle after 5 s, and shutdown then closes it
// and ends cleanly. fasthttp v1.51 (the one go.mod selects) marks a new connection active before its
// first byte arrives, so Shutdown waits for it the whole grace period (shutdownGrace, 10 s) and
// serve returns "context deadline exceeded".
func TestShutdownDoesNotWaitForConnectionsWithoutRequest(t *testing.T) {
	t.Parallel()
	h := startHookd(t, nil)
	conn, err := net.Dial("tcp", strings.TrimPrefix(h.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// A request on another connection: the server accepts connections in order, so the idle one is
	// accepted by the time this answers.
	h.mustJSON(h.do(http.MethodGet, "/livez", nil, nil), http.StatusOK, nil)

	began := time.Now()
	h.cancel()
	err = h.inst.wait()
	took := time.Since(began)
	if err != nil || took >= shutdownGrace-time.Second {
		t.Errorf("shutdown took %s and returned %v; want a clean stop well within the %s grace period", took.Round(time.Millisecond), err, shutdownGrace)
	}
}

// TestPrivateTargetsNameTheSetting: a loopback or private target is refused with a message that says
// which setting allows it, and a server started with that setting on warns about it in its log.
func TestPrivateTargetsNameTheSetting(t *testing.T) {
	t.Parallel()
	logs := &syncBuffer{}
	h := apiStartLogged(t, t.TempDir(), nil, logs)
	scope := apiScope("t1", "c1")
	for _, u := range []string{"http://127.0.0.1:9000/in", "http://10.1.2.3/in", "http://localhost/in", "http://169.254.169.254/latest"} {
		body := apiMinimal("private")
		body["api"] = map[string]any{"url": u}
		apiWantError(t, h.system(http.MethodPut, scope+"/webhook", body), http.StatusBadRequest, "api.url", "HOOKD_ALLOW_PRIVATE_TARGETS")
	}
	body := apiMinimal("private token URL")
	body["api"] = map[string]any{"url": "https://hooks.example.com/in", "oAuthTokenUrl": "http://192.168.1.1/token"}
	apiWantError(t, h.system(http.MethodPut, scope+"/webhook", body), http.StatusBadRequest, "api.oAuthTokenUrl", "HOOKD_ALLOW_PRIVATE_TARGETS")
	if strings.Contains(logs.String(), "HOOKD_ALLOW_PRIVATE_TARGETS") {
		t.Errorf("a server without HOOKD_ALLOW_PRIVATE_TARGETS logged about it:\n%s", logs)
	}

	allowedLogs := &syncBuffer{}
	allowed := apiStartLogged(t, t.TempDir(), map[string]string{"HOOKD_ALLOW_PRIVATE_TARGETS": "true"}, allowedLogs)
	var warned bool
	for line := range strings.Lines(allowedLogs.String()) {
		var entry struct{ Level, Msg string }
		if json.Unmarshal([]byte(line), &entry) == nil && entry.Level == "WARN" && strings.Contains(entry.Msg, "HOOKD_ALLOW_PRIVATE_TARGETS is on") {
			warned = true
		}
	}
	if !warned {
		t.Errorf("a server with HOOKD_ALLOW_PRIVATE_TARGETS=true logged no warning at start:\n%s", allowedLogs)
	}
	body = apiMinimal("local")
	body["api"] = map[string]any{"url": "http://127.0.0.1:9000/in"}
	apiCreate(allowed, allowed.license, scope, body)
}
