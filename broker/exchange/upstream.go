package exchange

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"errors"
	"slices"
	"strings"

	"github.com/gatehouse/gatehouse/broker/accounts"
	"github.com/gatehouse/gatehouse/broker/registry"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/token"
	"github.com/gatehouse/gatehouse/broker/upstream"
	"github.com/gatehouse/gatehouse/broker/web"
	"github.com/gatehouse/gatehouse/providers"
)

// maxIDToken bounds an upstream ID token before anything is decoded.
const maxIDToken = 16 << 10

// upstreamSubject verifies an upstream ID token or SAML assertion with the
// provider that issued it and says who it is for (RFC 8693 §2.1, §3).
func (s *Server) upstreamSubject(ctx context.Context, c *store.Client, req request) (subject, error) {
	kind, iss, ok := upstream.KindOIDC, "", false
	if req.subjectType == registry.TokenTypeIDToken {
		if len(req.subjectToken) <= maxIDToken {
			iss, ok = unverifiedIssuer(req.subjectToken)
		}
	} else {
		kind = upstream.KindSAML
		iss, ok = assertionIssuer(req.subjectToken)
	}
	if !ok {
		return subject{}, web.Rejected(web.InvalidGrant("the subject token could not be read", nil), "subject_unreadable", c.ID, "", nil)
	}
	// The unverified issuer only chooses the provider whose keys then verify
	// the token (AS-TX-02: an issuer not configured for exchange is refused).
	b, err := s.upstreams.ExchangeProvider(ctx, kind, iss)
	if errors.Is(err, upstream.ErrUnknown) {
		return subject{}, web.Rejected(web.InvalidGrant("the subject token's issuer is not accepted for exchange", err), "issuer_unknown", c.ID, "", nil)
	}
	if err != nil {
		return subject{}, err // a provider that does not build: a misconfiguration, 500
	}
	id := b.Config.ID
	if req.subjectIssuer != "" && req.subjectIssuer != id {
		return subject{}, web.Rejected(web.InvalidGrant("subject_issuer is not the subject token's issuer", nil), "subject_issuer", c.ID, "",
			map[string]any{"provider": id})
	}
	if !slices.Contains(c.ExchangeProviders, id) {
		return subject{}, web.Rejected(web.UnauthorizedClient("the client may not exchange this provider's tokens"), "provider_not_allowed",
			c.ID, "", map[string]any{"provider": id})
	}
	tv, ok := b.Provider.(providers.TokenVerifier)
	if !ok {
		return subject{}, web.Rejected(web.InvalidGrant("the subject token's issuer is not accepted for exchange", nil), "issuer_unknown", c.ID, "", nil)
	}
	x := b.Common.Exchange
	ident, err := tv.VerifyToken(ctx, providers.TokenParams{Token: req.subjectToken, Recipient: s.tokenEndpoint,
		Audiences: x.Audiences, OneTime: x.OneTime})
	switch {
	case errors.Is(err, providers.ErrUnavailable):
		// The provider's keys could not be fetched: as for a database outage.
		return subject{}, web.TemporarilyUnavailable(err)
	case errors.Is(err, providers.ErrInvalidResponse):
		return subject{}, web.Rejected(web.InvalidGrant("the subject token is invalid", err), "subject_invalid", c.ID, "",
			map[string]any{"provider": id})
	case err != nil:
		return subject{}, err // providers.ErrConfig: our misconfiguration, logged as 500
	}
	if ident.ProviderID != id {
		return subject{}, errors.New("exchange: provider " + id + " verified an identity of another provider")
	}
	sub := subject{provider: id, roles: upstream.Roles(b.Common.RoleRules, ident), authTime: ident.AuthTime, acr: ident.ACR,
		amr: ident.AMR, replay: ident.ReplayKeys}
	if ma, ok := ident.Claims["may_act"]; ok {
		if sub.mayAct, ok = mayActClaim(ma); !ok {
			return subject{}, web.Rejected(web.InvalidGrant("the subject token's may_act is malformed", nil), "may_act_malformed", c.ID, "", nil)
		}
	}
	sub.resolve = func(ctx context.Context) (string, *web.OAuthError, error) {
		userID, disabled, err := s.accounts.Owner(ctx, id, ident.Subject)
		if errors.Is(err, store.ErrNotFound) {
			if !x.CreateUsers {
				return "", web.Rejected(web.InvalidGrant("the identity is not linked to an account", err), "identity_unlinked", c.ID, "",
					map[string]any{"provider": id}), nil
			}
			// The linking rules of a first browser sign-in.
			var u store.User
			u, _, err = s.accounts.Resolve(ctx, b.Config, ident)
			if errors.Is(err, accounts.ErrEmailTaken) {
				return "", web.Rejected(web.InvalidGrant("an account has this email: sign in once in a browser to link it", err),
					"email_taken", c.ID, "", map[string]any{"provider": id}), nil
			}
			userID, disabled = u.ID, u.Disabled
		}
		if err != nil {
			return "", nil, err
		}
		if disabled {
			return "", web.Rejected(web.InvalidGrant("the user cannot receive tokens", nil), "user_disabled", c.ID, userID, nil), nil
		}
		return userID, nil, nil
	}
	return sub, nil
}

// unverifiedIssuer reads the iss claim of a compact JWS without verifying it,
// only to choose the provider that will.
func unverifiedIssuer(tok string) (string, bool) {
	parts := strings.SplitN(tok, ".", 3)
	if len(parts) != 3 {
		return "", false
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", false
	}
	var c struct {
		Iss string `json:"iss"`
	}
	if json.Unmarshal(b, &c) != nil || c.Iss == "" {
		return "", false
	}
	return c.Iss, true
}

const nsAssertion = "urn:oasis:names:tc:SAML:2.0:assertion"

// assertionIssuer reads the Issuer of a base64url SAML assertion without
// verifying it: the first child of the saml:Assertion root (saml-core §2.3.3).
// The provider chosen by it runs every check of the ACS (VerifyToken).
func assertionIssuer(tok string) (string, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(tok, "="))
	if err != nil {
		return "", false
	}
	dec := xml.NewDecoder(bytes.NewReader(raw))
	depth := 0
	for {
		t, err := dec.Token()
		if err != nil {
			return "", false
		}
		switch e := t.(type) {
		case xml.StartElement:
			depth++
			switch {
			case depth == 1 && (e.Name.Space != nsAssertion || e.Name.Local != "Assertion"):
				return "", false
			case depth == 2:
				if e.Name.Space != nsAssertion || e.Name.Local != "Issuer" {
					return "", false
				}
				var v string
				if dec.DecodeElement(&v, &e) != nil {
					return "", false
				}
				return strings.TrimSpace(v), true
			}
		case xml.Directive:
			return "", false // no DTD (SAML-05); VerifyToken refuses it too
		}
	}
}

// mayActClaim reads a may_act claim (RFC 8693 §4.4): an object with sub and
// optionally iss.
func mayActClaim(v any) (*token.Actor, bool) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, false
	}
	sub, _ := m["sub"].(string)
	iss, _ := m["iss"].(string)
	if sub == "" {
		return nil, false
	}
	return &token.Actor{Subject: sub, Issuer: iss}, true
}
