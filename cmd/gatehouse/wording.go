package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/gatehouse/gatehouse/broker/operations"
)

// The refusals every command shares, worded the same way for every kind of
// thing: "There is no client "x"." and "A client "x" exists already."

// sentenceError is an operation's error with the sentence an admin reads;
// errors.Is still finds what it wraps.
type sentenceError struct {
	msg string
	err error
}

func (e *sentenceError) Error() string { return e.msg }
func (e *sentenceError) Unwrap() error { return e.err }

// reword turns operations' not-found error, its refusal of invalid input (one
// problem a line) and on a create its conflict, about the thing of kind
// (client, API, provider, user) named id, into the shared sentences, pointing
// at the command that lists them.
func reword(err error, kind, id string, creating bool) error {
	list := map[string]string{"client": "clients", "API": "apis", "provider": "providers", "user": "users"}[kind]
	var invalid *operations.Invalid
	switch {
	case err == nil:
		return nil
	case errors.Is(err, operations.ErrNotFound):
		return &sentenceError{fmt.Sprintf("There is no %s %q ('gatehouse %s list' shows them).", kind, id, list), err}
	case errors.As(err, &invalid):
		// One problem a line, as every other refusal to save reads.
		return &sentenceError{fmt.Sprintf("%s not saved:\n  %s", strings.TrimSpace(kind+" "+id), strings.Join(invalid.Problems, "\n  ")), err}
	case creating && errors.Is(err, operations.ErrConflict):
		return &sentenceError{fmt.Sprintf("%s %s %q exists already: choose another ID, or change it with 'gatehouse %s update %s'.",
			article(kind), kind, id, list, id), err}
	}
	return err
}

func article(kind string) string {
	if kind == "API" {
		return "An"
	}
	return "A"
}
