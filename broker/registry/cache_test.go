package registry

import (
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/internal/testsupport"
)

// TestCache: a lookup is served from memory for CacheTTL, misses included, and
// read again after it, so an admin's change (made by another process) shows
// within CacheTTL; a clock that went backwards does not extend an entry.
func TestCache(t *testing.T) {
	ctx := t.Context()
	db := testsupport.OpenSQLite(t)
	now := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	c := NewCache(db, func() time.Time { return now })
	_, hash := NewSecret()
	client := store.Client{ID: "svc", Name: "Before", GrantTypes: []string{GrantClientCredentials},
		TokenEndpointAuthMethod: AuthSecretBasic, SecretHash: hash, CreatedAt: now, UpdatedAt: now}

	if got, err := c.Client(ctx, "svc"); err != nil || got != nil {
		t.Fatalf("unknown client: %v, %v", got, err)
	}
	if err := db.Clients().Create(ctx, client); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.Client(ctx, "svc"); got != nil {
		t.Fatal("a cached miss was read again before CacheTTL")
	}
	now = now.Add(CacheTTL)
	got, err := c.Client(ctx, "svc")
	if err != nil || got == nil || got.Name != "Before" {
		t.Fatalf("after CacheTTL: %v, %v", got, err)
	}
	client.Name, client.UpdatedAt = "After", now
	if err := db.Clients().Update(ctx, client); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.Client(ctx, "svc"); got.Name != "Before" {
		t.Fatalf("read again before CacheTTL: %q", got.Name)
	}
	now = now.Add(-time.Hour) // the clock stepped back
	if got, _ := c.Client(ctx, "svc"); got.Name != "After" {
		t.Fatalf("after the clock went back: %q, want a fresh read", got.Name)
	}

	api := store.API{ID: "notes", Audience: "https://notes.test", Name: "Notes", CreatedAt: now}
	if got, err := c.API(ctx, api.Audience); err != nil || got != nil {
		t.Fatalf("unknown API: %v, %v", got, err)
	}
	if err := db.APIs().Create(ctx, api); err != nil {
		t.Fatal(err)
	}
	now = now.Add(CacheTTL)
	if got, err := c.API(ctx, api.Audience); err != nil || got == nil || got.ID != "notes" {
		t.Fatalf("API after CacheTTL: %v, %v", got, err)
	}
}
