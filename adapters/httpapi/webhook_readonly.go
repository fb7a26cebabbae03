package httpapi

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/hookd/hookd/projections/webhookview"
)

// updateBody is the body of an update (PATCH): the settable fields of a create, and the fields a
// GET answers that no update changes, so that a client may send back the webhook as it fetched it,
// with its edits. Each read-only field, when given, must hold the stored value (it is then
// ignored); another value is a 400 that names the field, or for version a 409.
type updateBody struct {
	webhookBody
	ID          *string `json:"_id"`
	TenantID    *string `json:"tenantId"`
	CommunityID *string `json:"communityId"`
	Version     *uint64 `json:"version"`
	CreatedAt   *string `json:"createdAt"`
	UpdatedAt   *string `json:"updatedAt"`
	// Health, which a GET shows, is accepted and ignored whatever it holds: it is hookd's view of
	// the endpoint, which changes with every attempt, so a copy fetched a moment ago is stale.
	Health *json.RawMessage `json:"health"`
}

// checkPath checks the read-only fields that the path names: the webhook's id, tenant and community.
func (b *updateBody) checkPath(tenantID, communityID, id string) error {
	if b.ID != nil {
		if parsed, err := uuid.Parse(*b.ID); err != nil || parsed.String() != id {
			return badRequest(fmt.Sprintf("_id %q is not the id of the webhook in the path, %s: an update cannot change it", *b.ID, id))
		}
	}
	if b.TenantID != nil && *b.TenantID != tenantID {
		return badRequest(fmt.Sprintf("tenantId %q is not the tenant in the path, %q: an update cannot change it", *b.TenantID, tenantID))
	}
	if b.CommunityID != nil && *b.CommunityID != communityID {
		return badRequest(fmt.Sprintf("communityId %q is not the community in the path, %q: an update cannot change it", *b.CommunityID, communityID))
	}
	return nil
}

// storedFields reports whether the body holds read-only fields that only the stored webhook can
// confirm.
func (b *updateBody) storedFields() bool {
	return b.CreatedBy != nil || b.Secret != nil || b.Version != nil || b.CreatedAt != nil || b.UpdatedAt != nil
}

// checkStored compares the read-only fields with the webhook as the read model holds it (w), which
// is what a GET showed. A version other than the stored one means the client's copy is stale: 409,
// as for two updates that race. A secret is compared only for system licenses, the only readers
// shown it: for others any secret is refused, so that an update cannot serve to guess it.
func (s *server) checkStored(b *updateBody, w webhookview.Webhook, system bool) error {
	if b.Version != nil && *b.Version != w.Version {
		return &apiError{status: fiber.StatusConflict, message: fmt.Sprintf(
			"version %d is not the webhook's current version %d: it was changed since it was fetched; fetch it and try again",
			*b.Version, w.Version)}
	}
	if b.CreatedBy != nil && *b.CreatedBy != w.CreatedBy {
		return badRequest(fmt.Sprintf("createdBy %q is not the webhook's, %q: an update cannot change it", *b.CreatedBy, w.CreatedBy))
	}
	if b.Secret != nil {
		const rotate = "secret cannot be changed by an update; rotate it with POST .../webhook/{id}/secret/rotate"
		if !system {
			return badRequest(rotate)
		}
		current, err := s.Secrets.OpenSecret(w.Secret, w.Stream)
		if err != nil {
			return fmt.Errorf("opening the secret of webhook %s: %w", w.ID, err)
		}
		if subtle.ConstantTimeCompare([]byte(*b.Secret), []byte(current)) != 1 {
			return badRequest(rotate)
		}
	}
	for _, t := range []struct {
		field  string
		value  *string
		stored time.Time
	}{{"createdAt", b.CreatedAt, w.CreatedAt}, {"updatedAt", b.UpdatedAt, w.UpdatedAt}} {
		if t.value == nil {
			continue
		}
		sent, err := time.Parse(time.RFC3339Nano, *t.value)
		if err != nil {
			return badRequest(t.field + " must be a time in RFC 3339 form, as a GET shows it")
		}
		if !sent.Equal(t.stored) {
			return badRequest(fmt.Sprintf("%s %s is not the webhook's, %s: an update cannot change it",
				t.field, *t.value, t.stored.UTC().Format(time.RFC3339Nano)))
		}
	}
	return nil
}

// checkReadOnly checks the read-only fields of an update: against the path, and, when the body has
// others, against the webhook as the read model holds it. It returns the version the update must
// apply to: the one the client sent, when it sent one, so that a change landing in between is a 409
// rather than overwritten.
func (s *server) checkReadOnly(c *fiber.Ctx, b *updateBody, tenantID, communityID, id string) (expected *int64, err error) {
	if err := b.checkPath(tenantID, communityID, id); err != nil {
		return nil, err
	}
	if !b.storedFields() {
		return nil, nil
	}
	w, err := s.WebhookView.Get(c.UserContext(), tenantID, communityID, id)
	if err != nil {
		return nil, err
	}
	if err := s.checkStored(b, w, principalOf(c).isSystem()); err != nil {
		return nil, err
	}
	if b.Version == nil {
		return nil, nil
	}
	v := int64(*b.Version)
	return &v, nil
}
