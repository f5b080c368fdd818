package signin

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/web"
	"github.com/gatehouse/gatehouse/providers"
	"github.com/gatehouse/gatehouse/templates"
)

// HandleAccount shows the signed-in person their linked identities and sessions.
func (s *Server) HandleAccount(w http.ResponseWriter, r *http.Request) error {
	sess, u, ok := s.web.RequireSession(w, r)
	if !ok {
		return nil
	}
	ctx := r.Context()
	ids, err := s.store.Identities().ListForUser(ctx, u.ID)
	if err != nil {
		return err
	}
	sessions, err := s.store.Sessions().ListForUser(ctx, u.ID)
	if err != nil {
		return err
	}
	enabled, err := s.upstreams.Enabled(ctx)
	if err != nil {
		return err
	}
	names := map[string]string{}
	for _, c := range enabled {
		names[c.ID] = c.Name
	}
	name := func(id string) string {
		if n, ok := names[id]; ok {
			return n
		}
		return id
	}
	now := s.Now()
	when := func(t time.Time) templates.When { return templates.When{At: t, Now: now} }
	v := templates.AccountView{Page: templates.Page{Title: "Your account", SignedInAs: web.DisplayName(u)},
		Name: u.Name, Email: u.Email, Roles: sess.Roles}
	for _, id := range ids {
		v.Identities = append(v.Identities, templates.IdentityRow{ProviderID: id.ProviderID, ProviderName: name(id.ProviderID),
			Subject: id.Subject, Email: id.Email, LinkedAt: when(id.LinkedAt), LastLoginAt: when(id.LastLoginAt)})
		if id.ProviderID == sess.ProviderID && id.Subject == sess.Subject {
			v.PictureURL = web.HTTPSURL(pictureClaim(id.Claims))
		}
	}
	for _, x := range s.liveSessions(sessions) {
		d := web.ParseDevice(x.UserAgent)
		v.Sessions = append(v.Sessions, templates.SessionRow{ID: x.ID, ProviderName: name(x.ProviderID), IP: x.IP,
			Browser: d.Browser, OS: d.OS, Started: when(x.CreatedAt), LastSeen: when(x.LastSeenAt), Current: x.ID == sess.ID})
	}
	for _, c := range enabled {
		if !slices.ContainsFunc(ids, func(id store.Identity) bool { return id.ProviderID == c.ID }) {
			v.LinkChoices = append(v.LinkChoices, templates.ProviderChoice{ID: c.ID, Name: c.Name})
		}
	}
	if p := r.URL.Query().Get("linked"); p != "" && names[p] != "" {
		v.LinkedName = names[p]
	}
	if v.Apps, err = s.authz.ConnectedApps(r.Context(), u.ID); err != nil {
		return err
	}
	// What the confirmed Revoke or End did, said on the page it returns to: only
	// when it is so (the app holds no consent; the session is not live), so a
	// crafted link cannot make the page claim it.
	if c := r.URL.Query().Get("revoked"); c != "" && !slices.ContainsFunc(v.Apps, func(a templates.AppRow) bool { return a.ClientID == c }) {
		if cl, err := s.store.Clients().Get(ctx, c); err == nil {
			v.RevokedApp = cl.Name
			if v.RevokedApp == "" {
				v.RevokedApp = cl.ID
			}
		}
	}
	if e := r.URL.Query().Get("ended"); e != "" && !slices.ContainsFunc(v.Sessions, func(x templates.SessionRow) bool { return x.ID == e }) {
		v.EndedSession = true
	}
	if v.DelegationsGiven, v.DelegationsReceived, err = s.activeDelegations(r, u.ID); err != nil {
		return err
	}
	for action, dst := range map[string]*string{"/account/unlink": &v.CSRFUnlink,
		"/account/link": &v.CSRFLink, "/logout": &v.SignOutCSRF} {
		if *dst, err = s.web.CSRFToken(w, r, action); err != nil {
			return err
		}
	}
	s.allowUpstreamForms(w, r)
	return web.Render(w, r, http.StatusOK, templates.Account(v))
}

// activeDelegations counts the person's active delegations, given and received,
// for the account page's link to the delegated-access pages (issue 11).
func (s *Server) activeDelegations(r *http.Request, userID string) (given, received int, err error) {
	now := s.Now()
	count := func(l []store.Delegation, err error) (int, error) {
		n := 0
		for _, d := range l {
			if st := d.Status(now, 0); st == store.DelegationActive || st == store.DelegationExpiringSoon {
				n++
			}
		}
		return n, err
	}
	if given, err = count(s.store.Delegations().ListByGrantor(r.Context(), userID)); err != nil {
		return 0, 0, err
	}
	received, err = count(s.store.Delegations().ListByGrantee(r.Context(), userID, ""))
	return given, received, err
}

// pictureClaim reads the OIDC picture claim from stored claims.
func pictureClaim(raw []byte) string {
	var c struct {
		Picture string `json:"picture"`
	}
	_ = web.JSONUnmarshal(raw, &c)
	return c.Picture
}

// liveSessions are those of list that have neither expired nor gone idle.
func (s *Server) liveSessions(list []store.Session) []store.Session {
	now := s.Now()
	var out []store.Session
	for _, x := range list {
		if now.Before(x.ExpiresAt) && now.Before(x.LastSeenAt.Add(s.cfg.SessionIdleTimeout)) {
			out = append(out, x)
		}
	}
	return out
}

// HandleSessionEndPage asks the person to confirm ending one of their sessions
// (the account page's "End"): a second step that works without JavaScript.
func (s *Server) HandleSessionEndPage(w http.ResponseWriter, r *http.Request) error {
	sess, u, ok := s.web.RequireSession(w, r)
	if !ok {
		return nil
	}
	list, err := s.store.Sessions().ListForUser(r.Context(), u.ID)
	if err != nil {
		return err
	}
	live := s.liveSessions(list)
	i := slices.IndexFunc(live, func(x store.Session) bool { return x.ID == r.URL.Query().Get("session") })
	if i < 0 {
		return web.ErrNotFound // not one of theirs: say nothing about it
	}
	d := web.ParseDevice(live[i].UserAgent)
	v := templates.AccountConfirmView{Page: templates.Page{Title: "End this session?", SignedInAs: web.DisplayName(u)},
		Action: "/account/sessions/end", Field: "session", Value: live[i].ID, Browser: d.Browser, OS: d.OS, IP: live[i].IP,
		Current: live[i].ID == sess.ID}
	if v.CSRF, err = s.web.CSRFToken(w, r, v.Action); err != nil {
		return err
	}
	return web.Render(w, r, http.StatusOK, templates.AccountConfirm(v))
}

// HandleSessionEnd ends one of the signed-in person's sessions.
func (s *Server) HandleSessionEnd(w http.ResponseWriter, r *http.Request) error {
	sess, u, ok := s.web.RequireSession(w, r)
	if !ok {
		return nil
	}
	target := r.PostFormValue("session")
	list, err := s.store.Sessions().ListForUser(r.Context(), u.ID)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(list, func(x store.Session) bool { return x.ID == target }) {
		return web.ErrNotFound // not one of theirs: say nothing about it
	}
	s.web.EndSession(r.Context(), target)
	s.audit.Enqueue(s.web.AuditEvent(r, u.ID, "session.ended", target, nil))
	if target == sess.ID {
		s.web.ClearBrowser(w, r)
		http.Redirect(w, r, "/signed-out", http.StatusSeeOther)
		return nil
	}
	http.Redirect(w, r, "/account?"+url.Values{"ended": {target}}.Encode(), http.StatusSeeOther)
	return nil
}

// HandleLink starts linking another provider: a fresh sign-in there
// (prompt=login), bound to this session (WEB-27).
func (s *Server) HandleLink(w http.ResponseWriter, r *http.Request) error {
	sess, _, ok := s.web.RequireSession(w, r)
	if !ok {
		return nil
	}
	if err := s.rateLimit(s.limits.start, r); err != nil {
		return err
	}
	b, err := s.upstreams.Get(r.Context(), r.PostFormValue("provider"))
	if err != nil {
		return errUnknownProvider
	}
	return s.beginFlow(w, r, b, flow{Purpose: flowLink, SessionID: sess.ID, ReturnTo: "/account"},
		providers.BeginParams{Reauthenticate: true})
}

var errLastIdentity = &web.UserError{Status: http.StatusConflict, Title: "Cannot unlink",
	Message: "This is the only way you can sign in, so it cannot be unlinked.",
	Next:    "Link another account first."}

// HandleUnlink removes a linked identity, never the last one.
func (s *Server) HandleUnlink(w http.ResponseWriter, r *http.Request) error {
	_, u, ok := s.web.RequireSession(w, r)
	if !ok {
		return nil
	}
	p, sub := r.PostFormValue("provider"), r.PostFormValue("subject")
	err := s.store.Identities().Unlink(r.Context(), u.ID, p, sub)
	switch {
	case errors.Is(err, store.ErrLastIdentity):
		return errLastIdentity
	case errors.Is(err, store.ErrNotFound):
		return web.ErrNotFound
	case err != nil:
		return err
	}
	s.web.Record(r, u.ID, "identity.unlinked", p, map[string]any{"subject": sub})
	http.Redirect(w, r, "/account", http.StatusSeeOther)
	return nil
}
