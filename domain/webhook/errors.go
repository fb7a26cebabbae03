package webhook

import (
	"errors"
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

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.Field + " " + p.Message
	}
	return strings.Join(parts, "; ")
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
