package receiving

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/adapters/webhooksig"
)

const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// signed is a delivery signed now as hookd's deliverer signs it, with a signing key of its own.
func signed(t *testing.T) (http.Header, []byte, string) {
	t.Helper()
	body, err := webhooksig.Body("USER_CREATED", json.RawMessage(`{"user":{"id":2,"name":"Zoë"}}`))
	if err != nil {
		t.Fatal(err)
	}
	id, now := "delivery-1", time.Now().Unix()
	v1, err := webhooksig.StandardV1(secret, id, now, body)
	if err != nil {
		t.Fatal(err)
	}
	public, private, err := webhooksig.GenerateSigningKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	key, err := webhooksig.ParseSigningKey(private)
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	h.Set(webhooksig.HeaderID, id)
	h.Set(webhooksig.HeaderTimestamp, strconv.FormatInt(now, 10))
	h.Set(webhooksig.HeaderSignature, webhooksig.SignatureHeader(v1, webhooksig.StandardV1a(key, id, now, body)))
	h.Set(webhooksig.HeaderCosmo, webhooksig.CosmoSignature(secret, body))
	return h, body, webhooksig.PublicKeyPrefix + public
}

func TestHandlerTakesOnlyVerifiedDeliveries(t *testing.T) {
	t.Parallel()
	header, body, _ := signed(t)
	var got [][]byte
	handler, err := Handler(secret, func(b []byte) error {
		got = append(got, b)
		if bytes.Contains(b, []byte("fail")) {
			return errors.New("not now")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	send := func(h http.Header, b []byte) int {
		req := httptest.NewRequest(http.MethodPost, "/hook", bytes.NewReader(b))
		req.Header = h.Clone()
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		return rec.Code
	}
	if code := send(header, body); code != http.StatusOK || len(got) != 1 || !bytes.Equal(got[0], body) {
		t.Fatalf("a signed delivery: %d, handled %q", code, got)
	}
	changed := bytes.Replace(body, []byte("Zoë"), []byte("Zoe"), 1)
	stale := header.Clone()
	stale.Set(webhooksig.HeaderTimestamp, strconv.FormatInt(time.Now().Add(-time.Hour).Unix(), 10))
	for name, c := range map[string]struct {
		h http.Header
		b []byte
	}{"a changed body": {header, changed}, "an hour-old timestamp": {stale, body}, "no signature": {http.Header{}, body}} {
		if code := send(c.h, c.b); code != http.StatusUnauthorized {
			t.Errorf("%s: %d, want 401", name, code)
		}
	}
	if len(got) != 1 {
		t.Errorf("handle saw %d bodies, want only the verified one", len(got))
	}
}

func TestCosmoAndV1a(t *testing.T) {
	t.Parallel()
	header, body, publicKey := signed(t)
	if !CosmoVerified(secret, header, body) || CosmoVerified("whsec_other", header, body) || CosmoVerified(secret, header, append(body, ' ')) {
		t.Error("CosmoVerified accepts what it should refuse, or refuses the delivery")
	}
	_, _, otherKey := signed(t)
	if !V1aVerified(publicKey, header, body) || V1aVerified(otherKey, header, body) || V1aVerified(publicKey, header, append(body, ' ')) {
		t.Error("V1aVerified accepts what it should refuse, or refuses the delivery")
	}
}

// TestTheDocumentShowsTheExamples: docs/receiving.md shows the code of this package and of the
// Node and Python examples as it is, from its imports on.
func TestTheDocumentShowsTheExamples(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../receiving.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := map[string][]string{}
	for _, m := range regexp.MustCompile("(?s)```(go|js|python)\n(.*?)```").FindAllStringSubmatch(string(doc), -1) {
		blocks[m[1]] = append(blocks[m[1]], m[2])
	}
	for file, lang := range map[string]string{"receiving.go": "go", "verify.cjs": "js", "verify.py": "python", "verify_stdlib.py": "python"} {
		src, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		code := string(src)
		if lang == "go" {
			code = code[strings.Index(code, "import ("):]
		}
		for _, runner := range []string{"\nif __name__", "\n// `make receiving-examples`"} {
			if before, _, found := strings.Cut(code, runner); found {
				code = strings.TrimRight(before, "\n") + "\n"
			}
		}
		shown := false
		for _, b := range blocks[lang] {
			shown = shown || b == code
		}
		if !shown {
			t.Errorf("docs/receiving.md shows no %s block equal to %s up to its runner:\n%s", lang, file, code)
		}
	}
}
