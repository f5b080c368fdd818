package signin

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/upstream"
	"github.com/gatehouse/gatehouse/broker/web"
	"github.com/gatehouse/gatehouse/providers"
)

// flowTest is an admin's test sign-in through one provider (issue 12): the
// callback verifies the response exactly as a sign-in's does and records its
// replay keys, then stops: no user is resolved, no session started, nothing
// linked. The result goes to the admin console sealed (web.TestSignIn).
const flowTest = "test"

// BeginTest implements web.TestSignIn. The admin console has checked that the
// caller is a fresh admin and the CSRF token of its form.
func (s *Server) BeginTest(w http.ResponseWriter, r *http.Request, providerID, sessionID string) error {
	if err := s.rateLimit(s.limits.start, r); err != nil {
		return err
	}
	b, err := s.upstreams.Get(r.Context(), providerID)
	if err != nil {
		// A disabled provider's callback answers nothing (refuseDisabledProvider
		// aside, the registry has no built provider for it): enable it first.
		return &web.UserError{Status: http.StatusConflict, Title: "Test sign-in unavailable",
			Message: "Only an enabled provider with a usable configuration can be tested.",
			Next:    "Enable the provider or correct its settings, then try again.", Err: err}
	}
	return s.beginFlow(w, r, b, flow{Purpose: flowTest, SessionID: sessionID}, providers.BeginParams{})
}

// AllowTest implements web.TestSignIn: the Test sign-in form's POST answers
// with a redirect to the provider, and CSP form-action also governs the
// redirects that follow a form's submission (CSP Level 3 §6.4.1).
func (s *Server) AllowTest(w http.ResponseWriter, r *http.Request, providerID string) {
	if b, err := s.upstreams.Get(r.Context(), providerID); err == nil {
		web.SetFormAction(w, b.FormOrigins...)
	}
}

// testResultAD binds a sealed result to the admin session it was made for.
func testResultAD(sessionID string) []byte {
	return []byte("gatehouse test sign-in result\x00" + sessionID)
}

// OpenTestResult implements web.TestSignIn.
func (s *Server) OpenTestResult(sealed, sessionID string) (web.TestSignInResult, error) {
	raw, err := base64.RawURLEncoding.DecodeString(sealed)
	if err != nil {
		return web.TestSignInResult{}, err
	}
	plain, err := s.ring.Open(raw, testResultAD(sessionID))
	if err != nil {
		return web.TestSignInResult{}, err
	}
	var res web.TestSignInResult
	if err := json.Unmarshal(plain, &res); err != nil {
		return web.TestSignInResult{}, err
	}
	// As short-lived as the flow it ends.
	if age := s.Now().Sub(time.Unix(res.Created, 0)); age > web.FlowTTL || age < -time.Minute {
		return web.TestSignInResult{}, errors.New("test sign-in result expired")
	}
	return res, nil
}

// finishTest ends a test flow once the provider verified (or refused) the
// response. The flow cookie (sealed, HttpOnly, bound to this browser, WEB-05)
// names the admin session that started it; the session cookie itself, Lax,
// does not come with a SAML response's cross-site POST (WEB-09), so the session
// is looked up by that ID and must still be live. The flow's and the
// response's replay keys are recorded, and the result is sealed to that session
// (only its console page opens it). The audit event names the admin, the
// provider and the outcome, never the claims.
func (s *Server) finishTest(w http.ResponseWriter, r *http.Request, b *upstream.Built, f flow, ident providers.Identity, cerr error) error {
	id := b.Config.ID
	sess, err := s.store.Sessions().Get(r.Context(), f.SessionID)
	if err != nil || f.SessionID == "" || !s.Now().Before(sess.ExpiresAt) {
		if err := s.spend(r, id, "signin.refused", []store.ReplayKey{flowKey(f)}); err != nil {
			return err
		}
		return s.refuse(r, id, "test_not_bound_to_session", errors.New("test flow of no live session"))
	}
	res := web.TestSignInResult{Provider: id, Created: s.Now().Unix()}
	used := []store.ReplayKey{flowKey(f)}
	if cerr == nil {
		used = append(used, replayKeys(ident.ReplayKeys)...)
	}
	switch {
	case cerr != nil:
		_, res.Refused = failureReason(cerr)
		res.Message = providers.PublicMessage(cerr)
		s.log.InfoContext(r.Context(), "test sign-in refused", "request_id", web.RequestID(r.Context()), "provider", id, "error", cerr.Error())
	case ident.ProviderID != id || ident.Subject == "":
		res.Refused, res.Message = "identity_for_other_provider", "The response is for another provider."
	}
	if err := s.spend(r, id, "provider.tested", used); err != nil {
		var ue *web.UserError
		if !errors.As(err, &ue) {
			return err
		}
		res.Refused, res.Message = "replay", ue.Message
	}
	if res.Refused == "" {
		res.Claims, res.Subject, res.Email, res.EmailVerified = ident.Claims, ident.Subject, ident.Email, ident.EmailVerified
		res.Name, res.Groups = ident.Name, ident.Groups
		res.Roles = upstream.Roles(b.Common.RoleRules, ident)
	}
	details := map[string]any{"result": "succeeded", "via": "console"}
	if res.Refused != "" {
		details = map[string]any{"result": "refused", "reason": res.Refused, "via": "console"}
	}
	s.web.Record(r, sess.UserID, "provider.tested", id, details)
	plain, err := json.Marshal(res)
	if err != nil {
		return err
	}
	sealed, err := s.ring.Seal(plain, testResultAD(sess.ID))
	if err != nil {
		return fmt.Errorf("sealing the test result: %w", err)
	}
	http.Redirect(w, r, web.TestResultPath(id)+"?result="+url.QueryEscape(base64.RawURLEncoding.EncodeToString(sealed)), http.StatusSeeOther)
	return nil
}
