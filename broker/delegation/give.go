package delegation

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/broker/delegate"
	"github.com/gatehouse/gatehouse/broker/emailaddr"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/web"
	"github.com/gatehouse/gatehouse/templates"
)

const (
	givePath    = "/account/delegations/new"
	confirmPath = "/account/delegations/new/confirm"
	// localTime is the datetime-local input's format (HTML §2.3.5.5), read as UTC.
	localTime = "2006-01-02T15:04"
)

// errNoSuchPerson is the one answer for an address that is not a person who may
// be given access: no account, several, disabled or unverified alike, so the
// form does not tell who has an account (issue 11).
var errNoSuchPerson = templates.M("We couldn't give access to that address. Check it, or ask them to sign in to Gatehouse once first.")

// errEscalation answers a delegate.ErrForbidden refusal (SECURITY.md AS-DEL-04):
// a scope the person does not hold, or passing on more than they received.
var errEscalation = &web.UserError{Status: http.StatusForbidden, Title: "Not allowed",
	Message: "You can only give access you hold yourself, and pass on only what was given to you.",
	Next:    "Go back to delegated access and start again."}

// quickDurations are the give-access form's quick choices, those within the
// policy's maximum.
var quickDurations = []quickChoice{
	{8 * time.Hour}, {24 * time.Hour}, {3 * 24 * time.Hour}, {7 * 24 * time.Hour}, {30 * 24 * time.Hour},
}

type quickChoice struct {
	d time.Duration
}

// giveForm is what the give-access form, the review step and the confirmation
// post. Nothing in it is trusted: every step resolves and checks it again.
type giveForm struct {
	API, Parent, To, Email, Client string
	Scopes                         []string
	For, Until                     string
	// ExpiresAt is the end the review step resolved (RFC 3339), carried to
	// the confirmation so that "1 day" does not move.
	ExpiresAt string
	Note      string
	PassOn    bool
}

func readGiveForm(r *http.Request) giveForm {
	f := r.PostForm
	return giveForm{API: f.Get("api"), Parent: f.Get("parent"), To: f.Get("to"), Email: strings.TrimSpace(f.Get("email")),
		Client: f.Get("client"), Scopes: f["scope"], For: f.Get("for"), Until: f.Get("until"),
		ExpiresAt: f.Get("expires_at"), Note: strings.TrimSpace(f.Get("note")), PassOn: f.Get("pass_on") == "yes"}
}

// fields are f as the review step's hidden fields.
func (f giveForm) fields(expires time.Time) []templates.HiddenField {
	out := []templates.HiddenField{{Name: "api", Value: f.API}, {Name: "to", Value: f.To}}
	add := func(name, v string) {
		if v != "" {
			out = append(out, templates.HiddenField{Name: name, Value: v})
		}
	}
	add("parent", f.Parent)
	add("email", f.Email)
	add("client", f.Client)
	for _, sc := range f.Scopes {
		add("scope", sc)
	}
	add("expires_at", expires.UTC().Format(time.RFC3339))
	add("note", f.Note)
	if f.PassOn {
		add("pass_on", "yes")
	}
	return out
}

// HandleGivePage shows the give-access form: for the API asked (?api=), for
// passing on a delegation received (?parent=), or the choice of an API.
func (s *Server) HandleGivePage(w http.ResponseWriter, r *http.Request) error {
	_, u, ok := s.web.RequireSession(w, r)
	if !ok {
		return nil
	}
	ctx := r.Context()
	q := r.URL.Query()
	f := giveForm{API: q.Get("api"), Parent: q.Get("parent"), To: "person"}
	if f.Parent != "" {
		d, err := s.store.Delegations().Get(ctx, f.Parent)
		if errors.Is(err, store.ErrNotFound) || (err == nil && (d.GranteeUserID != u.ID || !d.MayRedelegate || !active(d, s.Now()))) {
			return web.ErrNotFound
		}
		if err != nil {
			return err
		}
		f.API = d.Audience
	}
	if f.API == "" {
		offers, err := s.offers(ctx, u.ID)
		if err != nil {
			return err
		}
		if len(offers) != 1 {
			v := templates.GiveAccessView{Page: page("Give access", u), Nothing: len(offers) == 0}
			for _, a := range offers {
				v.APIs = append(v.APIs, templates.DelegationAPIChoice{Audience: a.Audience, Name: a.Name,
					URL: givePath + "?" + url.Values{"api": {a.Audience}}.Encode()})
			}
			return web.Render(w, r, http.StatusOK, templates.GiveAccess(v))
		}
		f.API = offers[0].Audience
	}
	if f.Parent == "" {
		// Only an API the person can give something of now (issue 11).
		api, err := s.store.APIs().GetByAudience(ctx, f.API)
		if errors.Is(err, store.ErrNotFound) {
			return web.ErrNotFound
		}
		if err != nil {
			return err
		}
		if held, err := s.rules.Delegable(ctx, u.ID, api); err != nil {
			return err
		} else if len(held) == 0 {
			return web.ErrNotFound
		}
	}
	return s.renderGiveForm(w, r, u, f, nil, http.StatusOK)
}

// HandleGiveSubmit checks the give-access form and shows the review step, or
// the form again with what is wrong.
func (s *Server) HandleGiveSubmit(w http.ResponseWriter, r *http.Request) error {
	_, u, ok := s.web.RequireSession(w, r)
	if !ok {
		return nil
	}
	f := readGiveForm(r)
	if r.PostForm.Get("step") == "change" {
		if t, err := time.Parse(time.RFC3339, f.ExpiresAt); err == nil {
			f.For, f.Until, f.ExpiresAt = "date", t.UTC().Format(localTime), ""
		}
		return s.renderGiveForm(w, r, u, f, nil, http.StatusOK)
	}
	req, done, err := s.checkGive(w, r, u, f)
	if done || err != nil {
		return err
	}
	return s.renderReview(w, r, u, f, req)
}

// HandleGiveConfirm gives the access the review step showed. Its hidden fields
// are resolved and checked again, exactly like the first form's.
func (s *Server) HandleGiveConfirm(w http.ResponseWriter, r *http.Request) error {
	_, u, ok := s.web.RequireSession(w, r)
	if !ok {
		return nil
	}
	f := readGiveForm(r)
	req, done, err := s.checkGive(w, r, u, f)
	if done || err != nil {
		return err
	}
	d, err := s.rules.Give(r.Context(), u.ID, req)
	if done, err := s.refused(w, r, u, f, err); done || err != nil {
		return err
	}
	http.Redirect(w, r, "/account/delegations?"+url.Values{"given": {d.ID}}.Encode(), http.StatusSeeOther)
	return nil
}

// checkGive resolves f into a request and checks it with delegate's rules.
// When it is refused, the answer (the form with the problems, or 403) has been
// written and done is true.
func (s *Server) checkGive(w http.ResponseWriter, r *http.Request, u store.User, f giveForm) (delegate.Request, bool, error) {
	req, problems, err := s.resolve(r.Context(), u, f)
	if err != nil {
		return req, true, err
	}
	if len(problems) > 0 {
		return req, true, s.renderGiveForm(w, r, u, f, problems, http.StatusUnprocessableEntity)
	}
	done, err := s.refused(w, r, u, f, s.rules.Check(r.Context(), u.ID, req))
	return req, done, err
}

// refused answers a refusal of delegate's rules: 403 for an escalation
// (AS-DEL-04), else the form again with every problem and what was entered.
func (s *Server) refused(w http.ResponseWriter, r *http.Request, u store.User, f giveForm, err error) (bool, error) {
	var ref *delegate.Refused
	switch {
	case err == nil:
		return false, nil
	case errors.Is(err, delegate.ErrForbidden):
		return true, &web.UserError{Status: errEscalation.Status, Title: errEscalation.Title,
			Message: errEscalation.Message, Next: errEscalation.Next, Err: err}
	case errors.As(err, &ref):
		return true, s.renderGiveForm(w, r, u, f, ref.Problems, http.StatusUnprocessableEntity)
	}
	return true, err
}

// resolve turns f into a delegate.Request: the person by address or the app,
// the end. problems are what the form must say before delegate's rules can
// judge it.
func (s *Server) resolve(ctx context.Context, u store.User, f giveForm) (delegate.Request, []templates.Msg, error) {
	req := delegate.Request{Audience: f.API, Scopes: f.Scopes, Note: f.Note, MayRedelegate: f.PassOn, ParentID: f.Parent}
	var problems []templates.Msg
	switch f.To {
	case "app":
		if f.Client == "" {
			problems = append(problems, templates.M("Choose the app to give access to."))
		}
		req.GranteeClientID = f.Client
	default:
		id, err := s.person(ctx, f.Email)
		if err != nil {
			return req, nil, err
		}
		if id == "" {
			problems = append(problems, errNoSuchPerson)
		}
		req.GranteeUserID = id
	}
	now := s.Now().UTC()
	switch {
	case f.ExpiresAt != "":
		t, err := time.Parse(time.RFC3339, f.ExpiresAt)
		if err != nil {
			problems = append(problems, templates.M("Choose until when."))
		}
		req.ExpiresAt = t
	case f.For == "date" || (f.For == "" && f.Until != ""):
		t, err := time.ParseInLocation(localTime, f.Until, time.UTC)
		if err != nil {
			t, err = time.ParseInLocation(localTime+":05", f.Until, time.UTC)
		}
		if err != nil {
			problems = append(problems, templates.M("Enter the end as a date and a time."))
		}
		req.ExpiresAt = t
	default:
		d, err := time.ParseDuration(f.For)
		if err != nil {
			problems = append(problems, templates.M("Choose until when."))
		}
		req.ExpiresAt = now.Add(d).Truncate(time.Minute)
	}
	return req, problems, nil
}

// person is the ID of the one enabled account with a verified email address
// email, or "". An unverified address is not enough: anyone can claim one at
// some provider, and the access would go to them.
func (s *Server) person(ctx context.Context, email string) (string, error) {
	if email == "" {
		return "", nil
	}
	users, err := s.store.Users().FindByEmail(ctx, emailaddr.Canonical(email))
	if err != nil {
		return "", err
	}
	users = slices.DeleteFunc(users, func(x store.User) bool { return x.Disabled || !x.EmailVerified })
	if len(users) != 1 {
		return "", nil
	}
	return users[0].ID, nil
}

// offers are the APIs whose policy allows delegation and of which userID holds
// a delegable scope now.
func (s *Server) offers(ctx context.Context, userID string) ([]store.API, error) {
	apis, err := s.store.APIs().List(ctx)
	if err != nil {
		return nil, err
	}
	var out []store.API
	for _, a := range apis {
		held, err := s.rules.Delegable(ctx, userID, a)
		if err != nil {
			return nil, err
		}
		if len(held) > 0 {
			out = append(out, a)
		}
	}
	return out, nil
}

// renderGiveForm shows the form for f with problems, offering only what the
// person can give now: the API's delegable scopes they hold (or, passing on,
// what the delegation received covers now), the apps allowed the API, ends
// within the policy's maximum.
func (s *Server) renderGiveForm(w http.ResponseWriter, r *http.Request, u store.User, f giveForm, problems []templates.Msg, status int) error {
	ctx := r.Context()
	now := s.Now().UTC()
	n := s.names(ctx)
	api := n.api(f.API)
	v := templates.GiveAccessView{Page: page("Give access", u), Audience: f.API, APIName: api.Name, ParentID: f.Parent,
		To: f.To, Email: f.Email, Note: f.Note, MayPassOn: f.PassOn, Problems: problems,
		OfferPassOn: api.Delegation.Redelegation}
	var held []string
	limit := api.Delegation.MaxDuration
	if f.Parent != "" {
		if d, err := s.store.Delegations().Get(ctx, f.Parent); err == nil && d.GranteeUserID == u.ID {
			v.ParentFrom = n.user(d.GrantorID)
			if usable, err := s.rules.Covers(ctx, d, now); err == nil {
				held = usable
			}
			limit = min(limit, d.ExpiresAt.Sub(now))
			v.MaxText = templates.M("%s, and no later than the access you received ends, %s",
				templates.Span(api.Delegation.MaxDuration), when(d.ExpiresAt, now))
		}
	} else {
		var err error
		if held, err = s.rules.Delegable(ctx, u.ID, api); err != nil {
			return err
		}
	}
	for _, sc := range held {
		v.Scopes = append(v.Scopes, templates.DelegationOption{Value: sc, Label: scopeWords(api, []string{sc})[0],
			Hint: sc, Checked: slices.Contains(f.Scopes, sc)})
	}
	clients, err := s.store.Clients().List(ctx)
	if err != nil {
		return err
	}
	for _, c := range clients {
		if c.DefaultAudience == f.API || slices.Contains(c.Audiences, f.API) {
			v.Apps = append(v.Apps, templates.DelegationOption{Value: c.ID, Label: c.Name, Checked: c.ID == f.Client})
		}
	}
	if f.For == "" && f.Until == "" {
		f.For = (24 * time.Hour).String()
	}
	for _, q := range quickDurations {
		if q.d <= limit {
			v.Durations = append(v.Durations, templates.DelegationOption{Value: q.d.String(), Text: templates.M("For %s", templates.Span(q.d))})
		}
	}
	if limit > 0 && f.Parent == "" && !slices.ContainsFunc(quickDurations, func(q quickChoice) bool { return q.d == limit }) {
		v.Durations = append(v.Durations, templates.DelegationOption{Value: limit.String(), Text: templates.M("For %s", templates.Span(limit))})
	}
	v.Durations = append(v.Durations, templates.DelegationOption{Value: "date", Text: templates.M("Until the date and time below")})
	for i := range v.Durations {
		v.Durations[i].Checked = v.Durations[i].Value == f.For || (v.Durations[i].Value == "date" && f.For == "" && f.Until != "")
	}
	if v.MaxText.Key == "" {
		v.MaxText = templates.M("%s", templates.Span(api.Delegation.MaxDuration))
	}
	v.Until, v.UntilMin = f.Until, now.Format(localTime)
	if limit > 0 {
		v.UntilMax = now.Add(limit).Format(localTime)
	}
	if v.CSRF, err = s.web.CSRFToken(w, r, givePath); err != nil {
		return err
	}
	return web.Render(w, r, status, templates.GiveAccess(v))
}

// renderReview says in plain words what the delegate will be able to do and
// until when, and asks to confirm.
func (s *Server) renderReview(w http.ResponseWriter, r *http.Request, u store.User, f giveForm, req delegate.Request) error {
	n := s.names(r.Context())
	now := s.Now()
	api := n.api(req.Audience)
	d := store.Delegation{GranteeUserID: req.GranteeUserID, GranteeClientID: req.GranteeClientID}
	who := n.grantee(d)
	words := scopeWords(api, req.Scopes)
	v := templates.GiveReviewView{Page: page("Check before you give access", u), Who: who, APIName: api.Name,
		Scopes: words, Until: when(req.ExpiresAt, now), Note: req.Note, MayPassOn: req.MayRedelegate,
		Fields: f.fields(req.ExpiresAt)}
	v.Summary = templates.M("%s will be able to %s in %s until %s. You can take this back at any time.", who, sentence(words), api.Name, v.Until)
	var err error
	if v.CSRF, err = s.web.CSRFToken(w, r, givePath); err != nil {
		return err
	}
	if v.CSRFGive, err = s.web.CSRFToken(w, r, confirmPath); err != nil {
		return err
	}
	return web.Render(w, r, http.StatusOK, templates.GiveReview(v))
}

func page(title string, u store.User) templates.Page {
	return templates.Page{Title: title, SignedInAs: web.DisplayName(u)}
}
