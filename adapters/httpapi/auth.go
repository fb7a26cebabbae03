package httpapi

import (
	"errors"
	"math"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/hookd/hookd/adapters/kosmosauth"
	"github.com/hookd/hookd/application/command"
	"github.com/hookd/hookd/domain/license"
)

// principal is who an authenticated request acts for.
type principal struct {
	LicenseID string
	Level     license.Level
	Scope     license.Scope
	AppID     string
	RequestID string
}

func (p principal) isSystem() bool { return p.Level == license.LevelSystem }

func (p principal) caller() command.Caller {
	return command.Caller{Actor: "license:" + p.LicenseID, RequestID: p.RequestID}
}

const principalKey = "hookd.principal"

// licenseIDKey holds the id of the known, unrevoked license a request came with, from the moment it
// is found (a request over the license's quota or refused for its scope has one too), for the
// per-license request count.
const licenseIDKey = "hookd.license"

func principalOf(c *fiber.Ctx) principal {
	p, _ := c.Locals(principalKey).(principal)
	return p
}

// requirement decides, once a request is authenticated, whether its license may do what it asks.
type requirement func(c *fiber.Ctx, p principal) error

// requireSystem admits unscoped system licenses only: the service keys serve every tenant, so they
// are the operator's, not a tenant's.
func requireSystem(_ *fiber.Ctx, p principal) error {
	if !p.isSystem() || p.Scope != (license.Scope{}) {
		return forbidden("this endpoint needs a license with auth level system and no tenant scope")
	}
	return nil
}

// requireScope admits licenses of every level whose scope covers the path's tenant and community.
func requireScope(c *fiber.Ctx, p principal) error {
	if !p.Scope.Covers(c.Params("tenantId"), c.Params("communityId")) {
		return forbidden("the license does not cover this tenant and community")
	}
	return nil
}

// authenticate checks the 1Kosmos headers: the license key and request id, encrypted with the key
// shared between the caller's key pair and the service's. It verifies the headers, looks the
// license up, and only for a known license that is not revoked records the request's uuid against
// replays (Commit), so that strangers cannot fill the replay cache; then it checks the license's
// level and scope. A request that fails authentication (bad headers, unknown or revoked license,
// replay) is 401; a license over its quota, or a full replay cache, is 429 with Retry-After; a
// license that may not do what the request asks is 403.
func (s *server) authenticate(allowed requirement) fiber.Handler {
	return func(c *fiber.Ctx) error {
		req, err := s.Verifier.Verify(c.UserContext(), c.Get(kosmosauth.HeaderPublicKey), c.Get(kosmosauth.HeaderLicenseKey), c.Get(kosmosauth.HeaderRequestID))
		if err != nil {
			return s.authFailure(c, err)
		}
		lic, err := s.Licenses.ByKeyHash(c.UserContext(), command.KeyHash(req.LicenseKey))
		if errors.Is(err, license.ErrNotFound) {
			return unauthorized("unknown license key")
		}
		if err != nil {
			return err
		}
		if lic.Revoked {
			return unauthorized("the license was revoked")
		}
		c.Locals(licenseIDKey, lic.ID)
		// The quota before the replay cache: a request refused takes no place in it.
		if err := s.checkQuota(c, lic.ID); err != nil {
			return err
		}
		if err := s.Verifier.Commit(req); err != nil {
			return s.authFailure(c, err)
		}
		p := principal{LicenseID: lic.ID, Level: lic.Level, Scope: lic.Scope, AppID: req.AppID, RequestID: req.UUID}
		if err := allowed(c, p); err != nil {
			return err
		}
		c.Locals(principalKey, p)
		return c.Next()
	}
}

// authFailure maps an error of Verify or Commit: a rejected request is 401 with the reason; a full
// replay cache is 429, to be retried once the requests it remembers have left the time span.
func (s *server) authFailure(c *fiber.Ctx, err error) error {
	var authErr *kosmosauth.AuthError
	switch {
	case errors.As(err, &authErr):
		return unauthorized(authErr.Reason)
	case errors.Is(err, kosmosauth.ErrReplayCacheFull):
		retry := int64(math.Ceil(s.AllowedTimeSpan.Seconds()))
		c.Set(fiber.HeaderRetryAfter, strconv.FormatInt(retry, 10))
		return &apiError{status: fiber.StatusTooManyRequests, message: "too many requests inside the allowed time span of " +
			s.AllowedTimeSpan.String() + "; try again after " + strconv.FormatInt(retry, 10) + " s"}
	}
	return err
}
