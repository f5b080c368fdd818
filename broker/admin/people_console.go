package admin

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/gatehouse/gatehouse/broker/operations"
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

func personNotice(done string) string {
	return map[string]string{"disabled": "Disabled: their sessions ended and their tokens were revoked.",
		"enabled": "Enabled: they can sign in again.", "signed-out": "Their sessions ended and their tokens were revoked.",
		"granted": "The role was granted.", "revoked": "The role was revoked."}[done]
}

// renderPerson shows the person page, with a refusal's problems and the role
// typed when there are some.
func (a *Server) renderPerson(w http.ResponseWriter, r *http.Request, p person, id string, status int, notice string,
	problems []string, role string) error {
	u, x, err := a.person(r.Context(), id)
	if err != nil {
		return personErr(err)
	}
	base := "/admin/people/" + url.PathEscape(u.ID)
	v := templates.AdminPersonView{Page: a.page(web.DisplayName(u), p), Notice: notice, Problems: problems, Base: base,
		Name: u.Name, Email: u.Email, EmailVerified: u.EmailVerified, Disabled: u.Disabled, Created: web.StampTime(u.CreatedAt),
		Role: role}
	for _, i := range x.Identities {
		v.Identities = append(v.Identities, templates.AdminPersonIdentity{Provider: i.ProviderName, Subject: i.Subject,
			Email: i.Email, Linked: web.StampTime(i.LinkedAt), LastSignIn: web.StampTime(i.LastSignIn)})
	}
	for _, g := range x.Roles {
		row := templates.AdminPersonRole{Role: g.Role}
		if g.Source == "granted" {
			row.From = "granted by " + a.actorLabel(r, g.GrantedBy) + " on " + web.StampTime(g.GrantedAt)
			row.Revoke = base + "/roles/" + url.PathEscape(g.Role) + "/revoke"
		} else {
			row.From = "role rules of " + g.Provider + " (identity " + g.Subject + ", its last sign-in's claims)"
		}
		v.Roles = append(v.Roles, row)
	}
	for _, s := range x.Sessions {
		v.Sessions = append(v.Sessions, templates.AdminPersonSession{Provider: s.Provider, IP: s.IP, UserAgent: s.UserAgent,
			Started: web.StampTime(s.CreatedAt), LastSeen: web.StampTime(s.LastSeenAt)})
	}
	for _, c := range x.Consents {
		v.Consents = append(v.Consents, templates.AdminPersonConsent{App: c.ClientName, ClientID: c.ClientID,
			Scopes: strings.Join(c.Scopes, " "), Since: web.StampTime(c.CreatedAt), LastUsed: web.StampTime(c.LastUsedAt)})
	}
	for _, l := range []struct {
		from []PersonDelegationJSON
		into *[]templates.AdminPersonDelegation
	}{{x.DelegationsGiven, &v.Given}, {x.DelegationsReceived, &v.Received}} {
		for _, d := range l.from {
			other := d.GranteeUser
			if d.GranteeClient != "" {
				other = "app " + d.GranteeClient
			}
			if l.into == &v.Received {
				other = d.Grantor
			}
			*l.into = append(*l.into, templates.AdminPersonDelegation{Other: a.actorLabel(r, other), Audience: d.Audience,
				Scopes: strings.Join(d.Scopes, " "), Status: d.Status, Expires: web.StampTime(d.ExpiresAt)})
		}
	}
	for _, e := range x.RecentEvents {
		v.Events = append(v.Events, templates.AdminPersonEvent{Time: web.StampTime(e.Time), Actor: a.actorLabel(r, e.Actor),
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
// confirmed.
func personConsequence(action string, x PersonJSON) (question, consequence, button string) {
	name := x.Name
	if name == "" {
		name = x.Email
	}
	sessions := fmt.Sprintf("their %d active session(s) end now, their refresh tokens are revoked and their access tokens "+
		"turn inactive at introspection at once", len(x.Sessions))
	switch action {
	case "disable":
		active := 0
		for _, d := range append(x.DelegationsGiven, x.DelegationsReceived...) {
			if d.Status == "active" || d.Status == "expiring_soon" {
				active++
			}
		}
		return "Disable " + name + " (" + x.Email + ")?",
			name + " can no longer sign in; " + sessions + "; the " + strconv.Itoa(active) + " delegation(s) they gave or received end. " +
				"Enabling them later lets them sign in again but brings none of this back. The last admin cannot be disabled.",
			"Disable"
	case "sign-out":
		return "End every session of " + name + " (" + x.Email + ")?",
			"Their account stays enabled: " + sessions + ". They can sign in again.", "End sessions"
	}
	return "", "", ""
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
			q, c, button := personConsequence(action, x)
			return a.renderConfirm(w, r, p, base+"/"+action, base, q, c, button)
		})
	}
}

func (a *Server) renderConfirm(w http.ResponseWriter, r *http.Request, p person, action, back, question, consequence, button string) error {
	csrf, err := a.web.CSRFToken(w, r, action)
	if err != nil {
		return err
	}
	return web.Render(w, r, http.StatusOK, templates.AdminPersonConfirm(templates.AdminPersonConfirmView{
		Page: a.page(question, p), Action: action, CSRF: csrf, Back: back, Question: question, Consequence: consequence, Button: button}))
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
		if err := a.ops.GrantRole(r.Context(), p.Actor, id, role); err != nil {
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
		consequence := name + " loses the role " + role + " from their next request: the console, and scopes given for the role, " +
			"are refused to sessions and tokens from then on. A role their provider's role rules give them stays."
		if role == "admin" {
			consequence += " The last admin cannot lose the role."
		}
		return a.renderConfirm(w, r, p, base+"/roles/"+url.PathEscape(role)+"/revoke", base,
			"Revoke the role "+role+" of "+name+" ("+x.Email+")?", consequence, "Revoke")
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
		return a.renderPerson(w, r, p, id, http.StatusUnprocessableEntity, "", inv.Problems, role)
	case errors.Is(err, operations.ErrLastAdmin):
		return a.renderPerson(w, r, p, id, http.StatusConflict, "",
			[]string{"This is the last admin: grant the admin role to someone else first. Nothing was changed."}, role)
	case errors.Is(err, operations.ErrConflict):
		return a.renderPerson(w, r, p, id, http.StatusConflict, "", []string{err.Error()}, role)
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
