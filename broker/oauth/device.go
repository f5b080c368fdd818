package oauth

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/broker/registry"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/token"
	"github.com/gatehouse/gatehouse/broker/web"
)

// The device authorization grant (RFC 8628): a device without a browser asks
// for a device code and a user code (HandleDeviceAuthorization), the person
// enters the user code on /device in a browser where they are signed in and
// allows the app (device_page.go), and the device polls the token endpoint
// (grantDeviceCode) until it gets tokens or an answer.

const (
	// DeviceAuthorizationPath is the device authorization endpoint (RFC 8628 §3.1).
	DeviceAuthorizationPath = "/oauth2/device_authorization"
	// DevicePath is the verification URI people open (§3.2 verification_uri).
	DevicePath = "/device"
	// deviceCodeTTL is how long a device has to be approved: short, because the
	// user code has only 34 bits (§5.1, §6.1).
	deviceCodeTTL = 10 * time.Minute
	// deviceInterval is the minimum seconds between polls (§3.2 default 5), and
	// deviceSlowDown what each slow_down adds to it (§3.5).
	deviceInterval = 5
	deviceSlowDown = 5
	// userCodeAlphabet: RFC 8628 §6.1's 20 consonants, no vowels (no words) and
	// nothing that looks like a digit; userCodeLen of them give 20^8 ≈ 2^34.5.
	userCodeAlphabet = "BCDFGHJKLMNPQRSTVWXZ"
	userCodeLen      = 8
	// userCodeMAC is the purpose of the keyed hash the user code is stored as.
	userCodeMAC = "gatehouse device user code"
)

// deviceAuthorizationResponse is RFC 8628 §3.2's answer.
type deviceAuthorizationResponse struct {
	DeviceCode              string `json:"device_code"`
	UserCode                string `json:"user_code"`
	VerificationURI         string `json:"verification_uri"`
	VerificationURIComplete string `json:"verification_uri_complete"`
	ExpiresIn               int64  `json:"expires_in"`
	Interval                int    `json:"interval"`
}

// HandleDeviceAuthorization is the device authorization endpoint (RFC 8628 §3.1):
// the client authenticates as at the token endpoint (a public client names
// itself with client_id), must be allowed the device_code grant, and its scope
// and resource are checked as an authorization request's are; the person's
// roles narrow the scope when they allow it.
func (s *Server) HandleDeviceAuthorization(w http.ResponseWriter, r *http.Request) error {
	f, c, err := s.clientRequest(r)
	if err != nil {
		return err
	}
	if !slices.Contains(c.GrantTypes, registry.GrantDeviceCode) {
		return web.Rejected(web.UnauthorizedClient("the client may not use the device authorization grant"), "grant_not_allowed",
			c.ID, "", nil)
	}
	ctx := r.Context()
	api, err := s.targetAPI(ctx, c, f)
	if err != nil {
		return err
	}
	var requested []string
	if raw := f.get("scope"); raw != "" {
		requested = token.ParseScope(raw)
	}
	// The scope the client could get for some person: none at all is invalid_scope
	// now rather than a confirmation page offering nothing.
	if _, err := s.requestedScopes(f, token.ScopeRequest{ClientAllowed: c.Scopes, API: api, User: true,
		Roles: allRoles(api)}); err != nil {
		return err
	}
	d := store.DeviceAuthorization{ClientID: c.ID, Scopes: requested, Status: store.DevicePending, Interval: deviceInterval}
	if api != nil {
		d.Audience = api.Audience
	}
	now := s.Now()
	d.CreatedAt, d.ExpiresAt = now, now.Add(deviceCodeTTL)
	deviceCode, hash := token.NewOpaque()
	d.DeviceCodeHash = hash
	var userCode string
	for attempt := 0; ; attempt++ {
		userCode = newUserCode()
		d.UserCodeHash = s.userCodeHash(userCode)
		err = s.store.DeviceAuthorizations().Create(ctx, d)
		if !errors.Is(err, store.ErrConflict) || attempt == 3 {
			break
		}
		// A live user code drawn again (2^-34 per pending request): draw anew.
	}
	if err != nil {
		return err
	}
	shown := formatUserCode(userCode)
	b, err := json.Marshal(deviceAuthorizationResponse{
		DeviceCode: deviceCode, UserCode: shown, VerificationURI: s.url(DevicePath),
		VerificationURIComplete: deviceVerificationURI(s.url(DevicePath), shown),
		ExpiresIn:               int64(deviceCodeTTL / time.Second), Interval: deviceInterval,
	})
	if err != nil {
		return err
	}
	s.audit.Enqueue(s.web.AuditEvent(r, "client:"+c.ID, "device.authorization_requested", c.ID,
		map[string]any{"scope": token.FormatScope(requested), "aud": d.Audience}))
	web.WriteNoStoreJSON(w, http.StatusOK, b)
	return nil
}

// allRoles are the roles that entitle someone to every scope of api: the
// device endpoint checks what any person could be granted.
func allRoles(api *store.API) []string {
	if api == nil {
		return nil
	}
	var out []string
	for _, sc := range api.Scopes {
		out = append(out, sc.Roles...)
	}
	return out
}

// newUserCode draws userCodeLen letters of userCodeAlphabet from crypto/rand,
// without modulo bias (bytes ≥ 240 are drawn again).
func newUserCode() string {
	out := make([]byte, 0, userCodeLen)
	buf := make([]byte, 16)
	for len(out) < userCodeLen {
		rand.Read(buf)
		for _, b := range buf {
			if b < 240 && len(out) < userCodeLen {
				out = append(out, userCodeAlphabet[int(b)%len(userCodeAlphabet)])
			}
		}
	}
	return string(out)
}

// formatUserCode shows a user code as XXXX-XXXX (RFC 8628 §6.1).
func formatUserCode(code string) string { return code[:4] + "-" + code[4:] }

// normalizeUserCode reads what a person typed (§6.1: case, dashes and spaces do
// not matter) into the stored form; ok is false for anything that cannot be a
// user code.
func normalizeUserCode(raw string) (string, bool) {
	if len(raw) > 32 {
		return "", false
	}
	var b strings.Builder
	for _, r := range strings.ToUpper(raw) {
		switch {
		case r == '-' || r == ' ' || r == '\t':
		case r < 128 && strings.ContainsRune(userCodeAlphabet, r):
			b.WriteRune(r)
		default:
			return "", false
		}
	}
	if b.Len() != userCodeLen {
		return "", false
	}
	return b.String(), true
}

// userCodeHash is the keyed hash a user code is stored and looked up as.
func (s *Server) userCodeHash(code string) []byte { return s.ring.MAC(userCodeMAC, []byte(code)) }

// deviceErr is one of RFC 8628 §3.5's token endpoint answers while the device
// waits; like every token error response, 400 (RFC 6749 §5.2).
func deviceErr(code, description string) *web.OAuthError {
	return web.OAuthErr(http.StatusBadRequest, code, description, nil)
}

// grantDeviceCode is the token endpoint's device_code grant (RFC 8628 §3.4–3.5).
// A pending request answers authorization_pending, or slow_down (and a longer
// interval from then on) to a device polling faster than its interval; a denied
// one access_denied; an expired one expired_token. An approved one is redeemed
// once across every replica (store.DeviceAuthorizations.Redeem); presenting it
// again is invalid_grant and revokes nothing: the device code never left the
// device, unlike an authorization code that travels through the browser.
func (s *Server) grantDeviceCode(r *http.Request, c *store.Client, f form) (*tokenResponse, error) {
	ctx := r.Context()
	raw := f.get("device_code")
	if raw == "" {
		return nil, web.InvalidRequest("device_code is required")
	}
	hash := token.Hash(raw)
	d, err := s.store.DeviceAuthorizations().Get(ctx, hash)
	if errors.Is(err, store.ErrNotFound) {
		return nil, web.Rejected(web.InvalidGrant("the device code is invalid", err), "device_code_unknown", c.ID, "", nil)
	}
	if err != nil {
		return nil, err
	}
	if d.ClientID != c.ID {
		// §3.4: the device code was issued to the client that presents it.
		return nil, web.Rejected(web.InvalidGrant("the device code was issued to another client", nil), "device_code_other_client",
			c.ID, "", map[string]any{"owner": d.ClientID})
	}
	now := s.Now()
	switch {
	case d.Status == store.DeviceRedeemed:
		return nil, web.Rejected(web.InvalidGrant("the device code was already used", nil), "device_code_reused", c.ID, d.UserID, nil)
	case d.Status == store.DeviceDenied:
		return nil, deviceErr("access_denied", "the user denied the request")
	case !now.Before(d.ExpiresAt):
		return nil, deviceErr("expired_token", "the device code has expired")
	case d.Status == store.DevicePending:
		// §3.5: slow_down, "the interval MUST be increased by 5 seconds for
		// this and all subsequent requests".
		interval := d.Interval
		early := !d.LastPollAt.IsZero() && now.Sub(d.LastPollAt) < time.Duration(interval)*time.Second
		if early {
			interval += deviceSlowDown
		}
		if err := s.store.DeviceAuthorizations().Polled(ctx, hash, now, interval); err != nil && !isNotFound(err) {
			return nil, err
		}
		if early {
			return nil, deviceErr("slow_down", "polling too fast; wait longer between requests")
		}
		return nil, deviceErr("authorization_pending", "the user has not yet decided")
	}
	d, err = s.store.DeviceAuthorizations().Redeem(ctx, hash, now)
	switch {
	case errors.Is(err, store.ErrAlreadyUsed):
		return nil, web.Rejected(web.InvalidGrant("the device code was already used", err), "device_code_reused", c.ID, d.UserID, nil)
	case errors.Is(err, store.ErrNotFound):
		return nil, deviceErr("expired_token", "the device code has expired")
	case err != nil:
		return nil, err
	}
	if err := s.signInStands(ctx, c, d.UserID, d.SessionID, d.GrantID, "that approved the device"); err != nil {
		return nil, err
	}
	return s.issueDeviceTokens(r, c, d, now)
}

// issueDeviceTokens is the device grant's one call into the shared issuing path,
// as grantAuthorizationCode's: issueUserTokens (access token, ID token with
// openid) and a refresh token for a client with the refresh_token grant. A
// binding of the tokens to the client's key (DPoP, RFC 9449) applies here as it
// does there.
func (s *Server) issueDeviceTokens(r *http.Request, c *store.Client, d store.DeviceAuthorization, now time.Time) (*tokenResponse, error) {
	ctx := r.Context()
	// The scope was decided when the person allowed it; the client may have
	// lost some of its allowed scopes since.
	scopes := slices.DeleteFunc(slices.Clone(d.GrantedScopes), func(sc string) bool { return !slices.Contains(c.Scopes, sc) })
	signer, err := s.keys.Signer(ctx)
	if err != nil {
		return nil, err
	}
	g := token.AccessGrant{ClientID: c.ID, Subject: d.UserID, Audience: d.Audience, Scopes: scopes, GrantID: d.GrantID,
		SessionID: d.SessionID, AuthTime: d.AuthTime, ACR: d.ACR, AMR: d.AMR, Confirmation: token.ConfirmationFrom(ctx)}
	res, cl, err := s.issueUserTokens(ctx, signer, c, g, nil, "", now)
	if err != nil {
		return nil, err
	}
	if slices.Contains(c.GrantTypes, registry.GrantRefreshToken) {
		rt, hash := token.NewOpaque()
		if err := s.store.RefreshTokens().Create(ctx, store.RefreshToken{
			TokenHash: hash, FamilyID: token.NewID(), GrantID: d.GrantID, ClientID: c.ID, UserID: d.UserID,
			SessionID: d.SessionID, Scopes: scopes, Audience: d.Audience, AuthTime: d.AuthTime, ACR: d.ACR, AMR: d.AMR,
			DPoPJKT: refreshBinding(r, c), X5TS256: certRefreshBinding(r, c), CreatedAt: now, ExpiresAt: now.Add(s.refreshTTL(c)),
		}); err != nil {
			return nil, err
		}
		res.RefreshToken = rt
	}
	s.auditIssued(r, c.ID, registry.GrantDeviceCode, cl)
	s.touchConsent(r, d.UserID, c.ID, now)
	return res, nil
}
