package delegation_test

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/web"

	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

// TestActivityShowsUsesOfWhatWasPassedOn: alice's Activity page for the access
// she gave Dr Lee also lists the uses of what Dr Lee passed on from it (to Sam)
// and what Sam passed on in turn (to the First Party app), each naming who
// passed it on; the use of a delegation not passed on from hers is not listed.
// Its expiry, ended by the maintenance pass, is listed too.
func TestActivityShowsUsesOfWhatWasPassedOn(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(p *store.DelegationPolicy) { p.Redelegation = true })
	d := e.give()
	ctx := context.Background()
	now := e.Clk.Now()
	brokertest.Must(t, e.DB.Users().Create(ctx, store.User{ID: "sam", Name: "Sam", CreatedAt: now, UpdatedAt: now}))
	child := store.Delegation{ID: "lee-sam", GrantorID: e.leeID, GranteeUserID: "sam", ParentID: d.ID, MayRedelegate: true}
	grandchild := store.Delegation{ID: "sam-first", GrantorID: "sam", GranteeClientID: "first", ParentID: child.ID}
	unrelated := store.Delegation{ID: "lee-own", GrantorID: e.leeID, GranteeUserID: "sam"}
	for _, x := range []*store.Delegation{&child, &grandchild, &unrelated} {
		x.Audience, x.Scopes, x.CreatedAt, x.ExpiresAt = brokertest.NotesAPI, []string{"notes.read"}, now, d.ExpiresAt
		brokertest.Must(t, e.DB.Delegations().Create(ctx, *x))
	}
	rules := e.rules()
	use := func(x store.Delegation, client, ip string) {
		rules.RecordUse(web.WithInfo(ctx, web.RequestInfo{IP: ip}), x, client, []string{"notes.read"})
	}
	use(child, "web", "10.0.0.9")
	use(grandchild, "web2", "10.0.0.10")
	use(unrelated, "web", "10.0.0.11")
	e.Audited("delegation.used") // flushes the queue

	path := "/account/delegations/" + d.ID + "/activity"
	status, page := e.page(e.alice, path)
	at := `on \w{3} \d{1,2} \w{3}, \d\d:\d\d UTC`
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`Sam used your access to Notes API, passed on by Dr Lee, in Web App ` + at + ` \(read your notes\) from 10\.0\.0\.9\.`),
		regexp.MustCompile(`First Party used your access to Notes API, passed on by Sam, in Other App ` + at + ` \(read your notes\) from 10\.0\.0\.10\.`),
	} {
		if status != 200 || !want.MatchString(page) {
			t.Errorf("activity: %d, want %q\n%s", status, want, page)
		}
	}
	if strings.Contains(page, "10.0.0.11") {
		t.Error("the use of a delegation not passed on from alice's is listed")
	}
	if strings.Index(page, "passed on by Sam") > strings.Index(page, "passed on by Dr Lee") ||
		strings.Index(page, "passed on by Dr Lee") > strings.Index(page, "You gave") {
		t.Error("not newest first")
	}

	// The delegation expires; the maintenance pass ends it as an event.
	e.Clk.Add(d.ExpiresAt.Sub(now) + time.Minute)
	if n, err := rules.EndExpired(ctx); err != nil || n != 4 {
		t.Fatalf("EndExpired: %d %v", n, err)
	}
	e.alice = e.SignedIn() // her session ended meanwhile
	if _, page := e.page(e.alice, path); !regexp.MustCompile(`It expired ` + at + `\.`).MatchString(page) {
		t.Errorf("the expiry is not listed\n%s", page)
	}
	if _, list := e.page(e.alice, "/account/delegations"); !strings.Contains(list, `<dd data-testid="delegation-status">Expired</dd>`) {
		t.Errorf("the list does not say it expired\n%s", list)
	}
}
