package admin

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/broker/operations"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/web"
	"github.com/gatehouse/gatehouse/templates"
)

// The APIs (resource servers), in the console and the admin API.

// APIJSON is an API as the admin API shows it.
type APIJSON struct {
	ID         string         `json:"id"`
	Audience   string         `json:"audience"`
	Name       string         `json:"name"`
	Scopes     []ScopeJSON    `json:"scopes"`
	Delegation DelegationJSON `json:"delegation"`
	// Version is sent back with an update (DATA-11): a stale one is 409.
	Version   int64     `json:"version"`
	CreatedAt time.Time `json:"created_at"`
}

// APIInput is what the admin API accepts to create (POST) or replace (PUT) an
// API; any other field is refused (ADM-03).
type APIInput struct {
	ID         string          `json:"id,omitempty"`
	Audience   string          `json:"audience"`
	Name       string          `json:"name"`
	Scopes     []ScopeJSON     `json:"scopes"`
	Delegation *DelegationJSON `json:"delegation,omitempty"`
	// Version is required by PUT: the version the change was made from.
	Version int64 `json:"version,omitempty"`
}

// ScopeJSON is one scope of an API.
type ScopeJSON struct {
	Name        string   `json:"name"`
	Description string   `json:"description,omitempty"`
	Roles       []string `json:"roles,omitempty"`
}

// DelegationJSON is an API's delegation policy (store.DelegationPolicy).
type DelegationJSON struct {
	Allowed bool `json:"allowed"`
	// MaxDuration is a Go duration, e.g. "168h".
	MaxDuration  string   `json:"max_duration,omitempty"`
	Scopes       []string `json:"scopes,omitempty"`
	Redelegation bool     `json:"redelegation,omitempty"`
}

// APIView is a as the admin API shows it; the command line's --json prints
// it too, so both speak the same fields.
func APIView(a store.API) APIJSON { return toAPIJSON(a) }

func toAPIJSON(a store.API) APIJSON {
	out := APIJSON{ID: a.ID, Audience: a.Audience, Name: a.Name, Scopes: []ScopeJSON{}, Version: a.Version, CreatedAt: a.CreatedAt,
		Delegation: DelegationJSON{Allowed: a.Delegation.Allowed, Scopes: a.Delegation.Scopes, Redelegation: a.Delegation.Redelegation}}
	if a.Delegation.MaxDuration > 0 {
		out.Delegation.MaxDuration = a.Delegation.MaxDuration.String()
	}
	for _, s := range a.Scopes {
		out.Scopes = append(out.Scopes, ScopeJSON(s))
	}
	return out
}

// toAPI makes the stored form of in; a malformed duration is a problem of its own.
func (in APIInput) toAPI() (store.API, []string) {
	a := store.API{ID: in.ID, Audience: in.Audience, Name: in.Name, Version: in.Version}
	for _, s := range in.Scopes {
		a.Scopes = append(a.Scopes, store.Scope(s))
	}
	var problems []string
	if d := in.Delegation; d != nil {
		a.Delegation = store.DelegationPolicy{Allowed: d.Allowed, Scopes: d.Scopes, Redelegation: d.Redelegation}
		if d.MaxDuration != "" {
			var err error
			if a.Delegation.MaxDuration, err = time.ParseDuration(d.MaxDuration); err != nil {
				problems = append(problems, fmt.Sprintf("delegation max_duration %q is not a duration like 168h", d.MaxDuration))
			}
		}
	}
	return a, problems
}

// builtIn refuses changing the built-in Admin API through the console or the
// API: without it no admin token could be issued.
func builtIn(id string) error {
	if id == APIID {
		return problem(http.StatusConflict, "The Gatehouse Admin API is built in and cannot be changed or deleted.")
	}
	return nil
}

// --- Admin API ---

// APIList is GET /api/admin/v1/apis.
func (a *Server) APIList(w http.ResponseWriter, r *http.Request) {
	a.api(w, r, func(w http.ResponseWriter, r *http.Request, _ person) error {
		list, err := a.ops.ListAPIs(r.Context())
		if err != nil {
			return err
		}
		out := []APIJSON{}
		for _, x := range list {
			out = append(out, toAPIJSON(x))
		}
		return writeJSON(w, http.StatusOK, map[string]any{"apis": out})
	})
}

// APIGet is GET /api/admin/v1/apis/{id}.
func (a *Server) APIGet(w http.ResponseWriter, r *http.Request) {
	a.api(w, r, func(w http.ResponseWriter, r *http.Request, _ person) error {
		x, err := a.ops.GetAPI(r.Context(), r.PathValue("id"))
		if err != nil {
			return opProblem(err)
		}
		return writeJSON(w, http.StatusOK, toAPIJSON(x))
	})
}

// APICreate is POST /api/admin/v1/apis.
func (a *Server) APICreate(w http.ResponseWriter, r *http.Request) {
	a.api(w, r, func(w http.ResponseWriter, r *http.Request, p person) error {
		var in APIInput
		if err := decode(r, &in); err != nil {
			return err
		}
		if in.Version != 0 {
			return problem(http.StatusBadRequest, "version is not accepted when creating an API.")
		}
		x, problems := in.toAPI()
		if len(problems) > 0 {
			return invalidProblem(problems)
		}
		x, err := a.ops.CreateAPI(r.Context(), p.Actor, x)
		if err != nil {
			return opProblem(err)
		}
		w.Header().Set("Location", "/api/admin/v1/apis/"+url.PathEscape(x.ID))
		return writeJSON(w, http.StatusCreated, toAPIJSON(x))
	})
}

// APIUpdate is PUT /api/admin/v1/apis/{id}: a whole replacement, from the
// version it names.
func (a *Server) APIUpdate(w http.ResponseWriter, r *http.Request) {
	a.api(w, r, func(w http.ResponseWriter, r *http.Request, p person) error {
		id := r.PathValue("id")
		if err := builtIn(id); err != nil {
			return err
		}
		var in APIInput
		if err := decode(r, &in); err != nil {
			return err
		}
		if in.ID != "" && in.ID != id {
			return problem(http.StatusBadRequest, "The id in the body is not the one in the path; an API's ID cannot change.")
		}
		if in.Version <= 0 {
			return problem(http.StatusBadRequest, "version is required: the version of the API the change was made from.")
		}
		in.ID = id
		x, problems := in.toAPI()
		if len(problems) > 0 {
			return invalidProblem(problems)
		}
		x, err := a.ops.UpdateAPI(r.Context(), p.Actor, x)
		if err != nil {
			return opProblem(err)
		}
		return writeJSON(w, http.StatusOK, toAPIJSON(x))
	})
}

// APIDelete is DELETE /api/admin/v1/apis/{id}.
func (a *Server) APIDelete(w http.ResponseWriter, r *http.Request) {
	a.api(w, r, func(w http.ResponseWriter, r *http.Request, p person) error {
		id := r.PathValue("id")
		if err := builtIn(id); err != nil {
			return err
		}
		// Clients that name the API make the delete a 409 unless the caller
		// asks for it to be unlinked from them first (operations.DeleteAPI).
		unlink := r.URL.Query().Get("unlink_clients") == "true"
		if _, err := a.ops.DeleteAPI(r.Context(), p.Actor, id, unlink); err != nil {
			return opProblem(err)
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}

// --- Console ---

// HandleAPIs is the console's list of APIs.
func (a *Server) HandleAPIs(w http.ResponseWriter, r *http.Request) error {
	return a.console(w, r, func(w http.ResponseWriter, r *http.Request, p person) error {
		list, err := a.ops.ListAPIs(r.Context())
		if err != nil {
			return err
		}
		v := templates.AdminAPIsView{Page: a.page("APIs", p), Notice: noticeText(r.URL.Query().Get("done"))}
		for _, x := range list {
			var names []string
			for _, s := range x.Scopes {
				names = append(names, s.Name)
			}
			del := templates.M("not allowed")
			if x.Delegation.Allowed {
				del = templates.M("up to %s", templates.Span(x.Delegation.MaxDuration))
			}
			v.APIs = append(v.APIs, templates.AdminAPIRow{ID: x.ID, Name: x.Name, Audience: x.Audience,
				Scopes: strings.Join(names, " "), Delegation: del})
		}
		return web.Render(w, r, http.StatusOK, templates.AdminAPIs(v))
	})
}

func noticeText(done string) templates.Msg {
	switch done {
	case "created":
		return templates.M("The API was added.")
	case "updated":
		return templates.M("The API was saved.")
	case "deleted":
		return templates.M("The API was deleted.")
	}
	return templates.Msg{}
}

// HandleAPINew is the form to add an API.
func (a *Server) HandleAPINew(w http.ResponseWriter, r *http.Request) error {
	return a.console(w, r, func(w http.ResponseWriter, r *http.Request, p person) error {
		return a.renderAPIForm(w, r, p, http.StatusOK, templates.AdminAPIFormView{New: true, Action: "/admin/apis/new"})
	})
}

// HandleAPICreate adds the API the form describes.
func (a *Server) HandleAPICreate(w http.ResponseWriter, r *http.Request) error {
	return a.console(w, r, func(w http.ResponseWriter, r *http.Request, p person) error {
		fields, x, problems := apiFromForm(r)
		v := templates.AdminAPIFormView{New: true, Action: "/admin/apis/new", Fields: fields, Problems: problems}
		if len(problems) > 0 {
			return a.renderAPIForm(w, r, p, http.StatusUnprocessableEntity, v)
		}
		x.Version = 0
		if _, err := a.ops.CreateAPI(r.Context(), p.Actor, x); err != nil {
			return a.formRefusal(w, r, p, v, err)
		}
		http.Redirect(w, r, "/admin/apis?done=created", http.StatusSeeOther)
		return nil
	})
}

// HandleAPIEdit is the form to edit an API.
func (a *Server) HandleAPIEdit(w http.ResponseWriter, r *http.Request) error {
	return a.console(w, r, func(w http.ResponseWriter, r *http.Request, p person) error {
		x, err := a.ops.GetAPI(r.Context(), r.PathValue("id"))
		if err != nil {
			return pageErr(err)
		}
		return a.renderAPIForm(w, r, p, http.StatusOK, templates.AdminAPIFormView{Action: "/admin/apis/" + x.ID,
			Fields: apiFields(x), Version: x.Version})
	})
}

// HandleAPIUpdate saves the edit form, from the version it was read at
// (DATA-11): a stale one shows the stored API beside the edit not saved.
func (a *Server) HandleAPIUpdate(w http.ResponseWriter, r *http.Request) error {
	return a.console(w, r, func(w http.ResponseWriter, r *http.Request, p person) error {
		id := r.PathValue("id")
		if id == APIID {
			return errBuiltInPage
		}
		fields, x, problems := apiFromForm(r)
		x.ID, fields.ID = id, id
		v := templates.AdminAPIFormView{Action: "/admin/apis/" + id, Fields: fields, Version: x.Version, Problems: problems}
		if len(problems) > 0 {
			return a.renderAPIForm(w, r, p, http.StatusUnprocessableEntity, v)
		}
		if x.Version <= 0 {
			return &web.UserError{Status: http.StatusBadRequest, Title: "Request not understood",
				Message: "The form lacks the version it was read at.", Next: "Open the API again and repeat the change."}
		}
		_, err := a.ops.UpdateAPI(r.Context(), p.Actor, x)
		if errors.Is(err, operations.ErrConflict) {
			if cur, gerr := a.ops.GetAPI(r.Context(), id); gerr == nil && cur.Version != x.Version {
				yours := fields
				v.Fields, v.Version, v.Yours = apiFields(cur), cur.Version, &yours
				return a.renderAPIForm(w, r, p, http.StatusConflict, v)
			}
		}
		if err != nil {
			return a.formRefusal(w, r, p, v, err)
		}
		http.Redirect(w, r, "/admin/apis?done=updated", http.StatusSeeOther)
		return nil
	})
}

// HandleAPIDeleteConfirm asks before deleting an API.
func (a *Server) HandleAPIDeleteConfirm(w http.ResponseWriter, r *http.Request) error {
	return a.console(w, r, func(w http.ResponseWriter, r *http.Request, p person) error {
		x, err := a.ops.GetAPI(r.Context(), r.PathValue("id"))
		if err != nil {
			return pageErr(err)
		}
		action := "/admin/apis/" + x.ID + "/delete"
		csrf, err := a.web.CSRFToken(w, r, action)
		if err != nil {
			return err
		}
		consequence := templates.M("Apps can no longer get tokens for it. Tokens issued already stay valid until they expire.")
		uses, err := a.ops.APIUses(r.Context(), x.ID)
		if err != nil {
			return pageErr(err)
		}
		if len(uses) > 0 {
			names := make(templates.List, len(uses))
			for i, u := range uses {
				names[i] = u.ClientName
			}
			consequence = templates.M("It is removed from the apps that use it (%s): they can no longer get tokens for it. Tokens issued already stay valid until they expire.", names)
		}
		return web.Render(w, r, http.StatusOK, templates.AdminConfirm(templates.AdminConfirmView{Page: a.page("Delete the API", p),
			Action: action, CSRF: csrf, Back: "/admin/apis/" + x.ID,
			Question:    templates.M("Delete the API %s (%s)?", x.Name, x.Audience),
			Consequence: consequence}))
	})
}

// HandleAPIDelete deletes an API.
func (a *Server) HandleAPIDelete(w http.ResponseWriter, r *http.Request) error {
	return a.console(w, r, func(w http.ResponseWriter, r *http.Request, p person) error {
		id := r.PathValue("id")
		if id == APIID {
			return errBuiltInPage
		}
		// The confirmation named the apps it is unlinked from.
		if _, err := a.ops.DeleteAPI(r.Context(), p.Actor, id, true); err != nil {
			return pageErr(err)
		}
		http.Redirect(w, r, "/admin/apis?done=deleted", http.StatusSeeOther)
		return nil
	})
}

func (a *Server) renderAPIForm(w http.ResponseWriter, r *http.Request, p person, status int, v templates.AdminAPIFormView) error {
	title := "Add an API"
	if !v.New {
		title, v.Heading = "Edit an API", templates.M("Edit %s", cmp.Or(v.Fields.Name, v.Fields.ID))
	}
	v.Page = a.page(title, p)
	var err error
	if v.CSRF, err = a.web.CSRFToken(w, r, v.Action); err != nil {
		return err
	}
	return web.Render(w, r, status, templates.AdminAPIForm(v))
}

// formRefusal shows an operation's refusal on the form; other errors are pages.
func (a *Server) formRefusal(w http.ResponseWriter, r *http.Request, p person, v templates.AdminAPIFormView, err error) error {
	var inv *operations.Invalid
	switch {
	case errors.As(err, &inv):
		v.Problems = inv.Messages
		return a.renderAPIForm(w, r, p, http.StatusUnprocessableEntity, v)
	case errors.Is(err, operations.ErrConflict) && v.New:
		v.Problems = []templates.Msg{templates.M("An API with this ID or audience exists already.")}
		return a.renderAPIForm(w, r, p, http.StatusConflict, v)
	case errors.Is(err, operations.ErrConflict):
		v.Problems = []templates.Msg{templates.M("Another API has this audience already, or someone else changed this API meanwhile: open it again and repeat the change.")}
		return a.renderAPIForm(w, r, p, http.StatusConflict, v)
	}
	return pageErr(err)
}

// errBuiltInPage refuses changing or deleting the built-in Admin API from the
// console (builtIn is the admin API's refusal).
var errBuiltInPage = &web.UserError{Status: http.StatusConflict, Title: "Built in",
	Message: "The Gatehouse Admin API is built in and cannot be changed or deleted.", Next: "Go back to the list of APIs."}

// pageErr turns an operation's error into a page.
func pageErr(err error) error {
	switch {
	case errors.Is(err, operations.ErrNotFound):
		return &web.UserError{Status: http.StatusNotFound, Title: "Not found", Message: "There is no such API (any more).",
			Next: "Go back to the list of APIs.", Err: err}
	}
	return err
}

// apiFields are the form values of x.
func apiFields(x store.API) templates.AdminAPIFields {
	f := templates.AdminAPIFields{ID: x.ID, Name: x.Name, Audience: x.Audience, DelegationAllowed: x.Delegation.Allowed,
		DelegableScopes: strings.Join(x.Delegation.Scopes, " "), Redelegation: x.Delegation.Redelegation}
	if x.Delegation.MaxDuration > 0 {
		f.MaxDuration = x.Delegation.MaxDuration.String()
	}
	var lines []string
	for _, s := range x.Scopes {
		lines = append(lines, strings.TrimRight(s.Name+" | "+s.Description+" | "+strings.Join(s.Roles, " "), " |"))
	}
	f.Scopes = strings.Join(lines, "\n")
	return f
}

// apiFromForm reads the API form: its fields as typed, the API they make, and
// what could not even be parsed.
func apiFromForm(r *http.Request) (templates.AdminAPIFields, store.API, []templates.Msg) {
	f := templates.AdminAPIFields{ID: strings.TrimSpace(r.PostFormValue("id")), Name: strings.TrimSpace(r.PostFormValue("name")),
		Audience: strings.TrimSpace(r.PostFormValue("audience")), Scopes: r.PostFormValue("scopes"),
		DelegationAllowed: r.PostFormValue("delegation_allowed") == "on", MaxDuration: strings.TrimSpace(r.PostFormValue("delegation_max_duration")),
		DelegableScopes: r.PostFormValue("delegation_scopes"), Redelegation: r.PostFormValue("delegation_redelegation") == "on"}
	x := store.API{ID: f.ID, Name: f.Name, Audience: f.Audience,
		Delegation: store.DelegationPolicy{Allowed: f.DelegationAllowed, Scopes: strings.Fields(f.DelegableScopes), Redelegation: f.Redelegation}}
	x.Version, _ = strconv.ParseInt(r.PostFormValue("version"), 10, 64)
	var problems []templates.Msg
	if f.MaxDuration != "" {
		d, err := time.ParseDuration(f.MaxDuration)
		if err != nil {
			problems = append(problems, templates.M("Longest delegation %s is not a duration like 168h.", strconv.Quote(f.MaxDuration)))
		}
		x.Delegation.MaxDuration = d
	}
	for line := range strings.SplitSeq(f.Scopes, "\n") {
		parts := strings.SplitN(line, "|", 3)
		name := strings.TrimSpace(parts[0])
		if name == "" && len(parts) == 1 {
			continue
		}
		s := store.Scope{Name: name}
		if len(parts) > 1 {
			s.Description = strings.TrimSpace(parts[1])
		}
		if len(parts) > 2 {
			s.Roles = strings.Fields(parts[2])
		}
		x.Scopes = append(x.Scopes, s)
	}
	return f, x, problems
}

// page is the frame of a console page.
func (a *Server) page(title string, p person) templates.Page {
	return templates.Page{Title: title, SignedInAs: p.Name}
}

// invalidProblem is the 422 of an input refused, listing every problem.
func invalidProblem(problems []string) *Problem {
	p := problem(http.StatusUnprocessableEntity, "The input was refused; errors lists every problem.")
	p.Errors = problems
	return p
}
