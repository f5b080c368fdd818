package delegation_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

// TestGiveAccessWithReview: alice gives Dr Lee part of her access through the
// form and the review step. The form offers only what she can give; the review
// says what Dr Lee will be able to do and until when, and stores nothing; the
// confirmation stores exactly what was reviewed.
func TestGiveAccessWithReview(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	status, form := e.page(e.alice, "/account/delegations/new")
	if status != 200 || !strings.Contains(form, `data-testid="give-form"`) {
		t.Fatalf("give-access page: %d\n%s", status, form)
	}
	// Only the Notes API's delegable scopes alice holds; the apps allowed it.
	for _, want := range []string{`data-testid="give-scope-notes.read"`, `data-testid="give-scope-notes.write"`,
		"Read your notes", `<option value="web">Web App</option>`, "at most 7 days", `<legend>What they may do in Notes API</legend>`} {
		if !strings.Contains(form, want) {
			t.Errorf("form lacks %s", want)
		}
	}
	for _, unwanted := range []string{"give-scope-admin", "give-scope-notes.share", "give-pass-on", "Billing"} {
		if strings.Contains(form, unwanted) {
			t.Errorf("form offers %s", unwanted)
		}
	}

	res, review := e.post(e.alice, form, "/account/delegations/new", goodForm())
	until := e.Clk.Now().Add(24 * time.Hour).Truncate(time.Minute)
	want := "Dr Lee will be able to read your notes and change your notes in Notes API until " +
		until.Format("Mon 2 Jan, 15:04 UTC") + ". You can take this back at any time."
	if res.StatusCode != 200 || !strings.Contains(review, want) {
		t.Fatalf("review: %d, want %q\n%s", res.StatusCode, want, review)
	}
	if !strings.Contains(review, "Give Dr Lee access to Notes API") {
		t.Error("the confirm button does not say what it does")
	}
	e.wantNothingGiven(t)

	res, _ = e.post(e.alice, review, "/account/delegations/new/confirm", nil)
	loc := res.Header.Get("Location")
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/account/delegations?given=") {
		t.Fatalf("confirm: %d %s", res.StatusCode, loc)
	}
	l := e.delegations()
	if len(l) != 1 {
		t.Fatalf("%d delegations", len(l))
	}
	d := l[0]
	if d.GranteeUserID != e.leeID || d.Audience != brokertest.NotesAPI || !slices.Equal(d.Scopes, []string{"notes.read", "notes.write"}) ||
		!d.ExpiresAt.Equal(until) || d.Note != "Covering my shift" || d.MayRedelegate || d.ParentID != "" ||
		query(loc).Get("given") != d.ID {
		t.Errorf("stored %+v", d)
	}
	if evs := e.Audited("delegation.created"); len(evs) != 1 || evs[0].Actor != e.aliceID || evs[0].Target != d.ID {
		t.Errorf("audited %+v", evs)
	}

	_, list := e.page(e.alice, loc)
	for _, want := range []string{"Dr Lee can now read your notes and change your notes in Notes API until",
		`data-testid="delegation-` + d.ID + `" data-status="expiring_soon"`, "Active, expiring within a day", "Covering my shift", "Not used yet",
		"Revoke<span class=\"skip\"> Dr Lee&#39;s access to Notes API</span>"} {
		if !strings.Contains(list, want) {
			t.Errorf("list lacks %s\n%s", want, list)
		}
	}
	_, account := e.page(e.alice, "/account")
	if !strings.Contains(account, `href="/account/delegations"`) || !strings.Contains(account, "You have given 1 active delegation") {
		t.Errorf("account page lacks the link or the count\n%s", account)
	}
	// Dr Lee sees it among the access given to him, and may decline it.
	_, leeList := e.page(e.lee, "/account/delegations")
	if !strings.Contains(leeList, "From Alice · Notes API") || !strings.Contains(leeList, `/account/delegations/`+d.ID+`/decline`) {
		t.Errorf("Dr Lee's list\n%s", leeList)
	}
}

// TestASDEL04_DelegationPageRefusals: every refusal of the give-access form,
// at the first step or (tampered hidden fields) at the confirmation: an
// escalation is a 403 page (SECURITY.md AS-DEL-04), the rest are said on the
// form, which keeps what was entered. Nothing is stored.
func TestASDEL04_DelegationPageRefusals(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		changes map[string][]string
		status  int
		want    string
	}{
		{"a scope alice does not hold", map[string][]string{"scope": {"notes.read", "admin"}}, 403, "You can only give access you hold yourself"},
		{"a scope that is not delegable", map[string][]string{"scope": {"notes.share"}}, 422, "&#34;notes.share&#34; cannot be delegated"},
		{"an expiry beyond the policy", map[string][]string{"for": {"date"}, "until": {brokertest.SigninT0.Add(8 * 24 * time.Hour).Format("2006-01-02T15:04")}},
			422, "Access can be given for at most 7 days."},
		{"an expiry in the past", map[string][]string{"for": {"date"}, "until": {brokertest.SigninT0.Add(-time.Hour).Format("2006-01-02T15:04")}},
			422, "The end date must be in the future."},
		{"an API that forbids delegation", map[string][]string{"api": {billingAPI}, "scope": {"billing.read"}}, 422, "Access to Billing cannot be delegated."},
		{"to oneself", map[string][]string{"email": {"alice@oidc.example"}}, 422, "You cannot give access to yourself."},
		{"to an address with no account", map[string][]string{"email": {"nobody@lee.example"}}, 422, "We couldn&#39;t give access to that address."},
		{"to a disabled account", map[string][]string{"email": {"gone@lee.example"}}, 422, "We couldn&#39;t give access to that address."},
		{"with permission to pass it on the policy does not allow", map[string][]string{"pass_on": {"yes"}}, 422, "Access to Notes API may not be passed on."},
		{"to an app not allowed the API", map[string][]string{"to": {"app"}, "client": {"elsewhere"}}, 422, "This app cannot be given access to this API."},
		{"no scope", map[string][]string{"scope": nil}, 422, "Choose at least one permission."},
	} {
		for _, step := range []string{"form", "confirmation"} {
			t.Run(tc.name+" at the "+step, func(t *testing.T) {
				t.Parallel()
				e := newEnv(t)
				now := e.Clk.Now()
				brokertest.Must(t, e.DB.Users().Create(context.Background(), store.User{ID: "gone", Email: "gone@lee.example",
					EmailVerified: true, Disabled: true, CreatedAt: now, UpdatedAt: now}))
				brokertest.Must(t, e.DB.Clients().Create(context.Background(), store.Client{ID: "elsewhere", Name: "Elsewhere",
					DefaultAudience: billingAPI, CreatedAt: now, UpdatedAt: now}))
				changes := goodForm()
				var res *http.Response
				var page string
				if step == "form" {
					for k, v := range tc.changes {
						changes[k] = v
					}
					res, page = e.review(e.alice, changes)
				} else {
					// The review step's hidden fields, tampered with: checked again.
					_, review := e.review(e.alice, changes)
					tampered := map[string][]string{}
					for k, v := range tc.changes {
						tampered[k] = v
					}
					if _, ok := tc.changes["until"]; ok {
						tampered["expires_at"] = []string{mustLocal(t, tc.changes["until"][0]).Format(time.RFC3339)}
					}
					res, page = e.post(e.alice, review, "/account/delegations/new/confirm", tampered)
				}
				if res.StatusCode != tc.status || !strings.Contains(page, tc.want) {
					t.Errorf("%d, want %d with %q\n%s", res.StatusCode, tc.status, tc.want, page)
				}
				if tc.status == 422 && (!strings.Contains(page, `data-testid="give-problems"`) ||
					!strings.Contains(page, `value="Covering my shift"`) && !strings.Contains(page, ">Covering my shift</textarea>")) {
					t.Errorf("the form does not show the problem with what was entered\n%s", page)
				}
				e.wantNothingGiven(t)
			})
		}
	}
}

func mustLocal(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.ParseInLocation("2006-01-02T15:04", s, time.UTC)
	brokertest.Must(t, err)
	return v
}

// TestASDEL04_PassOn: a delegation received with permission to pass it on is
// passed on from its "Pass on" link, within what was received; one received
// without that permission, or someone else's, cannot be passed on (403/404),
// and passing on a scope not received is a 403. Nothing more is stored.
func TestASDEL04_PassOn(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(p *store.DelegationPolicy) { p.Redelegation = true })
	ctx := context.Background()
	now := e.Clk.Now()
	// Dr Lee gave alice read access, which she may pass on, and write access, which she may not.
	for _, d := range []store.Delegation{
		{ID: "from-lee", GrantorID: e.leeID, GranteeUserID: e.aliceID, Audience: brokertest.NotesAPI,
			Scopes: []string{"notes.read"}, MayRedelegate: true, CreatedAt: now, ExpiresAt: now.Add(48 * time.Hour)},
		{ID: "from-lee-kept", GrantorID: e.leeID, GranteeUserID: e.aliceID, Audience: brokertest.NotesAPI,
			Scopes: []string{"notes.write"}, CreatedAt: now, ExpiresAt: now.Add(48 * time.Hour)},
		{ID: "from-lee-expired", GrantorID: e.leeID, GranteeUserID: e.aliceID, Audience: brokertest.NotesAPI,
			Scopes: []string{"notes.read"}, MayRedelegate: true, CreatedAt: now.Add(-48 * time.Hour), ExpiresAt: now.Add(-time.Hour)},
	} {
		brokertest.Must(t, e.DB.Delegations().Create(ctx, d))
	}
	brokertest.Must(t, e.DB.Users().Create(ctx, store.User{ID: "bob", Email: "bob@lee.example", EmailVerified: true,
		CreatedAt: now, UpdatedAt: now}))
	_, list := e.page(e.alice, "/account/delegations")
	if !strings.Contains(list, `href="/account/delegations/new?parent=from-lee"`) || strings.Contains(list, "parent=from-lee-kept") {
		t.Fatalf("pass-on links\n%s", list)
	}
	status, form := e.page(e.alice, "/account/delegations/new?parent=from-lee")
	if status != 200 || !strings.Contains(form, "that Dr Lee gave you") || !strings.Contains(form, "give-scope-notes.read") ||
		strings.Contains(form, "give-scope-notes.write") || !strings.Contains(form, "and no later than the access you received ends") {
		t.Fatalf("pass-on form: %d\n%s", status, form)
	}
	if s, _ := e.page(e.alice, "/account/delegations/new?parent=from-lee-kept"); s != 404 {
		t.Errorf("pass-on form of a delegation that may not be passed on: %d, want 404", s)
	}
	if s, _ := e.page(e.alice, "/account/delegations/new?parent=from-lee-expired"); s != 404 {
		t.Errorf("pass-on form of an expired delegation: %d, want 404", s)
	}
	if s, _ := e.page(e.lee, "/account/delegations/new?parent=from-lee"); s != 404 {
		t.Errorf("pass-on form of someone else's delegation: %d, want 404", s)
	}
	for name, tc := range map[string]struct {
		changes map[string][]string
		status  int
	}{
		"a scope not received":      {map[string][]string{"scope": {"notes.read", "notes.write"}}, 403},
		"one that may not pass on":  {map[string][]string{"parent": {"from-lee-kept"}, "scope": {"notes.write"}}, 403},
		"someone else's delegation": {map[string][]string{"parent": {"not-hers"}}, 403},
		"an expired one":            {map[string][]string{"parent": {"from-lee-expired"}}, 403},
	} {
		changes := map[string][]string{"email": {"bob@lee.example"}, "scope": {"notes.read"}, "for": {"24h0m0s"}, "note": {"x"}}
		for k, v := range tc.changes {
			changes[k] = v
		}
		res, page := e.post(e.alice, form, "/account/delegations/new", changes)
		if res.StatusCode != tc.status {
			t.Errorf("%s: %d, want %d\n%s", name, res.StatusCode, tc.status, page)
		}
	}
	e.wantNothingGiven(t)
	res, review := e.post(e.alice, form, "/account/delegations/new",
		map[string][]string{"email": {"bob@lee.example"}, "scope": {"notes.read"}, "for": {"24h0m0s"}})
	if res.StatusCode != 200 {
		t.Fatalf("review: %d\n%s", res.StatusCode, review)
	}
	if res, _ := e.post(e.alice, review, "/account/delegations/new/confirm", nil); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("confirm: %d", res.StatusCode)
	}
	l := e.delegations()
	if len(l) != 1 || l[0].ParentID != "from-lee" || l[0].GranteeUserID != "bob" || !slices.Equal(l[0].Scopes, []string{"notes.read"}) {
		t.Errorf("passed on %+v", l)
	}
}

// TestGiveRefusalsInWelsh: a refused give-access form speaks the browser's
// language (Accept-Language: cy), whether the form itself finds the problem,
// delegate's rules refuse it, or it is an escalation's 403 page.
func TestGiveRefusalsInWelsh(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		changes map[string][]string
		status  int
		want    []string
	}{
		{"no app chosen", map[string][]string{"to": {"app"}, "client": nil}, 422, []string{"Dewiswch yr ap i roi mynediad iddo."}},
		{"no such person", map[string][]string{"email": {"nobody@lee.example"}}, 422,
			[]string{"Nid oeddem yn gallu rhoi mynediad i’r cyfeiriad hwnnw. Gwiriwch ef, neu gofynnwch iddynt fewngofnodi i Gatehouse unwaith yn gyntaf."}},
		{"an end in the past and no scope", map[string][]string{"for": {"date"}, "scope": nil,
			"until": {brokertest.SigninT0.Add(-time.Hour).Format("2006-01-02T15:04")}}, 422,
			[]string{"Rhaid i’r dyddiad gorffen fod yn y dyfodol.", "Dewiswch o leiaf un caniatâd."}},
		{"beyond the policy", map[string][]string{"for": {"date"}, "until": {brokertest.SigninT0.Add(8 * 24 * time.Hour).Format("2006-01-02T15:04")}},
			422, []string{"Gellir rhoi mynediad am 7 diwrnod ar y mwyaf."}},
		{"a scope that is not delegable", map[string][]string{"scope": {"notes.share"}}, 422, []string{"Ni ellir dirprwyo “notes.share”."}},
		{"a scope alice does not hold", map[string][]string{"scope": {"admin"}}, 403,
			[]string{"Heb ganiatâd", "Dim ond mynediad sydd gennych chi eich hun y gallwch ei roi"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			welsh := *e.alice
			welsh.Transport = acceptLanguage{"cy-GB,cy;q=0.9,en;q=0.5", e.alice.Transport}
			changes := goodForm()
			for k, v := range tc.changes {
				changes[k] = v
			}
			res, page := e.review(&welsh, changes)
			if res.StatusCode != tc.status || !strings.Contains(page, `<html lang="cy">`) {
				t.Fatalf("%d, want %d in Welsh\n%s", res.StatusCode, tc.status, page)
			}
			for _, want := range tc.want {
				if tc.status == 422 {
					// Said among the form's problems, not elsewhere on it.
					want = `<li data-testid="give-problem">` + want + `</li>`
				}
				if !strings.Contains(page, want) {
					t.Errorf("the page lacks %q\n%s", want, page)
				}
			}
			e.wantNothingGiven(t)
		})
	}
}

// acceptLanguage sends every request with the browser's language preference.
type acceptLanguage struct {
	langs string
	next  http.RoundTripper
}

func (a acceptLanguage) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Accept-Language", a.langs)
	return a.next.RoundTrip(r)
}
