package admin

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/broker/operations"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/upstream"
)

// People: finding a person, what they have (identities, roles and where each
// comes from, sessions, consents, delegations, recent audit events), and the
// admin's actions on them (disable, enable, end sessions, grant and revoke
// roles), in the console (people_console.go) and the admin API.

// PeoplePage is how many people a search page shows.
const PeoplePage = 50

// MaxQuery bounds the text of a search: longer than any email or name.
const MaxQuery = 320

// RecentEvents is how many audit events about a person their page shows.
const RecentEvents = 20

// UserJSON is a person as the admin API shows them.
type UserJSON struct {
	ID            string    `json:"id"`
	Email         string    `json:"email"`
	EmailVerified bool      `json:"email_verified"`
	Name          string    `json:"name"`
	Disabled      bool      `json:"disabled"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
}

// PersonJSON is a person with everything their page shows.
type PersonJSON struct {
	UserJSON
	Identities          []IdentityJSON         `json:"identities"`
	Roles               []RoleJSON             `json:"roles"`
	Sessions            []SessionJSON          `json:"sessions"`
	Consents            []ConsentJSON          `json:"consents"`
	DelegationsGiven    []PersonDelegationJSON `json:"delegations_given"`
	DelegationsReceived []PersonDelegationJSON `json:"delegations_received"`
	RecentEvents        []EventJSON            `json:"recent_events"`
}

// IdentityJSON is a linked upstream identity.
type IdentityJSON struct {
	Provider     string    `json:"provider"`
	ProviderName string    `json:"provider_name"`
	Subject      string    `json:"subject"`
	Email        string    `json:"email"`
	LinkedAt     time.Time `json:"linked_at"`
	LastSignIn   time.Time `json:"last_sign_in,omitzero"`
}

// RoleJSON is one role and where it comes from: "granted" (by GrantedBy, in
// user_roles; an admin can revoke it) or "provider" (Provider's role rules over
// the claims of the identity Subject's last sign-in; changed at the provider).
type RoleJSON struct {
	Role      string    `json:"role"`
	Source    string    `json:"source"`
	GrantedBy string    `json:"granted_by,omitempty"`
	GrantedAt time.Time `json:"granted_at,omitzero"`
	Provider  string    `json:"provider,omitempty"`
	Subject   string    `json:"subject,omitempty"`
}

// SessionJSON is an active browser session (never its token).
type SessionJSON struct {
	ID         string    `json:"id"`
	Provider   string    `json:"provider"`
	IP         string    `json:"ip"`
	UserAgent  string    `json:"user_agent"`
	CreatedAt  time.Time `json:"created_at"`
	LastSeenAt time.Time `json:"last_seen_at"`
	ExpiresAt  time.Time `json:"expires_at"`
}

// ConsentJSON is an app the person connected.
type ConsentJSON struct {
	ClientID   string    `json:"client_id"`
	ClientName string    `json:"client_name"`
	Scopes     []string  `json:"scopes"`
	CreatedAt  time.Time `json:"created_at"`
	LastUsedAt time.Time `json:"last_used_at,omitzero"`
}

// PersonDelegationJSON is a delegation given or received.
type PersonDelegationJSON struct {
	ID            string    `json:"id"`
	Grantor       string    `json:"grantor"`
	GranteeUser   string    `json:"grantee_user,omitempty"`
	GranteeClient string    `json:"grantee_client,omitempty"`
	Audience      string    `json:"audience"`
	Scopes        []string  `json:"scopes"`
	Status        string    `json:"status"`
	CreatedAt     time.Time `json:"created_at"`
	ExpiresAt     time.Time `json:"expires_at"`
}

// EventJSON is an audit event about the person (as its actor or target).
type EventJSON struct {
	ID      int64           `json:"id"`
	Time    time.Time       `json:"time"`
	Actor   string          `json:"actor"`
	Action  string          `json:"action"`
	Target  string          `json:"target"`
	Details json.RawMessage `json:"details,omitempty"`
}

// UserActionJSON is the answer to disable, enable and sign-out: the person
// after it and what its cut-off ended.
type UserActionJSON struct {
	User                 UserJSON `json:"user"`
	SessionsEnded        int      `json:"sessions_ended"`
	RefreshTokensRevoked int64    `json:"refresh_tokens_revoked"`
	DelegationsEnded     int      `json:"delegations_ended"`
}

// UserView is u as the admin API shows a person in lists and answers, and
// as the CLI's users list --json prints them.
func UserView(u store.User) UserJSON {
	return UserJSON{ID: u.ID, Email: u.Email, EmailVerified: u.EmailVerified, Name: u.Name, Disabled: u.Disabled,
		CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt}
}

// encodeCursor makes the opaque "after" of the next page.
func encodeCursor(c store.UserCursor) string {
	if c.ID == "" {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString([]byte(c.Email + "\n" + c.ID))
}

func decodeCursor(s string) (store.UserCursor, bool) {
	if s == "" {
		return store.UserCursor{}, true
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	email, id, ok := strings.Cut(string(b), "\n")
	if err != nil || !ok || id == "" {
		return store.UserCursor{}, false
	}
	return store.UserCursor{Email: email, ID: id}, true
}

// search returns one page of people matching q after the cursor, and the
// cursor of the next page ("" when this is the last).
func (a *Server) search(ctx context.Context, q string, after store.UserCursor, limit int) ([]store.User, string, error) {
	// One more than the page tells whether there is a next one.
	us, err := a.ops.Store.Users().Search(ctx, store.UserSearch{Query: q, After: after, Limit: limit + 1})
	if err != nil {
		return nil, "", err
	}
	if len(us) <= limit {
		return us, "", nil
	}
	us = us[:limit]
	return us, encodeCursor(us[len(us)-1].Cursor()), nil
}

// person reads everything the person page shows; operations.ErrNotFound if
// there is no such user.
func (a *Server) person(ctx context.Context, id string) (store.User, PersonJSON, error) {
	return PersonView(ctx, a.ops, a.Now(), a.web.Config.SessionIdleTimeout, id)
}

// PersonView is everything the admin API says about the person id (GET
// /api/admin/v1/users/{id}), which the CLI's users show --json prints too, so
// the two cannot drift apart. A session past its end or idle for sessionIdle
// at now is over. operations.ErrNotFound if there is no such user.
func PersonView(ctx context.Context, ops *operations.Service, now time.Time, sessionIdle time.Duration, id string) (store.User, PersonJSON, error) {
	st := ops.Store
	u, err := st.Users().Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, PersonJSON{}, operations.ErrNotFound
	}
	if err != nil {
		return store.User{}, PersonJSON{}, err
	}
	out := PersonJSON{UserJSON: UserView(u), Identities: []IdentityJSON{}, Roles: []RoleJSON{}, Sessions: []SessionJSON{},
		Consents: []ConsentJSON{}, DelegationsGiven: []PersonDelegationJSON{}, DelegationsReceived: []PersonDelegationJSON{},
		RecentEvents: []EventJSON{}}
	providers, err := st.Providers().List(ctx)
	if err != nil {
		return u, out, err
	}
	names := map[string]string{}
	for _, p := range providers {
		names[p.ID] = p.Name
	}
	ids, err := st.Identities().ListForUser(ctx, id)
	if err != nil {
		return u, out, err
	}
	for _, x := range ids {
		out.Identities = append(out.Identities, IdentityJSON{Provider: x.ProviderID, ProviderName: cmp.Or(names[x.ProviderID], x.ProviderID),
			Subject: x.Subject, Email: x.Email, LinkedAt: x.LinkedAt, LastSignIn: x.LastLoginAt})
	}
	grants, err := st.Roles().ListForUser(ctx, id)
	if err != nil {
		return u, out, err
	}
	for _, g := range grants {
		out.Roles = append(out.Roles, RoleJSON{Role: g.Role, Source: "granted", GrantedBy: g.GrantedBy, GrantedAt: g.GrantedAt})
	}
	sources, err := upstream.RoleSources(ctx, st, id)
	if err != nil {
		return u, out, err
	}
	for _, src := range sources {
		for _, r := range src.Roles {
			out.Roles = append(out.Roles, RoleJSON{Role: r, Source: "provider", Provider: src.ProviderID, Subject: src.Subject})
		}
	}
	sessions, err := st.Sessions().ListForUser(ctx, id)
	if err != nil {
		return u, out, err
	}
	for _, s := range sessions {
		// As the account page: a session past its limits is over, whether or
		// not the sweep has deleted it yet.
		if !now.Before(s.ExpiresAt) || !now.Before(s.LastSeenAt.Add(sessionIdle)) {
			continue
		}
		out.Sessions = append(out.Sessions, SessionJSON{ID: s.ID, Provider: s.ProviderID, IP: s.IP, UserAgent: s.UserAgent,
			CreatedAt: s.CreatedAt, LastSeenAt: s.LastSeenAt, ExpiresAt: s.ExpiresAt})
	}
	consents, err := st.Consents().ListForUser(ctx, id)
	if err != nil {
		return u, out, err
	}
	for _, c := range consents {
		name := c.ClientID
		if cl, err := st.Clients().Get(ctx, c.ClientID); err == nil && cl.Name != "" {
			name = cl.Name
		} else if err != nil && !errors.Is(err, store.ErrNotFound) {
			return u, out, err
		}
		out.Consents = append(out.Consents, ConsentJSON{ClientID: c.ClientID, ClientName: name, Scopes: orEmpty(c.Scopes),
			CreatedAt: c.CreatedAt, LastUsedAt: c.LastUsedAt})
	}
	given, err := st.Delegations().ListByGrantor(ctx, id)
	if err != nil {
		return u, out, err
	}
	received, err := st.Delegations().ListByGrantee(ctx, id, "")
	if err != nil {
		return u, out, err
	}
	for _, l := range []struct {
		from []store.Delegation
		into *[]PersonDelegationJSON
	}{{given, &out.DelegationsGiven}, {received, &out.DelegationsReceived}} {
		for _, d := range l.from {
			*l.into = append(*l.into, PersonDelegationJSON{ID: d.ID, Grantor: d.GrantorID, GranteeUser: d.GranteeUserID,
				GranteeClient: d.GranteeClientID, Audience: d.Audience, Scopes: orEmpty(d.Scopes), Status: d.Status(now, 0),
				CreatedAt: d.CreatedAt, ExpiresAt: d.ExpiresAt})
		}
	}
	if out.RecentEvents, err = recentEvents(ctx, ops, id); err != nil {
		return u, out, err
	}
	return u, out, nil
}

// recentEvents are the latest RecentEvents audit events naming the person as
// actor or as target: two indexed reads (audit_events_actor, _target) merged
// in the log's order, an event naming them as both taken once.
func recentEvents(ctx context.Context, ops *operations.Service, id string) ([]EventJSON, error) {
	byActor, err := ops.Store.Audit().List(ctx, store.AuditFilter{Actor: id, Limit: RecentEvents})
	if err != nil {
		return nil, err
	}
	byTarget, err := ops.Store.Audit().List(ctx, store.AuditFilter{Target: id, Limit: RecentEvents})
	if err != nil {
		return nil, err
	}
	all := slices.Concat(byActor, byTarget)
	slices.SortFunc(all, func(x, y store.AuditEvent) int {
		// Newest first; for one time, the later appended first (store.Audit.List).
		return cmp.Or(y.Time.Compare(x.Time), cmp.Compare(y.ID, x.ID))
	})
	all = slices.CompactFunc(all, func(x, y store.AuditEvent) bool { return x.ID == y.ID })
	out := []EventJSON{}
	for _, e := range all[:min(len(all), RecentEvents)] {
		ev := EventJSON{ID: e.ID, Time: e.Time, Actor: e.Actor, Action: e.Action, Target: e.Target}
		if len(e.Details) > 0 && json.Valid(e.Details) {
			ev.Details = json.RawMessage(e.Details)
		}
		out = append(out, ev)
	}
	return out, nil
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// userAction is one of the actions on a person that end access.
type userAction struct {
	do   func(*operations.Service, context.Context, operations.Actor, string) (operations.UserChange, error)
	done string // the notice of the person page afterwards
}

var userActions = map[string]userAction{
	"disable":  {(*operations.Service).DisableUser, "disabled"},
	"enable":   {(*operations.Service).EnableUser, "enabled"},
	"sign-out": {(*operations.Service).SignOutUser, "signed-out"},
}

// --- Admin API ---

// UserSearchAPI is GET /api/admin/v1/users?q=…&after=…&limit=…: people whose
// email starts with q or whose name contains it, a page at a time (next is
// the after of the next page).
func (a *Server) UserSearchAPI(w http.ResponseWriter, r *http.Request) {
	a.api(w, r, func(w http.ResponseWriter, r *http.Request, _ person) error {
		q := r.URL.Query()
		after, ok := decodeCursor(q.Get("after"))
		if !ok {
			return problem(http.StatusBadRequest, "after is not a cursor this API returned as next.")
		}
		if len(q.Get("q")) > MaxQuery {
			return invalidProblem([]string{"q is longer than " + strconv.Itoa(MaxQuery) + " bytes"})
		}
		limit := PeoplePage
		if s := q.Get("limit"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > store.MaxUserSearch-1 {
				return invalidProblem([]string{"limit must be a number from 1 to " + strconv.Itoa(store.MaxUserSearch-1)})
			}
			limit = n
		}
		us, next, err := a.search(r.Context(), q.Get("q"), after, limit)
		if err != nil {
			return err
		}
		out := []UserJSON{}
		for _, u := range us {
			out = append(out, UserView(u))
		}
		body := map[string]any{"users": out}
		if next != "" {
			body["next"] = next
		}
		return writeJSON(w, http.StatusOK, body)
	})
}

// UserGetAPI is GET /api/admin/v1/users/{id}.
func (a *Server) UserGetAPI(w http.ResponseWriter, r *http.Request) {
	a.api(w, r, func(w http.ResponseWriter, r *http.Request, _ person) error {
		_, out, err := a.person(r.Context(), r.PathValue("id"))
		if errors.Is(err, operations.ErrNotFound) {
			return problem(http.StatusNotFound, "There is no such person.")
		}
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, out)
	})
}

// UserActionAPI is POST /api/admin/v1/users/{id}/disable, /enable and
// /sign-out, by the last segment of the route.
func (a *Server) UserActionAPI(name string) http.HandlerFunc {
	act := userActions[name]
	return func(w http.ResponseWriter, r *http.Request) {
		a.api(w, r, func(w http.ResponseWriter, r *http.Request, p person) error {
			if err := noBody(r); err != nil {
				return err
			}
			ch, err := act.do(a.ops, r.Context(), p.Actor, r.PathValue("id"))
			if err != nil {
				return peopleProblem(err)
			}
			out := UserActionJSON{User: UserView(ch.User)}
			if ch.CutOff != nil {
				out.SessionsEnded, out.RefreshTokensRevoked, out.DelegationsEnded = ch.CutOff.Sessions, ch.CutOff.RefreshTokens, ch.CutOff.Delegations
			}
			return writeJSON(w, http.StatusOK, out)
		})
	}
}

// UserRoleGrantAPI is PUT /api/admin/v1/users/{id}/roles/{role}: grants the
// role; granting one the person holds already changes nothing (PUT is
// idempotent, RFC 9110 §9.2.2).
func (a *Server) UserRoleGrantAPI(w http.ResponseWriter, r *http.Request) {
	a.api(w, r, func(w http.ResponseWriter, r *http.Request, p person) error {
		if err := noBody(r); err != nil {
			return err
		}
		err := a.ops.GrantRole(r.Context(), p.Actor, r.PathValue("id"), r.PathValue("role"))
		if errors.Is(err, operations.ErrConflict) {
			err = nil
		}
		if err != nil {
			return peopleProblem(err)
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}

// UserRoleRevokeAPI is DELETE /api/admin/v1/users/{id}/roles/{role}: the last
// admin's admin role is refused (409).
func (a *Server) UserRoleRevokeAPI(w http.ResponseWriter, r *http.Request) {
	a.api(w, r, func(w http.ResponseWriter, r *http.Request, p person) error {
		if err := a.ops.RevokeRole(r.Context(), p.Actor, r.PathValue("id"), r.PathValue("role")); err != nil {
			return peopleProblem(err)
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}

// noBody refuses a body on an action that takes none, unless it is empty or
// an empty JSON object: a field such as "is_admin" is not silently ignored
// (ADM-03).
func noBody(r *http.Request) error {
	b, err := io.ReadAll(io.LimitReader(r.Body, BodyLimit+1))
	if err != nil {
		return problem(http.StatusBadRequest, "The body could not be read.")
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	r.Body = io.NopCloser(bytes.NewReader(b))
	var none struct{}
	return decode(r, &none)
}

// peopleProblem maps an operation's error on a person to a problem: the last
// admin is a 409 saying so.
func peopleProblem(err error) error {
	if errors.Is(err, operations.ErrLastAdmin) {
		return problem(http.StatusConflict, "This is the last admin: grant the admin role to someone else first.")
	}
	return opProblem(err)
}
