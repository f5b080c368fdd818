package saml

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	crewjam "github.com/crewjam/saml"
	"github.com/jonboulle/clockwork"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/gatehouse/gatehouse/providers"
)

// Provider is one upstream SAML IdP.
type Provider struct {
	cfg     Config
	sp      *crewjam.ServiceProvider
	acsURL  url.URL
	binding string
}

var (
	_ providers.Provider             = (*Provider)(nil)
	_ providers.LogoutProvider       = (*Provider)(nil)
	_ providers.LogoutRequestHandler = (*Provider)(nil)
	_ providers.MetadataProvider     = (*Provider)(nil)
	_ providers.TokenVerifier        = (*Provider)(nil)
)

// funcClock adapts a func() time.Time to the clockwork.Clock inside
// dsig.Clock; only Now is used for SAML and signature validation.
type funcClock struct {
	clockwork.Clock
	now func() time.Time
}

func (c funcClock) Now() time.Time { return c.now() }

// New validates cfg and builds the provider's ServiceProvider.
func New(cfg Config) (*Provider, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	parse := func(s string) url.URL { u, _ := url.Parse(s); return *u }
	sp := &crewjam.ServiceProvider{
		EntityID:    cfg.EntityID,
		Key:         cfg.Key,
		Certificate: cfg.Certificate,
		MetadataURL: parse(cfg.MetadataURL),
		AcsURL:      parse(cfg.ACSURL),
		SloURL:      parse(cfg.SLOURL),
		IDPMetadata: cfg.IdPMetadata,
		// Per-SP clock rather than the deprecated global saml.TimeNow, so
		// providers (and parallel tests) can have their own clocks.
		Clock:             dsig.NewFakeClock(funcClock{Clock: clockwork.NewRealClock(), now: cfg.Now}),
		AuthnNameIDFormat: crewjam.NameIDFormat(cfg.NameIDFormat),
		// SAML-17: SHA-1 signatures and digests refused; our own requests
		// are signed with RSA-SHA256 (AuthnRequests unless the admin turned
		// that off: an empty SignatureMethod leaves them unsigned).
		RejectSHA1Signatures:  true,
		SignatureMethod:       authnSignatureMethod(cfg),
		LogoutSignatureMethod: dsig.RSASHA256SignatureMethod,
		AllowIDPInitiated:     cfg.AllowIDPInitiated,
		// Only HTTP-POST is accepted at the ACS: no artifact resolution
		// (an outbound call driven by the request) and no SimpleSign.
		AssertionConsumerServiceBindings: []string{crewjam.HTTPPostBinding},
		LogoutBindings:                   []string{crewjam.HTTPRedirectBinding, crewjam.HTTPPostBinding},
		// saml-core §2.5.1.1: an assertion with conditions we do not
		// understand is Indeterminate and MUST be rejected.
		RejectUnknownConditions: true,
		LimitRelayStateLength:   true,
		// Only enveloped-signature and exclusive c14n transforms, checked
		// before any signature is verified (saml-core §5.4.4).
		SignatureVerifier:     transformVerifier{},
		MetadataValidDuration: cfg.SPMetadataValidity,
	}
	p := &Provider{cfg: cfg, sp: sp, acsURL: sp.AcsURL}
	switch {
	case cfg.RequestBinding == BindingPOST || sp.GetSSOBindingLocation(crewjam.HTTPRedirectBinding) == "":
		p.binding = crewjam.HTTPPostBinding
	default:
		p.binding = crewjam.HTTPRedirectBinding
	}
	return p, nil
}

// authnSignatureMethod is how AuthnRequests are signed: RSA-SHA256, or not
// at all (Config.UnsignedRequests). crewjam signs an AuthnRequest, and its
// metadata says AuthnRequestsSigned, exactly when this is not empty.
func authnSignatureMethod(cfg Config) string {
	if cfg.UnsignedRequests {
		return ""
	}
	return dsig.RSASHA256SignatureMethod
}

// ID implements providers.Provider.
func (p *Provider) ID() string { return p.cfg.ID }

type pending struct {
	Kind       string `json:"k"`
	ProviderID string `json:"p"`
	RequestID  string `json:"r"`
	Created    int64  `json:"t"`
}

const pendingKind = "saml"

// authnContextClassPrefix starts the SAML 2.0 authentication context classes
// (saml-authn-context-2.0-os §3.4): the acr values a SAML IdP can be asked for.
const authnContextClassPrefix = "urn:oasis:names:tc:SAML:2.0:ac:classes:"

// Begin implements providers.Provider: a signed AuthnRequest (RSA-SHA256;
// in the query string for HTTP-Redirect, saml-bindings §3.4.4.1, enveloped
// for HTTP-POST), or an unsigned one if Config.UnsignedRequests. Its ID goes
// into Pending for the InResponseTo check.
func (p *Provider) Begin(_ context.Context, bp providers.BeginParams) (providers.Start, error) {
	sp := p.sp
	force := bp.Reauthenticate || bp.Extra["prompt"] == "login"
	classes := slices.DeleteFunc(slices.Clone(bp.ACRValues), func(v string) bool { return !strings.HasPrefix(v, authnContextClassPrefix) })
	if force || len(classes) > 0 {
		spc := *p.sp
		if force {
			// saml-core §3.4.1: the IdP must authenticate the presenter
			// directly, not rely on a previous security context.
			spc.ForceAuthn = &force
		}
		if len(classes) > 0 {
			// saml-core §3.3.2.2.1: any of these classes, exactly.
			spc.RequestedAuthnContext = &crewjam.RequestedAuthnContext{Comparison: "exact", AuthnContextClassRefs: classes}
		}
		sp = &spc
	}
	dest := sp.GetSSOBindingLocation(p.binding)
	req, err := sp.MakeAuthenticationRequest(dest, p.binding, crewjam.HTTPPostBinding)
	if err != nil {
		return providers.Start{}, fmt.Errorf("%w: authn request: %w", providers.ErrConfig, err)
	}
	raw, _ := json.Marshal(pending{Kind: pendingKind, ProviderID: p.cfg.ID, RequestID: req.ID, Created: p.cfg.Now().Unix()})
	start := providers.Start{Pending: raw}
	if p.binding == crewjam.HTTPRedirectBinding {
		u, err := req.Redirect(bp.RelayState, sp)
		if err != nil {
			return providers.Start{}, fmt.Errorf("%w: authn request: %w", providers.ErrConfig, err)
		}
		start.RedirectURL = u.String()
		return start, nil
	}
	doc, err := elementBytes(req.Element())
	if err != nil {
		return providers.Start{}, err
	}
	start.Form = &providers.Form{Action: dest, Fields: []providers.FormField{
		{Name: "SAMLRequest", Value: base64.StdEncoding.EncodeToString(doc)},
		{Name: "RelayState", Value: bp.RelayState},
	}}
	return start, nil
}

func (p *Provider) decodePending(raw []byte) (pending, error) {
	var pd pending
	if err := json.Unmarshal(raw, &pd); err != nil || pd.Kind != pendingKind || pd.RequestID == "" {
		return pending{}, providers.Invalid("pending state unreadable")
	}
	if pd.ProviderID != p.cfg.ID {
		return pending{}, providers.Invalid("pending state belongs to provider %q", pd.ProviderID)
	}
	age := p.cfg.Now().Sub(time.Unix(pd.Created, 0))
	if age > p.cfg.PendingTTL || age < -p.cfg.ClockSkew {
		return pending{}, providers.Invalid("sign-in started %s ago", age)
	}
	return pd, nil
}

// Complete implements providers.Provider for a POST to the ACS. pending nil
// means an unsolicited (IdP-initiated) response, refused unless enabled.
func (p *Provider) Complete(_ context.Context, r *http.Request, rawPending []byte) (providers.Identity, error) {
	var requestIDs []string
	if rawPending == nil {
		if !p.cfg.AllowIDPInitiated {
			return providers.Identity{}, providers.Invalid("unsolicited response and IdP-initiated SSO is disabled")
		}
	} else {
		pd, err := p.decodePending(rawPending)
		if err != nil {
			return providers.Identity{}, err
		}
		requestIDs = []string{pd.RequestID}
	}
	xmlDoc, err := p.readResponse(r)
	if err != nil {
		return providers.Identity{}, err
	}
	base := p.sp
	if rawPending != nil && base.AllowIDPInitiated {
		// A browser with a pending SP-initiated flow gets only the response
		// to it: crewjam would otherwise take one without InResponseTo here
		// too, and skip the broker's interstitial for unsolicited ones.
		solicited := *p.sp
		solicited.AllowIDPInitiated = false
		base = &solicited
	}
	a, used, err := p.parse(xmlDoc, requestIDs, base, p.acsURL)
	if err != nil {
		return providers.Identity{}, err
	}
	if p.cfg.RequireEncryptedAssertions && !assertionEncrypted(xmlDoc) {
		// Checked on the Response crewjam accepted, so the refusal names
		// what is wrong with an otherwise valid one; nothing was recorded.
		return providers.Identity{}, providers.Invalid("the assertion is not encrypted, and this provider requires encrypted assertions")
	}
	id, err := p.identity(a)
	if err != nil {
		return providers.Identity{}, err
	}
	id.ReplayKeys = used
	return id, nil
}

// parse runs the structural checks on a response received at currentURL,
// crewjam's validation and Gatehouse's stricter checks. It returns the
// assertion's ID as the replay key the caller records (SAML-23).
func (p *Provider) parse(xmlDoc []byte, requestIDs []string, base *crewjam.ServiceProvider, currentURL url.URL) (*crewjam.Assertion, []providers.ReplayKey, error) {
	if err := checkStructure(xmlDoc); err != nil {
		return nil, nil, err
	}
	now := p.cfg.Now()
	sp := *base // per call: the IDs are this response's
	used := p.usedIDs()
	sp.ReplayCache = used
	a, err := sp.ParseXMLResponse(xmlDoc, requestIDs, currentURL)
	if err != nil {
		return nil, nil, withSubStatus(classify(err), xmlDoc)
	}
	if err := p.checkAssertion(a, now); err != nil {
		return nil, nil, err
	}
	el, err := p.verifiedAssertion(xmlDoc)
	if err != nil {
		return nil, nil, err
	}
	if err := checkIdentifiers(el, identityNames(p.cfg.Mapping)); err != nil {
		return nil, nil, err
	}
	if len(used.keys) == 0 {
		// crewjam records every accepted assertion; without its ID there
		// is nothing to accept once.
		return nil, nil, providers.Invalid("assertion ID not reported for the replay cache")
	}
	return a, used.keys, nil
}

// usedIDs is the replay cache given to crewjam, which hands it the ID of each
// message it accepts (an assertion, a LogoutRequest; crewjam prefixes the
// latter). It records nothing itself: it collects namespaced keys for the
// caller to record, so that the broker can store them in the transaction
// that acts on the message.
type usedIDs struct {
	prefix string
	keys   []providers.ReplayKey
}

func (p *Provider) usedIDs() *usedIDs { return &usedIDs{prefix: "saml:" + p.cfg.ID + ":"} }

func (u *usedIDs) Consume(id string, expiresAt time.Time) error {
	u.keys = append(u.keys, providers.ReplayKey{Key: u.prefix + id, ExpiresAt: expiresAt})
	return nil
}

// classify maps crewjam's errors to the providers sentinels.
func classify(err error) error {
	var bad crewjam.ErrBadStatus
	var ire *crewjam.InvalidResponseError
	if errors.As(err, &ire) && ire.PrivateErr != nil {
		err = ire.PrivateErr
	}
	if errors.As(err, &bad) {
		return &providers.UpstreamError{Code: bad.Status}
	}
	return fmt.Errorf("%w: %w", providers.ErrInvalidResponse, err)
}
