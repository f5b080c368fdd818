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
func statusWords(d store.Delegation, now time.Time) (key, words string) {
	key = d.Status(now, expiringSoon)
	switch key {
	case store.DelegationActive:
		return key, "Active"
	case store.DelegationExpiringSoon:
		return key, "Active, expiring within a day"
	case store.DelegationExpired:
		return key, "Expired"
	case store.DelegationDeclined:
		return key, "Declined"
	}
	switch d.EndReason {
	case store.DelegationEndGrantorDisabled:
		return key, "Ended: the account that gave it was disabled"
	case store.DelegationEndGranteeDisabled:
		return key, "Ended: the account it was given to was disabled"
	case store.DelegationEndEntitlementLost:
		return key, "Ended: the access it came from is no longer held"
	case store.DelegationEndParentEnded:
		return key, "Ended: the access it was passed on from ended"
	}
	return key, "Revoked"
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
		last := "Not used yet"
		if !d.LastUsedAt.IsZero() {
			last = when(d.LastUsedAt, now)
		}
		return templates.DelegationRow{ID: d.ID, Who: who, APIName: api.Name, Scopes: scopeWords(api, d.Scopes),
			Status: words, StatusKey: key, Until: when(d.ExpiresAt, now), LastUsed: last, Note: d.Note, Active: active(d, now),
			Access: possessive(who) + " access to " + api.Name}
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
			v.Notice = x.Who + " can now " + sentence(x.Scopes) + " in " + api.Name + " until " + x.Until + "."
		case q.Get("revoked"):
			v.Notice = x.Who + " can no longer use your access to " + api.Name + "; tokens they got with it stopped working."
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
			v.Notice = "You declined " + possessive(x.Who) + " access to " + api.Name + "; you can no longer use it."
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
		Question: "Revoke " + possessive(who) + " access to " + api.Name + "?",
		Consequence: who + " will no longer be able to " + sentence(scopeWords(api, d.Scopes)) + " in " + api.Name +
			" for you, and the tokens they got with it stop working at once. Anything they passed it on to ends too.",
		Action: r.URL.Path, Button: "Revoke " + possessive(who) + " access to " + api.Name, TestID: "confirm-revoke"}
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
		Question: "Decline " + possessive(who) + " access to " + api.Name + "?",
		Consequence: "You will no longer be able to act for " + who + " in " + api.Name +
			", and the tokens you got with it stop working at once. Only " + who + " can give it to you again.",
		Action: r.URL.Path, Button: "Decline " + possessive(who) + " access to " + api.Name, TestID: "confirm-decline"}
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
