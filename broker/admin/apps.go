package admin

import (
	"cmp"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/broker/operations"
	"github.com/gatehouse/gatehouse/broker/registry"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/web"
	"github.com/gatehouse/gatehouse/templates"
)

// The apps (OAuth clients) in the console. The secret is shown once, on the
// page answering a create or a rotation, and on no other page (ADM-12).

// HandleApps is the console's list of apps.
func (a *Server) HandleApps(w http.ResponseWriter, r *http.Request) error {
	return a.console(w, r, func(w http.ResponseWriter, r *http.Request, p person) error {
		list, err := a.ops.ListClients(r.Context())
		if err != nil {
			return err
		}
		v := templates.AdminAppsView{Page: a.page("Apps", p), Notice: appNotice(r.URL.Query().Get("done"))}
		for _, c := range list {
			row := templates.AdminAppRow{ID: c.ID, Name: c.Name, Type: appType(c), FirstParty: c.FirstParty,
				Grants: strings.Join(c.GrantTypes, " ")}
			if row.Name == "" {
				row.Name = c.ID
			}
			if row.LastUse, err = a.lastUse(r, c.ID); err != nil {
				return err
			}
			v.Apps = append(v.Apps, row)
		}
		return web.Render(w, r, http.StatusOK, templates.AdminApps(v))
	})
}

func appNotice(done string) templates.Msg {
	switch done {
	case "updated":
		return templates.M("The app was saved.")
	case "deleted":
		return templates.M("The app was deleted, its tokens revoked and its consents deleted.")
	}
	return templates.Msg{}
}

func appType(c store.Client) templates.Msg {
	if c.Public {
		return templates.M("public")
	}
	return templates.M("confidential")
}

// lastUse is when the app was last issued a token, said in the page's
// language; the zero time says never.
func (a *Server) lastUse(r *http.Request, id string) (templates.Moment, error) {
	t, err := a.lastTokenIssued(r.Context(), id)
	return templates.Moment{At: t, Now: a.Now()}, err
}

// HandleAppNew is the form to add an app.
func (a *Server) HandleAppNew(w http.ResponseWriter, r *http.Request) error {
	return a.console(w, r, func(w http.ResponseWriter, r *http.Request, p person) error {
		return a.renderAppForm(w, r, p, http.StatusOK, templates.AdminAppFormView{New: true, Action: "/admin/apps/new",
			Fields: templates.AdminAppFields{GrantTypes: registry.GrantAuthorizationCode + " " + registry.GrantRefreshToken,
				Scopes: "openid profile email"}})
	})
}

// HandleAppCreate adds the app the form describes and shows its secret, this
// once (ADM-12).
func (a *Server) HandleAppCreate(w http.ResponseWriter, r *http.Request) error {
	return a.console(w, r, func(w http.ResponseWriter, r *http.Request, p person) error {
		fields, c, problems := appFromForm(r)
		v := templates.AdminAppFormView{New: true, Action: "/admin/apps/new", Fields: fields, Problems: problems}
		if len(problems) > 0 {
			return a.renderAppForm(w, r, p, http.StatusUnprocessableEntity, v)
		}
		c.Version = 0
		res, err := a.ops.CreateClient(r.Context(), p.Actor, c)
		if err != nil {
			return a.appFormRefusal(w, r, p, v, err)
		}
		a.forgetClient(res.Client.ID)
		return a.renderSecret(w, r, p, res, false)
	})
}

// renderSecret is the page that shows an app's new secret: the answer to the
// POST itself (no redirect to a page that could be loaded again), not stored.
func (a *Server) renderSecret(w http.ResponseWriter, r *http.Request, p person, res operations.ClientWithSecret, rotated bool) error {
	title := "App added"
	if rotated {
		title = "Secret rotated"
	}
	return web.Render(w, r, http.StatusOK, templates.AdminAppSecret(templates.AdminAppSecretView{Page: a.page(title, p),
		ID: res.Client.ID, Name: res.Client.Name, Secret: res.Secret, Rotated: rotated}))
}

// HandleAppEdit is the form to edit an app.
func (a *Server) HandleAppEdit(w http.ResponseWriter, r *http.Request) error {
	return a.console(w, r, func(w http.ResponseWriter, r *http.Request, p person) error {
		c, err := a.ops.GetClient(r.Context(), r.PathValue("id"))
		if err != nil {
			return appPageErr(err)
		}
		return a.renderAppForm(w, r, p, http.StatusOK, templates.AdminAppFormView{Action: "/admin/apps/" + c.ID,
			Fields: appFields(c), Version: c.Version})
	})
}

// HandleAppUpdate saves the edit form, from the version it was read at
// (DATA-11): a stale one shows the stored app and what the edit not saved
// would have changed.
func (a *Server) HandleAppUpdate(w http.ResponseWriter, r *http.Request) error {
	return a.console(w, r, func(w http.ResponseWriter, r *http.Request, p person) error {
		id := r.PathValue("id")
		cur, err := a.ops.GetClient(r.Context(), id)
		if err != nil {
			return appPageErr(err)
		}
		fields, c, problems := appFromForm(r)
		// The type and the auth method's need of a secret are set when the app
		// is added; the form does not carry them.
		c.ID, fields.ID, c.Public, fields.Public = id, id, cur.Public, cur.Public
		v := templates.AdminAppFormView{Action: "/admin/apps/" + id, Fields: fields, Version: c.Version, Problems: problems}
		if len(problems) > 0 {
			return a.renderAppForm(w, r, p, http.StatusUnprocessableEntity, v)
		}
		if c.Version <= 0 {
			return &web.UserError{Status: http.StatusBadRequest, Title: "Request not understood",
				Message: "The form lacks the version it was read at.", Next: "Open the app again and repeat the change."}
		}
		if c.TokenEndpointAuthMethod == "" {
			c.TokenEndpointAuthMethod = cur.TokenEndpointAuthMethod
		}
		_, err = a.ops.UpdateClient(r.Context(), p.Actor, c)
		if errors.Is(err, operations.ErrConflict) {
			if latest, gerr := a.ops.GetClient(r.Context(), id); gerr == nil && latest.Version != c.Version {
				stored := appFields(latest)
				v.Fields, v.Version, v.Conflict, v.Changes = stored, latest.Version, true, appChanges(stored, fields)
				return a.renderAppForm(w, r, p, http.StatusConflict, v)
			}
		}
		if err != nil {
			return a.appFormRefusal(w, r, p, v, err)
		}
		a.forgetClient(id)
		http.Redirect(w, r, "/admin/apps?done=updated", http.StatusSeeOther)
		return nil
	})
}

// HandleAppRotateConfirm asks before rotating an app's secret.
func (a *Server) HandleAppRotateConfirm(w http.ResponseWriter, r *http.Request) error {
	return a.console(w, r, func(w http.ResponseWriter, r *http.Request, p person) error {
		c, err := a.ops.GetClient(r.Context(), r.PathValue("id"))
		if err != nil {
			return appPageErr(err)
		}
		action := "/admin/apps/" + c.ID + "/rotate-secret"
		csrf, err := a.web.CSRFToken(w, r, action)
		if err != nil {
			return err
		}
		return web.Render(w, r, http.StatusOK, templates.AdminAppRotate(templates.AdminAppRotateView{
			Page: a.page("Rotate the secret", p), Action: action, CSRF: csrf, Back: "/admin/apps/" + c.ID,
			Name: appName(c)}))
	})
}

// HandleAppRotate gives the app a new secret and shows it, this once.
func (a *Server) HandleAppRotate(w http.ResponseWriter, r *http.Request) error {
	return a.console(w, r, func(w http.ResponseWriter, r *http.Request, p person) error {
		res, err := a.ops.RotateClientSecret(r.Context(), p.Actor, r.PathValue("id"))
		var inv *operations.Invalid
		if errors.As(err, &inv) {
			return &web.UserError{Status: http.StatusUnprocessableEntity, Title: "No secret to rotate",
				Message: "This app does not authenticate with a secret.", Next: "Go back to the app.", Err: err}
		}
		if err != nil {
			return appPageErr(err)
		}
		a.forgetClient(res.Client.ID)
		return a.renderSecret(w, r, p, res, true)
	})
}

// HandleAppDeleteConfirm asks before deleting an app, saying what ends with it
// (operations.DeleteClient).
func (a *Server) HandleAppDeleteConfirm(w http.ResponseWriter, r *http.Request) error {
	return a.console(w, r, func(w http.ResponseWriter, r *http.Request, p person) error {
		c, err := a.ops.GetClient(r.Context(), r.PathValue("id"))
		if err != nil {
			return appPageErr(err)
		}
		action := "/admin/apps/" + c.ID + "/delete"
		csrf, err := a.web.CSRFToken(w, r, action)
		if err != nil {
			return err
		}
		return web.Render(w, r, http.StatusOK, templates.AdminConfirm(templates.AdminConfirmView{Page: a.page("Delete the app", p),
			Action: action, CSRF: csrf, Back: "/admin/apps/" + c.ID,
			Question:    templates.M("Delete the app %s (%s)?", appName(c), c.ID),
			Consequence: templates.M("It can no longer sign people in or get tokens. Every refresh token and access token issued to it is revoked at once, on every replica, and the consents people gave it are deleted: an app added again under the same ID starts with none.")}))
	})
}

// HandleAppDelete deletes an app (and revokes its tokens).
func (a *Server) HandleAppDelete(w http.ResponseWriter, r *http.Request) error {
	return a.console(w, r, func(w http.ResponseWriter, r *http.Request, p person) error {
		if err := a.ops.DeleteClient(r.Context(), p.Actor, r.PathValue("id")); err != nil {
			return appPageErr(err)
		}
		a.forgetClient(r.PathValue("id"))
		http.Redirect(w, r, "/admin/apps?done=deleted", http.StatusSeeOther)
		return nil
	})
}

func appName(c store.Client) string {
	if c.Name != "" {
		return c.Name
	}
	return c.ID
}

func (a *Server) renderAppForm(w http.ResponseWriter, r *http.Request, p person, status int, v templates.AdminAppFormView) error {
	title := "Add an app"
	if !v.New {
		title, v.Heading = "Edit an app", templates.M("Edit %s", cmp.Or(v.Fields.Name, v.Fields.ID))
		c, err := a.ops.GetClient(r.Context(), v.Fields.ID)
		if err != nil {
			return appPageErr(err)
		}
		v.SecretSet = len(c.SecretHash) > 0
		if v.LastUse, err = a.lastUse(r, c.ID); err != nil {
			return err
		}
	}
	v.Page = a.page(title, p)
	v.GrantTypes, v.AuthMethods = strings.Join(registry.GrantTypes, " "), strings.Join(registry.AuthMethods, " ")
	v.IDTokenAlgs, v.TokenTypes = strings.Join(registry.IDTokenAlgs, " "), strings.Join(registry.ExchangeTokenTypes, " ")
	var err error
	if v.CSRF, err = a.web.CSRFToken(w, r, v.Action); err != nil {
		return err
	}
	return web.Render(w, r, status, templates.AdminAppForm(v))
}

// appFormRefusal shows an operation's refusal on the form; other errors are pages.
func (a *Server) appFormRefusal(w http.ResponseWriter, r *http.Request, p person, v templates.AdminAppFormView, err error) error {
	var inv *operations.Invalid
	switch {
	case errors.As(err, &inv):
		v.Problems = inv.Messages
		return a.renderAppForm(w, r, p, http.StatusUnprocessableEntity, v)
	case errors.Is(err, operations.ErrConflict) && v.New:
		v.Problems = []templates.Msg{templates.M("An app with this client ID exists already: choose another, or leave it empty to have one generated.")}
		return a.renderAppForm(w, r, p, http.StatusConflict, v)
	case errors.Is(err, operations.ErrConflict):
		v.Problems = []templates.Msg{templates.M("Someone else changed this app meanwhile: open it again and repeat the change.")}
		return a.renderAppForm(w, r, p, http.StatusConflict, v)
	}
	return appPageErr(err)
}

// appPageErr turns an operation's error into a page.
func appPageErr(err error) error {
	if errors.Is(err, operations.ErrNotFound) {
		return &web.UserError{Status: http.StatusNotFound, Title: "Not found", Message: "There is no such app (any more).",
			Next: "Go back to the list of apps.", Err: err}
	}
	return pageErr(err)
}

// appFields are the form values of c: never its secret.
func appFields(c store.Client) templates.AdminAppFields {
	return templates.AdminAppFields{ID: c.ID, Name: c.Name, LogoURI: c.LogoURI, ClientURI: c.ClientURI, Public: c.Public, FirstParty: c.FirstParty,
		RequireDPoP: c.DPoPBoundAccessTokens, RedirectURIs: strings.Join(c.RedirectURIs, "\n"), PostLogoutRedirectURIs: strings.Join(c.PostLogoutRedirectURIs, "\n"),
		GrantTypes: strings.Join(c.GrantTypes, " "), Scopes: strings.Join(c.Scopes, " "), DefaultAPI: c.DefaultAudience,
		APIs: strings.Join(c.Audiences, " "), AuthMethod: c.TokenEndpointAuthMethod, JWKS: string(c.JWKS), JWKSURI: c.JWKSURI,
		AccessTokenTTL: durationText(c.AccessTokenTTL), RefreshTokenTTL: durationText(c.RefreshTokenTTL),
		IDTokenAlg: c.IDTokenAlg(), ResourceServerFor: strings.Join(c.ResourceServerFor, " "),
		ExchangeTokenTypes: strings.Join(c.ExchangeTokenTypes, " "), ExchangeProviders: strings.Join(c.ExchangeProviders, " "),
		CertSubjectKind: certSubjectKind(c), CertSubject: certSubject(c)}
}

// certSubjectFields are the tls_client_auth certificate subject fields of a
// client (RFC 8705 §2.1.2), by their metadata names without tls_client_auth_.
func certSubjectFields(c *store.Client) []struct {
	kind string
	v    *string
} {
	return []struct {
		kind string
		v    *string
	}{{"subject_dn", &c.TLSClientAuthSubjectDN}, {"san_dns", &c.TLSClientAuthSANDNS}, {"san_uri", &c.TLSClientAuthSANURI},
		{"san_ip", &c.TLSClientAuthSANIP}, {"san_email", &c.TLSClientAuthSANEmail}}
}

func certSubjectKind(c store.Client) string {
	for _, f := range certSubjectFields(&c) {
		if *f.v != "" {
			return f.kind
		}
	}
	return ""
}

func certSubject(c store.Client) string {
	for _, f := range certSubjectFields(&c) {
		if *f.v != "" {
			return *f.v
		}
	}
	return ""
}

// appFromForm reads the app form: its fields as typed, the app they make, and
// what could not even be parsed.
func appFromForm(r *http.Request) (templates.AdminAppFields, store.Client, []templates.Msg) {
	val := func(name string) string { return strings.TrimSpace(r.PostFormValue(name)) }
	f := templates.AdminAppFields{ID: val("id"), Name: val("name"), LogoURI: val("logo_uri"), ClientURI: val("client_uri"),
		Public: r.PostFormValue("public") == "on", FirstParty: r.PostFormValue("first_party") == "on",
		RequireDPoP:  r.PostFormValue("require_dpop") == "on",
		RedirectURIs: val("redirect_uris"), PostLogoutRedirectURIs: val("post_logout_redirect_uris"),
		GrantTypes: val("grant_types"), Scopes: val("scopes"), DefaultAPI: val("default_api"), APIs: val("apis"),
		AuthMethod: val("token_endpoint_auth_method"), JWKS: val("jwks"), JWKSURI: val("jwks_uri"),
		AccessTokenTTL: val("access_token_ttl"), RefreshTokenTTL: val("refresh_token_ttl"), IDTokenAlg: val("id_token_alg"),
		ResourceServerFor: val("resource_server_for"), ExchangeTokenTypes: val("exchange_token_types"),
		ExchangeProviders: val("exchange_providers")}
	c := store.Client{ID: f.ID, Name: f.Name, LogoURI: f.LogoURI, ClientURI: f.ClientURI, Public: f.Public, FirstParty: f.FirstParty,
		DPoPBoundAccessTokens: f.RequireDPoP,
		RedirectURIs:          strings.Fields(f.RedirectURIs), PostLogoutRedirectURIs: strings.Fields(f.PostLogoutRedirectURIs),
		GrantTypes: strings.Fields(f.GrantTypes), Scopes: strings.Fields(f.Scopes), DefaultAudience: f.DefaultAPI,
		Audiences: strings.Fields(f.APIs), TokenEndpointAuthMethod: f.AuthMethod, JWKSURI: f.JWKSURI,
		IDTokenSignedResponseAlg: f.IDTokenAlg, ResourceServerFor: strings.Fields(f.ResourceServerFor),
		ExchangeTokenTypes: strings.Fields(f.ExchangeTokenTypes), ExchangeProviders: strings.Fields(f.ExchangeProviders)}
	if f.JWKS != "" {
		c.JWKS = []byte(f.JWKS)
	}
	c.Version, _ = strconv.ParseInt(r.PostFormValue("version"), 10, 64)
	var problems []templates.Msg
	f.CertSubjectKind, f.CertSubject = val("cert_subject_kind"), val("cert_subject")
	if f.CertSubjectKind != "" || f.CertSubject != "" {
		known := false
		for _, cf := range certSubjectFields(&c) {
			if cf.kind == f.CertSubjectKind {
				*cf.v, known = f.CertSubject, true
			}
		}
		if !known {
			problems = append(problems, templates.M("Certificate subject kind must be subject_dn, san_dns, san_uri, san_ip or san_email."))
		}
	}
	for _, d := range []struct {
		name templates.Msg
		text string
		into *time.Duration
	}{{templates.M("Access-token lifetime"), f.AccessTokenTTL, &c.AccessTokenTTL}, {templates.M("Refresh-token lifetime"), f.RefreshTokenTTL, &c.RefreshTokenTTL}} {
		if parseTTL("", d.text, d.into) != "" {
			problems = append(problems, templates.M("%s: %s is not a duration like 15m.", d.name, strconv.Quote(d.text)))
		}
	}
	return f, c, problems
}

// appChanges lists the fields where the edit not saved differs from what is
// stored now (DATA-11: the admin sees what they would have changed).
func appChanges(stored, yours templates.AdminAppFields) []templates.AdminAppChange {
	var out []templates.AdminAppChange
	add := func(field templates.Msg, s, y string) {
		if strings.Join(strings.Fields(s), " ") != strings.Join(strings.Fields(y), " ") {
			out = append(out, templates.AdminAppChange{Field: field, Stored: templates.M("%s", s), Yours: templates.M("%s", y)})
		}
	}
	addBool := func(field templates.Msg, s, y bool) {
		yes := map[bool]templates.Msg{true: templates.M("yes"), false: templates.M("no")}
		if s != y {
			out = append(out, templates.AdminAppChange{Field: field, Stored: yes[s], Yours: yes[y]})
		}
	}
	add(templates.M("Name"), stored.Name, yours.Name)
	add(templates.M("Logo URI"), stored.LogoURI, yours.LogoURI)
	add(templates.M("Home page"), stored.ClientURI, yours.ClientURI)
	addBool(templates.M("First-party"), stored.FirstParty, yours.FirstParty)
	addBool(templates.M("Require DPoP"), stored.RequireDPoP, yours.RequireDPoP)
	add(templates.M("Redirect URIs"), stored.RedirectURIs, yours.RedirectURIs)
	add(templates.M("Post-logout redirect URIs"), stored.PostLogoutRedirectURIs, yours.PostLogoutRedirectURIs)
	add(templates.M("Grant types"), stored.GrantTypes, yours.GrantTypes)
	add(templates.M("Scopes"), stored.Scopes, yours.Scopes)
	add(templates.M("Default API"), stored.DefaultAPI, yours.DefaultAPI)
	add(templates.M("Other APIs"), stored.APIs, yours.APIs)
	add(templates.M("Token endpoint auth method"), stored.AuthMethod, yours.AuthMethod)
	add(templates.M("JWKS"), stored.JWKS, yours.JWKS)
	add(templates.M("JWKS URI"), stored.JWKSURI, yours.JWKSURI)
	add(templates.M("Certificate subject"), stored.CertSubjectKind+" "+stored.CertSubject, yours.CertSubjectKind+" "+yours.CertSubject)
	add(templates.M("Access-token lifetime"), stored.AccessTokenTTL, yours.AccessTokenTTL)
	add(templates.M("Refresh-token lifetime"), stored.RefreshTokenTTL, yours.RefreshTokenTTL)
	add(templates.M("ID-token algorithm"), stored.IDTokenAlg, yours.IDTokenAlg)
	add(templates.M("Resource server for"), stored.ResourceServerFor, yours.ResourceServerFor)
	add(templates.M("Exchange token types"), stored.ExchangeTokenTypes, yours.ExchangeTokenTypes)
	add(templates.M("Exchange providers"), stored.ExchangeProviders, yours.ExchangeProviders)
	return out
}
