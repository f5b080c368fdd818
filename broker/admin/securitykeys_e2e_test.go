package admin_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

// TestConsoleRemovesPersonSecurityKey: an admin sees a person's security keys,
// a possibly cloned one flagged (issue 15), and removes it after a
// confirmation, in the console and through the admin API; each removal is an
// audit event naming the admin, and a key of someone else is not found.
func TestConsoleRemovesPersonSecurityKey(t *testing.T) {
	w := newWorld(t)
	c, aliceID := w.signIn("alice@corp.example")
	_, bobID := w.signIn("bob@uni.example")
	now := w.Clk.Now()
	for _, k := range []store.SecurityKey{
		{ID: "k-cloned", UserID: bobID, CredentialID: []byte("c1"), PublicKey: []byte("p"), Name: "Cloned key", CreatedAt: now, CloneWarning: true},
		{ID: "k-other", UserID: bobID, CredentialID: []byte("c2"), PublicKey: []byte("p"), Name: "Other key", Attachment: "platform", CreatedAt: now},
		{ID: "k-alice", UserID: aliceID, CredentialID: []byte("c3"), PublicKey: []byte("p"), Name: "Alice's key", CreatedAt: now},
	} {
		brokertest.Must(t, w.DB.SecurityKeys().Create(t.Context(), k))
	}
	base := "/admin/people/" + url.PathEscape(bobID)
	if _, page := w.page(c, base); !strings.Contains(page, `href="`+base+`/security-keys"`) {
		t.Fatal("the person page does not link to their security keys")
	}
	_, page := w.page(c, base+"/security-keys")
	if !strings.Contains(page, `data-testid="admin-security-key-clone-warning"`) || !strings.Contains(page, "Other key") {
		t.Fatalf("keys page:\n%s", page)
	}
	remove := base + "/security-keys/k-cloned/remove"
	res, confirm := w.page(c, remove)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("confirmation: %d", res.StatusCode)
	}
	if res, _ := w.submit(c, confirm, remove, nil); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("remove: %d", res.StatusCode)
	}
	if keys, _ := w.DB.SecurityKeys().ListForUser(t.Context(), bobID); len(keys) != 1 || keys[0].ID != "k-other" {
		t.Fatalf("bob's keys after the removal: %+v", keys)
	}
	w.wantEvent("securitykey.removed", "k-cloned", aliceID, "console", 1)

	// Someone else's key through another person's address: not found, kept.
	if res, _ := w.page(c, base+"/security-keys/k-alice/remove"); res.StatusCode != http.StatusNotFound {
		t.Errorf("another person's key: %d", res.StatusCode)
	}
	tok := w.token("robot", "")
	if st, _, _ := w.call(http.MethodDelete, "/api/admin/v1/users/"+bobID+"/security-keys/k-alice", tok, nil); st != http.StatusNotFound {
		t.Errorf("API, another person's key: %d", st)
	}
	if st, _, _ := w.call(http.MethodDelete, "/api/admin/v1/users/"+bobID+"/security-keys/k-other", tok, nil); st != http.StatusNoContent {
		t.Errorf("API remove: %d", st)
	}
	if keys, _ := w.DB.SecurityKeys().ListForUser(t.Context(), aliceID); len(keys) != 1 {
		t.Errorf("alice's key was touched: %+v", keys)
	}
	if n := len(w.events("securitykey.removed")); n != 2 {
		t.Errorf("%d securitykey.removed events, want 2", n)
	}
}
