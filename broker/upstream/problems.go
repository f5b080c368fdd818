package upstream

import (
	"errors"
	"strings"

	"github.com/gatehouse/gatehouse/providers"
	"github.com/gatehouse/gatehouse/templates"
)

// Error is a provider's configuration refused (Kind providers.ErrConfig), or
// an IdP that could not be reached (providers.ErrUnavailable), with its
// problems as catalogue messages: the console says them in its page's
// language. Error() is their English, one a line, after the sentinel's text:
// what the command line and the admin API print. What an admin typed or an
// IdP returned, and an underlying error's text, are arguments of the
// messages, never their keys.
type Error struct {
	Kind error // nil: a problem of a part (a domain), without the sentinel's text
	Msgs []templates.Msg
	Err  error // the cause, or a further sentinel (ErrIssuerTaken); may be nil
}

func (e *Error) Error() string {
	text := strings.Join(templates.English(e.Msgs), "\n")
	if e.Kind == nil {
		return text
	}
	return e.Kind.Error() + ": " + text
}

func (e *Error) Unwrap() []error {
	var out []error
	for _, err := range []error{e.Kind, e.Err} {
		if err != nil {
			out = append(out, err)
		}
	}
	return out
}

// configErr refuses a configuration for msgs.
func configErr(msgs ...templates.Msg) error {
	return &Error{Kind: providers.ErrConfig, Msgs: msgs}
}

// causeErr is kind for the message m about err, which it wraps.
func causeErr(kind error, m templates.Msg, err error) error {
	return &Error{Kind: kind, Msgs: []templates.Msg{m}, Err: err}
}

// Messages are err's problems as catalogue messages: an *Error's, or any
// other error's text without the providers sentinel, a message a line, as
// worded (providers/oidc's checks, a parser's error).
func Messages(err error) []templates.Msg {
	var e *Error
	if errors.As(err, &e) && err.Error() == e.Error() {
		return e.Msgs
	}
	msg := err.Error()
	for _, s := range []error{providers.ErrUnavailable, providers.ErrConfig} {
		msg = strings.TrimPrefix(msg, s.Error()+": ")
	}
	lines := strings.Split(msg, "\n")
	out := make([]templates.Msg, len(lines))
	for i, l := range lines {
		out[i] = templates.M("%s", l)
	}
	return out
}
