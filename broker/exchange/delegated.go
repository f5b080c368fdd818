package exchange

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/broker/delegate"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/token"
	"github.com/gatehouse/gatehouse/broker/web"
)

// Acting for someone through exchange (issue 11): subject_token proves who the
// delegate B is, requested_subject (Keycloak's parameter) names the person A
// whose access B was given, and the result is A's token with act {sub: B}
// (RFC 8693 §4.1) under the delegation from A to B for the target API.

// noDelegationDesc is the one answer to every requested_subject that no usable
// delegation covers: no such user, no delegation, an ended, expired or declined
// one, another API, a disabled party. The same words whatever the cause, so the
// answer tells nobody who has an account or who gave whom access.
const noDelegationDesc = "no delegation lets the subject act for requested_subject at this API"

// maxRequestedSubject bounds requested_subject: longer than any user ID or
// email address (RFC 5321 §4.5.3.1 limits a path to 256 octets).
const maxRequestedSubject = 320

func noDelegation(c *store.Client, holder, why string) error {
	return web.Rejected(web.InvalidGrant(noDelegationDesc, nil), "no_delegation", c.ID, holder, map[string]any{"why": why})
}

// delegatedSubject checks a requested_subject exchange and says who the token
// is for: A, acted for by B under the delegation it picks (pickDelegation).
func (s *Server) delegatedSubject(ctx context.Context, c *store.Client, api *store.API, req request) (subject, error) {
	cl, err := s.verifier.Verify(ctx, req.subjectToken)
	if errors.Is(err, token.ErrInvalidAccess) {
		return subject{}, web.Rejected(web.InvalidGrant("the subject token is invalid, expired or revoked", nil), "subject_invalid", c.ID, "", nil)
	}
	if err != nil {
		return subject{}, err
	}
	// Who B is, from the subject token alone; A is looked at only after.
	var holderUser, holderClient string
	switch {
	case cl.DelegationID != "":
		// Its sub is someone its holder acts for, not the holder: passing access
		// on goes through a re-delegation the grantor allowed (ParentID), never a
		// chain of exchanges (AS-DEL-04, RFC 8693 §4.4).
		return subject{}, web.Rejected(web.InvalidGrant("the subject token already acts for someone", nil), "subject_delegated",
			c.ID, "", map[string]any{"delegation": cl.DelegationID})
	case cl.UserToken():
		if !receivedBy(&cl, c) {
			return subject{}, web.Rejected(web.InvalidGrant("the subject token was issued to another client", nil), "subject_other_client",
				c.ID, cl.Subject, map[string]any{"owner": cl.ClientID})
		}
		holderUser = cl.Subject
	case cl.ClientID == c.ID && cl.Subject == c.ID:
		// The client's own client_credentials token: the app is the delegate.
		holderClient = c.ID
	default:
		return subject{}, web.Rejected(web.InvalidGrant("the subject token is neither a person's nor the client's own", nil),
			"subject_not_delegate", c.ID, "", nil)
	}
	grantorID, err := s.requestedUser(ctx, req.requestedSubject)
	if err != nil {
		return subject{}, err
	}
	if grantorID == "" {
		return subject{}, noDelegation(c, holderUser, "no such user")
	}
	pick, err := s.pickDelegation(ctx, holderUser, holderClient, grantorID, api.Audience, req.scope)
	if err != nil {
		return subject{}, err
	}
	if pick == nil {
		return subject{}, noDelegation(c, holderUser, "no usable delegation")
	}
	// The act chain, outermost (most recent) first: whoever acts for B in the
	// subject token, then B, then for a re-delegation each delegate who passed
	// it on, up to the one A gave it to (RFC 8693 §4.1: prior actors nested).
	subs := []string{holderUser}
	if holderClient != "" {
		subs[0] = holderClient
	}
	notAfter := time.Unix(cl.Expiry, 0)
	for _, a := range pick.chain {
		subs = append(subs, a.GranteeUserID)
	}
	for _, d := range append([]store.Delegation{pick.d}, pick.chain...) {
		if d.ExpiresAt.Before(notAfter) {
			notAfter = d.ExpiresAt
		}
	}
	prior := appendActors(cl.Act, subs)
	if prior.Depth() > s.cfg.ExchangeMaxActorDepth {
		return subject{}, web.Rejected(web.InvalidGrant("the delegation chain is too long", nil), "actor_depth", c.ID, holderUser,
			map[string]any{"depth": prior.Depth()})
	}
	// No auth_time, acr, amr or sid: they would describe B's sign-in as A's.
	return subject{userID: grantorID, mayAct: cl.MayAct, prior: prior, delegation: &pick.d, usable: pick.usable,
		notAfter: notAfter}, nil
}

// keepDelegation keeps a token that acts under a delegation, exchanged without
// requested_subject (down-scoping, an actor added), under that delegation: at
// its API only, within what it covers now and the token's scope, ended with it
// (its delegation_id, hence its revocation key). Otherwise a delegate could
// carry the grantor's identity to another API, where the grantor's own access
// is not what was given (AS-DEL-04).
func (s *Server) keepDelegation(ctx context.Context, c *store.Client, api *store.API, sub *subject) error {
	l := sub.local
	ended := func(why string) error {
		return web.Rejected(web.InvalidGrant("the subject token's delegation cannot be used", nil), "subject_delegation", c.ID, l.Subject,
			map[string]any{"delegation": l.DelegationID, "why": why})
	}
	d, err := s.store.Delegations().Get(ctx, l.DelegationID)
	if errors.Is(err, store.ErrNotFound) {
		return ended("no such delegation")
	}
	if err != nil {
		return err
	}
	if d.Audience != api.Audience {
		return web.Rejected(web.InvalidGrant("a token acting under a delegation stays at its API", nil), "delegation_api", c.ID, l.Subject,
			map[string]any{"delegation": d.ID})
	}
	usable, err := s.delegates.Usable(ctx, d, s.now())
	if errors.Is(err, delegate.ErrUnusable) {
		return ended(err.Error())
	}
	if err != nil {
		return err
	}
	held := token.ParseScope(l.Scope)
	sub.usable = slices.DeleteFunc(usable, func(sc string) bool { return !slices.Contains(held, sc) })
	sub.delegation, sub.notAfter = &d, d.ExpiresAt
	return nil
}

// requestedUser resolves requested_subject to a user ID: a user's ID, or else
// the email of exactly one user (of one verified user when several share it,
// as an unverified address proves nothing); "" when it names nobody. Whether
// the user is enabled is for delegate.Usable, so a disabled one gets the same
// answer as an unknown one.
func (s *Server) requestedUser(ctx context.Context, rs string) (string, error) {
	if len(rs) > maxRequestedSubject {
		return "", nil
	}
	u, err := s.store.Users().Get(ctx, rs)
	if err == nil {
		return u.ID, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return "", err
	}
	if !strings.Contains(rs, "@") {
		return "", nil
	}
	us, err := s.store.Users().FindByEmail(ctx, rs)
	if err != nil {
		return "", err
	}
	if len(us) == 1 {
		return us[0].ID, nil
	}
	id := ""
	for _, u := range us {
		if u.EmailVerified {
			if id != "" {
				return "", nil // ambiguous: the user ID names them
			}
			id = u.ID
		}
	}
	return id, nil
}

// picked is the delegation an exchange acts under, with the delegations it was
// passed on from (parent first) and the scopes it covers now.
type picked struct {
	d      store.Delegation
	chain  []store.Delegation
	usable []string
}

// pickDelegation finds the delegations given to the holder (a user, or the
// client holderClient) for audience whose access is grantorID's — given by
// them, or passed on from one they gave — and that delegate.Usable finds usable
// now. Of several it takes, deterministically, one that covers the requested
// scope over one that does not, then the latest given (then the greatest ID). nil
// for none.
func (s *Server) pickDelegation(ctx context.Context, holderUser, holderClient, grantorID, audience string, scope []string) (*picked, error) {
	ds, err := s.store.Delegations().ListByGrantee(ctx, holderUser, holderClient)
	if err != nil {
		return nil, err
	}
	now := s.now()
	var best *picked
	bestCovers := false
	for _, d := range ds {
		if st := d.Status(now, 0); d.Audience != audience || st != store.DelegationActive && st != store.DelegationExpiringSoon {
			continue
		}
		chain, root, err := s.ancestors(ctx, d)
		if err != nil {
			return nil, err
		}
		if root != grantorID {
			continue
		}
		// Usable checks the whole chain, both parties and the API's policy, and
		// ends a delegation whose grantor lost all of it.
		usable, err := s.delegates.Usable(ctx, d, now)
		if errors.Is(err, delegate.ErrUnusable) {
			continue
		}
		if err != nil {
			return nil, err
		}
		covers := token.Subset(scope, usable)
		if best == nil || covers && !bestCovers || covers == bestCovers && later(d, best.d) {
			best, bestCovers = &picked{d: d, chain: chain, usable: usable}, covers
		}
	}
	return best, nil
}

// ancestors returns the delegations d was passed on from, parent first, and
// the person whose access it is (the first grantor); "" when the chain is
// broken or longer than any act claim may be.
func (s *Server) ancestors(ctx context.Context, d store.Delegation) ([]store.Delegation, string, error) {
	var chain []store.Delegation
	for d.ParentID != "" {
		if len(chain) >= s.cfg.ExchangeMaxActorDepth {
			return nil, "", nil
		}
		p, err := s.store.Delegations().Get(ctx, d.ParentID)
		if errors.Is(err, store.ErrNotFound) {
			return nil, "", nil
		}
		if err != nil {
			return nil, "", err
		}
		chain = append(chain, p)
		d = p
	}
	return chain, d.GrantorID, nil
}

func later(a, b store.Delegation) bool {
	if !a.CreatedAt.Equal(b.CreatedAt) {
		return a.CreatedAt.After(b.CreatedAt)
	}
	return a.ID > b.ID
}

// appendActors returns a copy of the act chain outer with subs nested below its
// innermost actor, in order.
func appendActors(outer *token.Actor, subs []string) *token.Actor {
	var nodes []token.Actor
	for a := outer; a != nil; a = a.Act {
		nodes = append(nodes, token.Actor{Subject: a.Subject, Issuer: a.Issuer})
	}
	for _, sub := range subs {
		nodes = append(nodes, token.Actor{Subject: sub})
	}
	var act *token.Actor
	for i := len(nodes) - 1; i >= 0; i-- {
		n := nodes[i]
		n.Act = act
		act = &n
	}
	return act
}
