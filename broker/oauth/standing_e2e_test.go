package oauth_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/token"
	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

// TestGrantStandingIsCheckedWithoutARevocationEntry: what the token endpoint
// checks behind the revocation list (store.Standing), each changed in the
// database with no revocation entry written (as a database edit or a providers
// file would): a disabled person, a disabled provider, a session gone. The
// refresh token is refused and not spent, the code refused, the refresh token
// reported inactive, and nothing is issued.
func TestGrantStandingIsCheckedWithoutARevocationEntry(t *testing.T) {
	for _, tc := range []struct {
		name, reason string
		change       func(ctx context.Context, t *testing.T, db store.Store)
	}{
		{"person disabled", "user_unavailable", func(ctx context.Context, t *testing.T, db store.Store) {
			u, err := db.Users().Get(ctx, "alice")
			brokertest.Must(t, err)
			u.Disabled = true
			brokertest.Must(t, db.Users().Update(ctx, u))
		}},
		{"provider disabled", "session_ended", func(ctx context.Context, t *testing.T, db store.Store) {
			p, err := db.Providers().Get(ctx, "corp")
			brokertest.Must(t, err)
			p.Enabled = false
			brokertest.Must(t, db.Providers().Update(ctx, p))
		}},
		{"session gone", "session_ended", func(ctx context.Context, t *testing.T, db store.Store) {
			brokertest.Must(t, db.Sessions().Delete(ctx, "sess-1"))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := brokertest.NewOAuthFixture(t, nil)
			ctx := t.Context()
			code, verifier, _ := fx.NewCode(t, brokertest.CodeOpts{Client: "web1", Redirect: "https://app1.test/cb"})
			rt := fx.Exchange(t, "basic:web1", code, verifier, "https://app1.test/cb", nil).Str("refresh_token")
			if !fx.ActiveFor(t, "web1", rt) {
				t.Fatal("the refresh token is inactive before the change")
			}
			code, verifier, _ = fx.NewCode(t, brokertest.CodeOpts{Client: "web1", Redirect: "https://app1.test/cb"})
			tc.change(ctx, t, fx.DB)
			tokens := fx.Rows(t, "refresh_tokens")

			fx.Call(t, "/oauth2/token", "basic:web1", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}).
				WantError(t, http.StatusBadRequest, "invalid_grant")
			fx.Exchange(t, "basic:web1", code, verifier, "https://app1.test/cb", nil).WantError(t, http.StatusBadRequest, "invalid_grant")
			if fx.ActiveFor(t, "web1", rt) {
				t.Error("the refresh token is still reported active")
			}
			if n := fx.Rows(t, "refresh_tokens"); n != tokens {
				t.Errorf("refresh tokens: %d, had %d: something was issued", n, tokens)
			}
			if old, err := fx.DB.RefreshTokens().GetByHash(ctx, token.Hash(rt)); err != nil || !old.RotatedAt.IsZero() {
				t.Errorf("the refused refresh token was spent: %+v, %v", old, err)
			}
			brokertest.Must(t, fx.AW.Flush(ctx))
			if n := fx.Rejections(t, tc.reason); n != 2 {
				t.Errorf("%d rejections for %s, want the refresh's and the code's", n, tc.reason)
			}
		})
	}
}
