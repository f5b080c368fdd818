package revoke

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/store/sqlstore"
	"github.com/gatehouse/gatehouse/broker/token"
	"github.com/gatehouse/gatehouse/internal/testsupport"
)

// TestTokensRevocationKeys: each filter revokes its refresh tokens and writes the
// one revocation-list entry its access tokens carry (DATA-10); a delegation has none.
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
		{"consent", store.RefreshFilter{UserID: "ann", ClientID: "web"}, token.UserClientKey("ann", "web"), 2},
		{"user", store.RefreshFilter{UserID: "ann"}, "user:ann", 2},
		{"client", store.RefreshFilter{ClientID: "web"}, "client:web", 2},
		{"delegation", store.RefreshFilter{DelegationID: "d1"}, "", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			db := testsupport.OpenSQLite(t)
			for i, s := range []string{"s1", "s2"} {
				rt := store.RefreshToken{TokenHash: []byte("rt-" + s), FamilyID: "f" + s[1:], GrantID: "g" + s[1:], ClientID: "web",
					UserID: "ann", SessionID: s, DelegationID: map[string]string{"s1": "d1"}[s], CreatedAt: now.Add(-time.Duration(i+1) * time.Second), ExpiresAt: now.Add(time.Hour)}
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
// TestTokensLeavesSessionsToSessions: a session's access tokens carry a key of
// their own, which only Sessions writes, so Tokens refuses a session filter
// rather than revoke refresh tokens and write no entry; the refusal revokes
// nothing.
func TestTokensLeavesSessionsToSessions(t *testing.T) {
	ctx := t.Context()
	now := time.Date(2031, 1, 1, 12, 0, 0, 0, time.UTC)
	db := testsupport.OpenSQLite(t)
	rt := store.RefreshToken{TokenHash: []byte("rt-s1"), FamilyID: "f1", GrantID: "g1", ClientID: "web",
		UserID: "ann", SessionID: "s1", CreatedAt: now.Add(-time.Second), ExpiresAt: now.Add(time.Hour)}
	if err := db.RefreshTokens().Create(ctx, rt); err != nil {
		t.Fatal(err)
	}
	if _, err := Tokens(ctx, db, store.RefreshFilter{SessionIDs: []string{"s1"}}, now, time.Minute); err == nil {
		t.Fatal("Tokens took a session filter")
	}
	got, err := db.RefreshTokens().GetByHash(ctx, rt.TokenHash)
	if err != nil || !got.RevokedAt.IsZero() {
		t.Errorf("after the refusal the session's refresh token: revoked at %v (%v), want live", got.RevokedAt, err)
	}
	if latest, err := db.Revocations().Latest(ctx, []string{token.SessionRevocationKey("s1")}); err != nil || !latest.IsZero() {
		t.Errorf("after the refusal the session's entry: %v (%v), want none", latest, err)
	}
}

// TestSessionsEndAsALogoutDoes: Sessions revokes the refresh tokens of the
// sessions named, writes each one's revocation entry and deletes their rows, in
// lists of store.MaxListed, and touches no other session.
func TestSessionsEndAsALogoutDoes(t *testing.T) {
	ctx := t.Context()
	now := time.Date(2031, 1, 1, 12, 0, 0, 0, time.UTC)
	db := testsupport.OpenSQLite(t)
	var ids []string
	for i := range store.MaxListed + 2 {
		id := fmt.Sprintf("s%03d", i)
		ids = append(ids, id)
		s := store.Session{ID: id, TokenHash: []byte("hash-" + id), UserID: "ann", ProviderID: "corp", AuthTime: now,
			CreatedAt: now.Add(-time.Hour), LastSeenAt: now.Add(-time.Minute), ExpiresAt: now.Add(time.Hour)}
		if err := db.Sessions().Create(ctx, s); err != nil {
			t.Fatal(err)
		}
		rt := store.RefreshToken{TokenHash: []byte("rt-" + id), FamilyID: "f" + id, GrantID: "g" + id, ClientID: "web",
			UserID: "ann", SessionID: id, CreatedAt: now.Add(-time.Second), ExpiresAt: now.Add(time.Hour)}
		if err := db.RefreshTokens().Create(ctx, rt); err != nil {
			t.Fatal(err)
		}
	}
	ended, kept := ids[:store.MaxListed+1], ids[store.MaxListed+1]
	n, err := Sessions(ctx, db, ended, now, 10*time.Minute)
	if err != nil || n != int64(len(ended)) {
		t.Fatalf("revoked %d (%v), want %d", n, err, len(ended))
	}
	for _, id := range ids {
		_, getErr := db.Sessions().Get(ctx, id)
		rt, err := db.RefreshTokens().GetByHash(ctx, []byte("rt-"+id))
		if err != nil {
			t.Fatal(err)
		}
		latest, err := db.Revocations().Latest(ctx, []string{token.SessionRevocationKey(id)})
		if err != nil {
			t.Fatal(err)
		}
		if id == kept {
			if getErr != nil || !rt.RevokedAt.IsZero() || !latest.IsZero() {
				t.Errorf("session %s not named: row %v, token revoked at %v, entry %v; want it untouched", id, getErr, rt.RevokedAt, latest)
			}
			continue
		}
		if !errors.Is(getErr, store.ErrNotFound) || !rt.RevokedAt.Equal(now) || !latest.Equal(now) {
			t.Errorf("session %s: row %v, token revoked at %v, entry %v; want gone, %v, %v", id, getErr, rt.RevokedAt, latest, now, now)
		}
	}
	if n, err := Sessions(ctx, db, nil, now, time.Minute); n != 0 || err != nil {
		t.Errorf("no sessions: %d, %v", n, err)
	}
}

func TestCutOffNamesOneTarget(t *testing.T) {
	for _, c := range []Target{{}, {ProviderID: "corp", UserID: "ann"}} {
		if _, _, err := CutOff(t.Context(), nil, c, time.Now(), time.Minute); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}

// TestCutOffProviderRevokesExchangedTokens: cutting a provider off writes its
// revocation entry, so an access token exchanged from its tokens (RFC 8693; it has
// no session to end) stops at once; a token without the provider is untouched.
func TestCutOffProviderRevokesExchangedTokens(t *testing.T) {
	ctx := t.Context()
	now := time.Date(2031, 1, 1, 12, 0, 0, 0, time.UTC)
	db, err := sqlstore.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "revoke.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, err := CutOff(ctx, db, Target{ProviderID: "corp"}, now, 10*time.Minute); err != nil {
		t.Fatal(err)
	}
	revoked := func(cl token.AccessClaims) bool {
		t.Helper()
		latest, err := db.Revocations().Latest(ctx, cl.RevocationKeys())
		if err != nil {
			t.Fatal(err)
		}
		// As verifyAccessToken decides: revoked if issued at or before the entry.
		return !latest.IsZero() && !latest.Before(time.Unix(cl.IssuedAt, 0))
	}
	iat := now.Add(-time.Minute).Unix()
	exchanged := token.AccessClaims{ID: "j1", ClientID: "svc", Subject: "ann", GrantID: "g1", Provider: "corp", IssuedAt: iat}
	if !revoked(exchanged) {
		t.Error("a token exchanged from the cut-off provider is still valid")
	}
	for name, cl := range map[string]token.AccessClaims{
		"no provider":    {ID: "j2", ClientID: "svc", Subject: "ann", GrantID: "g2", IssuedAt: iat},
		"other provider": {ID: "j3", ClientID: "svc", Subject: "ann", GrantID: "g3", Provider: "uni", IssuedAt: iat},
		"issued after":   {ID: "j4", ClientID: "svc", Subject: "ann", GrantID: "g4", Provider: "corp", IssuedAt: now.Add(time.Second).Unix()},
	} {
		if revoked(cl) {
			t.Errorf("%s: revoked", name)
		}
	}
}
