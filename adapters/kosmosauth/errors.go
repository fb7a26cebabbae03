package kosmosauth

import "errors"

// ErrUnauthenticated is what every rejected request's error matches with errors.Is. The HTTP layer
// answers it with 401 and the AuthError's Reason as message.
var ErrUnauthenticated = errors.New("unauthenticated")

// ErrReplayCacheFull says more requests of known licenses arrived inside one time span than the
// replay cache may remember; Commit returns it. The request is refused rather than let through
// unchecked, since a request the cache cannot remember could be replayed; the HTTP layer answers it
// with 429 Too Many Requests and the client retries once the time span has passed.
var ErrReplayCacheFull = errors.New("kosmosauth: too many requests inside the allowed time span to guard against replays")

// AuthError is a rejected request. It matches ErrUnauthenticated.
type AuthError struct {
	// Reason says what was wrong, in words fit for the caller: it never holds a key or a decrypted
	// value.
	Reason string
	// Err is the underlying error, when there is one (for example kosmoscrypto.ErrInvalidCiphertext).
	Err error
}

// Error returns "unauthenticated: " and the reason.
func (e *AuthError) Error() string { return ErrUnauthenticated.Error() + ": " + e.Reason }

// Is makes the error match ErrUnauthenticated.
func (e *AuthError) Is(target error) bool { return target == ErrUnauthenticated }

// Unwrap returns the underlying error.
func (e *AuthError) Unwrap() error { return e.Err }

func reject(reason string, err error) error { return &AuthError{Reason: reason, Err: err} }
