package saml

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"

	"github.com/beevik/etree"

	"github.com/gatehouse/gatehouse/providers"
)

// VerifyToken implements providers.TokenVerifier for a SAML 2.0 bearer
// assertion presented directly (RFC 8693 token type
// urn:ietf:params:oauth:token-type:saml2, base64url per RFC 7522 §2.1). The
// assertion must be signed by the IdP, name this SP as audience and
// tp.Recipient (the token endpoint) as SubjectConfirmationData Recipient
// (RFC 7522 §3), carry no InResponseTo; its ID is the replay key returned, accepted once.
func (p *Provider) VerifyToken(_ context.Context, tp providers.TokenParams) (providers.Identity, error) {
	recipient, err := url.Parse(tp.Recipient)
	if err != nil || !recipient.IsAbs() {
		return providers.Identity{}, fmt.Errorf("%w: recipient %q", providers.ErrConfig, tp.Recipient)
	}
	if len(tp.Token) > p.cfg.MaxResponseBytes*4/3+4 {
		return providers.Identity{}, providers.Invalid("assertion too large")
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(tp.Token, "="))
	if err != nil {
		return providers.Identity{}, providers.Invalid("assertion is not base64url")
	}
	if err := checkEncoding(raw); err != nil {
		return providers.Identity{}, err
	}
	if err := refuseDTD(raw); err != nil {
		return providers.Identity{}, providers.Invalid("%v", err)
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(raw); err != nil || doc.Root() == nil {
		return providers.Identity{}, providers.Invalid("assertion is not XML")
	}
	assertion := doc.Root()
	if assertion.Tag != "Assertion" || assertion.NamespaceURI() != nsAssertion {
		return providers.Identity{}, providers.Invalid("token is not a saml:Assertion")
	}
	// Wrap it in an unsigned Response so crewjam's validation applies: an
	// unsigned Response requires the assertion's own signature.
	resp := etree.NewElement("samlp:Response")
	resp.CreateAttr("xmlns:samlp", nsProtocol)
	resp.CreateAttr("ID", "_gatehouse-token-exchange")
	resp.CreateAttr("Version", "2.0")
	resp.CreateAttr("IssueInstant", p.cfg.Now().UTC().Format("2006-01-02T15:04:05Z"))
	st := resp.CreateElement("samlp:Status").CreateElement("samlp:StatusCode")
	st.CreateAttr("Value", "urn:oasis:names:tc:SAML:2.0:status:Success")
	resp.AddChild(assertion)
	xmlDoc, err := elementBytes(resp)
	if err != nil {
		return providers.Identity{}, err
	}
	sp := *p.sp
	sp.AllowIDPInitiated = true // no AuthnRequest: an InResponseTo is still refused
	sp.AcsURL = *recipient
	a, used, err := p.parse(xmlDoc, nil, &sp, *recipient)
	if err != nil {
		return providers.Identity{}, err
	}
	id, err := p.identity(a)
	if err != nil {
		return providers.Identity{}, err
	}
	id.LogoutState = nil
	// The same keys as at the ACS, so one assertion serves either a sign-in
	// or an exchange, once (AS-TX-06).
	id.ReplayKeys = used
	return id, nil
}
