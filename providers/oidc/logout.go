package oidc

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"net/url"

	"github.com/gatehouse/gatehouse/providers"
)

type logoutPending struct {
	Kind       string `json:"k"`
	ProviderID string `json:"p"`
	State      string `json:"s"`
}

// BeginLogout implements providers.LogoutProvider with OpenID Connect
// RP-Initiated Logout 1.0 §2: end_session_endpoint with id_token_hint,
// client_id, post_logout_redirect_uri and state.
func (p *Provider) BeginLogout(ctx context.Context, lp providers.LogoutParams) (providers.Start, bool, error) {
	d, err := p.discovery(ctx)
	if err != nil {
		return providers.Start{}, false, err
	}
	if d.endSessionEndpoint == "" {
		return providers.Start{}, false, nil
	}
	u, err := url.Parse(d.endSessionEndpoint)
	if err != nil {
		return providers.Start{}, false, providers.ErrConfig
	}
	pd := logoutPending{Kind: "oidc-logout", ProviderID: p.cfg.ID, State: randomToken()}
	q := u.Query()
	q.Set("client_id", p.cfg.ClientID)
	q.Set("state", pd.State)
	if len(lp.LogoutState) > 0 {
		q.Set("id_token_hint", string(lp.LogoutState))
	}
	if lp.ReturnURL != "" {
		q.Set("post_logout_redirect_uri", lp.ReturnURL)
	}
	u.RawQuery = q.Encode()
	raw, _ := json.Marshal(pd)
	return providers.Start{RedirectURL: u.String(), Pending: raw}, true, nil
}

// CompleteLogout checks the state the OP echoes to post_logout_redirect_uri.
func (p *Provider) CompleteLogout(_ context.Context, r *http.Request, rawPending []byte) error {
	var pd logoutPending
	if err := json.Unmarshal(rawPending, &pd); err != nil || pd.Kind != "oidc-logout" || pd.ProviderID != p.cfg.ID {
		return providers.Invalid("logout pending state unusable")
	}
	if subtle.ConstantTimeCompare([]byte(r.URL.Query().Get("state")), []byte(pd.State)) != 1 {
		return providers.Invalid("logout state mismatch")
	}
	return nil
}
