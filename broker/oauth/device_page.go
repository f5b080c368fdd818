package oauth

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"slices"

	"github.com/gatehouse/gatehouse/broker/registry"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/token"
	"github.com/gatehouse/gatehouse/broker/web"
	"github.com/gatehouse/gatehouse/templates"
)

// deviceTriesPerMinute is how many user codes one browser session, and one IP
// address, may try a minute (RFC 8628 §5.1: rate-limit the verification URI).
// At 5 a minute, finding one of even a thousand live codes among 20^8 takes
// years from one address; a person needs one or two tries.
const deviceTriesPerMinute = 5

// purposeDevice binds the sealed device authorization on the confirmation form
// to the session that opened it, as purposeConsent does for consent.
func purposeDevice(sessionID string) string { return "gatehouse device confirm " + sessionID }

var errDeviceSession = &web.UserError{Status: http.StatusForbidden, Title: "Request refused",
	Message: "This confirmation does not belong to the account signed in in this browser, or it has expired.",
	Next:    "Enter the code from your device again."}

var errDeviceGone = &web.UserError{Status: http.StatusBadRequest, Title: "Code no longer valid",
	Message: "This code has expired or was already used.",
	Next:    "Start the sign-in on your device again to get a new code."}

// HandleDevicePage is the verification URI (RFC 8628 §3.3): after sign-in (the
// normal login, returning here), a form for the code the device shows. A
// user_code in the address (verification_uri_complete, §3.3.1) only fills the
// form: the person still submits it and then confirms the app (§5.4).
func (s *Server) HandleDevicePage(w http.ResponseWriter, r *http.Request) error {
	_, u, ok := s.web.RequireSession(w, r)
	if !ok {
		return nil
	}
	prefill := r.URL.Query().Get("user_code")
	if code, ok := normalizeUserCode(prefill); ok {
		prefill = formatUserCode(code)
	} else {
		prefill = ""
	}
	return s.renderDeviceEnter(w, r, u, http.StatusOK, prefill, "")
}

func (s *Server) renderDeviceEnter(w http.ResponseWriter, r *http.Request, u store.User, status int, code, problem string) error {
	csrf, err := s.web.CSRFToken(w, r, DevicePath)
	if err != nil {
		return err
	}
	return web.Render(w, r, status, templates.DeviceEnter(templates.DeviceEnterView{
		Page: templates.Page{Title: "Connect a device", SignedInAs: web.DisplayName(u)}, UserCode: code, CSRF: csrf, Problem: problem}))
}

// HandleDeviceSubmit takes the code the person typed. Every try counts against
// the session's and the address's allowance (§5.1), wrong ones are audited, and
// a right one shows the confirmation naming the app and what it gets.
func (s *Server) HandleDeviceSubmit(w http.ResponseWriter, r *http.Request) error {
	sess, u, ok := s.web.CurrentSession(r)
	if !ok {
		http.Redirect(w, r, web.LoginURL(DevicePath), http.StatusSeeOther)
		return nil
	}
	ctx := r.Context()
	ip := web.InfoFrom(ctx).IP
	for _, l := range []struct{ kind, key string }{{"session", "session:" + sess.ID}, {"ip", "ip:" + ip}} {
		if ok, retry := s.deviceTries.Take(l.key, 1); !ok {
			// One audit row a minute per key: a flood must not become one of writes.
			if ok, _ := s.deviceTriesAudit.Take(l.key, 1); ok {
				s.web.Record(r, u.ID, "device.code_rate_limited", "", map[string]any{"limit": l.kind})
			}
			return &web.UserError{Status: http.StatusTooManyRequests, Title: "Too many tries",
				Message: "Too many codes were entered from this browser or network in the last minute.",
				Next:    "Wait a minute, then enter the code shown on your device.", RetryAfter: retry}
		}
	}
	typed := r.PostFormValue("user_code")
	code, ok := normalizeUserCode(typed)
	var d store.DeviceAuthorization
	var err error
	if ok {
		d, err = s.store.DeviceAuthorizations().GetPending(ctx, s.userCodeHash(code), s.Now())
		if err != nil && !isNotFound(err) {
			return err
		}
	}
	if !ok || err != nil {
		reason := "unknown_or_expired"
		if !ok {
			reason = "malformed"
		}
		s.web.Record(r, u.ID, "device.code_rejected", "", map[string]any{"reason": reason})
		return s.renderDeviceEnter(w, r, u, http.StatusBadRequest, web.Truncate(typed, 32),
			"That code is not valid, or it has expired. Check the code on your device and try again.")
	}
	c, api, granted, roles, err := s.deviceGrant(ctx, sess, &d)
	if err != nil {
		return err
	}
	stored, err := s.store.Consents().Get(ctx, u.ID, c.ID)
	if err != nil && !isNotFound(err) {
		return err
	}
	requested := c.Scopes
	if len(d.Scopes) > 0 {
		requested = d.Scopes
	}
	v := templates.DeviceConfirmView{Page: templates.Page{Title: "Allow access from a device?", SignedInAs: web.DisplayName(u)},
		ClientName: clientName(c), LogoURL: web.HTTPSURL(c.LogoURI), HomeURL: web.HTTPSURL(c.ClientURI),
		HomeHost: redirectHost(web.HTTPSURL(c.ClientURI)), UserName: web.DisplayName(u), UserCode: formatUserCode(code)}
	if api != nil {
		v.APIName = api.Name
	}
	v.Scopes, v.NotGranted = consentScopes(c, api, roles, stored, granted, requested)
	sealed, err := s.ring.Seal(d.DeviceCodeHash, []byte(purposeDevice(sess.ID)))
	if err != nil {
		return err
	}
	v.Request = base64.RawURLEncoding.EncodeToString(sealed)
	if v.CSRF, err = s.web.CSRFToken(w, r, DevicePath+"/confirm"); err != nil {
		return err
	}
	return web.Render(w, r, http.StatusOK, templates.DeviceConfirm(v))
}

// deviceGrant is what the person would grant the device's request: the scope
// rules of the consent page (token.GrantScopes with the session's roles).
func (s *Server) deviceGrant(ctx context.Context, sess store.Session, d *store.DeviceAuthorization) (
	c *store.Client, api *store.API, granted, roles []string, err error) {
	c, err = s.registry.Client(ctx, d.ClientID)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	if c == nil || !slices.Contains(c.GrantTypes, registry.GrantDeviceCode) {
		// The app was removed, or lost the grant, since the device asked.
		return nil, nil, nil, nil, errDeviceGone
	}
	if d.Audience != "" {
		if api, err = s.registry.API(ctx, d.Audience); err != nil {
			return nil, nil, nil, nil, err
		}
		if api == nil {
			return nil, nil, nil, nil, errDeviceGone
		}
	}
	if roles, err = s.web.Roles(ctx, sess); err != nil {
		return nil, nil, nil, nil, err
	}
	req := token.ScopeRequest{ClientAllowed: c.Scopes, API: api, User: true, Roles: roles}
	if len(d.Scopes) > 0 {
		req.Requested = d.Scopes
	}
	granted = token.GrantScopes(req)
	if len(granted) == 0 {
		return nil, nil, nil, nil, &web.UserError{Status: http.StatusForbidden, Title: "Nothing to allow",
			Message: "This device asks for access your account cannot give.", Next: "Ask your administrator which access you need."}
	}
	return c, api, granted, roles, nil
}

// HandleDeviceConfirm takes the person's decision on the confirmation page. The
// device authorization comes sealed to this session (another browser's form
// does not open here) and is decided once across every replica; Allow stores
// the consent as the consent page does, Deny makes the device's next poll
// access_denied (RFC 8628 §3.5).
func (s *Server) HandleDeviceConfirm(w http.ResponseWriter, r *http.Request) error {
	sess, u, ok := s.web.CurrentSession(r)
	if !ok {
		return errDeviceSession
	}
	ctx := r.Context()
	raw := r.PostFormValue("request")
	sealed, err := base64.RawURLEncoding.DecodeString(raw)
	var hash []byte
	if err == nil && len(raw) <= 1024 {
		hash, err = s.ring.Open(sealed, []byte(purposeDevice(sess.ID)))
	}
	if err != nil || hash == nil {
		s.web.Record(r, u.ID, "device.refused", "", map[string]any{"reason": "request_not_for_this_session"})
		return errDeviceSession
	}
	d, err := s.store.DeviceAuthorizations().Get(ctx, hash)
	if isNotFound(err) {
		return errDeviceGone
	}
	if err != nil {
		return err
	}
	now := s.Now()
	if d.Status != store.DevicePending || !now.Before(d.ExpiresAt) {
		return errDeviceGone
	}
	decision := r.PostFormValue("decision")
	if decision != "approve" && decision != "deny" {
		return &web.UserError{Status: http.StatusBadRequest, Title: "Request not understood",
			Message: "The form did not say whether to allow the device.", Next: "Enter the code from your device again."}
	}
	c, _, granted, _, err := s.deviceGrant(ctx, sess, &d)
	if err != nil {
		return err
	}
	done := templates.DeviceDoneView{Page: templates.Page{Title: "Device", SignedInAs: web.DisplayName(u)}, ClientName: clientName(c)}
	if decision == "deny" {
		if err := s.store.DeviceAuthorizations().Decide(ctx, hash, store.DeviceDecision{Status: store.DeviceDenied, UserID: u.ID,
			SessionID: sess.ID}, now); err != nil {
			if isNotFound(err) {
				return errDeviceGone
			}
			return err
		}
		s.web.Record(r, u.ID, "device.denied", c.ID, nil)
		return web.Render(w, r, http.StatusOK, templates.DeviceDone(done))
	}
	grantID := token.NewID()
	err = s.store.DeviceAuthorizations().Decide(ctx, hash, store.DeviceDecision{Status: store.DeviceApproved, UserID: u.ID,
		SessionID: sess.ID, GrantedScopes: granted, GrantID: grantID, AuthTime: sess.AuthTime, ACR: sess.ACR, AMR: sess.AMR}, now)
	if errors.Is(err, store.ErrNotFound) {
		return errDeviceGone
	}
	if err != nil {
		return err
	}
	if err := s.rememberConsent(r, u, c, granted, now); err != nil {
		return err
	}
	s.web.Record(r, u.ID, "device.approved", c.ID, map[string]any{"grant": grantID, "scope": token.FormatScope(granted)})
	done.Approved = true
	return web.Render(w, r, http.StatusOK, templates.DeviceDone(done))
}

// deviceVerificationURI is the verification URI with the user code filled in
// (RFC 8628 §3.3.1).
func deviceVerificationURI(base, shown string) string {
	return base + "?" + url.Values{"user_code": {shown}}.Encode()
}
