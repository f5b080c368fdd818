package delegation

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/web"
	"github.com/gatehouse/gatehouse/templates"
)

// activityPage is how many events one activity page shows.
const activityPage = 25

// HandleActivity shows the grantor every use of a delegation they gave, with
// its creation and end, newest first, from the audit log (issue 11: "A sees
// exactly what was done in their name"). Anyone else gets 404.
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
		v.Entries = append(v.Entries, templates.ActivityEntry{Kind: e.Action, Text: activityText(n, api, who, e, now)})
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
		var u struct {
			Client string   `json:"client"`
			Scopes []string `json:"scopes"`
		}
		_ = json.Unmarshal(e.Details, &u)
		in := ""
		if u.Client != "" {
			in = " in " + n.client(u.Client)
		}
		what := ""
		if len(u.Scopes) > 0 {
			what = " (" + sentence(scopeWords(api, u.Scopes)) + ")"
		}
		return who + " used your access to " + api.Name + in + " on " + at + what + from + "."
	case "delegation.created":
		return "You gave " + who + " this access on " + at + from + "."
	case "delegation.revoked":
		return "You revoked it on " + at + from + "."
	case "delegation.declined":
		return who + " declined it on " + at + from + "."
	case "delegation.ended":
		return "It ended on " + at + ": you no longer held any of its permissions."
	}
	return strings.TrimPrefix(e.Action, "delegation.") + " on " + at + "."
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
