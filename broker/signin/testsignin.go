package signin

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/gatehouse/gatehouse/broker/operations"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/token"
	"github.com/gatehouse/gatehouse/broker/upstream"
	"github.com/gatehouse/gatehouse/broker/web"
	"github.com/gatehouse/gatehouse/providers"
	"github.com/gatehouse/gatehouse/templates"
)

// flowTest is an admin's test sign-in through one provider (issue 12): the
// callback verifies the response exactly as a sign-in's does and records its
// replay keys, then stops: no user is resolved, no session started, nothing
// linked. The result goes to the admin console sealed to the admin's session,
// or to the admin API caller that started it sealed to that caller
// (web.TestSignIn); it is stored nowhere.
const flowTest = "test"

// ProviderTests records how a test sign-in ended, naming the admin who ran it
// (operations.Service.ProviderTested: the event every admin action has).
type ProviderTests interface {
	ProviderTested(ctx context.Context, a operations.Actor, providerID, refused string) error
}

// testRun is who a test flow runs for, carried in its sealed flow cookie (and,
// for the admin API, first in its sealed ticket): the admin the audit event
// names and, for the API, the test's ID and the caller (token subject, or
// "client:<id>") its result is sealed to.
type testRun struct {
	Actor string `json:"a"`
	Via   string `json:"v"`
	ID    string `json:"i,omitempty"`
	Owner string `json:"o,omitempty"`
}

// BeginTest implements web.TestSignIn. The admin console has checked that the
// caller is a fresh admin and the CSRF token of its form.
func (s *Server) BeginTest(w http.ResponseWriter, r *http.Request, providerID, sessionID string, by web.TestActor) error {
	if err := s.rateLimit(s.limits.start, r); err != nil {
		return err
	}
	b, err := s.testable(r.Context(), providerID)
	if err != nil {
		return err
	}
	return s.beginFlow(w, r, b, flow{Purpose: flowTest, SessionID: sessionID, Test: &testRun{Actor: by.Name, Via: by.Via}}, providers.BeginParams{})
}

// testable is the built provider providerID if a test can run through it.
func (s *Server) testable(ctx context.Context, providerID string) (*upstream.Built, error) {
	b, err := s.upstreams.Get(ctx, providerID)
	if err != nil {
		// A disabled provider's callback answers nothing (refuseDisabledProvider
		// aside, the registry has no built provider for it): enable it first.
		return nil, &web.UserError{Status: http.StatusConflict, Title: "Test sign-in unavailable",
			Message: "Only an enabled provider with a usable configuration can be tested.",
			Next:    "Enable the provider or correct its settings, then try again.", Err: err}
	}
	return b, nil
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

// callerResultAD binds a sealed result to the admin API caller and the test it
// started: another caller, or another test's ID, opens nothing.
func callerResultAD(owner, testID string) []byte {
	return []byte("gatehouse API test sign-in result\x00" + owner + "\x00" + testID)
}

// testTicketAD is the associated data of a test ticket (the start URL).
var testTicketAD = []byte("gatehouse test sign-in ticket")

// OpenTestResult implements web.TestSignIn.
func (s *Server) OpenTestResult(sealed, sessionID string) (web.TestSignInResult, error) {
	return s.openTestResult(sealed, testResultAD(sessionID))
}

// OpenCallerTestResult implements web.TestSignIn.
func (s *Server) OpenCallerTestResult(sealed, owner, testID string) (web.TestSignInResult, error) {
	if owner == "" || testID == "" {
		return web.TestSignInResult{}, errors.New("test sign-in result of no caller")
	}
	res, err := s.openTestResult(sealed, callerResultAD(owner, testID))
	if err == nil && res.ID != testID {
		return web.TestSignInResult{}, errors.New("test sign-in result of another test")
	}
	return res, err
}

func (s *Server) openTestResult(sealed string, ad []byte) (web.TestSignInResult, error) {
	var res web.TestSignInResult
	if err := s.open(sealed, ad, &res); err != nil {
		return web.TestSignInResult{}, err
	}
	// As short-lived as the flow it ends.
	if age := s.Now().Sub(time.Unix(res.Created, 0)); age > web.FlowTTL || age < -time.Minute {
		return web.TestSignInResult{}, errors.New("test sign-in result expired")
	}
	return res, nil
}

// seal and open carry a value through the browser or an API caller:
// AES-256-GCM under the master key (seal.Keyring), bound by ad to its purpose
// and its owner, as base64url.
func (s *Server) seal(v any, ad []byte) (string, error) {
	plain, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	sealed, err := s.ring.Seal(plain, ad)
	if err != nil {
		return "", fmt.Errorf("sealing: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(sealed), nil
}

func (s *Server) open(sealed string, ad []byte, v any) error {
	raw, err := base64.RawURLEncoding.DecodeString(sealed)
	if err != nil {
		return err
	}
	plain, err := s.ring.Open(raw, ad)
	if err != nil {
		return err
	}
	return json.Unmarshal(plain, v)
}

// testTicket is the sealed content of an admin API caller's start URL.
type testTicket struct {
	Provider string  `json:"p"`
	Run      testRun `json:"r"`
	Created  int64   `json:"t"`
}

// StartTest implements web.TestSignIn for the admin API, which has checked
// the caller's token. A test sign-in is a browser flow, and the API caller may
// be a script: it gets a one-time URL (a ticket sealed under the master key,
// so it names the provider and the caller unforgeably) for whoever signs in
// at the IdP to open in any browser, without a Gatehouse session. The ticket
// is single-use across replicas (its ID goes into the replay cache when it is
// opened) and lasts web.FlowTTL.
func (s *Server) StartTest(ctx context.Context, providerID string, by web.TestActor) (web.TestTicket, error) {
	if _, err := s.testable(ctx, providerID); err != nil {
		return web.TestTicket{}, err
	}
	now := s.Now()
	t := testTicket{Provider: providerID, Created: now.Unix(),
		Run: testRun{Actor: by.Name, Via: by.Via, ID: token.Random(18), Owner: by.Name}}
	sealed, err := s.seal(t, testTicketAD)
	if err != nil {
		return web.TestTicket{}, err
	}
	return web.TestTicket{ID: t.Run.ID, ExpiresAt: time.Unix(t.Created, 0).Add(web.FlowTTL),
		URL: s.cfg.Issuer.JoinPath(web.TestTicketPath).String() + "?" + url.Values{"ticket": {sealed}}.Encode()}, nil
}

const testTicketKeyPrefix = "test-ticket:"

var errTestTicket = &web.UserError{Status: http.StatusGone, Title: "Test sign-in link not valid",
	Message: "This test sign-in link is unknown, has expired (links are valid for 10 minutes) or was used already.",
	Next:    "Ask for a new link: start the test sign-in again through the admin API."}

// HandleTestTicket runs an admin API caller's test sign-in in this browser:
// the ticket is opened, spent (a second use, on any replica, runs nothing),
// and the browser sent to the provider in a test flow.
func (s *Server) HandleTestTicket(w http.ResponseWriter, r *http.Request) error {
	if err := s.rateLimit(s.limits.start, r); err != nil {
		return err
	}
	var t testTicket
	if err := s.open(r.URL.Query().Get("ticket"), testTicketAD, &t); err != nil || t.Run.ID == "" || t.Run.Owner == "" {
		return errTestTicket
	}
	created := time.Unix(t.Created, 0)
	if age := s.Now().Sub(created); age > web.FlowTTL || age < -time.Minute {
		return errTestTicket
	}
	err := s.store.Replay().Remember(r.Context(), testTicketKeyPrefix+t.Run.ID, created.Add(web.FlowTTL+time.Minute), s.Now())
	if errors.Is(err, store.ErrAlreadyUsed) {
		return errTestTicket
	}
	if err != nil {
		return err
	}
	b, err := s.testable(r.Context(), t.Provider)
	if err != nil {
		return err
	}
	run := t.Run
	return s.beginFlow(w, r, b, flow{Purpose: flowTest, Test: &run}, providers.BeginParams{})
}

// finishTest ends a test flow once the provider verified (or refused) the
// response. A console test's flow cookie (sealed, HttpOnly, bound to this
// browser, WEB-05) names the admin session that started it; the session
// cookie itself, Lax, does not come with a SAML response's cross-site POST
// (WEB-09), so the session is looked up by that ID and must still be live. An
// API test's flow names the caller instead. The flow's and the response's
// replay keys are recorded, the outcome goes to the audit log through
// operations (naming the admin, the provider and the outcome, never the
// claims), and the result is sealed to that session or that caller.
func (s *Server) finishTest(w http.ResponseWriter, r *http.Request, b *upstream.Built, f flow, ident providers.Identity, cerr error) error {
	id := b.Config.ID
	run := f.Test
	var sess store.Session
	if run == nil || run.Owner == "" {
		var err error
		sess, err = s.store.Sessions().Get(r.Context(), f.SessionID)
		if err != nil || f.SessionID == "" || !s.Now().Before(sess.ExpiresAt) {
			if err := s.spend(r, id, "signin.refused", []store.ReplayKey{flowKey(f)}); err != nil {
				return err
			}
			return s.refuse(r, id, "test_not_bound_to_session", errors.New("test flow of no live session"))
		}
		if run == nil {
			run = &testRun{Actor: sess.UserID, Via: "console"}
		}
	}
	res := web.TestSignInResult{ID: run.ID, Provider: id, Created: s.Now().Unix()}
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
	if err := s.tests.ProviderTested(r.Context(), operations.Actor{Name: run.Actor, Via: run.Via}, id, res.Refused); err != nil {
		// Every admin action is audited (ADM-16): no result without its event.
		return fmt.Errorf("recording the test sign-in: %w", err)
	}
	if run.Owner != "" {
		sealed, err := s.seal(res, callerResultAD(run.Owner, run.ID))
		if err != nil {
			return err
		}
		// The browser gets the result only sealed to the API caller: the
		// person who signed in need not be the admin who asked (and the role
		// rules the result applies are the admin's business).
		w.Header().Set("Cache-Control", "no-store")
		return web.Render(w, r, http.StatusOK, templates.TestSignInDone(templates.TestSignInDoneView{
			Page: templates.Page{Title: "Test sign-in finished"}, Provider: b.Config.Name, TestID: run.ID, Code: sealed}))
	}
	sealed, err := s.seal(res, testResultAD(sess.ID))
	if err != nil {
		return err
	}
	http.Redirect(w, r, web.TestResultPath(id)+"?result="+url.QueryEscape(sealed), http.StatusSeeOther)
	return nil
}
