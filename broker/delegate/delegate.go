// Package delegate holds the rules of delegation (issue 11): what a delegation may
// be, and giving, declining and ending one, and what a token under it may carry
// right now. The delegation pages, the consent page and the token issuers call
// it; they only handle requests.
package delegate

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/gatehouse/gatehouse/broker/audit"
	"github.com/gatehouse/gatehouse/broker/ratelimit"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/templates"
)

// Service applies the delegation rules to one store. Use it by pointer: it keeps
// the throttle of last-use writes.
type Service struct {
	Store store.Store
	Audit *audit.Writer
	Now   func() time.Time
	// AccessTokenTTL is the longest an access token lives: ending a delegation
	// keeps its revocation entry that long.
	AccessTokenTTL time.Duration
	Log            *slog.Logger // optional: a last use not recorded is logged here

	touchOnce sync.Once
	touches   *ratelimit.Keyed
}

// Request is a delegation a person asks to give.
type Request struct {
	// Exactly one of GranteeUserID and GranteeClientID names the delegate.
	GranteeUserID   string
	GranteeClientID string
	Audience        string // the API, by audience URI
	Scopes          []string
	ExpiresAt       time.Time
	Note            string
	MayRedelegate   bool
	// ParentID is the delegation the grantor received and passes on; "" when
	// the grantor gives their own access.
	ParentID string
}

// ErrForbidden is the kind of a refusal that would let a delegate do more than
// the grantor may (SECURITY.md AS-DEL-04): a scope the grantor does not hold, or
// a re-delegation wider than, or not permitted by, what the grantor received.
// Pages answer it with 403; errors.Is(err, ErrForbidden) finds it in a *Refused.
var ErrForbidden = errors.New("delegate: forbidden")

// ErrNotFound: no delegation of this person has the ID (Revoke, Decline). The
// same answer for another person's delegation, so an ID reveals nothing.
var ErrNotFound = store.ErrNotFound

// ErrUnusable is the kind of every refusal of Usable: the delegation is ended,
// expired, or no longer covers anything. Token issuers answer it with
// invalid_grant (RFC 6749 §5.2); errors.Is(err, ErrUnusable) finds it.
var ErrUnusable = errors.New("delegate: delegation not usable")

// Refused is a delegation Give will not store, with every problem at once in
// words a person can act on: catalogue messages, which the pages say in the
// person's language.
type Refused struct {
	Problems []templates.Msg
	// Forbidden marks an escalation (ErrForbidden) among the problems.
	Forbidden bool
}

// Error says the problems in English, for logs and the command line.
func (r *Refused) Error() string {
	words := make([]string, len(r.Problems))
	for i, p := range r.Problems {
		words[i] = p.In(context.Background())
	}
	return "delegation refused: " + strings.Join(words, " ")
}

// Is makes errors.Is(err, ErrForbidden) true for an escalation.
func (r *Refused) Is(target error) bool { return target == ErrForbidden && r.Forbidden }

// Unusable says why a delegation cannot be used now; it is an ErrUnusable.
type Unusable struct{ Reason string }

func (u *Unusable) Error() string { return "delegation not usable: " + u.Reason }

// Is makes errors.Is(err, ErrUnusable) true.
func (u *Unusable) Is(target error) bool { return target == ErrUnusable }

// touchEvery bounds the last-use writes of a busy delegation to one a minute per
// delegation and replica: the delegations page shows the time to the minute.
const touchEvery = time.Minute

func (s *Service) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

func (s *Service) touchLimiter() *ratelimit.Keyed {
	s.touchOnce.Do(func() { s.touches = ratelimit.New(rate.Every(touchEvery), 1, s.now) })
	return s.touches
}

// systemActor is the audit actor of an end nobody asked for (the grantor's
// entitlement lost).
const systemActor = "gatehouse"
