package admin

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/web"
	"github.com/gatehouse/gatehouse/templates"
)

// The audit log, in the console and the admin API: filtered, paginated by a
// keyset cursor (store.AuditFilter.After: an event appended meanwhile neither
// repeats nor hides one), and exported as CSV or JSON lines for the same filter.

const (
	// auditPage is how many events a console page shows, and the API's default.
	auditPage = 50
	// auditMaxPage bounds the API's limit parameter.
	auditMaxPage = 500
	// ExportLimit bounds an export: a filter matching more is refused (narrow
	// the time range and export in parts), so an export is always complete.
	ExportLimit = 50_000
	// exportBatch is how many events an export reads at a time.
	exportBatch = 500
)

// exportLimit is ExportLimit; tests lower it.
var exportLimit = ExportLimit

// auditParams are the query parameters of the audit log's filter.
var auditParams = []string{"person", "action", "provider", "client", "outcome", "since", "until"}

// AuditEventJSON is an audit event as the admin API and the JSON lines export
// show it. Details never hold secrets: the code writing events records
// identifiers, never secrets or tokens (ADM-12).
type AuditEventJSON struct {
	ID        int64     `json:"id"`
	Time      time.Time `json:"time"`
	Actor     string    `json:"actor"`
	Action    string    `json:"action"`
	Target    string    `json:"target"`
	Outcome   string    `json:"outcome"`
	IP        string    `json:"ip,omitempty"`
	RequestID string    `json:"request_id,omitempty"`
	// Details is the event's JSON object, as stored.
	Details json.RawMessage `json:"details,omitempty"`
}

func toAuditJSON(e store.AuditEvent) AuditEventJSON {
	out := AuditEventJSON{ID: e.ID, Time: e.Time.UTC(), Actor: e.Actor, Action: e.Action, Target: e.Target,
		Outcome: outcome(e.Action), IP: e.IP, RequestID: e.RequestID}
	if len(e.Details) > 0 {
		out.Details = details(e.Details)
	}
	return out
}

// details is the stored details as JSON; bytes that are not JSON (never
// written by Gatehouse) become a JSON string rather than break the document.
func details(b []byte) json.RawMessage {
	if json.Valid(b) {
		return b
	}
	s, _ := json.Marshal(string(b))
	return s
}

// outcome is an event's outcome: a refusal if its action says something was
// refused, rejected or failed (store.IsRefusal), a success otherwise.
func outcome(action string) string {
	if store.IsRefusal(action) {
		return store.OutcomeRefusal
	}
	return store.OutcomeSuccess
}

// auditQuery is a parsed audit log query.
type auditQuery struct {
	filter store.AuditFilter
	// values are the filter's parameters as given, without the cursor: the
	// links to other pages and the exports carry them.
	values url.Values
	// form are the parameters as typed, for the console's form.
	form templates.AdminAuditFilter
}

// parseAuditQuery reads the filter of q; problems lists every parameter that
// is not understood, for the console's page or (in English, templates.English) the
// admin API. A person is a user ID or an email address (every account with it).
func (a *Server) parseAuditQuery(ctx context.Context, q url.Values) (auditQuery, []templates.Msg, error) {
	get := func(k string) string { return strings.TrimSpace(q.Get(k)) }
	aq := auditQuery{values: url.Values{}}
	for _, k := range auditParams {
		if v := get(k); v != "" {
			aq.values.Set(k, v)
		}
	}
	aq.form = templates.AdminAuditFilter{Person: get("person"), Action: get("action"), Provider: get("provider"),
		Client: get("client"), Outcome: get("outcome"), Since: get("since"), Until: get("until")}
	f := store.AuditFilter{Action: aq.form.Action, Provider: aq.form.Provider, Client: aq.form.Client}
	var problems []templates.Msg
	switch aq.form.Outcome {
	case "", store.OutcomeSuccess, store.OutcomeRefusal:
		f.Outcome = aq.form.Outcome
	default:
		problems = append(problems, templates.M("outcome must be %s or %s.", strconv.Quote(store.OutcomeSuccess), strconv.Quote(store.OutcomeRefusal)))
	}
	for _, t := range []struct {
		name string
		into *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if v := get(t.name); v != "" {
			var err error
			if *t.into, err = parseTime(v); err != nil {
				problems = append(problems, templates.M("%s is not a time like 2026-12-07T14:00:00Z or 2026-12-07.", t.name))
			}
		}
	}
	if c := get("after"); c != "" {
		var err error
		if f.After, err = store.ParseAuditCursor(c); err != nil {
			problems = append(problems, templates.M("after is not a cursor this API returned."))
		}
	}
	if p := aq.form.Person; p != "" {
		if strings.Contains(p, "@") {
			us, err := a.web.Store.Users().FindByEmail(ctx, p)
			if err != nil {
				return aq, nil, err
			}
			f.People = []string{} // nobody with that email: nothing matches
			for _, u := range us {
				f.People = append(f.People, u.ID)
			}
		} else {
			f.People = []string{p}
		}
	}
	aq.filter = f
	return aq, problems, nil
}

// parseTime reads an RFC 3339 time, or a date and time without a zone (what
// a datetime-local field sends) or a date, both in UTC.
func parseTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", time.DateOnly} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, errors.New("not a time")
}

// --- Admin API ---

// AuditList is GET /api/admin/v1/audit: a page of events, newest first, and
// the cursor of the next page ("next", absent on the last).
func (a *Server) AuditList(w http.ResponseWriter, r *http.Request) {
	a.api(w, r, func(w http.ResponseWriter, r *http.Request, _ person) error {
		aq, err := a.apiAuditQuery(r, "after", "limit")
		if err != nil {
			return err
		}
		limit := auditPage
		if v := r.URL.Query().Get("limit"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > auditMaxPage {
				return invalidProblem([]string{fmt.Sprintf("limit must be a number from 1 to %d.", auditMaxPage)})
			}
			limit = n
		}
		aq.filter.Limit = limit + 1
		events, err := a.web.Store.Audit().List(r.Context(), aq.filter)
		if err != nil {
			return err
		}
		out := map[string]any{}
		if len(events) > limit {
			events = events[:limit]
			out["next"] = events[limit-1].Cursor().String()
		}
		list := []AuditEventJSON{}
		for _, e := range events {
			list = append(list, toAuditJSON(e))
		}
		out["events"] = list
		return writeJSON(w, http.StatusOK, out)
	})
}

// AuditExportCSV is GET /api/admin/v1/audit/export.csv.
func (a *Server) AuditExportCSV(w http.ResponseWriter, r *http.Request) {
	a.apiExport(w, r, exportCSV)
}

// AuditExportJSONL is GET /api/admin/v1/audit/export.jsonl.
func (a *Server) AuditExportJSONL(w http.ResponseWriter, r *http.Request) {
	a.apiExport(w, r, exportJSONL)
}

func (a *Server) apiExport(w http.ResponseWriter, r *http.Request, format exportFormat) {
	a.api(w, r, func(w http.ResponseWriter, r *http.Request, p person) error {
		aq, err := a.apiAuditQuery(r)
		if err != nil {
			return err
		}
		if refused, err := a.exportAllowed(r.Context(), aq.filter); err != nil {
			return err
		} else if refused != nil {
			return invalidProblem([]string{refused.English()})
		}
		a.export(w, r, p, aq, format)
		return nil
	})
}

// apiAuditQuery reads the API's query: a parameter it does not know is 400
// (as an unknown JSON field is, ADM-03: a misspelt filter must not widen the
// answer to everything), a malformed value 422.
func (a *Server) apiAuditQuery(r *http.Request, extra ...string) (auditQuery, error) {
	q := r.URL.Query()
	for k := range q {
		if !slices.Contains(auditParams, k) && !slices.Contains(extra, k) {
			return auditQuery{}, problem(http.StatusBadRequest, "unknown query parameter "+strconv.Quote(k))
		}
	}
	aq, problems, err := a.parseAuditQuery(r.Context(), q)
	if err != nil {
		return aq, err
	}
	if len(problems) > 0 {
		return aq, invalidProblem(templates.English(problems))
	}
	return aq, nil
}

// exportAllowed refuses an export of more than ExportLimit events (counting
// no further than that): the refusal is its problem, nil when allowed.
func (a *Server) exportAllowed(ctx context.Context, f store.AuditFilter) (*templates.Msg, error) {
	n, err := a.web.Store.Audit().Count(ctx, f, exportLimit+1)
	if err != nil || n <= exportLimit {
		return nil, err
	}
	m := templates.M("More than %d events match: narrow the time range (since, until) and export in parts.", exportLimit)
	return &m, nil
}

// --- Exports ---

type exportFormat int

const (
	exportCSV exportFormat = iota
	exportJSONL
)

// csvHeader are the CSV export's columns; details is the event's JSON object.
var csvHeader = []string{"id", "time", "actor", "action", "target", "outcome", "ip", "request_id", "details"}

// export streams every event of aq's filter, newest first, a batch at a time
// (the caller has checked there are at most ExportLimit), and records that
// the admin exported them. Once the first byte is written an error can only
// cut the stream short: it is logged.
func (a *Server) export(w http.ResponseWriter, r *http.Request, p person, aq auditQuery, format exportFormat) {
	ext, ctype := "csv", "text/csv; charset=utf-8"
	if format == exportJSONL {
		ext, ctype = "jsonl", "application/jsonl; charset=utf-8"
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Disposition", `attachment; filename="gatehouse-audit-`+a.Now().UTC().Format("20060102-150405")+`.`+ext+`"`)
	w.WriteHeader(http.StatusOK)
	cw := csv.NewWriter(w)
	enc := json.NewEncoder(w)
	if format == exportCSV {
		cw.Write(csvHeader)
	}
	f := aq.filter
	f.Limit, f.After = exportBatch, store.AuditCursor{}
	n := 0
	fail := func(err error) {
		a.web.Log.ErrorContext(r.Context(), "audit export cut short", "request_id", web.RequestID(r.Context()),
			"events", n, "error", err.Error())
	}
	for n < exportLimit {
		events, err := a.web.Store.Audit().List(r.Context(), f)
		if err != nil {
			fail(err)
			return
		}
		for _, e := range events[:min(len(events), exportLimit-n)] {
			if format == exportCSV {
				j := toAuditJSON(e)
				cw.Write([]string{strconv.FormatInt(e.ID, 10), j.Time.Format(time.RFC3339Nano), csvCell(e.Actor), csvCell(e.Action),
					csvCell(e.Target), j.Outcome, csvCell(e.IP), csvCell(e.RequestID), csvCell(string(j.Details))})
			} else if err := enc.Encode(toAuditJSON(e)); err != nil {
				fail(err)
				return
			}
			n++
		}
		cw.Flush()
		if err := cw.Error(); err != nil {
			fail(err)
			return
		}
		if fl, ok := w.(http.Flusher); ok {
			fl.Flush()
		}
		if len(events) < f.Limit {
			break
		}
		f.After = events[len(events)-1].Cursor()
	}
	details := map[string]any{"format": ext, "events": n, "via": p.Actor.Via}
	for k, v := range aq.values {
		details[k] = v[0]
	}
	a.web.Record(r, p.Actor.Name, "audit.exported", "", details)
}

// csvCell keeps a value a spreadsheet would run as a formula (it starts with
// = + - @, a tab or a carriage return) inert by prefixing a quote (OWASP "CSV
// Injection"): actors and targets can be what a client claimed.
func csvCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// --- Console ---

// HandleAudit is the console's audit log: the filter form, a page of events
// newest first, links to older ones and to the exports of the same filter.
func (a *Server) HandleAudit(w http.ResponseWriter, r *http.Request) error {
	return a.console(w, r, func(w http.ResponseWriter, r *http.Request, p person) error {
		aq, problems, err := a.parseAuditQuery(r.Context(), r.URL.Query())
		if err != nil {
			return err
		}
		if len(problems) > 0 {
			return a.renderAuditProblems(w, r, p, aq, problems)
		}
		v := templates.AdminAuditView{Page: a.page("Audit log", p), Filter: aq.form}
		query := ""
		if len(aq.values) > 0 {
			query = "?" + aq.values.Encode()
		}
		v.ExportCSV, v.ExportJSONL = "/admin/audit/export.csv"+query, "/admin/audit/export.jsonl"+query
		if r.URL.Query().Get("after") != "" {
			v.Newest = "/admin/audit" + query
		}
		aq.filter.Limit = auditPage + 1
		events, err := a.web.Store.Audit().List(r.Context(), aq.filter)
		if err != nil {
			return err
		}
		if len(events) > auditPage {
			events = events[:auditPage]
			next := url.Values{"after": {events[auditPage-1].Cursor().String()}}
			for k, vs := range aq.values {
				next[k] = vs
			}
			v.Older = "/admin/audit?" + next.Encode()
		}
		for _, e := range events {
			j := toAuditJSON(e)
			v.Events = append(v.Events, templates.AdminAuditRow{ID: strconv.FormatInt(e.ID, 10),
				Time: e.Time, Actor: e.Actor, Action: e.Action, Target: e.Target,
				Refusal: j.Outcome == store.OutcomeRefusal, IP: e.IP, Details: string(j.Details)})
		}
		return web.Render(w, r, http.StatusOK, templates.AdminAudit(v))
	})
}

// HandleAuditExportCSV is the console's CSV export of the audit log's filter.
func (a *Server) HandleAuditExportCSV(w http.ResponseWriter, r *http.Request) error {
	return a.consoleExport(w, r, exportCSV)
}

// HandleAuditExportJSONL is the console's JSON lines export.
func (a *Server) HandleAuditExportJSONL(w http.ResponseWriter, r *http.Request) error {
	return a.consoleExport(w, r, exportJSONL)
}

func (a *Server) consoleExport(w http.ResponseWriter, r *http.Request, format exportFormat) error {
	return a.console(w, r, func(w http.ResponseWriter, r *http.Request, p person) error {
		aq, problems, err := a.parseAuditQuery(r.Context(), r.URL.Query())
		if err != nil {
			return err
		}
		if len(problems) == 0 {
			refused, err := a.exportAllowed(r.Context(), aq.filter)
			if err != nil {
				return err
			}
			if refused != nil {
				problems = append(problems, *refused)
			}
		}
		if len(problems) > 0 {
			return a.renderAuditProblems(w, r, p, aq, problems)
		}
		a.export(w, r, p, aq, format)
		return nil
	})
}

// renderAuditProblems is the audit log's filter with what is wrong with it
// (422), for the page and for an export that cannot be made as asked.
func (a *Server) renderAuditProblems(w http.ResponseWriter, r *http.Request, p person, aq auditQuery, problems []templates.Msg) error {
	return web.Render(w, r, http.StatusUnprocessableEntity, templates.AdminAudit(templates.AdminAuditView{Page: a.page("Audit log", p),
		Filter: aq.form, Problems: problems}))
}
