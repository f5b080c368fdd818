package revoke

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/store/sqlstore"
	"github.com/gatehouse/gatehouse/broker/token"
)

// TestTokensRevocationKeys: each filter revokes its refresh tokens and writes the
// one revocation-list entry its access tokens carry (DATA-10); a family has none.
// The end-to-end effect on introspection and UserInfo is tested in package broker
// (TestDATA10_*).
func TestTokensRevocationKeys(t *testing.T) {
	now := time.Date(2031, 1, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name    string
		f       store.RefreshFilter
		key     string // "" for none
		revoked int64
	}{
		{"session", store.RefreshFilter{SessionID: "s1"}, "session:s1", 1},
		{"consent", store.RefreshFilter{UserID: "ann", ClientID: "web"}, token.UserClientKey("ann", "web"), 2},
		{"user", store.RefreshFilter{UserID: "ann"}, "user:ann", 2},
		{"client", store.RefreshFilter{ClientID: "web"}, "client:web", 2},
		{"family", store.RefreshFilter{FamilyID: "f1"}, "", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			db, err := sqlstore.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "revoke.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			if err := db.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			for i, s := range []string{"s1", "s2"} {
				rt := store.RefreshToken{TokenHash: []byte("rt-" + s), FamilyID: "f" + s[1:], GrantID: "g" + s[1:], ClientID: "web",
					UserID: "ann", SessionID: s, CreatedAt: now.Add(-time.Duration(i+1) * time.Second), ExpiresAt: now.Add(time.Hour)}
				if err := db.RefreshTokens().Create(ctx, rt); err != nil {
					t.Fatal(err)
				}
			}
			n, err := Tokens(ctx, db, tc.f, now, 10*time.Minute)
			if err != nil || n != tc.revoked {
				t.Fatalf("revoked %d (%v), want %d", n, err, tc.revoked)
			}
			if tc.key == "" {
				return
			}
			if latest, err := db.Revocations().Latest(ctx, []string{tc.key}); err != nil || !latest.Equal(now) {
				t.Errorf("entry %s: %v %v, want issued before %v", tc.key, latest, err, now)
			}
		})
	}
}

// TestCutOffNamesOneTarget: a cut-off of nobody, or of a provider and a user at
// once, is refused before anything ends.
func TestCutOffNamesOneTarget(t *testing.T) {
	for _, c := range []Target{{}, {ProviderID: "corp", UserID: "ann"}} {
		if _, _, err := CutOff(t.Context(), nil, c, time.Now(), time.Minute); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}
