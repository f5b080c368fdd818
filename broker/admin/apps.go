package admin

import (
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
			if row.LastUse, err = a.lastUseText(r, c.ID); err != nil {
				return err
			}
			v.Apps = append(v.Apps, row)
		}
		return web.Render(w, r, http.StatusOK, templates.AdminApps(v))
	})
}

func appNotice(done string) string {
	return map[string]string{"updated": "The app was saved.", "deleted": "The app was deleted, its tokens revoked and its consents deleted."}[done]
}

func appType(c store.Client) string {
	if c.Public {
		return "public"
	}
	return "confidential"
}

func (a *Server) lastUseText(r *http.Request, id string) (string, error) {
	t, err := a.lastTokenIssued(r.Context(), id)
	if err != nil || t.IsZero() {
		return "never", err
	}
	return t.UTC().Format("2006-01-02 15:04 MST"), nil
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
			Page: a.page("Rotate the secret of "+appName(c), p), Action: action, CSRF: csrf, Back: "/admin/apps/" + c.ID,
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
		return web.Render(w, r, http.StatusOK, templates.AdminConfirm(templates.AdminConfirmView{Page: a.page("Delete "+appName(c), p),
			Action: action, CSRF: csrf, Back: "/admin/apps/" + c.ID,
			Question: "Delete the app " + appName(c) + " (" + c.ID + ")?",
			Consequence: "It can no longer sign people in or get tokens. Every refresh token and access token issued to it is revoked at once, " +
				"on every replica, and the consents people gave it are deleted: an app added again under the same ID starts with none."}))
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
		title = "Edit " + v.Fields.Name
		c, err := a.ops.GetClient(r.Context(), v.Fields.ID)
		if err != nil {
			return appPageErr(err)
		}
		v.SecretSet = len(c.SecretHash) > 0
		if v.LastUse, err = a.lastUseText(r, c.ID); err != nil {
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
		v.Problems = inv.Problems
		return a.renderAppForm(w, r, p, http.StatusUnprocessableEntity, v)
	case errors.Is(err, operations.ErrConflict):
		v.Problems = []string{err.Error()}
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
		ExchangeTokenTypes: strings.Join(c.ExchangeTokenTypes, " "), ExchangeProviders: strings.Join(c.ExchangeProviders, " ")}
}

// appFromForm reads the app form: its fields as typed, the app they make, and
// what could not even be parsed.
func appFromForm(r *http.Request) (templates.AdminAppFields, store.Client, []string) {
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
	var problems []string
	for _, d := range []struct {
		name, text string
		into       *time.Duration
	}{{"Access-token lifetime", f.AccessTokenTTL, &c.AccessTokenTTL}, {"Refresh-token lifetime", f.RefreshTokenTTL, &c.RefreshTokenTTL}} {
		if p := parseTTL(d.name, d.text, d.into); p != "" {
			problems = append(problems, p+".")
		}
	}
	return f, c, problems
}

// appChanges lists the fields where the edit not saved differs from what is
// stored now (DATA-11: the admin sees what they would have changed).
func appChanges(stored, yours templates.AdminAppFields) []templates.AdminAppChange {
	var out []templates.AdminAppChange
	add := func(field, s, y string) {
		if strings.Join(strings.Fields(s), " ") != strings.Join(strings.Fields(y), " ") {
			out = append(out, templates.AdminAppChange{Field: field, Stored: s, Yours: y})
		}
	}
	yes := func(b bool) string { return map[bool]string{true: "yes", false: "no"}[b] }
	add("Name", stored.Name, yours.Name)
	add("Logo URI", stored.LogoURI, yours.LogoURI)
	add("Home page", stored.ClientURI, yours.ClientURI)
	add("First-party", yes(stored.FirstParty), yes(yours.FirstParty))
	add("Require DPoP", yes(stored.RequireDPoP), yes(yours.RequireDPoP))
	add("Redirect URIs", stored.RedirectURIs, yours.RedirectURIs)
	add("Post-logout redirect URIs", stored.PostLogoutRedirectURIs, yours.PostLogoutRedirectURIs)
	add("Grant types", stored.GrantTypes, yours.GrantTypes)
	add("Scopes", stored.Scopes, yours.Scopes)
	add("Default API", stored.DefaultAPI, yours.DefaultAPI)
	add("Other APIs", stored.APIs, yours.APIs)
	add("Token endpoint auth method", stored.AuthMethod, yours.AuthMethod)
	add("JWKS", stored.JWKS, yours.JWKS)
	add("JWKS URI", stored.JWKSURI, yours.JWKSURI)
	add("Access-token lifetime", stored.AccessTokenTTL, yours.AccessTokenTTL)
	add("Refresh-token lifetime", stored.RefreshTokenTTL, yours.RefreshTokenTTL)
	add("ID-token algorithm", stored.IDTokenAlg, yours.IDTokenAlg)
	add("Resource server for", stored.ResourceServerFor, yours.ResourceServerFor)
	add("Exchange token types", stored.ExchangeTokenTypes, yours.ExchangeTokenTypes)
	add("Exchange providers", stored.ExchangeProviders, yours.ExchangeProviders)
	return out
}
