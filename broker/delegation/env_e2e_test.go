package delegation_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker/delegate"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

// env is brokertest's AuthzEnv (alice, staff, at corp; the Notes API; the apps
// web, web2, first, native) with what delegation needs: Dr Lee, who signed in
// once at another provider; the Notes API's delegation policy (notes.read,
// notes.write and admin delegable for up to 7 days, not passed on; notes.share,
// which alice holds, is not delegable); and the Billing API, which alice may
// use but which allows no delegation.
type env struct {
	*brokertest.AuthzEnv
	alice, lee     *http.Client
	aliceID, leeID string
}

const billingAPI = "https://billing.test"

func newEnv(t *testing.T, policy ...func(*store.DelegationPolicy)) *env {
	t.Helper()
	e := &env{AuthzEnv: brokertest.NewAuthzEnv(t)}
	ctx := context.Background()
	e.AddOIDC("ward", "lee.example", false, map[string]any{"sub": "lee-sub", "email": "lee@lee.example",
		"email_verified": true, "name": "Dr Lee", "groups": []any{"staff"}})
	api, err := e.DB.APIs().GetByAudience(ctx, brokertest.NotesAPI)
	brokertest.Must(t, err)
	api.Scopes = append(api.Scopes, store.Scope{Name: "notes.share", Description: "Share your notes"})
	api.Delegation = store.DelegationPolicy{Allowed: true, MaxDuration: 7 * 24 * time.Hour,
		Scopes: []string{"notes.read", "notes.write", "admin"}}
	for _, p := range policy {
		p(&api.Delegation)
	}
	brokertest.Must(t, e.DB.APIs().Update(ctx, api))
	brokertest.Must(t, e.DB.APIs().Create(ctx, store.API{ID: "billing", Audience: billingAPI, Name: "Billing",
		CreatedAt: e.Clk.Now(), Scopes: []store.Scope{{Name: "billing.read", Description: "Read your bills"}}}))
	e.alice = e.SignedIn()
	e.lee = brokertest.NewClient(e.SigninEnv)
	if res, page := e.SignIn(e.lee, "lee@lee.example"); res.StatusCode != 200 || !strings.Contains(page, `data-testid="account"`) {
		t.Fatalf("Dr Lee's sign-in: %d %s", res.StatusCode, page)
	}
	e.aliceID, e.leeID = e.userID("alice@oidc.example"), e.userID("lee@lee.example")
	return e
}

func (e *env) userID(email string) string {
	e.T.Helper()
	us, err := e.DB.Users().FindByEmail(context.Background(), email)
	if err != nil || len(us) != 1 {
		e.T.Fatalf("user %s: %v %v", email, us, err)
	}
	return us[0].ID
}

// page GETs path in browser c and returns the status and the body.
func (e *env) page(c *http.Client, path string) (int, string) {
	e.T.Helper()
	res := e.Get(c, path)
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// post submits the form posting to action on page with changes applied
// (a nil value deletes the field), and returns the answer.
func (e *env) post(c *http.Client, page, action string, changes map[string][]string) (*http.Response, string) {
	e.T.Helper()
	f := brokertest.FormFields(e.T, page, action)
	for k, v := range changes {
		if v == nil {
			f.Del(k)
		} else {
			f[k] = v
		}
	}
	res := e.PostForm(c, action, f)
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

// goodForm is a give-access form alice may send: Dr Lee may read and change
// her notes for a day.
func goodForm() map[string][]string {
	return map[string][]string{"to": {"person"}, "email": {"lee@lee.example"}, "scope": {"notes.read", "notes.write"},
		"for": {"24h0m0s"}, "note": {"Covering my shift"}}
}

// review sends the give-access form with changes and returns the review page.
func (e *env) review(c *http.Client, changes map[string][]string) (*http.Response, string) {
	e.T.Helper()
	_, form := e.page(c, "/account/delegations/new")
	return e.post(c, form, "/account/delegations/new", changes)
}

// give gives Dr Lee a day of alice's notes through the pages and returns it.
func (e *env) give() store.Delegation {
	e.T.Helper()
	res, review := e.review(e.alice, goodForm())
	if res.StatusCode != 200 || !strings.Contains(review, `data-testid="give-review-page"`) {
		e.T.Fatalf("review: %d\n%s", res.StatusCode, review)
	}
	res, _ = e.post(e.alice, review, "/account/delegations/new/confirm", nil)
	if res.StatusCode != http.StatusSeeOther {
		e.T.Fatalf("confirm: %d", res.StatusCode)
	}
	l := e.delegations()
	if len(l) != 1 {
		e.T.Fatalf("%d delegations stored", len(l))
	}
	return l[0]
}

// delegations are alice's delegations as stored.
func (e *env) delegations() []store.Delegation {
	e.T.Helper()
	l, err := e.DB.Delegations().ListByGrantor(context.Background(), e.aliceID)
	brokertest.Must(e.T, err)
	return l
}

func (e *env) get(id string) store.Delegation {
	e.T.Helper()
	d, err := e.DB.Delegations().Get(context.Background(), id)
	brokertest.Must(e.T, err)
	return d
}

// wantNothingGiven asserts no delegation was stored or audited as created.
func (e *env) wantNothingGiven(t *testing.T) {
	t.Helper()
	if l := e.delegations(); len(l) != 0 {
		t.Errorf("delegations stored: %+v", l)
	}
	if evs := e.Audited("delegation.created"); len(evs) != 0 {
		t.Errorf("delegation.created audited: %+v", evs)
	}
}

// rules is a delegate.Service on the test's database, for what the pages do
// not do (recording a use).
func (e *env) rules() *delegate.Service {
	return &delegate.Service{Store: e.DB, Audit: e.Audits[0], Now: e.Clk.Now, AccessTokenTTL: time.Hour}
}

func query(path string) url.Values {
	u, _ := url.Parse(path)
	return u.Query()
}
