package admin_test

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker/admin"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

// seed appends events to the audit log, at the times they carry.
func (w *world) seed(events ...store.AuditEvent) {
	w.t.Helper()
	brokertest.Must(w.t, w.DB.Audit().Append(context.Background(), events...))
}

// flush waits for the batched audit events (sign-ins, tokens) to be stored.
func (w *world) flush() {
	w.t.Helper()
	for _, aw := range w.Audits {
		brokertest.Must(w.t, aw.Flush(context.Background()))
	}
}

// raw makes a GET with a bearer token (or with c's cookies if tok is "") and
// returns the status, headers and body as they came.
func (w *world) raw(c *http.Client, path, tok string) (int, http.Header, string) {
	w.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, w.Abs(path), nil)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if c == nil {
		c = w.TS.Client()
	}
	res, err := c.Do(req)
	brokertest.Must(w.t, err)
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, string(b)
}

var eventRow = regexp.MustCompile(`data-testid="audit-event-(\d+)"`)

// pageEvents are the IDs of the events a console page lists, and the link to
// the older ones.
func pageEvents(page string) (ids []int64, older string) {
	for _, m := range eventRow.FindAllStringSubmatch(page, -1) {
		id, _ := strconv.ParseInt(m[1], 10, 64)
		ids = append(ids, id)
	}
	if m := regexp.MustCompile(`href="([^"]*)" data-testid="audit-older"`).FindStringSubmatch(page); m != nil {
		older = strings.ReplaceAll(m[1], "&amp;", "&")
	}
	return ids, older
}

// storedIDs are the IDs of the events f selects, newest first.
func (w *world) storedIDs(f store.AuditFilter) []int64 {
	w.t.Helper()
	f.Limit = 100000
	evs, err := w.DB.Audit().List(context.Background(), f)
	brokertest.Must(w.t, err)
	var ids []int64
	for _, e := range evs {
		ids = append(ids, e.ID)
	}
	return ids
}

// apiIDs pages through GET /api/admin/v1/audit?query with limit, following
// next, and returns the IDs and the events.
func (w *world) apiIDs(tok, query string, limit int, between func()) ([]int64, []map[string]any) {
	w.t.Helper()
	var ids []int64
	var all []map[string]any
	after := ""
	for range 1000 {
		q, _ := url.ParseQuery(query)
		q.Set("limit", strconv.Itoa(limit))
		if after != "" {
			q.Set("after", after)
		}
		status, _, body := w.call("GET", "/api/admin/v1/audit?"+q.Encode(), tok, nil)
		if status != 200 {
			w.t.Fatalf("audit list: %d %v", status, body)
		}
		events, _ := body["events"].([]any)
		for _, e := range events {
			m := e.(map[string]any)
			ids = append(ids, int64(m["id"].(float64)))
			all = append(all, m)
		}
		next, _ := body["next"].(string)
		if next == "" {
			return ids, all
		}
		after = next
		if between != nil {
			between()
		}
	}
	w.t.Fatal("no last page")
	return nil, nil
}

// auditFixture appends a mix of events an hour apart, ending now: sign-ins and
// their refusals at corp and uni, tokens, OAuth refusals, admin changes.
func (w *world) auditFixture(aliceID, bobID string) {
	now := w.Clk.Now()
	var evs []store.AuditEvent
	add := func(actor, action, target string, details string) {
		evs = append(evs, store.AuditEvent{Actor: actor, Action: action, Target: target, IP: "192.0.2.7",
			RequestID: fmt.Sprint("seed-", len(evs)), Details: []byte(details)})
	}
	for i := range 6 {
		add(aliceID, "signin.succeeded", "corp", `{"session":"s`+strconv.Itoa(i)+`"}`)
		add("anonymous", "signin.refused", "corp", `{"reason":"invalid_state"}`)
		add(bobID, "signin.succeeded", "uni", "")
		add("client:svc", "token.issued", bobID, `{"grant_type":"client_credentials"}`)
		add("client:svc", "oauth.rejected", "/oauth2/token", `{"error":"invalid_grant","reason":"invalid_grant"}`)
		add(aliceID, "api.updated", "notes", `{"via":"console","version":2}`)
		add(bobID, "identity.link_refused", "corp", `{"reason":"linked_to_another_user"}`)
	}
	for i := range evs {
		evs[i].Time = now.Add(-time.Duration(len(evs)-i) * time.Hour)
	}
	w.seed(evs...)
}

// TestAuditLogConsoleFilters: the console's audit log lists exactly what each
// filter (person by ID or email, action, provider, client, outcome, time
// range, and combinations) selects, newest first.
func TestAuditLogConsoleFilters(t *testing.T) {
	w := newWorld(t)
	_, bobID := w.signIn("bob@uni.example")
	c, aliceID := w.signIn("alice@corp.example")
	w.auditFixture(aliceID, bobID)
	w.flush()
	now := w.Clk.Now()
	since, until := now.Add(-20*time.Hour), now.Add(-10*time.Hour)
	for _, tc := range []struct {
		name  string
		query url.Values
		want  store.AuditFilter
	}{
		{"all", nil, store.AuditFilter{}},
		{"person by ID", url.Values{"person": {bobID}}, store.AuditFilter{People: []string{bobID}}},
		{"person by email", url.Values{"person": {"bob@uni.example"}}, store.AuditFilter{People: []string{bobID}}},
		{"an email nobody has", url.Values{"person": {"nobody@uni.example"}}, store.AuditFilter{People: []string{}}},
		{"action", url.Values{"action": {"api.updated"}}, store.AuditFilter{Action: "api.updated"}},
		{"provider", url.Values{"provider": {"corp"}}, store.AuditFilter{Provider: "corp"}},
		{"client", url.Values{"client": {"svc"}}, store.AuditFilter{Client: "svc"}},
		{"refusals", url.Values{"outcome": {"refusal"}}, store.AuditFilter{Outcome: store.OutcomeRefusal}},
		{"successes", url.Values{"outcome": {"success"}}, store.AuditFilter{Outcome: store.OutcomeSuccess}},
		{"time range (datetime-local, UTC)", url.Values{"since": {since.Format("2006-01-02T15:04:05")}, "until": {until.Format(time.RFC3339)}},
			store.AuditFilter{Since: since, Until: until}},
		{"provider refusals in a range", url.Values{"provider": {"corp"}, "outcome": {"refusal"}, "since": {since.Format(time.RFC3339)}},
			store.AuditFilter{Provider: "corp", Outcome: store.OutcomeRefusal, Since: since}},
		{"a person's sign-ins at a provider", url.Values{"person": {"alice@corp.example"}, "provider": {"corp"}, "action": {"signin.succeeded"}},
			store.AuditFilter{People: []string{aliceID}, Provider: "corp", Action: "signin.succeeded"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := w.storedIDs(tc.want)
			if len(want) > 50 {
				want = want[:50] // the first page
			}
			res, page := w.page(c, "/admin/audit?"+tc.query.Encode())
			if res.StatusCode != 200 || !strings.Contains(page, `data-testid="admin-audit"`) {
				t.Fatalf("%d %s", res.StatusCode, page)
			}
			got, _ := pageEvents(page)
			if !slices.Equal(got, want) {
				t.Fatalf("listed %v, want %v", got, want)
			}
			if tc.name != "an email nobody has" && tc.name != "all" && len(got) == 0 {
				t.Fatal("the fixture has no event for this filter")
			}
		})
	}
	// The fixture's refusals are marked as such.
	_, page := w.page(c, "/admin/audit?outcome=refusal")
	if n := strings.Count(page, `data-testid="audit-refusal"`); n != len(w.storedIDs(store.AuditFilter{Outcome: store.OutcomeRefusal})) {
		t.Errorf("%d events marked refused", n)
	}
	// Malformed parameters: 422, every problem listed, no events.
	res, page := w.page(c, "/admin/audit?outcome=maybe&since=yesterday&after=x")
	if res.StatusCode != http.StatusUnprocessableEntity || strings.Count(page, "<li>") < 3 || strings.Contains(page, `data-testid="audit-event-`) {
		t.Fatalf("malformed filter: %d %s", res.StatusCode, page)
	}
}

// TestAuditLogPagingIsStable: walking the console's and the API's pages one
// after another, while new events keep arriving, lists every event of the
// filter once, none twice and none skipped (a keyset cursor, not an offset).
func TestAuditLogPagingIsStable(t *testing.T) {
	w := newWorld(t)
	c, _ := w.signIn("alice@corp.example")
	tok := w.token("robot", "")
	w.flush()
	// 130 refusals at corp, three at each time (equal times order by ID).
	now := w.Clk.Now()
	var evs []store.AuditEvent
	for i := range 130 {
		evs = append(evs, store.AuditEvent{Time: now.Add(-time.Hour + time.Duration(i/3)*time.Second), Actor: "anonymous",
			Action: "signin.refused", Target: "corp"})
	}
	w.seed(evs...)
	f := store.AuditFilter{Provider: "corp", Outcome: store.OutcomeRefusal}
	want := w.storedIDs(f)
	if len(want) != 130 {
		t.Fatalf("%d events", len(want))
	}
	arrive := func() {
		// Newer events of the same filter, and one at the newest time seen.
		w.seed(store.AuditEvent{Time: now.Add(time.Minute), Actor: "anonymous", Action: "signin.refused", Target: "corp"},
			store.AuditEvent{Time: evs[len(evs)-1].Time, Actor: "anonymous", Action: "signin.refused", Target: "corp"})
	}

	t.Run("console", func(t *testing.T) {
		var got []int64
		path := "/admin/audit?provider=corp&outcome=refusal"
		for path != "" {
			res, page := w.page(c, path)
			if res.StatusCode != 200 {
				t.Fatalf("%s: %d", path, res.StatusCode)
			}
			ids, older := pageEvents(page)
			if older != "" && (!strings.Contains(older, "provider=corp") || !strings.Contains(older, "outcome=refusal")) {
				t.Fatalf("the next page's link %q drops the filter", older)
			}
			got = append(got, ids...)
			path = older
			arrive()
		}
		if !slices.Equal(got, want) {
			t.Fatalf("pages listed %d events %v, want %d %v", len(got), got, len(want), want)
		}
	})
	t.Run("api", func(t *testing.T) {
		want := w.storedIDs(f) // with what arrived during the console's walk
		got, _ := w.apiIDs(tok, "provider=corp&outcome=refusal", 7, arrive)
		if !slices.Equal(got, want) {
			t.Fatalf("pages listed %d events, want %d", len(got), len(want))
		}
	})
}

// TestAuditLogAPI: the admin API's list with filters and problems: malformed
// values are 422 listing each, an unknown parameter 400 (ADM-03: a misspelt
// filter must not silently widen the answer).
func TestAuditLogAPI(t *testing.T) {
	w := newWorld(t)
	_, bobID := w.signIn("bob@uni.example")
	_, aliceID := w.signIn("alice@corp.example")
	w.auditFixture(aliceID, bobID)
	tok := w.token("robot", "")
	w.flush()

	ids, events := w.apiIDs(tok, "client=svc&outcome=refusal", 500, nil)
	if want := w.storedIDs(store.AuditFilter{Client: "svc", Outcome: store.OutcomeRefusal}); len(ids) != 6 || !slices.Equal(ids, want) {
		t.Fatalf("client refusals %v, want %v", ids, want)
	}
	e := events[0]
	if e["action"] != "oauth.rejected" || e["outcome"] != "refusal" || e["actor"] != "client:svc" || e["ip"] != "192.0.2.7" {
		t.Fatalf("event %v", e)
	}
	if d, _ := e["details"].(map[string]any); d["error"] != "invalid_grant" {
		t.Fatalf("details %v, want the stored JSON object", e["details"])
	}
	status, h, body := w.call("GET", "/api/admin/v1/audit?since=soon&outcome=no&limit=0&after=1", tok, nil)
	wantProblem(t, "malformed", status, h, body, http.StatusUnprocessableEntity)
	status, h, body = w.call("GET", "/api/admin/v1/audit?since=soon&outcome=no&after=1", tok, nil)
	wantProblem(t, "malformed", status, h, body, http.StatusUnprocessableEntity)
	if errs, _ := body["errors"].([]any); len(errs) != 3 {
		t.Fatalf("errors %v, want one per parameter", body["errors"])
	}
	for _, path := range []string{"/api/admin/v1/audit?actor=x", "/api/admin/v1/audit?provder=corp",
		"/api/admin/v1/audit/export.csv?limit=5", "/api/admin/v1/audit/export.jsonl?after=1.1"} {
		t.Run("ADM03 "+path, func(t *testing.T) {
			status, h, body := w.call("GET", path, tok, nil)
			wantProblem(t, path, status, h, body, http.StatusBadRequest)
		})
	}
}

// TestAuditExportsMatchTheFilter: the CSV and JSON lines exports, from the API
// and from the console, hold exactly the events the list shows for the same
// filter, in the same order, with the details as JSON; each export is itself
// an audit event naming the admin.
func TestAuditExportsMatchTheFilter(t *testing.T) {
	w := newWorld(t)
	_, bobID := w.signIn("bob@uni.example")
	c, aliceID := w.signIn("alice@corp.example")
	w.auditFixture(aliceID, bobID)
	tok := w.token("robot", "")
	w.flush()
	since := w.Clk.Now().Add(-30 * time.Hour).Format(time.RFC3339)
	query := "provider=corp&since=" + url.QueryEscape(since)
	want, listed := w.apiIDs(tok, query, 500, nil)
	if len(want) < 10 {
		t.Fatalf("only %d events match", len(want))
	}

	check := func(t *testing.T, client *http.Client, prefix, tok string) {
		status, h, body := w.raw(client, prefix+"/export.csv?"+query, tok)
		if status != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/csv") || !strings.Contains(h.Get("Content-Disposition"), "attachment") {
			t.Fatalf("csv: %d %v %s", status, h, body)
		}
		rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
		brokertest.Must(t, err)
		if strings.Join(rows[0], ",") != "id,time,actor,action,target,outcome,ip,request_id,details" {
			t.Fatalf("header %v", rows[0])
		}
		var got []int64
		for i, row := range rows[1:] {
			id, _ := strconv.ParseInt(row[0], 10, 64)
			got = append(got, id)
			if row[3] != listed[i]["action"] || row[5] != listed[i]["outcome"] {
				t.Errorf("row %v, listed %v", row, listed[i])
			}
			if row[8] != "" && !json.Valid([]byte(row[8])) {
				t.Errorf("details %q not JSON", row[8])
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("csv has %v, the list %v", got, want)
		}

		status, h, body = w.raw(client, prefix+"/export.jsonl?"+query, tok)
		if status != 200 || !strings.HasPrefix(h.Get("Content-Type"), "application/jsonl") {
			t.Fatalf("jsonl: %d %v", status, h)
		}
		sc := bufio.NewScanner(strings.NewReader(body))
		i := 0
		for sc.Scan() {
			var e map[string]any
			brokertest.Must(t, json.Unmarshal(sc.Bytes(), &e))
			a, _ := json.Marshal(e)
			b, _ := json.Marshal(listed[i])
			if string(a) != string(b) {
				t.Errorf("line %d: %s, listed %s", i, a, b)
			}
			i++
		}
		if i != len(want) {
			t.Fatalf("jsonl has %d lines, want %d", i, len(want))
		}
	}
	t.Run("api", func(t *testing.T) { check(t, nil, "/api/admin/v1/audit", tok) })
	t.Run("console", func(t *testing.T) {
		_, page := w.page(c, "/admin/audit?"+query)
		if !strings.Contains(page, `href="/admin/audit/export.csv?provider=corp&amp;since=`) {
			t.Fatalf("the page does not link the export of its filter:\n%s", page)
		}
		check(t, c, "/admin/audit", "")
	})
	evs := w.events("audit.exported")
	if len(evs) != 4 || evs[0].Actor != aliceID || !strings.Contains(string(evs[0].Details), `"via":"console"`) ||
		evs[3].Actor != "client:robot" || !strings.Contains(string(evs[3].Details), `"provider":"corp"`) {
		t.Fatalf("audit.exported events %+v", evs)
	}
}

// TestAuditExportIsBounded: a filter matching more events than the export's
// cap is refused (422) before anything is streamed, in the API and the console.
func TestAuditExportIsBounded(t *testing.T) {
	w := newWorld(t)
	c, _ := w.signIn("alice@corp.example")
	tok := w.token("robot", "")
	w.flush()
	admin.SetExportLimit(t, 5)
	var evs []store.AuditEvent
	for range 6 {
		evs = append(evs, store.AuditEvent{Time: w.Clk.Now(), Actor: "anonymous", Action: "signin.refused", Target: "uni"})
	}
	w.seed(evs...)
	status, h, body := w.call("GET", "/api/admin/v1/audit/export.jsonl?provider=uni", tok, nil)
	wantProblem(t, "over the cap", status, h, body, http.StatusUnprocessableEntity)
	if status, _, page := w.raw(c, "/admin/audit/export.csv?provider=uni", ""); status != http.StatusUnprocessableEntity || strings.Contains(page, "signin.refused") {
		t.Fatalf("console over the cap: %d", status)
	}
	// Within the cap (alice's sign-in at corp): streamed, all of it.
	status, _, out := w.raw(nil, "/api/admin/v1/audit/export.jsonl?provider=corp", tok)
	if status != 200 || strings.Count(out, "\n") != 1 || !strings.Contains(out, `"action":"signin.succeeded"`) {
		t.Fatalf("within the cap: %d %s", status, out)
	}
}

// TestADM12_AuditLogHoldsNoSecrets: after sign-ins, client secrets used at the
// token endpoint, admin API calls with bearer tokens and a refused client
// secret, neither the console's audit log, the API's, the exports nor the logs
// hold a secret, a token or a private key.
func TestADM12_AuditLogHoldsNoSecrets(t *testing.T) {
	w := newWorld(t)
	c, _ := w.signIn("alice@corp.example")
	w.signIn("bob@uni.example")
	tok := w.token("robot", "")
	svcTok := w.token("svc", "")
	w.call("POST", "/api/admin/v1/apis", tok, map[string]any{"id": "tasks", "name": "Tasks", "audience": "https://tasks.test"})
	// A wrong secret: an oauth.rejected event.
	wrong := "wrong-secret-" + strings.Repeat("x", 20)
	req, _ := http.NewRequest(http.MethodPost, w.Abs("/oauth2/token"), strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("robot", wrong)
	res, err := w.TS.Client().Do(req)
	brokertest.Must(t, err)
	res.Body.Close()
	// An admin rotates a client's secret: client.secret_rotated, without it.
	rotated, err := w.ops().RotateClientSecret(t.Context(), opsActor, "svc")
	brokertest.Must(t, err)
	w.flush()
	if len(w.events("client.secret_rotated")) != 1 || len(w.events("oauth.rejected")) == 0 || len(w.events("token.issued")) == 0 || len(w.events("signin.succeeded")) == 0 {
		t.Fatal("the flows were not audited")
	}
	secrets := []string{w.secrets["robot"], w.secrets["svc"], rotated.Secret, tok, svcTok, wrong, "s3cret-corp", "s3cret-uni", "PRIVATE KEY"}
	var outputs []string
	_, page := w.page(c, "/admin/audit")
	outputs = append(outputs, page)
	for _, path := range []string{"/api/admin/v1/audit?limit=500", "/api/admin/v1/audit/export.csv", "/api/admin/v1/audit/export.jsonl"} {
		status, _, body := w.raw(nil, path, tok)
		if status != 200 || len(body) < 100 {
			t.Fatalf("%s: %d", path, status)
		}
		outputs = append(outputs, body)
	}
	outputs = append(outputs, w.Logs.String())
	for i, out := range outputs {
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("output %d holds %q", i, s)
			}
		}
	}
}

// TestADM14_AuditLogEscapesWhatClientsClaim: an actor or target a client made
// up (a claimed client ID with markup, or a spreadsheet formula) is shown
// escaped on the page and kept inert in the CSV export.
func TestADM14_AuditLogEscapesWhatClientsClaim(t *testing.T) {
	w := newWorld(t)
	c, _ := w.signIn("alice@corp.example")
	tok := w.token("robot", "")
	w.seed(store.AuditEvent{Time: w.Clk.Now(), Actor: "client:<script>alert(1)</script>", Action: "oauth.rejected",
		Target: `=HYPERLINK("https://evil.test","x")`, Details: []byte(`{"reason":"<img src=x onerror=alert(1)>"}`)})
	_, page := w.page(c, "/admin/audit?outcome=refusal")
	if strings.Contains(page, "<script>alert") || strings.Contains(page, "<img src=x") || !strings.Contains(page, "&lt;script&gt;") {
		t.Fatalf("not escaped:\n%s", page)
	}
	_, _, body := w.raw(nil, "/api/admin/v1/audit/export.csv?outcome=refusal", tok)
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	brokertest.Must(t, err)
	if len(rows) < 2 || rows[1][4] != `'=HYPERLINK("https://evil.test","x")` {
		t.Fatalf("rows %q, want the formula prefixed with a quote", rows)
	}
}

// TestAdminHomeCharts: the home's charts count, per UTC day of the last 14,
// the seeded sign-ins per provider and their refusals, and the tokens issued
// (token.issued and token.exchanged) and OAuth refusals; events before the
// 14 days and of other actions are not counted. The SVG has a title and the
// table the numbers.
func TestAdminHomeCharts(t *testing.T) {
	w := newWorld(t)
	c, aliceID := w.signIn("alice@corp.example")
	w.flush()
	now := w.Clk.Now().UTC()
	today := now.Truncate(24 * time.Hour)
	day := func(n int) time.Time { return today.AddDate(0, 0, -n).Add(time.Hour) }
	var evs []store.AuditEvent
	add := func(at time.Time, n int, action, target string) {
		for range n {
			evs = append(evs, store.AuditEvent{Time: at, Actor: aliceID, Action: action, Target: target})
		}
	}
	add(day(0), 2, "signin.succeeded", "corp") // today: plus alice's own sign-in
	add(day(0), 4, "signin.succeeded", "uni")
	add(day(3), 1, "signin.succeeded", "uni")
	add(day(3), 5, "signin.refused", "corp")
	add(day(3), 2, "signin.refused", "uni")
	add(day(13), 3, "signin.succeeded", "corp") // the oldest day shown
	add(day(14), 9, "signin.succeeded", "corp") // one day too old
	add(day(1), 7, "token.issued", "u")
	add(day(1), 2, "token.exchanged", "u")
	add(day(1), 4, "oauth.rejected", "/oauth2/token")
	add(day(2), 3, "token.revoked", "u") // not issued
	add(day(2), 6, "session.ended", "s") // not a sign-in
	add(day(20), 8, "token.issued", "u") // too old
	w.seed(evs...)
	res, page := w.page(c, "/admin")
	if res.StatusCode != 200 {
		t.Fatalf("home: %d", res.StatusCode)
	}
	cell := func(chart string, d int, series string) string {
		id := fmt.Sprintf(`data-testid="chart-%s-%s-%s">`, chart, today.AddDate(0, 0, -d).Format(time.DateOnly), series)
		i := strings.Index(page, id)
		if i < 0 {
			t.Fatalf("no cell %s", id)
		}
		v, _, _ := strings.Cut(page[i+len(id):], "<")
		return v
	}
	for _, tc := range []struct {
		chart  string
		day    int
		series string
		want   string
	}{
		{"signins", 0, "corp", "3"}, {"signins", 0, "uni", "4"}, {"signins", 0, "refused", "0"},
		{"signins", 3, "uni", "1"}, {"signins", 3, "corp", "0"}, {"signins", 3, "refused", "7"},
		{"signins", 13, "corp", "3"},
		{"tokens", 1, "Issued", "9"}, {"tokens", 1, "refused", "4"}, {"tokens", 2, "Issued", "0"},
	} {
		if got := cell(tc.chart, tc.day, tc.series); got != tc.want {
			t.Errorf("%s, %d days ago, %s: %s, want %s", tc.chart, tc.day, tc.series, got, tc.want)
		}
	}
	if strings.Contains(page, today.AddDate(0, 0, -14).Format(time.DateOnly)) {
		t.Error("the chart shows a 15th day")
	}
	for _, want := range []string{`<svg role="img" aria-labelledby="chart-signins-svgtitle chart-signins-desc"`,
		`<title id="chart-signins-svgtitle">Sign-ins per provider per day</title>`, `<title id="chart-tokens-svgtitle">Tokens issued per day</title>`,
		`fill="#d64545"`, `href="/admin/audit"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the home lacks %s", want)
		}
	}
}
