package httpapi

import (
	"crypto/rand"
	_ "embed"
	"errors"

	"github.com/gofiber/fiber/v2"

	"github.com/hookd/hookd/adapters/kosmoscrypto"
	"github.com/hookd/hookd/adapters/webhooksig"
)

// servicePublicKey is the public half of the service key pair that callers encrypt their headers to.
func (s *server) servicePublicKey(c *fiber.Ctx) (string, error) {
	return s.PublicKey(c.UserContext())
}

// healthzJSON is /healthz's answer in the seed's field order; code is a string there.
type healthzJSON struct {
	Status    string `json:"status"`
	PublicKey string `json:"publicKey"`
	Code      string `json:"code"`
	Version   string `json:"version"`
}

func (s *server) healthz(c *fiber.Ctx) error {
	publicKey, err := s.servicePublicKey(c)
	if err != nil {
		return err
	}
	if err := s.Ready(c.UserContext()); err != nil {
		// The cause goes to the log, not to callers, who need no authentication to ask.
		s.log.WarnContext(c.UserContext(), "not ready", "err", err)
		return c.Status(fiber.StatusServiceUnavailable).JSON(healthzJSON{
			Status: "degraded", PublicKey: publicKey, Code: "503", Version: s.Version,
		})
	}
	return c.JSON(healthzJSON{Status: "all services operational", PublicKey: publicKey, Code: "200", Version: s.Version})
}

// livez answers as long as the process serves HTTP: a failing liveness probe means restart it.
func (s *server) livez(c *fiber.Ctx) error { return c.JSON(fiber.Map{"status": "ok"}) }

// NotReadyError says which part of the node cannot go on (a read model, or a processor such as
// the dispatcher), and why. /readyz names the part; the cause goes to the log only, since anyone
// may ask /readyz.
type NotReadyError struct {
	// Part names the part as an operator knows it: "read model webhooks", "processor dispatch".
	Part string
	Err  error
}

func (e *NotReadyError) Error() string { return e.Part + " cannot go on: " + e.Err.Error() }

func (e *NotReadyError) Unwrap() error { return e.Err }

// readyz answers 503 while the node cannot serve (log unreachable, a read model or a processor
// stuck), so a load balancer sends traffic elsewhere without restarting it, and an operator sees
// which part to look at.
func (s *server) readyz(c *fiber.Ctx) error {
	if err := s.Ready(c.UserContext()); err != nil {
		s.log.WarnContext(c.UserContext(), "not ready", "err", err)
		// The cause is for operators and probes: a part that cannot go on is named without its error
		// (logged above); Ready's other errors name their cause without data or paths.
		message := "not ready: " + err.Error()
		var part *NotReadyError
		if errors.As(err, &part) {
			message = "not ready: " + part.Part + " cannot go on"
		}
		return &apiError{status: fiber.StatusServiceUnavailable, message: message}
	}
	return c.JSON(fiber.Map{"status": "ready"})
}

func (s *server) publicKeys(c *fiber.Ctx) error {
	publicKey, err := s.servicePublicKey(c)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"publicKey": publicKey})
}

// wellKnownJSON is /.well-known's answer: the service key, as /publickeys shows it, and the keys
// receivers verify deliveries' v1a signatures with. The latter is a list so that a later rotation
// can publish the outgoing key beside the new one; today it holds the one key in use.
type wellKnownJSON struct {
	PublicKey          string           `json:"public_key"`
	WebhookSigningKeys []signingKeyJSON `json:"webhook_signing_keys"`
}

// signingKeyJSON is a delivery signing key in Standard Webhooks' asymmetric form.
type signingKeyJSON struct {
	KeyID     string `json:"keyId"`
	Type      string `json:"type"`
	PublicKey string `json:"publicKey"`
}

func (s *server) wellKnown(c *fiber.Ctx) error {
	publicKey, err := s.servicePublicKey(c)
	if err != nil {
		return err
	}
	signing, err := s.SigningKey(c.UserContext())
	if err != nil {
		return err
	}
	return c.JSON(wellKnownJSON{PublicKey: publicKey, WebhookSigningKeys: []signingKeyJSON{{
		KeyID: signing.KeyID, Type: webhooksig.SigningKeyType, PublicKey: webhooksig.PublicKeyString(signing.Key),
	}}})
}

func (s *server) serviceDirectory(c *fiber.Ctx) error {
	base := s.PublicURL
	if base == "" {
		base = c.BaseURL()
	}
	return c.JSON(fiber.Map{"webhooks": base})
}

func (s *server) environment(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{
		"name":              s.Environment,
		"curve":             "secp256k1",
		"allowed_time_span": int(s.AllowedTimeSpan.Seconds()),
		"version":           s.Version,
	})
}

type ecdsaHelperBody struct {
	Data       *string `json:"data"`
	PublicKey  *string `json:"publicKey"`
	PrivateKey *string `json:"privateKey"`
}

// ecdsaHelper encrypts or decrypts data with the key shared by the two key pairs given, as 1Kosmos's
// helper does, so integrators can build their headers without writing the crypto first.
func (s *server) ecdsaHelper(c *fiber.Ctx) error {
	var body ecdsaHelperBody
	if err := decodeBody(c, &body); err != nil {
		return err
	}
	if body.PublicKey == nil || body.PrivateKey == nil {
		return badRequest("publicKey and privateKey required")
	}
	data := ""
	if body.Data != nil {
		data = *body.Data
	}
	var (
		res kosmoscrypto.HelperResult
		err error
	)
	switch c.Params("method") {
	case "encrypt":
		res, err = kosmoscrypto.HelperEncrypt(data, *body.PublicKey, *body.PrivateKey, rand.Reader)
	case "decrypt":
		res, err = kosmoscrypto.HelperDecrypt(data, *body.PublicKey, *body.PrivateKey)
	default:
		return badRequest("method must be encrypt or decrypt")
	}
	if err != nil {
		return badRequest(err.Error())
	}
	return c.JSON(fiber.Map{"data": res.Data, "publicKey": res.PublicKey})
}

//go:embed openapi.json
var openAPIDocument []byte

func (s *server) openAPI(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(openAPIDocument)
}
