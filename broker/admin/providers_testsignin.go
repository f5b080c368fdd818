package admin

import (
	"encoding/json"
	"errors"
	"net/http"
	"sort"
	"strings"

	"github.com/gatehouse/gatehouse/broker/web"
	"github.com/gatehouse/gatehouse/templates"
)

// Test sign-in (issue 12): an admin runs a sign-in through one provider in a
// flow of sign-in's own (web.TestSignIn, satisfied by package signin in
// broker's wiring, so neither capability imports the other) that creates no
// session and links nobody, and sees what the IdP returned and what the
// provider's mapping and role rules make of it. The result comes back sealed to
// this admin's session, opened here and never stored.

var errNoTester = errors.New("admin: no test sign-in configured")

// HandleProviderTest starts a test sign-in (a console form: fresh admin, CSRF).
func (a *Server) HandleProviderTest(w http.ResponseWriter, r *http.Request) error {
	return a.console(w, r, func(w http.ResponseWriter, r *http.Request, p person) error {
		if a.tester == nil {
			return errNoTester
		}
		id := r.PathValue("id")
		if _, err := a.ops.GetProvider(r.Context(), id); err != nil {
			return providerPageErr(err)
		}
		sess, _, _ := a.web.CurrentSession(r)
		return a.tester.BeginTest(w, r, id, sess.ID, web.TestActor{Name: p.Actor.Name, Via: p.Actor.Via})
	})
}

var errTestResultGone = &web.UserError{Status: http.StatusBadRequest, Title: "Test result unavailable",
	Message: "This test sign-in result has expired or was made for another session.",
	Next:    "Run the test sign-in again from the provider's page."}

// HandleProviderTestResult shows a test sign-in's result. Everything in it
// the IdP sent is hostile text, escaped by the template (ADM-14).
func (a *Server) HandleProviderTestResult(w http.ResponseWriter, r *http.Request) error {
	return a.console(w, r, func(w http.ResponseWriter, r *http.Request, p person) error {
		if a.tester == nil {
			return errNoTester
		}
		id := r.PathValue("id")
		sess, _, _ := a.web.CurrentSession(r)
		res, err := a.tester.OpenTestResult(r.URL.Query().Get("result"), sess.ID)
		if err != nil || res.Provider != id {
			return errTestResultGone
		}
		v := templates.AdminProviderTestView{Page: a.page("Test sign-in", p), Heading: templates.M("Test sign-in: %s", id), Back: providersPath + "/" + id,
			Refused: res.Refused, Message: res.Message, Subject: res.Subject, Email: res.Email,
			EmailVerified: res.EmailVerified, Name: res.Name, Groups: res.Groups, Roles: res.Roles}
		keys := make([]string, 0, len(res.Claims))
		for k := range res.Claims {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			v.Claims = append(v.Claims, templates.AdminClaim{Name: k, Value: claimText(res.Claims[k])})
		}
		return web.Render(w, r, http.StatusOK, templates.AdminProviderTest(v))
	})
}

// claimText shows a claim's value: a string as it is, anything else as JSON.
func claimText(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	if ss, ok := v.([]any); ok {
		parts := make([]string, 0, len(ss))
		for _, e := range ss {
			parts = append(parts, claimText(e))
		}
		return strings.Join(parts, ", ")
	}
	b, _ := json.Marshal(v)
	return string(b)
}
