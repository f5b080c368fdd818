package admin

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/gatehouse/gatehouse/broker/operations"
	"github.com/gatehouse/gatehouse/broker/web"
	"github.com/gatehouse/gatehouse/templates"
)

// BootstrapPath is the first admin's one-time link (gatehouse admin bootstrap).
const BootstrapPath = "/admin/bootstrap"

// The bootstrap link is not an admin page: whoever holds an unspent link while
// Gatehouse has no admin may use it, after a fresh sign-in.

var errBootstrapLink = &web.UserError{Status: http.StatusGone, Title: "Link not valid",
	Message: "This administrator link is unknown, has expired (links are valid for 15 minutes) or was used already.",
	Next:    "Ask whoever runs Gatehouse for a new link: gatehouse admin bootstrap."}

var errAdminExists = &web.UserError{Status: http.StatusConflict, Title: "Gatehouse has an administrator",
	Message: "The first administrator has been set up already, so this link no longer works.",
	Next:    "Ask an administrator to grant you the admin role (gatehouse users grant-role USER admin)."}

// HandleBootstrap checks the link, sends the person to sign in afresh at a
// provider of their choice, and then asks them to confirm.
func (a *Server) HandleBootstrap(w http.ResponseWriter, r *http.Request) error {
	tok := r.URL.Query().Get("token")
	if err := bootstrapErr(a.ops.CheckBootstrapToken(r.Context(), tok)); err != nil {
		return err
	}
	sess, u, ok := a.web.CurrentSession(r)
	if !ok || !a.fresh(sess) {
		// A sign-in returning below /admin is a fresh one (NeedsFreshSignIn).
		http.Redirect(w, r, web.LoginURL(BootstrapPath+"?"+url.Values{"token": {tok}}.Encode()), http.StatusSeeOther)
		return nil
	}
	csrf, err := a.web.CSRFToken(w, r, BootstrapPath)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	return web.Render(w, r, http.StatusOK, templates.AdminBootstrap(templates.AdminBootstrapView{
		Page: templates.Page{Title: "First administrator", SignedInAs: web.DisplayName(u)}, Action: BootstrapPath,
		CSRF: csrf, Token: tok, Name: web.DisplayName(u), Email: u.Email}))
}

// HandleBootstrapSubmit spends the link and makes the signed-in person admin,
// in one transaction (operations.Bootstrap). It is a form: the CSRF check ran.
func (a *Server) HandleBootstrapSubmit(w http.ResponseWriter, r *http.Request) error {
	tok := r.PostFormValue("token")
	sess, _, ok := a.web.CurrentSession(r)
	if !ok || !a.fresh(sess) {
		http.Redirect(w, r, web.LoginURL(BootstrapPath+"?"+url.Values{"token": {tok}}.Encode()), http.StatusSeeOther)
		return nil
	}
	if err := bootstrapErr(a.ops.Bootstrap(r.Context(), tok, sess.UserID)); err != nil {
		return err
	}
	http.Redirect(w, r, ConsolePrefix, http.StatusSeeOther)
	return nil
}

func bootstrapErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, operations.ErrBootstrapToken):
		return &web.UserError{Status: errBootstrapLink.Status, Title: errBootstrapLink.Title, Message: errBootstrapLink.Message,
			Next: errBootstrapLink.Next, Err: err}
	case errors.Is(err, operations.ErrAdminExists):
		return &web.UserError{Status: errAdminExists.Status, Title: errAdminExists.Title, Message: errAdminExists.Message,
			Next: errAdminExists.Next, Err: err}
	}
	return err
}
