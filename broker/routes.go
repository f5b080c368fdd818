package broker

import (
	"net/http"
	"slices"

	"github.com/gatehouse/gatehouse/broker/admin"
	"github.com/gatehouse/gatehouse/broker/oauth"
	"github.com/gatehouse/gatehouse/broker/passkeys"
	"github.com/gatehouse/gatehouse/broker/signin"
	"github.com/gatehouse/gatehouse/broker/web"
	"github.com/gatehouse/gatehouse/static"
	"github.com/gatehouse/gatehouse/templates"
)

// routes is the whole route table, readable top to bottom. Each route says what kind
// of caller it serves, which decides its protections:
//   - page: a person's browser reading (GET).
//   - form: a person's browser changing state (POST): cross-origin refusal and a
//     CSRF token are checked before the handler runs.
//   - upstream: an identity provider's message carried by the browser, often a
//     cross-site POST (SAML): no CSRF token, because the message itself is
//     checked against the flow this browser started; its own body limit.
//   - endpoint: machines (health, metrics, discovery, OAuth endpoints): no cookies,
//     no CSRF; their own authentication where they need it.
//   - adminForm: a console form; the admin check runs first, then the CSRF
//     token (in broker/admin), so an anonymous POST is sent to sign in.
//   - adminAPI: the admin API (JSON, bearer tokens, RFC 9457 errors).
func (s *Server) routes() {
	in, o := s.signin, s.oauth
	s.page("GET /{$}", s.handleHome)
	s.endpoint("GET "+web.BrandCSSPath, s.web.Adapt(s.web.HandleBrandCSS))
	s.endpoint("GET /static/", static.Handler(s.web.Adapt(func(http.ResponseWriter, *http.Request) error { return web.ErrNotFound })))

	// Federated sign-in (issue 3).
	s.page("GET /login", in.HandleLogin)
	s.form("POST /login", in.HandleLoginSubmit)
	s.page("GET /login/{provider}", in.HandleLoginStart)
	s.page("GET /callback/{provider}", in.HandleCallback)
	s.page("GET /callback/{provider}/logout", in.HandleLogoutReturn)
	s.upstream("POST /saml/{provider}/acs", signin.ACSBodyLimit, in.HandleACS)
	s.page("GET /saml/{provider}/continue", in.HandleContinuePage)
	s.form("POST /saml/{provider}/continue", in.HandleContinue)
	s.page("GET "+signin.LinkChoicePath, in.HandleLinkChoicePage)
	s.form("POST "+signin.LinkChoicePath, in.HandleLinkChoice)
	s.endpoint("GET /saml/{provider}/metadata", s.web.Adapt(in.HandleSAMLMetadata))
	s.upstream("GET /saml/{provider}/slo", web.DefaultBodyLimit, in.HandleSAMLSLO)
	s.upstream("POST /saml/{provider}/slo", web.DefaultBodyLimit, in.HandleSAMLSLO)
	s.page("GET /account", in.HandleAccount)
	s.page("GET /account/sessions/end", in.HandleSessionEndPage)
	s.form("POST /account/sessions/end", in.HandleSessionEnd)
	s.form("POST /account/link", in.HandleLink)
	s.form("POST /account/unlink", in.HandleUnlink)
	s.page("GET /logout", in.HandleLogoutPage)
	s.form("POST /logout", in.HandleLogout)
	s.page("GET /signed-out", in.HandleSignedOut)
	s.page("GET "+templates.LanguagePath, in.HandleLanguage)

	// Security keys and passkeys (issue 15): the ceremonies' POSTs are forms
	// (CSRF token, same-origin) that answer JSON to static/webauthn.js.
	pk := s.passkeys
	s.page("GET "+passkeys.KeysPath, pk.HandleKeys)
	s.form("POST "+passkeys.KeysPath+"/options", pk.HandleRegisterOptions)
	s.form("POST "+passkeys.KeysPath, pk.HandleRegister)
	s.page("GET "+passkeys.KeysPath+"/{id}/remove", pk.HandleRemovePage)
	s.form("POST "+passkeys.KeysPath+"/{id}/remove", pk.HandleRemove)
	s.page("GET "+web.StepUpPath, pk.HandleStepUpPage)
	s.form("POST "+web.StepUpPath+"/options", pk.HandleStepUpOptions)
	s.form("POST "+web.StepUpPath, pk.HandleStepUp)

	// Delegated access (issue 11).
	dl := s.delegation
	s.page("GET /account/delegations", dl.HandleList)
	s.page("GET /account/delegations/new", dl.HandleGivePage)
	s.form("POST /account/delegations/new", dl.HandleGiveSubmit)
	s.form("POST /account/delegations/new/confirm", dl.HandleGiveConfirm)
	s.page("GET /account/delegations/{id}/revoke", dl.HandleRevokePage)
	s.form("POST /account/delegations/{id}/revoke", dl.HandleRevoke)
	s.page("GET /account/delegations/{id}/decline", dl.HandleDeclinePage)
	s.form("POST /account/delegations/{id}/decline", dl.HandleDecline)
	s.page("GET /account/delegations/{id}/activity", dl.HandleActivity)

	s.endpoint("GET /healthz", http.HandlerFunc(s.handleHealthz))
	s.endpoint("GET /readyz", http.HandlerFunc(s.handleReadyz))
	s.endpoint("GET /metrics", s.web.Metrics.Handler())

	s.endpoint("GET /.well-known/openid-configuration", http.HandlerFunc(o.HandleDiscovery))
	s.endpoint("GET /.well-known/oauth-authorization-server", http.HandlerFunc(o.HandleDiscovery))
	s.endpoint("GET /oauth2/jwks", s.web.Adapt(o.HandleJWKS))
	s.oauthEndpoint("POST /oauth2/token", o.HandleToken)
	s.oauthEndpoint("POST /oauth2/introspect", o.HandleIntrospect)
	s.oauthEndpoint("POST /oauth2/revoke", o.HandleRevoke)
	// Devices without a browser (RFC 8628): the device asks here, the person
	// enters its code on /device.
	s.oauthEndpoint("POST "+oauth.DeviceAuthorizationPath, o.HandleDeviceAuthorization)
	s.endpoint("GET /oauth2/userinfo", http.HandlerFunc(o.HandleUserInfo))
	s.endpoint("POST /oauth2/userinfo", http.HandlerFunc(o.HandleUserInfo))

	// The browser side of OAuth (issue 4). Authorization requests arrive from any
	// site, by GET or by an application's auto-POST, so they are pages, not forms;
	// the consent decision and the revocation of an app are forms.
	s.page("GET /oauth2/authorize", o.HandleAuthorize)
	s.page("POST /oauth2/authorize", o.HandleAuthorize)
	s.page("GET /oauth2/authorize/resume", o.HandleAuthorizeResume)
	s.form("POST /oauth2/consent", o.HandleConsentSubmit)
	s.page("GET /account/apps/revoke", o.HandleConsentRevokePage)
	s.form("POST /account/apps/revoke", o.HandleConsentRevoke)
	s.page("GET /oauth2/logout", o.HandleEndSession)
	s.page("POST /oauth2/logout", o.HandleEndSession)
	s.form("POST /oauth2/logout/confirm", o.HandleEndSessionConfirm)
	s.page("GET "+oauth.DevicePath, o.HandleDevicePage)
	s.form("POST "+oauth.DevicePath, o.HandleDeviceSubmit)
	s.form("POST "+oauth.DevicePath+"/confirm", o.HandleDeviceConfirm)

	// Administration (issue 12): every console handler and admin API call checks
	// its caller itself (admin.Server.console, api: signed-in, admin, a fresh
	// sign-in; a token with the gatehouse:admin scope), so none can be routed
	// unguarded; TestADM01 calls every route below /admin and /api/admin. The
	// bootstrap link and the OpenAPI document are the two public ones.
	ad := s.admin
	s.page("GET /admin", ad.HandleHome)
	s.page("GET /admin/apis", ad.HandleAPIs)
	s.page("GET /admin/apis/new", ad.HandleAPINew)
	s.adminForm("POST /admin/apis/new", ad.HandleAPICreate)
	s.page("GET /admin/apis/{id}", ad.HandleAPIEdit)
	s.adminForm("POST /admin/apis/{id}", ad.HandleAPIUpdate)
	s.page("GET /admin/apis/{id}/delete", ad.HandleAPIDeleteConfirm)
	s.adminForm("POST /admin/apis/{id}/delete", ad.HandleAPIDelete)
	s.page("GET /admin/providers", ad.HandleProviders)
	s.page("GET /admin/providers/new", ad.HandleProviderNew)
	s.adminForm("POST /admin/providers/new/oidc", ad.HandleProviderNewOIDC)
	s.adminForm("POST /admin/providers/new/saml", ad.HandleProviderNewSAML)
	s.page("GET /admin/providers/{id}", ad.HandleProviderEdit)
	s.adminForm("POST /admin/providers/{id}", ad.HandleProviderUpdate)
	s.adminForm("POST /admin/providers/{id}/enable", ad.HandleProviderEnable)
	s.page("GET /admin/providers/{id}/disable", ad.HandleProviderDisableConfirm)
	s.adminForm("POST /admin/providers/{id}/disable", ad.HandleProviderDisable)
	s.page("GET /admin/providers/{id}/delete", ad.HandleProviderDeleteConfirm)
	s.adminForm("POST /admin/providers/{id}/delete", ad.HandleProviderDelete)
	s.adminForm("POST /admin/providers/{id}/test", ad.HandleProviderTest)
	s.page("GET /admin/providers/{id}/test", ad.HandleProviderTestResult)
	s.adminAPI("POST /api/admin/v1/providers/{id}/test-sign-ins", ad.ProviderTestStartAPI)
	s.adminAPI("GET /api/admin/v1/test-sign-ins/{id}", ad.TestSignInResultAPI)
	// An API caller's test sign-in runs in any browser, with no session: its
	// sealed one-time ticket says for whom (signin.HandleTestTicket).
	s.page("GET "+web.TestTicketPath, in.HandleTestTicket)
	s.adminAPI("GET /api/admin/v1/providers", ad.ProviderList)
	s.adminAPI("POST /api/admin/v1/providers", ad.ProviderCreate)
	s.adminAPI("POST /api/admin/v1/providers/discover", ad.ProviderDiscover)
	s.adminAPI("GET /api/admin/v1/providers/{id}", ad.ProviderGet)
	s.adminAPI("PUT /api/admin/v1/providers/{id}", ad.ProviderUpdate)
	s.adminAPI("DELETE /api/admin/v1/providers/{id}", ad.ProviderDelete)
	s.adminAPI("POST /api/admin/v1/providers/{id}/enable", ad.ProviderEnable)
	s.adminAPI("POST /api/admin/v1/providers/{id}/disable", ad.ProviderDisable)
	s.page("GET "+admin.BootstrapPath, ad.HandleBootstrap)
	s.form("POST "+admin.BootstrapPath, ad.HandleBootstrapSubmit)
	s.adminAPI("GET /api/admin/v1/openapi.json", ad.HandleOpenAPI)
	s.adminAPI("GET /api/admin/v1/apis", ad.APIList)
	s.adminAPI("POST /api/admin/v1/apis", ad.APICreate)
	s.adminAPI("GET /api/admin/v1/apis/{id}", ad.APIGet)
	s.adminAPI("PUT /api/admin/v1/apis/{id}", ad.APIUpdate)
	s.adminAPI("DELETE /api/admin/v1/apis/{id}", ad.APIDelete)
	// Apps (OAuth clients): the secret is shown only in the answer to a create
	// or a rotation (ADM-12).
	s.page("GET /admin/apps", ad.HandleApps)
	s.page("GET /admin/apps/new", ad.HandleAppNew)
	s.adminForm("POST /admin/apps/new", ad.HandleAppCreate)
	s.page("GET /admin/apps/{id}", ad.HandleAppEdit)
	s.adminForm("POST /admin/apps/{id}", ad.HandleAppUpdate)
	s.page("GET /admin/apps/{id}/rotate-secret", ad.HandleAppRotateConfirm)
	s.adminForm("POST /admin/apps/{id}/rotate-secret", ad.HandleAppRotate)
	s.page("GET /admin/apps/{id}/delete", ad.HandleAppDeleteConfirm)
	s.adminForm("POST /admin/apps/{id}/delete", ad.HandleAppDelete)
	s.adminAPI("GET /api/admin/v1/clients", ad.ClientList)
	s.adminAPI("POST /api/admin/v1/clients", ad.ClientCreate)
	s.adminAPI("GET /api/admin/v1/clients/{id}", ad.ClientGet)
	s.adminAPI("PUT /api/admin/v1/clients/{id}", ad.ClientUpdate)
	s.adminAPI("DELETE /api/admin/v1/clients/{id}", ad.ClientDelete)
	s.adminAPI("POST /api/admin/v1/clients/{id}/rotate-secret", ad.ClientRotateSecret)
	// People (issue 12): search, a person's page, and what ends or changes
	// their access, each destructive action after a confirmation page.
	s.page("GET /admin/people", ad.HandlePeople)
	s.page("GET /admin/people/{id}", ad.HandlePerson)
	s.page("GET /admin/people/{id}/disable", ad.HandlePersonConfirm("disable"))
	s.adminForm("POST /admin/people/{id}/disable", ad.HandlePersonAction("disable"))
	s.adminForm("POST /admin/people/{id}/enable", ad.HandlePersonAction("enable"))
	s.page("GET /admin/people/{id}/sign-out", ad.HandlePersonConfirm("sign-out"))
	s.adminForm("POST /admin/people/{id}/sign-out", ad.HandlePersonAction("sign-out"))
	s.adminForm("POST /admin/people/{id}/roles", ad.HandlePersonRoleGrant)
	s.page("GET /admin/people/{id}/roles/{role}/revoke", ad.HandlePersonRoleRevokeConfirm)
	s.adminForm("POST /admin/people/{id}/roles/{role}/revoke", ad.HandlePersonRoleRevoke)
	s.page("GET /admin/people/{id}/security-keys", ad.HandlePersonKeys)
	s.page("GET /admin/people/{id}/security-keys/{key}/remove", ad.HandlePersonKeyRemoveConfirm)
	s.adminForm("POST /admin/people/{id}/security-keys/{key}/remove", ad.HandlePersonKeyRemove)
	s.adminAPI("GET /api/admin/v1/users/{id}/security-keys", ad.UserSecurityKeysAPI)
	s.adminAPI("DELETE /api/admin/v1/users/{id}/security-keys/{key}", ad.UserSecurityKeyDeleteAPI)
	s.adminAPI("GET /api/admin/v1/users", ad.UserSearchAPI)
	s.adminAPI("GET /api/admin/v1/users/{id}", ad.UserGetAPI)
	s.adminAPI("POST /api/admin/v1/users/{id}/disable", ad.UserActionAPI("disable"))
	s.adminAPI("POST /api/admin/v1/users/{id}/enable", ad.UserActionAPI("enable"))
	s.adminAPI("POST /api/admin/v1/users/{id}/sign-out", ad.UserActionAPI("sign-out"))
	s.adminAPI("PUT /api/admin/v1/users/{id}/roles/{role}", ad.UserRoleGrantAPI)
	s.adminAPI("DELETE /api/admin/v1/users/{id}/roles/{role}", ad.UserRoleRevokeAPI)
	// The audit log (issue 12): filter, page, export.
	s.page("GET /admin/audit", ad.HandleAudit)
	s.page("GET /admin/audit/export.csv", ad.HandleAuditExportCSV)
	s.page("GET /admin/audit/export.jsonl", ad.HandleAuditExportJSONL)
	s.adminAPI("GET /api/admin/v1/audit", ad.AuditList)
	s.adminAPI("GET /api/admin/v1/audit/export.csv", ad.AuditExportCSV)
	s.adminAPI("GET /api/admin/v1/audit/export.jsonl", ad.AuditExportJSONL)

	s.unmatched = s.web.Metrics.Instrument("unmatched", s.web.Adapt(s.handleUnmatched))
}

func (s *Server) page(pattern string, h web.HandlerFunc) {
	s.patterns = append(s.patterns, pattern)
	s.mux.Handle(pattern, s.web.Metrics.Instrument(pattern, s.web.LimitBody(web.DefaultBodyLimit, s.web.Adapt(h))))
}

func (s *Server) form(pattern string, h web.HandlerFunc) {
	s.patterns = append(s.patterns, pattern)
	s.forms = append(s.forms, pattern)
	s.mux.Handle(pattern, s.web.Metrics.Instrument(pattern, s.web.LimitBody(web.DefaultBodyLimit, s.web.Adapt(func(w http.ResponseWriter, r *http.Request) error {
		if err := s.web.CheckCSRF(r); err != nil {
			return err
		}
		return h(w, r)
	}))))
}

// oauthEndpoint is an endpoint for OAuth clients: errors, an oversized body included,
// are RFC 6749 §5.2 JSON, never a page.
func (s *Server) oauthEndpoint(pattern string, h web.HandlerFunc) {
	s.patterns = append(s.patterns, pattern)
	adapted := s.web.AdaptOAuth(h)
	s.mux.Handle(pattern, s.web.Metrics.Instrument(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > oauth.BodyLimit {
			w.Header().Set("Connection", "close")
			s.web.WriteOAuthError(w, r, &http.MaxBytesError{Limit: oauth.BodyLimit})
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, oauth.BodyLimit)
		adapted.ServeHTTP(w, r)
	})))
}

func (s *Server) endpoint(pattern string, h http.Handler) {
	s.patterns = append(s.patterns, pattern)
	s.mux.Handle(pattern, s.web.Metrics.Instrument(pattern, s.web.LimitBody(web.DefaultBodyLimit, h)))
}

func (s *Server) upstream(pattern string, limit int64, h web.HandlerFunc) {
	s.patterns = append(s.patterns, pattern)
	s.mux.Handle(pattern, s.web.Metrics.Instrument(pattern, s.web.LimitBody(limit, s.web.Adapt(h))))
}

// adminForm is a console form: h (broker/admin) checks the admin, then the CSRF
// token, so that an anonymous POST is sent to sign in rather than refused.
func (s *Server) adminForm(pattern string, h web.HandlerFunc) {
	s.patterns = append(s.patterns, pattern)
	s.forms = append(s.forms, pattern)
	s.mux.Handle(pattern, s.web.Metrics.Instrument(pattern, s.web.LimitBody(web.DefaultBodyLimit, s.web.Adapt(h))))
}

// adminAPI is an admin API route: h authenticates the bearer token and answers
// errors as problem details.
func (s *Server) adminAPI(pattern string, h http.HandlerFunc) {
	s.patterns = append(s.patterns, pattern)
	s.mux.Handle(pattern, s.web.Metrics.Instrument(pattern, s.web.LimitBody(admin.BodyLimit, h)))
}

// Routes lists every route pattern of the table, in order, so that tests can
// hold each to its protections (ADM-01 calls every admin route).
func (s *Server) Routes() []string { return slices.Clone(s.patterns) }
