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
		Heading: templates.M("What %s did with your access to %s", who, api.Name)}
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
//
// The optional parts (" in Ward App", " (read …)", " from 10.0.0.5") are
// messages of their own, empty when the event has none, so each language
// places them.
func activityText(n *names, api store.API, who string, e store.AuditEvent, now time.Time) templates.Msg {
	at := when(e.Time, now)
	from := fromWords(e)
	switch e.Action {
	case "delegation.used":
		in, what := useWords(n, api, e)
		return templates.M("%[1]s used your access to %[2]s%[3]s on %[4]s%[5]s%[6]s.", who, api.Name, in, at, what, from)
	case "delegation.created":
		return templates.M("You gave %[1]s this access on %[2]s%[3]s.", who, at, from)
	case "delegation.revoked":
		return templates.M("You revoked it on %[1]s%[2]s.", at, from)
	case "delegation.declined":
		return templates.M("%[1]s declined it on %[2]s%[3]s.", who, at, from)
	case "delegation.ended":
		return templates.M("It ended on %s: you no longer held any of its permissions.", at)
	case "delegation.expired":
		return templates.M("It expired on %s.", at)
	case "delegation.narrowed":
		var nd struct {
			Withheld []string `json:"withheld"`
		}
		_ = json.Unmarshal(e.Details, &nd)
		return templates.M("On %[1]s you no longer held the permission to %[2]s: what %[3]s had been issued was withdrawn, and it now covers only the rest.",
			at, sentence(scopeWords(api, nd.Withheld)), who)
	}
	return templates.M("%[1]s on %[2]s.", strings.TrimPrefix(e.Action, "delegation."), at)
}

// fromWords is " from 10.0.0.5", or nothing when the event has no address.
func fromWords(e store.AuditEvent) templates.Msg {
	if e.IP == "" {
		return templates.Msg{}
	}
	return templates.M(" from %s", e.IP)
}

// useWords are the app ("in Ward App") and the permissions ("(read your care
// plans)") of a delegation.used event, each "" when the event has none.
func useWords(n *names, api store.API, e store.AuditEvent) (in, what templates.Msg) {
	var u struct {
		Client string   `json:"client"`
		Scopes []string `json:"scopes"`
	}
	_ = json.Unmarshal(e.Details, &u)
	if u.Client != "" {
		in = templates.M(" in %s", n.client(u.Client))
	}
	if len(u.Scopes) > 0 {
		what = templates.M(" (%s)", sentence(scopeWords(api, u.Scopes)))
	}
	return in, what
}

// passedOnText says the use of a re-delegation c passed on from the grantor's
// delegation, e.g. "Sam used your access to Care Plans, passed on by Dr Lee,
// in Ward App on Wed 3 Dec, 14:02 UTC (read your care plans) from 10.0.0.5."
// The access is the grantor's whoever passed it on (delegate.Lineage).
func passedOnText(n *names, api store.API, c store.Delegation, e store.AuditEvent, now time.Time) templates.Msg {
	in, what := useWords(n, api, e)
	if in.Key != "" {
		in = templates.M(",%s", in)
	}
	return templates.M("%[1]s used your access to %[2]s, passed on by %[3]s%[4]s on %[5]s%[6]s%[7]s.",
		n.grantee(c), api.Name, n.user(c.GrantorID), in, when(e.Time, now), what, fromWords(e))
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
