package web

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/templates"
)

// What the capabilities need of each other, declared here, below both, and
// satisfied by broker's wiring: a capability never imports another (DESIGN.md
// "Layout").

// SignInDemands is what a pending authorization request asks of the sign-in that
// will resume it (OIDC Core §3.1.2.1: prompt=login, max_age, acr_values,
// select_account; §5.5.1.1: an essential acr).
type SignInDemands struct {
	// ForceLogin: only a new session will do, so the browser's current one is
	// not offered to continue with.
	ForceLogin bool
	// Fresh: the IdP must sign the person in again (prompt=login, an exceeded max_age).
	Fresh bool
	// SelectAccount: the IdP should let the person choose an account.
	SelectAccount bool
	// ACRValues are asked of the IdP, in order of preference; ACRRequired are
	// the values one of which its answer must assert.
	ACRValues   []string
	ACRRequired []string
	// UILocales is the request's ui_locales (OIDC Core §3.1.2.1), for the
	// language of the sign-in page (web.WithUILocales).
	UILocales string
}

// AppReturn is an application's validated post_logout_redirect_uri and state
// (OpenID Connect RP-Initiated Logout 1.0 §3), where the browser goes once the
// upstream provider's logout is done. Its JSON names are those it had as part of
// the sealed flow cookie.
type AppReturn struct {
	ClientID string `json:"c"`
	Redirect string `json:"d"`
	State    string `json:"s,omitempty"`
}

// Authorizations is what sign-in needs of the OAuth server.
type Authorizations interface {
	// SignInDemands reads the demands of the pending authorization request
	// returnTo resumes, if it is the resume URL of one.
	SignInDemands(returnTo string) (SignInDemands, bool)
	// RefuseUnmet refuses a verified sign-in that did not meet those demands:
	// to the client when the request resumed by returnTo is still good,
	// otherwise with a page.
	RefuseUnmet(w http.ResponseWriter, r *http.Request, returnTo, providerID, reason string) error
	// AppLogoutReturn ends an application's logout that went through the
	// upstream provider at its post_logout_redirect_uri.
	AppLogoutReturn(w http.ResponseWriter, r *http.Request, app AppReturn) error
	// ConnectedApps lists the person's consents for the account page.
	ConnectedApps(ctx context.Context, userID string) ([]templates.AppRow, error)
}

// SignOut is what the OAuth server needs of sign-in.
type SignOut interface {
	// UpstreamLogout continues the logout of an ended session at the provider
	// it came from, then at app, and reports whether it sent the browser there.
	UpstreamLogout(w http.ResponseWriter, r *http.Request, sess store.Session, app *AppReturn) (bool, error)
	// RenderSignedOut renders the signed-out page, with note if set.
	RenderSignedOut(w http.ResponseWriter, r *http.Request, note string) error
}

// TokenExchange is what the OAuth server's token endpoint needs of token
// exchange (RFC 8693): the grant, for a client already authenticated and allowed
// the grant type, with the request's form f. It returns the 200 body (RFC 8693
// §2.2.1) or an error, an *OAuthError for a refusal (§2.2.2).
type TokenExchange interface {
	Exchange(r *http.Request, c *store.Client, f url.Values) ([]byte, error)
}

// TestSignInResult is what a test sign-in (issue 12, the console's "Test
// sign-in") found: either the refusal's Reason and public Message, or what
// the IdP returned (Claims: untrusted text, shown escaped, ADM-14) and what the
// provider's mapping and role rules made of it. Nothing of it is stored.
type TestSignInResult struct {
	// ID is the admin API's test ID (TestTicket.ID); empty for the console's.
	ID            string         `json:"i,omitempty"`
	Provider      string         `json:"p"`
	Refused       string         `json:"x,omitempty"`
	Message       string         `json:"m,omitempty"`
	Claims        map[string]any `json:"c,omitempty"`
	Subject       string         `json:"s,omitempty"`
	Email         string         `json:"e,omitempty"`
	EmailVerified bool           `json:"v,omitempty"`
	Name          string         `json:"n,omitempty"`
	Groups        []string       `json:"g,omitempty"`
	Roles         []string       `json:"r,omitempty"`
	Created       int64          `json:"t"`
}

// TestActor is the admin a test sign-in runs for, as the provider.tested
// event names them (operations.Actor: their user ID or "client:<id>", and
// "console" or "api").
type TestActor struct{ Name, Via string }

// TestTicket is a test sign-in the admin API started: its ID, the one-time URL
// that runs it in a browser, and until when that URL can be opened.
type TestTicket struct {
	ID        string
	URL       string
	ExpiresAt time.Time
}

// TestSignIn is what the admin console and the admin API need of sign-in: a
// sign-in through one provider in a flow of its own that creates no session and
// links nobody.
type TestSignIn interface {
	// BeginTest sends the browser to the provider, the flow bound to the
	// admin's session sessionID. The callback ends at TestResultPath with the
	// result sealed.
	BeginTest(w http.ResponseWriter, r *http.Request, providerID, sessionID string, by TestActor) error
	// AllowTest lets the page holding the Test sign-in form send the browser
	// on to providerID (CSP form-action).
	AllowTest(w http.ResponseWriter, r *http.Request, providerID string)
	// OpenTestResult opens a sealed result: it must be recent and made for
	// the session sessionID.
	OpenTestResult(sealed, sessionID string) (TestSignInResult, error)
	// StartTest prepares a test sign-in for an admin API caller (by.Name):
	// a one-time URL that runs it in any browser, no Gatehouse session needed.
	// Its result is sealed to that caller and that test.
	StartTest(ctx context.Context, providerID string, by TestActor) (TestTicket, error)
	// OpenCallerTestResult opens the sealed result of test testID: it must be
	// recent and made for the caller owner.
	OpenCallerTestResult(sealed, owner, testID string) (TestSignInResult, error)
}

// TestResultPath is the console page a test sign-in of provider id ends at.
func TestResultPath(id string) string { return "/admin/providers/" + url.PathEscape(id) + "/test" }

// TestTicketPath is where an admin API caller's test sign-in starts, in a
// browser, with its one-time ticket (not below /admin: it needs no session).
const TestTicketPath = "/test-sign-in"
