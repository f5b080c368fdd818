package delegate

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse/broker/audit"
	"github.com/gatehouse/gatehouse/broker/registry"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/web"
	"github.com/gatehouse/gatehouse/templates"
)

// Give stores the delegation grantorID asks for in req, with a delegation.created
// audit event in the same transaction, or refuses it with a *Refused listing
// every problem (ErrForbidden among them for an escalation, SECURITY.md
// AS-DEL-04). The delegation is at most what the grantor holds now: scopes of the
// API that its policy lets be delegated and that the grantor's current roles
// entitle them to (or, passing on a delegation they received, within what that
// one covers now), until a time the policy allows.
func (s *Service) Give(ctx context.Context, grantorID string, req Request) (store.Delegation, error) {
	now := s.now().UTC()
	req.Scopes = dedupe(req.Scopes)
	if err := s.check(ctx, grantorID, req, now); err != nil {
		return store.Delegation{}, err
	}
	d := store.Delegation{
		ID: registry.NewClientID(), GrantorID: grantorID, GranteeUserID: req.GranteeUserID,
		GranteeClientID: req.GranteeClientID, Audience: req.Audience, Scopes: req.Scopes, Note: req.Note,
		MayRedelegate: req.MayRedelegate, ParentID: req.ParentID, CreatedAt: now, ExpiresAt: req.ExpiresAt.UTC(),
	}
	ri := web.InfoFrom(ctx)
	err := s.Store.InTx(ctx, func(tx store.Store) error {
		if err := tx.Delegations().Create(ctx, d); err != nil {
			return err
		}
		return s.Audit.RecordTo(ctx, tx.Audit(), audit.Event{Actor: grantorID, Action: "delegation.created", Target: d.ID,
			IP: ri.IP, RequestID: ri.ID, Details: map[string]any{
				"grantee_user": d.GranteeUserID, "grantee_client": d.GranteeClientID, "audience": d.Audience,
				"scopes": d.Scopes, "expires_at": d.ExpiresAt.Format(time.RFC3339), "may_redelegate": d.MayRedelegate,
				"parent": d.ParentID,
			}})
	})
	if err != nil {
		return store.Delegation{}, fmt.Errorf("give delegation: %w", err)
	}
	return d, nil
}

// Check answers as Give would, storing nothing: nil for a delegation Give would
// store now, or the same *Refused. The give-access page calls it before its
// review step, and Give checks again on confirmation.
func (s *Service) Check(ctx context.Context, grantorID string, req Request) error {
	req.Scopes = dedupe(req.Scopes)
	return s.check(ctx, grantorID, req, s.now().UTC())
}

// check applies every rule of Give to req (scopes deduplicated) at now.
func (s *Service) check(ctx context.Context, grantorID string, req Request, now time.Time) error {
	var p problems

	grantor, err := s.Store.Users().Get(ctx, grantorID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if err != nil || grantor.Disabled {
		p.forbid(templates.M("Your account may not give access."))
	}

	if err := s.checkGrantee(ctx, grantorID, req, &p); err != nil {
		return err
	}

	api, err := s.Store.APIs().GetByAudience(ctx, req.Audience)
	switch {
	case errors.Is(err, store.ErrNotFound):
		p.add(templates.M("There is no such API."))
	case err != nil:
		return err
	case !api.Delegation.Allowed:
		p.add(templates.M("Access to %s cannot be delegated.", api.Name))
	}

	var parent *store.Delegation
	if req.ParentID != "" {
		d, err := s.Store.Delegations().Get(ctx, req.ParentID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		// RFC 8693 §4.4, AS-DEL-04: only what this person received, still
		// active, given with permission to pass it on, for the same API.
		switch {
		case err != nil || d.GranteeUserID != grantorID || d.GranteeUserID == "":
			p.forbid(templates.M("The access you want to pass on was not given to you."))
		case d.Status(now, 0) != store.DelegationActive:
			p.forbid(templates.M("The access you want to pass on has ended."))
		case !d.MayRedelegate:
			p.forbid(templates.M("The access you want to pass on may not be passed on."))
		case d.Audience != req.Audience:
			p.forbid(templates.M("The access you want to pass on is for another API."))
		default:
			parent = &d
		}
		if api.ID != "" && api.Delegation.Allowed && !api.Delegation.Redelegation {
			p.forbid(templates.M("Access to %s may not be passed on.", api.Name))
		}
	}

	if api.ID != "" && api.Delegation.Allowed {
		if err := s.checkScopes(ctx, grantorID, api, parent, req.Scopes, now, &p); err != nil {
			return err
		}
		checkExpiry(api.Delegation, parent, req.ExpiresAt, now, &p)
		if req.MayRedelegate && !api.Delegation.Redelegation {
			p.add(templates.M("Access to %s may not be passed on.", api.Name))
		}
		if req.MayRedelegate && req.GranteeClientID != "" {
			p.add(templates.M("An app cannot pass access on."))
		}
	}
	if n := utf8.RuneCountInString(req.Note); n > store.MaxDelegationNote || !utf8.ValidString(req.Note) {
		p.add(templates.M("The note is longer than %d characters.", store.MaxDelegationNote))
	}
	return p.err()
}

// checkGrantee: exactly one delegate, not the grantor; a person who exists and
// is enabled, or an app that may ask for tokens for the API. A missing and a
// disabled person get the same words, so the answer does not tell who has an
// account.
func (s *Service) checkGrantee(ctx context.Context, grantorID string, req Request, p *problems) error {
	switch {
	case (req.GranteeUserID == "") == (req.GranteeClientID == ""):
		p.add(templates.M("Choose one person or one app to give access to."))
	case req.GranteeUserID == grantorID:
		p.add(templates.M("You cannot give access to yourself."))
	case req.GranteeUserID != "":
		u, err := s.Store.Users().Get(ctx, req.GranteeUserID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if err != nil || u.Disabled {
			p.add(templates.M("This person cannot be given access."))
		}
	default:
		c, err := s.Store.Clients().Get(ctx, req.GranteeClientID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		// RFC 8707 §2: the app must be allowed to ask for tokens for the API.
		if err != nil || (c.DefaultAudience != req.Audience && !slices.Contains(c.Audiences, req.Audience)) {
			p.add(templates.M("This app cannot be given access to this API."))
		}
	}
	return nil
}

// checkScopes: at least one; each a scope of the API that its policy lets be
// delegated and that the grantor holds now — by their own roles, or, passing on
// parent, within what parent covers now (AS-DEL-04).
func (s *Service) checkScopes(ctx context.Context, grantorID string, api store.API, parent *store.Delegation,
	scopes []string, now time.Time, p *problems) error {
	if len(scopes) == 0 {
		p.add(templates.M("Choose at least one permission."))
		return nil
	}
	var held []string
	if parent != nil {
		// What the received access may be used for now; nothing if unusable.
		c, err := s.covered(ctx, *parent, now)
		if err != nil && !errors.Is(err, ErrUnusable) {
			return err
		}
		held = c.allowed
	} else {
		var err error
		if held, err = s.entitled(ctx, grantorID, api); err != nil {
			return err
		}
	}
	for _, sc := range scopes {
		switch {
		case !slices.ContainsFunc(api.Scopes, func(x store.Scope) bool { return x.Name == sc }):
			p.add(templates.M("\"%s\" is not a permission of %s.", sc, api.Name))
		case !slices.Contains(api.Delegation.Scopes, sc):
			p.add(templates.M("\"%s\" cannot be delegated.", sc))
		case parent != nil && !slices.Contains(held, sc):
			p.forbid(templates.M("\"%s\" is not part of the access you received.", sc))
		case !slices.Contains(held, sc):
			p.forbid(templates.M("You do not hold \"%s\".", sc))
		}
	}
	return nil
}

// checkExpiry: in the future, within the policy's maximum, and no later than the
// access passed on.
func checkExpiry(policy store.DelegationPolicy, parent *store.Delegation, expires, now time.Time, p *problems) {
	switch {
	case !expires.After(now):
		p.add(templates.M("The end date must be in the future."))
	case expires.After(now.Add(policy.MaxDuration)):
		p.add(templates.M("Access can be given for at most %s.", templates.Span(policy.MaxDuration)))
	case parent != nil && expires.After(parent.ExpiresAt):
		p.add(templates.M("The access you pass on ends earlier than that."))
	}
}

// problems collects a refusal's reasons.
type problems struct{ r Refused }

func (p *problems) add(msg templates.Msg) { p.r.Problems = append(p.r.Problems, msg) }

func (p *problems) forbid(msg templates.Msg) {
	p.add(msg)
	p.r.Forbidden = true
}

func (p *problems) err() error {
	if len(p.r.Problems) == 0 {
		return nil
	}
	r := p.r
	return &r
}

func dedupe(l []string) []string {
	var out []string
	for _, s := range l {
		if s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// Delegable returns the scopes of api that userID may give now: those its policy
// lets be delegated that their current roles entitle them to; none when the API
// allows no delegation. The give-access page offers only these; Give decides.
func (s *Service) Delegable(ctx context.Context, userID string, api store.API) ([]string, error) {
	if !api.Delegation.Allowed {
		return nil, nil
	}
	held, err := s.entitled(ctx, userID, api)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, sc := range held {
		if slices.Contains(api.Delegation.Scopes, sc) {
			out = append(out, sc)
		}
	}
	return out, nil
}
