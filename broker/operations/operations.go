// Package operations holds the changes an admin can make to Gatehouse's
// configuration — providers, clients, APIs, users and signing keys — each
// validated completely, and stored with its cut-off and its audit event (with the
// acting admin) in one transaction (store.Store.InTx). The CLI calls them
// in-process; the admin console and the admin API are to call the same ones.
package operations

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/broker/audit"
	"github.com/gatehouse/gatehouse/broker/delegate"
	"github.com/gatehouse/gatehouse/broker/keys"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/upstream"
	"github.com/gatehouse/gatehouse/templates"
)

// Service runs the admin operations. Its dependencies are explicit: an operation
// that needs one that is not set (Keys for the key operations, Upstream's keyring
// for providers) fails rather than guess.
type Service struct {
	Store store.Store
	// Upstream checks and builds provider configurations (upstream.Upsert).
	Upstream upstream.Env
	// Keys is the signing-key manager, for the key operations.
	Keys *keys.Manager
	// Audit records each change synchronously (*audit.Writer).
	Audit Auditor
	// AccessTokenTTL is the server's access-token lifetime: how long the
	// revocation entries of a cut-off or a watermark are kept.
	AccessTokenTTL time.Duration
	// SigningAlgorithm is the server's GATEHOUSE_SIGNING_ALG: it decides which
	// ID-token algorithms a client may register (keys.IDTokenAlgorithms).
	SigningAlgorithm string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Delegations re-checks the delegations of the people a provider change
	// may take roles from (delegate.Service.Recheck, issue 11). A provider
	// change that has such delegations to re-check fails without it rather
	// than leave them unchecked. Its Store, Now and AccessTokenTTL are the
	// operations' own when it runs.
	Delegations *delegate.Service
}

// Auditor records one audit event through st before returning: an admin change
// whose record must not be lost. The operations pass their transaction's Audit,
// so the event commits with the change or not at all. *audit.Writer is one.
type Auditor interface {
	RecordTo(ctx context.Context, st store.Audit, ev audit.Event) error
}

// Actor is who makes a change, as the audit log records it.
type Actor struct {
	// Name is the audit event's actor: an admin's identity, or what the CLI
	// records for whoever can reach the database and the configuration.
	Name string
	// Via, if set, is recorded in the event's details as "via" (e.g. "cli").
	Via string
}

// Typed errors. Test with errors.Is (ErrNotFound, ErrConflict) and errors.As
// (*Invalid); the message of each stays the one the admin reads.
var (
	// ErrNotFound: the provider, client, API, user or key named does not exist.
	ErrNotFound = errors.New("operations: not found")
	// ErrConflict: the stored version changed since it was read (a concurrent
	// edit won), or a unique ID is taken.
	ErrConflict = errors.New("operations: conflict")
)

// Invalid is an input refused by validation, with every problem at once.
type Invalid struct {
	// Problems are the problems in English, for the command line and the
	// admin API.
	Problems []string
	// Messages are the same problems for a page to say in its language
	// (broker/registry's are catalogue messages; others are their English).
	Messages []templates.Msg
	// text is the message as the validators word it, if they gave one; err is
	// what they returned, so errors.Is still finds their sentinels.
	text string
	err  error
}

func (e *Invalid) Error() string {
	if e.text != "" {
		return e.text
	}
	return strings.Join(e.Problems, "; ")
}

func (e *Invalid) Unwrap() error { return e.err }

// invalid builds an *Invalid from problems; nil if there are none.
func invalid(problems []string, err error) error {
	if len(problems) == 0 {
		return nil
	}
	msgs := make([]templates.Msg, len(problems))
	for i, p := range problems {
		msgs[i] = templates.M("%s", p)
	}
	return invalidMsgs(msgs, err)
}

// invalidMsgs is invalid for problems that are catalogue messages, said in
// English for Problems and the text.
func invalidMsgs(problems []templates.Msg, err error) error {
	if len(problems) == 0 {
		return nil
	}
	inv := &Invalid{Problems: templates.English(problems), Messages: problems, err: err}
	if err != nil {
		inv.text = err.Error()
	}
	return inv
}

// kindError is ErrNotFound or ErrConflict with the message the admin reads and
// the store's error underneath (errors.Is finds both). m, when set, is the
// message as a catalogue message (Message), and msg its English.
type kindError struct {
	kind error
	msg  string
	m    templates.Msg
	err  error
}

// conflict is ErrConflict saying m.
func conflict(m templates.Msg) error { return &kindError{kind: ErrConflict, msg: m.English(), m: m} }

// notFoundMsg is ErrNotFound saying m, with err underneath.
func notFoundMsg(m templates.Msg, err error) error {
	return &kindError{kind: ErrNotFound, msg: m.English(), m: m, err: err}
}

// Message is err's message for a page to say in its language: an operation's
// catalogue message when it has one, else its text as it is.
func Message(err error) templates.Msg {
	var k *kindError
	if errors.As(err, &k) && k.m.Key != "" && err.Error() == k.msg {
		return k.m
	}
	return templates.M("%s", err.Error())
}

func (e *kindError) Error() string        { return e.msg }
func (e *kindError) Is(target error) bool { return target == e.kind }
func (e *kindError) Unwrap() error        { return e.err }

func notFound(msg string, err error) error {
	if msg == "" {
		msg = err.Error()
	}
	return &kindError{kind: ErrNotFound, msg: msg, err: err}
}

// storeErr maps the store's sentinels to the operations' typed errors.
func storeErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound):
		return notFound("", err)
	case errors.Is(err, store.ErrConflict):
		return &kindError{kind: ErrConflict, msg: err.Error(), err: err}
	}
	return err
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// record writes the audit event of a change made by a (ADM-16) through st: the
// operation's transaction, so a failure to record it undoes the change too.
func (s *Service) record(ctx context.Context, st store.Store, a Actor, action, target string, details map[string]any) error {
	if details == nil {
		details = map[string]any{}
	}
	if a.Via != "" {
		details["via"] = a.Via
	}
	if s.Audit == nil {
		return errors.New("operations: no audit writer")
	}
	return s.Audit.RecordTo(ctx, st.Audit(), audit.Event{Actor: a.Name, Action: action, Target: target, Details: details})
}

// CutOffResult is what a cut-off ended (revoke.CutOff).
type CutOffResult struct {
	Sessions      int
	RefreshTokens int64
	Delegations   int // a disabled user's delegations, given or received
}

func (c CutOffResult) details() map[string]any {
	d := map[string]any{"sessions_ended": c.Sessions, "refresh_tokens_revoked": c.RefreshTokens}
	if c.Delegations > 0 {
		d["delegations_ended"] = c.Delegations
	}
	return d
}
