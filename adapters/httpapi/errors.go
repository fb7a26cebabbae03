package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/hookd/hookd/application/eventstore"
	"github.com/hookd/hookd/domain/delivery"
	"github.com/hookd/hookd/domain/eventlog"
	"github.com/hookd/hookd/domain/license"
	"github.com/hookd/hookd/domain/publication"
	"github.com/hookd/hookd/domain/servicekey"
	"github.com/hookd/hookd/domain/webhook"
	"github.com/hookd/hookd/projections/servicekeyview"
)

// errorBody is the one shape of every error the API answers, as the 1Kosmos seed defines it.
type errorBody struct {
	StatusCode int    `json:"statusCode"`
	Error      string `json:"error"`
	Message    string `json:"message"`
}

// apiError is an error that already knows its status.
type apiError struct {
	status  int
	message string
}

func (e *apiError) Error() string { return e.message }

func badRequest(message string) error {
	return &apiError{status: http.StatusBadRequest, message: message}
}

func unauthorized(message string) error {
	return &apiError{status: http.StatusUnauthorized, message: message}
}

func forbidden(message string) error {
	return &apiError{status: http.StatusForbidden, message: message}
}

// status maps every error to its HTTP status and the message the caller sees. It is the only place
// that does, so a domain error means the same thing at every endpoint.
func status(err error) (int, string) {
	var api *apiError
	var validation *webhook.ValidationError
	var fe *fiber.Error
	var storage *eventstore.StorageError
	var expired *delivery.ExpiredError
	switch {
	case errors.As(err, &api):
		return api.status, api.message
	case errors.As(err, &validation):
		return http.StatusBadRequest, validation.Error()
	case errors.Is(err, publication.ErrPayloadTooLarge):
		return http.StatusRequestEntityTooLarge, strings.ReplaceAll(err.Error(), "publication: ", "")
	case errors.As(err, &expired):
		return http.StatusGone, expired.Error()
	case errors.Is(err, webhook.ErrNotFound), errors.Is(err, webhook.ErrDeleted):
		return http.StatusNotFound, "webhook not found"
	case errors.Is(err, servicekey.ErrUnknownKey):
		return http.StatusNotFound, "service key not found"
	case errors.Is(err, license.ErrNotFound):
		return http.StatusNotFound, "license not found"
	case errors.Is(err, eventlog.ErrWrongExpectedVersion):
		return http.StatusConflict, "the resource was changed by another request; fetch it and try again"
	case errors.As(err, &storage):
		return http.StatusServiceUnavailable, storage.Error() + "; try again later"
	case errors.Is(err, eventlog.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable, "the event store is unavailable; try again"
	case errors.Is(err, servicekeyview.ErrNotFound):
		// Only before the first start has made the service's key pair: the node is not ready yet.
		return http.StatusServiceUnavailable, "the service key pair is not there yet; try again"
	case errors.As(err, &fe):
		return fe.Code, fe.Message
	}
	return http.StatusInternalServerError, "internal error"
}

// retryAfter is the Retry-After of a 503, in seconds: a full disk waits for an operator, anything
// else unavailable is usually over within a second.
func retryAfter(err error) string {
	if _, ok := errors.AsType[*eventstore.StorageError](err); ok {
		return "30"
	}
	return "1"
}

// errorHandler answers every error in the seed's shape, including Fiber's own (unknown route, body
// too large, method not allowed).
func (s *server) errorHandler(c *fiber.Ctx, err error) error {
	code, message := status(err)
	if code == http.StatusServiceUnavailable {
		c.Set(fiber.HeaderRetryAfter, retryAfter(err))
	}
	if code >= http.StatusInternalServerError {
		s.log.ErrorContext(c.UserContext(), "request failed", "method", c.Method(), "path", c.Path(), "err", err)
	}
	return c.Status(code).JSON(errorBody{StatusCode: code, Error: http.StatusText(code), Message: message})
}
