package delegation_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/web"
	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

// TestRevokeWithConfirmation: the grantor's Revoke link asks first (the GET
// changes nothing), the confirmation revokes, and the page says what happened.
// Dr Lee cannot revoke it (404).
func TestRevokeWithConfirmation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	d := e.give()
	path := "/account/delegations/" + d.ID + "/revoke"
	status, confirm := e.page(e.alice, path)
	if status != 200 || !strings.Contains(confirm, "Revoke Dr Lee&#39;s access to Notes API?") ||
		!strings.Contains(confirm, `data-testid="confirm-revoke">Revoke Dr Lee&#39;s access to Notes API</button>`) {
		t.Fatalf("confirm page: %d\n%s", status, confirm)
	}
	if !e.get(d.ID).RevokedAt.IsZero() {
		t.Fatal("the confirm page revoked it")
	}
	if s, _ := e.page(e.lee, path); s != 404 {
		t.Errorf("Dr Lee's revoke page: %d, want 404", s)
	}
	res, _ := e.post(e.alice, confirm, path, nil)
	loc := res.Header.Get("Location")
	if res.StatusCode != http.StatusSeeOther || query(loc).Get("revoked") != d.ID {
		t.Fatalf("revoke: %d %s", res.StatusCode, loc)
	}
	if got := e.get(d.ID); got.RevokedAt.IsZero() || got.EndReason != store.DelegationEndRevoked {
		t.Errorf("stored %+v", got)
	}
	if evs := e.Audited("delegation.revoked"); len(evs) != 1 || evs[0].Target != d.ID || evs[0].Actor != e.aliceID {
		t.Errorf("audited %+v", evs)
	}
	_, list := e.page(e.alice, loc)
	for _, want := range []string{"Dr Lee can no longer use your access to Notes API; tokens they got with it stopped working.",
		`data-status="revoked"`} {
		if !strings.Contains(list, want) {
			t.Errorf("list lacks %q\n%s", want, list)
		}
	}
	if strings.Contains(list, path) {
		t.Error("a revoked delegation still offers Revoke")
	}
}

// TestDeclineWithConfirmation: Dr Lee declines what alice gave him, after a
// confirmation; alice cannot decline it for him (404).
func TestDeclineWithConfirmation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	d := e.give()
	path := "/account/delegations/" + d.ID + "/decline"
	status, confirm := e.page(e.lee, path)
	if status != 200 || !strings.Contains(confirm, `data-testid="confirm-decline">Decline Alice&#39;s access to Notes API</button>`) {
		t.Fatalf("confirm page: %d\n%s", status, confirm)
	}
	if s, _ := e.page(e.alice, path); s != 404 {
		t.Errorf("alice's decline page: %d, want 404", s)
	}
	if !e.get(d.ID).RevokedAt.IsZero() {
		t.Fatal("the confirm pages declined it")
	}
	res, _ := e.post(e.lee, confirm, path, nil)
	loc := res.Header.Get("Location")
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("decline: %d", res.StatusCode)
	}
	if got := e.get(d.ID); got.EndReason != store.DelegationEndDeclined {
		t.Errorf("stored %+v", got)
	}
	_, list := e.page(e.lee, loc)
	if !strings.Contains(list, "You declined Alice&#39;s access to Notes API; you can no longer use it.") ||
		!strings.Contains(list, `data-status="declined"`) {
		t.Errorf("list\n%s", list)
	}
	_, aliceList := e.page(e.alice, "/account/delegations")
	if !strings.Contains(aliceList, "<dd data-testid=\"delegation-status\">Declined</dd>") {
		t.Errorf("alice's list does not say it was declined\n%s", aliceList)
	}
}

// TestActivityShowsUses: the grantor sees every use of her delegation (which
// app, which scopes, when, from where), its creation and its end, newest first
// and paged; nobody else sees it (404).
func TestActivityShowsUses(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	d := e.give()
	ctx := web.WithInfo(context.Background(), web.RequestInfo{IP: "10.0.0.5", ID: "req-use"})
	rules := e.rules()
	rules.RecordUse(ctx, d, "web", []string{"notes.read"})
	path := "/account/delegations/" + d.ID + "/activity"
	e.Audited("delegation.used") // flushes the queue
	status, page := e.page(e.alice, path)
	// The harness's audit writer stamps events with the wall clock, so the
	// time is matched by its form only.
	used := regexp.MustCompile(`Dr Lee used your access to Notes API in Web App on \w{3} \d{1,2} \w{3}, \d\d:\d\d UTC ` +
		`\(read your notes\) from 10\.0\.0\.5\.`)
	if status != 200 || !used.MatchString(page) || !strings.Contains(page, "You gave Dr Lee this access on") {
		t.Fatalf("activity: %d, want %q\n%s", status, used, page)
	}
	if strings.Index(page, "used your access") > strings.Index(page, "You gave") {
		t.Error("not newest first")
	}
	if _, list := e.page(e.alice, "/account/delegations"); strings.Contains(list, "Not used yet") {
		t.Error("the list does not show the last use")
	}
	for _, c := range []*http.Client{e.lee, brokertest.NewClient(e.SigninEnv)} {
		res := e.Get(c, path)
		res.Body.Close()
		if res.StatusCode != 404 && res.StatusCode != http.StatusSeeOther {
			t.Errorf("someone else's activity: %d", res.StatusCode)
		}
		if c == e.lee && res.StatusCode != 404 {
			t.Errorf("Dr Lee's view of alice's activity: %d, want 404", res.StatusCode)
		}
	}

	// Paged: 30 more uses, a minute apart; the pages hold each event once.
	for i := range 30 {
		e.Clk.Add(time.Minute)
		rules.RecordUse(web.WithInfo(context.Background(), web.RequestInfo{IP: fmt.Sprintf("10.0.1.%d", i)}), d, "web2", []string{"notes.write"})
	}
	e.Audited("delegation.used")
	var seen []string
	next := path
	for range 5 {
		_, page := e.page(e.alice, next)
		for _, part := range strings.Split(page, `data-testid="activity-entry"`)[1:] {
			seen = append(seen, part[:strings.Index(part, "</li>")])
		}
		i := strings.Index(page, `href="`+path+`?after=`)
		if i < 0 {
			break
		}
		href := page[i+len(`href="`):]
		next = strings.ReplaceAll(href[:strings.Index(href, `"`)], "&amp;", "&")
	}
	if len(seen) != 32 || !strings.Contains(seen[0], "from 10.0.1.29") || !strings.Contains(seen[31], "You gave") {
		t.Errorf("%d entries over the pages, first %q", len(seen), seen[0])
	}
	if _, err := url.Parse(next); err != nil {
		t.Error(err)
	}
}

// TestPagesRequireASession: every page sends a visitor who is not signed in to
// sign in, and back afterwards.
func TestPagesRequireASession(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	d := e.give()
	c := brokertest.NewClient(e.SigninEnv)
	for _, p := range []string{"/account/delegations", "/account/delegations/new", "/account/delegations/" + d.ID + "/revoke",
		"/account/delegations/" + d.ID + "/decline", "/account/delegations/" + d.ID + "/activity"} {
		res := e.Get(c, p)
		res.Body.Close()
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != web.LoginURL(p) {
			t.Errorf("%s: %d %s", p, res.StatusCode, res.Header.Get("Location"))
		}
	}
}

// TestWEB02_DelegationForms: every delegation form refuses a POST without its
// CSRF token, with a wrong one (another form's, or another delegation's), or
// from another site, and nothing changes (SECURITY.md WEB-02: 403).
func TestWEB02_DelegationForms(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	d := e.give()
	_, form := e.page(e.alice, "/account/delegations/new")
	_, review := e.review(e.alice, goodForm())
	_, revoke := e.page(e.alice, "/account/delegations/"+d.ID+"/revoke")
	_, decline := e.page(e.lee, "/account/delegations/"+d.ID+"/decline")
	revokeFields := brokertest.FormFields(t, revoke, "/account/delegations/"+d.ID+"/revoke")
	for _, tc := range []struct {
		name   string
		c      *http.Client
		page   string
		action string
	}{
		{"give", e.alice, form, "/account/delegations/new"},
		{"confirm", e.alice, review, "/account/delegations/new/confirm"},
		{"revoke", e.alice, revoke, "/account/delegations/" + d.ID + "/revoke"},
		{"decline", e.lee, decline, "/account/delegations/" + d.ID + "/decline"},
	} {
		for name, token := range map[string][]string{"no token": nil, "a wrong token": {"d3Jvbmc"},
			"another form's token": revokeFields["csrf_token"]} {
			if tc.name == "revoke" && name == "another form's token" {
				continue
			}
			t.Run(tc.name+" with "+name, func(t *testing.T) {
				f := brokertest.FormFields(t, tc.page, tc.action)
				f.Del("csrf_token")
				if token != nil {
					f["csrf_token"] = token
				}
				res := e.PostForm(tc.c, tc.action, f)
				res.Body.Close()
				if res.StatusCode != http.StatusForbidden {
					t.Errorf("%d, want 403", res.StatusCode)
				}
			})
		}
		t.Run(tc.name+" from another site", func(t *testing.T) {
			f := brokertest.FormFields(t, tc.page, tc.action)
			req, _ := http.NewRequest(http.MethodPost, e.Abs(tc.action), strings.NewReader(f.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Origin", "https://evil.test")
			req.Header.Set("Sec-Fetch-Site", "cross-site")
			res, err := tc.c.Do(req)
			brokertest.Must(t, err)
			res.Body.Close()
			if res.StatusCode != http.StatusForbidden {
				t.Errorf("%d, want 403", res.StatusCode)
			}
		})
	}
	if l := e.delegations(); len(l) != 1 || !l[0].RevokedAt.IsZero() {
		t.Errorf("delegations changed: %+v", l)
	}
	if n := len(e.Audited("delegation.created")) + len(e.Audited("delegation.revoked")) + len(e.Audited("delegation.declined")); n != 1 {
		t.Errorf("%d delegation events, want the 1 creation", n)
	}
	// And a GET changes nothing (WEB-04): the routes are POST-only.
	for _, p := range []string{"/account/delegations/new/confirm"} {
		if s, _ := e.page(e.alice, p); s != http.StatusMethodNotAllowed {
			t.Errorf("GET %s: %d, want 405", p, s)
		}
	}
}

// TestWEB12_DelegationPagesNotFramed: every delegated-access page forbids
// framing (SECURITY.md WEB-12, clickjacking) and is never cached.
func TestWEB12_DelegationPagesNotFramed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	d := e.give()
	for _, p := range []string{"/account/delegations", "/account/delegations/new", "/account/delegations/" + d.ID + "/revoke",
		"/account/delegations/" + d.ID + "/activity"} {
		res := e.Get(e.alice, p)
		res.Body.Close()
		if res.StatusCode != 200 || res.Header.Get("X-Frame-Options") != "DENY" ||
			!strings.Contains(res.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
			t.Errorf("%s: %d, X-Frame-Options %q, CSP %q", p, res.StatusCode, res.Header.Get("X-Frame-Options"),
				res.Header.Get("Content-Security-Policy"))
		}
	}
}
