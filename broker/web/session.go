package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/gatehouse/gatehouse/broker/revoke"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/token"
)

// sessionTokenKey is where the browser cookie keeps the session token. The
// database keeps only its SHA-256, so a database dump holds no usable session.
const sessionTokenKey = "sid"

// touchEvery limits LastSeenAt writes to one per minute per session; the idle
// timeout is minutes to hours, so this costs it nothing.
const touchEvery = time.Minute

// CurrentSession returns the browser's live session and its user. Expiry is
// decided here with the server's clock, not by the cookie (WEB-11); a session
// past its idle or absolute limit is ended on sight.
func (c *Core) CurrentSession(r *http.Request) (store.Session, store.User, bool) {
	secret, _ := c.BrowserState(r).Values[sessionTokenKey].(string)
	if secret == "" {
		return store.Session{}, store.User{}, false
	}
	ctx := r.Context()
	sess, err := c.Store.Sessions().GetByTokenHash(ctx, token.Hash(secret))
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			c.Log.ErrorContext(ctx, "session lookup failed", "request_id", RequestID(ctx), "error", err.Error())
		}
		return store.Session{}, store.User{}, false
	}
	now := c.Now()
	if !now.Before(sess.ExpiresAt) || !now.Before(sess.LastSeenAt.Add(c.Config.SessionIdleTimeout)) {
		c.EndSession(ctx, sess.ID)
		return store.Session{}, store.User{}, false
	}
	u, err := c.Store.Users().Get(ctx, sess.UserID)
	if err != nil || u.Disabled {
		return store.Session{}, store.User{}, false
	}
	if now.Sub(sess.LastSeenAt) >= touchEvery {
		if err := c.Store.Sessions().Touch(ctx, sess.ID, now); err == nil {
			sess.LastSeenAt = now
		}
	}
	return sess, u, true
}

// RequireSession returns the signed-in session or, for a person who is not
// signed in, a redirect to /login that brings them back here afterwards.
func (c *Core) RequireSession(w http.ResponseWriter, r *http.Request) (store.Session, store.User, bool) {
	sess, u, ok := c.CurrentSession(r)
	if !ok {
		http.Redirect(w, r, LoginURL(r.URL.RequestURI()), http.StatusSeeOther)
	}
	return sess, u, ok
}

// DeleteSession deletes a session's row, logging a failure.
func (c *Core) DeleteSession(ctx context.Context, id string) {
	if err := c.Store.Sessions().Delete(ctx, id); err != nil {
		c.Log.ErrorContext(ctx, "session delete failed", "request_id", RequestID(ctx), "error", err.Error())
	}
}

// EndSession ends a session on purpose (logout, "end" on the account page): the
// refresh tokens issued under it are revoked and its access tokens turn inactive
// at introspection and UserInfo, then the row goes (revoke.Sessions). A session
// that expires (idle or absolute limit) ends the same way, whether it is found on
// sight here or by the maintenance sweep. Revoking first means a crash in between
// leaves an expired-looking row for the sweep, not live tokens of a deleted
// session; a failed revocation still deletes the row (the person asked to be
// signed out) and is logged.
func (c *Core) EndSession(ctx context.Context, id string) {
	if _, err := revoke.Sessions(ctx, c.Store, []string{id}, c.Now(), c.Config.AccessTokenTTL); err != nil {
		c.Log.ErrorContext(ctx, "session end failed", "request_id", RequestID(ctx), "error", err.Error())
		c.DeleteSession(ctx, id)
	}
}

// ClearBrowser forgets the session token and every other value in the browser
// cookie (logout).
func (c *Core) ClearBrowser(w http.ResponseWriter, r *http.Request) {
	bs := c.BrowserState(r)
	clear(bs.Values)
	bs.Options.MaxAge = -1
	bs.Save(r, w)
}

// SetSessionToken puts a new session's token in a fresh browser cookie after a
// verified sign-in. Whatever the browser held before (pre-login values, CSRF
// secret, an older session's token) is discarded, so a planted cookie is worth
// nothing afterwards (WEB-06).
func (c *Core) SetSessionToken(w http.ResponseWriter, r *http.Request, secret string) error {
	bs := c.BrowserState(r)
	bs.IsNew = true
	clear(bs.Values)
	bs.Values[sessionTokenKey] = secret
	return bs.Save(r, w)
}

// LoginURL is the sign-in page that returns to returnTo.
func LoginURL(returnTo string) string {
	return "/login?" + url.Values{"return_to": {returnTo}}.Encode()
}

// Roles are the person's roles now: those the provider's role rules gave the
// session at sign-in and those granted to the user (store.Roles), which hold
// whichever provider they sign in with and end when revoked.
func (c *Core) Roles(ctx context.Context, sess store.Session) ([]string, error) {
	granted, err := c.Store.Roles().ListForUser(ctx, sess.UserID)
	if err != nil {
		return nil, err
	}
	roles := slices.Clone(sess.Roles)
	for _, g := range granted {
		if !slices.Contains(roles, g.Role) {
			roles = append(roles, g.Role)
		}
	}
	return roles, nil
}
