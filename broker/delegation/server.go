// Package delegation is the delegated-access pages of issue 11: giving access
// (with a review step), the lists of delegations given and received with revoke
// and decline, and the activity of a delegation. The rules are broker/delegate's;
// these handlers only offer, ask and show.
package delegation

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/broker/delegate"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/web"
	"github.com/gatehouse/gatehouse/templates"
)

// expiringSoon is when a delegation is shown as "expiring soon".
const expiringSoon = 24 * time.Hour

// Options are the pages' dependencies; every one is required.
type Options struct {
	Web      *web.Core
	Delegate *delegate.Service
	// Now is the clock.
	Now func() time.Time
}

// Server serves the delegated-access pages; broker's route table registers
// its handlers.
type Server struct {
	store store.Store
	web   *web.Core
	rules *delegate.Service
	Now   func() time.Time
}

// New builds the pages from their dependencies.
func New(o Options) (*Server, error) {
	if o.Web == nil || o.Delegate == nil || o.Now == nil {
		return nil, errors.New("delegation: every option is required")
	}
	return &Server{store: o.Web.Store, web: o.Web, rules: o.Delegate, Now: o.Now}, nil
}

// names resolves the people, apps and APIs a page shows, each read once.
type names struct {
	s       *Server
	ctx     context.Context
	users   map[string]string
	clients map[string]string
	apis    map[string]store.API
}

func (s *Server) names(ctx context.Context) *names {
	return &names{s: s, ctx: ctx, users: map[string]string{}, clients: map[string]string{}, apis: map[string]store.API{}}
}

// user names a person; someone gone is "a former user".
func (n *names) user(id string) string {
	if v, ok := n.users[id]; ok {
		return v
	}
	v := "a former user"
	if u, err := n.s.store.Users().Get(n.ctx, id); err == nil {
		v = web.DisplayName(u)
	}
	n.users[id] = v
	return v
}

// client names an app; one gone is named by its ID.
func (n *names) client(id string) string {
	if v, ok := n.clients[id]; ok {
		return v
	}
	v := id
	if c, err := n.s.store.Clients().Get(n.ctx, id); err == nil && c.Name != "" {
		v = c.Name
	}
	n.clients[id] = v
	return v
}

// api returns the API of audience; one gone has only its audience as name.
func (n *names) api(audience string) store.API {
	if a, ok := n.apis[audience]; ok {
		return a
	}
	a, err := n.s.store.APIs().GetByAudience(n.ctx, audience)
	if err != nil {
		a = store.API{Audience: audience, Name: audience}
	}
	n.apis[audience] = a
	return a
}

// grantee names a delegation's delegate.
func (n *names) grantee(d store.Delegation) string {
	if d.GranteeUserID != "" {
		return n.user(d.GranteeUserID)
	}
	return n.client(d.GranteeClientID)
}

// scopeWords are the descriptions of scopes of api ("Read your notes"), the
// name where there is none.
func scopeWords(api store.API, scopes []string) []string {
	out := make([]string, 0, len(scopes))
	for _, sc := range scopes {
		i := slices.IndexFunc(api.Scopes, func(x store.Scope) bool { return x.Name == sc })
		if i >= 0 && api.Scopes[i].Description != "" {
			out = append(out, api.Scopes[i].Description)
		} else {
			out = append(out, sc)
		}
	}
	return out
}

// sentence joins descriptions for a sentence: "read your notes and change
// your notes", with the "and" of the page's language.
func sentence(words []string) templates.List {
	l := make(templates.List, len(words))
	for i, w := range words {
		l[i] = lowerFirst(w)
	}
	return l
}

func lowerFirst(s string) string {
	if s == "" || strings.ToUpper(s[:1]) != s[:1] || (len(s) > 1 && strings.ToUpper(s[1:2]) == s[1:2] && s[1:2] != " ") {
		return s // keep an acronym as it is
	}
	return strings.ToLower(s[:1]) + s[1:]
}

// when says t for a person in the page's language: "Fri 12 Dec, 17:00 UTC",
// with the year when it is not now's.
func when(t, now time.Time) templates.Moment { return templates.Moment{At: t, Now: now} }
