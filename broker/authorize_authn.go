package broker

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/providers"
)

// How an authorization request's demands on the sign-in (OIDC Core §3.1.2.1:
// prompt=login, max_age, acr_values; §5.5.1.1: an essential acr) reach the
// upstream IdP and are checked on the way back (SECURITY.md OIDC-25):
//
//  1. authorize decides what the browser's session lacks (sessionShortfall) and
//     sends the person to /login; the demands ride in the sealed pending request
//     inside return_to, which the browser can neither read nor change.
//  2. /login/{provider} reads them from there (pendingFromReturnTo) into the
//     provider's BeginParams (prompt=login max_age=0, ForceAuthn, acr_values…)
//     and into the encrypted flow cookie.
//  3. The callback checks the IdP's answer against the flow (flow.unmetBy): an
//     IdP that ignored the demand is refused, and the client told so.
//  4. The resumed request checks the session again, so a sign-in started
//     without the demands (another tab, a dropped return_to) is not enough.

// authTimeSkew is how far an IdP's clock may be behind ours when its auth_time
// must be after the moment Gatehouse asked for a new sign-in.
const authTimeSkew = time.Minute

// sessionShortfall says what the browser's session lacks for p, as an audit
// reason, or "" if it will do. An exceeded max_age turns into a demand for a
// fresh sign-in (p.Fresh), which is then what later checks hold it to: max_age=0
// could never be met by the time the code is issued.
func (s *Server) sessionShortfall(sess store.Session, p *pendingAuthz) string {
	q := &p.Req
	switch {
	case p.ForceLogin && sess.ID == p.PriorSession:
		return "new_session_required"
	case p.Fresh && sess.AuthTime.Before(time.Unix(p.Created, 0).Add(-authTimeSkew)):
		return "auth_time_before_request"
	case !p.Fresh && q.MaxAge >= 0 && s.Now().Sub(sess.AuthTime) > time.Duration(q.MaxAge)*time.Second:
		p.Fresh = true
		return "max_age"
	case len(q.ACRRequired) > 0 && !slices.Contains(q.ACRRequired, sess.ACR):
		return "acr"
	}
	return ""
}

// pendingFromReturnTo opens the authorization request a sign-in will resume, if
// return_to is the resume URL of one.
func (s *Server) pendingFromReturnTo(returnTo string) (pendingAuthz, bool) {
	u, err := url.Parse(returnTo)
	if err != nil || u.Path != resumePath {
		return pendingAuthz{}, false
	}
	p, err := s.openPending(u.Query().Get("r"), purposeResume)
	return p, err == nil
}

// signInDemands turns what the pending request asks of the sign-in into the
// provider's BeginParams and the flow's checks.
func (s *Server) signInDemands(p pendingAuthz, f *flow, bp *providers.BeginParams) {
	bp.Reauthenticate = p.Fresh
	bp.SelectAccount = p.SelectAccount
	bp.ACRValues = p.Req.acrPreference()
	if p.Fresh {
		f.FreshSince = s.Now().Unix()
	}
	f.ACR = p.Req.ACRRequired
}

// unmetBy says how the IdP's answer falls short of the flow's demands, as an
// audit reason, or "".
func (f flow) unmetBy(id providers.Identity) string {
	if f.FreshSince != 0 && (id.AuthTime.IsZero() || id.AuthTime.Before(time.Unix(f.FreshSince, 0).Add(-authTimeSkew))) {
		// OIDC Core §3.1.2.1: the IdP did not sign the person in again (or,
		// for max_age, did not say when it did: auth_time is then required).
		return "stale_auth_time"
	}
	if len(f.ACR) > 0 && !slices.Contains(f.ACR, id.ACR) {
		return "acr_not_satisfied"
	}
	return ""
}

// refuseUnmet refuses a verified sign-in that did not meet what the client asked
// for. The client gets the error (OIDC Core §3.1.2.6: login_required; an unmet
// essential acr is a failed authentication, §5.5.1.1: access_denied) when the
// request is still good; otherwise the person gets a page.
func (s *Server) refuseUnmet(w http.ResponseWriter, r *http.Request, f flow, providerID, reason string) error {
	s.record(r, "", "signin.refused", providerID, map[string]any{"reason": reason})
	if p, ok := s.pendingFromReturnTo(f.ReturnTo); ok {
		if _, err := s.pendingClient(r.Context(), &p.Req); err == nil {
			oe := oauthErr(0, "login_required", "the identity provider did not sign the user in again", nil)
			if reason == "acr_not_satisfied" {
				oe = oauthErr(0, "access_denied", "the identity provider did not authenticate the user as required", nil)
			}
			return s.authzError(w, r, &p.Req, oe)
		}
	}
	return &userError{Status: http.StatusForbidden, Title: "Sign-in not accepted",
		Message: "Your organisation's sign-in service did not confirm a new sign-in, or not with the method this application requires.",
		Next:    "Go back to the application and try again."}
}

// acrPreference is what the IdP is asked for: the essential values first, then
// the voluntary ones (OIDC Core §3.1.2.1 acr_values, in order of preference).
func (q *authzRequest) acrPreference() []string {
	out := slices.Clone(q.ACRRequired)
	for _, v := range q.ACRValues {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// essentialACR reads the acr member of the claims request parameter (OIDC Core
// §5.5.1.1): {"id_token": {"acr": {"essential": true, "values": [...]}}}, or
// "value", or the same under "userinfo". Only acr is honoured; the rest of the
// parameter is ignored, as is one that does not parse (discovery says
// claims_parameter_supported: false).
func essentialACR(raw string) []string {
	if raw == "" {
		return nil
	}
	type claim struct {
		Essential bool     `json:"essential"`
		Value     string   `json:"value"`
		Values    []string `json:"values"`
	}
	var req map[string]map[string]*claim
	if json.Unmarshal([]byte(raw), &req) != nil {
		return nil
	}
	var out []string
	for _, member := range []string{"id_token", "userinfo"} {
		c := req[member]["acr"]
		if c == nil || !c.Essential {
			continue
		}
		for _, v := range append([]string{c.Value}, c.Values...) {
			if v != "" && len(v) <= 256 && !slices.Contains(out, v) {
				out = append(out, v)
			}
		}
	}
	if len(out) > maxACRValues {
		out = out[:maxACRValues]
	}
	return out
}

// maxACRValues bounds what is carried in the sealed request and sent upstream.
const maxACRValues = 8
