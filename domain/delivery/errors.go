package delivery

import (
	"errors"
	"fmt"
)

// ErrFinished is returned by RecordAttempt on a delivery that succeeded or was parked: it takes no
// attempt until a replay is requested.
var ErrFinished = errors.New("delivery: finished")

// ErrNotFinished is returned by RequestReplay on a delivery that is still scheduled: its attempts
// are still to come, and a replay would send it twice.
var ErrNotFinished = errors.New("delivery: not finished")

// ErrNotFound says the delivery asked for does not exist.
var ErrNotFound = errors.New("delivery: not found")

// AttemptNumberError says an attempt was recorded with a number other than the next one: attempts
// are numbered 1, 2, 3… with no gap and no repeat. It usually means the caller worked from a stale
// copy of the delivery.
type AttemptNumberError struct {
	Got, Want int
}

func (e *AttemptNumberError) Error() string {
	return fmt.Sprintf("delivery: attempt %d recorded where attempt %d is next", e.Got, e.Want)
}
