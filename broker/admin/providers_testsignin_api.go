package admin

import (
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/gatehouse/gatehouse/broker/web"
)

// Test sign-in through the admin API (issue 12: the API does everything the
// console does). A test sign-in is a browser flow and the caller may be a
// script, so the API starts it and the result is fetched afterwards:
//
//  1. POST /api/admin/v1/providers/{id}/test-sign-ins answers a test ID and a
//     one-time sign_in_url (sealed: it names the provider and the caller),
//     valid until expires_at (10 minutes). Whoever signs in at the IdP opens it
//     in any browser; it needs no Gatehouse session, and a second opening, on
//     any replica, runs nothing (the replay cache).
//  2. The flow is verified exactly as a sign-in's, then stops: no user,
//     session, identity or login is stored. The browser's last page shows the
//     result sealed (AES-GCM under the master key) to this caller and this
//     test: a result code, useless to anyone else.
//  3. GET /api/admin/v1/test-sign-ins/{id}?result=CODE opens it for the
//     caller that started the test (same token subject, or same client for
//     client_credentials), for 10 minutes after the sign-in; anyone else gets
//     404. Gatehouse keeps the result nowhere (no table, no process memory),
//     so any replica answers and nothing is left to expire or to leak.
//
// The provider.tested event (through operations, naming the caller, via "api")
// is written when the sign-in ends, with its outcome, never the claims.

// TestSignInJSON is a started test sign-in.
type TestSignInJSON struct {
	ID        string    `json:"id"`
	SignInURL string    `json:"sign_in_url"`
	ExpiresAt time.Time `json:"expires_at"`
}

// TestSignInResultJSON is a test sign-in's result: what the IdP returned and
// what the provider's mapping and role rules make of it, or the refusal.
type TestSignInResultJSON struct {
	ID       string `json:"id"`
	Provider string `json:"provider"`
	// Result is "succeeded" or "refused" (Reason, Message: why).
	Result   string              `json:"result"`
	Reason   string              `json:"reason,omitempty"`
	Message  string              `json:"message,omitempty"`
	Claims   map[string]any      `json:"claims,omitempty"`
	Identity *TestSignInIdentity `json:"identity,omitempty"`
	Roles    []string            `json:"roles,omitempty"`
	At       time.Time           `json:"finished_at"`
}

// TestSignInIdentity is the identity the provider's mapping made.
type TestSignInIdentity struct {
	Subject       string   `json:"subject"`
	Email         string   `json:"email,omitempty"`
	EmailVerified bool     `json:"email_verified"`
	Name          string   `json:"name,omitempty"`
	Groups        []string `json:"groups,omitempty"`
}

// ProviderTestStartAPI is POST /api/admin/v1/providers/{id}/test-sign-ins.
func (a *Server) ProviderTestStartAPI(w http.ResponseWriter, r *http.Request) {
	a.api(w, r, func(w http.ResponseWriter, r *http.Request, p person) error {
		if a.tester == nil {
			return errNoTester
		}
		id := r.PathValue("id")
		if _, err := a.ops.GetProvider(r.Context(), id); err != nil {
			return opProblem(err)
		}
		t, err := a.tester.StartTest(r.Context(), id, web.TestActor{Name: p.Actor.Name, Via: p.Actor.Via})
		var ue *web.UserError
		if errors.As(err, &ue) {
			return problem(ue.Status, ue.Message)
		}
		if err != nil {
			return err
		}
		w.Header().Set("Location", "/api/admin/v1/test-sign-ins/"+url.PathEscape(t.ID))
		return writeJSON(w, http.StatusCreated, TestSignInJSON{ID: t.ID, SignInURL: t.URL, ExpiresAt: t.ExpiresAt.UTC()})
	})
}

// TestSignInResultAPI is GET /api/admin/v1/test-sign-ins/{id}?result=CODE.
// Everything but the caller's own recent result is one 404: another caller
// learns nothing of the test, not even that it exists.
func (a *Server) TestSignInResultAPI(w http.ResponseWriter, r *http.Request) {
	a.api(w, r, func(w http.ResponseWriter, r *http.Request, p person) error {
		if a.tester == nil {
			return errNoTester
		}
		id := r.PathValue("id")
		res, err := a.tester.OpenCallerTestResult(r.URL.Query().Get("result"), p.Actor.Name, id)
		if err != nil {
			return problem(http.StatusNotFound, "No result of this test sign-in for this caller: pass result=, the code its last page showed, within 10 minutes of the sign-in.")
		}
		out := TestSignInResultJSON{ID: id, Provider: res.Provider, Result: "succeeded", At: time.Unix(res.Created, 0).UTC()}
		if res.Refused != "" {
			out.Result, out.Reason, out.Message = "refused", res.Refused, res.Message
		} else {
			out.Claims, out.Roles = res.Claims, res.Roles
			out.Identity = &TestSignInIdentity{Subject: res.Subject, Email: res.Email, EmailVerified: res.EmailVerified,
				Name: res.Name, Groups: res.Groups}
		}
		return writeJSON(w, http.StatusOK, out)
	})
}
