package delegation

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/web"
	"github.com/gatehouse/gatehouse/templates"
)

// activityPage is how many events one activity page shows.
const activityPage = 25

// HandleActivity shows the grantor every use of a delegation they gave, and of
// what was passed on from it (the access is theirs, whoever passed it on), with
// its creation, narrowing and end, newest first, from the audit log (issue 11:
// "A sees exactly what was done in their name"). Anyone else gets 404.
func (s *Server) HandleActivity(w http.ResponseWriter, r *http.Request) error {
	_, u, ok := s.web.RequireSession(w, r)
	if !ok {
		return nil
	}
	d, err := s.own(r, func(d store.Delegation) bool { return d.GrantorID == u.ID })
	if err != nil {
		return err
	}
	// Every event about a delegation has its ID as target; IDs are random,
	// so no other event shares it.
	f := store.AuditFilter{Target: d.ID, Limit: activityPage + 1}
	if c := r.URL.Query().Get("after"); c != "" {
		if f.After, err = parseCursor(c); err != nil {
			return web.ErrNotFound
		}
	}
	events, err := s.store.Audit().List(r.Context(), f)
	if err != nil {
		return err
	}
	passedOn, err := s.passedOn(r.Context(), d)
	if err != nil {
		return err
	}
	if events, err = s.withPassedOnUses(r.Context(), events, passedOn, f); err != nil {
		return err
	}
	n := s.names(r.Context())
	now := s.Now()
	api := n.api(d.Audience)
	who := n.grantee(d)
	v := templates.DelegationActivityView{Page: page("Activity", u),
		Heading: "What " + who + " did with your access to " + api.Name}
	if len(events) > activityPage {
		events = events[:activityPage]
		v.Older = r.URL.Path + "?" + url.Values{"after": {formatCursor(events[len(events)-1].Cursor())}}.Encode()
	}
	for _, e := range events {
		text := activityText(n, api, who, e, now)
		if c, ok := passedOn[e.Target]; ok {
			text = passedOnText(n, api, c, e, now)
		}
		v.Entries = append(v.Entries, templates.ActivityEntry{Kind: e.Action, Text: text})
	}
	return web.Render(w, r, http.StatusOK, templates.DelegationActivity(v))
}

// activityText says one event in words, e.g. "Dr Lee used your access to Care
// Plans in Ward App on Wed 3 Dec, 14:02 UTC (read your care plans) from 10.0.0.5."
func activityText(n *names, api store.API, who string, e store.AuditEvent, now time.Time) string {
	at := when(e.Time, now)
	from := ""
	if e.IP != "" {
		from = " from " + e.IP
	}
	switch e.Action {
	case "delegation.used":
		in, what := useWords(n, api, e)
		return who + " used your access to " + api.Name + in + " on " + at + what + from + "."
	case "delegation.created":
		return "You gave " + who + " this access on " + at + from + "."
	case "delegation.revoked":
		return "You revoked it on " + at + from + "."
	case "delegation.declined":
		return who + " declined it on " + at + from + "."
	case "delegation.ended":
		return "It ended on " + at + ": you no longer held any of its permissions."
	case "delegation.expired":
		return "It expired on " + at + "."
	case "delegation.narrowed":
		var nd struct {
			Withheld []string `json:"withheld"`
		}
		_ = json.Unmarshal(e.Details, &nd)
		return "On " + at + " you no longer held the permission to " + sentence(scopeWords(api, nd.Withheld)) +
			": what " + who + " had been issued was withdrawn, and it now covers only the rest."
	}
	return strings.TrimPrefix(e.Action, "delegation.") + " on " + at + "."
}

// useWords are the app ("in Ward App") and the permissions ("(read your care
// plans)") of a delegation.used event, each "" when the event has none.
func useWords(n *names, api store.API, e store.AuditEvent) (in, what string) {
	var u struct {
		Client string   `json:"client"`
		Scopes []string `json:"scopes"`
	}
	_ = json.Unmarshal(e.Details, &u)
	if u.Client != "" {
		in = " in " + n.client(u.Client)
	}
	if len(u.Scopes) > 0 {
		what = " (" + sentence(scopeWords(api, u.Scopes)) + ")"
	}
	return in, what
}

// passedOnText says the use of a re-delegation c passed on from the grantor's
// delegation, e.g. "Sam used your access to Care Plans, passed on by Dr Lee,
// in Ward App on Wed 3 Dec, 14:02 UTC (read your care plans) from 10.0.0.5."
// The access is the grantor's whoever passed it on (delegate.Lineage).
func passedOnText(n *names, api store.API, c store.Delegation, e store.AuditEvent, now time.Time) string {
	from := ""
	if e.IP != "" {
		from = " from " + e.IP
	}
	in, what := useWords(n, api, e)
	if in != "" {
		in = "," + in
	}
	return n.grantee(c) + " used your access to " + api.Name + ", passed on by " + n.user(c.GrantorID) + in +
		" on " + when(e.Time, now) + what + from + "."
}

// maxPassedOn bounds the re-delegations whose uses one activity page reads
// (one audit query each), and maxPassedOnDepth how far down it follows them;
// delegate.Give keeps real chains within both.
const (
	maxPassedOn      = 20
	maxPassedOnDepth = 4
)

// passedOn returns the re-delegations passed on from d, recursively (ended ones
// too: their uses happened), by ID, at most maxPassedOn of them.
func (s *Server) passedOn(ctx context.Context, d store.Delegation) (map[string]store.Delegation, error) {
	out := map[string]store.Delegation{}
	level := []string{d.ID}
	for depth := 0; depth < maxPassedOnDepth && len(level) > 0; depth++ {
		var next []string
		for _, id := range level {
			children, err := s.store.Delegations().ListByParent(ctx, id)
			if err != nil {
				return nil, err
			}
			for _, c := range children {
				if _, seen := out[c.ID]; seen || c.ID == d.ID {
					continue
				}
				if len(out) == maxPassedOn {
					return out, nil
				}
				out[c.ID] = c
				next = append(next, c.ID)
			}
		}
		level = next
	}
	return out, nil
}

// withPassedOnUses merges into events (one page of f's listing, newest first)
// the uses of the re-delegations in passedOn from the same place in the same
// order: each listing is newest first from f.After, so the merge's first
// f.Limit are the page's, and the last one's cursor continues all of them.
func (s *Server) withPassedOnUses(ctx context.Context, events []store.AuditEvent, passedOn map[string]store.Delegation, f store.AuditFilter) ([]store.AuditEvent, error) {
	if len(passedOn) == 0 {
		return events, nil
	}
	for id := range passedOn {
		cf := f
		cf.Target, cf.Action = id, "delegation.used"
		uses, err := s.store.Audit().List(ctx, cf)
		if err != nil {
			return nil, err
		}
		events = append(events, uses...)
	}
	slices.SortFunc(events, func(a, b store.AuditEvent) int {
		if c := b.Time.Compare(a.Time); c != 0 {
			return c
		}
		return cmp.Compare(b.ID, a.ID)
	})
	if len(events) > f.Limit {
		events = events[:f.Limit]
	}
	return events, nil
}

// formatCursor and parseCursor carry a store.AuditCursor in a URL.
func formatCursor(c store.AuditCursor) string {
	return fmt.Sprintf("%d.%d", c.Time.UnixMicro(), c.ID)
}

func parseCursor(s string) (store.AuditCursor, error) {
	var us, id int64
	if _, err := fmt.Sscanf(s, "%d.%d", &us, &id); err != nil || id <= 0 {
		return store.AuditCursor{}, fmt.Errorf("bad cursor %q", s)
	}
	return store.AuditCursor{Time: time.UnixMicro(us).UTC(), ID: id}, nil
}
