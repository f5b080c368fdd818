package admin

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/gatehouse/gatehouse/broker/operations"
	"github.com/gatehouse/gatehouse/broker/registry"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/web"
	"github.com/gatehouse/gatehouse/templates"
)

// HandlePeople is the console's search for people: by email (its beginning)
// or name (any part), a page at a time.
func (a *Server) HandlePeople(w http.ResponseWriter, r *http.Request) error {
	return a.console(w, r, func(w http.ResponseWriter, r *http.Request, p person) error {
		q := strings.TrimSpace(r.URL.Query().Get("q"))
		if len(q) > MaxQuery {
			q = strings.ToValidUTF8(q[:MaxQuery], "")
		}
		// A cursor the console did not make starts at the beginning.
		after, _ := decodeCursor(r.URL.Query().Get("after"))
		us, next, err := a.search(r.Context(), q, after, PeoplePage)
		if err != nil {
			return err
		}
		v := templates.AdminPeopleView{Page: a.page("People", p), Query: q}
		for _, u := range us {
			v.People = append(v.People, templates.AdminPersonRow{ID: u.ID, Name: web.DisplayName(u), Email: u.Email, Disabled: u.Disabled})
		}
		if next != "" {
			v.Next = "/admin/people?" + url.Values{"q": {q}, "after": {next}}.Encode()
		}
		return web.Render(w, r, http.StatusOK, templates.AdminPeople(v))
	})
}

// HandlePerson is a person's page.
func (a *Server) HandlePerson(w http.ResponseWriter, r *http.Request) error {
	return a.console(w, r, func(w http.ResponseWriter, r *http.Request, p person) error {
		return a.renderPerson(w, r, p, r.PathValue("id"), http.StatusOK, personNotice(r.URL.Query().Get("done")), nil, "")
	})
}

func personNotice(done string) templates.Msg {
	switch done {
	case "disabled":
		return templates.M("Disabled: their sessions ended and their tokens were revoked.")
	case "enabled":
		return templates.M("Enabled: they can sign in again.")
	case "signed-out":
		return templates.M("Their sessions ended and their tokens were revoked.")
	case "granted":
		return templates.M("The role was granted.")
	case "revoked":
		return templates.M("The role was revoked.")
	}
	return templates.Msg{}
}

// delegationStatus says a delegation's status (store.Delegation.Status) in
// words, as the person's own delegations page does.
func delegationStatus(status string) templates.Msg {
	switch status {
	case store.DelegationActive:
		return templates.M("Active")
	case store.DelegationExpiringSoon:
		return templates.M("Active, expiring within a day")
	case store.DelegationExpired:
		return templates.M("Expired")
	case store.DelegationDeclined:
		return templates.M("Declined")
	}
	return templates.M("Revoked")
}

// dataMsgs shows what an operation refused with as it is worded: the
// operations' validation speaks English only (its messages are shared with
// the CLI and the admin API).
func dataMsgs(problems []string) []templates.Msg {
	out := make([]templates.Msg, len(problems))
	for i, p := range problems {
		out[i] = templates.M("%s", p)
	}
	return out
}

// renderPerson shows the person page, with a refusal's problems and the role
// typed when there are some.
func (a *Server) renderPerson(w http.ResponseWriter, r *http.Request, p person, id string, status int, notice templates.Msg,
	problems []templates.Msg, role string) error {
	u, x, err := a.person(r.Context(), id)
	if err != nil {
		return personErr(err)
	}
	base := "/admin/people/" + url.PathEscape(u.ID)
	v := templates.AdminPersonView{Page: a.page("Person", p), Heading: web.DisplayName(u), Notice: notice, Problems: problems, Base: base,
		Name: u.Name, Email: u.Email, EmailVerified: u.EmailVerified, Disabled: u.Disabled, Created: u.CreatedAt,
		Role: role}
	for _, i := range x.Identities {
		v.Identities = append(v.Identities, templates.AdminPersonIdentity{Provider: i.ProviderName, Subject: i.Subject,
			Email: i.Email, Linked: i.LinkedAt, LastSignIn: i.LastSignIn})
	}
	for _, g := range x.Roles {
		row := templates.AdminPersonRole{Role: g.Role}
		if g.Source == "granted" {
			row.From = templates.M("granted by %s on %s", a.actorLabel(r, g.GrantedBy), templates.Moment{At: g.GrantedAt, Now: a.Now()})
			row.Revoke = base + "/roles/" + url.PathEscape(g.Role) + "/revoke"
		} else {
			row.From = templates.M("role rules of %s (identity %s, its last sign-in's claims)", g.Provider, g.Subject)
		}
		v.Roles = append(v.Roles, row)
	}
	for _, s := range x.Sessions {
		v.Sessions = append(v.Sessions, templates.AdminPersonSession{Provider: s.Provider, IP: s.IP, UserAgent: s.UserAgent,
			Started: s.CreatedAt, LastSeen: s.LastSeenAt})
	}
	for _, c := range x.Consents {
		v.Consents = append(v.Consents, templates.AdminPersonConsent{App: c.ClientName, ClientID: c.ClientID,
			Scopes: strings.Join(c.Scopes, " "), Since: c.CreatedAt, LastUsed: c.LastUsedAt})
	}
	for _, l := range []struct {
		from []PersonDelegationJSON
		into *[]templates.AdminPersonDelegation
	}{{x.DelegationsGiven, &v.Given}, {x.DelegationsReceived, &v.Received}} {
		for _, d := range l.from {
			other := templates.M("%s", a.actorLabel(r, d.GranteeUser))
			if d.GranteeClient != "" {
				other = templates.M("app %s", d.GranteeClient)
			}
			if l.into == &v.Received {
				other = templates.M("%s", a.actorLabel(r, d.Grantor))
			}
			*l.into = append(*l.into, templates.AdminPersonDelegation{Other: other, Audience: d.Audience,
				Scopes: strings.Join(d.Scopes, " "), Status: delegationStatus(d.Status), Expires: d.ExpiresAt})
		}
	}
	for _, e := range x.RecentEvents {
		v.Events = append(v.Events, templates.AdminPersonEvent{Time: e.Time, Actor: a.actorLabel(r, e.Actor),
			Action: e.Action, Target: e.Target, Details: string(e.Details)})
	}
	for action, dst := range map[string]*string{base + "/enable": &v.CSRFEnable, base + "/roles": &v.CSRFGrant} {
		if *dst, err = a.web.CSRFToken(w, r, action); err != nil {
			return err
		}
	}
	return web.Render(w, r, status, templates.AdminPerson(v))
}

// actorLabel names a user ID as the page shows it (their name and email);
// anything else (client:ID, bootstrap, cli) as it is.
func (a *Server) actorLabel(r *http.Request, id string) string {
	if id == "" {
		return ""
	}
	u, err := a.ops.Store.Users().Get(r.Context(), id)
	if err != nil {
		return id
	}
	return web.DisplayName(u) + " (" + u.Email + ")"
}

// personConsequence says what an action on a person does, before it is
// confirmed: the page's title, its question, what the action ends and the
// button's label.
func personConsequence(action string, x PersonJSON) (title string, question, consequence, button templates.Msg) {
	name := x.Name
	if name == "" {
		name = x.Email
	}
	// The counts come first in their sentences: a plural form selects on
	// the first argument (templates/i18n.go).
	sessions := templates.M("Their %d active sessions end now, their refresh tokens are revoked and their access tokens turn inactive at introspection at once", len(x.Sessions))
	switch action {
	case "disable":
		active := 0
		for _, d := range append(x.DelegationsGiven, x.DelegationsReceived...) {
			if d.Status == store.DelegationActive || d.Status == store.DelegationExpiringSoon {
				active++
			}
		}
		return "Disable this person?", templates.M("Disable %s (%s)?", name, x.Email),
			templates.M("%[2]s can no longer sign in. %[3]s. %[1]d delegations they gave or received end. Enabling them later lets them sign in again but brings none of this back. The last admin cannot be disabled.", active, name, sessions),
			templates.M("Disable")
	case "sign-out":
		return "End their sessions?", templates.M("End every session of %s (%s)?", name, x.Email),
			templates.M("Their account stays enabled. %s. They can sign in again.", sessions), templates.M("End sessions")
	}
	return "", templates.Msg{}, templates.Msg{}, templates.Msg{}
}

// HandlePersonConfirm asks before disabling a person or ending their
// sessions (GET /admin/people/{id}/disable, /sign-out).
func (a *Server) HandlePersonConfirm(action string) web.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		return a.console(w, r, func(w http.ResponseWriter, r *http.Request, p person) error {
			u, x, err := a.person(r.Context(), r.PathValue("id"))
			if err != nil {
				return personErr(err)
			}
			base := "/admin/people/" + url.PathEscape(u.ID)
			title, q, c, button := personConsequence(action, x)
			return a.renderConfirm(w, r, p, base+"/"+action, base, title, q, c, button)
		})
	}
}

// renderConfirm asks to confirm an action on a person; title is the page's,
// a catalogue message.
func (a *Server) renderConfirm(w http.ResponseWriter, r *http.Request, p person, action, back, title string,
	question, consequence, button templates.Msg) error {
	csrf, err := a.web.CSRFToken(w, r, action)
	if err != nil {
		return err
	}
	return web.Render(w, r, http.StatusOK, templates.AdminPersonConfirm(templates.AdminPersonConfirmView{
		Page: a.page(title, p), Action: action, CSRF: csrf, Back: back, Question: question, Consequence: consequence, Button: button}))
}

// HandlePersonAction disables, enables or signs out a person (POST
// /admin/people/{id}/disable, /enable, /sign-out); a refusal (the last admin)
// is shown on their page.
func (a *Server) HandlePersonAction(action string) web.HandlerFunc {
	act := userActions[action]
	return func(w http.ResponseWriter, r *http.Request) error {
		return a.console(w, r, func(w http.ResponseWriter, r *http.Request, p person) error {
			id := r.PathValue("id")
			if _, err := act.do(a.ops, r.Context(), p.Actor, id); err != nil {
				return a.personRefusal(w, r, p, id, err, "")
			}
			http.Redirect(w, r, "/admin/people/"+url.PathEscape(id)+"?done="+act.done, http.StatusSeeOther)
			return nil
		})
	}
}

// HandlePersonRoleGrant grants the role the person page's form names.
func (a *Server) HandlePersonRoleGrant(w http.ResponseWriter, r *http.Request) error {
	return a.console(w, r, func(w http.ResponseWriter, r *http.Request, p person) error {
		id, role := r.PathValue("id"), strings.TrimSpace(r.PostFormValue("role"))
		// The operation refuses these too, worded in English for the CLI and
		// the API; the page says them in its own language.
		if !registry.ValidScopeToken(role) {
			return a.renderPerson(w, r, p, id, http.StatusUnprocessableEntity, templates.Msg{},
				[]templates.Msg{templates.M("“%s” is not a role: a role is one word of printable characters.", role)}, role)
		}
		err := a.ops.GrantRole(r.Context(), p.Actor, id, role)
		if errors.Is(err, operations.ErrConflict) {
			return a.renderPerson(w, r, p, id, http.StatusConflict, templates.Msg{},
				[]templates.Msg{templates.M("They have the role %s already.", role)}, role)
		}
		if err != nil {
			return a.personRefusal(w, r, p, id, err, role)
		}
		http.Redirect(w, r, "/admin/people/"+url.PathEscape(id)+"?done=granted", http.StatusSeeOther)
		return nil
	})
}

// HandlePersonRoleRevokeConfirm asks before revoking a granted role.
func (a *Server) HandlePersonRoleRevokeConfirm(w http.ResponseWriter, r *http.Request) error {
	return a.console(w, r, func(w http.ResponseWriter, r *http.Request, p person) error {
		u, x, err := a.person(r.Context(), r.PathValue("id"))
		if err != nil {
			return personErr(err)
		}
		role := r.PathValue("role")
		base := "/admin/people/" + url.PathEscape(u.ID)
		name := x.Name
		if name == "" {
			name = x.Email
		}
		consequence := templates.M("%s loses the role %s from their next request: the console, and scopes given for the role, are refused to sessions and tokens from then on. A role their provider's role rules give them stays.", name, role)
		if role == store.RoleAdmin {
			consequence = templates.M("%s loses the role %s from their next request: the console, and scopes given for the role, are refused to sessions and tokens from then on. A role their provider's role rules give them stays. The last admin cannot lose the role.", name, role)
		}
		return a.renderConfirm(w, r, p, base+"/roles/"+url.PathEscape(role)+"/revoke", base, "Revoke this role?",
			templates.M("Revoke the role %s of %s (%s)?", role, name, x.Email), consequence, templates.M("Revoke"))
	})
}

// HandlePersonRoleRevoke revokes a granted role; the last admin's is refused
// on their page.
func (a *Server) HandlePersonRoleRevoke(w http.ResponseWriter, r *http.Request) error {
	return a.console(w, r, func(w http.ResponseWriter, r *http.Request, p person) error {
		id := r.PathValue("id")
		if err := a.ops.RevokeRole(r.Context(), p.Actor, id, r.PathValue("role")); err != nil {
			return a.personRefusal(w, r, p, id, err, "")
		}
		http.Redirect(w, r, "/admin/people/"+url.PathEscape(id)+"?done=revoked", http.StatusSeeOther)
		return nil
	})
}

// personRefusal shows an operation's refusal on the person's page: 422 for an
// invalid input, 409 for the last admin or a conflict; other errors are pages.
func (a *Server) personRefusal(w http.ResponseWriter, r *http.Request, p person, id string, err error, role string) error {
	var inv *operations.Invalid
	switch {
	case errors.As(err, &inv):
		return a.renderPerson(w, r, p, id, http.StatusUnprocessableEntity, templates.Msg{}, dataMsgs(inv.Problems), role)
	case errors.Is(err, operations.ErrLastAdmin):
		return a.renderPerson(w, r, p, id, http.StatusConflict, templates.Msg{},
			[]templates.Msg{templates.M("This is the last admin: grant the admin role to someone else first. Nothing was changed.")}, role)
	case errors.Is(err, operations.ErrConflict):
		return a.renderPerson(w, r, p, id, http.StatusConflict, templates.Msg{}, dataMsgs([]string{err.Error()}), role)
	}
	return personErr(err)
}

// personErr turns an error about a person into a page.
func personErr(err error) error {
	if errors.Is(err, operations.ErrNotFound) {
		return &web.UserError{Status: http.StatusNotFound, Title: "Not found", Message: "There is no such person, or no such granted role.",
			Next: "Go back to People and search again.", Err: err}
	}
	return err
}
