package kurrentdb

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hookd/hookd/domain/eventlog"
)

// errStreamNotFound is what mapError makes of a missing stream; the reads turn it into no events.
var errStreamNotFound = errors.New("kurrentdb: stream not found")

// conflict names the append a wrong-expected-version answer is about.
type conflict struct {
	stream   string
	expected eventlog.ExpectedRevision
}

// mapError is the one place where the client's and gRPC's errors become hookd's. ctx is the
// caller's: when it has ended, its error is what the caller gets. A conflict (for appends) becomes a
// *eventlog.WrongExpectedVersionError, a missing stream errStreamNotFound, and every failure that
// may pass (unreachable node, deadline, dropped or closed connection, leader change) an error
// matching eventlog.ErrUnavailable. The client wraps its errors, so they are classified with
// errors.As, never esdb.FromError, which does not unwrap.
func mapError(ctx context.Context, op string, err error, c *conflict) error {
	if err == nil {
		return nil
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("kurrentdb: %s: %w", op, ctxErr)
	}
	if errors.Is(err, ErrClosed) {
		return err
	}
	var esErr *esdb.Error
	if errors.As(err, &esErr) {
		switch esErr.Code() {
		case esdb.ErrorCodeWrongExpectedVersion:
			if c != nil {
				// The client reports the current revision only as text; -2 says "not known".
				return &eventlog.WrongExpectedVersionError{Stream: c.stream, Expected: c.expected, Actual: -2}
			}
		case esdb.ErrorCodeResourceNotFound:
			return errStreamNotFound
		}
	}
	if retryable(err) {
		return fmt.Errorf("kurrentdb: %s: %w: %w", op, eventlog.ErrUnavailable, err)
	}
	return fmt.Errorf("kurrentdb: %s: %w", op, err)
}

// retryable reports whether err is a failure that may pass: an unreachable node, a deadline, a
// dropped, broken or closed connection, a leader change, or a probe that found no node.
func retryable(err error) bool {
	var esErr *esdb.Error
	if errors.As(err, &esErr) {
		switch esErr.Code() {
		case esdb.ErrorUnavailable, esdb.ErrorCodeDeadlineExceeded, esdb.ErrorCodeConnectionClosed,
			esdb.ErrorAborted, esdb.ErrorCodeNotLeader:
			return true
		}
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Aborted, codes.Canceled, codes.ResourceExhausted:
		// Canceled while the caller's context lives means ours ended: the call's timeout or the
		// connection going away.
		return true
	}
	// gRPC reports a client stream broken under a Send as io.EOF; reads end with io.EOF
	// normally, but drain consumes that one.
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	return errors.Is(err, errProbing) || errors.Is(err, errConnectionFailed) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

// permanent reports whether a subscription failing with err (already mapped) should end rather than
// resubscribe: only failures that may pass are retried.
func permanent(err error) bool { return !errors.Is(err, eventlog.ErrUnavailable) }
