package main

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/store/pgtest"
	"github.com/gatehouse/gatehouse/broker/store/sqlstore"
	"github.com/gatehouse/gatehouse/broker/token"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestSeedRowsReadBackThroughTheStore: what tools/seed writes with its own
// encodings (times, lists, hashes) reads back through the store as the
// server's own rows would, in both dialects: the fixtures' refresh tokens are
// live and match their hash, their sessions and users exist, identities
// resolve to their users, the expired backlog is expired, and the audit log
// filters by action.
func TestSeedRowsReadBackThroughTheStore(t *testing.T) {
	for _, b := range []struct {
		name string
		url  func(testing.TB) string
	}{
		{"sqlite", func(tb testing.TB) string { return "sqlite:" + filepath.Join(tb.TempDir(), "gatehouse.db") }},
		{"postgres", pgtest.URL},
	} {
		t.Run(b.name, func(t *testing.T) {
			out := t.TempDir()
			c := config{url: b.url(t), scale: 0.0005, expired: 1, expiredSessions: 0.2, fixtures: 4, people: 20, out: out,
				clients: []string{"scale-app", "scale-web"}, providers: []string{"scale-idp", "scale-idp2"},
				audience: "https://api.scale.test", now: time.Now().UTC().Truncate(time.Microsecond), auditMonths: 6, secondProviderPct: 30}
			if err := run(t.Context(), c); err != nil {
				t.Fatal(err)
			}
			db, err := sqlstore.Open(t.Context(), c.url)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			ctx := t.Context()
			g := newGen(c)
			for table, want := range map[string]int{"users": g.users, "identities": g.users + g.users*30/100, "sessions": g.sessions + g.expiredSessions,
				"consents": g.consents, "refresh_tokens": g.fixtures + g.refresh + g.expiredRefresh, "audit_events": g.audit} {
				if n, err := db.Count(ctx, table); err != nil || n != want {
					t.Errorf("%s: %d rows (%v), want %d", table, n, err, want)
				}
			}
			now := time.Now()
			for i, tok := range readLines(t, filepath.Join(out, "refresh-tokens.txt")) {
				rt, err := db.RefreshTokens().GetByHash(ctx, token.Hash(tok))
				if err != nil {
					t.Fatalf("fixture token %d: %v", i, err)
				}
				if !rt.ExpiresAt.After(now) || !rt.RotatedAt.IsZero() || !rt.RevokedAt.IsZero() || rt.ClientID != "scale-app" || len(rt.Scopes) != 2 {
					t.Errorf("fixture token %d is not a live token of scale-app: %+v", i, rt)
				}
				s, err := db.Sessions().Get(ctx, rt.SessionID)
				if err != nil || s.UserID != rt.UserID || !s.ExpiresAt.After(now) || s.LastSeenAt.Before(now.Add(-13*time.Hour)) {
					t.Errorf("fixture token %d: session %+v (%v) is not its user's live session", i, s, err)
				}
			}
			for _, p := range readLines(t, filepath.Join(out, "people.tsv"))[:3] {
				f := strings.Split(p, "\t")
				u, err := db.Identities().UserOf(ctx, "scale-idp", f[0])
				if err != nil || u.ID != f[3] || u.Email != f[1] {
					t.Errorf("person %v: UserOf = %+v, %v", f, u, err)
				}
			}
			if n, err := db.RefreshTokens().DeleteExpired(ctx, now); err != nil || n != int64(g.expiredRefresh) {
				t.Errorf("DeleteExpired = %d, %v; want the %d of the backlog", n, err, g.expiredRefresh)
			}
			expired, err := db.Sessions().ListExpired(ctx, now, now.Add(-24*time.Hour), 100000)
			if err != nil || len(expired) != g.expiredSessions {
				t.Errorf("ListExpired: %d sessions (%v), want the %d of the backlog", len(expired), err, g.expiredSessions)
			}
			events, err := db.Audit().List(ctx, store.AuditFilter{Action: "signin.succeeded", Limit: 5})
			if err != nil || len(events) != 5 || events[0].Time.After(now) || events[0].Time.Before(now.Add(-7*30*24*time.Hour)) {
				t.Errorf("audit by action: %+v, %v", events, err)
			}
		})
	}
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			out = append(out, l)
		}
	}
	return out
}
