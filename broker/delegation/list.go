package delegation

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/gatehouse/gatehouse/broker/delegate"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/web"
	"github.com/gatehouse/gatehouse/templates"
)

const listPath = "/account/delegations"

// statusWords says a delegation's status (store.Delegation.Status) in words;
// the page never relies on colour alone.
func statusWords(d store.Delegation, now time.Time) (key string, words templates.Msg) {
	key = d.Status(now, expiringSoon)
	switch key {
	case store.DelegationActive:
		return key, templates.M("Active")
	case store.DelegationExpiringSoon:
		return key, templates.M("Active, expiring within a day")
	case store.DelegationExpired:
		return key, templates.M("Expired")
	case store.DelegationDeclined:
		return key, templates.M("Declined")
	}
	switch d.EndReason {
	case store.DelegationEndGrantorDisabled:
		return key, templates.M("Ended: the account that gave it was disabled")
	case store.DelegationEndGranteeDisabled:
		return key, templates.M("Ended: the account it was given to was disabled")
	case store.DelegationEndEntitlementLost:
		return key, templates.M("Ended: the access it came from is no longer held")
	case store.DelegationEndParentEnded:
		return key, templates.M("Ended: the access it was passed on from ended")
	}
	return key, templates.M("Revoked")
}

func active(d store.Delegation, now time.Time) bool {
	k := d.Status(now, 0)
	return k == store.DelegationActive || k == store.DelegationExpiringSoon
}

// HandleList shows the delegations the person gave and those given to them,
// and what the last action did.
func (s *Server) HandleList(w http.ResponseWriter, r *http.Request) error {
	_, u, ok := s.web.RequireSession(w, r)
	if !ok {
		return nil
	}
	ctx := r.Context()
	out, err := s.store.Delegations().ListByGrantor(ctx, u.ID)
	if err != nil {
		return err
	}
	in, err := s.store.Delegations().ListByGrantee(ctx, u.ID, "")
	if err != nil {
		return err
	}
	newestFirst := func(a, b store.Delegation) int { return b.CreatedAt.Compare(a.CreatedAt) }
	slices.SortStableFunc(out, newestFirst)
	slices.SortStableFunc(in, newestFirst)
	now := s.Now()
	n := s.names(ctx)
	v := templates.DelegationsView{Page: page("Delegated access", u)}
	row := func(d store.Delegation, who string) templates.DelegationRow {
		api := n.api(d.Audience)
		key, words := statusWords(d, now)
		return templates.DelegationRow{ID: d.ID, Who: who, APIName: api.Name, Scopes: scopeWords(api, d.Scopes),
			Status: words, StatusKey: key, Until: when(d.ExpiresAt, now), LastUsed: when(d.LastUsedAt, now), Note: d.Note, Active: active(d, now),
			Access: templates.M("%s's access to %s", who, api.Name)}
	}
	q := r.URL.Query()
	for _, d := range out {
		x := row(d, n.grantee(d))
		x.ActivityURL = listPath + "/" + url.PathEscape(d.ID) + "/activity"
		if x.Active {
			x.RevokeURL = listPath + "/" + url.PathEscape(d.ID) + "/revoke"
		}
		v.Outgoing = append(v.Outgoing, x)
		api := n.api(d.Audience)
		switch d.ID {
		case q.Get("given"):
			v.Notice = templates.M("%s can now %s in %s until %s.", x.Who, sentence(x.Scopes), api.Name, x.Until)
		case q.Get("revoked"):
			v.Notice = templates.M("%s can no longer use your access to %s; tokens they got with it stopped working.", x.Who, api.Name)
		}
	}
	for _, d := range in {
		x := row(d, n.user(d.GrantorID))
		api := n.api(d.Audience)
		if x.Active {
			x.DeclineURL = listPath + "/" + url.PathEscape(d.ID) + "/decline"
			if d.MayRedelegate && api.Delegation.Allowed && api.Delegation.Redelegation {
				x.PassOnURL = givePath + "?" + url.Values{"parent": {d.ID}}.Encode()
			}
		}
		v.Incoming = append(v.Incoming, x)
		if d.ID == q.Get("declined") {
			v.Notice = templates.M("You declined %s's access to %s; you can no longer use it.", x.Who, api.Name)
		}
	}
	return web.Render(w, r, http.StatusOK, templates.Delegations(v))
}

// own returns the delegation of the request's {id} that mine accepts, or
// web.ErrNotFound: someone else's and none look the same.
func (s *Server) own(r *http.Request, mine func(store.Delegation) bool) (store.Delegation, error) {
	d, err := s.store.Delegations().Get(r.Context(), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) || (err == nil && !mine(d)) {
		return store.Delegation{}, web.ErrNotFound
	}
	return d, err
}

// HandleRevokePage asks the grantor to confirm revoking a delegation.
func (s *Server) HandleRevokePage(w http.ResponseWriter, r *http.Request) error {
	_, u, ok := s.web.RequireSession(w, r)
	if !ok {
		return nil
	}
	d, err := s.own(r, func(d store.Delegation) bool { return d.GrantorID == u.ID })
	if err != nil {
		return err
	}
	if !d.RevokedAt.IsZero() {
		http.Redirect(w, r, listPath, http.StatusSeeOther)
		return nil
	}
	n := s.names(r.Context())
	who, api := n.grantee(d), n.api(d.Audience)
	v := templates.DelegationConfirmView{Page: page("Revoke access", u),
		Question: templates.M("Revoke %s's access to %s?", who, api.Name),
		Consequence: templates.M("%s will no longer be able to %s in %s for you, and the tokens they got with it stop working at once. Anything they passed it on to ends too.",
			who, sentence(scopeWords(api, d.Scopes)), api.Name),
		Action: r.URL.Path, Button: templates.M("Revoke %s's access to %s", who, api.Name), TestID: "confirm-revoke"}
	if v.CSRF, err = s.web.CSRFToken(w, r, r.URL.Path); err != nil {
		return err
	}
	return web.Render(w, r, http.StatusOK, templates.DelegationConfirm(v))
}

// HandleRevoke revokes a delegation the person gave (delegate.Service.Revoke
// ends what was issued under it and audits it).
func (s *Server) HandleRevoke(w http.ResponseWriter, r *http.Request) error {
	_, u, ok := s.web.RequireSession(w, r)
	if !ok {
		return nil
	}
	id := r.PathValue("id")
	if err := s.rules.Revoke(r.Context(), u.ID, id); errors.Is(err, delegate.ErrNotFound) {
		return web.ErrNotFound
	} else if err != nil {
		return err
	}
	http.Redirect(w, r, listPath+"?"+url.Values{"revoked": {id}}.Encode(), http.StatusSeeOther)
	return nil
}

// HandleDeclinePage asks the delegate to confirm declining a delegation.
func (s *Server) HandleDeclinePage(w http.ResponseWriter, r *http.Request) error {
	_, u, ok := s.web.RequireSession(w, r)
	if !ok {
		return nil
	}
	d, err := s.own(r, func(d store.Delegation) bool { return d.GranteeUserID == u.ID })
	if err != nil {
		return err
	}
	if !d.RevokedAt.IsZero() {
		http.Redirect(w, r, listPath, http.StatusSeeOther)
		return nil
	}
	n := s.names(r.Context())
	who, api := n.user(d.GrantorID), n.api(d.Audience)
	v := templates.DelegationConfirmView{Page: page("Decline access", u),
		Question: templates.M("Decline %s's access to %s?", who, api.Name),
		Consequence: templates.M("You will no longer be able to act for %[1]s in %[2]s, and the tokens you got with it stop working at once. Only %[1]s can give it to you again.",
			who, api.Name),
		Action: r.URL.Path, Button: templates.M("Decline %s's access to %s", who, api.Name), TestID: "confirm-decline"}
	if v.CSRF, err = s.web.CSRFToken(w, r, r.URL.Path); err != nil {
		return err
	}
	return web.Render(w, r, http.StatusOK, templates.DelegationConfirm(v))
}

// HandleDecline declines a delegation given to the person.
func (s *Server) HandleDecline(w http.ResponseWriter, r *http.Request) error {
	_, u, ok := s.web.RequireSession(w, r)
	if !ok {
		return nil
	}
	id := r.PathValue("id")
	if err := s.rules.Decline(r.Context(), u.ID, id); errors.Is(err, delegate.ErrNotFound) {
		return web.ErrNotFound
	} else if err != nil {
		return err
	}
	http.Redirect(w, r, listPath+"?"+url.Values{"declined": {id}}.Encode(), http.StatusSeeOther)
	return nil
}
