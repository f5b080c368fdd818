package signin

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/broker/config"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/token"
	"github.com/gatehouse/gatehouse/broker/web"
	"github.com/gatehouse/gatehouse/providers"
	"github.com/gorilla/securecookie"
)

// Purposes of a flow.
const (
	flowLogin  = "login"
	flowLink   = "link"
	flowLogout = "logout"
	// flowIdPInitiated is a verified unsolicited SAML sign-in waiting for the
	// person to confirm it (SAML-35).
	flowIdPInitiated = "idp-initiated"
	// flowLinkChoice is a verified first sign-in whose email an existing
	// account has, waiting for the person to choose: link by proving that
	// account, or keep a separate one (WEB-25).
	flowLinkChoice = "link-choice"
)

// flow is a pending hop to an upstream provider, kept in an encrypted,
// authenticated, short-lived cookie bound to the browser that started it. Pending
// holds the provider's secrets (state, nonce, PKCE verifier, AuthnRequest ID); the
// cookie's encryption keeps them confidential. ID makes the flow single-use across
// replicas through the replay cache (OIDC-01).
type flow struct {
	ID       string `json:"i"`
	Purpose  string `json:"u"`
	Provider string `json:"p"`
	Pending  []byte `json:"d"`
	ReturnTo string `json:"r,omitempty"`
	// SessionID binds a link flow to the signed-in session that asked for it (WEB-27).
	SessionID string `json:"s,omitempty"`
	Created   int64  `json:"t"`
	// FreshSince, if set, is when Gatehouse asked the IdP to sign the person in
	// again: its auth_time may not be earlier. ACR, if set, lists the acr values
	// one of which it must assert. Both checked by flow.unmetBy.
	FreshSince int64    `json:"fa,omitempty"`
	ACR        []string `json:"ac,omitempty"`
	// AppReturn, on a logout an application asked for, is its validated
	// post_logout_redirect_uri and state (OpenID Connect RP-Initiated Logout
	// §3), where the browser goes once the provider's logout is done. Kept in
	// this sealed cookie, never in a URL the browser could change.
	AppReturn *web.AppReturn `json:"ar,omitempty"`
	// Link, on a login flow, is a verified identity (pendingIdentity JSON) to
	// link to the account this sign-in proves, once it completes (WEB-25).
	Link []byte `json:"l,omitempty"`
	// Test, on a test flow, is the admin it runs for and, for the admin API,
	// the test and the caller its result is sealed to (testsignin.go).
	Test *testRun `json:"ts,omitempty"`
}

// Flow cookies: SAML responses arrive by a cross-site POST, which a Lax cookie
// does not accompany, so SAML flows use SameSite=None (WEB-09); OIDC callbacks are
// top-level GET navigations and keep Lax. The session cookie is Lax either way.
const (
	FlowCookieSecure       = "__Host-gatehouse-flow"
	SAMLFlowCookieSecure   = "__Host-gatehouse-saml"
	flowCookieInsecure     = "gatehouse-flow"
	samlFlowCookieInsecure = "gatehouse-saml"
)

func newFlowCodecs(c *config.Config) ([]securecookie.Codec, error) {
	pairs, err := web.CookieKeyPairs(c, "gatehouse flow cookie")
	if err != nil {
		return nil, err
	}
	codecs := securecookie.CodecsFromPairs(pairs...)
	for _, cd := range codecs {
		cd.(*securecookie.SecureCookie).MaxAge(int(web.FlowTTL.Seconds())).SetSerializer(securecookie.JSONEncoder{})
	}
	return codecs, nil
}

func (s *Server) secureCookies() bool { return s.cfg.Issuer.Scheme == "https" }

func (s *Server) flowCookie(saml bool) (name string, sameSite http.SameSite) {
	switch {
	case !s.secureCookies() && saml:
		// SameSite=None needs Secure; a plain-http loopback demo keeps its IdPs
		// on the same site (localhost) instead.
		return samlFlowCookieInsecure, http.SameSiteLaxMode
	case !s.secureCookies():
		return flowCookieInsecure, http.SameSiteLaxMode
	case saml:
		return SAMLFlowCookieSecure, http.SameSiteNoneMode
	}
	return FlowCookieSecure, http.SameSiteLaxMode
}

// setFlow stores f in the browser, replacing a pending flow of the same kind.
func (s *Server) setFlow(w http.ResponseWriter, f flow, saml bool) error {
	f.ID, f.Created = token.Random(18), s.Now().Unix()
	name, sameSite := s.flowCookie(saml)
	v, err := securecookie.EncodeMulti(name, f, s.flows...)
	if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: name, Value: v, Path: "/", MaxAge: int(web.FlowTTL.Seconds()),
		Secure: s.secureCookies(), HttpOnly: true, SameSite: sameSite})
	return nil
}

var errNoFlow = errors.New("no pending flow in this browser")

// takeFlow reads the browser's pending flow and clears its cookie: whatever
// happens next, it is not used again from this browser.
func (s *Server) takeFlow(w http.ResponseWriter, r *http.Request, saml bool) (flow, error) {
	name, sameSite := s.flowCookie(saml)
	if _, err := r.Cookie(name); err != nil {
		return flow{}, errNoFlow
	}
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1,
		Secure: s.secureCookies(), HttpOnly: true, SameSite: sameSite})
	return s.peekFlow(r, saml)
}

// peekFlow reads the browser's pending flow and leaves it in place.
func (s *Server) peekFlow(r *http.Request, saml bool) (flow, error) {
	name, _ := s.flowCookie(saml)
	c, err := r.Cookie(name)
	if err != nil {
		return flow{}, errNoFlow
	}
	var f flow
	if err := securecookie.DecodeMulti(name, c.Value, &f, s.flows...); err != nil {
		return flow{}, errNoFlow
	}
	if age := s.Now().Sub(time.Unix(f.Created, 0)); age > web.FlowTTL || age < -time.Minute {
		return flow{}, errNoFlow
	}
	return f, nil
}

// localReturnTo keeps only a same-origin relative path (web.LocalReturnTo).
func localReturnTo(raw, def string) string { return web.LocalReturnTo(raw, def) }

// Single use across replicas, enforced by the database's replay cache: a flow
// (OIDC-01), an upstream assertion (SAML-23), a LogoutRequest. Providers only
// report the keys of what they verified (providers.ReplayKey); the broker
// records them where it acts on the message, for a sign-in in the same
// transaction as the session (store.SignIn.Used), so all of it commits or none.

// flowKey makes a flow single-use until it could no longer be taken anyway.
func flowKey(f flow) store.ReplayKey {
	return store.ReplayKey{Key: flowKeyPrefix + f.ID, ExpiresAt: time.Unix(f.Created, 0).Add(web.FlowTTL + time.Minute)}
}

const flowKeyPrefix = "flow:"

// replayKeys are a provider's keys as the store records them.
func replayKeys(ks []providers.ReplayKey) []store.ReplayKey {
	out := make([]store.ReplayKey, len(ks))
	for i, k := range ks {
		out[i] = store.ReplayKey(k)
	}
	return out
}

// refuseSpentFlow refuses a flow already used on any replica before its
// response is verified: no second code exchange or signature check for it.
// It decides nothing for concurrent uses: recording flowKey does.
func (s *Server) refuseSpentFlow(r *http.Request, providerID string, f flow) error {
	spent, err := s.store.Replay().Used(r.Context(), flowKey(f).Key, s.Now())
	if err != nil {
		return err
	}
	if spent {
		return s.refuse(r, providerID, "flow_replayed", errors.New("flow already used"))
	}
	return nil
}

// spend records keys where no session is started with them: a link, an
// unsolicited response waiting for confirmation, a logout, a refusal.
func (s *Server) spend(r *http.Request, providerID, action string, keys []store.ReplayKey) error {
	now := s.Now()
	for _, k := range keys {
		if err := s.store.Replay().Remember(r.Context(), k.Key, k.ExpiresAt, now); err != nil {
			return s.replayFailure(r, providerID, action, strings.HasPrefix(k.Key, flowKeyPrefix), err)
		}
	}
	return nil
}

// flowTaken reports, after a sign-in's transaction found one of its keys used
// (and so recorded none), whether its flow's key is among the used ones: another
// request completed the same flow meanwhile.
func (s *Server) flowTaken(r *http.Request, keys []store.ReplayKey) bool {
	for _, k := range keys {
		if strings.HasPrefix(k.Key, flowKeyPrefix) {
			used, err := s.store.Replay().Used(r.Context(), k.Key, s.Now())
			return err == nil && used
		}
	}
	return false
}

// replayFailure refuses a response one of whose keys was already recorded: a
// taken flow key means the same response was submitted twice (OIDC-01, reason
// flow_replayed, as refuseSpentFlow says when the submissions do not overlap);
// any other key is a replayed upstream message (providers.ErrReplay). Other
// errors pass as they are.
func (s *Server) replayFailure(r *http.Request, providerID, action string, flowTaken bool, err error) error {
	switch {
	case !errors.Is(err, store.ErrAlreadyUsed):
		return err
	case flowTaken:
		return s.refuse(r, providerID, "flow_replayed", err)
	}
	return s.upstreamFailure(r, providerID, action, fmt.Errorf("%w: %w", providers.ErrReplay, err))
}

// applyDemands puts what a pending authorization request asks of the sign-in
// into the provider's BeginParams and the flow's checks (OIDC-25; the steps are
// described in package oauth, authorize.go).
func (s *Server) applyDemands(d web.SignInDemands, f *flow, bp *providers.BeginParams) {
	bp.Reauthenticate = d.Fresh
	bp.SelectAccount = d.SelectAccount
	bp.ACRValues = d.ACRValues
	if d.Fresh {
		f.FreshSince = s.Now().Unix()
	}
	f.ACR = d.ACRRequired
}

// unmetBy says how the IdP's answer falls short of the flow's demands, as an
// audit reason, or "".
func (f flow) unmetBy(id providers.Identity) string {
	if f.FreshSince != 0 && (id.AuthTime.IsZero() || id.AuthTime.Before(time.Unix(f.FreshSince, 0).Add(-web.AuthTimeSkew))) {
		// OIDC Core §3.1.2.1: the IdP did not sign the person in again (or,
		// for max_age, did not say when it did: auth_time is then required).
		return "stale_auth_time"
	}
	if len(f.ACR) > 0 && !slices.Contains(f.ACR, id.ACR) {
		return "acr_not_satisfied"
	}
	return ""
}
