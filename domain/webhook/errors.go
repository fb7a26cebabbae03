package webhook

import (
	"errors"
	"fmt"
	"strings"
)

// ErrDeleted is returned by every command on a deleted webhook.
var ErrDeleted = errors.New("webhook: deleted")

// ErrNotFound says no webhook has the id asked for, in the tenant and community asked for.
var ErrNotFound = errors.New("webhook: not found")

// Problem is one broken rule: the field, as a JSON path, and what is wrong with it.
type Problem struct {
	Field   string
	Message string
}

// ValidationError lists every rule that a command's input breaks.
type ValidationError struct {
	Problems []Problem
}

// maxReported bounds the problems an error message names, so that a large bad input cannot make
// a larger answer.
const maxReported = 20

func (e *ValidationError) Error() string {
	shown := e.Problems[:min(len(e.Problems), maxReported)]
	parts := make([]string, len(shown))
	for i, p := range shown {
		parts[i] = p.Field + " " + p.Message
	}
	msg := strings.Join(parts, "; ")
	if more := len(e.Problems) - len(shown); more > 0 {
		msg += fmt.Sprintf("; and %d more", more)
	}
	return msg
}

// validation collects problems so that one answer names them all.
type validation struct{ problems []Problem }

func (v *validation) add(field, message string) {
	v.problems = append(v.problems, Problem{Field: field, Message: message})
}

func (v *validation) check(ok bool, field, message string) {
	if !ok {
		v.add(field, message)
	}
}

func (v *validation) err() error {
	if len(v.problems) == 0 {
		return nil
	}
	return &ValidationError{Problems: v.problems}
}
