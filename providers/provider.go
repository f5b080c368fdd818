// Package providers defines the protocol-neutral interface between the broker
// and upstream identity providers (OIDC, SAML), the Identity they return, the
// claim Mapping that builds it, and the typed errors the broker maps to pages.
package providers

import (
	"context"
	"net/http"
	"time"
)

// Provider is one configured upstream identity provider. A provider owns
// protocol verification; the broker owns sessions, storage and rendering.
// Implementations are safe for concurrent use.
type Provider interface {
	// ID is the provider's identifier in the broker's configuration.
	ID() string
	// Begin prepares the hop to the IdP: a redirect, or a form to auto-POST,
	// plus opaque pending state the broker keeps (confidential and
	// tamper-proof, e.g. an encrypted short-lived cookie bound to the
	// browser) and hands back to Complete.
	Begin(ctx context.Context, p BeginParams) (Start, error)
	// Complete validates the IdP's response in r against pending and says who
	// the user is. On error no Identity is returned (the zero value). The
	// caller must record Identity.ReplayKeys before it acts on the Identity.
	Complete(ctx context.Context, r *http.Request, pending []byte) (Identity, error)
}

// ReplayKey names a verified upstream message that may be accepted only once
// (a SAML assertion or LogoutRequest ID), until ExpiresAt. A provider verifies
// and the broker records: the caller stores each key insert-once (store.Replay)
// and refuses the message if one was already stored, so that a sign-in can
// record its keys in the transaction that starts the session.
type ReplayKey struct {
	Key       string
	ExpiresAt time.Time
}

// BeginParams is what the broker knows when a sign-in starts.
type BeginParams struct {
	// CallbackURL is where the IdP sends the browser back: the OIDC
	// redirect_uri. SAML providers have their ACS URL fixed in Config and
	// ignore it.
	CallbackURL string
	// LoginHint is passed upstream as login_hint (OIDC). SAML does not send
	// it: a Subject in the AuthnRequest is rejected by many IdPs.
	LoginHint string
	// Reauthenticate asks the IdP to authenticate the person again even if
	// it has a session of its own: OIDC prompt=login and max_age=0 (OIDC
	// Core §3.1.2.1), SAML ForceAuthn="true" (saml-core §3.4.1). IdPs may
	// ignore it, so the broker checks Identity.AuthTime itself.
	Reauthenticate bool
	// SelectAccount asks the IdP to let the person choose the account (OIDC
	// prompt=select_account). SAML has no such request and ignores it.
	SelectAccount bool
	// ACRValues are the authentication context classes asked for, in order
	// of preference: OIDC acr_values; for SAML, the values that are SAML
	// AuthnContextClassRef URIs become a RequestedAuthnContext (exact). The
	// broker checks Identity.ACR itself when the client required one.
	ACRValues []string
	// Extra holds additional authorization parameters for this request
	// (ui_locales...). For OIDC they are added to the authorization request,
	// before the typed fields above, which win; parameters the provider
	// controls itself (state, nonce, code_challenge, redirect_uri,
	// client_id, response_type, scope) are refused. SAML understands
	// "prompt=login" (ForceAuthn), as Reauthenticate.
	Extra map[string]string
	// RelayState is the SAML RelayState to send (at most 80 bytes,
	// saml-bindings §3.5.3). The broker usually leaves it empty: pending
	// state travels in its own cookie.
	RelayState string
}

// Start tells the broker how to send the browser to the IdP: exactly one of
// RedirectURL or Form is set.
type Start struct {
	// RedirectURL is a URL to answer with 302/303.
	RedirectURL string
	// Form is an HTML form the broker renders and submits (auto-POST).
	Form *Form
	// Pending is opaque state to keep until the matching Complete call. It
	// contains secrets (PKCE verifier, nonce) and must be kept confidential.
	Pending []byte
}

// Form is an HTML form for the SAML HTTP-POST binding.
type Form struct {
	// Action is the URL the form posts to (from admin-approved metadata).
	Action string
	// Fields are hidden inputs, in a stable order.
	Fields []FormField
}

// FormField is one hidden input of a Form.
type FormField struct {
	Name, Value string
}

// Identity is who the IdP says the user is, after verification.
type Identity struct {
	// ProviderID is the ID of the provider that verified the response.
	ProviderID string
	// Subject is stable per provider; (ProviderID, Subject) is the key of a
	// federated identity (OIDC Core §5.7), never Email alone.
	Subject string
	// Email and EmailVerified come from the Mapping. An absent verified flag
	// is false.
	Email         string
	EmailVerified bool
	Name          string
	Groups        []string
	// Claims are the raw claims (OIDC) or attributes (SAML), untrusted text
	// for display and for role rules. SAML attributes map to []string.
	Claims map[string]any
	// AuthTime is when the user authenticated at the IdP (zero if unknown).
	AuthTime time.Time
	AMR      []string
	ACR      string
	// LogoutState is opaque, provider-specific state the broker stores with
	// the session and passes back in LogoutParams (OIDC: the ID token for
	// id_token_hint; SAML: NameID and SessionIndex). It may be nil.
	LogoutState []byte
	// LogoutKey is a non-secret key for the upstream principal (SAML: a hash
	// of the NameID) that UpstreamLogout.LogoutKey repeats, so an
	// IdP-initiated logout finds the sessions even when Subject is mapped
	// from another attribute. Empty if the provider has none.
	LogoutKey string
	// ReplayKeys must be recorded once before the Identity is used (SAML:
	// the assertion ID, SAML-23). They are not part of the Identity's JSON:
	// an Identity kept for later has had its keys recorded already.
	ReplayKeys []ReplayKey `json:"-"`
}

// LogoutProvider is implemented by providers that support upstream logout
// initiated by Gatehouse (OIDC RP-initiated logout, SAML SP-initiated SLO).
type LogoutProvider interface {
	Provider
	// BeginLogout returns where to send the browser to end the upstream
	// session. ok is false when the IdP offers no logout endpoint.
	BeginLogout(ctx context.Context, p LogoutParams) (s Start, ok bool, err error)
	// CompleteLogout validates the IdP's answer at the return URL (SAML
	// LogoutResponse; OIDC: the state parameter) against Start.Pending.
	CompleteLogout(ctx context.Context, r *http.Request, pending []byte) error
}

// LogoutParams is what the broker knows about a session it ends upstream.
type LogoutParams struct {
	// LogoutState is Identity.LogoutState from the sign-in.
	LogoutState []byte
	// ReturnURL is where the IdP should send the browser afterwards (OIDC
	// post_logout_redirect_uri; SAML providers use their SLO URL).
	ReturnURL string
}

// LogoutRequestHandler is implemented by providers whose IdP can start a
// logout (SAML IdP-initiated single logout).
type LogoutRequestHandler interface {
	Provider
	// HandleLogoutRequest validates a LogoutRequest from the IdP and returns
	// whose sessions to end and the response to send back once they ended.
	HandleLogoutRequest(ctx context.Context, r *http.Request) (UpstreamLogout, error)
}

// UpstreamLogout is a validated IdP-initiated logout.
type UpstreamLogout struct {
	// Subject is the Identity.Subject whose sessions end, when the IdP's
	// identifier is the subject; empty otherwise (use Match).
	Subject string
	// SessionIndexes, if not empty, limit the logout to those IdP sessions.
	SessionIndexes []string
	// LogoutKey is the Identity.LogoutKey of the principal named, to find
	// its sessions when Subject is empty.
	LogoutKey string
	// Match reports whether a session whose Identity.LogoutState is given
	// is one the IdP asked to end.
	Match func(logoutState []byte) bool
	// ReplayKeys must be recorded once before any session is ended (SAML:
	// the LogoutRequest ID).
	ReplayKeys []ReplayKey
	// Respond builds the answer to send the browser back with, once the
	// broker has ended the sessions: ended is how many. None means the
	// principal or its sessions were unknown here, which the answer says
	// rather than report success.
	Respond func(ended int) (Start, error)
}

// MetadataProvider is implemented by providers that publish metadata about
// Gatehouse to the IdP (SAML SP metadata).
type MetadataProvider interface {
	Provider
	// Metadata returns the XML document and its media type.
	Metadata() (body []byte, contentType string, err error)
}

// TokenVerifier is implemented by providers that can verify an upstream
// token presented directly to Gatehouse (RFC 8693 subject_token): an OIDC
// ID token, or a SAML 2.0 assertion (RFC 7522 encoding, base64url).
type TokenVerifier interface {
	Provider
	// VerifyToken returns the Identity the token asserts; as with Complete,
	// the caller must record Identity.ReplayKeys before using it.
	VerifyToken(ctx context.Context, p TokenParams) (Identity, error)
}

// TokenParams describes an upstream token presented for exchange.
type TokenParams struct {
	// Token is the compact JWS (OIDC) or base64url-encoded assertion (SAML).
	Token string
	// Recipient is the URL the token was presented at (the token endpoint);
	// a SAML bearer assertion must name it as Recipient (RFC 7522 §3).
	Recipient string
	// Audiences (OIDC) are the aud values an ID token may carry to be accepted: the client IDs of the
	// organisation's apps whose ID tokens the admin allowed for exchange. Empty accepts none. The
	// provider's own client ID counts only when listed.
	Audiences []string
	// OneTime (OIDC) asks for a replay key (the jti, or a SHA-256 of the token when it has none) that
	// expires with the token, so the caller accepts the token once. SAML assertions always have one.
	OneTime bool
}
