package saml

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/gatehouse/gatehouse/providers"
)

// VerifyToken implements providers.TokenVerifier for a SAML 2.0 bearer
// assertion presented directly (RFC 8693 token type
// urn:ietf:params:oauth:token-type:saml2, base64url per RFC 7522 §2.1). The
// assertion goes through the ACS's code path (parse: checkStructure,
// crewjam's validation, checkAssertion, checkIdentifiers), with the token
// endpoint tp.Recipient in place of the ACS URL as the SubjectConfirmationData
// Recipient (RFC 7522 §3 item 5) and no AuthnRequest, so an InResponseTo is
// refused. Its ID is the replay key returned, the same key as at the ACS, so
// one assertion serves a sign-in or an exchange, once (AS-TX-06).
func (p *Provider) VerifyToken(_ context.Context, tp providers.TokenParams) (providers.Identity, error) {
	recipient, err := url.Parse(tp.Recipient)
	if err != nil || !recipient.IsAbs() {
		return providers.Identity{}, fmt.Errorf("%w: recipient %q", providers.ErrConfig, tp.Recipient)
	}
	// An assertion naming the ACS (or SLO) URL is for a browser sign-in:
	// were the token endpoint one of them, such assertions would pass here.
	if r := recipient.String(); r == p.acsURL.String() || r == p.sp.SloURL.String() {
		return providers.Identity{}, fmt.Errorf("%w: recipient %q is a browser endpoint", providers.ErrConfig, tp.Recipient)
	}
	if len(tp.Token) > p.cfg.MaxResponseBytes*4/3+4 {
		return providers.Identity{}, providers.Invalid("assertion too large")
	}
	// RFC 7522 §2.1: base64url with zero padding bits; "=" SHOULD NOT be
	// sent, so it is tolerated.
	raw, err := base64.RawURLEncoding.Strict().DecodeString(strings.TrimRight(tp.Token, "="))
	if err != nil {
		return providers.Identity{}, providers.Invalid("assertion is not base64url")
	}
	body, err := tokenAssertion(raw)
	if err != nil {
		return providers.Identity{}, err
	}
	// The assertion's bytes as received, inside an unsigned Response, so the
	// ACS's checks and crewjam's apply unchanged: an unsigned Response
	// requires the assertion's own signature, and nothing is re-serialised.
	var doc bytes.Buffer
	fmt.Fprintf(&doc, `<samlp:Response xmlns:samlp="%s" ID="_gatehouse-token-exchange" Version="2.0" IssueInstant="%s">`+
		`<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>`,
		nsProtocol, p.cfg.Now().UTC().Format("2006-01-02T15:04:05Z"))
	doc.Write(body)
	doc.WriteString(`</samlp:Response>`)
	sp := *p.sp
	sp.AllowIDPInitiated = true // no AuthnRequest: an InResponseTo is still refused
	sp.AcsURL = *recipient
	a, used, err := p.parse(doc.Bytes(), nil, &sp, *recipient)
	if err != nil {
		return providers.Identity{}, err
	}
	id, err := p.identity(a)
	if err != nil {
		return providers.Identity{}, err
	}
	id.LogoutState = nil
	id.ReplayKeys = used
	return id, nil
}

// tokenAssertion returns the decoded token without its XML declaration,
// refusing anything but one saml:Assertion element (RFC 7522 §3 item 9: a
// single assertion; RFC 8693 §3: the saml2 type is an Assertion, not a
// Response or an EncryptedAssertion), with only whitespace and comments
// around it. The document checks the ACS makes (checkStructure) follow.
func tokenAssertion(raw []byte) ([]byte, error) {
	if err := checkEncoding(raw); err != nil {
		return nil, err
	}
	if err := refuseDTD(raw); err != nil {
		return nil, providers.Invalid("%v", err)
	}
	body := raw
	if len(raw) > len("<?xml ") && bytes.HasPrefix(raw, []byte("<?xml")) && strings.ContainsRune(" \t\r\n", rune(raw[5])) {
		end := bytes.Index(raw, []byte("?>")) // checkEncoding found it
		body = raw[end+2:]
	}
	dec := xml.NewDecoder(bytes.NewReader(body))
	roots := 0
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, providers.Invalid("malformed XML: %v", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if roots++; roots > 1 {
				return nil, providers.Invalid("token holds more than one element")
			}
			if t.Name.Space != nsAssertion || t.Name.Local != "Assertion" {
				return nil, providers.Invalid("token is not a saml:Assertion")
			}
			if err := dec.Skip(); err != nil {
				return nil, providers.Invalid("malformed XML: %v", err)
			}
		case xml.CharData:
			if len(bytes.TrimSpace(t)) > 0 {
				return nil, providers.Invalid("text outside the assertion")
			}
		case xml.Comment:
		default:
			return nil, providers.Invalid("%T outside the assertion", tok)
		}
	}
	if roots == 0 {
		return nil, providers.Invalid("token is not a saml:Assertion")
	}
	return body, nil
}
