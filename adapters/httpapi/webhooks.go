package httpapi

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/hookd/hookd/application/command"
	"github.com/hookd/hookd/domain/platform"
	"github.com/hookd/hookd/domain/webhook"
	"github.com/hookd/hookd/projections/webhookview"
)

const (
	defaultPageSize = 25
	maxPageSize     = 100
	maxPageIndex    = 1 << 20
	maxFilterTags   = webhook.MaxTags
)

func scopeOf(c *fiber.Ctx) (tenantID, communityID string, err error) {
	tenantID, communityID = c.Params("tenantId"), c.Params("communityId")
	if !webhook.ValidScopeID(tenantID) {
		return "", "", badRequest("tenantId must be 1 to 128 letters, digits, '_', '.' or '-'")
	}
	if !webhook.ValidScopeID(communityID) {
		return "", "", badRequest("communityId must be 1 to 128 letters, digits, '_', '.' or '-'")
	}
	if tenantID == platform.Scope || communityID == platform.Scope {
		return "", "", badRequest(platform.Scope + " is reserved for platform events")
	}
	return tenantID, communityID, nil
}

// webhookOf returns the path's tenant, community and webhook id. Webhook ids are UUIDs; any other
// string names no webhook, so it is 404 at once rather than a read of the log.
func webhookOf(c *fiber.Ctx) (tenantID, communityID, id string, err error) {
	if tenantID, communityID, err = scopeOf(c); err != nil {
		return "", "", "", err
	}
	parsed, err := uuid.Parse(c.Params("webhookId"))
	if err != nil {
		return "", "", "", webhook.ErrNotFound
	}
	return tenantID, communityID, parsed.String(), nil
}

func (s *server) createWebhook(c *fiber.Ctx) error {
	tenantID, communityID, err := scopeOf(c)
	if err != nil {
		return err
	}
	var body webhookBody
	if err := decodeBody(c, &body); err != nil {
		return err
	}
	if missing := body.missingForCreate(); len(missing) > 0 {
		return badRequest(strings.Join(missing, ", ") + " required")
	}
	if err := body.checkTargets(s.CheckTargetURL); err != nil {
		return err
	}
	patch, err := body.patch()
	if err != nil {
		return err
	}
	p := principalOf(c)
	cmd := command.CreateWebhook{
		TenantID: tenantID, CommunityID: communityID, Settings: patch.Apply(webhook.Settings{}),
		CreatedBy: p.AppID,
	}
	if body.Disabled != nil {
		cmd.Disabled = *body.Disabled
	}
	if body.CreatedBy != nil {
		cmd.CreatedBy = *body.CreatedBy
	}
	if body.Secret != nil {
		if *body.Secret == "" {
			return badRequest("secret must not be empty; leave it out to have one generated")
		}
		cmd.Secret = *body.Secret
	}
	w, res, err := s.Webhooks.Create(c.UserContext(), cmd, p.caller())
	if err != nil {
		return err
	}
	return s.answerChange(c, w, res, true)
}

// answerChange answers a create, an update or a secret rotation with the webhook as the read model
// shows it, so that the answer has the shape (and times) of a GET; with showSecret (the create and
// rotation answers) it carries the current secret for everyone, who made it or was just given it.
// The read model's row serves only if it is at exactly the version this command made: a concurrent
// change may have landed since, and the caller must see its own. Otherwise, and when the read model
// lags past the write timeout, the answer comes from the command's own result.
func (s *server) answerChange(c *fiber.Ctx, w *webhook.Webhook, res command.Result, showSecret bool) error {
	system := principalOf(c).isSystem()
	if s.awaitProjection(c, res) {
		made := uint64(w.Version() + int64(len(w.Changes())))
		v, err := s.WebhookView.Get(c.UserContext(), w.TenantID(), w.CommunityID(), w.ID())
		if err == nil && v.Version == made {
			out, err := s.viewJSON(v, system)
			if err != nil {
				return err
			}
			if showSecret {
				out.Secret = w.Secret()
			}
			return c.JSON(out)
		}
	}
	return c.JSON(aggregateJSON(w, system, showSecret))
}

func (s *server) updateWebhook(c *fiber.Ctx) error {
	tenantID, communityID, id, err := webhookOf(c)
	if err != nil {
		return err
	}
	var body updateBody
	if err := decodeBody(c, &body); err != nil {
		return err
	}
	if err := body.checkTargets(s.CheckTargetURL); err != nil {
		return err
	}
	patch, err := body.patch()
	if err != nil {
		return err
	}
	expected, err := s.checkReadOnly(c, &body, tenantID, communityID, id)
	if err != nil {
		return err
	}
	p := principalOf(c)
	w, res, err := s.Webhooks.Update(c.UserContext(), command.UpdateWebhook{
		TenantID: tenantID, CommunityID: communityID, WebhookID: id,
		Patch: patch, Disabled: body.Disabled, ExpectedVersion: expected,
	}, p.caller())
	if err != nil {
		return err
	}
	return s.answerChange(c, w, res, false)
}

func (s *server) deleteWebhook(c *fiber.Ctx) error {
	tenantID, communityID, id, err := webhookOf(c)
	if err != nil {
		return err
	}
	res, err := s.Webhooks.Delete(c.UserContext(), command.DeleteWebhook{
		TenantID: tenantID, CommunityID: communityID, WebhookID: id,
	}, principalOf(c).caller())
	if err != nil {
		return err
	}
	s.awaitProjection(c, res)
	return c.SendStatus(fiber.StatusNoContent)
}

type fetchBody struct {
	PIndex *int      `json:"pIndex"`
	PSize  *int      `json:"pSize"`
	Tags   *[]string `json:"tags"`
}

type pageJSON struct {
	Index int `json:"index"`
	Total int `json:"total"`
	Size  int `json:"size"`
}

func (s *server) fetchWebhooks(c *fiber.Ctx) error {
	tenantID, communityID, err := scopeOf(c)
	if err != nil {
		return err
	}
	var body fetchBody
	if err := decodeBody(c, &body); err != nil {
		return err
	}
	q := webhookview.FetchQuery{TenantID: tenantID, CommunityID: communityID}
	if q.PageIndex, q.PageSize, err = pageOf(body.PIndex, body.PSize, defaultPageSize); err != nil {
		return err
	}
	if body.Tags != nil {
		if len(*body.Tags) > maxFilterTags {
			return badRequest(fmt.Sprintf("tags must have at most %d entries", maxFilterTags))
		}
		for i, tag := range *body.Tags {
			if tag == "" || len(tag) > webhook.MaxTagLength {
				return badRequest(fmt.Sprintf("tags[%d] must be 1 to %d characters", i, webhook.MaxTagLength))
			}
		}
		q.Tags = *body.Tags
	}
	page, err := s.WebhookView.Fetch(c.UserContext(), q)
	if err != nil {
		return err
	}
	publicKey, err := s.servicePublicKey(c)
	if err != nil {
		return err
	}
	system := principalOf(c).isSystem()
	docs := make([][]byte, len(page.Items))
	size := 128 + len(publicKey)
	for i, w := range page.Items {
		if docs[i], err = s.webhookDocument(w, system); err != nil {
			return err
		}
		size += len(docs[i]) + 1
	}
	answer := appendFetchAnswer(make([]byte, 0, size), pageJSON{Index: q.PageIndex, Total: page.Total, Size: q.PageSize},
		docs, publicKey)
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(answer)
}

func (s *server) getWebhook(c *fiber.Ctx) error {
	tenantID, communityID, id, err := webhookOf(c)
	if err != nil {
		return err
	}
	w, err := s.WebhookView.Get(c.UserContext(), tenantID, communityID, id)
	if err != nil {
		return err
	}
	doc, err := s.webhookDocument(w, principalOf(c).isSystem())
	if err != nil {
		return err
	}
	if doc, err = withHealth(doc, w.Health, time.Now()); err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(doc)
}

// viewJSON shows a webhook from the read model. Its credential and secret are sealed there; they are
// opened only for a system license.
func (s *server) viewJSON(w webhookview.Webhook, system bool) (webhookJSON, error) {
	out := webhookJSON{
		ID: w.ID, TenantID: w.TenantID, CommunityID: w.CommunityID, Disabled: w.Disabled,
		CreatedBy: w.CreatedBy, Version: w.Version,
	}
	createdAt, updatedAt := w.CreatedAt.UTC(), w.UpdatedAt.UTC()
	out.CreatedAt, out.UpdatedAt = &createdAt, &updatedAt
	settingsJSON(&out, w.Settings)
	if !system {
		return out, nil
	}
	opened, err := w.OpenSettings(s.Secrets.OpenSecret)
	if err != nil {
		return out, err
	}
	if out.Secret, err = s.Secrets.OpenSecret(w.Secret, w.Stream); err != nil {
		return out, fmt.Errorf("opening the secret of webhook %s: %w", w.ID, err)
	}
	out.API.Credential = credentialToJSON(opened.API.Credential)
	return out, nil
}

type historyEntryJSON struct {
	Revision   uint64             `json:"revision"`
	Type       string             `json:"type"`
	OccurredAt string             `json:"occurredAt"`
	Actor      string             `json:"actor,omitempty"`
	Settings   *settingsEntryJSON `json:"settings,omitempty"`
	// PreviousSecretExpiresAt is when the secret a rotation replaced stopped being valid; a history
	// shows no secret itself.
	PreviousSecretExpiresAt string `json:"previousSecretExpiresAt,omitempty"`
	// Reason is why hookd disabled the webhook; CircuitUntil when an opened circuit's cool-down ends.
	Reason       string `json:"reason,omitempty"`
	CircuitUntil string `json:"circuitUntil,omitempty"`
}

// settingsEntryJSON shows the settings an event of the history recorded, never the credential.
type settingsEntryJSON struct {
	EventNames   []string         `json:"eventNames"`
	Name         string           `json:"name"`
	Tags         []string         `json:"tags"`
	Query        []map[string]any `json:"query"`
	Criteria     string           `json:"criteria"`
	API          apiJSON          `json:"api"`
	SuccessCodes []int            `json:"successCodes"`
	RetryCodes   []int            `json:"retryCodes"`
	RetryCount   int              `json:"retryCount"`
	TTL          int              `json:"ttl"`
	RateLimit    int              `json:"rateLimit"`
}

func settingsEntry(s webhook.Settings) *settingsEntryJSON {
	var w webhookJSON
	settingsJSON(&w, s)
	return &settingsEntryJSON{
		EventNames: w.EventNames, Name: w.Name, Tags: w.Tags, Query: w.Query, Criteria: w.Criteria, API: w.API,
		SuccessCodes: w.SuccessCodes, RetryCodes: w.RetryCodes, RetryCount: w.RetryCount, TTL: w.TTL,
		RateLimit: w.RateLimit,
	}
}

func (s *server) webhookHistory(c *fiber.Ctx) error {
	tenantID, communityID, id, err := webhookOf(c)
	if err != nil {
		return err
	}
	index, size, err := historyPage(c)
	if err != nil {
		return err
	}
	page, err := s.History.History(c.UserContext(), tenantID, communityID, id, index, size)
	if err != nil {
		return err
	}
	out := make([]historyEntryJSON, len(page.Entries))
	for i, e := range page.Entries {
		out[i] = historyEntryJSON{Revision: e.Revision, Type: e.Type, OccurredAt: e.OccurredAt.UTC().Format(time.RFC3339Nano), Actor: e.Actor}
		switch ev := e.Event.(type) {
		case webhook.Created:
			out[i].Settings = settingsEntry(ev.Settings)
		case webhook.Updated:
			out[i].Settings = settingsEntry(ev.Settings)
		case webhook.SecretRotated:
			out[i].PreviousSecretExpiresAt = ev.PreviousExpiresAt.UTC().Format(time.RFC3339Nano)
		case webhook.Disabled:
			out[i].Reason = ev.Reason
		case webhook.CircuitOpened:
			out[i].CircuitUntil = ev.Until.UTC().Format(time.RFC3339Nano)
		}
	}
	return c.JSON(historyJSON{Page: pageJSON{Index: index, Total: page.Total, Size: size}, Data: out})
}

// historyJSON is a page of a webhook's lifecycle, paged as fetch pages webhooks.
type historyJSON struct {
	Page pageJSON           `json:"page"`
	Data []historyEntryJSON `json:"data"`
}

// historyPage reads the pIndex and pSize query parameters: from 0, and 1 to 100 (default 100).
func historyPage(c *fiber.Ctx) (index, size int, err error) {
	return pageOf(queryInt(c, "pIndex"), queryInt(c, "pSize"), maxPageSize)
}

// queryInt reads an integer query parameter: nil when it is absent, and -1, which no page number
// takes, when it is not an integer.
func queryInt(c *fiber.Ctx, name string) *int {
	raw := c.Query(name)
	if raw == "" {
		return nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil {
		n = -1
	}
	return &n
}

// pageOf checks the page a request asks for: pIndex from 0 (default 0) and pSize from 1 to 100
// (default defaultSize).
func pageOf(pIndex, pSize *int, defaultSize int) (index, size int, err error) {
	index, size = 0, defaultSize
	if pIndex != nil {
		if *pIndex < 0 || *pIndex > maxPageIndex {
			return 0, 0, badRequest(fmt.Sprintf("pIndex must be from 0 to %d", maxPageIndex))
		}
		index = *pIndex
	}
	if pSize != nil {
		if *pSize < 1 || *pSize > maxPageSize {
			return 0, 0, badRequest(fmt.Sprintf("pSize must be from 1 to %d", maxPageSize))
		}
		size = *pSize
	}
	return index, size, nil
}
