package exchange

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/token"
	"github.com/gatehouse/gatehouse/broker/web"
)

// localSubject checks a Gatehouse access token presented as the subject
// (RFC 8693 §2.1 with token type access_token).
func (s *Server) localSubject(ctx context.Context, c *store.Client, req request) (subject, error) {
	cl, err := s.verifier.Verify(ctx, req.subjectToken)
	if errors.Is(err, token.ErrInvalidAccess) {
		return subject{}, web.Rejected(web.InvalidGrant("the subject token is invalid, expired or revoked", nil), "subject_invalid", c.ID, "", nil)
	}
	if err != nil {
		return subject{}, err
	}
	if !cl.UserToken() {
		return subject{}, web.Rejected(web.InvalidGrant("the subject token is not a user's", nil), "subject_not_user", c.ID, "", nil)
	}
	if !receivedBy(&cl, c) {
		return subject{}, web.Rejected(web.InvalidGrant("the subject token was issued to another client", nil), "subject_other_client",
			c.ID, cl.Subject, map[string]any{"owner": cl.ClientID})
	}
	return subject{userID: cl.Subject, local: &cl, authTime: unixTime(cl.AuthTime), acr: cl.ACR, amr: cl.AMR, mayAct: cl.MayAct,
		prior: cl.Act}, nil
}

// receivedBy reports whether c may present the user token cl (AS-DEL-08, RFC
// 8693 §5): a token issued to c, or one it received as the registered resource
// server of its API; never another client's token it merely holds.
func receivedBy(cl *token.AccessClaims, c *store.Client) bool {
	return cl.ClientID == c.ID || slices.ContainsFunc(cl.Audience, func(a string) bool { return slices.Contains(c.ResourceServerFor, a) })
}

// actor decides the act claim of the new token (RFC 8693 §4.1). With an
// actor_token, the calling client's own client_credentials token, the client
// becomes the current actor and the subject token's act the prior one; without,
// the subject's act is kept as it is. The chain is bounded, and a may_act of
// the subject must name the actor (§4.4).
func (s *Server) actor(ctx context.Context, c *store.Client, req request, sub *subject) (*token.Actor, error) {
	prior := sub.prior
	if req.actorToken == "" {
		return prior, nil
	}
	acl, err := s.verifier.Verify(ctx, req.actorToken)
	if errors.Is(err, token.ErrInvalidAccess) {
		return nil, web.Rejected(web.InvalidGrant("the actor token is invalid, expired or revoked", nil), "actor_invalid", c.ID, sub.userID, nil)
	}
	if err != nil {
		return nil, err
	}
	if acl.UserToken() || acl.ClientID != c.ID || acl.Subject != c.ID {
		return nil, web.Rejected(web.InvalidGrant("the actor token is not the client's own", nil), "actor_not_client", c.ID, sub.userID, nil)
	}
	if m := sub.mayAct; m != nil && (m.Subject != c.ID || m.Issuer != "" && m.Issuer != s.cfg.Issuer.String()) {
		return nil, web.Rejected(web.InvalidGrant("the subject token's may_act does not allow this actor", nil), "may_act", c.ID, sub.userID, nil)
	}
	act := &token.Actor{Subject: c.ID, Act: prior}
	if act.Depth() > s.cfg.ExchangeMaxActorDepth {
		return nil, web.Rejected(web.InvalidGrant("the delegation chain is too long", nil), "actor_depth", c.ID, sub.userID,
			map[string]any{"depth": act.Depth()})
	}
	return act, nil
}

func unixTime(sec int64) (t time.Time) {
	if sec != 0 {
		t = time.Unix(sec, 0)
	}
	return t
}
