package oauth

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/broker/delegate"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/token"
	"github.com/gatehouse/gatehouse/broker/web"
	"github.com/gatehouse/gatehouse/templates"
)

// Acting for someone (issue 11): a person B who holds a delegation from A for
// the API an application asks for chooses on the consent page to use the
// application as themselves or for A. A choice "for A" is recorded on the code
// (store.AuthCode.DelegationID), never in store.Consents, and every token issued
// from it carries sub = A, act = {sub: B} (RFC 8693 §4.1) and delegation_id. Its
// refresh token belongs to B (UserID = B: the session, the consent and the
// sign-in are B's), so ending B's consent, session or account ends it as well as
// ending the delegation or A's account.

// maxActForOffers bounds the delegations one consent page offers (and the
// pending request carries).
const maxActForOffers = 20

// delegatedIdentityScopes are the identity scopes a token acting for A may carry.
// profile and email are A's personal data, which A's delegation (API scopes) does
// not release to B's application (OIDC Core §5.4: claims are released on the
// End-User's authorization, and B cannot authorize A's).
var delegatedIdentityScopes = []string{"openid", "offline_access"}

// delegatedScopes returns the scope of a token acting under a delegation:
// requested (the client's allowed scopes when omitted, RFC 6749 §3.3) ∩ the
// client's allowed scopes ∩ (the API's scopes the delegation covers now, usable,
// plus openid and offline_access). Never wider than the delegation (AS-DEL-04).
func delegatedScopes(requested, clientAllowed []string, api *store.API, usable []string) []string {
	candidates := requested
	if candidates == nil {
		candidates = clientAllowed
	}
	var out []string
	for _, sc := range candidates {
		if !slices.Contains(clientAllowed, sc) || slices.Contains(out, sc) {
			continue
		}
		apiScope := api != nil && slices.ContainsFunc(api.Scopes, func(x store.Scope) bool { return x.Name == sc })
		if slices.Contains(delegatedIdentityScopes, sc) || (apiScope && slices.Contains(usable, sc)) {
			out = append(out, sc)
		}
	}
	return out
}

// coversAPI reports whether scopes hold at least one scope that is not an
// identity scope: a delegation that gives the request nothing of the API is not
// offered.
func coversAPI(scopes []string) bool {
	return slices.ContainsFunc(scopes, func(sc string) bool { return !slices.Contains(token.IdentityScopes, sc) })
}

// actForOffer is a delegation the consent page offers, with the scope a token
// under it would carry now.
type actForOffer struct {
	d      store.Delegation
	scopes []string
}

// actForOffers returns the delegations userID received for api that are usable
// now (delegate.Usable) and give this request at least one API scope, oldest
// first, at most maxActForOffers.
func (s *Server) actForOffers(ctx context.Context, c *store.Client, userID string, api *store.API, q *authzRequest) ([]actForOffer, error) {
	if api == nil || !api.Delegation.Allowed {
		return nil, nil
	}
	list, err := s.store.Delegations().ListByGrantee(ctx, userID, "")
	if err != nil {
		return nil, err
	}
	now := s.Now()
	var out []actForOffer
	for _, d := range list {
		if d.Audience != api.Audience || d.GranteeUserID != userID || d.GrantorID == userID {
			continue
		}
		if st := d.Status(now, 0); st != store.DelegationActive && st != store.DelegationExpiringSoon {
			continue
		}
		usable, err := s.delegations.Covers(ctx, d, now)
		if errors.Is(err, delegate.ErrUnusable) {
			continue
		}
		if err != nil {
			return nil, err
		}
		scopes := delegatedScopes(requestedOrNil(q), c.Scopes, api, usable)
		if !coversAPI(scopes) {
			continue
		}
		out = append(out, actForOffer{d: d, scopes: scopes})
		if len(out) == maxActForOffers {
			break
		}
	}
	return out, nil
}

func requestedOrNil(q *authzRequest) []string {
	if q.ScopeGiven {
		return q.Scope
	}
	return nil
}

// actForViews describes the offers for the consent page.
func (s *Server) actForViews(ctx context.Context, api *store.API, offers []actForOffer) ([]templates.ConsentDelegation, error) {
	var out []templates.ConsentDelegation
	for _, o := range offers {
		// The access is the first grantor's; a re-delegation says who passed it on.
		lineage, err := s.delegations.Lineage(ctx, o.d, s.cfg.ExchangeMaxActorDepth)
		if err != nil {
			return nil, err
		}
		name, err := s.userName(ctx, lineage.Root)
		if err != nil {
			return nil, err
		}
		var passedOn string
		if lineage.Root != o.d.GrantorID {
			by, err := s.userName(ctx, o.d.GrantorID)
			if err != nil {
				return nil, err
			}
			passedOn = by
		}
		var words []string
		for _, sc := range o.scopes {
			if slices.Contains(token.IdentityScopes, sc) {
				continue
			}
			w := sc
			if i := slices.IndexFunc(api.Scopes, func(x store.Scope) bool { return x.Name == sc }); i >= 0 && api.Scopes[i].Description != "" {
				w = api.Scopes[i].Description
			}
			words = append(words, w)
		}
		out = append(out, templates.ConsentDelegation{ID: o.d.ID, GrantorName: name,
			PassedOnBy: passedOn, Scopes: api.Name + ": " + strings.Join(words, "; "), Until: o.d.ExpiresAt})
	}
	return out, nil
}

// userName is how a page names a person: "someone" once their account is gone.
func (s *Server) userName(ctx context.Context, id string) (string, error) {
	u, err := s.store.Users().Get(ctx, id)
	if isNotFound(err) {
		return "someone", nil
	}
	if err != nil {
		return "", err
	}
	return web.DisplayName(u), nil
}

func offerIDs(offers []actForOffer) []string {
	ids := make([]string, len(offers))
	for i, o := range offers {
		ids[i] = o.d.ID
	}
	return ids
}

// errActForRefused answers a consent form whose "act for" choice is not one the
// page offered (AS-DEL-02: an edited form).
var errActForRefused = &web.UserError{Status: http.StatusForbidden, Title: "Request refused",
	Message: "You cannot use this application for that person.",
	Next:    "Go back to the application and start again."}

// chosenDelegation checks the consent form's "act for" choice id: it must be one
// the pending request offered (sealed server-side, AS-DEL-02), still B's, for
// this API, and usable now. It returns the delegation and the code's scope.
func (s *Server) chosenDelegation(ctx context.Context, c *store.Client, userID string, api *store.API, q *authzRequest,
	id string) (store.Delegation, []string, error) {
	d, err := s.store.Delegations().Get(ctx, id)
	if err != nil && !isNotFound(err) {
		return d, nil, err
	}
	if err != nil || api == nil || d.GranteeUserID != userID || d.Audience != api.Audience {
		return d, nil, &delegate.Unusable{Reason: "not this person's delegation for this API"}
	}
	usable, err := s.delegations.Usable(ctx, d, s.Now())
	if err != nil {
		return d, nil, err
	}
	scopes := delegatedScopes(requestedOrNil(q), c.Scopes, api, usable)
	if !coversAPI(scopes) {
		return d, nil, &delegate.Unusable{Reason: "covers nothing the application asks for"}
	}
	return d, scopes, nil
}

// actingFor is what a code or refresh token issued under a delegation yields at
// the token endpoint: the delegation and the scopes a token under it may carry now.
type actingFor struct {
	d       store.Delegation
	lineage delegate.Lineage
	usable  []string
}

// delegationNow loads the delegation a code or refresh token of userID (the
// delegate) was issued under and checks it is usable now (delegate.Usable:
// ended, expired, a party disabled, the grantor's entitlement lost, the API's
// policy changed). Not usable → invalid_grant (RFC 6749 §5.2), nothing issued.
func (s *Server) delegationNow(ctx context.Context, id, userID, audience string, now time.Time) (*actingFor, error) {
	d, err := s.store.Delegations().Get(ctx, id)
	if err != nil && !isNotFound(err) {
		return nil, err
	}
	if err != nil || d.GranteeUserID != userID || d.Audience != audience {
		return nil, &delegate.Unusable{Reason: "not the delegate's delegation for this API"}
	}
	usable, err := s.delegations.Usable(ctx, d, now)
	if err != nil {
		return nil, err
	}
	lineage, err := s.delegations.Lineage(ctx, d, s.cfg.ExchangeMaxActorDepth)
	if err != nil {
		return nil, err
	}
	return &actingFor{d: d, lineage: lineage, usable: usable}, nil
}

// narrow keeps of scopes those a token under the delegation may carry now.
func (a *actingFor) narrow(scopes []string) []string {
	return slices.DeleteFunc(slices.Clone(scopes), func(sc string) bool {
		return !slices.Contains(delegatedIdentityScopes, sc) && !slices.Contains(a.usable, sc)
	})
}

// delegationRefused is the token endpoint's answer to an unusable delegation.
func delegationRefused(err error, clientID, userID, delegationID string) error {
	if !errors.Is(err, delegate.ErrUnusable) {
		return err
	}
	return web.Rejected(web.InvalidGrant("the delegation this grant acts under can no longer be used", err), "delegation_unusable",
		clientID, userID, map[string]any{"delegation": delegationID})
}
