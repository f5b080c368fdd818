package saml

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	crewjam "github.com/crewjam/saml"

	"github.com/gatehouse/gatehouse/providers"
)

type logoutPending struct {
	Kind       string `json:"k"`
	ProviderID string `json:"p"`
	RequestID  string `json:"r"`
}

// BeginLogout implements providers.LogoutProvider: an SP-initiated, signed
// LogoutRequest (saml-profiles §4.4.3) over HTTP-Redirect when offered,
// else HTTP-POST. ReturnURL is ignored: the IdP answers at the SLO URL.
func (p *Provider) BeginLogout(_ context.Context, lp providers.LogoutParams) (providers.Start, bool, error) {
	var ls logoutState
	if err := json.Unmarshal(lp.LogoutState, &ls); err != nil || ls.NameID == "" {
		return providers.Start{}, false, providers.Invalid("logout state unusable")
	}
	binding := crewjam.HTTPRedirectBinding
	dest := p.sp.GetSLOBindingLocation(binding)
	if dest == "" {
		binding = crewjam.HTTPPostBinding
		if dest = p.sp.GetSLOBindingLocation(binding); dest == "" {
			return providers.Start{}, false, nil
		}
	}
	var opts []crewjam.LogoutRequestOption
	if ls.SessionIndex != "" {
		opts = append(opts, crewjam.WithSessionIndex(ls.SessionIndex))
	}
	req, err := p.sp.MakeLogoutRequest(dest, ls.NameID, opts...)
	if err != nil {
		return providers.Start{}, false, fmt.Errorf("%w: logout request: %w", providers.ErrConfig, err)
	}
	raw, _ := json.Marshal(logoutPending{Kind: "saml-logout", ProviderID: p.cfg.ID, RequestID: req.ID})
	if binding == crewjam.HTTPRedirectBinding {
		u, err := p.sp.RedirectLogoutRequestURL(req, "")
		if err != nil {
			return providers.Start{}, false, fmt.Errorf("%w: logout request: %w", providers.ErrConfig, err)
		}
		return providers.Start{RedirectURL: u.String(), Pending: raw}, true, nil
	}
	doc, err := elementBytes(req.Element())
	if err != nil {
		return providers.Start{}, false, err
	}
	return providers.Start{Pending: raw, Form: &providers.Form{Action: dest, Fields: []providers.FormField{
		{Name: "SAMLRequest", Value: base64.StdEncoding.EncodeToString(doc)}}}}, true, nil
}

// CompleteLogout validates the IdP's LogoutResponse at the SLO URL.
func (p *Provider) CompleteLogout(_ context.Context, r *http.Request, rawPending []byte) error {
	var pd logoutPending
	if err := json.Unmarshal(rawPending, &pd); err != nil || pd.Kind != "saml-logout" || pd.ProviderID != p.cfg.ID {
		return providers.Invalid("logout pending state unusable")
	}
	if err := r.ParseForm(); err != nil {
		return providers.Invalid("logout response form: %v", err)
	}
	if _, err := p.sp.ParseLogoutResponse(r, []string{pd.RequestID}); err != nil {
		return fmt.Errorf("%w: %w", providers.ErrInvalidResponse, err)
	}
	return nil
}

// HandleLogoutRequest implements providers.LogoutRequestHandler for an
// IdP-initiated LogoutRequest (saml-profiles §4.4.4.1): crewjam checks its
// signature, issuer, destination and time; its ID is the replay key returned.
func (p *Provider) HandleLogoutRequest(_ context.Context, r *http.Request) (providers.UpstreamLogout, error) {
	if err := r.ParseForm(); err != nil {
		return providers.UpstreamLogout{}, providers.Invalid("logout request form: %v", err)
	}
	sp := *p.sp
	used := p.usedIDs()
	sp.ReplayCache = used
	req, err := sp.ValidateLogoutRequest(r)
	if err != nil {
		return providers.UpstreamLogout{}, classify(err)
	}
	if len(used.keys) == 0 {
		return providers.UpstreamLogout{}, providers.Invalid("logout request ID not reported for the replay cache")
	}
	if req.NameID == nil || req.NameID.Value == "" {
		return providers.UpstreamLogout{}, providers.Invalid("logout request has no NameID")
	}
	var indexes []string
	if req.SessionIndex != nil {
		indexes = append(indexes, strings.TrimSpace(req.SessionIndex.Value))
	}
	for _, si := range req.AdditionalSessionIndexes {
		indexes = append(indexes, strings.TrimSpace(si.Value))
	}
	nameID := *req.NameID
	out := providers.UpstreamLogout{
		SessionIndexes: indexes,
		ReplayKeys:     used.keys,
		Match: func(state []byte) bool {
			var ls logoutState
			if json.Unmarshal(state, &ls) != nil || ls.NameID != nameID.Value {
				return false
			}
			return len(indexes) == 0 || slices.Contains(indexes, ls.SessionIndex)
		},
	}
	if p.cfg.Mapping.Subject[0] == providers.NameIDClaim {
		out.Subject = nameID.Value
	}
	out.LogoutKey = logoutKey(nameID.Value)
	relayState := r.Form.Get("RelayState")
	out.Respond = func(ended int) (providers.Start, error) {
		// saml-core §3.7.3.2: Success only when the sessions the request
		// names were ended here; a principal with no session here is
		// answered Responder/UnknownPrincipal (§3.2.2.2), so the IdP does
		// not report a logout that did not happen.
		status := crewjam.Status{StatusCode: crewjam.StatusCode{Value: crewjam.StatusSuccess}}
		if ended == 0 {
			status = crewjam.Status{StatusCode: crewjam.StatusCode{Value: crewjam.StatusResponder,
				StatusCode: &crewjam.StatusCode{Value: crewjam.StatusUnknownPrincipal}}}
		}
		u, err := p.sp.MakeRedirectLogoutResponseWithStatus(req.ID, relayState, status)
		if err != nil {
			return providers.Start{}, fmt.Errorf("%w: logout response: %w", providers.ErrConfig, err)
		}
		return providers.Start{RedirectURL: u.String()}, nil
	}
	return out, nil
}

// logoutKey is Identity.LogoutKey: a hash of the NameID, so the key stored
// with sessions names nobody by itself.
func logoutKey(nameID string) string {
	h := sha256.Sum256([]byte("gatehouse saml nameid\x00" + nameID))
	return base64.RawURLEncoding.EncodeToString(h[:18])
}
