package kosmosauth

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/google/uuid"

	"github.com/hookd/hookd/adapters/kosmoscrypto"
)

// Client makes the authentication headers as a 1Kosmos client does. It derives the shared key once,
// so a load generator can make many requests' headers cheaply. It is safe for concurrent use.
type Client struct {
	publicKey string
	key       [kosmoscrypto.SharedKeySize]byte
}

// NewClient prepares a client that calls the service whose public key is servicePublicKey, with the
// caller's key pair whose private half is callerPrivateKey; both in 1Kosmos's base64 form.
func NewClient(servicePublicKey, callerPrivateKey string) (*Client, error) {
	pub, err := kosmoscrypto.ParsePublicKey(servicePublicKey)
	if err != nil {
		return nil, fmt.Errorf("kosmosauth: service public key: %w", err)
	}
	priv, err := kosmoscrypto.ParsePrivateKey(callerPrivateKey)
	if err != nil {
		return nil, fmt.Errorf("kosmosauth: caller private key: %w", err)
	}
	key, err := kosmoscrypto.SharedKey(priv, pub)
	if err != nil {
		return nil, fmt.Errorf("kosmosauth: %w", err)
	}
	return &Client{publicKey: priv.PublicKey().Encode(), key: key}, nil
}

// Headers returns the publickey, licensekey and requestid headers of one request, keyed by their
// lower-case names (HeaderPublicKey, ...). requestid holds ts taken from now (whole unix seconds),
// appID and a fresh version 4 uuid; rand, a cryptographically secure source such as
// crypto/rand.Reader, gives the uuid and the IVs.
func (c *Client) Headers(licenseKey, appID string, now time.Time, rand io.Reader) (map[string]string, error) {
	id, err := uuid.NewRandomFromReader(rand)
	if err != nil {
		return nil, fmt.Errorf("kosmosauth: uuid: %w", err)
	}
	// Field order as 1Kosmos clients write it: ts, appid, uuid. Marshalling an int and strings
	// cannot fail.
	rid, _ := json.Marshal(struct {
		TS    int64  `json:"ts"`
		AppID string `json:"appid"`
		UUID  string `json:"uuid"`
	}{now.Unix(), appID, id.String()})
	encLicense, err := kosmoscrypto.Encrypt(c.key, []byte(licenseKey), rand)
	if err != nil {
		return nil, fmt.Errorf("kosmosauth: licensekey: %w", err)
	}
	encRID, err := kosmoscrypto.Encrypt(c.key, rid, rand)
	if err != nil {
		return nil, fmt.Errorf("kosmosauth: requestid: %w", err)
	}
	return map[string]string{
		HeaderPublicKey:  c.publicKey,
		HeaderLicenseKey: encLicense,
		HeaderRequestID:  encRID,
	}, nil
}

// Headers makes one request's authentication headers; see Client.Headers. It derives the shared
// key on every call: for many requests, make a Client once.
func Headers(servicePublicKey, callerPrivateKey, licenseKey, appID string, now time.Time, rand io.Reader) (map[string]string, error) {
	c, err := NewClient(servicePublicKey, callerPrivateKey)
	if err != nil {
		return nil, err
	}
	return c.Headers(licenseKey, appID, now, rand)
}
