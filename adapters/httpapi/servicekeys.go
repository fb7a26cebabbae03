package httpapi

import (
	"github.com/gofiber/fiber/v2"

	"github.com/hookd/hookd/projections/servicekeyview"
)

// serviceKeyJSON is a service key as the seed shows it: keyId and keySecret, the private key, which
// only system licenses reach.
type serviceKeyJSON struct {
	Tag       string `json:"tag"`
	KeyID     string `json:"keyId"`
	KeySecret string `json:"keySecret"`
	PublicKey string `json:"publicKey"`
	Type      string `json:"type"`
}

// keyJSON shows a key pair from the read model, whose private half is sealed there.
func (s *server) keyJSON(k servicekeyview.Key) (serviceKeyJSON, error) {
	secret, err := s.Secrets.OpenSecret(k.PrivateKey, k.Stream)
	if err != nil {
		return serviceKeyJSON{}, err
	}
	return serviceKeyJSON{Tag: k.Slot, KeyID: k.KeyID, KeySecret: secret, PublicKey: k.PublicKey, Type: k.Type}, nil
}

func (s *server) listServiceKeys(c *fiber.Ctx) error {
	keys, err := s.KeyView.List(c.UserContext())
	if err != nil {
		return err
	}
	out := make([]serviceKeyJSON, len(keys))
	for i, k := range keys {
		if out[i], err = s.keyJSON(k); err != nil {
			return err
		}
	}
	return c.JSON(out)
}

// resetServiceKey replaces the key whose id the path names, whichever slot holds it: the service key
// (callers then fetch the new public key) or the signing key (receivers then fetch /.well-known).
func (s *server) resetServiceKey(c *fiber.Ctx) error {
	slot, pair, res, err := s.ServiceKeys.ResetKey(c.UserContext(), c.Params("keyId"), principalOf(c).caller())
	if err != nil {
		return err
	}
	s.awaitProjection(c, res)
	if s.OnServiceKeyReset != nil {
		s.OnServiceKeyReset()
	}
	// The answer is the pair the command made, not a read of the read model, which may lag.
	return c.JSON([]serviceKeyJSON{{
		Tag: slot, KeyID: pair.KeyID, KeySecret: pair.PrivateKey, PublicKey: pair.PublicKey, Type: pair.Type,
	}})
}
