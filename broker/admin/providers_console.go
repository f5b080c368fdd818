package admin

import (
	"context"
	"errors"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/crewjam/saml/samlsp"

	"github.com/gatehouse/gatehouse/broker/operations"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/upstream"
	"github.com/gatehouse/gatehouse/broker/web"
	"github.com/gatehouse/gatehouse/providers"
	"github.com/gatehouse/gatehouse/providers/saml"
	"github.com/gatehouse/gatehouse/templates"
)

// The identity providers in the console: the list with each one's status,
// adding one in two steps (the OIDC issuer's discovery, or the SAML IdP's
// metadata, shown for confirmation first), the edit form (from the version
// read, DATA-11), and enable, disable and delete (the last two confirmed,
// saying what they end).

const providersPath = "/admin/providers"

// HandleProviders is the console's list of identity providers.
func (a *Server) HandleProviders(w http.ResponseWriter, r *http.Request) error {
	return a.console(w, r, func(w http.ResponseWriter, r *http.Request, p person) error {
		list, err := a.ops.ListProviders(r.Context())
		if err != nil {
			return err
		}
		v := templates.AdminProvidersView{Page: a.page("Identity providers", p), Notice: providerNotice(r.URL.Query().Get("done"))}
		ids := make([]string, len(list))
		for i, cfg := range list {
			ids[i] = cfg.ID
		}
		last, err := a.lastSignIns(r.Context(), ids...)
		if err != nil {
			return err
		}
		for _, cfg := range list {
			pv, err := a.viewOf(cfg)
			if err != nil {
				return err
			}
			st, err := a.status(r.Context(), pv, last)
			if err != nil {
				return err
			}
			row := templates.AdminProviderRow{ID: cfg.ID, Name: cfg.Name, Kind: cfg.Kind, Enabled: cfg.Enabled,
				Linked: st.LinkedPeople, CertWarn: st.CertWarning}
			if st.LastSignInAt != nil {
				row.LastSignIn = templates.When{At: *st.LastSignInAt, Now: a.Now()}
			}
			if st.LastErrorAt != nil {
				row.LastErrorAt, row.LastError = templates.When{At: *st.LastErrorAt, Now: a.Now()}, st.LastError
			}
			if st.CertExpiresAt != nil {
				row.CertExpiry = *st.CertExpiresAt
			}
			if pv.saml != nil {
				row.MetadataFetched = templates.When{At: pv.saml.MetadataFetchedAt, Now: a.Now()}
				row.MetadataUploaded = pv.saml.MetadataFetchedAt.IsZero()
			}
			v.Providers = append(v.Providers, row)
		}
		return web.Render(w, r, http.StatusOK, templates.AdminProviders(v))
	})
}

func providerNotice(done string) templates.Msg {
	switch done {
	case "created":
		return templates.M("The identity provider was added.")
	case "updated":
		return templates.M("The identity provider was saved.")
	case "deleted":
		return templates.M("The identity provider was deleted.")
	case "enabled":
		return templates.M("The identity provider was enabled.")
	case "disabled":
		return templates.M("The identity provider was disabled.")
	}
	return templates.Msg{}
}

// HandleProviderNew starts adding a provider: an OIDC issuer or SAML metadata.
func (a *Server) HandleProviderNew(w http.ResponseWriter, r *http.Request) error {
	return a.console(w, r, func(w http.ResponseWriter, r *http.Request, p person) error {
		return a.renderProviderNew(w, r, p, http.StatusOK, templates.AdminProviderNewView{})
	})
}

func (a *Server) renderProviderNew(w http.ResponseWriter, r *http.Request, p person, status int, v templates.AdminProviderNewView) error {
	v.Page = a.page("Add an identity provider", p)
	v.OIDCAction, v.SAMLAction = providersPath+"/new/oidc", providersPath+"/new/saml"
	var err error
	if v.OIDCCSRF, err = a.web.CSRFToken(w, r, v.OIDCAction); err != nil {
		return err
	}
	if v.SAMLCSRF, err = a.web.CSRFToken(w, r, v.SAMLAction); err != nil {
		return err
	}
	return web.Render(w, r, status, templates.AdminProviderNew(v))
}

// HandleProviderNewOIDC is both steps of adding an OIDC provider: the issuer
// is looked up (discovery through the outbound guard, ADM-06/07/10) and shown
// with the rest of the form; that form, sent back (step=save), adds it.
func (a *Server) HandleProviderNewOIDC(w http.ResponseWriter, r *http.Request) error {
	return a.console(w, r, func(w http.ResponseWriter, r *http.Request, p person) error {
		issuer := strings.TrimSpace(r.PostFormValue("issuer"))
		v := templates.AdminProviderFormView{New: true, Action: providersPath + "/new/oidc"}
		if r.PostFormValue("step") == "save" {
			return a.createFromForm(w, r, p, v, upstream.KindOIDC)
		}
		d, err := a.ops.Upstream.FetchDiscovery(r.Context(), issuer)
		if err != nil {
			if !errors.Is(err, providers.ErrConfig) && !errors.Is(err, providers.ErrUnavailable) {
				return err
			}
			return a.renderProviderNew(w, r, p, http.StatusUnprocessableEntity, templates.AdminProviderNewView{Issuer: issuer, Problems: discoveryMsgs(err)})
		}
		v.Discovery = &templates.AdminDiscovery{Issuer: d.Issuer, Authorization: d.AuthorizationEndpoint, Token: d.TokenEndpoint,
			Userinfo: d.UserinfoEndpoint, JWKS: d.JWKSURI, EndSession: d.EndSessionEndpoint,
			Algorithms: strings.Join(d.SigningAlgs, " "), PKCE: d.PKCE()}
		v.Fields = templates.AdminProviderFields{Kind: upstream.KindOIDC, Issuer: d.Issuer, Scopes: "openid email profile"}
		return a.renderProviderForm(w, r, p, http.StatusOK, v)
	})
}

// HandleProviderNewSAML is both steps of adding a SAML provider: the metadata
// (fetched from its URL through the outbound guard, or uploaded; ADM-15: a
// DOCTYPE or an oversized document is refused) is shown with the rest of the
// form; that form, sent back (step=save), adds it.
func (a *Server) HandleProviderNewSAML(w http.ResponseWriter, r *http.Request) error {
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		// The uploaded file's form: the CSRF check reads its token from
		// PostForm, which ParseForm leaves empty for a multipart body. The
		// route's body limit bounds what is read.
		if err := r.ParseMultipartForm(web.DefaultBodyLimit); err != nil {
			if web.IsBodyTooLarge(err) {
				return err
			}
			return &web.UserError{Status: http.StatusBadRequest, Title: "Request not understood",
				Message: "The form could not be read.", Next: "Go back, reload the page and try again.", Err: err}
		}
	}
	return a.console(w, r, func(w http.ResponseWriter, r *http.Request, p person) error {
		v := templates.AdminProviderFormView{New: true, Action: providersPath + "/new/saml"}
		if r.PostFormValue("step") == "save" {
			return a.createFromForm(w, r, p, v, upstream.KindSAML)
		}
		mdURL := strings.TrimSpace(r.PostFormValue("metadata_url"))
		var xml []byte
		var err error
		if f, _, ferr := r.FormFile("metadata_file"); ferr == nil {
			xml, err = io.ReadAll(io.LimitReader(f, saml.MaxMetadataBytes+1))
			f.Close()
			if err == nil {
				err = a.ops.Upstream.CheckMetadata(xml)
			}
			mdURL = ""
		} else if mdURL != "" {
			xml, err = a.ops.Upstream.FetchMetadata(r.Context(), mdURL)
		} else {
			return a.renderProviderNew(w, r, p, http.StatusUnprocessableEntity, templates.AdminProviderNewView{
				Problems: []templates.Msg{templates.M("Give the metadata URL or the metadata file.")}})
		}
		if err != nil {
			if !errors.Is(err, providers.ErrConfig) && !errors.Is(err, providers.ErrUnavailable) && !web.IsBodyTooLarge(err) {
				return err
			}
			return a.renderProviderNew(w, r, p, http.StatusUnprocessableEntity, templates.AdminProviderNewView{MetadataURL: mdURL,
				Problems: []templates.Msg{templates.M("The metadata cannot be used: %s", upstreamMsg(err))}})
		}
		v.Metadata = a.metadataView(string(xml))
		// Requests are signed unless the admin unchecks it (upstream.SAMLSettings.SignRequests).
		v.Fields = templates.AdminProviderFields{Kind: upstream.KindSAML, MetadataURL: mdURL, SignRequests: true}
		if mdURL == "" {
			v.Fields.MetadataXML = string(xml)
		}
		return a.renderProviderForm(w, r, p, http.StatusOK, v)
	})
}

// metadataView is IdP metadata as the admin confirms it.
func (a *Server) metadataView(xml string) *templates.AdminSAMLMetadata {
	md, err := samlsp.ParseMetadata([]byte(xml))
	if err != nil {
		return nil
	}
	v := &templates.AdminSAMLMetadata{EntityID: md.EntityID}
	for _, d := range md.IDPSSODescriptors {
		for _, s := range d.SingleSignOnServices {
			v.SSO = append(v.SSO, s.Location+" ("+strings.TrimPrefix(s.Binding, "urn:oasis:names:tc:SAML:2.0:bindings:")+")")
		}
		for _, s := range d.SingleLogoutServices {
			v.SLO = append(v.SLO, s.Location+" ("+strings.TrimPrefix(s.Binding, "urn:oasis:names:tc:SAML:2.0:bindings:")+")")
		}
	}
	for _, c := range idpCerts(xml) {
		v.Certs = append(v.Certs, templates.AdminCert{Subject: c.Subject.String(), NotAfter: c.NotAfter,
			Soon: c.NotAfter.Sub(a.Now()) < CertWarning})
	}
	return v
}

// createFromForm adds the provider of the second step's form.
func (a *Server) createFromForm(w http.ResponseWriter, r *http.Request, p person, v templates.AdminProviderFormView, kind string) error {
	v.Fields = fieldsFromForm(r)
	v.Fields.Kind = kind
	spec, problems := specFromFields(v.Fields, nil)
	spec.ClientSecret = r.PostFormValue("client_secret")
	if len(problems) > 0 {
		v.Problems = problems
		return a.renderProviderForm(w, r, p, http.StatusUnprocessableEntity, v)
	}
	ch, err := a.ops.CreateProvider(r.Context(), p.Actor, spec)
	if err != nil {
		return a.providerFormRefusal(w, r, p, v, err)
	}
	http.Redirect(w, r, providersPath+"/"+ch.Provider.ID+"?done=created", http.StatusSeeOther)
	return nil
}

// HandleProviderEdit is a provider's page: its form, its state and, for SAML,
// what to give the IdP.
func (a *Server) HandleProviderEdit(w http.ResponseWriter, r *http.Request) error {
	return a.console(w, r, func(w http.ResponseWriter, r *http.Request, p person) error {
		cfg, err := a.ops.GetProvider(r.Context(), r.PathValue("id"))
		if err != nil {
			return providerPageErr(err)
		}
		pv, err := a.viewOf(cfg)
		if err != nil {
			return err
		}
		v := templates.AdminProviderFormView{Fields: fieldsOf(pv), Version: cfg.Version, Notice: providerNotice(r.URL.Query().Get("done"))}
		return a.renderProviderEdit(w, r, p, http.StatusOK, v, pv)
	})
}

func (a *Server) renderProviderEdit(w http.ResponseWriter, r *http.Request, p person, status int, v templates.AdminProviderFormView, pv providerView) error {
	id := pv.cfg.ID
	v.Action, v.Back, v.Enabled = providersPath+"/"+id, providersPath+"/"+id, pv.cfg.Enabled
	if pv.saml != nil {
		ep := upstream.EndpointsFor(a.web.Config.Issuer, id)
		v.SP = &templates.AdminSPInfo{MetadataURL: ep.Metadata, EntityID: ep.EntityID, ACS: ep.ACS, Certificate: pv.saml.SPCertificatePEM}
		v.Metadata = a.metadataView(pv.saml.MetadataXML)
	}
	var err error
	if v.EnableCSRF, err = a.web.CSRFToken(w, r, v.Back+"/enable"); err != nil {
		return err
	}
	if v.TestCSRF, err = a.web.CSRFToken(w, r, v.Back+"/test"); err != nil {
		return err
	}
	if a.tester != nil {
		a.tester.AllowTest(w, r, id)
	}
	return a.renderProviderForm(w, r, p, status, v)
}

func (a *Server) renderProviderForm(w http.ResponseWriter, r *http.Request, p person, status int, v templates.AdminProviderFormView) error {
	title := "Add an identity provider"
	v.Heading = templates.M("Add an identity provider")
	if !v.New {
		title, v.Heading = "Identity provider", templates.M("Identity provider %s", v.Fields.Name)
	}
	v.Page = a.page(title, p)
	var err error
	if v.CSRF, err = a.web.CSRFToken(w, r, v.Action); err != nil {
		return err
	}
	return web.Render(w, r, status, templates.AdminProviderForm(v))
}

// HandleProviderUpdate saves the edit form from the version it was read at
// (DATA-11): a stale one shows what is stored and what differs from the edit.
func (a *Server) HandleProviderUpdate(w http.ResponseWriter, r *http.Request) error {
	return a.console(w, r, func(w http.ResponseWriter, r *http.Request, p person) error {
		cur, err := a.ops.GetProvider(r.Context(), r.PathValue("id"))
		if err != nil {
			return providerPageErr(err)
		}
		pv, err := a.viewOf(cur)
		if err != nil {
			return err
		}
		version, _ := strconv.ParseInt(r.PostFormValue("version"), 10, 64)
		if version <= 0 {
			return &web.UserError{Status: http.StatusBadRequest, Title: "Request not understood",
				Message: "The form lacks the version it was read at.", Next: "Open the provider again and repeat the change."}
		}
		yours := fieldsFromForm(r)
		yours.ID, yours.Kind = cur.ID, cur.Kind
		v := templates.AdminProviderFormView{Fields: yours, Version: version}
		spec, problems := specFromFields(yours, &pv)
		spec.ClientSecret = r.PostFormValue("client_secret") // empty keeps the stored one
		if len(problems) > 0 {
			v.Problems = problems
			return a.renderProviderEdit(w, r, p, http.StatusUnprocessableEntity, v, pv)
		}
		_, err = a.ops.UpdateProvider(r.Context(), p.Actor, spec, version)
		if errors.Is(err, operations.ErrConflict) && cur.Version != version {
			stored := fieldsOf(pv)
			v.Fields, v.Version, v.Conflict = stored, cur.Version, fieldChanges(stored, yours)
			return a.renderProviderEdit(w, r, p, http.StatusConflict, v, pv)
		}
		if err != nil {
			var inv *operations.Invalid
			if errors.As(err, &inv) || errors.Is(err, providers.ErrUnavailable) || errors.Is(err, operations.ErrConflict) {
				v.Problems = refusalProblems(err)
				return a.renderProviderEdit(w, r, p, http.StatusUnprocessableEntity, v, pv)
			}
			return providerPageErr(err)
		}
		http.Redirect(w, r, providersPath+"?done=updated", http.StatusSeeOther)
		return nil
	})
}

// providerFormRefusal shows an operation's refusal on the add form.
func (a *Server) providerFormRefusal(w http.ResponseWriter, r *http.Request, p person, v templates.AdminProviderFormView, err error) error {
	var inv *operations.Invalid
	switch {
	case errors.As(err, &inv) || errors.Is(err, providers.ErrUnavailable):
		v.Problems = refusalProblems(err)
		return a.renderProviderForm(w, r, p, http.StatusUnprocessableEntity, v)
	case errors.Is(err, operations.ErrConflict):
		v.Problems = []templates.Msg{operations.Message(err)}
		return a.renderProviderForm(w, r, p, http.StatusConflict, v)
	}
	return providerPageErr(err)
}

// refusalProblems are an operation's refusal on the provider form, in the
// page's language (operations.Invalid's Messages, upstream's and the
// operations' catalogue messages).
func refusalProblems(err error) []templates.Msg {
	var inv *operations.Invalid
	if errors.As(err, &inv) {
		return inv.Messages
	}
	if errors.Is(err, providers.ErrUnavailable) {
		return []templates.Msg{templates.M("The provider could not be reached: %s", upstreamMsg(err))}
	}
	return []templates.Msg{operations.Message(err)}
}

// discoveryMsgs are discoveryProblems on the console's page, in its language.
func discoveryMsgs(err error) []templates.Msg {
	if errors.Is(err, providers.ErrUnavailable) {
		return []templates.Msg{templates.M("The issuer's discovery document could not be fetched: %s", upstreamMsg(err))}
	}
	return upstream.Messages(err)
}

// upstreamMsg is unwrapMsg for a page: the reason an IdP's document could not
// be fetched or used, as one message in the page's language.
func upstreamMsg(err error) templates.Msg {
	if msgs := upstream.Messages(err); len(msgs) == 1 {
		return msgs[0]
	}
	return templates.M("%s", unwrapMsg(err))
}

// HandleProviderEnable enables a provider (not destructive: no confirmation).
func (a *Server) HandleProviderEnable(w http.ResponseWriter, r *http.Request) error {
	return a.console(w, r, func(w http.ResponseWriter, r *http.Request, p person) error {
		version, _ := strconv.ParseInt(r.PostFormValue("version"), 10, 64)
		if _, err := a.ops.EnableProvider(r.Context(), p.Actor, operations.ProviderRef{ID: r.PathValue("id"), Version: version}); err != nil {
			return providerPageErr(err)
		}
		http.Redirect(w, r, providersPath+"?done=enabled", http.StatusSeeOther)
		return nil
	})
}

// consequences says what disabling or deleting the provider ends, in counts.
func (a *Server) consequences(ctx context.Context, cfg store.ProviderConfig, deleting bool) ([]templates.Msg, error) {
	linked, err := a.ops.Store.Identities().CountForProvider(ctx, cfg.ID)
	if err != nil {
		return nil, err
	}
	sessions, err := a.ops.Store.Sessions().ListForProvider(ctx, cfg.ID)
	if err != nil {
		return nil, err
	}
	out := []templates.Msg{templates.M("%d sessions signed in with it end at once, and the tokens issued under them are revoked.", len(sessions))}
	if deleting {
		out = append(out, templates.M("The %d identities linked at it are removed: those people keep their accounts and can sign in with another provider they have linked; whoever has no other cannot sign in any more.", linked),
			templates.M("Apps allowed to exchange its tokens lose that permission."))
	} else {
		out = append(out, templates.M("The %d people linked at it cannot sign in with it until it is enabled again; their identities stay linked.", linked))
	}
	return out, nil
}

// HandleProviderDisableConfirm asks before disabling a provider.
func (a *Server) HandleProviderDisableConfirm(w http.ResponseWriter, r *http.Request) error {
	return a.providerConfirm(w, r, false)
}

// HandleProviderDeleteConfirm asks before deleting a provider.
func (a *Server) HandleProviderDeleteConfirm(w http.ResponseWriter, r *http.Request) error {
	return a.providerConfirm(w, r, true)
}

func (a *Server) providerConfirm(w http.ResponseWriter, r *http.Request, deleting bool) error {
	return a.console(w, r, func(w http.ResponseWriter, r *http.Request, p person) error {
		cfg, err := a.ops.GetProvider(r.Context(), r.PathValue("id"))
		if err != nil {
			return providerPageErr(err)
		}
		cons, err := a.consequences(r.Context(), cfg, deleting)
		if err != nil {
			return err
		}
		back := providersPath + "/" + cfg.ID
		v := templates.AdminProviderConfirmView{Page: a.page("Disable an identity provider", p), Action: back + "/disable", Back: back,
			Version: cfg.Version, Heading: templates.M("Disable %s", cfg.Name),
			Question: templates.M("Disable the identity provider %s (%s)?", cfg.Name, cfg.ID), Consequences: cons, Button: templates.M("Disable")}
		if deleting {
			v.Page, v.Action = a.page("Delete an identity provider", p), back+"/delete"
			v.Heading, v.Question = templates.M("Delete %s", cfg.Name), templates.M("Delete the identity provider %s (%s)?", cfg.Name, cfg.ID)
			v.Button = templates.M("Delete")
		}
		if v.CSRF, err = a.web.CSRFToken(w, r, v.Action); err != nil {
			return err
		}
		return web.Render(w, r, http.StatusOK, templates.AdminProviderConfirm(v))
	})
}

// HandleProviderDisable disables a provider, from the confirmation page.
func (a *Server) HandleProviderDisable(w http.ResponseWriter, r *http.Request) error {
	return a.console(w, r, func(w http.ResponseWriter, r *http.Request, p person) error {
		version, _ := strconv.ParseInt(r.PostFormValue("version"), 10, 64)
		if _, err := a.ops.DisableProvider(r.Context(), p.Actor, operations.ProviderRef{ID: r.PathValue("id"), Version: version}); err != nil {
			return providerPageErr(err)
		}
		http.Redirect(w, r, providersPath+"?done=disabled", http.StatusSeeOther)
		return nil
	})
}

// HandleProviderDelete deletes a provider, from the confirmation page.
func (a *Server) HandleProviderDelete(w http.ResponseWriter, r *http.Request) error {
	return a.console(w, r, func(w http.ResponseWriter, r *http.Request, p person) error {
		version, _ := strconv.ParseInt(r.PostFormValue("version"), 10, 64)
		if _, err := a.ops.RemoveProvider(r.Context(), p.Actor, operations.ProviderRef{ID: r.PathValue("id"), Version: version}); err != nil {
			return providerPageErr(err)
		}
		http.Redirect(w, r, providersPath+"?done=deleted", http.StatusSeeOther)
		return nil
	})
}

// providerPageErr turns an operation's error into a page.
func providerPageErr(err error) error {
	switch {
	case errors.Is(err, operations.ErrNotFound):
		return &web.UserError{Status: http.StatusNotFound, Title: "Not found", Message: "There is no such identity provider (any more).",
			Next: "Go back to the list of identity providers.", Err: err}
	case errors.Is(err, operations.ErrConflict):
		return &web.UserError{Status: http.StatusConflict, Title: "Changed meanwhile",
			Message: "Someone else changed this identity provider since you opened it; nothing was done.",
			Next:    "Open it again, check what changed, and repeat.", Err: err}
	}
	return err
}

// fieldsOf are the form values of a stored provider (never its secret).
func fieldsOf(pv providerView) templates.AdminProviderFields {
	cfg := pv.cfg
	f := templates.AdminProviderFields{ID: cfg.ID, Kind: cfg.Kind, Name: cfg.Name, Domains: strings.Join(cfg.Domains, " "),
		TrustEmailLinking: cfg.TrustEmailLinking, ClientSecretSet: pv.secretSet}
	var c upstream.Common
	switch {
	case pv.oidc != nil:
		c = pv.oidc.Common
		f.Issuer, f.ClientID, f.Scopes = pv.oidc.Issuer, pv.oidc.ClientID, strings.Join(pv.oidc.Scopes, " ")
		f.AuthParams, f.SigningAlgs, f.UserinfoMerge = authParamLines(pv.oidc.AuthParams), strings.Join(pv.oidc.SigningAlgs, " "), pv.oidc.UserinfoMerge
	case pv.saml != nil:
		c = pv.saml.Common
		f.MetadataURL = pv.saml.MetadataURL
		f.AllowIDPInitiated, f.RequireSignedAssertion, f.EmailsVerified = pv.saml.AllowIDPInitiated, pv.saml.RequireSignedAssertion, pv.saml.EmailsVerified
		f.SignRequests, f.RequireEncryptedAssertions = pv.saml.SignsRequests(), pv.saml.RequireEncryptedAssertions
	}
	var rules []string
	for _, r := range c.RoleRules {
		rules = append(rules, r.Claim+" | "+r.Value+" | "+r.Role)
	}
	f.RoleRules = strings.Join(rules, "\n")
	m := c.Mapping
	f.MapSubject, f.MapEmail, f.MapName, f.MapGroups = strings.Join(m.Subject, " "), strings.Join(m.Email, " "),
		strings.Join(m.Name, " "), strings.Join(m.Groups, " ")
	f.AssumeEmailVerified = m.AssumeEmailVerified
	x := c.Exchange
	f.ExchangeEnabled, f.ExchangeAudiences, f.ExchangeOneTime, f.ExchangeCreateUsers = x.Enabled, strings.Join(x.Audiences, " "), x.OneTime, x.CreateUsers
	return f
}

// fieldsFromForm reads the provider form as typed (the secret apart: it is
// never put back into a page).
func fieldsFromForm(r *http.Request) templates.AdminProviderFields {
	v := func(k string) string { return strings.TrimSpace(r.PostFormValue(k)) }
	on := func(k string) bool { return r.PostFormValue(k) == "on" }
	return templates.AdminProviderFields{ID: v("id"), Kind: v("kind"), Name: v("name"), Domains: v("domains"),
		TrustEmailLinking: on("trust_email_linking"), RoleRules: r.PostFormValue("role_rules"),
		MapSubject: v("map_subject"), MapEmail: v("map_email"), MapName: v("map_name"), MapGroups: v("map_groups"),
		AssumeEmailVerified: on("map_assume_email_verified"), ExchangeEnabled: on("exchange_enabled"),
		ExchangeAudiences: v("exchange_audiences"), ExchangeOneTime: on("exchange_one_time"), ExchangeCreateUsers: on("exchange_create_users"),
		Issuer: v("issuer"), ClientID: v("client_id"), Scopes: v("scopes"),
		AuthParams: r.PostFormValue("auth_params"), SigningAlgs: v("signing_algs"), UserinfoMerge: on("userinfo_merge"),
		MetadataURL: v("metadata_url"), MetadataXML: r.PostFormValue("metadata_xml"),
		AllowIDPInitiated: on("allow_idp_initiated"), RequireSignedAssertion: on("require_signed_assertion"), EmailsVerified: on("emails_verified"),
		SignRequests: on("sign_requests"), RequireEncryptedAssertions: on("require_encrypted_assertions")}
}

// authParamLines is the form's text of extra authorization parameters: one
// NAME=VALUE a line, by name.
func authParamLines(params map[string]string) string {
	var lines []string
	for _, k := range slices.Sorted(maps.Keys(params)) {
		lines = append(lines, k+"="+params[k])
	}
	return strings.Join(lines, "\n")
}

// parseAuthParams reads the form's extra authorization parameters, one
// NAME=VALUE a line (blank lines skipped); what the provider refuses (a
// parameter Gatehouse sets itself) is left to its validation.
func parseAuthParams(text string) (map[string]string, []templates.Msg) {
	var out map[string]string
	var problems []templates.Msg
	for line := range strings.SplitSeq(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		name, value, ok := strings.Cut(line, "=")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		_, twice := out[name]
		switch {
		case !ok || name == "":
			problems = append(problems, templates.M("Authorization parameter “%s” is not name=value.", line))
		case twice:
			problems = append(problems, templates.M("Authorization parameter “%s” is given twice.", name))
		default:
			if out == nil {
				out = map[string]string{}
			}
			out[name] = value
		}
	}
	return out, problems
}

// specFromFields makes the provider the form describes. An edit starts from
// the stored settings (cur), so what the form does not show (the logo, the
// SAML request binding…) is kept, as are the issuer and the stored metadata.
func specFromFields(f templates.AdminProviderFields, cur *providerView) (upstream.Spec, []templates.Msg) {
	spec := upstream.Spec{ID: f.ID, Kind: f.Kind, Name: f.Name, Domains: strings.Fields(f.Domains), TrustEmailLinking: f.TrustEmailLinking}
	var problems []templates.Msg
	var rules []upstream.RoleRule
	for line := range strings.SplitSeq(f.RoleRules, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		parts := strings.Split(line, "|")
		if len(parts) != 3 {
			problems = append(problems, templates.M("Role rule “%s” is not claim | value | role.", strings.TrimSpace(line)))
			continue
		}
		rules = append(rules, upstream.RoleRule{Claim: strings.TrimSpace(parts[0]), Value: strings.TrimSpace(parts[1]), Role: strings.TrimSpace(parts[2])})
	}
	var c upstream.Common
	if cur != nil {
		enabled := cur.cfg.Enabled
		spec.Enabled = &enabled
		switch {
		case cur.oidc != nil:
			c = cur.oidc.Common
		case cur.saml != nil:
			c = cur.saml.Common
		}
	}
	c.RoleRules = rules
	c.Mapping.Subject, c.Mapping.Email = strings.Fields(f.MapSubject), strings.Fields(f.MapEmail)
	c.Mapping.Name, c.Mapping.Groups = strings.Fields(f.MapName), strings.Fields(f.MapGroups)
	c.Mapping.AssumeEmailVerified = f.AssumeEmailVerified
	c.Exchange.Enabled, c.Exchange.CreateUsers = f.ExchangeEnabled, f.ExchangeCreateUsers
	c.Exchange.Audiences, c.Exchange.OneTime = strings.Fields(f.ExchangeAudiences), f.ExchangeOneTime
	switch f.Kind {
	case upstream.KindOIDC:
		s := upstream.OIDCSettings{}
		if cur != nil && cur.oidc != nil {
			s = *cur.oidc
			f.Issuer = s.Issuer // the issuer is not edited here: it names who people are
		}
		s.Common, s.Issuer, s.ClientID, s.Scopes = c, f.Issuer, f.ClientID, strings.Fields(f.Scopes)
		params, bad := parseAuthParams(f.AuthParams)
		problems = append(problems, bad...)
		s.AuthParams, s.SigningAlgs, s.UserinfoMerge = params, strings.Fields(f.SigningAlgs), f.UserinfoMerge
		spec.OIDC = &s
	case upstream.KindSAML:
		s := upstream.SAMLSettings{}
		if cur != nil && cur.saml != nil {
			s = *cur.saml
			if s.MetadataURL != "" {
				s.MetadataXML = "" // refetched from its URL (the stored copy kept if that fails)
			}
		} else {
			s.MetadataURL, s.MetadataXML = f.MetadataURL, f.MetadataXML
		}
		s.Common, s.AllowIDPInitiated, s.RequireSignedAssertion, s.EmailsVerified = c, f.AllowIDPInitiated, f.RequireSignedAssertion, f.EmailsVerified
		s.SignRequests, s.RequireEncryptedAssertions = &f.SignRequests, f.RequireEncryptedAssertions
		spec.SAML = &s
	default:
		problems = append(problems, templates.M("The kind of provider must be oidc or saml."))
	}
	return spec, problems
}

// fieldChanges lists the fields whose stored value differs from yours.
func fieldChanges(stored, yours templates.AdminProviderFields) []templates.AdminFieldChange {
	var out []templates.AdminFieldChange
	add := func(name templates.Msg, s, y string) {
		if s != y {
			out = append(out, templates.AdminFieldChange{Field: name, Stored: templates.M("%s", s), Yours: templates.M("%s", y)})
		}
	}
	b := func(name templates.Msg, s, y bool) {
		if s != y {
			out = append(out, templates.AdminFieldChange{Field: name, Stored: yesNo(s), Yours: yesNo(y)})
		}
	}
	add(templates.M("Name"), stored.Name, yours.Name)
	add(templates.M("Email domains"), stored.Domains, yours.Domains)
	b(templates.M("Trusted for linking"), stored.TrustEmailLinking, yours.TrustEmailLinking)
	add(templates.M("Client ID"), stored.ClientID, yours.ClientID)
	add(templates.M("Scopes"), stored.Scopes, yours.Scopes)
	add(templates.M("Role rules"), stored.RoleRules, strings.TrimSpace(yours.RoleRules))
	add(templates.M("Mapping: subject"), stored.MapSubject, yours.MapSubject)
	add(templates.M("Mapping: email"), stored.MapEmail, yours.MapEmail)
	add(templates.M("Mapping: name"), stored.MapName, yours.MapName)
	add(templates.M("Mapping: groups"), stored.MapGroups, yours.MapGroups)
	b(templates.M("Token exchange"), stored.ExchangeEnabled, yours.ExchangeEnabled)
	add(templates.M("Exchange audiences"), stored.ExchangeAudiences, yours.ExchangeAudiences)
	b(templates.M("IdP-initiated sign-in"), stored.AllowIDPInitiated, yours.AllowIDPInitiated)
	b(templates.M("Signed assertions"), stored.RequireSignedAssertion, yours.RequireSignedAssertion)
	yourParams, _ := parseAuthParams(yours.AuthParams)
	add(templates.M("Authorization parameters"), stored.AuthParams, authParamLines(yourParams))
	add(templates.M("Signing algorithms"), stored.SigningAlgs, yours.SigningAlgs)
	b(templates.M("UserInfo claims"), stored.UserinfoMerge, yours.UserinfoMerge)
	b(templates.M("Signed requests"), stored.SignRequests, yours.SignRequests)
	b(templates.M("Encrypted assertions"), stored.RequireEncryptedAssertions, yours.RequireEncryptedAssertions)
	return out
}

// yesNo is a checkbox's state in words.
func yesNo(on bool) templates.Msg {
	if on {
		return templates.M("yes")
	}
	return templates.M("no")
}
